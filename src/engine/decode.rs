//! Search over a step-wise decoder: greedy and beam search with transformers' semantics.
//!
//! The model side is behind `StepModel`, so the search can be tested on toy models and reused by
//! any engine; options are validated once, in `GenerationOptions::validate`.
//!
//! Users compare our output with Hugging Face `transformers` (4.57), so the search reproduces its
//! `generate` token for token:
//!
//! - **Logits processors**, in transformers' order: banned sequences (`bad_words_ids`, never a lone
//!   EOS), EOS suppressed while fewer than `min_new_tokens` tokens exist, and at the last allowed
//!   step every token but `forced_eos_token_id` set to −∞ and that one to 0. With
//!   `no_repeat_ngram_size` n > 0 (before all of these in transformers; all are −∞ masks, so only
//!   the forced EOS's precedence matters), every token that would complete an n-gram already in
//!   the hypothesis — decoder start token included — is banned.
//! - **Greedy** (`num_beams == 1`): the argmax of the processed raw logits, first index on ties
//!   (as `torch.argmax`).
//! - **Beam search**: log-softmax of the raw logits, then the processors; per sentence the top
//!   `2·num_beams` continuations of all beams; the best `num_beams` that did not end continue; the
//!   ones among the top `num_beams` that ended (EOS or length limit) compete for the finished list
//!   with score `sum_logprobs / generated_len^length_penalty`, where `generated_len` counts the
//!   generated tokens, EOS included, without the decoder start token. With `early_stopping=False`
//!   a sentence stops once `num_beams` hypotheses are finished and the best running beam, scored
//!   at its current length, cannot beat the worst finished one.
//!
//! Two things differ from transformers on purpose and change no result: a sentence leaves the batch
//! as soon as its search is over (transformers keeps computing it until the whole batch is done,
//! but its finished list can no longer change), and the first beam step runs one row per sentence
//! instead of `num_beams` identical rows (transformers gives the copies a score of −1e9, so they
//! only matter when fewer than `2·num_beams` tokens are allowed; we still simulate them exactly).
//!
//! Exact ties between candidates go to the lower index (beam-major, then token id). `torch.topk`
//! does not promise any order for ties, so on exactly equal scores transformers may differ; with
//! real logits such ties essentially never happen.

use std::cmp::Ordering;

use candle_core::{DType, Storage, Tensor};
use rayon::prelude::*;

use super::EngineError;
use super::wide::{self, Width};

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
    /// No n-gram of this size occurs twice in a hypothesis (transformers' `no_repeat_ngram_size`;
    /// 0 = off). The decoder start token counts as the hypothesis' first token, as in
    /// transformers, whose `input_ids` begin with it.
    pub no_repeat_ngram_size: usize,
}

impl GenerationOptions {
    /// Checks every option once, against the model's vocabulary size, with a message a user can act on.
    pub fn validate(&self, vocab_size: usize) -> Result<(), EngineError> {
        self.validate_search()?;
        if vocab_size == 0 {
            return Err(invalid("the model's vocabulary is empty".into()));
        }
        // Beam search keeps 2·num_beams candidates out of num_beams·vocab_size.
        if self.num_beams > 1 && vocab_size < 2 {
            return Err(invalid(format!(
                "beam search needs a vocabulary of at least 2 tokens, the model has {vocab_size}"
            )));
        }
        let named_ids = [
            ("eos_token_id", Some(self.eos_token_id)),
            ("pad_token_id", Some(self.pad_token_id)),
            ("decoder_start_token_id", Some(self.decoder_start_token_id)),
            ("forced_eos_token_id", self.forced_eos_token_id),
        ];
        for (name, id) in named_ids {
            if let Some(id) = id
                && id as usize >= vocab_size
            {
                return Err(invalid(format!(
                    "{name} is {id}, but the vocabulary has only {vocab_size} tokens (ids 0 to {})",
                    vocab_size - 1
                )));
            }
        }
        for sequence in &self.bad_words_ids {
            if let Some(&id) = sequence.iter().find(|&&id| id as usize >= vocab_size) {
                return Err(invalid(format!(
                    "bad_words_ids contains token {id}, but the vocabulary has only {vocab_size} tokens"
                )));
            }
        }
        Ok(())
    }

    /// The checks that do not need the vocabulary.
    fn validate_search(&self) -> Result<(), EngineError> {
        if self.num_beams == 0 {
            return Err(invalid("num_beams (beam size) must be at least 1".into()));
        }
        if self.max_new_tokens == 0 {
            return Err(invalid(
                "max_new_tokens (maximum length) must be at least 1".into(),
            ));
        }
        if self.min_new_tokens > self.max_new_tokens {
            return Err(invalid(format!(
                "min_new_tokens ({}) must not exceed max_new_tokens ({})",
                self.min_new_tokens, self.max_new_tokens
            )));
        }
        if !self.length_penalty.is_finite() {
            return Err(invalid(format!(
                "length_penalty must be a finite number, not {}",
                self.length_penalty
            )));
        }
        if self.bad_words_ids.iter().any(Vec::is_empty) {
            return Err(invalid(
                "bad_words_ids contains an empty token sequence".into(),
            ));
        }
        Ok(())
    }
}

fn invalid(message: String) -> EngineError {
    EngineError::InvalidOption(message)
}

fn decode_error(message: String) -> EngineError {
    EngineError::Decode(message)
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
    fn step(&self, state: &mut Self::State, last_tokens: &[u32])
    -> Result<StepOutput, EngineError>;

    /// Keeps only `rows` of the state, in that order (repeats allowed): beam reordering and
    /// finished sentences leaving the batch both go through here.
    fn select_rows(&self, state: &mut Self::State, rows: &[usize]) -> Result<(), EngineError>;
}

/// A finished hypothesis for one source sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated tokens, without the decoder start token, EOS included when generated.
    pub token_ids: Vec<u32>,
    /// Log-probability of each generated token under the model: log-softmax of the raw logits,
    /// before any processor. A banned or forced token therefore keeps the probability the model
    /// gave it, and greedy and beam search report the same value for the same token and prefix.
    pub token_logprobs: Vec<f32>,
    /// For each generated token, the source position it attended to most (when available).
    pub source_positions: Option<Vec<usize>>,
    /// transformers' `sequences_scores`: the sum of the *processed* log-probabilities (a forced EOS
    /// counts 0) divided by `token_ids.len() ^ length_penalty`. Greedy search reports the same
    /// formula for its single hypothesis.
    pub score: f32,
}

