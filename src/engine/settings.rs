//! What a run asks of an engine: search settings and the arithmetic of the dense layers. Every
//! engine reads them (the Marian engine on candle and the rust-bert one), and the command line
//! fills them in.

use std::path::PathBuf;

/// Per-run settings from the command line; `None` means "what the model's generation config says".
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    pub beam_size: Option<usize>,
    /// At most this many new tokens per sentence, EOS included.
    pub max_new_tokens: Option<usize>,
    /// EOS suppressed before this many new tokens.
    pub min_new_tokens: Option<usize>,
    /// Padded source tokens per batch (sentences sorted by length, packed up to this budget; at
    /// most 64 sentences per batch, to bound the decoder cache).
    pub batch_tokens: usize,
    /// Compute word alignments from cross-attention (costs a little time).
    pub alignment: bool,
    /// Where legacy (pre-zip) PyTorch checkpoints are kept converted to safetensors, so that
    /// only the first load parses the pickle; `None` parses it on every load.
    pub checkpoint_cache: Option<PathBuf>,
    /// Arithmetic of the dense layers: f32 (exact) or int8 (faster, slightly different output).
    pub precision: Precision,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            beam_size: None,
            max_new_tokens: None,
            min_new_tokens: None,
            batch_tokens: 4096,
            alignment: false,
            checkpoint_cache: None,
            precision: Precision::F32,
        }
    }
}

/// Arithmetic of the dense layers (`--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Precision {
    /// f32: exact, the same output as transformers.
    #[default]
    F32,
    /// int8 weights and activations (quantized when the model loads), i32 accumulation, f32
    /// everything else: about twice as fast on CPUs with AVX-512 VNNI, with slightly different
    /// output.
    Int8,
}
