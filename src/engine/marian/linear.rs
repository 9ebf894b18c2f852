//! Dense layers `y = x·Wᵀ + b` with their weights packed once, at load, for rten-gemm's kernels.
//!
//! A decoder step multiplies the same weight matrices hundreds of times; candle's gemm re-packs
//! the weights on every call (9 % of a beam-4 run in `perf`), so the weights are packed here once
//! and the bias is added inside the gemm. Two precisions:
//!
//! * **f32** (the default): exact float products, token-exact with transformers on the goldens.
//! * **int8** (`--precision int8`): weights quantized symmetrically per output channel when the
//!   model loads, activations per row on every call (scale = max |x| / 127, shifted by 128 into
//!   u8, as the u8×i8 instructions want), products accumulated in i32, then scaled back to f32
//!   with the bias added. Layer norms, softmax and attention stay f32.
//!
//! The int8 products are exact integer sums on every CPU, so int8 translates the same everywhere
//! (issue 19). rten-gemm chooses its kernels at run time from the CPU: AVX-512 with VNNI's
//! `vpdpbusd`, dot-product / i8mm on ARM, a portable fallback — all exact. Its AVX2 kernel (and
//! AVX-512 without VNNI) uses `vpmaddubsw`, whose i16 pair sums saturate for full 8-bit values;
//! there the layers use our own kernel instead ([`super::int8_widened`]: i16 × i16 pairs with
//! `vpmaddwd`, which cannot). [`Int8Kernel`] names the two; `DE2EN_INT8_KERNEL` or
//! [`with_int8_kernel`] force one (tests, benchmarks). rten-gemm's kernel forced onto a CPU where it
//! could saturate gets 7-bit activations (±63), the arithmetic before issue 19.

use candle_core::{Device, Storage, Tensor};
use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;
use rten_gemm::{
    BiasVector, GemmExecutor, GemmInputA, GemmInputB, GemmUninitOptions, PackedBMatrix, QuantParams,
};
use rten_tensor::NdTensorView;

use super::int8_widened;
use crate::engine::EngineError;
pub use crate::engine::settings::Precision;
use crate::engine::wide;

/// Runs `f` on the f32 contents of `t` (made contiguous first), without copying.
pub(super) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R, EngineError> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => {
            let all = cpu.as_slice::<f32>()?;
            let start = layout.start_offset();
            let data = all.get(start..start + t.elem_count()).ok_or_else(|| {
                candle_core::Error::Msg("tensor storage shorter than its layout".into())
            })?;
            Ok(f(data))
        }
        _ => Err(candle_core::Error::Msg("the Marian engine runs on the CPU only".into()).into()),
    }
}

/// The kernel that multiplies int8 layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// rten-gemm's, as it chooses for the CPU (VNNI, ARM dot products, portable; on CPUs where its
    /// products could saturate, with 7-bit activations).
    Rten,
    /// [`super::int8_widened`]: AVX2, exact for full 8-bit values.
    Widened,
}

impl Int8Kernel {
    /// What this CPU runs by default: rten-gemm's where its sums are exact, else the widened
    /// kernel where the CPU has AVX2 (else rten-gemm's with 7-bit activations).
    pub fn for_this_cpu() -> Self {
        if INT8_GEMM.with(|g| g.may_saturate()) && int8_widened::is_available() {
            Self::Widened
        } else {
            Self::Rten
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Self::Rten => true,
            Self::Widened => int8_widened::is_available(),
        }
    }

    /// Whether the kernel's products are exact for full 8-bit activations here.
    pub fn is_exact(self) -> bool {
        match self {
            Self::Rten => !INT8_GEMM.with(|g| g.may_saturate()),
            Self::Widened => true,
        }
    }

    /// The kernel for layers packed now: [`with_int8_kernel`]'s, else `DE2EN_INT8_KERNEL`'s
    /// (`rten` or `widened`), else [`Int8Kernel::for_this_cpu`].
    fn chosen() -> Result<Self, EngineError> {
        let kernel = match KERNEL_OVERRIDE.with(std::cell::Cell::get) {
            Some(kernel) => kernel,
            None => match std::env::var("DE2EN_INT8_KERNEL").as_deref() {
                Err(_) | Ok("") | Ok("auto") => Self::for_this_cpu(),
                Ok("rten") => Self::Rten,
                Ok("widened") => Self::Widened,
                Ok(other) => {
                    return Err(EngineError::InvalidOption(format!(
                        "DE2EN_INT8_KERNEL={other}: use auto, rten or widened"
                    )));
                }
            },
        };
        if kernel.is_available() {
            Ok(kernel)
        } else {
            Err(EngineError::InvalidOption(format!(
                "the {kernel:?} int8 kernel needs AVX2, which this CPU lacks"
            )))
        }
    }
}

thread_local! {
    static KERNEL_OVERRIDE: std::cell::Cell<Option<Int8Kernel>> = const { std::cell::Cell::new(None) };
}

/// Runs `load` with every int8 layer it packs on this thread multiplied by `kernel` (a test hook:
/// one process can compare the kernels, where an environment variable would be process-wide).
pub fn with_int8_kernel<R>(kernel: Int8Kernel, load: impl FnOnce() -> R) -> R {
    let previous = KERNEL_OVERRIDE.with(|k| k.replace(Some(kernel)));
    let result = load();
    KERNEL_OVERRIDE.with(|k| k.set(previous));
    result
}

