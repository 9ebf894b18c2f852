//! A file as its format reads it: one text, or the several texts of a package (an office
//! document's body, headers, footers and notes inside one zip), prepared and rebuilt together.
//!
//! The model works on one text at a time and knows nothing of files; a format that keeps its
//! text in several places hands over each as a *part* with the `TextFormat` that reads it, and a
//! `Repack` that puts the translated parts back into a file. Every model input of every part goes
//! to the engine in one list, so a package's sentences are batched (and de-duplicated) with all
//! the others of a run.

use serde::Serialize;

use super::formats::TextFormat;
use super::model::{self, PreparedDocument, QuoteStyle, TranslatedDocument};
use crate::engine::{SourceLimit, Translation};
use crate::glossary::Glossary;

/// A package could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "{path}: not a readable {kind} file: {why}; check that it is a complete {kind} document (saved, not truncated) or pass --input-format"
    )]
    Damaged {
        path: String,
        kind: &'static str,
        why: String,
    },
    #[error("{path}: the {kind} package has no `{part}`; it is damaged or not a {kind} document")]
    Missing {
        path: String,
        kind: &'static str,
        part: String,
    },
    #[error("{path}: `{part}` in the package is not well-formed XML ({why}); the file is damaged")]
    BadXml {
        path: String,
        part: String,
        why: String,
    },
    #[error("could not write the translated package: {0}")]
    Write(String),
}

/// Puts a package's translated texts back into a file.
pub(crate) trait Repack: Send {
    /// The file with each text part replaced: `texts[i]` is the translation of part `i` (in the
    /// order the format handed the parts over), `sources[i]` its text as read.
    fn repack(&self, sources: &[&str], texts: &[&str]) -> Result<Vec<u8>, PackageError>;
}

/// One text of a file, and the format that reads it.
pub(crate) struct SourcePart {
    /// Where the text is in the package (`word/document.xml`); `None` for a file that is one text.
    pub name: Option<String>,
    pub text: String,
    pub reader: &'static dyn TextFormat,
}

/// A file read by its format: its texts, and for a package what rebuilds it.
pub struct SourceFile {
    pub(crate) parts: Vec<SourcePart>,
    pub(crate) package: Option<Box<dyn Repack>>,
}

impl SourceFile {
    /// A file that is one text.
    pub(crate) fn text(text: String, reader: &'static dyn TextFormat) -> Self {
        Self {
            parts: vec![SourcePart {
                name: None,
                text,
                reader,
            }],
            package: None,
        }
    }

    /// Splits every text into segments (see `model::prepare`).
    /// `limit`: the engine that will translate (its model's length limit), or `Unlimited` for
    /// segmentation alone.
    pub fn prepare<L: SourceLimit + ?Sized>(
        self,
        quotes: QuoteStyle,
        limit: &L,
        glossary: Option<&Glossary>,
    ) -> PreparedFile {
        let parts = self
            .parts
            .into_iter()
            .map(|part| {
                let parsed = part.reader.parse(&part.text);
                let doc = model::prepare(&part.text, parsed, quotes, limit, glossary);
                (part.name, doc)
            })
            .collect();
        PreparedFile {
            parts,
            package: self.package,
        }
    }
}

/// A file split into segments, ready for the engine.
pub struct PreparedFile {
    parts: Vec<(Option<String>, PreparedDocument)>,
    package: Option<Box<dyn Repack>>,
}

impl PreparedFile {
    /// What the engine is asked to translate: every part's inputs, part after part.
    pub fn model_inputs(&self) -> Vec<&str> {
        self.parts
            .iter()
            .flat_map(|(_, doc)| doc.model_inputs())
            .collect()
    }

    /// Each part's name (`None` for a file that is one text) and its prepared text.
    pub fn parts(&self) -> impl Iterator<Item = (Option<&str>, &PreparedDocument)> {
        self.parts.iter().map(|(name, doc)| (name.as_deref(), doc))
    }

