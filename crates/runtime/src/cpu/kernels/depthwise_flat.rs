//! AVX-512 depthwise convolution over flattened planes, for the narrow planes where the row
//! kernel ([`super::depthwise`]) wastes most of its lanes.
//!
//! The row kernel computes 16 output columns of one row per vector, so a 7-wide plane fills
//! 7 of 16 lanes and a 17-wide one 17 of 32. Here an output plane is one flat run of pixels,
//! sixteen at a time whatever their rows. With stride 1 and an output as wide as the input,
//! tap `(ky, kx)` of output pixel `q` reads input pixel `q + (ky*D - pad_t)*w + (kx*D -
//! pad_l)`: a contiguous vector load, with the lanes whose column or row falls outside the
//! image masked out. The masks depend only on the geometry, so they are computed once per
//! call for every (block of 16 pixels, tap). Bias, residual and activation are applied in
//! registers before the one store; planes are spread over threads.
//!
//! Stride 2 stays with the row kernel: splitting each input plane into its four phases (so
//! that the same flat loads apply) measured 1.4-2.4x slower than the row kernel's permutes.

use hetc_plan::Activation;

use super::conv::Conv2d;

/// Whether [`depthwise_flat`] handles this geometry (on an AVX-512 CPU): a depthwise 3x3 or
/// 5x5 convolution with stride 1, dilation 1 or 2 and an output as wide as its input.
pub(crate) fn flat_geometry_applies(p: &Conv2d) -> bool {
    p.c == p.group
        && p.m == p.c
        && p.kh == p.kw
        && p.stride_h == p.stride_w
        && p.dil_h == p.dil_w
        && matches!((p.kh, p.stride_w, p.dil_w), (3 | 5, 1, 1 | 2))
        && p.ow == p.w
        && p.oh > 0
        && p.ow > 0
}

/// Whether the flat kernel is the faster of the two AVX-512 depthwise kernels for this
/// geometry: the row kernel uses `ow / (16 * ceil(ow / 16))` of its lanes. Measured on a
/// Xeon (`bench_dw_flat`, best of 25, 1 and 2 threads): flat/row 0.79-0.85 at 7 wide, 0.72
/// at 17 (0.65 dilated), 0.92-0.99 at 33; 0.93-1.06 at 14, 28 and 65; 1.2-2 on full rows
/// (112, 129) and 5x5 windows.
pub(crate) fn flat_preferred(p: &Conv2d) -> bool {
    flat_geometry_applies(p) && p.kh == 3 && lane_use(p.ow) < FLAT_BELOW_LANE_USE
}

/// The share of the row kernel's lanes that hold output columns.
fn lane_use(ow: usize) -> f64 {
    ow as f64 / (16 * ow.div_ceil(16)) as f64
}

/// Lane use of the row kernel under which the flat one runs.
const FLAT_BELOW_LANE_USE: f64 = 0.75;

/// One tap of the flattened convolution: the row and column shift of its read relative to
/// the output pixel (for output pixel 0, the flat offset `dr * w + dc`).
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
struct Tap {
    dr: isize,
    dc: isize,
}

