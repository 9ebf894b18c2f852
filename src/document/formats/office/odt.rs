//! OpenDocument texts (.odt): the body (`content.xml`), the headers and footers of the page
//! styles (`styles.xml`) and the title (`meta.xml`) through the OpenDocument reader (`odf`).
//! Language tags become English once any text was translated.

use std::path::Path;

use super::odf::{self, OdfXml};
use super::package::{LanguageRewrite, Package, Repacker};
use super::xml::rewrite_language_elements;
use crate::document::OpenError;
use crate::document::file::{SourceFile, SourcePart};

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
    let mut source_parts = Vec::with_capacity(names.len());
    let mut finishes = Vec::with_capacity(names.len());
    let mut language: Vec<(String, LanguageRewrite)> = Vec::new();
    for name in names {
        let text = package.xml(name)?;
        finishes.push((
            name.to_owned(),
            odf::finish_part as fn(&str, &str) -> String,
        ));
        language.push((name.to_owned(), odf::english_language));
        source_parts.push(SourcePart {
            name: Some(name.to_owned()),
            text,
            reader: &OdfXml,
        });
    }
    language.push(("meta.xml".to_owned(), meta_language));
    Ok(SourceFile {
        parts: source_parts,
        package: Some(Box::new(Repacker {
            package,
            parts: finishes,
            language,
        })),
    })
}

/// `dc:language` de-DE → en-US in the metadata.
fn meta_language(xml: &str) -> Option<String> {
    rewrite_language_elements(xml, "dc:language", "en-US")
}
