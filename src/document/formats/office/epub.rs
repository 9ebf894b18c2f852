//! EPUB books: their XHTML documents through the HTML reader, the package's title and the tables
//! of contents (the EPUB 3 navigation document, the EPUB 2 `toc.ncx`) translated, the language
//! metadata made English.
//!
//! The package document (OPF) is found through `META-INF/container.xml`; its spine names the
//! content documents. Everything else — the stored `mimetype` entry first, style sheets, images,
//! fonts — is copied raw (see `package`).

use std::path::Path;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::package::{LanguageRewrite, Package, PartFinish, Repacker, as_rebuilt};
use super::xml::{ElementText, rewrite_language_attributes, rewrite_language_elements};
use crate::document::OpenError;
use crate::document::file::{PackageError, SourceFile};
use crate::document::formats::TextFormat;
use crate::document::formats::html::Html;
use crate::document::model::BlockKind;

const KIND: &str = "EPUB";

/// The package document's title.
static TITLE: ElementText = ElementText {
    names: &["dc:title"],
    kind: BlockKind::Heading(1),
};

/// The EPUB 2 table of contents: the book's title and every entry's label.
static NCX_LABELS: ElementText = ElementText {
    names: &["text"],
    kind: BlockKind::ListItem,
};

/// An item of the package document's manifest.
#[derive(Debug, Default)]
struct Item {
    id: String,
    href: String,
    media_type: String,
    properties: String,
}

/// Reads an EPUB's text parts.
pub(crate) fn open(bytes: &[u8], path: &Path) -> Result<SourceFile, OpenError> {
    let package = Package::read(bytes, path, KIND)?;
    let container = package.xml("META-INF/container.xml")?;
    let opf_path = first_attribute(&container, "rootfile", "full-path").ok_or_else(|| {
        PackageError::Missing {
            path: path.display().to_string(),
            kind: KIND,
            part: "rootfile in META-INF/container.xml".to_owned(),
        }
    })?;
    let opf = package.xml(&opf_path)?;
    let base = opf_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let (items, spine) = manifest_and_spine(&opf);
    let resolve = |href: &str| -> String {
        let href = percent_decoded(href.split('#').next().unwrap_or(href));
        if base.is_empty() {
            href
        } else {
            format!("{base}/{href}")
        }
    };
    let mut parts: Vec<(String, &'static dyn TextFormat)> = vec![(opf_path.clone(), &TITLE)];
    let mut documents: Vec<&Item> = spine
        .iter()
        .filter_map(|idref| items.iter().find(|item| &item.id == idref))
        .filter(|item| item.media_type == "application/xhtml+xml")
        .collect();
    // The navigation document is in the manifest, not always in the spine.
    for item in &items {
        let nav = item.properties.split_whitespace().any(|p| p == "nav");
        if nav && !documents.iter().any(|d| d.id == item.id) {
            documents.push(item);
        }
    }
    for item in documents {
        parts.push((resolve(&item.href), &Html));
    }
    for item in items
        .iter()
        .filter(|i| i.media_type == "application/x-dtbncx+xml")
    {
        parts.push((resolve(&item.href), &NCX_LABELS));
    }
    let mut language: Vec<(String, LanguageRewrite)> = vec![(opf_path.clone(), opf_language)];
    language.extend(
        parts
            .iter()
            .filter(|(name, _)| *name != opf_path)
            .map(|(name, _)| (name.clone(), document_language as LanguageRewrite)),
    );
    let parts = parts
        .into_iter()
        .map(|(name, reader)| (name, reader, as_rebuilt as PartFinish))
        .collect();
    Ok(Repacker::source_file(package, parts, language)?)
}

/// `dc:language` de → en in the package document.
fn opf_language(xml: &str) -> Option<String> {
    rewrite_language_elements(xml, "dc:language", "en")
}

/// `xml:lang` and `lang` de → en in a content document or the table of contents.
fn document_language(xml: &str) -> Option<String> {
    rewrite_language_attributes(xml, &["xml:lang", "lang"], "en")
}

/// The manifest's items and the spine's `idref`s, in order.
fn manifest_and_spine(opf: &str) -> (Vec<Item>, Vec<String>) {
    let mut items = Vec::new();
    let mut spine = Vec::new();
    let mut reader = Reader::from_str(opf);
    while let Ok(event) = reader.read_event() {
        let element = match &event {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => break,
            _ => continue,
        };
        match local_name(element).as_str() {
            "item" => items.push(Item {
                id: attribute(element, "id").unwrap_or_default(),
                href: attribute(element, "href").unwrap_or_default(),
                media_type: attribute(element, "media-type").unwrap_or_default(),
                properties: attribute(element, "properties").unwrap_or_default(),
            }),
            "itemref" => spine.extend(attribute(element, "idref")),
            _ => {}
        }
    }
    (items, spine)
}

fn local_name(element: &BytesStart) -> String {
    element.local_name().as_ref().to_owned()
}

fn attribute(element: &BytesStart, name: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The value of attribute `name` on the first element `element` (local names) in `xml`.
fn first_attribute(xml: &str, element: &str, name: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    while let Ok(event) = reader.read_event() {
        match &event {
            Event::Start(e) | Event::Empty(e) if local_name(e) == element => {
                return attribute(e, name);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
    None
}

/// A manifest `href` as a package entry name (`%20` is a space).
fn percent_decoded(href: &str) -> String {
    let bytes = href.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = href
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| href.to_owned())
}
