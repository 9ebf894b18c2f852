//! Second engine: rust-bert's Marian network on libtorch (cargo feature `rust-bert`).
//!
//! The default engine runs our own network on candle. This one exists for users who already run
//! libtorch (with CUDA, for instance) and as an independent check on the tensor code: two
//! implementations of the network that agree token for token with each other and with
//! transformers. It plugs rust-bert's `MarianForConditionalGeneration` into [`MarianEngine`] as a
//! [`Network`]: configs, tokenizer, batching and search are de2en's, the same code the default
//! engine runs, because rust-bert's own pieces around the network do not reproduce transformers:
//! - `MarianGenerator`'s beam search stops by the pre-4.30 transformers rule (it bounds what a
//!   running beam can still reach with the best of *all* candidates, finished ones included), so
//!   with `early_stopping=false` it searches on where transformers 4.57 stops: three extra tokens
//!   on one fixture sentence at beam 4;
//! - rust_tokenizers' SentencePiece breaks segmentation ties differently (a long compound got
//!   other pieces than transformers' `MarianTokenizer`), keeps zero-width characters and reads a
//!   literal `</s>` in the text as the special token.
//!
//! rust-bert 0.23 also reads Hugging Face model folders with two gaps this module bridges in
//! memory, so that the model folder is never written to:
//! - its BART-derived Marian needs `normalize_embedding: false` and `static_position_embeddings:
//!   true`, which old opus-mt configs say and transformers-saved ones do not;
//! - it reads the sinusoidal `embed_positions` tables as weights, which transformers never saves;
//!   we compute them as Marian does (sin in the first half, cos in the second) and copy them into
//!   the model with the weights from the file.
//!
//! Word alignment needs the last decoder layer's cross-attention, which rust-bert computes and
//! discards; [`AlignmentProbe`] recomputes it from the layer's input (rust-bert's hidden states)
//! and its key/value cache, so quotations, emphasis and links land on the same words as with the
//! default engine.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rust_bert::bart::{BartConfig, LayerState};
use rust_bert::marian::MarianForConditionalGeneration;
use serde_json::{Value, json};
use tch::{Device, Kind, Tensor, nn};

use super::checkpoint::{self, Checkpoint};
use super::decode::{StepModel, StepOutput};
use super::marian::{MarianEngine, ModelFolder, Network};
use super::settings::{EngineSettings, Precision};
use super::{DecodeOverride, Engine, EngineError, Translation};

/// A Marian model folder on rust-bert's network.
pub struct RustBertEngine(MarianEngine<RustBertNetwork>);

impl RustBertEngine {
    /// Loads a Hugging Face model folder to run on the CPU.
    pub fn load(dir: &Path, settings: &EngineSettings) -> Result<Self, EngineError> {
        Self::load_on_device(dir, settings, Device::Cpu)
    }

    /// Like [`RustBertEngine::load`], on a given libtorch device (`Device::Cuda(0)`, …).
    pub fn load_on_device(
        dir: &Path,
        settings: &EngineSettings,
        device: Device,
    ) -> Result<Self, EngineError> {
        if settings.precision != Precision::F32 {
            return Err(EngineError::InvalidOption(
                "int8 precision is a setting of the marian engine; rust-bert runs in f32".into(),
            ));
        }
        let folder = ModelFolder::open(dir)?;
        let network = RustBertNetwork::load(
            dir,
            device,
            settings.alignment,
            settings.checkpoint_cache.as_deref(),
        )?;
        Ok(Self(MarianEngine::with_network(folder, network, settings)?))
    }
}

impl Engine for RustBertEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        self.0.translate(sentences)
    }

    fn translate_with(
        &self,
        sentences: &[&str],
        decode: &DecodeOverride,
    ) -> Result<Vec<Translation>, EngineError> {
        self.0.translate_with(sentences, decode)
    }

    fn source_token_count(&self, sentence: &str) -> usize {
        self.0.source_token_count(sentence)
    }

    fn max_source_tokens(&self) -> usize {
        self.0.max_source_tokens()
    }
}

