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
//! rten-gemm chooses its kernels at run time from the CPU: AVX-512 (with VNNI's `vpdpbusd` where
//! the CPU has it), AVX2 + FMA, a portable fallback (and NEON / dot-product / i8mm on ARM).
//! Without VNNI its int8 kernels use `vpmaddubsw`, whose i16 pair sums can saturate; activations
//! are then quantized to 7 bits (±63), which cannot.

use candle_core::{Device, Storage, Tensor};
use rayon::prelude::*;
use rten_gemm::{
    BiasVector, GemmExecutor, GemmInputA, GemmInputB, GemmUninitOptions, PackedBMatrix, QuantParams,
};
use rten_tensor::NdTensorView;

use crate::engine::EngineError;

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

/// Arithmetic of the dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 everywhere: the reference, exact against transformers.
    #[default]
    F32,
    /// int8 weights and activations, i32 accumulation, f32 everything else.
    Int8,
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
        packed: PackedBMatrix<i8>,
        /// Per output channel: the weight of quantized value 1.
        scales: Vec<f32>,
    },
}

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
        // Packed straight from the tensor's storage: a copy of the 58 101-row output projection
        // first would add 119 MB to the peak while loading.
        with_f32(weight, |values| {
            Self::from_rows(values, out_dim, in_dim, bias, precision)
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
        precision: Precision,
    ) -> Self {
        // `values` is W: [out, in]; the gemm computes x · Wᵀ, so B is W viewed transposed.
        let weights = match precision {
            Precision::F32 => {
                let w = NdTensorView::from_data([out_dim, in_dim], values);
                Weights::F32(F32_GEMM.with(|g| g.prepack_b(w.transposed())))
            }
            Precision::Int8 => {
                let (quantized, scales) = quantize_rows(values, in_dim);
                let w = NdTensorView::from_data([out_dim, in_dim], quantized.as_slice());
                Weights::Int8 {
                    packed: INT8_GEMM.with(|g| g.prepack_b(w.transposed())),
                    scales,
                }
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
        let (rows, in_dim) = x.dims2()?;
        if in_dim != self.in_dim {
            return Err(candle_core::Error::Msg(format!(
                "dense layer of {} inputs got {in_dim}",
                self.in_dim
            ))
            .into());
        }
        let out = with_f32(x, |values| self.forward_slice(values, rows))??;
        Ok(Tensor::from_vec(out, (rows, self.out_dim), &Device::Cpu)?)
    }

    /// `x·Wᵀ + b` for `rows` rows of `in_dim` values in `x`.
    pub fn forward_slice(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, EngineError> {
        let gemm_error = |e: rten_gemm::GemmError| {
            EngineError::Tensor(candle_core::Error::Msg(format!("gemm failed: {e}")))
        };
        if rows == 0 || self.out_dim == 0 {
            return Ok(vec![0.0; rows * self.out_dim]);
        }
        let a = NdTensorView::from_data([rows, self.in_dim], x);
        match &self.weights {
            Weights::F32(packed) => {
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
                let limit = activation_limit();
                let zero_point = limit as u8 + 1;
                let mut quantized = vec![0u8; rows * self.in_dim];
                let mut row_scales = vec![0f32; rows];
                quantized
                    .par_chunks_mut(self.in_dim)
                    .zip(row_scales.par_iter_mut())
                    .zip(x.par_chunks(self.in_dim))
                    .with_min_len(16)
                    .for_each(|((q, scale), row)| {
                        *scale = quantize_activations(row, q, limit, zero_point);
                    });
                let zero_points = vec![zero_point; rows];
                let a = NdTensorView::from_data([rows, self.in_dim], quantized.as_slice());
                let mut accumulated: Vec<i32> = Vec::with_capacity(rows * self.out_dim);
                INT8_GEMM
                    .with(|gemm| {
                        gemm.gemm_uninit(
                            &mut accumulated.spare_capacity_mut()[..rows * self.out_dim],
                            GemmInputA::Unpacked(a),
                            GemmInputB::Packed(packed),
                            GemmUninitOptions {
                                a_quant: Some(QuantParams {
                                    zero_point: &zero_points,
                                }),
                                ..Default::default()
                            },
                        )
                        .map(|_| ())
                    })
                    .map_err(gemm_error)?;
                // SAFETY: `gemm_uninit` succeeded, so it wrote every one of the elements.
                unsafe { accumulated.set_len(rows * self.out_dim) };
                // Scaled back in place: the logits are 30 MB at beam 4 batch 32, and a second
                // buffer of that size cost a memset and fresh pages on every step.
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
                // SAFETY: every element now holds the bits of an f32 (`dequantize_row`), i32 and
                // f32 have the same size and alignment, and the allocation changes owner once.
                Ok(unsafe { Vec::from_raw_parts(pointer.cast::<f32>(), length, capacity) })
            }
        }
    }
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

/// Quantizes one activation row to `zero_point ± limit` (u8) and returns its scale.
fn quantize_activations(row: &[f32], out: &mut [u8], limit: f32, zero_point: u8) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    // A NaN or infinite activation would poison the row either way; keep the arithmetic finite.
    let scale = if max > 0.0 && max.is_finite() {
        max / limit
    } else {
        1.0
    };
    let inverse = 1.0 / scale;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer (ties to even) for |x| < 2²²
    // without a call to `roundf` per element (4 % of an int8 run), so the loop vectorises.
    const ROUND: f32 = 12_582_912.0;
    let offset = zero_point as f32;
    for (q, v) in out.iter_mut().zip(row) {
        let level = ((v * inverse).clamp(-limit, limit) + ROUND) - ROUND;
        *q = (level + offset) as u8;
    }
    scale
}

/// Turns one row of i32 sums into f32 outputs, in place (each slot ends up holding an f32's bits).
fn dequantize_row(row: &mut [i32], row_scale: f32, column_scales: &[f32], bias: Option<&[f32]>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    ) -> Vec<f32> {
        let (wq, w_scales) = quantize_rows(w, k);
        let limit = activation_limit();
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

    #[test]
    fn int8_layers_compute_the_quantized_product_exactly() {
        for (i, &(rows, k, n)) in SHAPES.iter().enumerate() {
            let (x, w, b) = (
                values(rows * k, 300 + i as u64),
                values(n * k, 400 + i as u64),
                values(n, 500 + i as u64),
            );
            let got = dense(&w, &b, n, k, Precision::Int8)
                .forward_slice(&x, rows)
                .unwrap();
            assert_eq!(
                got,
                int8_reference(&x, &w, &b, rows, k, n),
                "{rows}×{k}×{n}"
            );
        }
    }

    #[test]
    fn int8_layers_stay_close_to_f32() {
        let (rows, k, n) = (16, 512, 300);
        let (x, w, b) = (values(rows * k, 7), values(n * k, 8), values(n, 9));
        let got = dense(&w, &b, n, k, Precision::Int8)
            .forward_slice(&x, rows)
            .unwrap();
        let want = reference(&x, &w, &b, rows, k, n);
        // Each product carries ≲ 1/127 relative error per factor; over 512 terms of random sign
        // the sum's error stays a small fraction of its typical size (√512 · 1/3 ≈ 7.5).
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, e)| (g - e).abs())
            .fold(0f32, f32::max);
        assert!(worst < 0.15, "int8 deviates by {worst}");
    }

    #[test]
    fn int8_extremes_zeros_and_full_scale() {
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
        let got = dense(&w, &b, n, k, Precision::Int8)
            .forward_slice(&x, rows)
            .unwrap();
        assert_eq!(got, int8_reference(&x, &w, &b, rows, k, n));
        // The all-zero input row gives exactly the bias.
        assert_eq!(&got[..n], &b[..]);
        // Full-scale values are represented exactly: row 1 · channel 1 equals the f32 product.
        let exact: f32 = (0..k).map(|i| x[k + i] * w[k + i]).sum::<f32>() + b[1];
        assert!(
            (got[n + 1] - exact).abs() < 1e-3,
            "{} vs {exact}",
            got[n + 1]
        );
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
    }
}
