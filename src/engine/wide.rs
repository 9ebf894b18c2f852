//! Our own hot loops at the CPU's vector width, chosen at run time.
//!
//! The release binary targets baseline x86-64 (SSE2), so every loop of ours — attention, layer
//! norm, the scans over 58 101 logits, (de)quantisation — ran 4 lanes wide on CPUs with 8 (AVX2)
//! or 16 (AVX-512). [`dispatched!`] compiles one body three times, for baseline, AVX2 + FMA and
//! AVX-512, and calls the widest this CPU has (one binary for every x86-64; other architectures
//! run the portable body, which on aarch64 already is NEON).
//!
//! The copies compute the same bits: Rust never fuses a multiply and an add into an FMA, nor
//! reorders float operations, unless the code says so; a wider target only lets the compiler put
//! the lanes the code already spells out (`[f32; 8]` accumulators, element-wise loops) into wider
//! registers. So f32 stays exact with any width, and the kernel tests check it bit for bit.
//!
//! `DE2EN_SIMD=portable|avx2|avx512` caps the width for a whole process (benchmarks: measure the
//! AVX2 path on an AVX-512 machine); tests call a kernel's `*_at` twin with an explicit width.

use std::sync::OnceLock;

/// How wide the dispatched loops run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Width {
    /// Compiled for the target's baseline (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// x86-64 with AVX-512 F, BW and VL.
    Avx512,
}

impl Width {
    /// The widest this CPU runs.
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Portable
    }

    /// Every width this CPU can run, narrowest first (the kernel tests compare them all).
    pub fn available() -> Vec<Self> {
        [Self::Portable, Self::Avx2, Self::Avx512]
            .into_iter()
            .filter(|w| *w <= Self::detected())
            .collect()
    }

    /// `self`, or the widest this CPU has when it has less: a width is only ever run where the
    /// CPU supports it, whoever asked for it.
    pub fn supported(self) -> Self {
        self.min(Self::detected())
    }
}

/// The width the dispatched loops use in this process: `DE2EN_SIMD`'s (capped by the CPU), else
/// the widest the CPU has. An unknown value falls back to the detected width with a warning.
pub fn width() -> Width {
    static WIDTH: OnceLock<Width> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        let detected = Width::detected();
        match std::env::var("DE2EN_SIMD").as_deref() {
            Err(_) | Ok("") | Ok("auto") => detected,
            Ok("portable") => Width::Portable,
            Ok("avx2") => Width::Avx2.supported(),
            Ok("avx512") => Width::Avx512.supported(),
            Ok(other) => {
                eprintln!(
                    "de2en: DE2EN_SIMD={other} is not one of auto, portable, avx2, avx512; using {detected:?}"
                );
                detected
            }
        }
    })
}

/// `exp(x)` for `x <= 0` within about 1 ulp (Cephes `expf`), written without branches or calls so
/// the compiler vectorises it; libm's `expf` is a scalar call per element. Below −87 the result is
/// clamped to `exp(−87)` ≈ 1.6e−38, which no sum of at least 1 (the maximum's own term) can notice.
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 rounds to the nearest integer in the current rounding mode.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n built from the exponent bits; n is in [−126, 0], so the result stays normal. `shifted`
    // lies in [2^23, 2^24), where the float's bits count in units of 1, so its bits minus ROUND's
    // are n: integer arithmetic that vectorises, unlike the saturating `n as i32`.
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    y * scale
}

/// Defines `fn NAME(args) -> R` running `body` at [`width()`], and `fn NAME_AT(width, args) -> R`
/// running it at a given width (capped by the CPU). The body is an ordinary Rust block; it must
/// not use `Self` or generic parameters (it becomes a nested function).
macro_rules! dispatched {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident / $at:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        #[allow(dead_code)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $at($crate::engine::wide::width(), $($arg),*)
        }

        #[allow(dead_code)]
        $vis fn $at(width: $crate::engine::wide::Width, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                portable($($arg),*)
            }

            match width.supported() {
                // SAFETY: `supported()` never exceeds what the CPU reports.
                #[cfg(target_arch = "x86_64")]
                $crate::engine::wide::Width::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                $crate::engine::wide::Width::Avx2 => unsafe { avx2($($arg),*) },
                _ => portable($($arg),*),
            }
        }
    };
}

pub(crate) use dispatched;

#[cfg(test)]
mod tests {
    #[test]
    fn exp_nonpositive_is_as_accurate_as_libm() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let exact = f64::from(x).exp();
            let relative = ((f64::from(exp_nonpositive(x)) - exact) / exact).abs();
            worst = worst.max(relative);
            x += 0.000_97;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
        assert!(exp_nonpositive(-1000.0) >= 0.0);
    }

    use super::*;

    dispatched! {
        fn lane_sum / lane_sum_at(values: &[f32]) -> f32 {
            let mut lanes = [0f32; 8];
            for chunk in values.chunks_exact(8) {
                for (lane, v) in lanes.iter_mut().zip(chunk) {
                    *lane += v * 1.5 + 0.25;
                }
            }
            lanes.iter().sum()
        }
    }

    #[test]
    fn every_width_runs_and_gives_the_same_bits() {
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let portable = lane_sum_at(Width::Portable, &values);
        for width in Width::available() {
            assert_eq!(
                lane_sum_at(width, &values).to_bits(),
                portable.to_bits(),
                "{width:?}"
            );
        }
        assert_eq!(lane_sum(&values).to_bits(), portable.to_bits());
    }

    #[test]
    fn a_width_the_cpu_lacks_is_capped() {
        assert!(Width::Avx512.supported() <= Width::detected());
        assert_eq!(Width::Portable.supported(), Width::Portable);
        assert!(Width::available().contains(&width()));
    }
}
