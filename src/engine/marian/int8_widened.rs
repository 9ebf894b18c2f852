//! An int8 matrix product for x86-64 CPUs with AVX2 but without VNNI, exact for full 8-bit values.
//!
//! rten-gemm's AVX2 kernel (and its AVX-512 kernel without VNNI) multiplies with `vpmaddubsw`,
//! whose i16 sums of two u8×i8 products saturate once both factors use their full range, so the
//! activations had to be cut to 7 bits there — several times the int8 error of the VNNI path on
//! the fixture models (issue 19). Here both factors are widened to i16 and multiplied with
//! `vpmaddwd`, which sums two i16×i16 products into an i32: with |values| ≤ 127 a pair is at most
//! 32 258 and nothing can overflow. The kernel therefore computes exactly the integer sums the
//! VNNI kernel computes, and `--precision int8` gives the same translations on either CPU.
//!
//! Layout: the weights (`[n, k]`, i8, one row per output channel) are packed once into panels of
//! [`NR`] output columns; in a panel, each pair of inputs `(2p, 2p+1)` holds the two weights of
//! every column next to each other, the order `vpmaddwd` pairs them in. Activations come as i16
//! rows padded to an even length and are interleaved by blocks of [`MR`] rows, so one 32-bit
//! broadcast gives a pair. A tile of up to [`MR`] rows × [`NR`] columns lives in 12 registers for
//! the whole depth.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

/// Output columns per panel: two AVX2 registers of eight i32 sums.
const NR: usize = 16;
/// [`multiply_columns`] takes column ranges that start at a multiple of this.
pub const COLUMN_STEP: usize = NR;
/// Activation rows per tile: 6 × 2 accumulators + 2 weight registers + 1 broadcast = 15 of 16.
const MR: usize = 6;
/// Input pairs per pass over a tile: 8 KiB of a weight panel and 6 KiB of a row block.
const DEPTH_PAIRS: usize = 256;

/// Whether this CPU can run the kernel.
pub fn is_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Quantized weights `[n, k]` packed into panels of [`NR`] columns.
pub struct PackedWeights {
    columns: usize,
    /// Pairs of inputs: `k` rounded up to even, halved.
    input_pairs: usize,
    panels: Vec<i8>,
}

impl PackedWeights {
    /// Packs `weights`, row-major `[columns, depth]` (one row per output channel).
    pub fn pack(weights: &[i8], columns: usize, depth: usize) -> Self {
        let input_pairs = depth.div_ceil(2);
        let panel_len = input_pairs * NR * 2;
        let mut panels = vec![0i8; columns.div_ceil(NR) * panel_len];
        if panel_len > 0 {
            panels
                .par_chunks_mut(panel_len)
                .enumerate()
                .for_each(|(panel, out)| {
                    for column in 0..NR.min(columns - panel * NR) {
                        let row = &weights[(panel * NR + column) * depth..][..depth];
                        for (input, &w) in row.iter().enumerate() {
                            out[(input / 2) * NR * 2 + column * 2 + input % 2] = w;
                        }
                    }
                });
        }
        Self {
            columns,
            input_pairs,
            panels,
        }
    }

    /// The row length [`multiply_columns`] expects of the activations: `depth` rounded up to even.
    pub fn padded_depth(&self) -> usize {
        self.input_pairs * 2
    }
}

