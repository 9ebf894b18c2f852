//! The Marian encoder-decoder: transformers' `MarianMTModel` computation, built for decoding speed.
//!
//! Dense layers are [`Dense`] (rten-gemm, weights packed once at load, f32 or int8); attention is a
//! small kernel of our own over plain slices, because a decoder step attends with one query per
//! row and a batched matmul would issue thousands of tiny gemm calls for it. Layer norms,
//! activations and embeddings stay on candle tensors. Padding is handled by giving
//! each row its real source length: attending only to the first `len` keys is exactly what
//! transformers' additive `-inf` mask computes.
//!
//! The decoder state is an explicit value ([`DecoderState`]):
//! * each row (beam hypothesis) owns its self-attention cache, `[layer][step][d_model]`, behind an
//!   `Arc`: a beam reorder moves or shares rows instead of gathering every cached position of
//!   every layer (which grew with the square of the length), and a shared row is copied only
//!   when it is next written;
//! * cross-attention keys and values are computed once per batch, for all layers in one product,
//!   and stay per *sentence*: rows (beam hypotheses) point at their sentence, so reordering beams
//!   or dropping finished sentences never copies them.

use std::sync::Arc;

use candle_core::{D, Device, Tensor};
use rayon::prelude::*;

use super::config::{Activation, MarianConfig};
use super::linear::{Dense, Precision, with_f32};
use super::weights::WeightFile;
use crate::engine::EngineError;
use crate::engine::checkpoint;
use crate::engine::decode::{StepModel, StepOutput};
use crate::engine::wide;

const LAYER_NORM_EPS: f32 = 1e-5;

/// The weights of a dense layer `x·Wᵀ + b` as the checkpoint has them, before packing.
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn load(
        weights: &WeightFile,
        prefix: &str,
        out_dim: usize,
        in_dim: usize,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            weight: weights.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?,
            bias: Some(weights.get(&format!("{prefix}.bias"), &[out_dim])?),
        })
    }

    /// Stacks layers that read the same input into one wider layer (one gemm instead of several).
    fn fuse(parts: &[Linear]) -> Result<Self, EngineError> {
        let weights: Vec<&Tensor> = parts.iter().map(|p| &p.weight).collect();
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|p| p.bias.as_ref()).collect();
        Ok(Self {
            weight: Tensor::cat(&weights, 0)?,
            bias: biases.map(|b| Tensor::cat(&b, 0)).transpose()?,
        })
    }

    /// The layer packed for the gemm kernels of `precision`.
    fn pack(&self, precision: Precision) -> Result<Dense, EngineError> {
        Dense::new(&self.weight, self.bias.as_ref(), precision)
    }
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl LayerNorm {
    fn load(weights: &WeightFile, prefix: &str, dim: usize) -> Result<Self, EngineError> {
        let get = |name: &str| -> Result<Vec<f32>, EngineError> {
            Ok(weights
                .get(&format!("{prefix}.{name}"), &[dim])?
                .to_vec1::<f32>()?)
        };
        Ok(Self {
            weight: get("weight")?,
            bias: get("bias")?,
        })
    }

    /// `LayerNorm(residual + x)`: the post-norm residual step of every Marian sub-layer, in one
    /// pass per group of rows (candle's add and layer norm were two passes, two parallel sections
    /// and two allocations).
    fn residual(&self, residual: &Tensor, x: &Tensor) -> Result<Tensor, EngineError> {
        let (rows, d) = residual.dims2()?;
        if x.dims2()? != (rows, d) || d != self.weight.len() {
            return Err(candle_core::Error::Msg(format!(
                "layer norm of width {} got {:?} + {:?}",
                self.weight.len(),
                residual.dims(),
                x.dims()
            ))
            .into());
        }
        let mut out = vec![0f32; rows * d];
        with_f32(residual, |residual| {
            with_f32(x, |x| {
                let group = NORM_GROUP * d;
                out.par_chunks_mut(group)
                    .zip(residual.par_chunks(group))
                    .zip(x.par_chunks(group))
                    .for_each(|((out, residual), x)| {
                        residual_norm_rows(residual, x, &self.weight, &self.bias, out);
                    });
            })
        })??;
        Ok(Tensor::from_vec(out, (rows, d), &Device::Cpu)?)
    }
}

/// Rows a layer norm task takes together: their sums run as independent chains side by side.
const NORM_GROUP: usize = 8;

wide::dispatched! {
    /// `out = LayerNorm(residual + x)` for up to [`NORM_GROUP`] rows of `weight.len()` values, with
    /// candle's arithmetic to the bit: `residual + x`, then per row the sums of values and of
    /// squares in order, `var = Σx²/n − mean²`, `(v − mean)·inv_std·weight + bias`. Each row's sums
    /// keep their sequential order (the f32 reference); the rows of a group are summed side by
    /// side so the additions do not wait on one another.
    fn residual_norm_rows / residual_norm_rows_at(
        residual: &[f32],
        x: &[f32],
        weight: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) {
        let d = weight.len();
        for ((o, r), v) in out.iter_mut().zip(residual).zip(x) {
            *o = r + v;
        }
        let rows = out.len() / d;
        let mut sums = [0f32; NORM_GROUP];
        let mut squares = [0f32; NORM_GROUP];
        if rows == NORM_GROUP {
            for i in 0..d {
                for g in 0..NORM_GROUP {
                    let v = out[g * d + i];
                    sums[g] += v;
                    squares[g] += v * v;
                }
            }
        } else {
            for (g, row) in out.chunks_exact(d).enumerate() {
                for &v in row {
                    sums[g] += v;
                    squares[g] += v * v;
                }
            }
        }
        for (g, row) in out.chunks_exact_mut(d).enumerate() {
            let mean = sums[g] / d as f32;
            let var = squares[g] / d as f32 - mean * mean;
            let inv_std = (var + LAYER_NORM_EPS).sqrt().recip();
            for ((v, &w), &b) in row.iter_mut().zip(weight).zip(bias) {
                *v = (*v - mean) * inv_std * w + b;
            }
        }
    }
}

