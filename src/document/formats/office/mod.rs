//! Office documents and e-books: zip packages whose text lives in several XML parts.
//!
//! `package` reads a package and writes it back with only its text parts replaced; `xml` holds
//! what every XML part shares; each package kind (`docx`, `odt`, `epub`) says which parts hold
//! text and which reader reads each (`wordml` for WordprocessingML, `odf` for OpenDocument, the
//! HTML reader for XHTML).

pub(crate) mod docx;
pub(crate) mod epub;
pub(crate) mod odf;
pub(crate) mod odt;
pub(crate) mod package;
pub(crate) mod wordml;
pub(crate) mod xml;