/// The libtorch device de2en uses when the user does not choose: the first GPU if libtorch sees
/// one, else the CPU.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

/// Sets libtorch's intra-op thread count (`--threads`).
pub fn set_threads(threads: usize) {
    tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
}

/// rust-bert's Marian network and the weights it was built from.
pub struct RustBertNetwork {
    /// Tensors are `Send` but not `Sync`; the search runs one step at a time anyway.
    model: Mutex<Model>,
    _weights: nn::VarStore,
    /// Whether steps can return cross-attention (word alignment was asked for at load time).
    aligns: bool,
    device: Device,
    pad_token_id: i64,
    vocab_size: usize,
    max_positions: usize,
}

/// What runs under the lock.
struct Model {
    network: MarianForConditionalGeneration,
    /// Present when word alignments were asked for at load time.
    probe: Option<AlignmentProbe>,
}

/// Decoder state between steps: the encoder output and rust-bert's per-layer key/value cache,
/// one row per live hypothesis.
pub struct RustBertState {
    encoder_output: Tensor,
    encoder_mask: Tensor,
    /// Per decoder layer: self-attention and cross-attention keys and values; `None` before the
    /// first step.
    cache: Option<Vec<(Option<LayerState>, Option<LayerState>)>>,
    rows: usize,
    cross_attention: bool,
}

/// The last decoder layer's cross-attention probabilities, recomputed from what rust-bert does
/// return: the layer's input (the previous layer's output), its self-attention cache (this step
/// included) and its cross-attention keys. A one-layer decoder gets no probe: its input would be
/// the embeddings, which rust-bert does not return (opus-mt models have six layers).
struct AlignmentProbe {
    self_query: (Tensor, Tensor),
    self_out: (Tensor, Tensor),
    self_norm: (Tensor, Tensor),
    cross_query: (Tensor, Tensor),
    heads: i64,
    d_model: i64,
}

/// Marian's (and PyTorch's) layer norm epsilon.
const LAYER_NORM_EPS: f64 = 1e-5;

impl AlignmentProbe {
    fn new(store: &nn::VarStore, config: &BartConfig) -> Result<Self, String> {
        let variables = store.variables();
        let layers = config.decoder_layers;
        let get = |name: &str| {
            variables
                .get(name)
                .map(Tensor::shallow_clone)
                .ok_or_else(|| format!("rust-bert's model has no {name}"))
        };
        let pair = |prefix: &str| -> Result<(Tensor, Tensor), String> {
            Ok((
                get(&format!("{prefix}.weight"))?,
                get(&format!("{prefix}.bias"))?,
            ))
        };
        let last = format!("model.decoder.layers.{}", layers - 1);
        Ok(Self {
            self_query: pair(&format!("{last}.self_attn.q_proj"))?,
            self_out: pair(&format!("{last}.self_attn.out_proj"))?,
            self_norm: pair(&format!("{last}.self_attn_layer_norm"))?,
            cross_query: pair(&format!("{last}.encoder_attn.q_proj"))?,
            heads: config.decoder_attention_heads,
            d_model: config.d_model,
        })
    }

    /// Head-averaged cross-attention `[rows, source_len]` of the last layer for this step.
    fn cross_attention(
        &self,
        layer_input: &Tensor,
        own: &LayerState,
        cross: &LayerState,
        encoder_mask: &Tensor,
    ) -> Tensor {
        let rows = layer_input.size()[0];
        let (heads, d) = (self.heads, self.d_model);
        let head_dim = d / heads;
        let scaling = (head_dim as f64).powf(-0.5);
        let split_heads = |x: Tensor| x.view([rows, 1, heads, head_dim]).transpose(1, 2);
        let linear = |x: &Tensor, (weight, bias): &(Tensor, Tensor)| x.linear(weight, Some(bias));

        // Self-attention over every position so far (the cache includes this step).
        let query = split_heads(linear(layer_input, &self.self_query) * scaling);
        let weights = query
            .matmul(&own.prev_key.transpose(-1, -2))
            .softmax(-1, Kind::Float);
        let context = weights
            .matmul(&own.prev_value)
            .transpose(1, 2)
            .reshape([rows, 1, d]);
        let (norm_weight, norm_bias) = &self.self_norm;
        let hidden = (layer_input + linear(&context, &self.self_out)).layer_norm(
            [d],
            Some(norm_weight),
            Some(norm_bias),
            LAYER_NORM_EPS,
            false,
        );

        // Cross-attention probabilities, padding excluded, averaged over heads.
        let query = split_heads(linear(&hidden, &self.cross_query) * scaling);
        let padding = encoder_mask.eq(0).view([rows, 1, 1, -1]);
        query
            .matmul(&cross.prev_key.transpose(-1, -2))
            .masked_fill(&padding, f64::NEG_INFINITY)
            .softmax(-1, Kind::Float)
            .mean_dim(Some([1i64].as_slice()), false, Kind::Float)
            .squeeze_dim(1)
    }
}