wide::dispatched! {
    /// `x · sigmoid(x)` in place, as candle computes it (`x / (1 + exp(−x))`, libm's `exp`): the
    /// same bits.
    fn silu / silu_at(values: &mut [f32]) {
        for v in values.iter_mut() {
            *v = *v / (1.0 + (-*v).exp());
        }
    }
}

wide::dispatched! {
    /// SiLU for int8 models: `x · sigmoid(x)` with [`wide::exp_nonpositive`], which vectorises
    /// where libm's `exp` is a call per value; within a few ulp of [`silu`], far below the
    /// rounding int8 weights and activations bring.
    fn silu_fast / silu_fast_at(values: &mut [f32]) {
        for v in values.iter_mut() {
            let x = *v;
            let e = wide::exp_nonpositive(-x.abs());
            let r = 1.0 / (1.0 + e);
            *v = x * if x >= 0.0 { r } else { e * r };
        }
    }
}

fn activate(activation: Activation, x: &Tensor) -> Result<Tensor, EngineError> {
    Ok(match activation {
        Activation::Silu => x.silu()?,
        Activation::GeluErf => x.gelu_erf()?,
        Activation::GeluTanh => x.gelu()?,
        Activation::Relu => x.relu()?,
        Activation::QuickGelu => (x * candle_nn::ops::sigmoid(&(x * 1.702)?)?)?,
        Activation::Sigmoid => candle_nn::ops::sigmoid(x)?,
        Activation::Tanh => x.tanh()?,
        Activation::Identity => x.clone(),
    })
}

struct FeedForward {
    fc1: Dense,
    fc2: Dense,
    activation: Activation,
}

impl FeedForward {
    fn load(
        weights: &WeightFile,
        prefix: &str,
        cfg: &MarianConfig,
        ffn_dim: usize,
        precision: Precision,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            fc1: Linear::load(weights, &format!("{prefix}.fc1"), ffn_dim, cfg.d_model)?
                .pack(precision)?,
            fc2: Linear::load(weights, &format!("{prefix}.fc2"), cfg.d_model, ffn_dim)?
                .pack(precision)?,
            activation: cfg.activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let hidden = match self.activation {
            // Marian's activation, split over rayon's threads: candle's element-wise ops run on
            // the calling thread alone (the binary turns candle's own pool off, see main.rs), so
            // 128 rows × 2 048 values per layer and step ran on one core while the other waited.
            Activation::Silu => {
                let (rows, width) = (x.dims2()?.0, self.fc1.out_dim());
                let mut values = self.fc1.forward_vec(x)?;
                let chunks = values.par_chunks_mut(width).with_min_len(8);
                if self.fc1.is_int8() {
                    chunks.for_each(silu_fast);
                } else {
                    chunks.for_each(silu);
                }
                Tensor::from_vec(values, (rows, width), &Device::Cpu)?
            }
            activation => activate(activation, &self.fc1.forward(x)?)?,
        };
        self.fc2.forward(&hidden)
    }
}

fn load_attention(
    weights: &WeightFile,
    prefix: &str,
    d: usize,
) -> Result<[Linear; 4], EngineError> {
    Ok([
        Linear::load(weights, &format!("{prefix}.q_proj"), d, d)?,
        Linear::load(weights, &format!("{prefix}.k_proj"), d, d)?,
        Linear::load(weights, &format!("{prefix}.v_proj"), d, d)?,
        Linear::load(weights, &format!("{prefix}.out_proj"), d, d)?,
    ])
}

/// Where the keys and values of one attention call live: element `(batch b, position j, channel c)`
/// of the keys is `keys[b·batch_stride + j·position_stride + c]`, values likewise.
struct KeyValues<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    batch_stride: usize,
    position_stride: usize,
}

/// The keys and values one query row attends to: positions `0..len`.
struct RowKeys<'a> {
    len: usize,
    at: PositionsAt<'a>,
}

enum PositionsAt<'a> {
    /// Position `j`'s key at `keys[j·stride ..][..d_model]`, its value likewise in `values`.
    Strided {
        keys: &'a [f32],
        values: &'a [f32],
        stride: usize,
    },
    /// Position `j`'s key at `list[j][..d_model]`, its value at `list[j][d_model..]`.
    Listed(&'a [&'a [f32]]),
}

impl RowKeys<'_> {
    /// Position `j`'s key from channel `channel` on.
    #[inline(always)]
    fn key(&self, position: usize, channel: usize) -> &[f32] {
        match self.at {
            PositionsAt::Strided { keys, stride, .. } => &keys[position * stride + channel..],
            PositionsAt::Listed(list) => &list[position][channel..],
        }
    }

    /// Position `j`'s value from channel `channel` on (`d_model` the key's length).
    #[inline(always)]
    fn value(&self, position: usize, channel: usize, d_model: usize) -> &[f32] {
        match self.at {
            PositionsAt::Strided { values, stride, .. } => &values[position * stride + channel..],
            PositionsAt::Listed(list) => &list[position][d_model + channel..],
        }
    }
}

