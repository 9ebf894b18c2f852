//! Second engine: rust-bert's Marian generator on libtorch (cargo feature `rust-bert`).
//!
//! The default engine is pure Rust on candle. This one exists for users who already run libtorch
//! (with CUDA, for instance) and, above all, as an independent check: two implementations of the
//! same model that agree token for token with each other and with transformers.
//!
//! rust-bert 0.23 reads Hugging Face model folders with three gaps this module bridges, all in
//! memory so that the model folder is never written to and no cache can go stale:
//! - its BART-derived Marian needs `normalize_embedding: false` and `static_position_embeddings:
//!   true`, which old opus-mt configs say and transformers-saved ones do not; we hand it an adjusted
//!   copy of `config.json` in a temporary file;
//! - it reads the sinusoidal `embed_positions` tables as weights, which transformers never saves;
//!   we compute them as Marian does (sin in the first half, cos in the second) and pass the weights
//!   as an in-memory libtorch archive;
//! - its tokenizer (rust_tokenizers) neither collapses repeated whitespace like SentencePiece's
//!   `nmt_nfkc` normaliser nor strips the leading space when decoding; we do both here.
//!
//! Generation settings come from the model folder (`generation_config.json`, else `config.json`)
//! and the command line exactly as for the default engine: beam search with `early_stopping=false`,
//! pad banned, EOS forced at the length limit, EOS suppressed before the minimum length.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rust_bert::bart::BartConfig;
use rust_bert::marian::{MarianForConditionalGeneration, MarianGenerator};
use rust_bert::pipelines::common::{ModelResource, ModelType, TokenizerOption};
use rust_bert::pipelines::generation_utils::{GenerateConfig, GenerateOptions, LanguageGenerator};
use rust_bert::resources::{BufferResource, LocalResource};
use serde_json::Value;
use tch::{Device, Kind, Tensor, nn};

use super::marian::EngineSettings;
use super::{Engine, EngineError, Translation};

/// Generation settings resolved once at load time from the model folder and the command line.
#[derive(Debug, Clone, PartialEq)]
struct SearchSettings {
    num_beams: i64,
    /// At most this many new tokens per sentence, EOS included.
    max_new_tokens: i64,
    /// rust-bert's `min_length`: EOS is suppressed while `1 + generated < min_length`.
    min_length: i64,
    length_penalty: f64,
    bad_word_ids: Vec<Vec<i64>>,
    decoder_start_token_id: i64,
    eos_token_id: i64,
    pad_token_id: i64,
}

/// What runs under the lock: tensors are `Send` but not `Sync`.
struct Models {
    generator: MarianGenerator,
    /// A second copy of the model that scores finished translations under the raw distribution
    /// (teacher forcing). rust-bert's own scores are taken after pad is banned and EOS forced, and
    /// its beam search reports only a length-normalised total; users and the default engine want
    /// the model's plain log-probabilities. rust-bert keeps its model private, hence the copy.
    scorer: MarianForConditionalGeneration,
    _scorer_weights: nn::VarStore,
}

/// A Marian model folder loaded into rust-bert.
pub struct RustBertEngine {
    models: Mutex<Models>,
    /// A second tokenizer outside the lock, for counting tokens while another thread translates.
    tokenizer: TokenizerOption,
    search: SearchSettings,
    device: Device,
    batch_tokens: usize,
    max_source_tokens: usize,
}

impl RustBertEngine {
    /// Loads config, generation config, tokenizer and weights from a Hugging Face model folder,
    /// to run on the CPU.
    pub fn load(dir: &Path, settings: &EngineSettings) -> Result<Self, EngineError> {
        Self::load_on_device(dir, settings, Device::Cpu)
    }

