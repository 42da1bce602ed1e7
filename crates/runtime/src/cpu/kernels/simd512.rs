//! Shared pieces of the AVX-512 convolution kernels ([`super::depthwise`],
//! [`super::pointwise`]): run-time detection and the fused epilogue (bias, residual,
//! activation) applied to accumulators while they are still in registers.
//!
//! The activations evaluated in registers reproduce the scalar ones in [`super::activation`]
//! exactly (same operations in the same order, NaN propagated the same way); any other
//! activation is applied by the caller afterwards with [`super::activation::apply`] while
//! the data is still in cache ([`Epi::post`]).

use hetc_plan::Activation;

/// Whether the AVX-512 kernels can run on this CPU (checked once, then cached by std).
#[inline]
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Activation kinds evaluated in registers (`Epi::kind`).
pub(crate) const ACT_NONE: u8 = 0;
pub(crate) const ACT_RELU: u8 = 1;
pub(crate) const ACT_CLIP: u8 = 2;
pub(crate) const ACT_LEAKY: u8 = 3;
pub(crate) const ACT_HARD_SIGMOID: u8 = 4;
pub(crate) const ACT_HARD_SWISH: u8 = 5;

/// An activation split into the part done in registers and the part left to the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epi {
    /// One of the `ACT_*` kinds.
    pub kind: u8,
    /// Parameters: clip bounds (`a`, `b`), leaky slope (`a`), hard-sigmoid alpha/beta.
    pub a: f32,
    pub b: f32,
    /// An activation the kernel does not evaluate: the caller applies it to the stored result.
    pub post: Option<Activation>,
    /// The activation evaluated in registers, for scalar edges of a kernel (`Identity` when
    /// it is left to `post`).
    pub scalar: Activation,
}

impl Epi {
    pub fn new(act: Activation) -> Epi {
        let e = |kind, a, b| Epi { kind, a, b, post: None, scalar: act };
        match act {
            Activation::Identity => e(ACT_NONE, 0.0, 0.0),
            Activation::Relu => e(ACT_RELU, 0.0, 0.0),
            Activation::Clip { min, max } => e(ACT_CLIP, min, max),
            Activation::LeakyRelu { alpha } => e(ACT_LEAKY, alpha, 0.0),
            Activation::HardSigmoid { alpha, beta } => e(ACT_HARD_SIGMOID, alpha, beta),
            Activation::HardSwish => e(ACT_HARD_SWISH, 0.0, 0.0),
            other => Epi { kind: ACT_NONE, a: 0.0, b: 0.0, post: Some(other), scalar: Activation::Identity },
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::*;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// [`Epi`]'s parameters as vectors.
    #[derive(Clone, Copy)]
    pub(crate) struct EpiV {
        pub a: __m512,
        pub b: __m512,
    }

    impl EpiV {
        #[target_feature(enable = "avx512f")]
        pub fn new(e: &Epi) -> EpiV {
            EpiV { a: _mm512_set1_ps(e.a), b: _mm512_set1_ps(e.b) }
        }
    }

    /// `act(v)` for an activation kind `K` (one of the `ACT_*` constants), as the scalar
    /// helpers of [`super::super::activation`] compute it. `vmaxps`/`vminps` return their
    /// second operand when either is NaN or both are equal, which is what `if x < lo { lo }
    /// else { x }` does with the operands in this order.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn act<const K: u8>(v: __m512, p: &EpiV) -> __m512 {
        let zero = _mm512_setzero_ps();
        match K {
            ACT_RELU => _mm512_max_ps(zero, v),
            ACT_CLIP => _mm512_min_ps(p.b, _mm512_max_ps(p.a, v)),
            ACT_LEAKY => {
                let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero);
                _mm512_mask_mul_ps(v, neg, v, p.a)
            }
            ACT_HARD_SIGMOID => {
                let t = _mm512_add_ps(_mm512_mul_ps(p.a, v), p.b);
                _mm512_min_ps(_mm512_set1_ps(1.0), _mm512_max_ps(zero, t))
            }
            ACT_HARD_SWISH => {
                let t = _mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.0 / 6.0)), _mm512_set1_ps(0.5));
                let t = _mm512_min_ps(_mm512_set1_ps(1.0), _mm512_max_ps(zero, t));
                _mm512_mul_ps(v, t)
            }
            _ => v,
        }
    }

    /// [`act`] with the kind chosen at run time (for epilogues outside hot loops).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn act_dyn(kind: u8, v: __m512, p: &EpiV) -> __m512 {
        match kind {
            ACT_RELU => act::<ACT_RELU>(v, p),
            ACT_CLIP => act::<ACT_CLIP>(v, p),
            ACT_LEAKY => act::<ACT_LEAKY>(v, p),
            ACT_HARD_SIGMOID => act::<ACT_HARD_SIGMOID>(v, p),
            ACT_HARD_SWISH => act::<ACT_HARD_SWISH>(v, p),
            _ => v,
        }
    }

    /// The lanes `lo..hi` of a 16-lane mask (empty when `lo >= hi`); `lo, hi <= 16`.
    #[inline]
    pub fn lane_mask(lo: usize, hi: usize) -> u16 {
        if lo >= hi {
            return 0;
        }
        let hi_bits = if hi >= 16 { u16::MAX } else { (1u16 << hi) - 1 };
        let lo_bits = if lo >= 16 { u16::MAX } else { (1u16 << lo) - 1 };
        hi_bits & !lo_bits
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::activation;
    use super::*;
    use std::arch::x86_64::*;

    #[test]
    fn in_register_activations_match_scalar() {
        if !available() {
            return;
        }
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::Clip { min: -0.5, max: 6.0 },
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Activation::HardSwish,
        ];
        let mut xs: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) * 0.37).collect();
        xs.extend([0.0, -0.0, f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 6.0, -0.5, 3.0, -3.0]);
        xs.resize(xs.len().next_multiple_of(16), 1.0);
        for act in acts {
            let e = Epi::new(act);
            assert!(e.post.is_none());
            for chunk in xs.chunks_exact(16) {
                let mut got = [0f32; 16];
                // SAFETY: AVX-512F checked above; the pointers cover 16 floats each.
                unsafe {
                    let p = EpiV::new(&e);
                    let v = act_dyn(e.kind, _mm512_loadu_ps(chunk.as_ptr()), &p);
                    _mm512_storeu_ps(got.as_mut_ptr(), v);
                }
                for (g, &x) in got.iter().zip(chunk) {
                    let want = activation::apply_scalar(act, x);
                    assert!(
                        g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                        "{act:?}({x}) = {g}, want {want}"
                    );
                }
            }
        }
        assert!(Epi::new(Activation::Sigmoid).post.is_some());
    }

    #[test]
    fn lane_masks() {
        assert_eq!(lane_mask(0, 16), u16::MAX);
        assert_eq!(lane_mask(1, 16), 0xFFFE);
        assert_eq!(lane_mask(0, 3), 0b111);
        assert_eq!(lane_mask(5, 5), 0);
        assert_eq!(lane_mask(7, 2), 0);
    }
}