/// Where each query row of an attention call finds its keys and values.
trait AttendTo: Sync {
    /// Calls `attend` with the keys and values of query `row`.
    fn with_row_keys(&self, row: usize, attend: impl FnOnce(RowKeys<'_>));
}

/// Keys and values in one strided buffer: `sources[row] = (b, len)` says that query `row` attends
/// to positions `0..len` of key batch `b`.
struct Strided<'a> {
    kv: KeyValues<'a>,
    sources: &'a [(usize, usize)],
}

impl AttendTo for Strided<'_> {
    fn with_row_keys(&self, row: usize, attend: impl FnOnce(RowKeys<'_>)) {
        let (batch, len) = self.sources[row];
        let start = batch * self.kv.batch_stride;
        attend(RowKeys {
            len,
            at: PositionsAt::Strided {
                keys: &self.kv.keys[start..],
                values: &self.kv.values[start..],
                stride: self.kv.position_stride,
            },
        })
    }
}

/// The decoder's self-attention at one layer: every row attends to the positions of its own
/// history (earlier steps, shared with the beams it forked from) and to this step's.
struct History<'a> {
    steps: &'a [Arc<StepKeyValues>],
    /// `[rows, steps.len()]`: which row of each earlier step each row continues.
    paths: &'a [u32],
    /// This step's keys and values, `[layers][rows][2·d_model]`.
    current: &'a [f32],
    rows: usize,
    layer: usize,
    d_model: usize,
}

impl AttendTo for History<'_> {
    fn with_row_keys(&self, row: usize, attend: impl FnOnce(RowKeys<'_>)) {
        let (layer, width) = (self.layer, 2 * self.d_model);
        let earlier = self.steps.len();
        let path = &self.paths[row * earlier..][..earlier];
        let current = &self.current[(layer * self.rows + row) * width..][..width];
        let positions = path
            .iter()
            .zip(self.steps)
            .map(|(&from, step)| step.row(layer, from as usize, width))
            .chain(std::iter::once(current));
        // Up to 512 positions listed on the stack: no allocation per row and step.
        let mut stack: [&[f32]; 512] = [&[]; 512];
        if earlier < stack.len() {
            for (slot, position) in stack.iter_mut().zip(positions) {
                *slot = position;
            }
            attend(RowKeys {
                len: earlier + 1,
                at: PositionsAt::Listed(&stack[..=earlier]),
            })
        } else {
            let list: Vec<&[f32]> = positions.collect();
            attend(RowKeys {
                len: list.len(),
                at: PositionsAt::Listed(&list),
            })
        }
    }
}

/// Multi-head attention for a set of query rows.
///
/// `queries[row·query_stride ..][..d_model]` is the query of `row`, and `source` says what it
/// attends to. Writes `[rows, d_model]` into `out` and, when `probs` is given, the head-averaged
/// attention weights `[rows, probs_width]`.
fn attend(
    queries: &[f32],
    query_stride: usize,
    source: &impl AttendTo,
    heads: usize,
    d_model: usize,
    out: &mut [f32],
    probs: Option<(&mut [f32], usize)>,
) {
    let work = |row: usize, out_row: &mut [f32], probs_row: Option<&mut [f32]>| {
        let query = &queries[row * query_stride..][..d_model];
        source.with_row_keys(row, |kv| attend_row(query, kv, heads, out_row, probs_row));
    };
    match probs {
        Some((probs, width)) => {
            probs.fill(0.0);
            out.par_chunks_mut(d_model)
                .zip(probs.par_chunks_mut(width))
                .enumerate()
                .with_min_len(8)
                .for_each(|(row, (o, p))| work(row, o, Some(p)));
        }
        None => out
            .par_chunks_mut(d_model)
            .enumerate()
            .with_min_len(8)
            .for_each(|(row, o)| work(row, o, None)),
    }
}

wide::dispatched! {
    /// One query row's multi-head attention over `kv`: writes `out_row` (`[d_model]`) and adds the
    /// head-averaged weights to `probs_row` when given. At the CPU's width, same bits at every one.
    fn attend_row / attend_row_at(
        query: &[f32],
        kv: RowKeys<'_>,
        heads: usize,
        out_row: &mut [f32],
        probs_row: Option<&mut [f32]>,
    ) {
        let d_model = query.len();
        let head_dim = d_model / heads;
        let scale = (head_dim as f32).powf(-0.5);
        let len = kv.len;
        // Scores `[head][position]`, in a buffer each thread keeps: no allocation per row and
        // step, and no zeroing (every score is written before it is read).
        let mut buffer = SCORES.take();
        if buffer.len() < heads * len {
            buffer.resize(heads * len, 0.0);
        }
        let scores = &mut buffer[..heads * len];
        // Keys and values are read position by position, every head of a position at once: one
        // contiguous row front to back. Head by head, each read jumped from position to position
        // (in the decoder's history, from block to block), eight times per row, and waited on
        // memory at every jump.
        for position in 0..len {
            let key_row = kv.key(position, 0);
            for head in 0..heads {
                let channel = head * head_dim;
                let dot = dot(&query[channel..channel + head_dim], &key_row[channel..channel + head_dim]);
                scores[head * len + position] = dot * scale;
            }
        }
        for scores in scores.chunks_exact_mut(len.max(1)).take(heads) {
            let scores = &mut scores[..len];
            let max = scores.iter().fold(f32::NEG_INFINITY, |max, &s| max.max(s));
            let mut total = 0f32;
            for score in scores.iter_mut() {
                *score = (*score - max).exp();
                total += *score;
            }
            for score in scores.iter_mut() {
                *score /= total;
            }
        }
        // `out += weight · value` position after position: each output sums its terms in
        // position order, the order of an accumulator in registers.
        out_row.fill(0.0);
        for position in 0..len {
            let value_row = kv.value(position, 0, d_model);
            for (head, out) in out_row.chunks_exact_mut(head_dim).enumerate() {
                let weight = scores[head * len + position];
                let value = &value_row[head * head_dim..][..head_dim];
                if head_dim == 64 {
                    axpy64(out, weight, value);
                } else {
                    axpy(out, weight, value);
                }
            }
        }
        if let Some(probs) = probs_row {
            for scores in scores.chunks_exact(len.max(1)).take(heads) {
                for (slot, score) in probs.iter_mut().zip(&scores[..len]) {
                    *slot += score / heads as f32;
                }
            }
        }
        SCORES.set(buffer);
    }
}