    /// Like [`RustBertEngine::load`], on a given libtorch device (`Device::Cuda(0)`, …).
    pub fn load_on_device(
        dir: &Path,
        settings: &EngineSettings,
        device: Device,
    ) -> Result<Self, EngineError> {
        let config_path = require_file(dir, "config.json")?;
        let vocab_path = require_file(dir, "vocab.json")?;
        let source_spm = require_file(dir, "source.spm")?;

        let raw_config = read_json(&config_path)?;
        let generation = match dir.join("generation_config.json") {
            path if path.is_file() => Some(read_json(&path)?),
            _ => None,
        };
        let (adjusted_config, bart_config) = adjust_config(&config_path, raw_config.clone())?;
        let search = resolve_search(&config_path, &raw_config, generation.as_ref(), settings)?;

        // rust-bert reads the config from a path; the temporary copy lives until the model is built.
        let config_file = write_temp_json(&adjusted_config)?;
        let weights = prepare_weights(dir, &bart_config)?;

        let mut scorer_weights = nn::VarStore::new(device);
        let scorer = catch_unwind(AssertUnwindSafe(|| {
            MarianForConditionalGeneration::new(scorer_weights.root(), &bart_config)
        }))
        .map_err(|panic| EngineError::Model {
            dir: dir.to_owned(),
            problem: format!(
                "rust-bert could not build the Marian model: {}",
                panic_message(&panic)
            ),
        })?;
        scorer_weights
            .load_from_stream(std::io::Cursor::new(&weights))
            .map_err(|error| EngineError::Model {
                dir: dir.to_owned(),
                problem: format!("the weights do not fit the model config.json describes: {error}"),
            })?;
        scorer_weights.freeze();

        let tokenizer_for_generator = load_tokenizer(&vocab_path, &source_spm)?;
        let tokenizer = load_tokenizer(&vocab_path, &source_spm)?;
        let generate_config = GenerateConfig {
            model_type: ModelType::Marian,
            model_resource: ModelResource::Torch(Box::new(BufferResource::from(weights))),
            config_resource: Box::new(LocalResource::from(config_file.path().to_path_buf())),
            vocab_resource: Box::new(LocalResource::from(vocab_path.clone())),
            merges_resource: Some(Box::new(LocalResource::from(source_spm.clone()))),
            min_length: search.min_length,
            max_length: Some(search.max_new_tokens + 1),
            do_sample: false,
            early_stopping: false,
            num_beams: search.num_beams,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            length_penalty: search.length_penalty,
            no_repeat_ngram_size: 0,
            num_return_sequences: 1,
            num_beam_groups: None,
            diversity_penalty: None,
            device,
            kind: Some(Kind::Float),
        };
        // rust-bert asserts and unwraps inside; a panic here is a model it cannot take, not a bug
        // the user should see as a crash.
        let built = catch_unwind(AssertUnwindSafe(|| {
            MarianGenerator::new_with_tokenizer(generate_config, tokenizer_for_generator)
        }));
        let generator = match built {
            Ok(Ok(generator)) => generator,
            Ok(Err(error)) => Err(EngineError::Model {
                dir: dir.to_owned(),
                problem: format!("rust-bert could not build the Marian model: {error}"),
            })?,
            Err(panic) => Err(EngineError::Model {
                dir: dir.to_owned(),
                problem: format!(
                    "rust-bert could not build the Marian model: {}",
                    panic_message(&panic)
                ),
            })?,
        };
        drop(config_file);

        Ok(Self {
            models: Mutex::new(Models {
                generator,
                scorer,
                _scorer_weights: scorer_weights,
            }),
            tokenizer,
            search,
            device,
            batch_tokens: settings.batch_tokens.max(1),
            max_source_tokens: usize::try_from(bart_config.max_position_embeddings).unwrap_or(512),
        })
    }

    /// Source token ids the model sees for `sentence` (EOS included), for checks against
    /// transformers' `MarianTokenizer`.
    pub fn source_ids(&self, sentence: &str) -> Vec<u32> {
        self.encode(sentence)
            .into_iter()
            .map(|id| u32::try_from(id).unwrap_or(u32::MAX))
            .collect()
    }

    /// Target text for token ids as this engine renders it (special tokens skipped).
    pub fn decode(&self, token_ids: &[u32]) -> String {
        let ids: Vec<i64> = token_ids.iter().map(|&id| i64::from(id)).collect();
        // rust_tokenizers turns every piece's ▁ into a space, the first one included.
        self.tokenizer.decode(&ids, true, false).trim().to_owned()
    }