thread_local! {
    // An executor is its CPU's kernel choice; it is not `Sync`, so each thread has its own (every
    // thread picks the same kernels, so weights packed by one fit the others).
    static F32_GEMM: GemmExecutor<f32, f32, f32> = GemmExecutor::default();
    static INT8_GEMM: GemmExecutor<u8, i8, i32> = GemmExecutor::default();
}

enum Weights {
    F32(PackedBMatrix<f32>),
    Int8 {
        packed: PackedInt8,
        /// Per output channel: the weight of quantized value 1.
        scales: Vec<f32>,
    },
}

/// int8 weights packed for the kernel that multiplies them.
enum PackedInt8 {
    /// rten-gemm's packing, in blocks of output columns (see [`COLUMN_BLOCK`]).
    Rten(Vec<ColumnBlock>),
    Widened(int8_widened::PackedWeights),
}

/// The output columns `first..first + count` of an int8 layer, packed for rten-gemm.
struct ColumnBlock {
    first: usize,
    count: usize,
    packed: PackedBMatrix<i8>,
}

/// Output columns per block of a wide int8 layer. A layer as wide as the output projection (58 101
/// columns, 30 MB of i32 sums at beam 4 batch 32) is multiplied a block at a time, each block's
/// sums scaled to f32 while they are still in the cache (4 MB at 128 rows): with the whole layer
/// at once, the sums went to memory, were read back and written again to be scaled — twice the
/// memory traffic of the f32 outputs alone, on every decoder step.
const COLUMN_BLOCK: usize = 8192;
// The widened kernel takes column ranges that start on one of its panels.
const _: () = assert!(COLUMN_BLOCK.is_multiple_of(int8_widened::COLUMN_STEP));

/// A dense layer over 2-D inputs `[rows, in_dim]`.
pub struct Dense {
    in_dim: usize,
    out_dim: usize,
    weights: Weights,
    bias: Option<Vec<f32>>,
}

impl Dense {
    /// Packs `weight` (`[out_dim, in_dim]`, transformers' layout) for `precision`.
    pub fn new(
        weight: &Tensor,
        bias: Option<&Tensor>,
        precision: Precision,
    ) -> Result<Self, EngineError> {
        let (out_dim, in_dim) = weight.dims2()?;
        let bias = bias
            .map(|b| b.flatten_all()?.to_vec1::<f32>())
            .transpose()?;
        if let Some(b) = &bias
            && b.len() != out_dim
        {
            return Err(candle_core::Error::Msg(format!(
                "bias of {} values for {out_dim} outputs",
                b.len()
            ))
            .into());
        }
        let int8_kernel = match precision {
            Precision::F32 => None,
            Precision::Int8 => Some(Int8Kernel::chosen()?),
        };
        // Packed straight from the tensor's storage: a copy of the 58 101-row output projection
        // first would add 119 MB to the peak while loading.
        with_f32(weight, |values| {
            Self::from_rows(values, out_dim, in_dim, bias, int8_kernel)
        })
    }