impl RustBertNetwork {
    /// Builds rust-bert's model from the folder; with `alignment`, steps can also return the
    /// cross-attention that word alignment needs.
    fn load(
        dir: &Path,
        device: Device,
        alignment: bool,
        checkpoint_cache: Option<&Path>,
    ) -> Result<Self, EngineError> {
        let config_path = dir.join("config.json");
        let raw_config = read_json(&config_path)?;
        let mut config = adjust_config(&config_path, raw_config)?;
        // The probe needs the input of the last decoder layer.
        config.output_hidden_states = Some(alignment);
        let weights = prepare_weights(dir, &config, checkpoint_cache)?;

        let mut store = nn::VarStore::new(device);
        let model = catch_unwind(AssertUnwindSafe(|| {
            MarianForConditionalGeneration::new(store.root(), &config)
        }))
        .map_err(|panic| EngineError::Model {
            dir: dir.to_owned(),
            problem: format!(
                "rust-bert could not build the Marian model: {}",
                panic_message(&panic)
            ),
        })?;
        copy_weights(&store, weights)?;
        store.freeze();
        let probe = if alignment && config.decoder_layers > 1 {
            Some(
                AlignmentProbe::new(&store, &config).map_err(|problem| EngineError::Model {
                    dir: dir.to_owned(),
                    problem,
                })?,
            )
        } else {
            None
        };
        Ok(Self {
            aligns: probe.is_some(),
            model: Mutex::new(Model {
                network: model,
                probe,
            }),
            _weights: store,
            device,
            pad_token_id: config.pad_token_id.unwrap_or(0),
            vocab_size: config.vocab_size as usize,
            max_positions: config.max_position_embeddings as usize,
        })
    }

    /// Runs `work` on the model with libtorch panics turned into errors.
    fn run<T>(&self, work: impl FnOnce(&Model) -> T) -> Result<T, EngineError> {
        // A panic inside libtorch leaves no half-updated state in the model itself (its weights
        // are frozen), so a poisoned lock is safe to reuse.
        let model = self
            .model
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        catch_unwind(AssertUnwindSafe(|| tch::no_grad(|| work(&model))))
            .map_err(|panic| EngineError::RustBert(panic_message(&panic)))
    }

    fn ids_tensor(&self, ids: &[i64], shape: [i64; 2]) -> Tensor {
        Tensor::from_slice(ids).view(shape).to_device(self.device)
    }
}

