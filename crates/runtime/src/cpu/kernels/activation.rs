//! Elementwise activations with ONNX semantics, applied in place.
//!
//! The loops are written so that LLVM vectorises them; on x86-64 they are additionally
//! compiled for AVX2+FMA and picked at run time. Sigmoid, Tanh and Mish use a polynomial
//! `exp` (about 2 ulp) instead of libm so that they vectorise too; the rarer functions call
//! libm.

use hetc_plan::Activation;
use rayon::prelude::*;

/// `act(x)` for one value.
pub fn apply_scalar(act: Activation, x: f32) -> f32 {
    eval(act, x)
}

/// `data[i] = act(data[i])`.
pub fn apply(act: Activation, data: &mut [f32]) {
    apply_with_bias(act, data, 0.0);
}

/// `data[i] = act(data[i] + bias)`: a convolution's epilogue for one channel.
pub fn apply_with_bias(act: Activation, data: &mut [f32], bias: f32) {
    if matches!(act, Activation::Identity) && bias == 0.0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { apply_avx2(act, data, bias) };
        return;
    }
    apply_generic(act, data, bias);
}

/// [`apply`] split across `threads` workers (of the caller's rayon pool) for large tensors.
pub fn apply_par(act: Activation, data: &mut [f32], threads: usize) {
    if matches!(act, Activation::Identity) {
        return;
    }
    const MIN_CHUNK: usize = 1 << 14;
    if threads <= 1 || data.len() < 2 * MIN_CHUNK {
        apply(act, data);
        return;
    }
    let chunk = data.len().div_ceil(threads).max(MIN_CHUNK).next_multiple_of(16);
    data.par_chunks_mut(chunk).for_each(|c| apply(act, c));
}

#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// The AVX2+FMA build of the generic loops.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_avx2(act: Activation, data: &mut [f32], bias: f32) {
    apply_generic(act, data, bias);
}

#[inline(always)]
fn map(data: &mut [f32], bias: f32, f: impl Fn(f32) -> f32) {
    if bias == 0.0 {
        for v in data.iter_mut() {
            *v = f(*v);
        }
    } else {
        for v in data.iter_mut() {
            *v = f(*v + bias);
        }
    }
}

#[inline(always)]
fn apply_generic(act: Activation, data: &mut [f32], bias: f32) {
    match act {
        Activation::Identity => map(data, bias, |x| x),
        Activation::Relu => map(data, bias, relu),
        Activation::LeakyRelu { alpha } => map(data, bias, |x| leaky_relu(x, alpha)),
        Activation::Clip { min, max } => map(data, bias, |x| clip(x, min, max)),
        Activation::Sigmoid => map(data, bias, sigmoid),
        Activation::HardSigmoid { alpha, beta } => map(data, bias, |x| hard_sigmoid(x, alpha, beta)),
        Activation::HardSwish => map(data, bias, hard_swish),
        Activation::Tanh => map(data, bias, tanh),
        Activation::Mish => map(data, bias, mish),
        Activation::Elu { .. }
        | Activation::Selu { .. }
        | Activation::Celu { .. }
        | Activation::ThresholdedRelu { .. }
        | Activation::Softplus
        | Activation::Softsign => map(data, bias, |x| eval(act, x)),
    }
}

#[inline(always)]
fn eval(act: Activation, x: f32) -> f32 {
    match act {
        Activation::Identity => x,
        Activation::Relu => relu(x),
        Activation::LeakyRelu { alpha } => leaky_relu(x, alpha),
        Activation::Clip { min, max } => clip(x, min, max),
        Activation::Sigmoid => sigmoid(x),
        Activation::HardSigmoid { alpha, beta } => hard_sigmoid(x, alpha, beta),
        Activation::HardSwish => hard_swish(x),
        Activation::Tanh => tanh(x),
        Activation::Elu { alpha } => {
            if x < 0.0 {
                alpha * x.exp_m1()
            } else {
                x
            }
        }
        Activation::Selu { alpha, gamma } => {
            if x <= 0.0 {
                gamma * alpha * x.exp_m1()
            } else {
                gamma * x
            }
        }
        Activation::Celu { alpha } => {
            let neg = alpha * (x / alpha).exp_m1();
            relu(x) + if neg > 0.0 { 0.0 } else { neg }
        }
        Activation::ThresholdedRelu { alpha } => {
            if x > alpha {
                x
            } else {
                0.0
            }
        }
        // ln(1 + e^x), without overflow for large x.
        Activation::Softplus => relu(x) + (-x.abs()).exp().ln_1p(),
        Activation::Softsign => x / (1.0 + x.abs()),
        Activation::Mish => mish(x),
    }
}