    /// Stacks layers that read the same input into one wider layer (one gemm instead of several).
    pub fn fused(
        parts: &[(&Tensor, Option<&Tensor>)],
        precision: Precision,
    ) -> Result<Self, EngineError> {
        let weights: Vec<&Tensor> = parts.iter().map(|(w, _)| *w).collect();
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|(_, b)| *b).collect();
        let weight = Tensor::cat(&weights, 0)?;
        let bias = biases.map(|b| Tensor::cat(&b, 0)).transpose()?;
        Self::new(&weight, bias.as_ref(), precision)
    }

    fn from_rows(
        values: &[f32],
        out_dim: usize,
        in_dim: usize,
        bias: Option<Vec<f32>>,
        int8_kernel: Option<Int8Kernel>,
    ) -> Self {
        // `values` is W: [out, in]; the gemm computes x · Wᵀ, so B is W viewed transposed.
        let weights = match int8_kernel {
            None => {
                let w = NdTensorView::from_data([out_dim, in_dim], values);
                Weights::F32(F32_GEMM.with(|g| g.prepack_b(w.transposed())))
            }
            Some(kernel) => {
                let (quantized, scales) = quantize_rows(values, in_dim);
                let packed = match kernel {
                    Int8Kernel::Rten => {
                        let blocks = column_blocks(out_dim)
                            .into_iter()
                            .map(|columns| {
                                let (first, count) = (columns.start, columns.len());
                                let w = NdTensorView::from_data(
                                    [count, in_dim],
                                    &quantized[first * in_dim..(first + count) * in_dim],
                                );
                                ColumnBlock {
                                    first,
                                    count,
                                    packed: INT8_GEMM.with(|g| g.prepack_b(w.transposed())),
                                }
                            })
                            .collect();
                        PackedInt8::Rten(blocks)
                    }
                    Int8Kernel::Widened => PackedInt8::Widened(int8_widened::PackedWeights::pack(
                        &quantized, out_dim, in_dim,
                    )),
                };
                Weights::Int8 { packed, scales }
            }
        };
        Self {
            in_dim,
            out_dim,
            weights,
            bias,
        }
    }

    /// `x·Wᵀ + b` for `x` of shape `[rows, in_dim]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, EngineError> {
        let rows = x.dims2()?.0;
        let out = self.forward_vec(x)?;
        Ok(Tensor::from_vec(out, (rows, self.out_dim), &Device::Cpu)?)
    }

    /// [`Self::forward`]'s values, `[rows, out_dim]` row by row, for a caller that goes on
    /// working on them in place.
    pub fn forward_vec(&self, x: &Tensor) -> Result<Vec<f32>, EngineError> {
        let (rows, in_dim) = x.dims2()?;
        if in_dim != self.in_dim {
            return Err(candle_core::Error::Msg(format!(
                "dense layer of {} inputs got {in_dim}",
                self.in_dim
            ))
            .into());
        }
        with_f32(x, |values| self.forward_slice(values, rows))?
    }

    /// The number of outputs per row.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Whether the weights are int8 (outputs already differ from transformers' by int8's
    /// rounding, so what follows may round differently too).
    pub fn is_int8(&self) -> bool {
        matches!(self.weights, Weights::Int8 { .. })
    }

    /// `x·Wᵀ + b` for `rows` rows of `in_dim` values in `x`.
    pub fn forward_slice(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, EngineError> {
        if rows == 0 || self.out_dim == 0 {
            return Ok(vec![0.0; rows * self.out_dim]);
        }
        match &self.weights {
            Weights::F32(packed) => {
                let a = NdTensorView::from_data([rows, self.in_dim], x);
                let mut out = Vec::with_capacity(rows * self.out_dim);
                F32_GEMM
                    .with(|gemm| {
                        gemm.gemm_uninit(
                            &mut out.spare_capacity_mut()[..rows * self.out_dim],
                            GemmInputA::Unpacked(a),
                            GemmInputB::Packed(packed),
                            GemmUninitOptions {
                                bias: self.bias.as_deref().map(BiasVector::Row),
                                ..Default::default()
                            },
                        )
                        .map(|_| ())
                    })
                    .map_err(gemm_error)?;
                // SAFETY: `gemm_uninit` succeeded, so it wrote every one of the elements.
                unsafe { out.set_len(rows * self.out_dim) };
                Ok(out)
            }
            Weights::Int8 { packed, scales } => {
                let activations = match packed {
                    PackedInt8::Rten(_) => Activations::Rten(self.quantize_for_rten(x, rows)),
                    PackedInt8::Widened(packed) => {
                        Activations::Widened(self.quantize_for_widened(x, rows, packed))
                    }
                };
                let blocks: Vec<Range<usize>> = match packed {
                    PackedInt8::Rten(blocks) => {
                        blocks.iter().map(|b| b.first..b.first + b.count).collect()
                    }
                    PackedInt8::Widened(_) => column_blocks(self.out_dim),
                };
                let sums_of =
                    |index: usize, out: &mut [MaybeUninit<i32>]| match (packed, &activations) {
                        (PackedInt8::Rten(packed), Activations::Rten(activations)) => {
                            rten_int8_sums(activations, &packed[index].packed, out).map(drop)
                        }
                        (PackedInt8::Widened(packed), Activations::Widened((levels, _))) => {
                            int8_widened::multiply_columns(
                                levels,
                                rows,
                                packed,
                                blocks[index].clone(),
                                out,
                            );
                            Ok(())
                        }
                        _ => unreachable!("activations are quantized for the weights' kernel"),
                    };
                let row_scales = activations.row_scales();
                if blocks.len() == 1 {
                    self.int8_in_place(rows, row_scales, scales, sums_of)
                } else {
                    self.int8_by_blocks(rows, row_scales, scales, &blocks, sums_of)
                }
            }
        }
    }

    /// A narrow int8 layer: its sums, scaled back to f32 in place (no second buffer).
    fn int8_in_place(
        &self,
        rows: usize,
        row_scales: &[f32],
        scales: &[f32],
        sums_of: impl Fn(usize, &mut [MaybeUninit<i32>]) -> Result<(), EngineError>,
    ) -> Result<Vec<f32>, EngineError> {
        let mut accumulated: Vec<i32> = Vec::with_capacity(rows * self.out_dim);
        sums_of(
            0,
            &mut accumulated.spare_capacity_mut()[..rows * self.out_dim],
        )?;
        // SAFETY: `sums_of` succeeded, so it wrote every element.
        unsafe { accumulated.set_len(rows * self.out_dim) };
        accumulated
            .par_chunks_mut(self.out_dim)
            .zip(row_scales.par_iter())
            .for_each(|(row, &row_scale)| {
                dequantize_row(row, row_scale, scales, self.bias.as_deref());
            });
        let mut accumulated = std::mem::ManuallyDrop::new(accumulated);
        let (pointer, length, capacity) = (
            accumulated.as_mut_ptr(),
            accumulated.len(),
            accumulated.capacity(),
        );
        // SAFETY: every element now holds the bits of an f32 (`dequantize_row`), i32 and f32
        // have the same size and alignment, and the allocation changes owner once.
        Ok(unsafe { Vec::from_raw_parts(pointer.cast::<f32>(), length, capacity) })
    }
}

