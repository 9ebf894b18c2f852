//! OpenDocument texts (.odt): the body (`content.xml`), the headers and footers of the page
//! styles (`styles.xml`) and the title (`meta.xml`) through the OpenDocument reader (`odf`).
//! Language tags become English once any text was translated.

use std::path::Path;

use super::odf::{self, OdfXml};
use super::package::{LanguageRewrite, Package, PartFinish, Repacker};
use super::xml::rewrite_language_elements;
use crate::document::OpenError;
use crate::document::file::SourceFile;
use crate::document::formats::TextFormat;

const KIND: &str = "OpenDocument";

/// Reads an OpenDocument text's parts.
pub(crate) fn open(bytes: &[u8], path: &Path) -> Result<SourceFile, OpenError> {
    let package = Package::read(bytes, path, KIND)?;
    let mut names = vec!["content.xml"];
    names.extend(
        ["styles.xml", "meta.xml"]
            .into_iter()
            .filter(|n| package.has(n)),
    );
    let parts: Vec<(String, &'static dyn TextFormat, PartFinish)> = names
        .iter()
        .map(|name| {
            (
                name.to_string(),
                &OdfXml as &'static dyn TextFormat,
                odf::finish_part as PartFinish,
            )
        })
        .collect();
    let mut language: Vec<(String, LanguageRewrite)> = names
        .iter()
        .map(|name| (name.to_string(), odf::english_language as LanguageRewrite))
        .collect();
    language.push(("meta.xml".to_owned(), meta_language));
    Ok(Repacker::source_file(package, parts, language)?)
}

/// `dc:language` de-DE → en-US in the metadata.
fn meta_language(xml: &str) -> Option<String> {
    rewrite_language_elements(xml, "dc:language", "en-US")
}