/// transformers marks beams that must not continue (and empty finished slots) with this score.
const BEAM_MASK: f32 = -1.0e9;

/// Runs greedy (`num_beams == 1`) or beam search for `batch_size` sentences.
///
/// `state` holds one row per sentence, in order. Returns the best hypothesis per sentence, in the
/// same order. A sentence gives the same hypothesis alone or inside any batch: each sentence's
/// search only reads its own rows, and finished sentences leave the batch through `select_rows`.
pub fn generate<M: StepModel>(
    model: &M,
    state: M::State,
    batch_size: usize,
    options: &GenerationOptions,
) -> Result<Vec<Hypothesis>, EngineError> {
    options.validate_search()?;
    if batch_size == 0 {
        return Ok(Vec::new());
    }
    let mut search = Search::new(model, state, options);
    if options.num_beams == 1 {
        search.greedy(batch_size)
    } else {
        search.beam(batch_size)
    }
}

/// A hypothesis under construction: tokens with their model log-probabilities and attention peaks.
#[derive(Debug, Clone, Default)]
struct Partial {
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    positions: Vec<usize>,
}

impl Partial {
    fn extended(&self, token: u32, logprob: f32, position: usize) -> Partial {
        let mut next = Partial {
            tokens: Vec::with_capacity(self.tokens.len() + 1),
            logprobs: Vec::with_capacity(self.tokens.len() + 1),
            positions: Vec::with_capacity(self.tokens.len() + 1),
        };
        next.tokens.extend_from_slice(&self.tokens);
        next.tokens.push(token);
        next.logprobs.extend_from_slice(&self.logprobs);
        next.logprobs.push(logprob);
        next.positions.extend_from_slice(&self.positions);
        next.positions.push(position);
        next
    }

    fn into_hypothesis(self, score: f32, with_positions: bool) -> Hypothesis {
        Hypothesis {
            token_ids: self.tokens,
            token_logprobs: self.logprobs,
            source_positions: with_positions.then_some(self.positions),
            score,
        }
    }
}

/// The logits processors transformers applies, precomputed from the options.
struct Processors {
    /// Single-token bad words (never EOS), sorted and deduplicated: banned at every step.
    always_banned: Vec<u32>,
    /// Bad words of two or more tokens: the last token is banned when the prefix ends with the rest.
    banned_sequences: Vec<Vec<u32>>,
    eos: u32,
    min_new_tokens: usize,
    max_new_tokens: usize,
    forced_eos: Option<u32>,
    no_repeat_ngram_size: usize,
    decoder_start: u32,
}

/// What the processors leave of one row's distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RowRule {
    /// Every token keeps its value except the ones in the banned list (−∞).
    Free,
    /// Only this token is allowed, with processed value 0 (transformers' `ForcedEOSTokenLogitsProcessor`).
    Forced(u32),
}

impl Processors {
    fn new(options: &GenerationOptions) -> Self {
        let mut always_banned = Vec::new();
        let mut banned_sequences = Vec::new();
        for sequence in &options.bad_words_ids {
            match sequence.as_slice() {
                // transformers drops a bad word that is exactly EOS: banning it would make every
                // hypothesis run to the length limit.
                [single] if *single == options.eos_token_id => {}
                [single] => always_banned.push(*single),
                _ => banned_sequences.push(sequence.clone()),
            }
        }
        always_banned.sort_unstable();
        always_banned.dedup();
        banned_sequences.sort();
        banned_sequences.dedup();
        Processors {
            always_banned,
            banned_sequences,
            eos: options.eos_token_id,
            min_new_tokens: options.min_new_tokens,
            max_new_tokens: options.max_new_tokens,
            forced_eos: options.forced_eos_token_id,
            no_repeat_ngram_size: options.no_repeat_ngram_size,
            decoder_start: options.decoder_start_token_id,
        }
    }

    /// The rule for the next token after `generated` (decoder start token excluded); fills
    /// `banned` with the sorted −∞ tokens when the rule is `Free`.
    fn row_rule(&self, generated: &[u32], banned: &mut Vec<u32>) -> RowRule {
        banned.clear();
        // ForcedEOS runs last in transformers, so it overrides every other processor.
        if let Some(forced) = self.forced_eos
            && generated.len() + 1 == self.max_new_tokens
        {
            return RowRule::Forced(forced);
        }
        banned.extend_from_slice(&self.always_banned);
        let mut needs_sort = false;
        for sequence in &self.banned_sequences {
            if let Some((&last, prefix)) = sequence.split_last()
                && ends_with(generated, prefix)
            {
                banned.push(last);
                needs_sort = true;
            }
        }
        if generated.len() < self.min_new_tokens {
            banned.push(self.eos);
            needs_sort = true;
        }
        if self.no_repeat_ngram_size > 0 {
            let before = banned.len();
            repeated_ngram_ends(
                self.decoder_start,
                generated,
                self.no_repeat_ngram_size,
                banned,
            );
            needs_sort |= banned.len() > before;
        }
        if needs_sort {
            banned.sort_unstable();
            banned.dedup();
        }
        RowRule::Free
    }
}

/// transformers' `NoRepeatNGramLogitsProcessor` for one hypothesis: over `start + generated`
/// (its `input_ids`, decoder start token first), every n-gram whose first `n − 1` tokens equal the
/// last `n − 1` tokens bans its last token. Nothing is banned while the sequence is shorter than
/// `n − 1` tokens (transformers' `cur_len + 1 < ngram_size`).
fn repeated_ngram_ends(start: u32, generated: &[u32], n: usize, banned: &mut Vec<u32>) {
    let length = generated.len() + 1;
    if length + 1 < n {
        return;
    }
    let token = |i: usize| if i == 0 { start } else { generated[i - 1] };
    let prefix_start = length + 1 - n;
    for first in 0..(length + 1).saturating_sub(n) {
        if (0..n - 1).all(|k| token(first + k) == token(prefix_start + k)) {
            banned.push(token(first + n - 1));
        }
    }
}

/// Whether the generated tokens end with `suffix`. transformers matches a bad word's prefix against
/// the decoder input ids but skips words longer than those ids, so the decoder start token never
/// takes part in a match.
fn ends_with(generated: &[u32], suffix: &[u32]) -> bool {
    generated.ends_with(suffix)
}

