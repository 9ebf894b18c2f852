//! Word documents (.docx, Office Open XML): the body, headers, footers, footnotes and endnotes
//! through the WordprocessingML reader (`wordml`), the title in the document properties; comments
//! (`word/comments.xml`) are the editors' notes and stay as they are. Language tags become
//! English once any text was translated.

use std::path::Path;

use super::package::{LanguageRewrite, Package, PartFinish, Repacker, as_rebuilt};
use super::wordml::{self, CoreProperties, WordXml};
use super::xml::rewrite_language_elements;
use crate::document::OpenError;
use crate::document::file::{PackageError, SourceFile};
use crate::document::formats::TextFormat;

const KIND: &str = "Word";

/// The document's body, by the package's own relationships (`word/document.xml` in practice).
fn main_part(package: &Package) -> Result<String, PackageError> {
    let rels = package.xml("_rels/.rels")?;
    let target = rels
        .split("<Relationship ")
        .skip(1)
        .find_map(|relationship| {
            let attribute = |name: &str| {
                let at = relationship.find(&format!("{name}=\""))? + name.len() + 2;
                Some(relationship[at..at + relationship[at..].find('"')?].to_owned())
            };
            attribute("Type")
                .filter(|t| t.ends_with("/officeDocument"))
                .and_then(|_| attribute("Target"))
        });
    Ok(target
        .map(|t| t.trim_start_matches('/').to_owned())
        .unwrap_or_else(|| "word/document.xml".to_owned()))
}

/// Is `name` (in the body's folder `dir`) a part whose text is translated besides the body?
fn is_text_part(dir: &str, name: &str) -> bool {
    let Some(file) = name.strip_prefix(dir) else {
        return false;
    };
    let numbered = |prefix: &str| {
        file.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".xml"))
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    };
    numbered("header") || numbered("footer") || file == "footnotes.xml" || file == "endnotes.xml"
}

/// Reads a Word document's text parts.
pub(crate) fn open(bytes: &[u8], path: &Path) -> Result<SourceFile, OpenError> {
    let package = Package::read(bytes, path, KIND)?;
    let main = main_part(&package)?;
    let dir = main
        .rsplit_once('/')
        .map_or(String::new(), |(d, _)| format!("{d}/"));
    let mut parts: Vec<(String, &'static dyn TextFormat, PartFinish)> =
        vec![(main.clone(), &WordXml, wordml::finish_part)];
    for name in package.names() {
        if is_text_part(&dir, name) {
            parts.push((name.clone(), &WordXml, wordml::finish_part));
        }
    }
    if package.has("docProps/core.xml") {
        parts.push(("docProps/core.xml".to_owned(), &CoreProperties, as_rebuilt));
    }
    let mut language: Vec<(String, LanguageRewrite)> = parts
        .iter()
        .filter(|(name, ..)| name != "docProps/core.xml")
        .map(|(name, ..)| (name.clone(), wordml::english_language as LanguageRewrite))
        .collect();
    for name in [
        format!("{dir}styles.xml"),
        format!("{dir}stylesWithEffects.xml"),
        format!("{dir}settings.xml"),
    ] {
        language.push((name, wordml::english_language));
    }
    language.push(("docProps/core.xml".to_owned(), core_language));
    Ok(Repacker::source_file(package, parts, language)?)
}

/// `dc:language` de-DE → en-US in the document properties.
fn core_language(xml: &str) -> Option<String> {
    rewrite_language_elements(xml, "dc:language", "en-US")
}