impl Network for RustBertNetwork {
    fn start_batch(
        &self,
        sources: &[Vec<u32>],
        cross_attention: bool,
    ) -> Result<RustBertState, EngineError> {
        let longest = sources.iter().map(Vec::len).max().unwrap_or(0);
        if longest == 0 {
            return Err(EngineError::InvalidOption(
                "the encoder needs at least one non-empty source".into(),
            ));
        }
        if longest > self.max_positions {
            return Err(EngineError::InvalidOption(format!(
                "a source of {longest} tokens exceeds the model's {} positions",
                self.max_positions
            )));
        }
        let mut ids = Vec::with_capacity(sources.len() * longest);
        let mut mask = Vec::with_capacity(sources.len() * longest);
        for source in sources {
            if let Some(bad) = source.iter().find(|&&id| id as usize >= self.vocab_size) {
                return Err(EngineError::InvalidOption(format!(
                    "token id {bad} is outside the source vocabulary of {}",
                    self.vocab_size
                )));
            }
            ids.extend(source.iter().map(|&id| i64::from(id)));
            ids.extend(std::iter::repeat_n(
                self.pad_token_id,
                longest - source.len(),
            ));
            mask.extend(std::iter::repeat_n(1i64, source.len()));
            mask.extend(std::iter::repeat_n(0i64, longest - source.len()));
        }
        let shape = [sources.len() as i64, longest as i64];
        let (ids, encoder_mask) = (self.ids_tensor(&ids, shape), self.ids_tensor(&mask, shape));
        let encoder_output = self.run(|model| model.network.encode(&ids, Some(&encoder_mask)))?;
        Ok(RustBertState {
            encoder_output,
            encoder_mask,
            cache: None,
            rows: sources.len(),
            cross_attention,
        })
    }

    fn max_source_tokens(&self) -> usize {
        self.max_positions
    }

    fn max_target_tokens(&self) -> usize {
        self.max_positions
    }

    fn provides_cross_attention(&self) -> bool {
        self.aligns
    }
}

impl StepModel for RustBertNetwork {
    type State = RustBertState;

    fn step(
        &self,
        state: &mut RustBertState,
        last_tokens: &[u32],
    ) -> Result<StepOutput, EngineError> {
        let rows = state.rows;
        if last_tokens.len() != rows {
            return Err(EngineError::InvalidOption(format!(
                "decoder step got {} tokens for {rows} rows",
                last_tokens.len()
            )));
        }
        if let Some(bad) = last_tokens
            .iter()
            .find(|&&id| id as usize >= self.vocab_size)
        {
            return Err(EngineError::InvalidOption(format!(
                "token id {bad} is outside the target vocabulary of {}",
                self.vocab_size
            )));
        }
        let tokens: Vec<i64> = last_tokens.iter().map(|&id| i64::from(id)).collect();
        let tokens = self.ids_tensor(&tokens, [rows as i64, 1]);
        let cache = state.cache.take();
        let want_attention = state.cross_attention;
        let (logits, attention, cache) = self.run(|model| {
            let output = model.network.forward_t(
                None,
                Some(&state.encoder_mask),
                Some(&state.encoder_output),
                Some(&tokens),
                None,
                cache,
                false,
            );
            let attention = match (&model.probe, &output.cache) {
                (Some(probe), Some(layers)) if want_attention => {
                    let hidden = output.all_decoder_hidden_states.as_deref().unwrap_or(&[]);
                    let input = hidden.len().checked_sub(2).map(|last| &hidden[last]);
                    match (input, layers.last()) {
                        (Some(input), Some((Some(own), Some(cross)))) => Some(
                            probe
                                .cross_attention(input, own, cross, &state.encoder_mask)
                                .to_device(Device::Cpu)
                                .contiguous(),
                        ),
                        _ => None,
                    }
                }
                _ => None,
            };
            let logits = output
                .decoder_output
                .squeeze_dim(1)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
                .contiguous()
                .view(-1);
            (logits, attention, output.cache)
        })?;
        state.cache = cache;
        let logits = to_candle(&logits, (rows, self.vocab_size))?;
        let cross_attention = match attention {
            Some(attention) => {
                let width = attention.size()[1] as usize;
                Some(to_candle(&attention.view(-1), (rows, width))?)
            }
            None if want_attention => {
                return Err(EngineError::RustBert(
                    "rust-bert returned no decoder cache for word alignment".into(),
                ));
            }
            None => None,
        };
        Ok(StepOutput {
            logits,
            cross_attention,
        })
    }

