//! Helpers for tests that drive the document model with fake engines: word spans for their
//! alignments, an upper-casing engine, and one document through prepare → engine → finish.

#![allow(dead_code)] // each test file uses a different part

use de2en::document::{Format, PrepareOptions, QuoteStyle, TranslatedDocument, prepare};
use de2en::engine::{Engine, EngineError, Translation, WordAlignment};
use de2en::span::ByteSpan;

/// Maximal runs of characters for which `in_word` holds.
fn runs(text: &str, in_word: impl Fn(char) -> bool) -> Vec<ByteSpan> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (in_word(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push(ByteSpan::new(s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push(ByteSpan::new(s, text.len()));
    }
    spans
}

/// Whitespace-separated words.
pub fn whitespace_words(text: &str) -> Vec<ByteSpan> {
    runs(text, |c| !c.is_whitespace())
}

/// Runs of letters and digits.
pub fn alphanumeric_words(text: &str) -> Vec<ByteSpan> {
    runs(text, char::is_alphanumeric)
}

/// Translates `source` through the document model with `engine`: the model inputs and the
/// rebuilt document.
pub fn translate_with(
    source: &str,
    format: Format,
    quotes: QuoteStyle,
    engine: &dyn Engine,
) -> (Vec<String>, TranslatedDocument) {
    let prepared = prepare(source, &PrepareOptions { format, quotes }, engine);
    let inputs: Vec<String> = prepared
        .model_inputs()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let translations = engine.translate(&refs).expect("test engines do not fail");
    (inputs, prepared.finish(&translations))
}

/// A fake translation: every word upper-cased, the same order; aligned word by word, with words
/// cut by `alignment`, when given.
pub struct UpperEngine {
    pub alignment: Option<fn(&str) -> Vec<ByteSpan>>,
}

impl UpperEngine {
    pub const ALIGNED: UpperEngine = UpperEngine {
        alignment: Some(whitespace_words),
    };
    pub const UNALIGNED: UpperEngine = UpperEngine { alignment: None };
}

impl Engine for UpperEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        Ok(sentences
            .iter()
            .map(|s| {
                let text = s.to_uppercase();
                let alignment = self.alignment.map(|words| WordAlignment {
                    pairs: words(s).into_iter().zip(words(&text)).collect(),
                });
                Translation {
                    text,
                    token_ids: vec![1, 2],
                    sum_logprob: -1.0,
                    mean_logprob: -0.5,
                    alignment,
                    ..Translation::default()
                }
            })
            .collect())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}