    /// Rebuilds the file from `translations` (one per model input, in order).
    pub fn finish(self, translations: &[Translation]) -> Result<TranslatedFile, PackageError> {
        let mut rest = translations;
        let mut parts = Vec::with_capacity(self.parts.len());
        for (name, doc) in self.parts {
            let count = doc.model_inputs().len().min(rest.len());
            let (mine, others) = rest.split_at(count);
            rest = others;
            let source = doc.source().to_owned();
            let mut translated = doc.finish(mine);
            for segment in &mut translated.segments {
                segment.part.clone_from(&name);
            }
            parts.push(TranslatedPart {
                name,
                source,
                doc: translated,
            });
        }
        let bytes = match &self.package {
            Some(package) => {
                let sources: Vec<&str> = parts.iter().map(|p| p.source.as_str()).collect();
                let texts: Vec<&str> = parts.iter().map(|p| p.doc.target.as_str()).collect();
                package.repack(&sources, &texts)?
            }
            None => parts
                .first()
                .map(|p| p.doc.target.clone().into_bytes())
                .unwrap_or_default(),
        };
        Ok(TranslatedFile { parts, bytes })
    }
}

/// One translated text of a file, with its source.
#[derive(Debug, Clone)]
pub struct TranslatedPart {
    pub name: Option<String>,
    pub source: String,
    pub doc: TranslatedDocument,
}

/// A translated file: its bytes and every part's segments.
#[derive(Debug, Clone)]
pub struct TranslatedFile {
    pub parts: Vec<TranslatedPart>,
    bytes: Vec<u8>,
}

/// `--format json` of a package: each text part's translation, and every segment naming its part.
#[derive(Serialize)]
struct PackageReport<'a> {
    parts: Vec<PartReport<'a>>,
    segments: Vec<&'a model::SegmentReport>,
}

#[derive(Serialize)]
struct PartReport<'a> {
    name: &'a str,
    target: &'a str,
}

impl TranslatedFile {
    /// The translated file as written (the article, or the rebuilt package).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The sentences' glossary terms applied, over all parts.
    pub fn glossary_terms(&self) -> usize {
        self.parts
            .iter()
            .flat_map(|p| &p.doc.segments)
            .map(|s| s.glossary.len())
            .sum()
    }

    /// `--format json`: a text's `TranslatedDocument`; a package's parts with their segments.
    pub fn json(&self) -> Result<Vec<u8>, serde_json::Error> {
        // A file that is one text has one part without a name; a package's parts are named.
        let mut bytes = match self.parts.first() {
            Some(part) if part.name.is_none() => serde_json::to_vec_pretty(&part.doc)?,
            _ => serde_json::to_vec_pretty(&PackageReport {
                parts: self
                    .parts
                    .iter()
                    .map(|p| PartReport {
                        name: p.name.as_deref().unwrap_or(""),
                        target: &p.doc.target,
                    })
                    .collect(),
                segments: self.parts.iter().flat_map(|p| &p.doc.segments).collect(),
            })?,
        };
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// All parts as one text for the review page: sources and translations joined, each part
    /// after a line break, segments' spans and blocks moved along.
    pub fn joined(&self) -> (String, TranslatedDocument) {
        let mut source = String::new();
        let mut joined = TranslatedDocument {
            target: String::new(),
            segments: Vec::new(),
            blocks: Vec::new(),
        };
        for part in &self.parts {
            if !source.is_empty() {
                source.push('\n');
                joined.target.push('\n');
            }
            let (from, to, blocks) = (source.len(), joined.target.len(), joined.blocks.len());
            source.push_str(&part.source);
            joined.target.push_str(&part.doc.target);
            joined.blocks.extend(&part.doc.blocks);
            joined.segments.extend(part.doc.segments.iter().map(|s| {
                let mut s = s.clone();
                s.shift(from, to);
                s.block += blocks;
                s
            }));
        }
        (source, joined)
    }
}
