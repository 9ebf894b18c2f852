//! `config.json` and `generation_config.json` of a Hugging Face Marian folder.
//!
//! The architecture comes entirely from the folder: nothing about opus-mt-de-en is hard-coded.
//! Missing keys take the defaults that transformers' `MarianConfig` and `GenerationConfig` apply,
//! so old opus-mt configs (which predate several keys) load as they do in Python. Keys of those
//! old configs that describe a variant transformers does not implement (pre-norm layers,
//! learned positions, …) are refused with a message naming the file and the key, rather than
//! silently computing something else.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::EngineError;

/// Activation of the feed-forward blocks, by transformers' `ACT2FN` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `swish` / `silu`: x·σ(x).
    Silu,
    /// `gelu`: exact, with erf.
    GeluErf,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    Relu,
    /// `quick_gelu`: x·σ(1.702·x).
    QuickGelu,
    Sigmoid,
    Tanh,
    /// `linear`: identity.
    Identity,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "swish" | "silu" => Self::Silu,
            "gelu" => Self::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "relu" => Self::Relu,
            "quick_gelu" => Self::QuickGelu,
            "sigmoid" => Self::Sigmoid,
            "tanh" => Self::Tanh,
            "linear" => Self::Identity,
            _ => return None,
        })
    }
}

/// `eos_token_id` may be one id or a list in newer configs.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The keys of `config.json` we read, exactly as transformers names them.
#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default = "d_vocab")]
    vocab_size: usize,
    #[serde(default)]
    decoder_vocab_size: Option<usize>,
    #[serde(default = "d_max_pos")]
    max_position_embeddings: usize,
    #[serde(default = "d_layers")]
    encoder_layers: usize,
    #[serde(default = "d_ffn")]
    encoder_ffn_dim: usize,
    #[serde(default = "d_heads")]
    encoder_attention_heads: usize,
    #[serde(default = "d_layers")]
    decoder_layers: usize,
    #[serde(default = "d_ffn")]
    decoder_ffn_dim: usize,
    #[serde(default = "d_heads")]
    decoder_attention_heads: usize,
    #[serde(default = "d_true")]
    use_cache: bool,
    #[serde(default = "d_activation")]
    activation_function: String,
    #[serde(default = "d_model")]
    d_model: usize,
    #[serde(default)]
    scale_embedding: bool,
    #[serde(default = "d_pad")]
    decoder_start_token_id: Option<u32>,
    #[serde(default = "d_pad")]
    pad_token_id: Option<u32>,
    #[serde(default = "d_eos")]
    eos_token_id: Option<OneOrMany>,
    #[serde(default = "d_forced_eos")]
    forced_eos_token_id: Option<u32>,
    #[serde(default = "d_true")]
    share_encoder_decoder_embeddings: bool,
    #[serde(default = "d_true")]
    tie_word_embeddings: bool,
    // Keys of old opus-mt configs (written by the first Marian converter). transformers ignores
    // them; its Marian is always post-norm with sinusoidal positions and no embedding norm.
    #[serde(default)]
    static_position_embeddings: Option<bool>,
    #[serde(default)]
    normalize_embedding: Option<bool>,
    #[serde(default)]
    normalize_before: Option<bool>,
    #[serde(default)]
    add_final_layer_norm: Option<bool>,
    #[serde(default)]
    add_bias_logits: Option<bool>,
    #[serde(flatten)]
    generation: RawGeneration,
}

/// Generation keys, read from `generation_config.json`, or from `config.json` when that is absent
/// (as transformers' `GenerationConfig.from_model_config` does).
#[derive(Debug, Clone, Default, Deserialize)]
struct RawGeneration {
    #[serde(default)]
    num_beams: Option<usize>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    max_new_tokens: Option<usize>,
    #[serde(default)]
    min_length: Option<usize>,
    #[serde(default)]
    min_new_tokens: Option<usize>,
    #[serde(default)]
    length_penalty: Option<f32>,
    #[serde(default)]
    bad_words_ids: Option<Vec<Vec<u32>>>,
    #[serde(default)]
    forced_eos_token_id: Option<OneOrMany>,
    #[serde(default)]
    decoder_start_token_id: Option<u32>,
    #[serde(default)]
    eos_token_id: Option<OneOrMany>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default)]
    do_sample: Option<bool>,
    #[serde(default)]
    early_stopping: Option<serde_json::Value>,
    #[serde(default)]
    no_repeat_ngram_size: Option<usize>,
    #[serde(default)]
    repetition_penalty: Option<f32>,
    #[serde(default)]
    num_beam_groups: Option<usize>,
}