/// The column blocks of a layer of `columns` outputs: one when it is narrow, else
/// [`COLUMN_BLOCK`] columns each (the last one narrower).
fn column_blocks(columns: usize) -> Vec<Range<usize>> {
    let block = if columns > 2 * COLUMN_BLOCK {
        COLUMN_BLOCK
    } else {
        columns.max(1)
    };
    (0..columns)
        .step_by(block)
        .map(|first| first..(first + block).min(columns))
        .collect()
}

/// A layer's input rows, quantized for its kernel.
enum Activations {
    Rten(RtenActivations),
    /// i16 levels of each row (padded to the kernel's depth) and each row's scale.
    Widened((Vec<i16>, Vec<f32>)),
}

impl Activations {
    fn row_scales(&self) -> &[f32] {
        match self {
            Self::Rten(activations) => &activations.row_scales,
            Self::Widened((_, scales)) => scales,
        }
    }
}

impl Dense {
    /// `x`'s rows quantized for rten-gemm: u8 levels around a zero point, and each row's scale.
    fn quantize_for_rten(&self, x: &[f32], rows: usize) -> RtenActivations {
        let limit = activation_limit();
        let zero_point = limit as u8 + 1;
        let mut levels = vec![0u8; rows * self.in_dim];
        let mut row_scales = vec![0f32; rows];
        levels
            .par_chunks_mut(self.in_dim)
            .zip(row_scales.par_iter_mut())
            .zip(x.par_chunks(self.in_dim))
            .with_min_len(16)
            .for_each(|((q, scale), row)| {
                *scale = quantize_activations(row, q, limit, zero_point);
            });
        RtenActivations {
            levels,
            rows,
            depth: self.in_dim,
            zero_points: vec![zero_point; rows],
            row_scales,
        }
    }

    /// A wide int8 layer a block of columns at a time: each block's sums go to a buffer that stays
    /// in the cache and are scaled from there into the f32 outputs (see [`COLUMN_BLOCK`]).
    fn int8_by_blocks(
        &self,
        rows: usize,
        row_scales: &[f32],
        scales: &[f32],
        blocks: &[Range<usize>],
        sums_of: impl Fn(usize, &mut [MaybeUninit<i32>]) -> Result<(), EngineError>,
    ) -> Result<Vec<f32>, EngineError> {
        let widest = blocks.iter().map(Range::len).max().unwrap_or(0);
        let mut buffer: Vec<i32> = Vec::with_capacity(rows * widest);
        let mut out: Vec<f32> = Vec::with_capacity(rows * self.out_dim);
        let output = SharedRows(out.as_mut_ptr());
        for (index, columns) in blocks.iter().enumerate() {
            let count = columns.len();
            let sums = &mut buffer.spare_capacity_mut()[..rows * count];
            sums_of(index, sums)?;
            // SAFETY: `sums_of` succeeded, so it wrote all of `sums`.
            let sums =
                unsafe { std::slice::from_raw_parts(sums.as_ptr().cast::<i32>(), rows * count) };
            let bias = self.bias.as_deref().map(|b| &b[columns.clone()]);
            sums.par_chunks(count)
                .zip(row_scales.par_iter())
                .enumerate()
                .for_each(|(row, (sums, &row_scale))| {
                    // SAFETY: each task writes its own row's columns of this block, inside
                    // `rows × out_dim`; no two tasks or blocks write the same element.
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(
                            output.get().add(row * self.out_dim + columns.start),
                            count,
                        )
                    };
                    dequantize_into(sums, row_scale, &scales[columns.clone()], bias, out);
                });
        }
        // SAFETY: the blocks cover every column, and every row of each was written above.
        unsafe { out.set_len(rows * self.out_dim) };
        Ok(out)
    }

    /// The i32 sums of `x`'s quantized rows with the weights, by the widened AVX2 kernel, and each
    /// row's scale: the same levels and sums as rten-gemm's exact kernels.
    fn quantize_for_widened(
        &self,
        x: &[f32],
        rows: usize,
        packed: &int8_widened::PackedWeights,
    ) -> (Vec<i16>, Vec<f32>) {
        let depth = packed.padded_depth();
        let mut levels = vec![0i16; rows * depth];
        let mut row_scales = vec![0f32; rows];
        levels
            .par_chunks_mut(depth)
            .zip(row_scales.par_iter_mut())
            .zip(x.par_chunks(self.in_dim))
            .with_min_len(16)
            .for_each(|((q, scale), row)| {
                *scale = quantize_levels(row, &mut q[..self.in_dim]);
            });
        (levels, row_scales)
    }
}

/// Activations quantized for rten-gemm (see [`Dense::quantize_for_rten`]).
struct RtenActivations {
    levels: Vec<u8>,
    rows: usize,
    depth: usize,
    zero_points: Vec<u8>,
    row_scales: Vec<f32>,
}