thread_local! {
    /// [`attend_row`]'s scores, kept from one call to the next.
    static SCORES: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a_main, a_rest) = a.split_at(a.len() - a.len() % 8);
    let (b_main, b_rest) = b.split_at(a_main.len());
    for (x, y) in a_main.chunks_exact(8).zip(b_main.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum = acc.iter().sum::<f32>();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// [`axpy`] over 64 values, a length the compiler sees.
#[inline(always)]
fn axpy64(out: &mut [f32], alpha: f32, x: &[f32]) {
    let out: &mut [f32; 64] = out.try_into().expect("64 values");
    let x: &[f32; 64] = x.try_into().expect("64 values");
    for (o, v) in out.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

#[inline(always)]
fn axpy(out: &mut [f32], alpha: f32, x: &[f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

struct EncoderLayer {
    qkv: Dense,
    out_proj: Dense,
    self_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

struct DecoderLayer {
    qkv: Dense,
    out_proj: Dense,
    self_attn_layer_norm: LayerNorm,
    cross_q: Dense,
    cross_out: Dense,
    encoder_attn_layer_norm: LayerNorm,
    ffn: FeedForward,
    final_layer_norm: LayerNorm,
}

/// A loaded Marian model.
pub struct MarianModel {
    cfg: MarianConfig,
    encoder_embeddings: Tensor,
    decoder_embeddings: Tensor,
    /// The output projection `[target_vocab, d_model]` (the decoder embeddings when tied), with
    /// `final_logits_bias` as its bias.
    lm_head: Dense,
    positions: Tensor,
    embed_scale: f64,
    encoder_layers: Vec<EncoderLayer>,
    decoder_layers: Vec<DecoderLayer>,
    /// Keys and values of every decoder layer's cross-attention, stacked: one gemm per batch
    /// (`None` without decoder layers).
    cross_kv: Option<Dense>,
}

/// The encoder's output for one batch, ready for decoding.
pub struct EncodedBatch {
    /// Real (unpadded) length of each source, EOS included.
    source_lengths: Vec<usize>,
    /// Padded source length.
    max_source_len: usize,
    /// `[layer][keys, values][batch·max_source_len][d_model]`: each layer's keys of one sentence
    /// one contiguous block, as are its values. The gemm writes `[batch·max_source_len,
    /// layers·2·d_model]`; read in that layout, each position of a head was 24 KB from the last,
    /// and the cross-attention, which reads all of it at every step, waited on memory.
    cross_kv: Vec<f32>,
}

/// The self-attention keys and values one decoder step computed, `[layers][rows][2·d_model]`
/// (each row's key, then its value). Rows of later steps refer to the row they continue, so beams
/// that forked share their history: a reorder copies no cache, and the beams of a sentence read
/// their common positions from the same memory.
struct StepKeyValues {
    rows: usize,
    data: Vec<f32>,
}

impl StepKeyValues {
    fn row(&self, layer: usize, row: usize, width: usize) -> &[f32] {
        &self.data[(layer * self.rows + row) * width..][..width]
    }
}

/// Everything the decoder carries from one step to the next.
pub struct DecoderState {
    encoded: Arc<EncodedBatch>,
    /// Sentence (index into the encoded batch) of each live row.
    sentence_of_row: Vec<usize>,
    /// Tokens fed so far; also the position of the next one.
    steps: usize,
    /// Self-attention keys and values of every step so far.
    history: Vec<Arc<StepKeyValues>>,
    /// `[rows, steps]`: the row of each step in `history` that each live row continues.
    paths: Vec<u32>,
    /// Return head-averaged cross-attention of the last layer with each step (for alignment).
    want_cross_attention: bool,
}

impl DecoderState {
    pub fn rows(&self) -> usize {
        self.sentence_of_row.len()
    }
}

impl MarianModel {
    /// Loads every tensor named by transformers from `weights`, checking shapes against `cfg`,
    /// for f32 arithmetic.
    pub fn load(cfg: &MarianConfig, weights: &WeightFile) -> Result<Self, EngineError> {
        Self::load_with_precision(cfg, weights, Precision::F32)
    }

    /// As [`MarianModel::load`], with the dense layers in `precision`.
    pub fn load_with_precision(
        cfg: &MarianConfig,
        weights: &WeightFile,
        precision: Precision,
    ) -> Result<Self, EngineError> {
        let d = cfg.d_model;
        let vocab = cfg.vocab_size;
        let target_vocab = cfg.target_vocab_size();
        let (encoder_embeddings, decoder_embeddings) = if cfg.share_encoder_decoder_embeddings {
            let shared = weights.get_any(
                &[
                    "model.shared.weight",
                    "model.encoder.embed_tokens.weight",
                    "model.decoder.embed_tokens.weight",
                ],
                &[vocab, d],
            )?;
            (shared.clone(), shared)
        } else {
            (
                weights.get("model.encoder.embed_tokens.weight", &[vocab, d])?,
                weights.get(
                    "model.decoder.embed_tokens.weight",
                    &[cfg.decoder_vocab_size, d],
                )?,
            )
        };
        // transformers ties lm_head to the decoder input embeddings unless told otherwise.
        let lm_head = if cfg.tie_word_embeddings {
            decoder_embeddings.clone()
        } else {
            weights.get("lm_head.weight", &[target_vocab, d])?
        };
        let final_logits_bias =
            match weights.get_optional("final_logits_bias", &[1, target_vocab])? {
                Some(bias) => bias.reshape(target_vocab)?,
                None => Tensor::zeros(target_vocab, candle_core::DType::F32, &Device::Cpu)?,
            };

        let mut encoder_layers = Vec::with_capacity(cfg.encoder_layers);
        for i in 0..cfg.encoder_layers {
            let p = format!("model.encoder.layers.{i}");
            let [q, k, v, out_proj] = load_attention(weights, &format!("{p}.self_attn"), d)?;
            encoder_layers.push(EncoderLayer {
                qkv: Linear::fuse(&[q, k, v])?.pack(precision)?,
                out_proj: out_proj.pack(precision)?,
                self_attn_layer_norm: LayerNorm::load(
                    weights,
                    &format!("{p}.self_attn_layer_norm"),
                    d,
                )?,
                ffn: FeedForward::load(weights, &p, cfg, cfg.encoder_ffn_dim, precision)?,
                final_layer_norm: LayerNorm::load(weights, &format!("{p}.final_layer_norm"), d)?,
            });
        }
        let mut decoder_layers = Vec::with_capacity(cfg.decoder_layers);
        let mut cross_parts = Vec::with_capacity(2 * cfg.decoder_layers);
        for i in 0..cfg.decoder_layers {
            let p = format!("model.decoder.layers.{i}");
            let [q, k, v, out_proj] = load_attention(weights, &format!("{p}.self_attn"), d)?;
            let [cross_q, cross_k, cross_v, cross_out] =
                load_attention(weights, &format!("{p}.encoder_attn"), d)?;
            cross_parts.push(cross_k);
            cross_parts.push(cross_v);
            decoder_layers.push(DecoderLayer {
                qkv: Linear::fuse(&[q, k, v])?.pack(precision)?,
                out_proj: out_proj.pack(precision)?,
                self_attn_layer_norm: LayerNorm::load(
                    weights,
                    &format!("{p}.self_attn_layer_norm"),
                    d,
                )?,
                cross_q: cross_q.pack(precision)?,
                cross_out: cross_out.pack(precision)?,
                encoder_attn_layer_norm: LayerNorm::load(
                    weights,
                    &format!("{p}.encoder_attn_layer_norm"),
                    d,
                )?,
                ffn: FeedForward::load(weights, &p, cfg, cfg.decoder_ffn_dim, precision)?,
                final_layer_norm: LayerNorm::load(weights, &format!("{p}.final_layer_norm"), d)?,
            });
        }
        let (max_positions, table) = (
            cfg.max_position_embeddings,
            checkpoint::sinusoidal_positions(cfg.max_position_embeddings, d),
        );
        // 2020-era checkpoints store the (never trained) tables; one that differs from Marian's
        // formula belongs to another position scheme, which this network would silently ignore.
        for side in ["encoder", "decoder"] {
            let name = format!("model.{side}.embed_positions.weight");
            if let Some(stored) = weights.get_optional(&name, &[max_positions, d])? {
                checkpoint::check_stored_positions(&stored.flatten_all()?.to_vec1()?, &table)
                    .map_err(|problem| weights.problem(format!("tensor {name} {problem}")))?;
            }
        }
        let positions = Tensor::from_vec(table, (max_positions, d), &Device::Cpu)?;
        let cross_kv = if cross_parts.is_empty() {
            None
        } else {
            Some(Linear::fuse(&cross_parts)?.pack(precision)?)
        };
        let lm_head = Linear {
            weight: lm_head,
            bias: Some(final_logits_bias),
        }
        .pack(precision)?;

        Ok(Self {
            cfg: cfg.clone(),
            encoder_embeddings,
            decoder_embeddings,
            lm_head,
            positions,
            embed_scale: if cfg.scale_embedding {
                (d as f64).sqrt()
            } else {
                1.0
            },
            encoder_layers,
            decoder_layers,
            cross_kv,
        })
    }

    pub fn config(&self) -> &MarianConfig {
        &self.cfg
    }

    /// Runs the encoder over `sources` (token ids, EOS included, unpadded) and precomputes the
    /// cross-attention keys and values of every decoder layer.
    pub fn encode(&self, sources: &[Vec<u32>]) -> Result<EncodedBatch, EngineError> {
        let d = self.cfg.d_model;
        let batch = sources.len();
        let max_len = sources.iter().map(Vec::len).max().unwrap_or(0);
        if batch == 0 || max_len == 0 {
            return Err(EngineError::InvalidOption(
                "the encoder needs at least one non-empty source".into(),
            ));
        }
        if max_len > self.cfg.max_position_embeddings {
            return Err(EngineError::InvalidOption(format!(
                "a source of {max_len} tokens exceeds the model's {} positions",
                self.cfg.max_position_embeddings
            )));
        }
        let vocab = self.cfg.vocab_size;
        let mut ids = Vec::with_capacity(batch * max_len);
        for source in sources {
            if let Some(bad) = source.iter().find(|&&id| id as usize >= vocab) {
                return Err(EngineError::InvalidOption(format!(
                    "token id {bad} is outside the source vocabulary of {vocab}"
                )));
            }
            ids.extend_from_slice(source);
            ids.extend(std::iter::repeat_n(
                self.cfg.pad_token_id,
                max_len - source.len(),
            ));
        }
        let ids = Tensor::from_vec(ids, batch * max_len, &Device::Cpu)?;
        let embedded = (self.encoder_embeddings.index_select(&ids, 0)? * self.embed_scale)?;
        let positions = self.positions.narrow(0, 0, max_len)?;
        let mut hidden = embedded
            .reshape((batch, max_len, d))?
            .broadcast_add(&positions)?
            .reshape((batch * max_len, d))?;

        let lengths: Vec<usize> = sources.iter().map(Vec::len).collect();
        // Every query position (padding included, as in transformers) attends to its sentence's
        // real tokens only.
        let query_sources: Vec<(usize, usize)> = (0..batch * max_len)
            .map(|row| (row / max_len, lengths[row / max_len]))
            .collect();
        let heads = self.cfg.encoder_attention_heads;
        for layer in &self.encoder_layers {
            let qkv = layer.qkv.forward(&hidden)?;
            let mut context = vec![0f32; batch * max_len * d];
            with_f32(&qkv, |qkv| {
                let source = Strided {
                    kv: KeyValues {
                        keys: &qkv[d..],
                        values: &qkv[2 * d..],
                        batch_stride: max_len * 3 * d,
                        position_stride: 3 * d,
                    },
                    sources: &query_sources,
                };
                attend(qkv, 3 * d, &source, heads, d, &mut context, None);
            })?;
            let context = Tensor::from_vec(context, (batch * max_len, d), &Device::Cpu)?;
            let attended = layer.out_proj.forward(&context)?;
            hidden = layer.self_attn_layer_norm.residual(&hidden, &attended)?;
            let ff = layer.ffn.forward(&hidden)?;
            hidden = layer.final_layer_norm.residual(&hidden, &ff)?;
        }

        let cross_kv = match &self.cross_kv {
            None => Vec::new(),
            Some(cross_kv) => {
                let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
                let by_position = cross_kv.forward_slice(&hidden, batch * max_len)?;
                let positions = batch * max_len;
                let parts = 2 * self.decoder_layers.len();
                let mut by_part = vec![0f32; by_position.len()];
                by_part
                    .par_chunks_mut(positions * d)
                    .enumerate()
                    .for_each(|(part, block)| {
                        for (position, out) in block.chunks_exact_mut(d).enumerate() {
                            let start = (position * parts + part) * d;
                            out.copy_from_slice(&by_position[start..start + d]);
                        }
                    });
                by_part
            }
        };
        Ok(EncodedBatch {
            source_lengths: lengths,
            max_source_len: max_len,
            cross_kv,
        })
    }

    /// The decoder state before the first step: one row per sentence of `encoded`.
    pub fn start(&self, encoded: EncodedBatch, want_cross_attention: bool) -> DecoderState {
        let rows = encoded.source_lengths.len();
        DecoderState {
            encoded: Arc::new(encoded),
            sentence_of_row: (0..rows).collect(),
            steps: 0,
            history: Vec::new(),
            paths: Vec::new(),
            want_cross_attention,
        }
    }

    /// The longest target (in new tokens) the decoder can produce: one position per fed token.
    pub fn max_target_tokens(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    fn decode_step(
        &self,
        state: &mut DecoderState,
        last_tokens: &[u32],
    ) -> Result<StepOutput, EngineError> {
        let d = self.cfg.d_model;
        let rows = state.rows();
        if last_tokens.len() != rows {
            return Err(EngineError::InvalidOption(format!(
                "decoder step got {} tokens for {rows} rows",
                last_tokens.len()
            )));
        }
        if state.steps >= self.cfg.max_position_embeddings {
            return Err(EngineError::InvalidOption(format!(
                "the target exceeds the model's {} positions",
                self.cfg.max_position_embeddings
            )));
        }
        let vocab = self.cfg.target_vocab_size();
        if let Some(bad) = last_tokens.iter().find(|&&id| id as usize >= vocab) {
            return Err(EngineError::InvalidOption(format!(
                "token id {bad} is outside the target vocabulary of {vocab}"
            )));
        }
        let ids = Tensor::from_slice(last_tokens, rows, &Device::Cpu)?;
        let position = self.positions.narrow(0, state.steps, 1)?;
        let mut hidden = (self.decoder_embeddings.index_select(&ids, 0)? * self.embed_scale)?
            .broadcast_add(&position)?;

        let encoded = Arc::clone(&state.encoded);
        let steps_after = state.steps + 1;
        let cross_sources: Vec<(usize, usize)> = state
            .sentence_of_row
            .iter()
            .map(|&s| (s, encoded.source_lengths[s]))
            .collect();
        let heads = self.cfg.decoder_attention_heads;
        let layers = self.decoder_layers.len();
        // One layer's keys (or values) of the whole batch in `encoded.cross_kv`.
        let part_size = encoded.source_lengths.len() * encoded.max_source_len * d;
        let mut cross_attention = None;
        // This step's self-attention keys and values, `[layers][rows][2·d]`.
        let mut current = vec![0f32; layers * rows * 2 * d];

        for (index, layer) in self.decoder_layers.iter().enumerate() {
            // Self-attention over everything fed so far, this step included.
            let qkv = layer.qkv.forward(&hidden)?;
            let mut context = vec![0f32; rows * d];
            with_f32(&qkv, |qkv| {
                for (kv, row) in current[index * rows * 2 * d..][..rows * 2 * d]
                    .chunks_exact_mut(2 * d)
                    .zip(qkv.chunks_exact(3 * d))
                {
                    kv.copy_from_slice(&row[d..]);
                }
                let source = History {
                    steps: &state.history,
                    paths: &state.paths,
                    current: &current,
                    rows,
                    layer: index,
                    d_model: d,
                };
                attend(qkv, 3 * d, &source, heads, d, &mut context, None);
            })?;
            let context = Tensor::from_vec(context, (rows, d), &Device::Cpu)?;
            hidden = layer
                .self_attn_layer_norm
                .residual(&hidden, &layer.out_proj.forward(&context)?)?;

            // Cross-attention over the sentence's encoder output, padding excluded.
            let queries = layer.cross_q.forward(&hidden)?;
            let mut context = vec![0f32; rows * d];
            let want_probs = state.want_cross_attention && index + 1 == layers;
            let width = encoded.max_source_len;
            let mut probs = if want_probs {
                vec![0f32; rows * width]
            } else {
                Vec::new()
            };
            with_f32(&queries, |queries| {
                let source = Strided {
                    kv: KeyValues {
                        keys: &encoded.cross_kv[2 * index * part_size..],
                        values: &encoded.cross_kv[(2 * index + 1) * part_size..],
                        batch_stride: width * d,
                        position_stride: d,
                    },
                    sources: &cross_sources,
                };
                let probs = want_probs.then_some((probs.as_mut_slice(), width));
                attend(queries, d, &source, heads, d, &mut context, probs);
            })?;
            if want_probs {
                cross_attention = Some(Tensor::from_vec(probs, (rows, width), &Device::Cpu)?);
            }
            let context = Tensor::from_vec(context, (rows, d), &Device::Cpu)?;
            hidden = layer
                .encoder_attn_layer_norm
                .residual(&hidden, &layer.cross_out.forward(&context)?)?;

            let ff = layer.ffn.forward(&hidden)?;
            hidden = layer.final_layer_norm.residual(&hidden, &ff)?;
        }
        state.steps = steps_after;
        state.history.push(Arc::new(StepKeyValues {
            rows,
            data: current,
        }));
        let earlier = state.history.len() - 1;
        state.paths = (0..rows)
            .flat_map(|row| {
                let path = &state.paths[row * earlier..][..earlier];
                path.iter().copied().chain(std::iter::once(row as u32))
            })
            .collect();

        let logits = self.lm_head.forward(&hidden)?;
        debug_assert_eq!(logits.dim(D::Minus1).ok(), Some(vocab));
        Ok(StepOutput {
            logits,
            cross_attention,
        })
    }

    fn reorder(&self, state: &mut DecoderState, rows: &[usize]) -> Result<(), EngineError> {
        let old_rows = state.rows();
        if let Some(bad) = rows.iter().find(|&&r| r >= old_rows) {
            return Err(EngineError::InvalidOption(format!(
                "select_rows: row {bad} does not exist (there are {old_rows})"
            )));
        }
        // Keeping every row in order is common in greedy search; nothing to move then.
        if rows.len() == old_rows && rows.iter().enumerate().all(|(i, &r)| i == r) {
            return Ok(());
        }
        let steps = state.history.len();
        state.paths = rows
            .iter()
            .flat_map(|&r| state.paths[r * steps..][..steps].iter().copied())
            .collect();
        state.sentence_of_row = rows.iter().map(|&r| state.sentence_of_row[r]).collect();
        Ok(())
    }
}

impl StepModel for MarianModel {
    type State = DecoderState;

    fn step(
        &self,
        state: &mut DecoderState,
        last_tokens: &[u32],
    ) -> Result<StepOutput, EngineError> {
        self.decode_step(state, last_tokens)
    }

    fn select_rows(&self, state: &mut DecoderState, rows: &[usize]) -> Result<(), EngineError> {
        self.reorder(state, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wide::Width;

    #[test]
    fn positions_match_marian_layout() {
        let table: Vec<Vec<f32>> = checkpoint::sinusoidal_positions(3, 6)
            .chunks(6)
            .map(<[f32]>::to_vec)
            .collect();
        // position 0: sines are 0, cosines are 1
        assert_eq!(table[0], vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let expected_sin1 = (1.0f64 / 10000f64.powf(2.0 / 6.0)).sin() as f32;
        assert!((table[1][1] - expected_sin1).abs() < 1e-7);
        let expected_cos2 = (2.0f64 / 10000f64.powf(4.0 / 6.0)).cos() as f32;
        assert!((table[2][5] - expected_cos2).abs() < 1e-7);
    }

    #[test]
    fn attention_ignores_keys_past_the_length() {
        // one head of width 2; keys past len 1 would dominate if they were attended to
        let keys = [1.0, 0.0, 100.0, 0.0];
        let values = [1.0, 2.0, 50.0, 60.0];
        let source = Strided {
            kv: KeyValues {
                keys: &keys,
                values: &values,
                batch_stride: 4,
                position_stride: 2,
            },
            sources: &[(0, 1)],
        };
        let mut out = [0f32; 2];
        attend(&[1.0, 0.0], 2, &source, 1, 2, &mut out, None);
        assert_eq!(out, [1.0, 2.0]);
    }

    fn spread(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 4001) as f32 / 1000.0 - 2.0
            })
            .collect()
    }

    /// The attention of one row as it was computed before the dispatched kernel: one position
    /// at a time, each value added into the output in memory.
    fn reference_attention(
        query: &[f32],
        (keys, values, stride): (&[f32], &[f32], usize),
        heads: usize,
        out: &mut [f32],
        probs: &mut [f32],
    ) {
        let head_dim = query.len() / heads;
        let scale = (head_dim as f32).powf(-0.5);
        let mut scores = vec![0f32; probs.len()];
        out.fill(0.0);
        for head in 0..heads {
            let channel = head * head_dim;
            let q = &query[channel..channel + head_dim];
            let mut max = f32::NEG_INFINITY;
            for (position, score) in scores.iter_mut().enumerate() {
                let offset = position * stride + channel;
                *score = dot(q, &keys[offset..offset + head_dim]) * scale;
                max = max.max(*score);
            }
            let mut total = 0f32;
            for score in scores.iter_mut() {
                *score = (*score - max).exp();
                total += *score;
            }
            for (position, score) in scores.iter_mut().enumerate() {
                *score /= total;
                let offset = position * stride + channel;
                axpy(
                    &mut out[channel..channel + head_dim],
                    *score,
                    &values[offset..offset + head_dim],
                );
            }
            for (slot, score) in probs.iter_mut().zip(&scores) {
                *slot += score / heads as f32;
            }
        }
    }

    /// Every width gives the reference's bits (f32 exactness with transformers rests on them):
    /// head widths of 64 (Marian's, with its register path) and others, lengths that are no
    /// multiple of the four positions taken together, a key stride wider than the row; keys and
    /// values in one strided buffer (encoder, cross-attention) and listed position by position
    /// (the decoder's shared history).
    #[test]
    fn attention_gives_the_reference_bits_at_every_width() {
        for (heads, d_model, len) in [
            (8, 512, 1),
            (8, 512, 7),
            (8, 512, 53),
            (2, 12, 5),
            (3, 30, 600),
        ] {
            let stride = d_model + 3;
            let (keys, values) = (spread(len * stride, 1), spread(len * stride, 2));
            let query = spread(d_model, 3);
            let listed: Vec<Vec<f32>> = (0..len)
                .map(|p| {
                    let row = |v: &[f32]| v[p * stride..][..d_model].to_vec();
                    [row(&keys), row(&values)].concat()
                })
                .collect();
            let list: Vec<&[f32]> = listed.iter().map(Vec::as_slice).collect();
            let strided = || RowKeys {
                len,
                at: PositionsAt::Strided {
                    keys: &keys,
                    values: &values,
                    stride,
                },
            };
            let by_list = || RowKeys {
                len,
                at: PositionsAt::Listed(&list),
            };
            let (mut want, mut want_probs) = (vec![0f32; d_model], vec![0f32; len]);
            let kv = (keys.as_slice(), values.as_slice(), stride);
            reference_attention(&query, kv, heads, &mut want, &mut want_probs);
            for (width, kv) in Width::available()
                .into_iter()
                .flat_map(|width| [(width, strided()), (width, by_list())])
            {
                let (mut got, mut got_probs) = (vec![1f32; d_model], vec![0f32; len]);
                attend_row_at(width, &query, kv, heads, &mut got, Some(&mut got_probs));
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{width:?} {heads}×{d_model} len {len}"
                );
                assert_eq!(bits(&got_probs), bits(&want_probs), "{width:?}");
            }
        }
    }

    /// Our SiLU gives candle's bits at every width (f32 exactness with transformers rests on
    /// them), over negative, positive, large and tiny values.
    #[test]
    fn silu_gives_candles_bits_at_every_width() {
        let mut values = spread(4099, 8);
        values.extend([0.0, -0.0, 90.0, -90.0, 1e-30, -1e-30, 20.5, -20.5]);
        let tensor = Tensor::from_slice(&values, values.len(), &Device::Cpu).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let want = bits(&tensor.silu().unwrap().to_vec1::<f32>().unwrap());
        for width in Width::available() {
            let mut got = values.clone();
            silu_at(width, &mut got);
            assert_eq!(bits(&got), want, "{width:?}");
        }
    }

    /// The int8 models' SiLU stays within a few ulp of the exact one and gives the same bits
    /// at every width.
    #[test]
    fn fast_silu_is_close_to_the_exact_one_at_every_width() {
        let mut values = spread(4099, 9);
        values.extend([
            0.0, -0.0, 90.0, -90.0, 1e-30, -1e-30, 20.5, -20.5, -87.5, -100.0,
        ]);
        let mut exact = values.clone();
        silu_at(Width::Portable, &mut exact);
        let mut first: Option<Vec<u32>> = None;
        for width in Width::available() {
            let mut got = values.clone();
            silu_fast_at(width, &mut got);
            for ((&x, &want), &got) in values.iter().zip(&exact).zip(&got) {
                let tolerance = 4.0 * f32::EPSILON * want.abs() + 1e-30;
                assert!(
                    (got - want).abs() <= tolerance,
                    "silu({x}): {got} vs {want}"
                );
            }
            let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(
                first.get_or_insert_with(|| bits.clone()),
                &bits,
                "{width:?}"
            );
        }
    }

    /// The fused residual layer norm computes candle's `layer_norm(residual + x)` to the bit,
    /// for full groups of rows and a partial one, at every width.
    #[test]
    fn residual_layer_norm_gives_candles_bits_at_every_width() {
        let (rows, d) = (NORM_GROUP + 3, 512);
        let residual = spread(rows * d, 4);
        let x = spread(rows * d, 5);
        let (weight, bias) = (spread(d, 6), spread(d, 7));
        let tensor =
            |v: &[f32], shape: &[usize]| Tensor::from_slice(v, shape, &Device::Cpu).unwrap();
        let sum = (tensor(&residual, &[rows, d]) + tensor(&x, &[rows, d])).unwrap();
        let want: Vec<u32> = candle_nn::ops::layer_norm(
            &sum,
            &tensor(&weight, &[d]),
            &tensor(&bias, &[d]),
            LAYER_NORM_EPS,
        )
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
        let norm = LayerNorm { weight, bias };
        for width in Width::available() {
            let mut got = vec![0f32; rows * d];
            for ((out, r), x) in got
                .chunks_mut(NORM_GROUP * d)
                .zip(residual.chunks(NORM_GROUP * d))
                .zip(x.chunks(NORM_GROUP * d))
            {
                residual_norm_rows_at(width, r, x, &norm.weight, &norm.bias, out);
            }
            let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "{width:?}");
        }
        let through_tensors = norm
            .residual(&tensor(&residual, &[rows, d]), &tensor(&x, &[rows, d]))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(
            through_tensors
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            want
        );
    }
}
