//! Marian (opus-mt) encoder-decoder on candle, with an explicit KV cache and padding masks.
//!
//! [`MarianEngine`] ties the pieces together for the pipeline: the folder's configs
//! ([`config`]) and tokenizer, a [`Network`] that runs the tensors, the packing of sentences into
//! batches ([`crate::engine::batch`]) and the search ([`crate::engine::decode`]). The default network is
//! our candle model ([`model`], [`weights`]); the `rust-bert` feature adds rust-bert's on libtorch
//! ([`crate::engine::rust_bert`]). Everything but the tensor code is shared, so the two engines
//! read the same configs, tokenise the same way and search with the same rules.
//!
//! Sources longer than the model's positions are truncated to `max_position_embeddings` tokens
//! (EOS kept last), as transformers' tokenizer does with `truncation=True`: the document layer
//! splits long sentences before they get here, and failing a whole file over one pathological
//! sentence would help nobody.

pub mod config;
pub mod int8_widened;
pub mod linear;
pub mod model;
pub mod weights;

use std::path::{Path, PathBuf};

use self::config::ModelConfigs;
use self::model::MarianModel;
use self::weights::WeightFile;
use super::decode::{GenerationOptions, Hypothesis, StepModel, generate};
use super::tokenizer::MarianTokenizer;
use super::{DecodeOverride, Engine, EngineError, Translation, WordAlignment};
use crate::span::ByteSpan;
// The settings live with every engine's code; re-exported where they were first defined.
pub use crate::engine::settings::{EngineSettings, Precision};

/// Most sentences in one batch, whatever the token budget: the decoder's self-attention cache
/// holds `sentences × beams × steps × d_model × 2 × layers` floats, so a budget of short sentences
/// (4096 tokens of 8-token sentences at beam 4 is 2048 rows) would need gigabytes. 64 keeps the
/// matrices large enough for full-speed gemm (CTranslate2's default is 32 examples per batch).
const MAX_BATCH_SENTENCES: usize = 64;

/// Source token ids and the byte span of the sentence each one covers.
type EncodedSentence = (Vec<u32>, Vec<(usize, usize)>);

/// The tensor side of a [`MarianEngine`]: the encoder for a batch, then decoder steps for search.
pub trait Network: StepModel + Send + Sync {
    /// Runs the encoder over `sources` (ids, EOS included, unpadded, none empty) and returns the
    /// decoder state before the first step, one row per source. With `cross_attention`, every
    /// step also returns the last layer's head-averaged cross-attention (for word alignment).
    fn start_batch(
        &self,
        sources: &[Vec<u32>],
        cross_attention: bool,
    ) -> Result<Self::State, EngineError>;

    /// The longest source, in tokens, EOS included.
    fn max_source_tokens(&self) -> usize;

    /// The longest target, in new tokens: one position per fed token.
    fn max_target_tokens(&self) -> usize;

    /// Whether steps can return cross-attention; without it no word alignment is reported.
    fn provides_cross_attention(&self) -> bool;
}

impl Network for MarianModel {
    fn start_batch(
        &self,
        sources: &[Vec<u32>],
        cross_attention: bool,
    ) -> Result<Self::State, EngineError> {
        Ok(self.start(self.encode(sources)?, cross_attention))
    }

    fn max_source_tokens(&self) -> usize {
        self.config().max_position_embeddings
    }

    fn max_target_tokens(&self) -> usize {
        MarianModel::max_target_tokens(self)
    }

    fn provides_cross_attention(&self) -> bool {
        true
    }
}

/// What every engine reads from a model folder before its network: the configs and the
/// tokenizer, checked against each other.
pub struct ModelFolder {
    dir: PathBuf,
    configs: ModelConfigs,
    tokenizer: MarianTokenizer,
}

impl ModelFolder {
    /// Reads and checks `config.json`, `generation_config.json` and the tokenizer files of `dir`.
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let configs = ModelConfigs::load(dir)?;
        let tokenizer = MarianTokenizer::from_dir(dir)?;
        // transformers sizes the embeddings from config.json, the tokenizer from vocab.json; a
        // tokenizer that can produce ids the embeddings lack would fail mid-translation.
        if tokenizer.vocab_size() > configs.model.vocab_size {
            return Err(EngineError::ModelFile {
                path: dir.join("vocab.json"),
                problem: format!(
                    "has {} tokens, but config.json says vocab_size is {}",
                    tokenizer.vocab_size(),
                    configs.model.vocab_size
                ),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            configs,
            tokenizer,
        })
    }
}

/// A Marian model folder loaded for translation, on our candle network unless told otherwise.
pub struct MarianEngine<N: Network = MarianModel> {
    network: N,
    tokenizer: MarianTokenizer,
    options: GenerationOptions,
    batch_tokens: usize,
    alignment: bool,
}