/// The i32 sums of the quantized activations with `packed`'s columns, by rten-gemm's kernel, into
/// `out` (`[rows, columns]`), returned initialised.
fn rten_int8_sums<'o>(
    activations: &RtenActivations,
    packed: &PackedBMatrix<i8>,
    out: &'o mut [std::mem::MaybeUninit<i32>],
) -> Result<&'o mut [i32], EngineError> {
    let a = NdTensorView::from_data(
        [activations.rows, activations.depth],
        activations.levels.as_slice(),
    );
    INT8_GEMM
        .with(|gemm| {
            gemm.gemm_uninit(
                out,
                GemmInputA::Unpacked(a),
                GemmInputB::Packed(packed),
                GemmUninitOptions {
                    a_quant: Some(QuantParams {
                        zero_point: &activations.zero_points,
                    }),
                    ..Default::default()
                },
            )
        })
        .map_err(gemm_error)
}

/// The f32 output buffer of [`Dense::rten_int8_by_blocks`], written by several tasks at disjoint
/// elements.
#[derive(Clone, Copy)]
struct SharedRows(*mut f32);
// SAFETY: the tasks write disjoint elements, and the buffer outlives them.
unsafe impl Send for SharedRows {}
unsafe impl Sync for SharedRows {}

impl SharedRows {
    /// A method, so closures capture the whole (Send) wrapper rather than its raw-pointer field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn gemm_error(e: rten_gemm::GemmError) -> EngineError {
    EngineError::Tensor(candle_core::Error::Msg(format!("gemm failed: {e}")))
}

/// The largest quantized activation: 127, or 63 where the kernel's i16 pair sums could saturate.
fn activation_limit() -> f32 {
    if INT8_GEMM.with(|g| g.may_saturate()) {
        63.0
    } else {
        127.0
    }
}

/// Symmetric per-row int8 quantization of `[rows, width]` values: the quantized rows and, per row,
/// the value of step 1 (`max |w| / 127`; 1 for an all-zero row).
fn quantize_rows(values: &[f32], width: usize) -> (Vec<i8>, Vec<f32>) {
    let mut quantized = vec![0i8; values.len()];
    let scales: Vec<f32> = quantized
        .par_chunks_mut(width.max(1))
        .zip(values.par_chunks(width.max(1)))
        .map(|(q, row)| {
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            for (q, v) in q.iter_mut().zip(row) {
                *q = (v / scale).round().clamp(-127.0, 127.0) as i8;
            }
            scale
        })
        .collect();
    (quantized, scales)
}

wide::dispatched! {
    /// Quantizes one activation row to `zero_point ± limit` (u8) and returns its scale.
    fn quantize_activations / quantize_activations_at(
        row: &[f32],
        out: &mut [u8],
        limit: f32,
        zero_point: u8,
    ) -> f32 {
        let scale = row_scale(row, limit);
        let inverse = 1.0 / scale;
        let offset = i32::from(zero_point);
        for (q, v) in out.iter_mut().zip(row) {
            let scaled = v * inverse;
            // NaN becomes 0, as the saturating `as u8` this replaced made it.
            *q = if scaled.is_nan() { 0 } else { (level(scaled, limit) + offset) as u8 };
        }
        scale
    }
}

wide::dispatched! {
    /// Quantizes one activation row to signed levels ±127 (for the widened kernel) and returns its
    /// scale: the levels [`quantize_activations`] gives at limit 127, without the zero point.
    fn quantize_levels / quantize_levels_at(row: &[f32], out: &mut [i16]) -> f32 {
        let limit = 127.0;
        let scale = row_scale(row, limit);
        let inverse = 1.0 / scale;
        for (q, v) in out.iter_mut().zip(row) {
            let scaled = v * inverse;
            *q = if scaled.is_nan() { 0 } else { level(scaled, limit) as i16 };
        }
        scale
    }
}

/// A row's scale: the value of quantized step 1 so that its largest |value| maps to `limit`.
#[inline(always)]
fn row_scale(row: &[f32], limit: f32) -> f32 {
    // Sixteen lanes: a maximum does not depend on the order it is taken in (NaN is ignored
    // either way), and one running maximum would be a chain the compiler cannot vectorise.
    let mut lanes = [0f32; 16];
    let mut groups = row.chunks_exact(16);
    for group in &mut groups {
        for (lane, v) in lanes.iter_mut().zip(group) {
            *lane = lane.max(v.abs());
        }
    }
    let max = lanes
        .iter()
        .chain(groups.remainder())
        .fold(0f32, |m, v| m.max(v.abs()));
    // A NaN or infinite activation would poison the row either way; keep the arithmetic finite.
    if max > 0.0 && max.is_finite() {
        max / limit
    } else {
        1.0
    }
}

/// `value` clamped to ±`limit` and rounded to the nearest integer, ties to even, read from the
/// bits of the rounded float (NaN gives some level; the callers replace it). Adding 1.5·2²³
/// rounds without a call to `roundf` per element, and reading the bits avoids a saturating
/// float-to-int conversion: neither vectorises, and these are most of the quantisation's work.
#[inline(always)]
fn level(value: f32, limit: f32) -> i32 {
    const ROUND: f32 = 12_582_912.0;
    // In [2²³, 2²⁴) a float counts in steps of 1, so its bits minus ROUND's are the level.
    let shifted = value.clamp(-limit, limit) + ROUND;
    (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32)
}

