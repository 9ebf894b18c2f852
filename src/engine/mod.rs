//! Translation engines: the `Engine` trait that the rest of de2en talks to, and its implementations.
//!
//! Segmentation, batching across files and rebuilding the article never care which engine runs:
//! they hand over clean German sentences and get back one `Translation` per sentence, in order.

pub mod batch;
pub mod checkpoint;
pub mod decode;
pub mod identity;
pub mod marian;
#[cfg(feature = "rust-bert")]
pub mod rust_bert;
pub mod settings;
pub mod tokenizer;
pub mod wide;

use crate::span::ByteSpan;
// The guard's flags are the segment flags of the whole crate: one type, named in one place.
pub use crate::flags::TranslationFlag;

/// One sentence's translation, with the scores users may want to filter on.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Translation {
    /// Detokenised English text.
    pub text: String,
    /// Generated target token ids, EOS included when the model produced it (no decoder start token).
    pub token_ids: Vec<u32>,
    /// Sum of the log-probabilities of the generated tokens (EOS included).
    pub sum_logprob: f32,
    /// `sum_logprob` divided by the number of generated tokens.
    pub mean_logprob: f32,
    /// Word alignment from cross-attention, where the engine provides one.
    pub alignment: Option<WordAlignment>,
    /// The search stopped because it reached the maximum length (a runaway output, usually),
    /// not because the model chose to end the sentence.
    pub reached_length_limit: bool,
    /// What the output guard (`crate::guard`) noticed; empty when it did not run.
    pub flags: Vec<TranslationFlag>,
}

/// A stronger search than the engine's default, for sentences that came out wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOverride {
    /// Beam size at least this (the engine's own when that is larger).
    pub min_beam_size: usize,
    /// No n-gram of this many tokens twice in one output, as transformers'
    /// `no_repeat_ngram_size`; 0 = off.
    pub no_repeat_ngram_size: usize,
}

/// Pairs of aligned words: a byte span in the source sentence and one in `Translation::text`.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct WordAlignment {
    pub pairs: Vec<(ByteSpan, ByteSpan)>,
}

/// Errors an engine reports; model-folder problems name the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model folder {dir}: {problem}")]
    Model {
        dir: std::path::PathBuf,
        problem: String,
    },
    #[error("model file {path}: {problem}")]
    ModelFile {
        path: std::path::PathBuf,
        problem: String,
    },
    #[error("could not read {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("invalid generation option: {0}")]
    InvalidOption(String),
    /// The model returned something search cannot use (a wrong shape, NaN logits).
    #[error("decoding failed: {0}")]
    Decode(String),
    /// The engine cannot search with other settings (`Engine::translate_with`).
    #[error("this engine cannot change its search settings")]
    Unsupported,
    #[error("tensor computation failed")]
    Tensor(#[from] candle_core::Error),
    /// rust-bert or libtorch failed while translating (the `rust-bert` engine only).
    #[cfg(feature = "rust-bert")]
    #[error("rust-bert: {0}")]
    RustBert(String),
}

/// What a translation engine must do for the pipeline.
///
/// `translate` receives any number of sentences; the engine tokenises them, sorts them by length,
/// packs batches by its token budget and returns results in input order.
pub trait Engine: Send + Sync {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError>;

    /// Like `translate`, with a stronger search (the output guard's retry). Engines that have
    /// only one way to translate answer `EngineError::Unsupported`.
    fn translate_with(
        &self,
        sentences: &[&str],
        decode: &DecodeOverride,
    ) -> Result<Vec<Translation>, EngineError> {
        let _ = (sentences, decode);
        Err(EngineError::Unsupported)
    }

    /// Number of source tokens (EOS included) the model would see for `sentence`.
    fn source_token_count(&self, sentence: &str) -> usize;

    /// The longest source (in tokens, EOS included) the model accepts.
    fn max_source_tokens(&self) -> usize;
}

/// How long a source sentence may be: all that preparing a document needs of an engine (long
/// sentences are split to fit). Every engine answers for its model.
pub trait SourceLimit {
    /// Number of source tokens (EOS included) the model would see for `sentence`.
    fn source_token_count(&self, sentence: &str) -> usize;

    /// The longest source (in tokens, EOS included) the model accepts.
    fn max_source_tokens(&self) -> usize;
}

impl<E: Engine + ?Sized> SourceLimit for E {
    fn source_token_count(&self, sentence: &str) -> usize {
        Engine::source_token_count(self, sentence)
    }

    fn max_source_tokens(&self) -> usize {
        Engine::max_source_tokens(self)
    }
}

/// No model, no limit: segmentation on its own (`de2en segment`) splits no sentence for length.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl SourceLimit for Unlimited {
    fn source_token_count(&self, _sentence: &str) -> usize {
        1
    }

    fn max_source_tokens(&self) -> usize {
        usize::MAX
    }
}