/// Per-row log-softmax normaliser: `logprob(t) = (logit(t) - max) - log_sum`, the order in which
/// torch's `log_softmax` computes it, so values agree with transformers to the last bit or two.
#[derive(Debug, Clone, Copy)]
struct Normaliser {
    max: f32,
    log_sum: f32,
}

impl Normaliser {
    fn of(row: &[f32]) -> Result<Self, EngineError> {
        Self::of_at(wide::width(), row)
    }

    /// [`Normaliser::of`] with the scans at `width` (the same bits at every width).
    fn of_at(width: Width, row: &[f32]) -> Result<Self, EngineError> {
        let (max, broken) = max_and_broken_at(width, row);
        if broken {
            let logit = row
                .iter()
                .find(|l| l.is_nan() || **l == f32::INFINITY)
                .copied()
                .unwrap_or(f32::NAN);
            return Err(decode_error(format!(
                "the model returned a non-finite logit ({logit}); its weights or inputs are broken"
            )));
        }
        if max == f32::NEG_INFINITY {
            // Every token is impossible; all log-probabilities are −∞ rather than NaN.
            return Ok(Normaliser { max, log_sum: 0.0 });
        }
        Ok(Normaliser {
            max,
            log_sum: sum_exp_at(width, row, max).ln() as f32,
        })
    }

    fn logprob(&self, logit: f32) -> f32 {
        if self.max == f32::NEG_INFINITY {
            return f32::NEG_INFINITY;
        }
        (logit - self.max) - self.log_sum
    }
}

/// The rows must not be empty: a vocabulary of 0 tokens is an error the caller reports.
fn check_vocab(vocab: usize) -> Result<(), EngineError> {
    if vocab == 0 {
        return Err(decode_error(
            "the model returned logits over an empty vocabulary".into(),
        ));
    }
    Ok(())
}

wide::dispatched! {
    /// A row's largest logit (NaN ignored) and whether any logit is NaN or +∞. Sixteen lanes: a
    /// maximum is the same whatever order the lanes take the values in (but for the sign of a zero
    /// maximum, which no log-probability can tell apart).
    fn max_and_broken / max_and_broken_at(row: &[f32]) -> (f32, bool) {
        const LANES: usize = 16;
        let mut maxima = [f32::NEG_INFINITY; LANES];
        let mut broken = [false; LANES];
        let mut groups = row.chunks_exact(LANES);
        for group in &mut groups {
            for ((max, bad), &x) in maxima.iter_mut().zip(broken.iter_mut()).zip(group) {
                *max = if x > *max { x } else { *max };
                *bad |= x.is_nan() | (x == f32::INFINITY);
            }
        }
        let mut max = f32::NEG_INFINITY;
        let mut bad = broken.iter().any(|&b| b);
        for &x in maxima.iter().chain(groups.remainder()) {
            if x > max {
                max = x;
            }
            bad |= x.is_nan() | (x == f32::INFINITY);
        }
        (max, bad)
    }
}

wide::dispatched! {
    /// `Σ exp(x - max)` over a row. This runs over every vocabulary entry of every row at every
    /// step (58101 × 128 for beam 4, batch 32), so it must vectorise: eight f32 lanes inside blocks
    /// of 256 (error ~1e-7 relative, like torch's own f32 sum), blocks added in f64. This order is
    /// the f32 reference's: every width keeps it.
    fn sum_exp / sum_exp_at(row: &[f32], max: f32) -> f64 {
        const LANES: usize = 8;
        let mut total = 0.0f64;
        for block in row.chunks(256) {
            let mut lanes = [0.0f32; LANES];
            // Two groups' exponentials at a time (one AVX-512 register), added to the lanes one
            // group after the other: the reference's order of additions.
            let mut pairs = block.chunks_exact(2 * LANES);
            for pair in &mut pairs {
                let mut terms = [0.0f32; 2 * LANES];
                for (term, &x) in terms.iter_mut().zip(pair) {
                    *term = wide::exp_nonpositive(x - max);
                }
                for (lane, &term) in lanes.iter_mut().zip(&terms[..LANES]) {
                    *lane += term;
                }
                for (lane, &term) in lanes.iter_mut().zip(&terms[LANES..]) {
                    *lane += term;
                }
            }
            let mut groups = pairs.remainder().chunks_exact(LANES);
            for group in &mut groups {
                for (lane, &x) in lanes.iter_mut().zip(group) {
                    *lane += wide::exp_nonpositive(x - max);
                }
            }
            let mut block_sum: f64 = lanes.iter().map(|&lane| f64::from(lane)).sum();
            for &x in groups.remainder() {
                block_sum += f64::from(wide::exp_nonpositive(x - max));
            }
            total += block_sum;
        }
        total
    }
}

/// `length ^ length_penalty` as transformers computes it: a Python float (f64) power, applied to f32
/// scores as an f32 divisor.
fn length_divisor(length: usize, length_penalty: f64) -> f32 {
    (length as f64).powf(length_penalty) as f32
}

/// The user's f32 penalty as the f64 a Python config would hold: `0.6f32` becomes `0.6`, not
/// `0.6000000238…`, so `length^penalty` matches transformers exactly.
fn penalty_as_f64(length_penalty: f32) -> f64 {
    length_penalty
        .to_string()
        .parse()
        .unwrap_or(f64::from(length_penalty))
}

/// Calls `f` with the tensor's `[rows, cols]` data as one contiguous f32 slice, without a copy when
/// the tensor already is contiguous f32 on the CPU (the usual case: logits are large).
fn with_matrix<R>(
    tensor: &Tensor,
    what: &str,
    rows: usize,
    f: impl FnOnce(&[f32], usize) -> Result<R, EngineError>,
) -> Result<R, EngineError> {
    let (tensor_rows, cols) = tensor.dims2().map_err(|_| {
        decode_error(format!(
            "the model returned {what} of shape {:?}, expected [rows, n]",
            tensor.dims()
        ))
    })?;
    if tensor_rows != rows {
        return Err(decode_error(format!(
            "the model returned {what} for {tensor_rows} rows, expected {rows}"
        )));
    }
    if tensor.dtype() == DType::F32 {
        let (storage, layout) = tensor.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            let data = cpu.as_slice::<f32>()?;
            if let Some(data) = data.get(start..end) {
                return f(data, cols);
            }
        }
    }
    let data = tensor
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    f(&data, cols)
}