    fn select_rows(&self, state: &mut RustBertState, rows: &[usize]) -> Result<(), EngineError> {
        if let Some(&bad) = rows.iter().find(|&&row| row >= state.rows) {
            return Err(EngineError::InvalidOption(format!(
                "row {bad} selected from a state of {} rows",
                state.rows
            )));
        }
        let indices: Vec<i64> = rows.iter().map(|&row| row as i64).collect();
        let indices = Tensor::from_slice(&indices).to_device(self.device);
        let pick = |tensor: &Tensor| tensor.index_select(0, &indices);
        let cache = state.cache.take();
        let (encoder_output, encoder_mask, cache) = self.run(|_| {
            let cache = cache.map(|layers| {
                layers
                    .into_iter()
                    .map(|(own, cross)| {
                        let reorder = |layer: Option<LayerState>| {
                            layer.map(|layer| LayerState {
                                prev_key: pick(&layer.prev_key),
                                prev_value: pick(&layer.prev_value),
                            })
                        };
                        (reorder(own), reorder(cross))
                    })
                    .collect()
            });
            (
                pick(&state.encoder_output),
                pick(&state.encoder_mask),
                cache,
            )
        })?;
        state.encoder_output = encoder_output;
        state.encoder_mask = encoder_mask;
        state.cache = cache;
        state.rows = rows.len();
        Ok(())
    }
}

/// A flat f32 libtorch tensor on the CPU as a candle tensor of `shape`.
fn to_candle(tensor: &Tensor, shape: (usize, usize)) -> Result<candle_core::Tensor, EngineError> {
    let values = Vec::<f32>::try_from(tensor)
        .map_err(|error| EngineError::RustBert(format!("reading a libtorch tensor: {error}")))?;
    Ok(candle_core::Tensor::from_vec(
        values,
        shape,
        &candle_core::Device::Cpu,
    )?)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "libtorch failed".to_owned())
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

/// transformers' `MarianConfig` defaults for keys an old or minimal config may lack.
fn marian_defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("activation_function", json!("gelu")),
        ("activation_dropout", json!(0.0)),
        ("attention_dropout", json!(0.0)),
        ("dropout", json!(0.1)),
        ("d_model", json!(1024)),
        ("decoder_attention_heads", json!(16)),
        ("decoder_ffn_dim", json!(4096)),
        ("decoder_layerdrop", json!(0.0)),
        ("decoder_layers", json!(12)),
        ("encoder_attention_heads", json!(16)),
        ("encoder_ffn_dim", json!(4096)),
        ("encoder_layerdrop", json!(0.0)),
        ("encoder_layers", json!(12)),
        ("init_std", json!(0.02)),
        ("max_position_embeddings", json!(1024)),
        ("vocab_size", json!(58101)),
        ("scale_embedding", json!(false)),
        ("pad_token_id", json!(58100)),
        ("eos_token_id", json!(0)),
        ("decoder_start_token_id", json!(58100)),
    ]
}