/// `out[r, c] = Σ_i activations[r, i] · weights[c, i]` for `rows` rows of
/// [`PackedWeights::padded_depth`] activations (|values| ≤ 127, padding zero), exactly, for the
/// output columns `columns` only (its start a multiple of [`COLUMN_STEP`]): `out` is
/// `[rows, columns.len()]`, uninitialised on entry and every element written on return.
///
/// # Panics
/// If the CPU has no AVX2 (check [`is_available`]), the slices are shorter than the shapes, or
/// `columns` is out of range or starts between two panels.
pub fn multiply_columns(
    activations: &[i16],
    rows: usize,
    weights: &PackedWeights,
    columns: Range<usize>,
    out: &mut [MaybeUninit<i32>],
) {
    assert!(is_available(), "the widened int8 kernel needs AVX2");
    let depth = weights.padded_depth();
    let width_out = columns.len();
    assert!(columns.end <= weights.columns && columns.start.is_multiple_of(NR));
    assert!(activations.len() >= rows * depth && out.len() >= rows * width_out);
    if rows == 0 || width_out == 0 {
        return;
    }
    let panel_len = weights.input_pairs * NR * 2;
    let blocks = interleave_rows(activations, rows, depth);
    let block_len = MR * depth;
    let output = SharedOutput(out.as_mut_ptr().cast::<i32>());
    // Parallel over column panels, every row inside: each weight panel is read from memory once
    // per call, which matters for the 58 101-column output projection.
    let panels = columns.start / NR..columns.end.div_ceil(NR);
    let count = panels.len();
    panels
        .into_par_iter()
        .with_min_len((count / (4 * rayon::current_num_threads())).max(1))
        .for_each(|panel| {
            let first_column = panel * NR - columns.start;
            let width = NR.min(columns.end - panel * NR);
            let panel_weights = &weights.panels[panel * panel_len..][..panel_len];
            // Depth in chunks, so that a chunk of the panel and of a row block fit in L1 together
            // (a whole 2048-deep panel is 32 KiB, the size of the cache).
            for first_pair in (0..weights.input_pairs).step_by(DEPTH_PAIRS) {
                let pairs = DEPTH_PAIRS.min(weights.input_pairs - first_pair);
                let accumulate = first_pair > 0;
                let panel_chunk = &panel_weights[first_pair * NR * 2..][..pairs * NR * 2];
                for (block, first_row) in (0..rows).step_by(MR).enumerate() {
                    let height = MR.min(rows - first_row);
                    let block_chunk =
                        &blocks[block * block_len + first_pair * MR * 2..][..pairs * MR * 2];
                    // SAFETY: `first_row + height ≤ rows` and `first_column + width ≤
                    // width_out` (asserted above), so the tile lies inside `out`; panels cover
                    // disjoint columns, so no two tasks write the same element, and with
                    // `accumulate` the tile reads only what this task wrote at the chunk before.
                    unsafe {
                        let at = output.get().add(first_row * width_out + first_column);
                        tile_product(
                            block_chunk,
                            height,
                            pairs,
                            panel_chunk,
                            (at, width_out, width),
                            accumulate,
                        );
                    }
                }
            }
        });
}

/// The activations rearranged for the tiles: per block of [`MR`] rows (the last one padded with
/// zero rows), for each pair of inputs the pairs of all its rows side by side. A tile then reads
/// one contiguous stream; reading six rows in place had them 4 KiB apart at depth 2048, which maps
/// them onto the same L1 cache sets and halved the speed of the feed-forward layers.
fn interleave_rows(activations: &[i16], rows: usize, depth: usize) -> Vec<i16> {
    let mut blocks = vec![0i16; rows.div_ceil(MR) * MR * depth];
    blocks
        .par_chunks_mut(MR * depth)
        .zip(activations[..rows * depth].par_chunks(MR * depth))
        .for_each(|(block, rows_in)| {
            for (row, values) in rows_in.chunks_exact(depth).enumerate() {
                for (pair, two) in values.chunks_exact(2).enumerate() {
                    block[pair * MR * 2 + row * 2..][..2].copy_from_slice(two);
                }
            }
        });
    blocks
}

/// The output buffer, written by several tasks at disjoint columns.
#[derive(Clone, Copy)]
struct SharedOutput(*mut i32);
// SAFETY: the tasks of `multiply_columns` write disjoint elements and the buffer outlives them.
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// A method, so closures capture the whole (Send) wrapper rather than its raw-pointer field.
    fn get(self) -> *mut i32 {
        self.0
    }
}

