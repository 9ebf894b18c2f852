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
            _ => Format::Text,
        }
    }

    /// The module that reads and writes this format.
    pub(crate) fn reader(self) -> &'static dyn TextFormat {
        match self {
            Format::Text => &plain::PlainText,
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