    /// Source ids for one sentence, EOS included, cut to what the positional table holds.
    fn encode(&self, sentence: &str) -> Vec<i64> {
        let text = collapse_whitespace(sentence);
        let tokens = self.tokenizer.tokenize(&text);
        let mut ids = self.tokenizer.convert_tokens_to_ids(&tokens);
        ids.truncate(self.max_source_tokens.saturating_sub(1));
        ids.push(self.search.eos_token_id);
        ids
    }

    fn translate_batch(
        &self,
        models: &Models,
        sources: &[&[i64]],
    ) -> Result<Vec<Translation>, EngineError> {
        let (input_ids, attention_mask) = self.padded(sources);
        let options = GenerateOptions {
            min_length: Some(self.search.min_length),
            max_length: Some(self.search.max_new_tokens + 1),
            early_stopping: Some(false),
            num_beams: Some(self.search.num_beams),
            do_sample: Some(false),
            length_penalty: Some(self.search.length_penalty),
            no_repeat_ngram_size: Some(0),
            decoder_start_token_id: Some(self.search.decoder_start_token_id),
            bad_word_ids: if self.search.bad_word_ids.is_empty() {
                None
            } else {
                Some(&self.search.bad_word_ids)
            },
            ..Default::default()
        };
        let generated = catch_unwind(AssertUnwindSafe(|| {
            models.generator.generate_from_ids_and_past(
                input_ids.shallow_clone(),
                Some(attention_mask.shallow_clone()),
                Some(options),
            )
        }));
        let outputs = match generated {
            Ok(Ok(outputs)) => outputs,
            Ok(Err(error)) => return Err(EngineError::RustBert(error.to_string())),
            Err(panic) => return Err(EngineError::RustBert(panic_message(&panic))),
        };
        if outputs.len() != sources.len() {
            return Err(EngineError::RustBert(format!(
                "rust-bert returned {} outputs for {} sentences",
                outputs.len(),
                sources.len()
            )));
        }

        // The first position holds the decoder start token; after EOS comes padding.
        let outputs: Vec<Vec<i64>> = outputs
            .into_iter()
            .map(|output| {
                let mut token_ids = Vec::new();
                for &id in output.indices.iter().skip(1) {
                    if id == self.search.pad_token_id {
                        break;
                    }
                    token_ids.push(id);
                    if id == self.search.eos_token_id {
                        break;
                    }
                }
                token_ids
            })
            .collect();
        let token_logprobs = catch_unwind(AssertUnwindSafe(|| {
            self.score(&models.scorer, &input_ids, &attention_mask, &outputs)
        }))
        .map_err(|panic| EngineError::RustBert(panic_message(&panic)))?;

        Ok(outputs
            .into_iter()
            .zip(token_logprobs)
            .map(|(token_ids, logprobs)| {
                let sum_logprob: f64 = logprobs.iter().sum();
                let token_ids: Vec<u32> = token_ids
                    .iter()
                    .map(|&id| u32::try_from(id).unwrap_or(u32::MAX))
                    .collect();
                let mean_logprob = sum_logprob / token_ids.len().max(1) as f64;
                Translation {
                    text: self.decode(&token_ids),
                    token_ids,
                    sum_logprob: sum_logprob as f32,
                    mean_logprob: mean_logprob as f32,
                    alignment: None,
                }
            })
            .collect())
    }

    /// Right-padded source ids and their attention mask, on the model's device.
    fn padded(&self, sources: &[&[i64]]) -> (Tensor, Tensor) {
        let longest = sources.iter().map(|ids| ids.len()).max().unwrap_or(1);
        let mut flat_ids = Vec::with_capacity(sources.len() * longest);
        let mut flat_mask = Vec::with_capacity(sources.len() * longest);
        for ids in sources {
            let padding = longest - ids.len();
            flat_ids.extend_from_slice(ids);
            flat_ids.extend(std::iter::repeat_n(self.search.pad_token_id, padding));
            flat_mask.extend(std::iter::repeat_n(1i64, ids.len()));
            flat_mask.extend(std::iter::repeat_n(0i64, padding));
        }
        let shape = [sources.len() as i64, longest as i64];
        (
            Tensor::from_slice(&flat_ids)
                .view(shape)
                .to_device(self.device),
            Tensor::from_slice(&flat_mask)
                .view(shape)
                .to_device(self.device),
        )
    }