/// The argmax source position of every row of a cross-attention matrix, or `None` when the model
/// gave none (or an empty source).
fn attention_peaks(
    cross_attention: Option<&Tensor>,
    rows: usize,
) -> Result<Option<Vec<usize>>, EngineError> {
    let Some(attention) = cross_attention else {
        return Ok(None);
    };
    with_matrix(attention, "cross-attention", rows, |data, cols| {
        if cols == 0 {
            return Ok(None);
        }
        Ok(Some(data.chunks_exact(cols).map(first_argmax).collect()))
    })
}

/// Index of the first maximum, as `torch.argmax`; NaN never wins.
fn first_argmax(values: &[f32]) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (index, &value) in values.iter().enumerate() {
        if value > best_value {
            best = index;
            best_value = value;
        }
    }
    best
}

/// One beam-search candidate: accumulated processed log-probability and its flat index
/// `beam · vocab + token` within its sentence.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    value: f32,
    flat: usize,
}

/// Keeps the best `capacity` candidates seen, ordered by value (higher first) and, on ties, by
/// arrival (candidates arrive in increasing flat index, so ties go to the lower index).
/// Values are never NaN: `Normaliser::of` rejects NaN logits and scores only add finite or −∞ terms.
struct TopK {
    capacity: usize,
    items: Vec<Candidate>,
}

impl TopK {
    fn new(capacity: usize) -> Self {
        TopK {
            capacity,
            items: Vec::with_capacity(capacity + 1),
        }
    }

    /// The value a newcomer must beat, once full.
    #[inline]
    fn threshold(&self) -> Option<f32> {
        (self.items.len() == self.capacity).then(|| self.items[self.capacity - 1].value)
    }

    #[inline]
    fn offer(&mut self, value: f32, flat: usize) {
        if let Some(threshold) = self.threshold()
            && value <= threshold
        {
            return;
        }
        // Insert after every item with value >= this one: equal values keep arrival order.
        let position = self.items.partition_point(|item| item.value >= value);
        self.items.insert(position, Candidate { value, flat });
        self.items.truncate(self.capacity);
    }
}

/// One sentence's scan in a beam step: normaliser and rule of each distinct row, and its best
/// candidates in order.
type SentenceScan = (Vec<(Normaliser, RowRule)>, Vec<Candidate>);

/// Offers every token of one beam row to `top`: value = processed log-probability + beam score.
fn offer_row(
    top: &mut TopK,
    row: &[f32],
    normaliser: Normaliser,
    rule: RowRule,
    banned: &[u32],
    beam_score: f32,
    flat_offset: usize,
) {
    match rule {
        RowRule::Forced(forced) => {
            for token in 0..row.len() {
                let processed = if token == forced as usize {
                    0.0
                } else {
                    f32::NEG_INFINITY
                };
                top.offer(processed + beam_score, flat_offset + token);
            }
        }
        RowRule::Free => offer_free_row(top, row, normaliser, banned, beam_score, flat_offset),
    }
}

/// Tokens per block of [`offer_free_row`]'s quick rejection.
const OFFER_BLOCK: usize = 32;

wide::dispatched! {
    /// [`offer_row`] for a row without a forced token. Once `top` is full, a block of tokens none
    /// of which beats its threshold is passed over in one vector comparison; a block that holds a
    /// banned token or a contender goes through the exact scalar offers, in token order. Every
    /// value is computed as the scalar path computes it, so the result is the same at every width.
    fn offer_free_row / offer_free_row_at(
        top: &mut TopK,
        row: &[f32],
        normaliser: Normaliser,
        banned: &[u32],
        beam_score: f32,
        flat_offset: usize,
    ) {
        let value_of = |logit: f32| normaliser.logprob(logit) + beam_score;
        let mut banned = banned.iter().map(|&b| b as usize).peekable();
        let mut start = 0;
        for block in row.chunks(OFFER_BLOCK) {
            let end = start + block.len();
            let holds_banned = banned.peek().is_some_and(|&b| b < end);
            if let Some(threshold) = top.threshold()
                && !holds_banned
                && block.len() == OFFER_BLOCK
            {
                let mut contender = false;
                for &logit in block {
                    contender |= value_of(logit) > threshold;
                }
                if !contender {
                    start = end;
                    continue;
                }
            }
            for (token, &logit) in (start..end).zip(block) {
                let processed = if banned.peek().is_some_and(|&b| b == token) {
                    banned.next();
                    f32::NEG_INFINITY
                } else {
                    normaliser.logprob(logit)
                };
                let value = processed + beam_score;
                // Cheap rejection first: most of a large vocabulary never gets near the top.
                if let Some(threshold) = top.threshold()
                    && value <= threshold
                {
                    continue;
                }
                top.offer(value, flat_offset + token);
            }
            start = end;
        }
    }
}

/// The processed value of `token` in a row (what beam search adds to the score).
fn processed_logprob(token: u32, logprob: f32, rule: RowRule, banned: &[u32]) -> f32 {
    match rule {
        RowRule::Forced(forced) if forced == token => 0.0,
        RowRule::Forced(_) => f32::NEG_INFINITY,
        RowRule::Free if banned.binary_search(&token).is_ok() => f32::NEG_INFINITY,
        RowRule::Free => logprob,
    }
}

/// A live beam: its tokens and transformers' running score (sum of processed log-probabilities).
#[derive(Debug, Clone)]
struct Beam {
    partial: Partial,
    score: f32,
}

/// A finished hypothesis with its length-penalised score.
#[derive(Debug, Clone)]
struct Finished {
    partial: Partial,
    score: f32,
}

/// One sentence under beam search.
struct BeamSentence {
    /// Position in the caller's batch.
    input: usize,
    /// `num_beams` beams, best first (transformers' `running_sequences`).
    running: Vec<Beam>,
    /// At most `num_beams` finished hypotheses, best first (transformers' `sequences`).
    finished: Vec<Finished>,
}

/// A greedy hypothesis under construction.
struct GreedySentence {
    input: usize,
    partial: Partial,
    processed_sum: f32,
}

struct Search<'m, M: StepModel> {
    model: &'m M,
    state: M::State,
    options: &'m GenerationOptions,
    processors: Processors,
    length_penalty: f64,
    /// Whether every step so far gave cross-attention (source positions are only reported then).
    positions_available: bool,
    vocab_checked: bool,
}

