//! The formats de2en reads and writes.
//!
//! Each format is a module that turns a text into the document model's blocks, with their kinds
//! (paragraph, heading, list item, quotation, table cell, attribute), and gives every block the
//! `Syntax` its text is written back in (escaping, how inline markup behaves). The model calls it
//! without knowing the format. Adding a format: a module here, a variant of `Format` and its line
//! in `Format::reader` (and its file extensions in `Format::for_path`).

pub(crate) mod html;
mod lines;
mod markdown;
pub(crate) mod office;
mod plain;

use std::path::Path;

use super::OpenError;
use super::file::SourceFile;
use super::model::Parsed;
use crate::input::{self, Decoded, InputError};

/// Input formats de2en understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text: paragraphs split by blank lines, line breaks kept.
    Text,
    /// CommonMark with tables.
    Markdown,
    /// One sentence per line, output line-aligned.
    Lines,
    /// An HTML page: text and some attributes translated, everything else kept byte for byte.
    Html,
    /// A Word document (.docx): body, tables, text boxes, headers, footers, notes and title
    /// translated, formatting kept.
    Docx,
    /// An OpenDocument text (.odt): body, tables, notes, text boxes, headers, footers and title
    /// translated, formatting kept.
    Odt,
    /// An EPUB book: its XHTML documents, title and tables of contents translated.
    Epub,
}

impl Format {
    /// The format of a file by its name: `.md` and `.markdown` are Markdown, `.html`, `.htm` and
    /// `.xhtml` HTML, everything else (and standard input, `None`) plain text.
    pub fn for_path(path: Option<&Path>) -> Format {
        let ext = path
            .and_then(|p| p.extension())
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("md" | "markdown") => Format::Markdown,
            Some("html" | "htm" | "xhtml") => Format::Html,
            Some("docx") => Format::Docx,
            Some("odt") => Format::Odt,
            Some("epub") => Format::Epub,
            _ => Format::Text,
        }
    }

    /// Reads a file's bytes (`name` for messages) as this format.
    pub(crate) fn open(self, bytes: &[u8], name: &Path) -> Result<SourceFile, OpenError> {
        match self {
            Format::Docx => office::docx::open(bytes, name),
            Format::Odt => office::odt::open(bytes, name),
            Format::Epub => office::epub::open(bytes, name),
            _ => {
                let reader = self.reader();
                let decoded = reader.decode(bytes, name)?;
                Ok(SourceFile::text(decoded.text, reader))
            }
        }
    }

    /// For a package (several texts in one zip file, written only to a file, never to a
    /// terminal): what kind it is, as users call it.
    pub fn package_kind(self) -> Option<&'static str> {
        match self {
            Format::Docx => Some("Word"),
            Format::Odt => Some("OpenDocument"),
            Format::Epub => Some("EPUB"),
            Format::Text | Format::Markdown | Format::Lines | Format::Html => None,
        }
    }

    /// The module that reads this format's text. A package's bytes are no text: given one as
    /// text (`document::prepare`), it is read as plain text.
    pub(crate) fn reader(self) -> &'static dyn TextFormat {
        match self {
            Format::Text | Format::Docx | Format::Odt | Format::Epub => &plain::PlainText,
            Format::Markdown => &markdown::Markdown,
            Format::Lines => &lines::Lines,
            Format::Html => &html::Html,
        }
    }
}

/// A format of text: how its bytes are decoded and where its prose is.
pub(crate) trait TextFormat: Sync {
    /// The text of a file's bytes (`name` for messages).
    fn decode(&self, bytes: &[u8], name: &Path) -> Result<Decoded, InputError> {
        input::decode(bytes, name)
    }

    /// The blocks of prose in `source`, with their kinds and syntax.
    fn parse(&self, source: &str) -> Parsed;
}

/// `text` with every tag (`<…>`) replaced by as many `x` as it has bytes, so that the quotation
/// marks of attribute values are not taken for the prose's (offsets unchanged).
pub(crate) fn mask_tags(text: &str) -> String {
    let mut inside = false;
    text.chars()
        .map(|c| {
            let keep = !inside && c != '<';
            inside = (inside || c == '<') && c != '>';
            if keep {
                c.to_string()
            } else {
                "x".repeat(c.len_utf8())
            }
        })
        .collect()
}