    /// Log-probability of each generated token under the model's raw distribution: one
    /// teacher-forced pass over the finished outputs, as transformers' goldens are scored.
    fn score(
        &self,
        scorer: &MarianForConditionalGeneration,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        outputs: &[Vec<i64>],
    ) -> Vec<Vec<f64>> {
        let longest = outputs.iter().map(Vec::len).max().unwrap_or(0);
        if longest == 0 {
            return vec![Vec::new(); outputs.len()];
        }
        let pad = self.search.pad_token_id;
        let mut decoder_inputs = Vec::with_capacity(outputs.len() * longest);
        let mut targets = Vec::with_capacity(outputs.len() * longest);
        for ids in outputs {
            decoder_inputs.push(self.search.decoder_start_token_id);
            decoder_inputs.extend_from_slice(&ids[..ids.len().saturating_sub(1)]);
            // Causal attention: positions past a sentence's end never influence its own tokens.
            let filled = ids.len().max(1);
            decoder_inputs.extend(std::iter::repeat_n(pad, longest - filled));
            targets.extend_from_slice(ids);
            targets.extend(std::iter::repeat_n(pad, longest - ids.len()));
        }
        let shape = [outputs.len() as i64, longest as i64];
        let decoder_inputs = Tensor::from_slice(&decoder_inputs)
            .view(shape)
            .to_device(self.device);
        let targets = Tensor::from_slice(&targets)
            .view(shape)
            .to_device(self.device);
        let logprobs = tch::no_grad(|| {
            scorer
                .forward_t(
                    Some(input_ids),
                    Some(attention_mask),
                    None,
                    Some(&decoder_inputs),
                    None,
                    None,
                    false,
                )
                .decoder_output
                .to_kind(Kind::Double)
                .log_softmax(-1, Kind::Double)
                .gather(-1, &targets.unsqueeze(-1), false)
                .squeeze_dim(-1)
                .to_device(Device::Cpu)
        });
        outputs
            .iter()
            .enumerate()
            .map(|(row, ids)| {
                (0..ids.len())
                    .map(|column| logprobs.double_value(&[row as i64, column as i64]))
                    .collect()
            })
            .collect()
    }
}

impl Engine for RustBertEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        let sources: Vec<Vec<i64>> = sentences.iter().map(|s| self.encode(s)).collect();

        // Longest first, packed by padded token count; results go back to their input position.
        let mut order: Vec<usize> = (0..sources.len()).collect();
        order.sort_by_key(|&index| std::cmp::Reverse(sources[index].len()));
        let mut results: Vec<Option<Translation>> = vec![None; sources.len()];

        let models = self
            .models
            .lock()
            .map_err(|_| EngineError::RustBert("an earlier translation panicked".into()))?;
        let mut start = 0;
        while start < order.len() {
            // Sorted longest first, so the first sentence sets the padded width of the batch.
            let width = sources[order[start]].len();
            let mut end = start + 1;
            while end < order.len() && (end - start + 1) * width <= self.batch_tokens {
                end += 1;
            }
            let batch: Vec<&[i64]> = order[start..end]
                .iter()
                .map(|&index| sources[index].as_slice())
                .collect();
            let translations = self.translate_batch(&models, &batch)?;
            for (&index, translation) in order[start..end].iter().zip(translations) {
                results[index] = Some(translation);
            }
            start = end;
        }
        results
            .into_iter()
            .map(|translation| {
                translation
                    .ok_or_else(|| EngineError::RustBert("a sentence got no translation".into()))
            })
            .collect()
    }

    fn source_token_count(&self, sentence: &str) -> usize {
        self.encode(sentence).len()
    }

    fn max_source_tokens(&self) -> usize {
        self.max_source_tokens
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "libtorch failed".to_owned())
}