// The helpers below propagate NaN like numpy's maximum/minimum/clip (comparisons with NaN
// are false, so NaN falls through unchanged).

#[inline(always)]
fn relu(x: f32) -> f32 {
    if x < 0.0 { 0.0 } else { x }
}

#[inline(always)]
fn leaky_relu(x: f32, alpha: f32) -> f32 {
    if x < 0.0 { alpha * x } else { x }
}

#[inline(always)]
fn clip(x: f32, min: f32, max: f32) -> f32 {
    let y = if x < min { min } else { x };
    if y > max { max } else { y }
}

#[inline(always)]
fn hard_sigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
    clip(alpha * x + beta, 0.0, 1.0)
}

#[inline(always)]
fn hard_swish(x: f32) -> f32 {
    x * clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh with about 2 ulp error: an odd polynomial near zero (where `1 - 2/(e^2x + 1)` would
/// cancel), the exponential form elsewhere.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Cephes tanhf.
    let z = x * x;
    let p =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z - 3.333_328e-1) * z * x
            + x;
    // tanh(9) rounds to 1 in f32; clamping keeps exp finite.
    let e = exp(2.0 * if a > 9.0 { 9.0 } else { a });
    let big = 1.0 - 2.0 / (e + 1.0);
    let big = if x < 0.0 { -big } else { big };
    let r = if a < 0.625 { p } else { big };
    if x.is_nan() { x } else { r }
}

/// `x * tanh(softplus(x))` = `x * n / (n + 2)` with `n = e^x (e^x + 2)`.
#[inline(always)]
fn mish(x: f32) -> f32 {
    let e = exp(if x > 20.0 { 20.0 } else { x });
    let n = e * (e + 2.0);
    let r = x * n / (n + 2.0);
    if x > 20.0 { x } else { r }
}

/// `e^x` for `x` in about `[-87.3, 88.4]` (clamped outside), within about 2 ulp; branch-free
/// so that it vectorises. NaN in, NaN out.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const HI: f32 = 88.376_26;
    const LO: f32 = -87.336_55;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let xc = if x > HI { HI } else { x };
    let xc = if xc < LO { LO } else { xc };
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let y = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = y * r * r + r + 1.0;
    // 2^n: the integer sits in the low bits of `t`; shifting it into the exponent field
    // drops the magic number's bits.
    let scale = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
    let v = y * scale;
    if x.is_nan() { x } else { v }
}

/// Helpers shared by the kernels' unit tests.
#[cfg(test)]
pub(crate) mod test_util {
    use std::sync::OnceLock;

    /// A small deterministic generator (SplitMix64).
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in `[-1, 1)`.
        pub fn f32(&mut self) -> f32 {
            ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }

        pub fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.f32()).collect()
        }
    }

    /// Runs `f` inside a shared rayon pool of two threads (the kernels' `threads` argument
    /// says how many of them to use).
    pub fn in_pool<R: Send>(_threads: usize, f: impl FnOnce() -> R + Send) -> R {
        static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
        POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()).install(f)
    }

    /// Every `|got - want| <= rtol * max|want|` (NaN must match NaN).
    #[track_caller]
    pub fn assert_close(got: &[f32], want: &[f32], rtol: f32) {
        assert_eq!(got.len(), want.len(), "length");
        let scale = want.iter().fold(0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m }).max(1e-3);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            if w.is_nan() {
                assert!(g.is_nan(), "index {i}: got {g}, want NaN");
                continue;
            }
            if w.is_infinite() {
                assert_eq!(g, w, "index {i}");
                continue;
            }
            assert!((g - w).abs() <= rtol * scale, "index {i}: got {g}, want {w} (scale {scale})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    /// ONNX reference definitions in f64.
    fn reference(act: Activation, x: f32) -> f32 {
        let x = x as f64;
        let y = match act {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if x < 0.0 {
                    alpha as f64 * x
                } else {
                    x
                }
            }
            Activation::Clip { min, max } => x.max(min as f64).min(max as f64),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::Tanh => x.tanh(),
            Activation::Elu { alpha } => {
                if x < 0.0 {
                    alpha as f64 * (x.exp() - 1.0)
                } else {
                    x
                }
            }
            Activation::Selu { alpha, gamma } => {
                if x <= 0.0 {
                    gamma as f64 * (alpha as f64 * x.exp() - alpha as f64)
                } else {
                    gamma as f64 * x
                }
            }
            Activation::Celu { alpha } => {
                let a = alpha as f64;
                x.max(0.0) + (a * ((x / a).exp() - 1.0)).min(0.0)
            }
            Activation::ThresholdedRelu { alpha } => {
                if x > alpha as f64 {
                    x
                } else {
                    0.0
                }
            }
            Activation::Softplus => (x.exp() + 1.0).ln(),
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::Mish => x * ((x.exp() + 1.0).ln()).tanh(),
        };
        y as f32
    }

    fn all() -> Vec<Activation> {
        vec![
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.01 },
            Activation::Clip { min: -0.5, max: 6.0 },
            Activation::Sigmoid,
            Activation::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Activation::HardSwish,
            Activation::Tanh,
            Activation::Elu { alpha: 1.5 },
            Activation::Selu { alpha: 1.673_263_2, gamma: 1.050_701 },
            Activation::Celu { alpha: 0.7 },
            Activation::ThresholdedRelu { alpha: 0.3 },
            Activation::Softplus,
            Activation::Softsign,
            Activation::Mish,
        ]
    }

    fn inputs() -> Vec<f32> {
        let mut rng = Rng::new(7);
        let mut v: Vec<f32> = (0..1003).map(|_| rng.f32() * 12.0).collect();
        v.extend((0..200).map(|_| rng.f32() * 1e-3));
        v.extend([0.0, -0.0, 1e-8, -1e-8, 30.0, -30.0, 90.0, -90.0, 100.0, -100.0, 5.9, -3.0, 3.0]);
        v
    }

    #[test]
    fn matches_reference() {
        let xs = inputs();
        for act in all() {
            let want: Vec<f32> = xs.iter().map(|&x| reference(act, x)).collect();
            let mut got = xs.clone();
            apply(act, &mut got);
            let scalar: Vec<f32> = xs.iter().map(|&x| apply_scalar(act, x)).collect();
            for (i, ((&g, &s), &w)) in got.iter().zip(&scalar).zip(&want).enumerate() {
                let tol = 2e-6 * w.abs() + 1e-7;
                assert!((g - w).abs() <= tol, "{act:?} x={} got {g} want {w}", xs[i]);
                assert!((s - w).abs() <= tol, "{act:?} scalar x={} got {s} want {w}", xs[i]);
            }
            // Fused bias.
            let mut got = xs.clone();
            apply_with_bias(act, &mut got, 0.25);
            let want: Vec<f32> = xs.iter().map(|&x| reference(act, x + 0.25)).collect();
            assert_close(&got, &want, 1e-5);
            // Parallel.
            let big: Vec<f32> = (0..100_000).map(|i| xs[i % xs.len()]).collect();
            let mut got = big.clone();
            in_pool(2, || apply_par(act, &mut got, 2));
            let want: Vec<f32> = big.iter().map(|&x| apply_scalar(act, x)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = exp(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), exp(-87.336_55));
    }

    #[test]
    fn nan_propagates() {
        for act in all() {
            if matches!(act, Activation::ThresholdedRelu { .. }) {
                continue; // NaN > alpha is false: 0, as in the reference.
            }
            let mut v = vec![f32::NAN; 19];
            apply(act, &mut v);
            assert!(v.iter().all(|x| x.is_nan()), "{act:?}");
        }
    }
}