impl<'m, M: StepModel> Search<'m, M> {
    fn new(model: &'m M, state: M::State, options: &'m GenerationOptions) -> Self {
        Search {
            model,
            state,
            options,
            processors: Processors::new(options),
            length_penalty: penalty_as_f64(options.length_penalty),
            positions_available: true,
            vocab_checked: false,
        }
    }

    /// Runs one decoder step; checks the vocabulary once, on the first step.
    fn step(
        &mut self,
        last_tokens: &[u32],
    ) -> Result<(StepOutput, Option<Vec<usize>>), EngineError> {
        let output = self.model.step(&mut self.state, last_tokens)?;
        if !self.vocab_checked {
            let vocab = output.logits.dims().last().copied().unwrap_or(0);
            self.options.validate(vocab)?;
            self.vocab_checked = true;
        }
        let peaks = attention_peaks(output.cross_attention.as_ref(), last_tokens.len())?;
        if peaks.is_none() {
            self.positions_available = false;
        }
        Ok((output, peaks))
    }

    /// Drops or reorders state rows, skipping the call when nothing changes.
    fn select_rows(&mut self, rows: &[usize], previous_rows: usize) -> Result<(), EngineError> {
        let identity = rows.len() == previous_rows && rows.iter().enumerate().all(|(i, &r)| i == r);
        if identity {
            return Ok(());
        }
        self.model.select_rows(&mut self.state, rows)
    }

    fn greedy(&mut self, batch_size: usize) -> Result<Vec<Hypothesis>, EngineError> {
        let mut live: Vec<GreedySentence> = (0..batch_size)
            .map(|input| GreedySentence {
                input,
                partial: Partial::default(),
                processed_sum: 0.0,
            })
            .collect();
        let mut done: Vec<Option<(Partial, f32)>> = vec![None; batch_size];
        let mut last_tokens = vec![self.options.decoder_start_token_id; batch_size];
        let eos = self.options.eos_token_id;

        while !live.is_empty() {
            let (output, peaks) = self.step(&last_tokens)?;
            let rows = live.len();
            let processors = &self.processors;
            let mut choices = Vec::with_capacity(rows);
            with_matrix(&output.logits, "logits", rows, |data, vocab| {
                check_vocab(vocab)?;
                // Each row's scans over the vocabulary are independent: one row per core, its
                // passes back to back while the row is in the cache.
                choices = live
                    .par_iter()
                    .zip(data.par_chunks_exact(vocab))
                    .map_init(Vec::new, |banned, (sentence, row)| {
                        let normaliser = Normaliser::of(row)?;
                        let rule = processors.row_rule(&sentence.partial.tokens, banned);
                        let token = greedy_choice(row, rule, banned);
                        let logprob = normaliser.logprob(row[token as usize]);
                        let processed = processed_logprob(token, logprob, rule, banned);
                        Ok((token, logprob, processed))
                    })
                    .collect::<Result<_, EngineError>>()?;
                Ok(())
            })?;
            drop(output);

            let mut kept_rows = Vec::with_capacity(rows);
            let mut still_live = Vec::with_capacity(rows);
            last_tokens.clear();
            for (row, (mut sentence, (token, logprob, processed))) in
                live.drain(..).zip(choices).enumerate()
            {
                let position = peaks.as_ref().map_or(0, |peaks| peaks[row]);
                sentence.partial.tokens.push(token);
                sentence.partial.logprobs.push(logprob);
                sentence.partial.positions.push(position);
                sentence.processed_sum += processed;
                let length = sentence.partial.tokens.len();
                if token == eos || length >= self.options.max_new_tokens {
                    let score =
                        sentence.processed_sum / length_divisor(length, self.length_penalty);
                    done[sentence.input] = Some((sentence.partial, score));
                } else {
                    kept_rows.push(row);
                    last_tokens.push(token);
                    still_live.push(sentence);
                }
            }
            live = still_live;
            if !live.is_empty() {
                self.select_rows(&kept_rows, rows)?;
            }
        }
        let with_positions = self.positions_available;
        Ok(done
            .into_iter()
            .map(|result| {
                let (partial, score) = result.unwrap_or_default();
                partial.into_hypothesis(score, with_positions)
            })
            .collect())
    }

    fn beam(&mut self, batch_size: usize) -> Result<Vec<Hypothesis>, EngineError> {
        let num_beams = self.options.num_beams;
        let eos = self.options.eos_token_id;
        let mut live = start_beams(batch_size, num_beams);
        let mut done: Vec<Option<Hypothesis>> = vec![None; batch_size];
        let mut rows_per_sentence = 1;
        let mut last_tokens = vec![self.options.decoder_start_token_id; batch_size];
        let mut generated = 0;

        while !live.is_empty() {
            let (output, peaks) = self.step(&last_tokens)?;
            let rows = last_tokens.len();
            generated += 1;
            let mut next_rows = Vec::with_capacity(live.len() * num_beams);
            let mut next_tokens = Vec::with_capacity(live.len() * num_beams);
            let mut still_live = Vec::with_capacity(live.len());
            let with_positions = self.positions_available;

            with_matrix(&output.logits, "logits", rows, |data, vocab| {
                let step = BeamStep {
                    num_beams,
                    eos,
                    at_length_limit: generated >= self.options.max_new_tokens,
                    divisor: length_divisor(generated, self.length_penalty),
                    rows_per_sentence,
                    data,
                    vocab,
                    peaks: peaks.as_deref(),
                };
                let scans = step.scan(&live, &self.processors)?;
                // The bookkeeping stays sequential: it is cheap and must see sentences in order.
                for ((index, mut sentence), scan) in live.drain(..).enumerate().zip(scans) {
                    match step.advance(&mut sentence, index, scan) {
                        None => {
                            let input = sentence.input;
                            done[input] = Some(best_of(sentence, with_positions));
                        }
                        Some(origin_rows) => {
                            next_rows.extend_from_slice(&origin_rows);
                            next_tokens.extend(
                                sentence
                                    .running
                                    .iter()
                                    .map(|beam| beam.partial.tokens.last().copied().unwrap_or(eos)),
                            );
                            still_live.push(sentence);
                        }
                    }
                }
                Ok(())
            })?;
            drop(output);
            live = still_live;
            rows_per_sentence = num_beams;
            if !live.is_empty() {
                self.select_rows(&next_rows, rows)?;
            }
            last_tokens = next_tokens;
        }
        let with_positions = self.positions_available;
        Ok(done
            .into_iter()
            .map(|hypothesis| {
                let mut hypothesis =
                    hypothesis.unwrap_or_else(|| Partial::default().into_hypothesis(0.0, false));
                if !with_positions {
                    hypothesis.source_positions = None;
                }
                hypothesis
            })
            .collect())
    }
}