/// SentencePiece's `nmt_nfkc` normaliser trims and collapses whitespace; rust_tokenizers does not.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn require_file(dir: &Path, name: &str) -> Result<PathBuf, EngineError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(EngineError::Model {
            dir: dir.to_owned(),
            problem: format!("no {name} — is this a Hugging Face Marian model folder?"),
        })
    }
}

fn read_json(path: &Path) -> Result<Value, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|error| EngineError::ModelFile {
        path: path.to_owned(),
        problem: format!("not valid JSON: {error}"),
    })
}

fn load_tokenizer(vocab: &Path, spm: &Path) -> Result<TokenizerOption, EngineError> {
    fn as_str(path: &Path) -> Result<&str, EngineError> {
        path.to_str().ok_or_else(|| EngineError::ModelFile {
            path: path.to_owned(),
            problem: "rust-bert needs a path that is valid UTF-8".into(),
        })
    }
    TokenizerOption::from_file(
        ModelType::Marian,
        as_str(vocab)?,
        Some(as_str(spm)?),
        false,
        None,
        None,
    )
    .map_err(|error| {
        EngineError::Tokenizer(format!("{} / {}: {error}", vocab.display(), spm.display()))
    })
}

/// transformers' `MarianConfig` defaults for keys an old or minimal config may lack.
const MARIAN_DEFAULTS: &[(&str, fn() -> Value)] = &[
    ("activation_function", || Value::from("gelu")),
    ("activation_dropout", || Value::from(0.0)),
    ("attention_dropout", || Value::from(0.0)),
    ("dropout", || Value::from(0.1)),
    ("d_model", || Value::from(1024)),
    ("decoder_attention_heads", || Value::from(16)),
    ("decoder_ffn_dim", || Value::from(4096)),
    ("decoder_layerdrop", || Value::from(0.0)),
    ("decoder_layers", || Value::from(12)),
    ("encoder_attention_heads", || Value::from(16)),
    ("encoder_ffn_dim", || Value::from(4096)),
    ("encoder_layerdrop", || Value::from(0.0)),
    ("encoder_layers", || Value::from(12)),
    ("init_std", || Value::from(0.02)),
    ("max_position_embeddings", || Value::from(1024)),
    ("vocab_size", || Value::from(58101)),
    ("scale_embedding", || Value::from(false)),
    ("pad_token_id", || Value::from(58100)),
    ("eos_token_id", || Value::from(0)),
    ("decoder_start_token_id", || Value::from(58100)),
];

/// The config rust-bert must see: Marian's embedding layout, transformers' defaults, and
/// activation names rust-bert knows. Returns the JSON to hand over and its parsed form.
fn adjust_config(path: &Path, config: Value) -> Result<(Value, BartConfig), EngineError> {
    let problem = |problem: String| EngineError::ModelFile {
        path: path.to_owned(),
        problem,
    };
    let Value::Object(mut map) = config else {
        return Err(problem("expected a JSON object".into()));
    };
    if map.get("normalize_before").and_then(Value::as_bool) == Some(true) {
        return Err(problem(
            "normalize_before: true (pre-norm) is not supported by rust-bert's Marian".into(),
        ));
    }
    if map
        .get("share_encoder_decoder_embeddings")
        .and_then(Value::as_bool)
        == Some(false)
    {
        return Err(problem(
            "share_encoder_decoder_embeddings: false is not supported by rust-bert's Marian".into(),
        ));
    }
    for (key, default) in MARIAN_DEFAULTS {
        if map.get(*key).is_none_or(Value::is_null) {
            map.insert((*key).to_owned(), default());
        }
    }
    if let Some(decoder_vocab) = map.get("decoder_vocab_size").and_then(Value::as_i64)
        && Some(decoder_vocab) != map.get("vocab_size").and_then(Value::as_i64)
    {
        return Err(problem(format!(
            "decoder_vocab_size {decoder_vocab} differs from vocab_size; rust-bert needs one shared vocabulary"
        )));
    }
    let activation = match map.get("activation_function").and_then(Value::as_str) {
        Some("swish" | "silu") => "swish",
        Some("gelu") => "gelu",
        Some("relu") => "relu",
        Some("gelu_new" | "gelu_pytorch_tanh") => "gelu_new",
        Some("tanh") => "tanh",
        other => {
            return Err(problem(format!(
                "activation_function {other:?} is not one rust-bert supports (swish, gelu, relu, gelu_new, tanh)"
            )));
        }
    };
    map.insert("activation_function".into(), Value::from(activation));
    map.insert("normalize_embedding".into(), Value::from(false));
    map.insert("static_position_embeddings".into(), Value::from(true));
    if map.get("num_hidden_layers").is_none_or(Value::is_null) {
        let layers = map
            .get("encoder_layers")
            .cloned()
            .unwrap_or(Value::from(12));
        map.insert("num_hidden_layers".into(), layers);
    }
    // Label maps are irrelevant for translation and their key types trip rust-bert's parser.
    map.remove("id2label");
    map.remove("label2id");
    let adjusted = Value::Object(map);
    let parsed: BartConfig = serde_json::from_value(adjusted.clone())
        .map_err(|error| problem(format!("rust-bert cannot read it: {error}")))?;
    if parsed.d_model <= 0 || parsed.vocab_size <= 0 || parsed.max_position_embeddings <= 0 {
        return Err(problem(
            "d_model, vocab_size and max_position_embeddings must be positive".into(),
        ));
    }
    Ok((adjusted, parsed))
}

