//! Articles in and out: the formats de2en reads (`formats`) around a document model that knows
//! none of them (`model`).
//!
//! A format turns a file's text into blocks of prose with their kinds and the syntax their text is
//! written back in; the model cuts the blocks into the sentences the engine sees and rebuilds the
//! text from the source gaps and the translations (`PreparedDocument::finish`), asking each
//! block's syntax how to write the model's text. With an engine that returns its input unchanged
//! (and `QuoteStyle::Keep`) the output equals the input byte for byte.

mod file;
mod formats;
mod model;

use std::path::Path;

use crate::engine::Engine;
use crate::glossary::Glossary;
use crate::input::InputError;

pub use file::{PackageError, PreparedFile, SourceFile, TranslatedFile, TranslatedPart};
pub use formats::Format;
pub use formats::html::{decode_html, visible_text};
pub use model::{
    BlockKind, ByteSpan, GlossaryUse, PreparedDocument, QuoteStyle, SegmentReport,
    TranslatedDocument,
};

/// A file could not be read as its format.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Text(#[from] InputError),
    #[error(transparent)]
    Package(#[from] PackageError),
}

#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub format: Format,
    pub quotes: QuoteStyle,
}

/// A file's bytes as `format` reads them: its text, or a package's texts (`name` for messages).
pub fn open(format: Format, bytes: &[u8], name: &Path) -> Result<SourceFile, OpenError> {
    format.open(bytes, name)
}

/// Splits `source` into segments. The engine is asked for token counts only (long sentences).
pub fn prepare(source: &str, options: &PrepareOptions, engine: &dyn Engine) -> PreparedDocument {
    prepare_with_glossary(source, options, engine, None)
}

/// `prepare`, with the terms of `glossary` turned into placeholders (see `crate::glossary`).
/// A sentence without any term is prepared exactly as without the glossary.
pub fn prepare_with_glossary(
    source: &str,
    options: &PrepareOptions,
    engine: &dyn Engine,
    glossary: Option<&Glossary>,
) -> PreparedDocument {
    let parsed = options.format.reader().parse(source);
    model::prepare(source, parsed, options.quotes, engine, glossary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::identity::IdentityEngine;

    fn run(source: &str, format: Format, quotes: QuoteStyle) -> (Vec<String>, TranslatedDocument) {
        let options = PrepareOptions { format, quotes };
        identity_round_trip(prepare(source, &options, &IdentityEngine))
    }

    /// The model inputs of `prepared`, and the document rebuilt from the identity engine's output.
    fn identity_round_trip(prepared: PreparedDocument) -> (Vec<String>, TranslatedDocument) {
        let inputs: Vec<String> = prepared
            .model_inputs()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let translations = IdentityEngine.translate(&refs).unwrap_or_default();
        (inputs, prepared.finish(&translations))
    }

    #[test]
    fn quotation_over_two_sentences_keeps_marks_in_gaps() {
        let source = "„Wir kommen. Wir bleiben.“";
        let (inputs, doc) = run(source, Format::Text, QuoteStyle::English);
        assert!(inputs.iter().all(|i| !i.contains('„') && !i.contains('“')));
        assert!(doc.target.starts_with('“') && doc.target.ends_with('”'));
        let (_, kept) = run(source, Format::Text, QuoteStyle::Keep);
        assert_eq!(kept.target, source);
    }

    #[test]
    fn url_at_sentence_end_stays_out_of_the_model() {
        let source = "Mehr dazu unter https://example.org/a?b=1.";
        let (inputs, doc) = run(source, Format::Text, QuoteStyle::Keep);
        assert_eq!(inputs, vec!["Mehr dazu unter"]);
        assert_eq!(doc.target, source);
    }

    fn glossed(source: &str, glossary: &str) -> (Vec<String>, TranslatedDocument) {
        let mut terms = Glossary::default();
        terms
            .add_file(glossary.as_bytes(), std::path::Path::new("g.tsv"))
            .unwrap_or_else(|e| panic!("{e}"));
        let options = PrepareOptions {
            format: Format::Text,
            quotes: QuoteStyle::Keep,
        };
        identity_round_trip(prepare_with_glossary(
            source,
            &options,
            &IdentityEngine,
            Some(&terms),
        ))
    }

    #[test]
    fn terms_go_to_the_model_as_placeholders_even_at_a_sentence_edge() {
        let (inputs, doc) = glossed(
            "Bundestag stimmt zu, sagt der Bundeskanzler. Kein Begriff hier.",
            "Bundestag\t\nBundeskanzler\tFederal Chancellor\n",
        );
        assert_eq!(
            inputs,
            vec!["ZX1 stimmt zu, sagt der ZX2.", "Kein Begriff hier."]
        );
        assert_eq!(
            doc.target,
            "Bundestag stimmt zu, sagt der Federal Chancellor. Kein Begriff hier."
        );
    }

    #[test]
    fn a_term_the_segmenter_cuts_through_is_left_as_text() {
        let source = "Der Verein gewinnt. Dann kommt der Bus.";
        let (inputs, doc) = glossed(source, "gewinnt. Dann\twins. Then\n");
        assert_eq!(inputs, vec!["Der Verein gewinnt.", "Dann kommt der Bus."]);
        assert_eq!(doc.target, source);
    }

    #[test]
    fn url_inside_a_sentence_becomes_a_placeholder() {
        let source = "Auf www.example.org steht mehr.";
        let (inputs, doc) = run(source, Format::Text, QuoteStyle::Keep);
        assert_eq!(inputs, vec!["Auf ZX1 steht mehr."]);
        assert_eq!(doc.target, source);
    }
}