/// The config rust-bert must see: Marian's embedding layout, transformers' defaults, and
/// activation names rust-bert knows.
fn adjust_config(path: &Path, config: Value) -> Result<BartConfig, EngineError> {
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
    for (key, default) in marian_defaults() {
        if map.get(key).is_none_or(Value::is_null) {
            map.insert(key.to_owned(), default);
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
    let parsed: BartConfig = serde_json::from_value(Value::Object(map))
        .map_err(|error| problem(format!("rust-bert cannot read it: {error}")))?;
    if parsed.d_model <= 0 || parsed.vocab_size <= 0 || parsed.max_position_embeddings <= 0 {
        return Err(problem(
            "d_model, vocab_size and max_position_embeddings must be positive".into(),
        ));
    }
    Ok(parsed)
}

/// The tensors of a weight file by name, and the file they came from (for messages).
struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

/// Copies every variable rust-bert's model declares from `weights`; a missing tensor or a shape
/// that does not fit is an error naming the file and the tensor. Extra tensors are ignored.
fn copy_weights(store: &nn::VarStore, mut weights: Weights) -> Result<(), EngineError> {
    let problem = |problem: String| EngineError::ModelFile {
        path: weights.path.clone(),
        problem,
    };
    let mut variables: Vec<(String, Tensor)> = store.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut variable) in variables {
        let Some(tensor) = weights.tensors.remove(&name) else {
            return Err(problem(format!(
                "has no tensor {name}, which the model config.json describes needs"
            )));
        };
        if tensor.size() != variable.size() {
            return Err(problem(format!(
                "{name} has shape {:?}, the model config.json describes needs {:?}",
                tensor.size(),
                variable.size()
            )));
        }
        tch::no_grad(|| variable.f_copy_(&tensor))
            .map_err(|error| problem(format!("cannot load {name}: {error}")))?;
    }
    Ok(())
}

/// Reads the folder's weights (any format [`checkpoint::open`] reads) and fills in what rust-bert
/// expects and transformers does not save.
fn prepare_weights(
    dir: &Path,
    config: &BartConfig,
    cache: Option<&Path>,
) -> Result<Weights, EngineError> {
    let (path, checkpoint) = checkpoint::open(dir, cache)?;
    let file_problem = |problem: String| EngineError::ModelFile {
        path: path.clone(),
        problem,
    };
    let unreadable =
        |error: tch::TchError| file_problem(format!("cannot read the weights: {error}"));
    let mut aliases = HashMap::new();
    let loaded: Vec<(String, Tensor)> = match checkpoint {
        Checkpoint::Safetensors {
            path: readable,
            aliases: stored_aliases,
        } => {
            aliases = stored_aliases;
            Tensor::read_safetensors(&readable).map_err(unreadable)?
        }
        Checkpoint::ZipPickle(pickle) => Tensor::loadz_multi(&pickle).map_err(unreadable)?,
        Checkpoint::Loaded(tensors) => tensors
            .into_iter()
            .map(|(name, tensor)| Ok((name, candle_to_tch(&tensor)?)))
            .collect::<Result<_, EngineError>>()?,
    };
    let loaded: HashMap<String, Tensor> = loaded
        .into_iter()
        .map(|(name, tensor)| (name, tensor.to_kind(Kind::Float)))
        .collect();
    let names = checkpoint::canonical_names(loaded.keys().cloned(), &aliases);
    let mut tensors: HashMap<String, Tensor> = names
        .into_iter()
        .filter_map(|(lookup, stored)| Some((lookup, loaded.get(&stored)?.shallow_clone())))
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
    let computed = checkpoint::sinusoidal_positions(positions, dim);
    let table = Tensor::from_slice(&computed).view([positions as i64, dim as i64]);
    for side in ["encoder", "decoder"] {
        let name = format!("model.{side}.embed_positions.weight");
        // 2020-era checkpoints store the tables; one of another scheme must not be ignored.
        if let Some(stored) = tensors.get(&name) {
            let stored = Vec::<f32>::try_from(stored.flatten(0, -1))
                .map_err(|error| file_problem(format!("cannot read {name}: {error}")))?;
            checkpoint::check_stored_positions(&stored, &computed)
                .map_err(|problem| file_problem(format!("tensor {name} {problem}")))?;
        }
        tensors.insert(name, table.shallow_clone());
    }

    Ok(Weights { path, tensors })
}

/// A candle tensor (from a legacy checkpoint read into memory) as a libtorch one.
fn candle_to_tch(tensor: &candle_core::Tensor) -> Result<Tensor, EngineError> {
    let dims: Vec<i64> = tensor.dims().iter().map(|&d| d as i64).collect();
    let values = tensor
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(Tensor::from_slice(&values).view(dims.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_bert::Activation;

    #[test]
    fn config_gains_marian_embedding_layout() {
        let config = json!({
            "d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "vocab_size": 10,
            "max_position_embeddings": 32, "activation_function": "silu"
        });
        let parsed = adjust_config(Path::new("config.json"), config).unwrap();
        assert_eq!(parsed.normalize_embedding, Some(false));
        assert_eq!(parsed.static_position_embeddings, Some(true));
        assert!(matches!(
            parsed.activation_function,
            Some(Activation::swish)
        ));
        assert_eq!(parsed.d_model, 16);
    }

    #[test]
    fn pre_norm_configs_are_refused() {
        let config = json!({"normalize_before": true});
        let error = adjust_config(Path::new("config.json"), config).unwrap_err();
        assert!(error.to_string().contains("normalize_before"), "{error}");
    }
}