/// Generation settings as transformers resolves them: `generation_config.json` when present,
/// else the same keys in `config.json`, else transformers' defaults; the command line wins.
fn resolve_search(
    config_path: &Path,
    config: &Value,
    generation: Option<&Value>,
    settings: &EngineSettings,
) -> Result<SearchSettings, EngineError> {
    let source = generation.unwrap_or(config);
    let int = |key: &str| source.get(key).and_then(Value::as_i64);
    let config_int = |key: &str| config.get(key).and_then(Value::as_i64);
    let invalid = |message: String| EngineError::InvalidOption(message);

    let pad_token_id = int("pad_token_id")
        .or(config_int("pad_token_id"))
        .unwrap_or(58100);
    let eos_token_id = match source.get("eos_token_id").or(config.get("eos_token_id")) {
        Some(Value::Array(ids)) => ids.first().and_then(Value::as_i64),
        Some(value) => value.as_i64(),
        None => None,
    }
    .unwrap_or(0);
    let decoder_start_token_id = int("decoder_start_token_id")
        .or(config_int("decoder_start_token_id"))
        .unwrap_or(pad_token_id);

    let num_beams = match settings.beam_size {
        Some(beams) => i64::try_from(beams).unwrap_or(i64::MAX),
        None => int("num_beams").unwrap_or(1),
    };
    if num_beams < 1 {
        return Err(invalid("beam size must be at least 1".into()));
    }
    let max_new_tokens = match settings.max_new_tokens {
        Some(tokens) => i64::try_from(tokens).unwrap_or(i64::MAX),
        // transformers counts the decoder start token in `max_length`.
        None => int("max_new_tokens").unwrap_or_else(|| int("max_length").unwrap_or(20) - 1),
    };
    if max_new_tokens < 1 {
        return Err(invalid("max length must be at least 1 new token".into()));
    }
    let max_positions = config_int("max_position_embeddings").unwrap_or(1024);
    if max_new_tokens >= max_positions {
        return Err(invalid(format!(
            "max length {max_new_tokens} needs more than the {max_positions} target positions of {}",
            config_path.display()
        )));
    }
    // Both minimums in rust-bert's terms (decoder start token counted); EOS forced at the limit
    // wins over the minimum, as in transformers, so the minimum never reaches the forced step.
    let min_from_config = int("min_length").unwrap_or(0);
    let min_from_settings = settings
        .min_new_tokens
        .map(|tokens| i64::try_from(tokens).unwrap_or(i64::MAX).saturating_add(1))
        .unwrap_or(0);
    let min_length = min_from_config.max(min_from_settings).min(max_new_tokens);

    let length_penalty = source
        .get("length_penalty")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let mut bad_word_ids: Vec<Vec<i64>> = source
        .get("bad_words_ids")
        .and_then(Value::as_array)
        .map(|lists| {
            lists
                .iter()
                .filter_map(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_i64).collect::<Vec<_>>())
                .filter(|ids| !ids.is_empty())
                .collect()
        })
        .unwrap_or_default();
    // rust-bert's Marian always bans pad; listing it again is harmless but pointless.
    bad_word_ids.retain(|ids| ids.as_slice() != [pad_token_id]);

    Ok(SearchSettings {
        num_beams,
        max_new_tokens,
        min_length,
        length_penalty,
        bad_word_ids,
        decoder_start_token_id,
        eos_token_id,
        pad_token_id,
    })
}