/// transformers starts every sentence with num_beams copies of the start token, scored
/// 0, −1e9, −1e9, …; the copies share one state row here (see the module docs).
fn start_beams(batch_size: usize, num_beams: usize) -> Vec<BeamSentence> {
    (0..batch_size)
        .map(|input| BeamSentence {
            input,
            running: (0..num_beams)
                .map(|beam| Beam {
                    partial: Partial::default(),
                    score: if beam == 0 { 0.0 } else { BEAM_MASK },
                })
                .collect(),
            finished: Vec::new(),
        })
        .collect()
}

/// One beam-search step over the model's logits: what every sentence's scan and bookkeeping read.
struct BeamStep<'a> {
    num_beams: usize,
    eos: u32,
    /// Every candidate ends at this step (`max_new_tokens` reached).
    at_length_limit: bool,
    /// The length penalty's divisor at this step's length.
    divisor: f32,
    /// State rows per live sentence: 1 at the first step (the copies share a row), then num_beams.
    rows_per_sentence: usize,
    /// Logits, `[rows, vocab]`.
    data: &'a [f32],
    vocab: usize,
    /// The source position each row attended to most, when the model reports it.
    peaks: Option<&'a [usize]>,
}

impl BeamStep<'_> {
    /// Every sentence's best `2 × num_beams` candidates. The scan of every beam row over the
    /// vocabulary is most of a step's search work; sentences are independent, so they are
    /// scanned in parallel.
    fn scan(
        &self,
        live: &[BeamSentence],
        processors: &Processors,
    ) -> Result<Vec<SentenceScan>, EngineError> {
        check_vocab(self.vocab)?;
        live.par_iter()
            .enumerate()
            .map(|(index, sentence)| self.scan_sentence(sentence, index, processors))
            .collect()
    }

    /// One sentence's rows, each normalised and offered while it is still in the cache: the
    /// three passes over a row (maximum, sum of exponentials, candidates) read 232 KB of logits
    /// that stay in L2 from the first to the last, where normalising every row of the batch first
    /// read the whole 30 MB of logits from memory twice.
    fn scan_sentence(
        &self,
        sentence: &BeamSentence,
        index: usize,
        processors: &Processors,
    ) -> Result<SentenceScan, EngineError> {
        let (rows_per_sentence, vocab) = (self.rows_per_sentence, self.vocab);
        let first_row = index * rows_per_sentence;
        // Normalisers and rules per distinct row; the first step's copies share one.
        let mut banned = Vec::new();
        let mut row_info = Vec::with_capacity(rows_per_sentence);
        let mut banned_per_row = Vec::with_capacity(rows_per_sentence);
        let mut top = TopK::new(2 * self.num_beams);
        for (beam, running) in sentence.running.iter().enumerate() {
            let local = beam.min(rows_per_sentence - 1);
            let row = &self.data[(first_row + local) * vocab..][..vocab];
            if row_info.len() == local {
                let rule = processors.row_rule(&running.partial.tokens, &mut banned);
                row_info.push((Normaliser::of(row)?, rule));
                banned_per_row.push(banned.clone());
            }
            let (normaliser, rule) = row_info[local];
            offer_row(
                &mut top,
                row,
                normaliser,
                rule,
                &banned_per_row[local],
                running.score,
                beam * vocab,
            );
        }
        Ok((row_info, top.items))
    }

    /// Moves one sentence on by its candidates: finished hypotheses collected, the next running
    /// beams chosen. Returns the state row each new beam continues, or `None` when the sentence
    /// is done.
    fn advance(
        &self,
        sentence: &mut BeamSentence,
        index: usize,
        (row_info, top_items): SentenceScan,
    ) -> Option<Vec<usize>> {
        let (num_beams, vocab, rows_per_sentence) =
            (self.num_beams, self.vocab, self.rows_per_sentence);
        let first_row = index * rows_per_sentence;
        let row_of = |beam: usize| first_row + beam.min(rows_per_sentence - 1);

        // Which candidates end here: EOS, or every candidate at the length limit.
        let candidates: Vec<(Candidate, bool)> = top_items
            .iter()
            .map(|&c| {
                (
                    c,
                    self.at_length_limit || (c.flat % vocab) as u32 == self.eos,
                )
            })
            .collect();
        let extend = |c: Candidate| {
            let beam = c.flat / vocab;
            let token = (c.flat % vocab) as u32;
            let row = row_of(beam);
            let logit = self.data[row * vocab + token as usize];
            let (normaliser, _) = row_info[beam.min(rows_per_sentence - 1)];
            let position = self.peaks.map_or(0, |peaks| peaks[row]);
            (
                sentence.running[beam]
                    .partial
                    .extended(token, normaliser.logprob(logit), position),
                row,
            )
        };

        // Finished list: only the top num_beams candidates may enter it.
        let mut new_finished: Vec<Finished> = Vec::new();
        for &(candidate, ends) in candidates.iter().take(num_beams) {
            if ends {
                new_finished.push(Finished {
                    partial: extend(candidate).0,
                    score: candidate.value / self.divisor,
                });
            }
        }

        // Running beams: the best num_beams after masking the ended ones with −1e9
        // (stable, like the candidates' own order on ties).
        let mut order: Vec<(f32, usize)> = candidates
            .iter()
            .enumerate()
            .map(|(i, &(c, ends))| (c.value + if ends { BEAM_MASK } else { 0.0 }, i))
            .collect();
        order.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
        let mut next_running = Vec::with_capacity(num_beams);
        let mut origin_rows = Vec::with_capacity(num_beams);
        for &(score, i) in order.iter().take(num_beams) {
            let (partial, row) = extend(candidates[i].0);
            origin_rows.push(row);
            next_running.push(Beam { partial, score });
        }

        let mut finished = std::mem::take(&mut sentence.finished);
        finished.extend(new_finished);
        finished.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
        finished.truncate(num_beams);
        sentence.finished = finished;
        sentence.running = next_running;

        // early_stopping=False: stop once the list is full and the best running beam,
        // scored at its current length, cannot beat the worst finished hypothesis.
        let cannot_improve = sentence.finished.len() == num_beams
            && sentence.finished.last().is_some_and(|worst| {
                let best_possible = sentence.running[0].score / self.divisor;
                // transformers' `best > worst`, false on NaN too.
                !matches!(
                    best_possible.partial_cmp(&worst.score),
                    Some(Ordering::Greater)
                )
            });
        (!(self.at_length_limit || cannot_improve)).then_some(origin_rows)
    }
}