fn d_vocab() -> usize {
    58101
}
fn d_max_pos() -> usize {
    1024
}
fn d_layers() -> usize {
    12
}
fn d_ffn() -> usize {
    4096
}
fn d_heads() -> usize {
    16
}
fn d_true() -> bool {
    true
}
fn d_activation() -> String {
    "gelu".into()
}
fn d_model() -> usize {
    1024
}
fn d_pad() -> Option<u32> {
    Some(58100)
}
fn d_eos() -> Option<OneOrMany> {
    Some(OneOrMany::One(0))
}
fn d_forced_eos() -> Option<u32> {
    Some(0)
}

/// The architecture of a Marian model, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MarianConfig {
    pub vocab_size: usize,
    pub decoder_vocab_size: usize,
    pub max_position_embeddings: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub encoder_ffn_dim: usize,
    pub encoder_attention_heads: usize,
    pub decoder_layers: usize,
    pub decoder_ffn_dim: usize,
    pub decoder_attention_heads: usize,
    pub activation: Activation,
    pub scale_embedding: bool,
    pub share_encoder_decoder_embeddings: bool,
    pub tie_word_embeddings: bool,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    pub decoder_start_token_id: u32,
}

impl MarianConfig {
    /// Rows of the output projection (and of the decoder embedding): the target vocabulary.
    pub fn target_vocab_size(&self) -> usize {
        if self.share_encoder_decoder_embeddings {
            self.vocab_size
        } else {
            self.decoder_vocab_size
        }
    }
}

/// Generation defaults of the model (before the command line overrides them).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// The file the values came from, for messages.
    pub source: PathBuf,
    pub num_beams: usize,
    /// New tokens allowed (EOS included): `max_new_tokens`, else `max_length - 1` because
    /// transformers counts the decoder start token in `max_length`.
    pub max_new_tokens: usize,
    /// EOS suppressed before this many new tokens: `min_new_tokens`, else `min_length - 1`.
    pub min_new_tokens: usize,
    pub length_penalty: f32,
    pub bad_words_ids: Vec<Vec<u32>>,
    pub forced_eos_token_id: Option<u32>,
    pub decoder_start_token_id: u32,
    pub eos_token_id: u32,
    pub pad_token_id: u32,
}

/// Both configs of a model folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfigs {
    pub model: MarianConfig,
    pub generation: GenerationConfig,
}

fn bad(path: &Path, problem: impl Into<String>) -> EngineError {
    EngineError::ModelFile {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn read_json(path: &Path) -> Result<String, EngineError> {
    std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_owned(),
        source,
    })
}

fn single_eos(
    path: &Path,
    key: &str,
    value: Option<OneOrMany>,
) -> Result<Option<u32>, EngineError> {
    match value {
        None => Ok(None),
        Some(OneOrMany::One(id)) => Ok(Some(id)),
        Some(OneOrMany::Many(ids)) => match ids.as_slice() {
            [] => Ok(None),
            [id] => Ok(Some(*id)),
            _ => Err(bad(
                path,
                format!(
                    "{key} lists several ids {ids:?}; de2en supports a single end-of-sentence token"
                ),
            )),
        },
    }
}

