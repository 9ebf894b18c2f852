//! Search over a step-wise decoder: greedy and beam search with transformers' semantics.
//!
//! The model side is behind `StepModel`, so the search can be tested on toy models and reused by
//! any engine; options are validated once, in `GenerationOptions::validate`.

use candle_core::Tensor;

use super::EngineError;

/// Generation settings, from the model's generation config and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    pub num_beams: usize,
    /// At most this many new tokens per sentence, EOS included (transformers' `max_new_tokens`).
    pub max_new_tokens: usize,
    /// EOS is suppressed until this many new tokens exist (transformers' `min_new_tokens`).
    pub min_new_tokens: usize,
    pub length_penalty: f32,
    /// Token sequences that may never be generated; Marian bans the pad token this way.
    pub bad_words_ids: Vec<Vec<u32>>,
    pub eos_token_id: u32,
    pub pad_token_id: u32,
    pub decoder_start_token_id: u32,
    /// Token forced when the length limit is reached.
    pub forced_eos_token_id: Option<u32>,
}

/// What one decoder step returns for the live rows.
pub struct StepOutput {
    /// Next-token logits, shape `[rows, vocab]`, f32.
    pub logits: Tensor,
    /// Cross-attention over source positions, shape `[rows, source_len]`, when the model exposes it
    /// (averaged over heads); used for word alignment.
    pub cross_attention: Option<Tensor>,
}

/// The model side of search: decoder forward steps over a set of rows (hypotheses).
pub trait StepModel {
    /// Everything the decoder carries between steps: KV caches, encoder output, masks.
    type State;

    /// Runs one step: `last_tokens[r]` is the newest token of row `r`.
    fn step(&self, state: &mut Self::State, last_tokens: &[u32]) -> Result<StepOutput, EngineError>;

    /// Keeps only `rows` of the state, in that order (repeats allowed): beam reordering and
    /// finished sentences leaving the batch both go through here.
    fn select_rows(&self, state: &mut Self::State, rows: &[usize]) -> Result<(), EngineError>;
}

/// A finished hypothesis for one source sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated tokens, without the decoder start token, EOS included when generated.
    pub token_ids: Vec<u32>,
    /// Log-probability of each generated token.
    pub token_logprobs: Vec<f32>,
    /// For each generated token, the source position it attended to most (when available).
    pub source_positions: Option<Vec<usize>>,
}