fn write_temp_json(value: &Value) -> Result<tempfile::NamedTempFile, EngineError> {
    let mut file = tempfile::Builder::new()
        .prefix("de2en-rust-bert-config-")
        .suffix(".json")
        .tempfile()
        .map_err(|source| EngineError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let io_error = |source| EngineError::Io {
        path: std::env::temp_dir(),
        source,
    };
    serde_json::to_writer(file.as_file_mut(), value).map_err(|error| io_error(error.into()))?;
    std::io::Write::flush(file.as_file_mut()).map_err(io_error)?;
    Ok(file)
}

/// Marian's sinusoidal position table, as transformers computes it: `[positions, d_model]` with
/// sin of the even-index angles in the first half and cos of the odd-index angles in the second.
fn sinusoidal_positions(positions: usize, dim: usize) -> Vec<f32> {
    let sentinel = dim.div_ceil(2);
    let mut table = vec![0f32; positions * dim];
    for pos in 0..positions {
        let row = &mut table[pos * dim..(pos + 1) * dim];
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / dim as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[sentinel + j / 2] = angle.cos() as f32;
            }
        }
    }
    table
}

/// Reads `model.safetensors` (or `pytorch_model.bin`), fills in what rust-bert expects and
/// transformers does not save, and returns the weights as an in-memory libtorch archive.
fn prepare_weights(dir: &Path, config: &BartConfig) -> Result<Vec<u8>, EngineError> {
    let safetensors = dir.join("model.safetensors");
    let pickle = dir.join("pytorch_model.bin");
    let (path, loaded) = if safetensors.is_file() {
        let loaded = Tensor::read_safetensors(&safetensors);
        (safetensors, loaded)
    } else if pickle.is_file() {
        let loaded = Tensor::loadz_multi(&pickle);
        (pickle, loaded)
    } else {
        return Err(EngineError::Model {
            dir: dir.to_owned(),
            problem: "no model.safetensors or pytorch_model.bin".into(),
        });
    };
    let file_problem = |problem: String| EngineError::ModelFile {
        path: path.clone(),
        problem,
    };
    let mut tensors: std::collections::HashMap<String, Tensor> = loaded
        .map_err(|error| file_problem(format!("cannot read the weights: {error}")))?
        .into_iter()
        .map(|(name, tensor)| (name, tensor.to_kind(Kind::Float)))
        .collect();

    // Tied embeddings: transformers may store them under any of these names.
    const SHARED: &str = "model.shared.weight";
    let tied = [
        "model.encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight",
        "lm_head.weight",
    ];
    if !tensors.contains_key(SHARED) {
        let Some(found) = tied.iter().find_map(|name| tensors.get(*name)) else {
            return Err(file_problem(format!("no {SHARED} (token embeddings)")));
        };
        let shared = found.shallow_clone();
        tensors.insert(SHARED.to_owned(), shared);
    }
    let expected = [config.vocab_size, config.d_model];
    let shared = &tensors[SHARED];
    if shared.size() != expected {
        return Err(file_problem(format!(
            "{SHARED} has shape {:?}, config.json says vocab_size × d_model = {expected:?}",
            shared.size()
        )));
    }
    for name in tied {
        if let Some(tensor) = tensors.get(name)
            && !tensor.equal(shared)
        {
            return Err(file_problem(format!(
                "{name} differs from {SHARED}; rust-bert's Marian supports tied embeddings only"
            )));
        }
    }
    if !tensors.contains_key("final_logits_bias") {
        tensors.insert(
            "final_logits_bias".into(),
            Tensor::zeros([1, config.vocab_size], (Kind::Float, Device::Cpu)),
        );
    }

    let (positions, dim) = (
        config.max_position_embeddings as usize,
        config.d_model as usize,
    );
    let table = Tensor::from_slice(&sinusoidal_positions(positions, dim))
        .view([positions as i64, dim as i64]);
    for side in ["encoder", "decoder"] {
        tensors.insert(
            format!("model.{side}.embed_positions.weight"),
            table.shallow_clone(),
        );
    }

    let named: Vec<(String, Tensor)> = tensors.into_iter().collect();
    let mut archive = Vec::new();
    Tensor::save_multi_to_stream(&named, std::io::Cursor::new(&mut archive)).map_err(|error| {
        file_problem(format!("cannot repack the weights for rust-bert: {error}"))
    })?;
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_put_sin_first_and_cos_second() {
        let table = sinusoidal_positions(3, 4);
        // Position 0: sin(0) = 0 in the first half, cos(0) = 1 in the second.
        assert_eq!(&table[0..4], &[0.0, 0.0, 1.0, 1.0]);
        // Position 1, dim 4: angles 1 and 1/100 for the even indices 0 and 2.
        assert!((table[4] - 1f64.sin() as f32).abs() < 1e-7);
        assert!((table[5] - 0.01f64.sin() as f32).abs() < 1e-7);
        assert!((table[6] - 1f64.cos() as f32).abs() < 1e-7);
        assert!((table[7] - 0.01f64.cos() as f32).abs() < 1e-7);
    }

    #[test]
    fn whitespace_collapses_like_sentencepiece() {
        assert_eq!(
            collapse_whitespace("  Guten\u{a0}\u{a0}Tag \t Welt "),
            "Guten Tag Welt"
        );
    }

    #[test]
    fn config_gains_marian_embedding_layout() {
        let config = serde_json::json!({
            "d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "vocab_size": 10,
            "max_position_embeddings": 32, "activation_function": "silu"
        });
        let (adjusted, parsed) = adjust_config(Path::new("config.json"), config).unwrap();
        assert_eq!(adjusted["normalize_embedding"], false);
        assert_eq!(adjusted["static_position_embeddings"], true);
        assert_eq!(adjusted["activation_function"], "swish");
        assert_eq!(parsed.d_model, 16);
    }

    #[test]
    fn pre_norm_configs_are_refused() {
        let config = serde_json::json!({"normalize_before": true});
        let error = adjust_config(Path::new("config.json"), config).unwrap_err();
        assert!(error.to_string().contains("normalize_before"), "{error}");
    }

    #[test]
    fn limits_follow_transformers() {
        let config = serde_json::json!({"max_position_embeddings": 64, "pad_token_id": 9});
        let generation = serde_json::json!({
            "num_beams": 4, "max_length": 20, "bad_words_ids": [[9], [3, 4]]
        });
        let search = resolve_search(
            Path::new("config.json"),
            &config,
            Some(&generation),
            &EngineSettings::default(),
        )
        .unwrap();
        assert_eq!(search.num_beams, 4);
        assert_eq!(search.max_new_tokens, 19);
        assert_eq!(search.decoder_start_token_id, 9);
        assert_eq!(search.bad_word_ids, vec![vec![3, 4]]);

        let forced = EngineSettings {
            beam_size: Some(1),
            max_new_tokens: Some(32),
            min_new_tokens: Some(32),
            ..EngineSettings::default()
        };
        let search = resolve_search(Path::new("config.json"), &config, None, &forced).unwrap();
        assert_eq!((search.num_beams, search.max_new_tokens), (1, 32));
        // EOS suppressed for the first 31 tokens, forced at the 32nd.
        assert_eq!(search.min_length, 32);
    }
}