/// The taps of a geometry the flat kernel covers, in weight order.
#[cfg(target_arch = "x86_64")]
fn taps(p: &Conv2d) -> Vec<Tap> {
    let (k, d) = (p.kh, p.dil_w);
    (0..k * k)
        .map(|t| Tap { dr: ((t / k) * d) as isize - p.pad_t as isize, dc: ((t % k) * d) as isize - p.pad_l as isize })
        .collect()
}

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))` for a depthwise convolution that
/// [`flat_geometry_applies`] to, on an AVX-512 CPU; returns `false` without touching `out`
/// otherwise.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_flat(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    threads: usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !super::simd512::available() || !flat_geometry_applies(p) {
            return false;
        }
        x86::run(p, &taps(p), x, w, bias, out, accumulate, act, threads);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, x, w, bias, out, accumulate, act, threads);
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::activation;
    use super::super::conv::{Conv2d, for_each_depthwise_plane};
    use super::super::simd512::{ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_LEAKY, ACT_NONE, ACT_RELU};
    use super::super::simd512::{Epi, EpiV, act, lane_mask};
    use super::Tap;
    use hetc_plan::Activation;
    use std::arch::x86_64::*;

    /// Lanes per vector.
    const L: usize = 16;
    /// Most taps (5x5).
    const MAX_TAPS: usize = 25;

    /// What every plane of one call shares.
    struct Shared<'a> {
        p: &'a Conv2d,
        /// Flat offset of each tap's read for output pixel 0.
        offs: Vec<isize>,
        /// Load mask of each (block of 16 output pixels, tap), block-major.
        masks: Vec<u16>,
        epi: Epi,
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        p: &Conv2d,
        taps: &[Tap],
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        accumulate: bool,
        act: Activation,
        threads: usize,
    ) {
        // The input is as wide as the output (`flat_geometry_applies`).
        let offs: Vec<isize> = taps.iter().map(|t| t.dr * p.w as isize + t.dc).collect();
        // SAFETY: `run` is only reached on a CPU with AVX-512F (checked by `depthwise_flat`).
        let masks = unsafe { build_masks(p, taps) };
        let sh = Shared { p, offs, masks, epi: Epi::new(act) };
        macro_rules! go {
            ($k:literal) => {
                match sh.epi.kind {
                    ACT_RELU => planes::<$k, ACT_RELU>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_CLIP => planes::<$k, ACT_CLIP>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_LEAKY => planes::<$k, ACT_LEAKY>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_HARD_SIGMOID => planes::<$k, ACT_HARD_SIGMOID>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_HARD_SWISH => planes::<$k, ACT_HARD_SWISH>(&sh, x, w, bias, out, accumulate, threads),
                    _ => planes::<$k, ACT_NONE>(&sh, x, w, bias, out, accumulate, threads),
                }
            };
        }
        match taps.len() {
            9 => go!(9),
            25 => go!(25),
            n => unreachable!("depthwise_flat: {n} taps"),
        }
    }

    /// The load mask of every (block of 16 output pixels, tap), block-major: the lanes whose
    /// input pixel (output row + `dr`, output column + `dc`) lies inside the input plane.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn build_masks(p: &Conv2d, taps: &[Tap]) -> Vec<u16> {
        let pix = p.oh * p.ow;
        let nblk = pix.div_ceil(L);
        let mut masks = Vec::with_capacity(nblk * taps.len());
        let (mut r, mut c) = (0i32, 0i32);
        let (mut rs, mut cs) = ([0i32; L], [0i32; L]);
        let zero = _mm512_setzero_si512();
        let (h, w) = (_mm512_set1_epi32(p.h as i32), _mm512_set1_epi32(p.w as i32));
        for blk in 0..nblk {
            let live = L.min(pix - blk * L);
            for l in 0..live {
                (rs[l], cs[l]) = (r, c);
                c += 1;
                if c as usize == p.ow {
                    (r, c) = (r + 1, 0);
                }
            }
            // SAFETY: both arrays hold exactly 16 lanes.
            let (rv, cv) = unsafe { (_mm512_loadu_si512(rs.as_ptr().cast()), _mm512_loadu_si512(cs.as_ptr().cast())) };
            let live = lane_mask(0, live);
            for t in taps {
                let tr = _mm512_add_epi32(rv, _mm512_set1_epi32(t.dr as i32));
                let tc = _mm512_add_epi32(cv, _mm512_set1_epi32(t.dc as i32));
                masks.push(
                    _mm512_mask_cmpge_epi32_mask(live, tr, zero)
                        & _mm512_cmplt_epi32_mask(tr, h)
                        & _mm512_cmpge_epi32_mask(tc, zero)
                        & _mm512_cmplt_epi32_mask(tc, w),
                );
            }
        }
        masks
    }

    /// Runs every output plane (`T` taps, activation kind `A`).
    fn planes<const T: usize, const A: u8>(
        sh: &Shared,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        accumulate: bool,
        threads: usize,
    ) {
        let p = sh.p;
        assert!(T <= MAX_TAPS && sh.offs.len() == T && w.len() >= p.m * T);
        for_each_depthwise_plane(p, x, out, threads, |xp, oc, o| {
            let bv = bias.map_or(0.0, |bs| bs[oc]);
            // SAFETY: the CPU supports AVX-512F (checked by `depthwise_flat`); `xp` is this
            // plane's input, `o` its output, the weights its `T` taps, and the masks were
            // built for `p`.
            unsafe { plane::<T, A>(sh, xp, &w[oc * T..][..T], bv, o, accumulate) };
            if let Some(post) = sh.epi.post {
                activation::apply(post, o);
            }
        });
    }

    /// One output plane `o` from its input plane `xp`.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F; `xp` is an `h x w` input plane (`w == ow`); `wp` has
    /// `T` weights; `o` is the `oh x ow` output plane; `sh.masks` were built by [`run`] for
    /// `sh.p`.
    #[target_feature(enable = "avx512f")]
    unsafe fn plane<const T: usize, const A: u8>(
        sh: &Shared,
        xp: &[f32],
        wp: &[f32],
        bias: f32,
        o: &mut [f32],
        accumulate: bool,
    ) {
        let pix = o.len();
        let mut wv = [_mm512_setzero_ps(); MAX_TAPS];
        let mut base = [std::ptr::null::<f32>(); MAX_TAPS];
        for t in 0..T {
            wv[t] = _mm512_set1_ps(wp[t]);
            base[t] = xp.as_ptr().wrapping_offset(sh.offs[t]);
        }
        let bv = _mm512_set1_ps(bias);
        let ev = EpiV::new(&sh.epi);
        let out = o.as_mut_ptr();
        for (blk, masks) in sh.masks.chunks_exact(T).enumerate() {
            let q0 = blk * L;
            // Three partial sums, so that the taps' additions do not form one long chain.
            let mut acc = [bv, _mm512_setzero_ps(), _mm512_setzero_ps()];
            for t in 0..T {
                // SAFETY: the mask keeps exactly the lanes whose input pixel (row `q / ow +
                // dr`, column `q % ow + dc`) lies inside the plane, at flat index `q + dr * w
                // + dc` (`w == ow`), so every unmasked read is inside `xp`; masked lanes are
                // not accessed.
                let v = unsafe { _mm512_maskz_loadu_ps(masks[t], base[t].wrapping_add(q0)) };
                acc[t % 3] = _mm512_fmadd_ps(wv[t], v, acc[t % 3]);
            }
            let mut s = _mm512_add_ps(acc[0], _mm512_add_ps(acc[1], acc[2]));
            let sm = lane_mask(0, pix - q0);
            // SAFETY: the store mask keeps output pixels `q0..min(q0 + 16, pix)`, inside `o`.
            unsafe {
                let dst = out.add(q0);
                if accumulate {
                    s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(sm, dst));
                }
                _mm512_mask_storeu_ps(dst, sm, act::<A>(s, &ev));
            }
        }
    }
}