impl MarianEngine {
    /// Loads config, generation config, tokenizer and weights from a Hugging Face model folder.
    pub fn load(dir: &Path, settings: &EngineSettings) -> Result<Self, EngineError> {
        let folder = ModelFolder::open(dir)?;
        let weights = WeightFile::open_with_cache(dir, settings.checkpoint_cache.as_deref())?;
        let model =
            MarianModel::load_with_precision(&folder.configs.model, &weights, settings.precision)?;
        Self::with_network(folder, model, settings)
    }
}

impl<N: Network> MarianEngine<N> {
    /// An engine on `network`, which must have been built from `folder`'s config and weights.
    pub fn with_network(
        folder: ModelFolder,
        network: N,
        settings: &EngineSettings,
    ) -> Result<Self, EngineError> {
        let ModelFolder {
            dir,
            configs,
            tokenizer,
        } = folder;
        let generation = &configs.generation;
        let limit = network.max_target_tokens();
        let max_new_tokens = match settings.max_new_tokens {
            Some(n) if n > limit => {
                return Err(EngineError::InvalidOption(format!(
                    "maximum length {n} exceeds the {limit} target positions of the model in {}",
                    dir.display()
                )));
            }
            Some(n) => n,
            // The model's own default may exceed its positions (transformers would fail there).
            None => generation.max_new_tokens.min(limit),
        };
        let options = GenerationOptions {
            num_beams: settings.beam_size.unwrap_or(generation.num_beams),
            max_new_tokens,
            min_new_tokens: settings.min_new_tokens.unwrap_or(generation.min_new_tokens),
            length_penalty: generation.length_penalty,
            bad_words_ids: generation.bad_words_ids.clone(),
            eos_token_id: generation.eos_token_id,
            pad_token_id: generation.pad_token_id,
            decoder_start_token_id: generation.decoder_start_token_id,
            forced_eos_token_id: generation.forced_eos_token_id,
            no_repeat_ngram_size: 0,
        };
        options.validate(configs.model.target_vocab_size())?;
        if settings.batch_tokens == 0 {
            return Err(EngineError::InvalidOption(
                "batch tokens must be at least 1".into(),
            ));
        }
        Ok(Self {
            alignment: settings.alignment && network.provides_cross_attention(),
            network,
            tokenizer,
            options,
            batch_tokens: settings.batch_tokens,
        })
    }

    /// The generation options in effect (model defaults overridden by the settings).
    pub fn options(&self) -> &GenerationOptions {
        &self.options
    }

    /// Source ids and their byte spans, truncated to the model's positions with EOS kept last.
    fn encode(&self, sentence: &str) -> Result<EncodedSentence, EngineError> {
        let (mut ids, mut offsets) = self.tokenizer.encode_with_offsets(sentence)?;
        let limit = self.max_source_tokens();
        if ids.len() > limit {
            let eos = ids.len() - 1;
            ids.swap(limit - 1, eos);
            offsets.swap(limit - 1, eos);
            ids.truncate(limit);
            offsets.truncate(limit);
        }
        Ok((ids, offsets))
    }

    fn finish(
        &self,
        sentence: &str,
        offsets: &[(usize, usize)],
        hypothesis: Hypothesis,
    ) -> Translation {
        let (text, spans) = self.tokenizer.decode_with_offsets(&hypothesis.token_ids);
        let sum_logprob: f32 = hypothesis.token_logprobs.iter().sum();
        let mean_logprob = if hypothesis.token_logprobs.is_empty() {
            0.0
        } else {
            sum_logprob / hypothesis.token_logprobs.len() as f32
        };
        let alignment = self.alignment.then(|| {
            let positions = hypothesis.source_positions.as_deref().unwrap_or(&[]);
            word_alignment(sentence, offsets, &text, &spans, positions)
        });
        Translation {
            text,
            reached_length_limit: hypothesis.token_ids.len() >= self.options.max_new_tokens,
            token_ids: hypothesis.token_ids,
            sum_logprob,
            mean_logprob,
            alignment,
            flags: Vec::new(),
        }
    }

    fn empty_translation(&self) -> Translation {
        Translation {
            text: String::new(),
            token_ids: Vec::new(),
            sum_logprob: 0.0,
            mean_logprob: 0.0,
            alignment: self.alignment.then(WordAlignment::default),
            reached_length_limit: false,
            flags: Vec::new(),
        }
    }

