//! Shared pieces of the AVX2+FMA convolution kernels (the 8-lane counterparts of
//! [`super::simd512`]): run-time detection, lane masks, and the fused epilogue's activations
//! evaluated in registers.
//!
//! The activation split ([`super::simd512::Epi`]) is the same as for AVX-512; the in-register
//! forms here reproduce the scalar ones in [`super::activation`] exactly (same operations in
//! the same order, NaN propagated the same way).

/// Whether the AVX2+FMA kernels can run on this CPU (checked once, then cached by std).
#[inline]
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::activation::has_avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::*;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::simd512::{ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_LEAKY, ACT_RELU, Epi};
    use std::arch::x86_64::*;

    /// [`Epi`]'s parameters as 8-lane vectors.
    #[derive(Clone, Copy)]
    pub(crate) struct EpiV8 {
        pub a: __m256,
        pub b: __m256,
    }

    impl EpiV8 {
        #[target_feature(enable = "avx2,fma")]
        pub fn new(e: &Epi) -> EpiV8 {
            EpiV8 { a: _mm256_set1_ps(e.a), b: _mm256_set1_ps(e.b) }
        }
    }

    /// `act(v)` for an activation kind `K` (one of the `ACT_*` constants of
    /// [`super::super::simd512`]). `vmaxps`/`vminps` return their second operand when either
    /// is NaN or both are equal, which is what `if x < lo { lo } else { x }` does with the
    /// operands in this order.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn act8<const K: u8>(v: __m256, p: &EpiV8) -> __m256 {
        let zero = _mm256_setzero_ps();
        match K {
            ACT_RELU => _mm256_max_ps(zero, v),
            ACT_CLIP => _mm256_min_ps(p.b, _mm256_max_ps(p.a, v)),
            ACT_LEAKY => {
                let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(v, zero);
                _mm256_blendv_ps(v, _mm256_mul_ps(v, p.a), neg)
            }
            ACT_HARD_SIGMOID => {
                // Not fused: the scalar form rounds the product before adding.
                let t = _mm256_add_ps(_mm256_mul_ps(p.a, v), p.b);
                _mm256_min_ps(_mm256_set1_ps(1.0), _mm256_max_ps(zero, t))
            }
            ACT_HARD_SWISH => {
                let t = _mm256_add_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.0 / 6.0)), _mm256_set1_ps(0.5));
                let t = _mm256_min_ps(_mm256_set1_ps(1.0), _mm256_max_ps(zero, t));
                _mm256_mul_ps(v, t)
            }
            _ => v,
        }
    }

    /// The lanes `lo..hi` of an 8-lane mask as `vmaskmovps` wants it (all bits set in the
    /// selected lanes); empty when `lo >= hi`. Values past 8 are clamped.
    #[inline]
    pub fn lane_mask8(lo: usize, hi: usize) -> [i32; 8] {
        std::array::from_fn(|l| if l >= lo && l < hi { -1 } else { 0 })
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::activation;
    use super::super::simd512::{ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_LEAKY, ACT_RELU, Epi};
    use super::*;
    use hetc_plan::Activation;
    use std::arch::x86_64::*;

    /// [`act8`] with the kind chosen at run time.
    #[target_feature(enable = "avx2,fma")]
    fn act8_dyn(kind: u8, v: __m256, p: &EpiV8) -> __m256 {
        match kind {
            ACT_RELU => act8::<ACT_RELU>(v, p),
            ACT_CLIP => act8::<ACT_CLIP>(v, p),
            ACT_LEAKY => act8::<ACT_LEAKY>(v, p),
            ACT_HARD_SIGMOID => act8::<ACT_HARD_SIGMOID>(v, p),
            ACT_HARD_SWISH => act8::<ACT_HARD_SWISH>(v, p),
            _ => v,
        }
    }

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
        xs.resize(xs.len().next_multiple_of(8), 1.0);
        for act in acts {
            let e = Epi::new(act);
            for chunk in xs.chunks_exact(8) {
                let mut got = [0f32; 8];
                // SAFETY: AVX2 and FMA checked above; the pointers cover 8 floats each.
                unsafe {
                    let p = EpiV8::new(&e);
                    let v = act8_dyn(e.kind, _mm256_loadu_ps(chunk.as_ptr()), &p);
                    _mm256_storeu_ps(got.as_mut_ptr(), v);
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
    }

    #[test]
    fn lane_masks() {
        assert_eq!(lane_mask8(0, 8), [-1; 8]);
        assert_eq!(lane_mask8(2, 5), [0, 0, -1, -1, -1, 0, 0, 0]);
        assert_eq!(lane_mask8(6, 3), [0; 8]);
        assert_eq!(lane_mask8(0, 12), [-1; 8]);
    }
}