impl ModelConfigs {
    /// Reads `config.json` and, when present, `generation_config.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EngineError> {
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(EngineError::Model {
                dir: dir.to_owned(),
                problem: "no config.json — is this a Hugging Face Marian model folder?".into(),
            });
        }
        let text = read_json(&config_path)?;
        let generation_path = dir.join("generation_config.json");
        let generation_text = if generation_path.is_file() {
            Some(read_json(&generation_path)?)
        } else {
            None
        };
        Self::parse(
            &config_path,
            &text,
            generation_text
                .as_deref()
                .map(|t| (generation_path.as_path(), t)),
        )
    }

    /// Parses the two files' contents; paths are only used in messages.
    pub fn parse(
        config_path: &Path,
        config_text: &str,
        generation: Option<(&Path, &str)>,
    ) -> Result<Self, EngineError> {
        let raw: RawConfig = serde_json::from_str(config_text)
            .map_err(|e| bad(config_path, format!("not a valid Marian config: {e}")))?;
        let model = validate_model(config_path, &raw)?;

        let (generation_path, raw_generation) = match generation {
            Some((path, text)) => {
                let parsed: RawGeneration = serde_json::from_str(text)
                    .map_err(|e| bad(path, format!("not a valid generation config: {e}")))?;
                (path.to_owned(), parsed)
            }
            None => (config_path.to_owned(), raw.generation.clone()),
        };
        let generation = validate_generation(&generation_path, raw_generation, &raw, &model)?;
        Ok(Self { model, generation })
    }
}

fn validate_model(path: &Path, raw: &RawConfig) -> Result<MarianConfig, EngineError> {
    if let Some(kind) = &raw.model_type
        && kind != "marian"
    {
        return Err(bad(
            path,
            format!("model_type is {kind:?}; de2en runs Marian models only"),
        ));
    }
    // Refuse variants that transformers' Marian does not compute: a folder claiming them would be
    // translated wrongly in Python too, and silently.
    let refuse = |key: &str, value: Option<bool>, supported: bool| -> Result<(), EngineError> {
        match value {
            Some(v) if v != supported => Err(bad(
                path,
                format!(
                    "{key} = {v} is not supported (Marian in transformers and de2en implement {key} = {supported})"
                ),
            )),
            _ => Ok(()),
        }
    };
    refuse("normalize_before", raw.normalize_before, false)?;
    refuse("normalize_embedding", raw.normalize_embedding, false)?;
    refuse(
        "static_position_embeddings",
        raw.static_position_embeddings,
        true,
    )?;
    refuse("add_final_layer_norm", raw.add_final_layer_norm, false)?;
    refuse("add_bias_logits", raw.add_bias_logits, false)?;
    if !raw.use_cache {
        // Caching changes speed, never results; we always cache.
    }

    let activation = Activation::parse(&raw.activation_function).ok_or_else(|| {
        bad(
            path,
            format!(
                "activation_function {:?} is not supported (swish, silu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, quick_gelu, sigmoid, tanh, linear)",
                raw.activation_function
            ),
        )
    })?;

    let positive = |key: &str, value: usize| -> Result<(), EngineError> {
        if value == 0 {
            Err(bad(path, format!("{key} must be positive")))
        } else {
            Ok(())
        }
    };
    positive("vocab_size", raw.vocab_size)?;
    positive("d_model", raw.d_model)?;
    positive("max_position_embeddings", raw.max_position_embeddings)?;
    positive("encoder_attention_heads", raw.encoder_attention_heads)?;
    positive("decoder_attention_heads", raw.decoder_attention_heads)?;
    positive("encoder_ffn_dim", raw.encoder_ffn_dim)?;
    positive("decoder_ffn_dim", raw.decoder_ffn_dim)?;
    for (key, heads) in [
        ("encoder_attention_heads", raw.encoder_attention_heads),
        ("decoder_attention_heads", raw.decoder_attention_heads),
    ] {
        if !raw.d_model.is_multiple_of(heads) {
            return Err(bad(
                path,
                format!("d_model {} is not divisible by {key} {heads}", raw.d_model),
            ));
        }
    }
    let decoder_vocab_size = raw
        .decoder_vocab_size
        .filter(|&v| v > 0)
        .unwrap_or(raw.vocab_size);
    let pad_token_id = raw
        .pad_token_id
        .ok_or_else(|| bad(path, "pad_token_id is null; Marian needs a pad token"))?;
    let eos_token_id = single_eos(path, "eos_token_id", raw.eos_token_id.clone())?
        .ok_or_else(|| bad(path, "eos_token_id is missing"))?;
    let decoder_start_token_id = raw.decoder_start_token_id.unwrap_or(pad_token_id);

    let config = MarianConfig {
        vocab_size: raw.vocab_size,
        decoder_vocab_size,
        max_position_embeddings: raw.max_position_embeddings,
        d_model: raw.d_model,
        encoder_layers: raw.encoder_layers,
        encoder_ffn_dim: raw.encoder_ffn_dim,
        encoder_attention_heads: raw.encoder_attention_heads,
        decoder_layers: raw.decoder_layers,
        decoder_ffn_dim: raw.decoder_ffn_dim,
        decoder_attention_heads: raw.decoder_attention_heads,
        activation,
        scale_embedding: raw.scale_embedding,
        share_encoder_decoder_embeddings: raw.share_encoder_decoder_embeddings,
        tie_word_embeddings: raw.tie_word_embeddings,
        pad_token_id,
        eos_token_id,
        decoder_start_token_id,
    };
    let target_vocab = config.target_vocab_size() as u64;
    for (key, id) in [
        ("pad_token_id", pad_token_id),
        ("eos_token_id", eos_token_id),
        ("decoder_start_token_id", decoder_start_token_id),
    ] {
        if u64::from(id) >= target_vocab.min(raw.vocab_size as u64) {
            return Err(bad(
                path,
                format!(
                    "{key} {id} is outside the vocabulary of {} tokens",
                    target_vocab
                ),
            ));
        }
    }
    Ok(config)
}