/// The sentence's answer: its best finished hypothesis, or — only when every score was −∞ and
/// nothing could finish — its best running beam.
fn best_of(sentence: BeamSentence, with_positions: bool) -> Hypothesis {
    let mut finished = sentence.finished;
    if !finished.is_empty() {
        let best = finished.swap_remove(0);
        return best.partial.into_hypothesis(best.score, with_positions);
    }
    let mut running = sentence.running;
    let best = running.swap_remove(0);
    best.partial.into_hypothesis(best.score, with_positions)
}

/// Greedy's pick: the first maximum of the processed raw logits (as `torch.argmax`).
fn greedy_choice(row: &[f32], rule: RowRule, banned: &[u32]) -> u32 {
    match rule {
        RowRule::Forced(forced) => forced,
        RowRule::Free => {
            let mut best = 0usize;
            let mut best_value = f32::NEG_INFINITY;
            let mut found = false;
            let mut banned = banned.iter().peekable();
            for (token, &logit) in row.iter().enumerate() {
                let value = if banned.peek().is_some_and(|&&b| b as usize == token) {
                    banned.next();
                    f32::NEG_INFINITY
                } else {
                    logit
                };
                if !found || value > best_value {
                    best = token;
                    best_value = value;
                    found = true;
                }
            }
            best as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> GenerationOptions {
        GenerationOptions {
            num_beams: 4,
            max_new_tokens: 6,
            min_new_tokens: 2,
            length_penalty: 1.0,
            bad_words_ids: vec![vec![9], vec![0], vec![3, 4], vec![9, 5], vec![9]],
            eos_token_id: 0,
            pad_token_id: 9,
            decoder_start_token_id: 9,
            forced_eos_token_id: Some(0),
            no_repeat_ngram_size: 0,
        }
    }

    #[test]
    fn top_k_keeps_the_best_and_the_lower_index_on_ties() {
        let mut top = TopK::new(3);
        for (flat, value) in [1.0, 5.0, 3.0, 5.0, f32::NEG_INFINITY, 3.0, 4.0]
            .into_iter()
            .enumerate()
        {
            top.offer(value, flat);
        }
        let kept: Vec<(f32, usize)> = top.items.iter().map(|c| (c.value, c.flat)).collect();
        assert_eq!(kept, vec![(5.0, 1), (5.0, 3), (4.0, 6)]);

        // Too few finite values: −∞ fills up in index order.
        let mut top = TopK::new(3);
        for (flat, value) in [f32::NEG_INFINITY, 2.0, f32::NEG_INFINITY, f32::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            top.offer(value, flat);
        }
        let kept: Vec<usize> = top.items.iter().map(|c| c.flat).collect();
        assert_eq!(kept, vec![1, 0, 2]);
    }

    #[test]
    fn processors_follow_transformers_order_and_rules() {
        let processors = Processors::new(&options());
        // A lone EOS bad word is dropped; duplicates merge.
        assert_eq!(processors.always_banned, vec![9]);
        let mut banned = Vec::new();
        // First step: [9, 5] does not match the start token 9 (as in transformers); EOS
        // suppressed (min 2).
        assert_eq!(processors.row_rule(&[], &mut banned), RowRule::Free);
        assert_eq!(banned, vec![0, 9]);
        assert_eq!(processors.row_rule(&[9], &mut banned), RowRule::Free);
        assert_eq!(banned, vec![0, 5, 9]);
        assert_eq!(processors.row_rule(&[3], &mut banned), RowRule::Free);
        assert_eq!(banned, vec![0, 4, 9]);
        assert_eq!(processors.row_rule(&[3, 1], &mut banned), RowRule::Free);
        assert_eq!(banned, vec![9]);
        // The sixth token is the last allowed: only EOS, even though 3 was just generated.
        assert_eq!(
            processors.row_rule(&[1, 1, 1, 1, 3], &mut banned),
            RowRule::Forced(0)
        );
    }

    #[test]
    fn repeated_ngrams_are_banned_as_transformers_bans_them() {
        let banned_after = |generated: &[u32], n: usize| {
            let mut banned = Vec::new();
            repeated_ngram_ends(9, generated, n, &mut banned);
            banned
        };
        // Bigrams over [9, 1, 2, 1]: the prefix (1) was followed by 2 once.
        assert_eq!(banned_after(&[1, 2, 1], 2), vec![2]);
        // The decoder start token takes part: [9, 5, 9] would repeat (9, 5).
        assert_eq!(banned_after(&[5, 9], 2), vec![5]);
        // Trigrams need the two last tokens to have occurred together before.
        assert_eq!(banned_after(&[1, 2, 3, 1, 2], 3), vec![3]);
        assert_eq!(banned_after(&[1, 2, 3, 2, 1], 3), Vec::<u32>::new());
        // Too short to hold an n-gram, and n = 1 bans every token seen, the start token too.
        assert_eq!(banned_after(&[1], 3), Vec::<u32>::new());
        assert_eq!(banned_after(&[4, 4], 1), vec![9, 4, 4]);

        let processors = Processors::new(&GenerationOptions {
            no_repeat_ngram_size: 2,
            ..options()
        });
        let mut banned = Vec::new();
        assert_eq!(processors.row_rule(&[3, 7, 3], &mut banned), RowRule::Free);
        // 4 by the bad word [3, 4], 7 by the bigram (3, 7), 9 always.
        assert_eq!(banned, vec![4, 7, 9]);
        // The forced EOS at the length limit still wins.
        assert_eq!(
            processors.row_rule(&[3, 7, 3, 7, 3], &mut banned),
            RowRule::Forced(0)
        );
    }

    #[test]
    fn suffix_matching_ignores_the_start_token() {
        assert!(ends_with(&[1, 2], &[1, 2]));
        assert!(ends_with(&[1, 2], &[2]));
        assert!(!ends_with(&[1, 2], &[1]));
        assert!(!ends_with(&[1], &[9, 1]));
        assert!(ends_with(&[1], &[]));
    }

    #[test]
    fn log_softmax_matches_the_textbook_formula() {
        let row = [1.0f32, 2.0, 3.0, -1.0];
        let normaliser = Normaliser::of(&row).expect("finite");
        let sum: f64 = row.iter().map(|&x| f64::from(x).exp()).sum();
        for &x in &row {
            let expected = f64::from(x) - sum.ln();
            assert!((f64::from(normaliser.logprob(x)) - expected).abs() < 1e-6);
        }
        let impossible = Normaliser::of(&[f32::NEG_INFINITY; 3]).expect("no NaN");
        assert_eq!(impossible.logprob(f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert!(Normaliser::of(&[1.0, f32::NAN]).is_err());
        assert!(Normaliser::of(&[1.0, f32::INFINITY]).is_err());
    }

    #[test]
    fn row_sums_match_an_f64_reference() {
        let row: Vec<f32> = (0..58_101u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) as f32 / 16_777_216.0) * 20.0 - 10.0)
            .collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exact: f64 = row
            .iter()
            .map(|&x| (f64::from(x) - f64::from(max)).exp())
            .sum();
        let relative = ((sum_exp(&row, max) - exact) / exact).abs();
        assert!(relative < 1e-6, "relative error {relative}");
    }

    #[test]
    fn length_penalty_is_read_as_python_would() {
        assert_eq!(penalty_as_f64(0.6), 0.6f64);
        assert_eq!(penalty_as_f64(1.0), 1.0f64);
        assert_eq!(length_divisor(3, 0.6), 3f64.powf(0.6) as f32);
        assert_eq!(length_divisor(7, 0.0), 1.0);
    }

    #[test]
    fn greedy_choice_is_the_first_maximum_outside_the_banned_tokens() {
        let row = [1.0, 3.0, 3.0, 7.0];
        assert_eq!(greedy_choice(&row, RowRule::Free, &[]), 3);
        assert_eq!(greedy_choice(&row, RowRule::Free, &[3]), 1);
        assert_eq!(greedy_choice(&row, RowRule::Forced(0), &[]), 0);
        assert_eq!(
            greedy_choice(&[f32::NEG_INFINITY; 3], RowRule::Free, &[]),
            0
        );
    }

    /// A row of logits like a model's: a spread of values, a few near the top, some ties,
    /// ±0 and −∞, over a length that is no multiple of any block or vector width.
    fn logit_row(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                match i % 97 {
                    3 => 7.25,
                    5 => -0.0,
                    11 => f32::NEG_INFINITY,
                    _ => (state % 20_000) as f32 / 1000.0 - 12.0,
                }
            })
            .collect()
    }

    /// The scalar scans the dispatched ones replaced, as they were.
    fn reference_max(row: &[f32]) -> f32 {
        row.iter()
            .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
    }

    fn reference_sum_exp(row: &[f32], max: f32) -> f64 {
        let mut total = 0.0f64;
        for block in row.chunks(256) {
            let mut lanes = [0.0f32; 8];
            let mut groups = block.chunks_exact(8);
            for group in &mut groups {
                for (lane, &x) in lanes.iter_mut().zip(group) {
                    *lane += wide::exp_nonpositive(x - max);
                }
            }
            let mut block_sum: f64 = lanes.iter().map(|&lane| f64::from(lane)).sum();
            for &x in groups.remainder() {
                block_sum += f64::from(wide::exp_nonpositive(x - max));
            }
            total += block_sum;
        }
        total
    }

    fn reference_offers(
        row: &[f32],
        normaliser: Normaliser,
        banned: &[u32],
        score: f32,
        k: usize,
    ) -> Vec<(u32, usize)> {
        let mut top = TopK::new(k);
        for (token, &logit) in row.iter().enumerate() {
            let processed = if banned.contains(&(token as u32)) {
                f32::NEG_INFINITY
            } else {
                normaliser.logprob(logit)
            };
            top.offer(processed + score, 7 + token);
        }
        top.items
            .iter()
            .map(|c| (c.value.to_bits(), c.flat))
            .collect()
    }

    /// Every width computes the f32 reference's bits: the maximum, the sum of exponentials (in
    /// the reference's order), the log-probabilities and the candidates, ties and banned tokens
    /// included (the goldens depend on it).
    #[test]
    fn logit_scans_give_the_reference_bits_at_every_width() {
        for (len, seed) in [(1, 1), (31, 2), (257, 3), (1000, 4), (58_101, 5)] {
            let row = logit_row(len, seed);
            let max = reference_max(&row);
            let sum = reference_sum_exp(&row, max);
            let normaliser = Normaliser::of_at(Width::Portable, &row).unwrap();
            let banned: Vec<u32> = [0u32, 3, 40, 41, 500, 58_100]
                .into_iter()
                .filter(|&b| (b as usize) < len)
                .collect();
            for width in Width::available() {
                let (got_max, broken) = max_and_broken_at(width, &row);
                assert!(!broken);
                assert_eq!(got_max.to_bits(), max.to_bits(), "{width:?} {len}");
                assert_eq!(sum_exp_at(width, &row, max).to_bits(), sum.to_bits());
                let at = Normaliser::of_at(width, &row).unwrap();
                assert_eq!(at.log_sum.to_bits(), normaliser.log_sum.to_bits());
                for k in [1, 8] {
                    for score in [0.0, -3.5] {
                        let mut top = TopK::new(k);
                        offer_free_row_at(width, &mut top, &row, at, &banned, score, 7);
                        let got: Vec<(u32, usize)> = top
                            .items
                            .iter()
                            .map(|c| (c.value.to_bits(), c.flat))
                            .collect();
                        let want = reference_offers(&row, normaliser, &banned, score, k);
                        assert_eq!(got, want, "{width:?} len {len} k {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn broken_logits_are_found_at_every_width() {
        for width in Width::available() {
            for bad in [f32::NAN, f32::INFINITY] {
                for position in [0, 15, 16, 99] {
                    let mut row = logit_row(100, 9);
                    row[position] = bad;
                    assert!(
                        max_and_broken_at(width, &row).1,
                        "{width:?} {bad} at {position}"
                    );
                    assert!(Normaliser::of_at(width, &row).is_err());
                }
            }
        }
    }
}