    /// Translates `sentences` in batches with the search `options`.
    fn translate_with_options(
        &self,
        sentences: &[&str],
        options: &GenerationOptions,
    ) -> Result<Vec<Translation>, EngineError> {
        let mut encoded = Vec::with_capacity(sentences.len());
        for sentence in sentences {
            // Nothing to translate: no model run, an empty translation (as an empty line expects).
            if sentence.trim().is_empty() {
                encoded.push((Vec::new(), Vec::new()));
            } else {
                encoded.push(self.encode(sentence)?);
            }
        }
        let lengths: Vec<usize> = encoded.iter().map(|(ids, _)| ids.len()).collect();
        crate::engine::batch::run_in_order(
            &lengths,
            self.batch_tokens,
            MAX_BATCH_SENTENCES,
            |_| self.empty_translation(),
            |batch| {
                let sources: Vec<Vec<u32>> = batch.iter().map(|&i| encoded[i].0.clone()).collect();
                // The whole batch on one of rayon's threads: each of the ~150 parallel sections
                // of a decoder step then starts from a pool thread, where from this (outside)
                // thread each one queued a job, woke a worker and put this thread to sleep until
                // it was done — two futex round trips per section.
                let hypotheses = rayon::scope(|_| {
                    let state = self.network.start_batch(&sources, self.alignment)?;
                    generate(&self.network, state, batch.len(), options)
                })?;
                if hypotheses.len() != batch.len() {
                    return Err(EngineError::Decode(format!(
                        "search returned {} hypotheses for {} sentences",
                        hypotheses.len(),
                        batch.len()
                    )));
                }
                Ok(batch
                    .iter()
                    .zip(hypotheses)
                    .map(|(&i, hypothesis)| self.finish(sentences[i], &encoded[i].1, hypothesis))
                    .collect())
            },
        )
    }
}

impl<N: Network> Engine for MarianEngine<N> {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        self.translate_with_options(sentences, &self.options)
    }

    /// The same model with a larger beam and transformers' `no_repeat_ngram_size`; everything
    /// else (length limits, banned tokens) as in `translate`.
    fn translate_with(
        &self,
        sentences: &[&str],
        decode: &DecodeOverride,
    ) -> Result<Vec<Translation>, EngineError> {
        let options = GenerationOptions {
            num_beams: self.options.num_beams.max(decode.min_beam_size),
            no_repeat_ngram_size: decode.no_repeat_ngram_size,
            ..self.options.clone()
        };
        self.translate_with_options(sentences, &options)
    }

    fn source_token_count(&self, sentence: &str) -> usize {
        match self.tokenizer.encode(sentence) {
            Ok(ids) => ids.len(),
            // A sentence the tokenizer rejects fails in translate with its message; for planning,
            // a generous estimate keeps it in a batch of its own.
            Err(_) => sentence.len() + 1,
        }
    }

    fn max_source_tokens(&self) -> usize {
        self.network.max_source_tokens()
    }
}

/// Word pairs from token-level attention peaks: each generated token with a visible span is paired
/// with the source token it attended to most; both spans are widened to the whitespace-delimited
/// words around them, and repeated pairs are kept once, in target order.
fn word_alignment(
    source: &str,
    source_offsets: &[(usize, usize)],
    target: &str,
    target_spans: &[Option<(usize, usize)>],
    positions: &[usize],
) -> WordAlignment {
    let mut pairs: Vec<(ByteSpan, ByteSpan)> = Vec::new();
    for (target_span, &position) in target_spans.iter().zip(positions) {
        let Some((t_start, t_end)) = *target_span else {
            continue;
        };
        let Some(&(s_start, s_end)) = source_offsets.get(position) else {
            continue;
        };
        if t_start >= t_end || s_start >= s_end {
            continue; // EOS, a bare word marker, or a skipped special token
        }
        let pair = (
            word_around(source, s_start, s_end),
            word_around(target, t_start, t_end),
        );
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    WordAlignment { pairs }
}

/// The whitespace-delimited word of `text` containing `start..end`.
fn word_around(text: &str, start: usize, end: usize) -> ByteSpan {
    let start = text
        .get(..start)
        .and_then(|before| {
            before
                .rfind(char::is_whitespace)
                .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
        })
        .unwrap_or(0);
    let end = text
        .get(end..)
        .and_then(|after| after.find(char::is_whitespace).map(|i| end + i))
        .unwrap_or(text.len());
    ByteSpan { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_around_subword_spans() {
        let text = "Die Bundesregierung hat";
        assert_eq!(word_around(text, 4, 10), ByteSpan { start: 4, end: 19 });
        assert_eq!(word_around(text, 0, 3), ByteSpan { start: 0, end: 3 });
        assert_eq!(word_around(text, 20, 23), ByteSpan { start: 20, end: 23 });
        assert_eq!(
            word_around("a\u{a0}über b", 3, 5),
            ByteSpan { start: 3, end: 8 }
        );
    }
}