fn validate_generation(
    path: &Path,
    raw: RawGeneration,
    model_raw: &RawConfig,
    model: &MarianConfig,
) -> Result<GenerationConfig, EngineError> {
    if raw.do_sample == Some(true) {
        return Err(bad(
            path,
            "do_sample = true is not supported; de2en decodes greedily or with beam search",
        ));
    }
    if raw.num_beam_groups.is_some_and(|g| g > 1) {
        return Err(bad(
            path,
            "num_beam_groups > 1 (diverse beam search) is not supported",
        ));
    }
    if raw.no_repeat_ngram_size.is_some_and(|n| n > 0) {
        return Err(bad(path, "no_repeat_ngram_size is not supported"));
    }
    if raw.repetition_penalty.is_some_and(|p| p != 1.0) {
        return Err(bad(
            path,
            "repetition_penalty other than 1.0 is not supported",
        ));
    }
    match &raw.early_stopping {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => {}
        Some(other) => {
            return Err(bad(
                path,
                format!(
                    "early_stopping = {other} is not supported (de2en implements early_stopping = false)"
                ),
            ));
        }
    }

    let num_beams = raw.num_beams.unwrap_or(1);
    if num_beams == 0 {
        return Err(bad(path, "num_beams must be at least 1"));
    }
    // transformers' max_length counts the decoder start token; max_new_tokens wins when both exist.
    let max_new_tokens = match (raw.max_new_tokens, raw.max_length) {
        (Some(n), _) => n,
        (None, Some(len)) => len.saturating_sub(1),
        (None, None) => 19, // GenerationConfig's max_length default of 20
    };
    let min_new_tokens = match (raw.min_new_tokens, raw.min_length) {
        (Some(n), _) => n,
        (None, Some(len)) => len.saturating_sub(1),
        (None, None) => 0,
    };
    let eos_token_id =
        single_eos(path, "eos_token_id", raw.eos_token_id)?.unwrap_or(model.eos_token_id);
    let forced_eos_token_id = match raw.forced_eos_token_id {
        Some(v) => single_eos(path, "forced_eos_token_id", Some(v))?,
        // from_model_config copies the model's forced_eos_token_id when the generation file lacks it
        None if path.file_name().is_some_and(|n| n == "config.json") => {
            model_raw.forced_eos_token_id
        }
        None => None,
    };
    let generation = GenerationConfig {
        source: path.to_owned(),
        num_beams,
        max_new_tokens,
        min_new_tokens,
        length_penalty: raw.length_penalty.unwrap_or(1.0),
        bad_words_ids: raw.bad_words_ids.unwrap_or_default(),
        forced_eos_token_id,
        decoder_start_token_id: raw
            .decoder_start_token_id
            .unwrap_or(model.decoder_start_token_id),
        eos_token_id,
        pad_token_id: raw.pad_token_id.unwrap_or(model.pad_token_id),
    };
    let vocab = model.target_vocab_size() as u64;
    let ids = generation
        .bad_words_ids
        .iter()
        .flatten()
        .copied()
        .chain([
            generation.decoder_start_token_id,
            generation.eos_token_id,
            generation.pad_token_id,
        ])
        .chain(generation.forced_eos_token_id);
    for id in ids {
        if u64::from(id) >= vocab {
            return Err(bad(
                path,
                format!("token id {id} is outside the target vocabulary of {vocab} tokens"),
            ));
        }
    }
    Ok(generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(config: &str, generation: Option<&str>) -> Result<ModelConfigs, EngineError> {
        ModelConfigs::parse(
            Path::new("m/config.json"),
            config,
            generation.map(|g| (Path::new("m/generation_config.json"), g)),
        )
    }

    #[test]
    fn empty_config_takes_transformers_defaults() {
        let c = parse("{}", None).unwrap();
        assert_eq!(c.model.vocab_size, 58101);
        assert_eq!(c.model.decoder_vocab_size, 58101);
        assert_eq!(c.model.d_model, 1024);
        assert_eq!(c.model.activation, Activation::GeluErf);
        assert!(c.model.share_encoder_decoder_embeddings);
        assert_eq!(c.model.pad_token_id, 58100);
        assert_eq!(c.generation.max_new_tokens, 19);
        assert_eq!(c.generation.num_beams, 1);
        assert_eq!(c.generation.forced_eos_token_id, Some(0));
    }

    #[test]
    fn old_opus_mt_config_loads() {
        let c = parse(
            r#"{"activation_function":"swish","d_model":512,"vocab_size":58101,"normalize_before":false,
               "normalize_embedding":false,"static_position_embeddings":true,"add_bias_logits":false,
               "add_final_layer_norm":false,"num_beams":4,"max_length":512,"bad_words_ids":[[58100]],
               "encoder_attention_heads":8,"decoder_attention_heads":8}"#,
            None,
        )
        .unwrap();
        assert_eq!(c.model.activation, Activation::Silu);
        assert_eq!(c.generation.num_beams, 4);
        assert_eq!(c.generation.max_new_tokens, 511);
        assert_eq!(c.generation.bad_words_ids, vec![vec![58100]]);
    }

    #[test]
    fn generation_file_wins_over_config_keys() {
        let c = parse(
            r#"{"d_model":16,"encoder_attention_heads":2,"decoder_attention_heads":2,"num_beams":4}"#,
            Some(r#"{"num_beams":2,"max_new_tokens":7,"eos_token_id":[0]}"#),
        )
        .unwrap();
        assert_eq!(c.generation.num_beams, 2);
        assert_eq!(c.generation.max_new_tokens, 7);
        assert_eq!(c.generation.forced_eos_token_id, None);
        assert!(c.generation.source.ends_with("generation_config.json"));
    }

    #[test]
    fn unsupported_variants_name_file_and_key() {
        let e = parse(r#"{"normalize_before":true}"#, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m/config.json") && e.contains("normalize_before"),
            "{e}"
        );
        let e = parse(r#"{"activation_function":"mystery"}"#, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mystery"), "{e}");
        let e = parse("{}", Some(r#"{"do_sample":true}"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("generation_config.json") && e.contains("do_sample"),
            "{e}"
        );
        let e = parse(r#"{"d_model":10,"encoder_attention_heads":3}"#, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("divisible"), "{e}");
        let e = parse("not json", None).unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
    }
}