wide::dispatched! {
    /// Turns one row of i32 sums into f32 outputs, in place (each slot ends up holding an f32's
    /// bits).
    fn dequantize_row / dequantize_row_at(
        row: &mut [i32],
        row_scale: f32,
        column_scales: &[f32],
        bias: Option<&[f32]>,
    ) {
        match bias {
            Some(bias) => {
                for ((slot, &scale), &b) in row.iter_mut().zip(column_scales).zip(bias) {
                    let value = *slot as f32 * (row_scale * scale) + b;
                    *slot = value.to_bits() as i32;
                }
            }
            None => {
                for (slot, &scale) in row.iter_mut().zip(column_scales) {
                    let value = *slot as f32 * (row_scale * scale);
                    *slot = value.to_bits() as i32;
                }
            }
        }
    }
}

wide::dispatched! {
    /// [`dequantize_row`] from one buffer into another: the same values, the same bits.
    fn dequantize_into / dequantize_into_at(
        sums: &[i32],
        row_scale: f32,
        column_scales: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        match bias {
            Some(bias) => {
                for (((out, &sum), &scale), &b) in
                    out.iter_mut().zip(sums).zip(column_scales).zip(bias)
                {
                    *out = sum as f32 * (row_scale * scale) + b;
                }
            }
            None => {
                for ((out, &sum), &scale) in out.iter_mut().zip(sums).zip(column_scales) {
                    *out = sum as f32 * (row_scale * scale);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wide::Width;

    /// A reproducible spread of values in [-1, 1) (no rand dependency in the library).
    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// `x·Wᵀ + b` in f64, the plain way.
    fn reference(x: &[f32], w: &[f32], b: &[f32], rows: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let dot: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[c * k + i] as f64)
                    .sum();
                out[r * n + c] = (dot + b[c] as f64) as f32;
            }
        }
        out
    }

    fn dense(w: &[f32], b: &[f32], n: usize, k: usize, precision: Precision) -> Dense {
        let weight = Tensor::from_vec(w.to_vec(), (n, k), &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(b.to_vec(), n, &Device::Cpu).unwrap();
        Dense::new(&weight, Some(&bias), precision).unwrap()
    }

    /// Every int8 kernel this CPU can run, the one it runs by default first.
    fn int8_kernels() -> Vec<Int8Kernel> {
        let default = Int8Kernel::for_this_cpu();
        let mut kernels = vec![default];
        kernels.extend(
            [Int8Kernel::Rten, Int8Kernel::Widened]
                .into_iter()
                .filter(|k| *k != default && k.is_available()),
        );
        kernels
    }

    fn int8_dense(w: &[f32], b: &[f32], n: usize, k: usize, kernel: Int8Kernel) -> Dense {
        with_int8_kernel(kernel, || dense(w, b, n, k, Precision::Int8))
    }

    /// The largest activation level `kernel` quantizes to.
    fn limit_of(kernel: Int8Kernel) -> f32 {
        match kernel {
            Int8Kernel::Rten => activation_limit(),
            Int8Kernel::Widened => 127.0,
        }
    }

    /// Odd shapes: rows, inner and output sizes that are not multiples of any vector width or of
    /// the 4 bytes a VNNI dot product takes.
    const SHAPES: [(usize, usize, usize); 7] = [
        (1, 1, 1),
        (1, 3, 5),
        (3, 5, 7),
        (17, 33, 65),
        (4, 130, 31),
        (33, 512, 129),
        (128, 67, 1001),
    ];

    #[test]
    fn f32_layers_match_the_plain_product() {
        for (i, &(rows, k, n)) in SHAPES.iter().enumerate() {
            let (x, w, b) = (
                values(rows * k, i as u64),
                values(n * k, 100 + i as u64),
                values(n, 200 + i as u64),
            );
            let got = dense(&w, &b, n, k, Precision::F32)
                .forward_slice(&x, rows)
                .unwrap();
            let want = reference(&x, &w, &b, rows, k, n);
            for (g, e) in got.iter().zip(&want) {
                assert!(
                    (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "{rows}×{k}×{n}: {g} vs {e}"
                );
            }
        }
    }

    /// What the int8 layer must compute exactly: the products of the quantized values, summed in
    /// integers, scaled back.
    fn int8_reference(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        rows: usize,
        k: usize,
        n: usize,
        limit: f32,
    ) -> Vec<f32> {
        let (wq, w_scales) = quantize_rows(w, k);
        let zero_point = limit as u8 + 1;
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            let mut xq = vec![0u8; k];
            let x_scale = quantize_activations(&x[r * k..][..k], &mut xq, limit, zero_point);
            for c in 0..n {
                let acc: i64 = (0..k)
                    .map(|i| (xq[i] as i64 - zero_point as i64) * wq[c * k + i] as i64)
                    .sum();
                out[r * n + c] = acc as i32 as f32 * (x_scale * w_scales[c]) + b[c];
            }
        }
        out
    }

    /// A layer wider than two [`COLUMN_BLOCK`]s (the output projection) is multiplied and scaled
    /// block by block, with the bits of the layer taken whole: with and without a bias, rows of a
    /// beam-4 batch-32 step and a single one, a last block narrower than the others.
    #[test]
    fn wide_int8_layers_give_the_quantized_product_block_by_block() {
        let (k, n) = (7, 2 * COLUMN_BLOCK + 1003);
        let w = values(n * k, 21);
        let b = values(n, 22);
        assert_eq!(column_blocks(n).len(), 3);
        for rows in [1, 128] {
            for kernel in int8_kernels() {
                let x = values(rows * k, 23 + rows as u64);
                let layer = int8_dense(&w, &b, n, k, kernel);
                let want = int8_reference(&x, &w, &b, rows, k, n, limit_of(kernel));
                let got = layer.forward_slice(&x, rows).unwrap();
                assert_eq!(got, want, "{kernel:?}, {rows} rows");
                let unbiased =
                    with_int8_kernel(kernel, || Dense::from_rows(&w, n, k, None, Some(kernel)));
                let zero = vec![0f32; n];
                let want = int8_reference(&x, &w, &zero, rows, k, n, limit_of(kernel));
                let got = unbiased.forward_slice(&x, rows).unwrap();
                assert_eq!(got, want, "{kernel:?}, {rows} rows, no bias");
            }
        }
    }

    /// [`dequantize_into`] gives [`dequantize_row`]'s bits at every width.
    #[test]
    fn dequantisation_into_a_buffer_gives_the_same_bits() {
        let sums: Vec<i32> = (0..1001).map(|i| (i * 7919 % 20011) - 10005).collect();
        let (scales, bias) = (values(1001, 31), values(1001, 32));
        for bias in [Some(bias.as_slice()), None] {
            let mut in_place = sums.clone();
            dequantize_row_at(Width::Portable, &mut in_place, 0.37, &scales, bias);
            let want: Vec<u32> = in_place.iter().map(|&v| v as u32).collect();
            for width in Width::available() {
                let mut out = vec![0f32; sums.len()];
                dequantize_into_at(width, &sums, 0.37, &scales, bias, &mut out);
                let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{width:?}");
            }
        }
    }

    #[test]
    fn int8_layers_compute_the_quantized_product_exactly() {
        for kernel in int8_kernels() {
            for (i, &(rows, k, n)) in SHAPES.iter().enumerate() {
                let (x, w, b) = (
                    values(rows * k, 300 + i as u64),
                    values(n * k, 400 + i as u64),
                    values(n, 500 + i as u64),
                );
                let got = int8_dense(&w, &b, n, k, kernel)
                    .forward_slice(&x, rows)
                    .unwrap();
                assert_eq!(
                    got,
                    int8_reference(&x, &w, &b, rows, k, n, limit_of(kernel)),
                    "{kernel:?} {rows}×{k}×{n}"
                );
            }
        }
    }

    /// The kernel a CPU runs by default has full 8-bit activations: on AVX2 without VNNI (issue 19)
    /// as on AVX-512 VNNI.
    #[test]
    fn int8_default_kernel_is_exact_on_this_cpu() {
        let kernel = Int8Kernel::for_this_cpu();
        if Int8Kernel::Widened.is_available() {
            assert!(kernel.is_exact(), "{kernel:?} saturates on this CPU");
        }
        println!("int8 kernel on this CPU: {kernel:?}");
    }

    /// Where both kernels are exact here, they give the same bits: the widened AVX2 kernel
    /// computes what VNNI computes, so an AVX-512 VNNI machine checks the AVX2 arithmetic.
    #[test]
    fn int8_kernels_agree_bit_for_bit() {
        let exact: Vec<Int8Kernel> = int8_kernels()
            .into_iter()
            .filter(|k| k.is_exact())
            .collect();
        let (rows, k, n) = (37, 512, 203);
        let (x, w, b) = (values(rows * k, 21), values(n * k, 22), values(n, 23));
        let outputs: Vec<Vec<f32>> = exact
            .iter()
            .map(|&kernel| {
                int8_dense(&w, &b, n, k, kernel)
                    .forward_slice(&x, rows)
                    .unwrap()
            })
            .collect();
        for (kernel, out) in exact.iter().zip(&outputs).skip(1) {
            assert_eq!(out, &outputs[0], "{kernel:?} vs {:?}", exact[0]);
        }
    }

    #[test]
    fn int8_layers_stay_close_to_f32() {
        let (rows, k, n) = (16, 512, 300);
        let (x, w, b) = (values(rows * k, 7), values(n * k, 8), values(n, 9));
        let want = reference(&x, &w, &b, rows, k, n);
        // The default kernel and every other one with full 8-bit activations here; rten-gemm's
        // forced onto a CPU where it must cut activations to 7 bits is not a default path.
        for kernel in int8_kernels()
            .into_iter()
            .filter(|k| k.is_exact() || *k == Int8Kernel::for_this_cpu())
        {
            let got = int8_dense(&w, &b, n, k, kernel)
                .forward_slice(&x, rows)
                .unwrap();
            // Each product carries ≲ 1/127 relative error per factor; over 512 terms of random
            // sign the sum's error stays a small fraction of its typical size (√512 · 1/3 ≈ 7.5).
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, e)| (g - e).abs())
                .fold(0f32, f32::max);
            println!("int8 ({kernel:?}) deviates from f32 by at most {worst}");
            assert!(worst < 0.15, "int8 ({kernel:?}) deviates by {worst}");
        }
    }

    #[test]
    fn int8_extremes_zeros_and_full_scale() {
        for kernel in int8_kernels() {
            let (rows, k, n) = (3, 37, 9);
            // Row 0 all zero; row 1 at ±max everywhere (quantizes to ±127 / ±63); row 2 one spike.
            let mut x = vec![0f32; rows * k];
            for i in 0..k {
                x[k + i] = if i % 2 == 0 { 3.0 } else { -3.0 };
            }
            x[2 * k + 5] = 1000.0;
            // Weights: one all-zero output channel, one at full scale, the rest random.
            let mut w = values(n * k, 11);
            w[..k].fill(0.0);
            for i in 0..k {
                w[k + i] = if i % 3 == 0 { -1.0 } else { 1.0 };
            }
            let b = values(n, 12);
            let got = int8_dense(&w, &b, n, k, kernel)
                .forward_slice(&x, rows)
                .unwrap();
            assert_eq!(
                got,
                int8_reference(&x, &w, &b, rows, k, n, limit_of(kernel)),
                "{kernel:?}"
            );
            // The all-zero input row gives exactly the bias.
            assert_eq!(&got[..n], &b[..]);
            // Full-scale values are represented exactly: row 1 · channel 1 equals the f32 product.
            let exact: f32 = (0..k).map(|i| x[k + i] * w[k + i]).sum::<f32>() + b[1];
            assert!(
                (got[n + 1] - exact).abs() < 1e-3,
                "{kernel:?}: {} vs {exact}",
                got[n + 1]
            );
        }
    }

    #[test]
    fn activation_quantization_covers_both_ranges() {
        let row = [0.6f32, -1.0, 0.3, 0.0, 1.0];
        let mut q = [0u8; 5];
        let scale = quantize_activations(&row, &mut q, 127.0, 128);
        assert_eq!(q, [204, 1, 166, 128, 255]);
        assert!((scale - 1.0 / 127.0).abs() < 1e-9);
        // 7-bit range for kernels whose pair sums could saturate: never above 127.
        let scale = quantize_activations(&row, &mut q, 63.0, 64);
        assert_eq!(q, [102, 1, 83, 64, 127]);
        assert!((scale - 1.0 / 63.0).abs() < 1e-9);
        // Non-finite input keeps a finite scale.
        let scale = quantize_activations(&[f32::NAN, 1.0], &mut q[..2], 127.0, 128);
        assert!(scale.is_finite());
        // Signed levels for the widened kernel: the same levels without the zero point.
        let mut levels = [0i16; 5];
        let scale = quantize_levels(&row, &mut levels);
        assert_eq!(levels, [76, -127, 38, 0, 127]);
        assert!((scale - 1.0 / 127.0).abs() < 1e-9);
    }

    /// What the activations' quantisation computed before it was dispatched: a float rounded
    /// by adding 1.5·2²³, then a saturating cast (NaN → 0).
    fn reference_level(value: f32, limit: f32) -> f32 {
        (value.clamp(-limit, limit) + 12_582_912.0) - 12_582_912.0
    }

    /// Every width quantises to the same levels and scales back to the same bits as the
    /// portable path and the arithmetic it replaced, NaN, ties and full scale included.
    #[test]
    fn quantisation_gives_the_same_levels_at_every_width() {
        let mut row = values(1037, 31);
        row[0] = f32::NAN;
        row[1] = 2.0; // the row's maximum: full scale
        row[2] = -2.0;
        row[3] = 1.0 / 127.0 * 2.0 * 2.5; // a tie, rounds to even
        row[4] = -0.0;
        for width in Width::available() {
            for (limit, zero_point) in [(127.0, 128u8), (63.0, 64)] {
                let mut q = vec![0u8; row.len()];
                let scale = quantize_activations_at(width, &row, &mut q, limit, zero_point);
                assert_eq!(scale.to_bits(), row_scale(&row, limit).to_bits());
                let inverse = 1.0 / scale;
                for (i, (&got, &v)) in q.iter().zip(&row).enumerate() {
                    let want = (reference_level(v * inverse, limit) + zero_point as f32) as u8;
                    assert_eq!(got, want, "{width:?} limit {limit} at {i} ({v})");
                }
            }
            let mut levels = vec![0i16; row.len()];
            let scale = quantize_levels_at(width, &row, &mut levels);
            let inverse = 1.0 / scale;
            for (&got, &v) in levels.iter().zip(&row) {
                assert_eq!(
                    got,
                    reference_level(v * inverse, 127.0) as i16,
                    "{width:?} {v}"
                );
            }
        }
    }

    #[test]
    fn dequantisation_gives_the_same_bits_at_every_width() {
        let n = 1001;
        let sums: Vec<i32> = (0..n as i32).map(|i| (i - 500) * 7919).collect();
        let (column_scales, bias) = (values(n, 41), values(n, 42));
        for bias in [Some(bias.as_slice()), None] {
            let mut want = sums.clone();
            dequantize_row_at(Width::Portable, &mut want, 0.013, &column_scales, bias);
            for (i, (&slot, &sum)) in want.iter().zip(&sums).enumerate() {
                let product = sum as f32 * (0.013 * column_scales[i]);
                let value = bias.map_or(product, |b| product + b[i]);
                assert_eq!(slot, value.to_bits() as i32);
            }
            for width in Width::available() {
                let mut got = sums.clone();
                dequantize_row_at(width, &mut got, 0.013, &column_scales, bias);
                assert_eq!(got, want, "{width:?}");
            }
        }
    }
}