/// One tile: the first `height` (1..=MR) rows of an interleaved block against one panel, over
/// `pairs` pairs of inputs, into `width` (1..=NR) columns of rows `row_stride` apart at `out`;
/// added to what they hold when `accumulate`.
///
/// # Safety
/// `out` must be valid for those rows and columns (and initialised there when `accumulate`).
unsafe fn tile_product(
    rows: &[i16],
    height: usize,
    pairs: usize,
    panel: &[i8],
    (out, row_stride, width): (*mut i32, usize, usize),
    accumulate: bool,
) {
    assert!(rows.len() >= pairs * MR * 2 && panel.len() >= pairs * NR * 2);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `multiply_columns` checked AVX2; the slices hold what the kernels read (asserted
    // above); `out` as the caller guarantees. A full panel is written in place; a narrower one
    // (the last of a layer) goes through a tile of NR columns, copied in and out.
    unsafe {
        let (rows, panel) = (rows.as_ptr(), panel.as_ptr());
        // Only a narrower panel uses it, and then only its first `height` rows: zeroing all of
        // it on every call (a memset per tile) was 3 % of the AVX2 decoder's time.
        let mut tile = MaybeUninit::<[[i32; NR]; MR]>::uninit();
        let (target, stride) = if width == NR {
            (out, row_stride)
        } else {
            let tile = tile.as_mut_ptr().cast::<[i32; NR]>();
            if accumulate {
                for row in 0..height {
                    // The kernel then reads whole rows: the columns past `width` must hold
                    // something too.
                    tile.add(row).write([0; NR]);
                    std::ptr::copy_nonoverlapping(
                        out.add(row * row_stride),
                        tile.add(row).cast::<i32>(),
                        width,
                    );
                }
            }
            (tile.cast::<i32>(), NR)
        };
        match height {
            6 => avx2::tile::<6>(rows, pairs, panel, target, stride, accumulate),
            5 => avx2::tile::<5>(rows, pairs, panel, target, stride, accumulate),
            4 => avx2::tile::<4>(rows, pairs, panel, target, stride, accumulate),
            3 => avx2::tile::<3>(rows, pairs, panel, target, stride, accumulate),
            2 => avx2::tile::<2>(rows, pairs, panel, target, stride, accumulate),
            _ => avx2::tile::<1>(rows, pairs, panel, target, stride, accumulate),
        }
        if width < NR {
            let tile = tile.as_ptr().cast::<[i32; NR]>();
            for row in 0..height {
                std::ptr::copy_nonoverlapping(
                    tile.add(row).cast::<i32>(),
                    out.add(row * row_stride),
                    width,
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (
            rows, height, pairs, panel, out, row_stride, width, accumulate,
        );
        unreachable!("is_available() is false off x86-64");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_loadu_si128, _mm256_add_epi32, _mm256_cvtepi8_epi16,
        _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi32, _mm256_setzero_si256,
        _mm256_storeu_si256,
    };

    use super::{MR, NR};

    /// The first `ROWS` rows of an interleaved block of `pairs` pairs of i16 activations at
    /// `rows` against `pairs` pairs of the panel at `panel`, into (or, when `accumulate`, added
    /// to) `ROWS` rows of NR sums, `stride` apart, at `out`.
    ///
    /// # Safety
    /// AVX2 must be available; `rows` must point to `pairs × MR × 2` values, `panel` to
    /// `pairs × NR × 2` bytes, and `out` to `ROWS` rows of NR i32 (initialised if `accumulate`).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile<const ROWS: usize>(
        rows: *const i16,
        pairs: usize,
        panel: *const i8,
        out: *mut i32,
        stride: usize,
        accumulate: bool,
    ) {
        let mut sums = [[_mm256_setzero_si256(); 2]; ROWS];
        if accumulate {
            for (row, sums) in sums.iter_mut().enumerate() {
                // SAFETY: the caller's row of NR = 2 × 8 i32.
                unsafe {
                    let from = out.add(row * stride).cast::<__m256i>();
                    sums[0] = _mm256_loadu_si256(from);
                    sums[1] = _mm256_loadu_si256(from.add(1));
                }
            }
        }
        for pair in 0..pairs {
            // SAFETY (all reads): within the extents the caller guarantees.
            let (low, high) = unsafe {
                let weights = panel.add(pair * NR * 2);
                (
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(weights.cast::<__m128i>())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(weights.add(NR).cast::<__m128i>())),
                )
            };
            for (row, sums) in sums.iter_mut().enumerate() {
                let inputs = unsafe {
                    rows.add(pair * MR * 2 + row * 2)
                        .cast::<i32>()
                        .read_unaligned()
                };
                let inputs = _mm256_set1_epi32(inputs);
                sums[0] = _mm256_add_epi32(sums[0], _mm256_madd_epi16(inputs, low));
                sums[1] = _mm256_add_epi32(sums[1], _mm256_madd_epi16(inputs, high));
            }
        }
        for (row, sums) in sums.iter().enumerate() {
            // SAFETY: the caller's row of NR = 2 × 8 i32.
            unsafe {
                let to = out.add(row * stride).cast::<__m256i>();
                _mm256_storeu_si256(to, sums[0]);
                _mm256_storeu_si256(to.add(1), sums[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible spread of i8 values over the full range ±127.
    fn levels(count: usize, seed: u64) -> Vec<i8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state % 255) as i32 - 127) as i8
            })
            .collect()
    }

    fn reference(a: &[i8], w: &[i8], rows: usize, depth: usize, columns: usize) -> Vec<i32> {
        let mut out = vec![0i32; rows * columns];
        for r in 0..rows {
            for c in 0..columns {
                out[r * columns + c] = (0..depth)
                    .map(|i| a[r * depth + i] as i32 * w[c * depth + i] as i32)
                    .sum();
            }
        }
        out
    }

    fn padded(a: &[i8], rows: usize, depth: usize, padded_depth: usize) -> Vec<i16> {
        let mut out = vec![0i16; rows * padded_depth];
        for r in 0..rows {
            for i in 0..depth {
                out[r * padded_depth + i] = a[r * depth + i] as i16;
            }
        }
        out
    }

    /// The kernel's product of row-major `a` (`[rows, depth]`) and `w` (`[columns, depth]`).
    fn product(a: &[i8], w: &[i8], rows: usize, depth: usize, columns: usize) -> Vec<i32> {
        let packed = PackedWeights::pack(w, columns, depth);
        let mut out = Vec::with_capacity(rows * columns);
        multiply_columns(
            &padded(a, rows, depth, packed.padded_depth()),
            rows,
            &packed,
            0..columns,
            &mut out.spare_capacity_mut()[..rows * columns],
        );
        // SAFETY: `multiply_columns` wrote every element.
        unsafe { out.set_len(rows * columns) };
        out
    }

    #[test]
    fn sums_are_exact_for_odd_shapes_and_full_range_values() {
        if !is_available() {
            eprintln!("SKIPPED: no AVX2 on this CPU");
            return;
        }
        for (i, &(rows, depth, columns)) in [
            (1, 1, 1),
            (1, 3, 5),
            (7, 5, 17),
            (6, 64, 16),
            (13, 33, 65),
            (2, 2048, 40),
            (19, 512, 131),
            (8, 1101, 33),
        ]
        .iter()
        .enumerate()
        {
            let a = levels(rows * depth, 1 + i as u64);
            let w = levels(columns * depth, 100 + i as u64);
            assert_eq!(
                product(&a, &w, rows, depth, columns),
                reference(&a, &w, rows, depth, columns),
                "{rows}×{depth}×{columns}"
            );
        }
    }

    #[test]
    fn extremes_cannot_saturate() {
        if !is_available() {
            eprintln!("SKIPPED: no AVX2 on this CPU");
            return;
        }
        // Where vpmaddubsw saturates: every product at ±127 × ±127 with the same sign.
        let (rows, depth, columns) = (3, 2048, 3);
        let mut a = vec![127i8; rows * depth];
        a[depth..2 * depth].fill(-127);
        let mut w = vec![127i8; columns * depth];
        w[2 * depth..].fill(-127);
        let got = product(&a, &w, rows, depth, columns);
        let full = 127 * 127 * depth as i32;
        assert_eq!(
            got,
            [full, full, -full, -full, -full, full, full, full, -full]
        );
    }
}
