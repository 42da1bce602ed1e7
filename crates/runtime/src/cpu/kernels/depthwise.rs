//! AVX-512 depthwise convolution (NCHW, one input channel per group, any channel
//! multiplier) for 3x3 and 5x5 kernels with stride 1 or 2 (the same both ways), dilation 1
//! (or 2 with stride 1) and any padding.
//!
//! Output rows are computed in blocks of four (two for 5x5), sixteen output columns at a
//! time, reading the input plane in place: the zero padding is never materialised. Each input
//! row the block needs is loaded once (its `K` shifted vectors) and feeds every output row
//! that reads it; each (output row, kernel row) pair has its own accumulator, so the FMA
//! chains are short and independent. Input rows in the padding are skipped; columns in the
//! padding (or past the end of a row) are masked out of the loads, with masks computed once
//! per call for each column block. With stride 2 two loads cover 32 input columns and one
//! permutation gathers the even (or odd) ones; the pair serves two adjacent taps. Bias,
//! residual and activation are applied to the sums before they are stored. Planes are spread
//! over threads.

use hetc_plan::Activation;

use super::conv::Conv2d;

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))` for a depthwise convolution, if
/// this kernel covers it (AVX-512 CPU, [`applies`]); returns `false` without touching `out`
/// otherwise.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise(
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
        if !applies(p) || !super::simd512::available() {
            return false;
        }
        x86::run(p, x, w, bias, out, accumulate, act, threads);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, x, w, bias, out, accumulate, act, threads);
        false
    }
}

/// [`depthwise`] with the AVX2+FMA kernel ([`super::depthwise_avx2`]): same contract, for
/// CPUs with AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_avx2(
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
        if !applies(p) || !super::simd256::available() {
            return false;
        }
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { super::depthwise_avx2::run(p, x, w, bias, out, accumulate, act, threads) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, x, w, bias, out, accumulate, act, threads);
        false
    }
}

/// The geometries the AVX-512 and AVX2 kernels handle (on a CPU that has the extension).
pub(crate) fn applies(p: &Conv2d) -> bool {
    p.c == p.group
        && matches!((p.kh, p.kw), (3, 3) | (5, 5))
        && matches!(p.stride_w, 1 | 2)
        && p.stride_h == p.stride_w
        && p.dil_h == p.dil_w
        && (p.dil_w == 1 || (p.dil_w == 2 && p.stride_w == 1))
        && p.oh > 0
        && p.ow > 0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::activation;
    use super::super::conv::{Conv2d, for_each_depthwise_plane};
    use super::super::simd512::{ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_LEAKY, ACT_NONE, ACT_RELU};
    use super::super::simd512::{Epi, EpiV, act, lane_mask};
    use hetc_plan::Activation;
    use std::arch::x86_64::*;

    /// Lanes per vector.
    const L: usize = 16;

    /// What every plane of one call shares.
    struct Shared<'a> {
        p: &'a Conv2d,
        /// Load masks: stride 1, `[block][kx]` (16 lanes); stride 2, `[block][pair]` (32
        /// elements: the two loads of the pair at input column `2*o0 + 2*pair - pad_l`).
        masks: Vec<u32>,
        /// Store mask of each column block.
        store: Vec<u16>,
        epi: Epi,
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        accumulate: bool,
        act: Activation,
        threads: usize,
    ) {
        let nblk = p.ow.div_ceil(L);
        let pad_l = p.pad_l as isize;
        let w_in = p.w as isize;
        let per = if p.stride_w == 1 { p.kw } else { p.kw.div_ceil(2) };
        let mut masks = Vec::with_capacity(nblk * per);
        let mut store = Vec::with_capacity(nblk);
        for blk in 0..nblk {
            let o0 = (blk * L) as isize;
            store.push(lane_mask(0, p.ow - blk * L));
            for j in 0..per {
                // Elements `e` of the load(s) whose input column `base + e` is in the row.
                let (base, n) = if p.stride_w == 1 {
                    (o0 + (j * p.dil_w) as isize - pad_l, L)
                } else {
                    (2 * o0 + 2 * j as isize - pad_l, 2 * L)
                };
                let lo = (-base).clamp(0, n as isize) as usize;
                let hi = (w_in - base).clamp(0, n as isize) as usize;
                let m = if lo >= hi {
                    0
                } else {
                    let hi_bits = if hi >= 32 { u32::MAX } else { (1u32 << hi) - 1 };
                    hi_bits & !((1u32 << lo) - 1)
                };
                masks.push(m);
            }
        }
        let sh = Shared { p, masks, store, epi: Epi::new(act) };
        let kind = sh.epi.kind;
        macro_rules! go {
            ($k:literal, $s:literal, $d:literal) => {
                match kind {
                    ACT_RELU => planes::<$k, $s, $d, ACT_RELU>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_CLIP => planes::<$k, $s, $d, ACT_CLIP>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_LEAKY => planes::<$k, $s, $d, ACT_LEAKY>(&sh, x, w, bias, out, accumulate, threads),
                    ACT_HARD_SIGMOID => {
                        planes::<$k, $s, $d, ACT_HARD_SIGMOID>(&sh, x, w, bias, out, accumulate, threads)
                    }
                    ACT_HARD_SWISH => planes::<$k, $s, $d, ACT_HARD_SWISH>(&sh, x, w, bias, out, accumulate, threads),
                    _ => planes::<$k, $s, $d, ACT_NONE>(&sh, x, w, bias, out, accumulate, threads),
                }
            };
        }
        match (p.kh, p.stride_w, p.dil_w) {
            (3, 1, 1) => go!(3, 1, 1),
            (3, 2, 1) => go!(3, 2, 1),
            (3, 1, 2) => go!(3, 1, 2),
            (5, 1, 1) => go!(5, 1, 1),
            (5, 2, 1) => go!(5, 2, 1),
            (5, 1, 2) => go!(5, 1, 2),
            _ => unreachable!("depthwise: unsupported geometry {p:?}"),
        }
    }

    /// Runs every output plane.
    fn planes<const K: usize, const S: usize, const D: usize, const A: u8>(
        sh: &Shared,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        accumulate: bool,
        threads: usize,
    ) {
        let p = sh.p;
        let taps = K * K;
        assert!(w.len() >= p.m * taps);
        for_each_depthwise_plane(p, x, out, threads, |xp, oc, o| {
            let wp = &w[oc * taps..][..taps];
            let bv = bias.map_or(0.0, |bs| bs[oc]);
            // SAFETY: `run` is only reached when the CPU supports AVX-512F (checked by
            // `depthwise`); `xp` is one whole input plane, `o` one whole output plane, `wp`
            // has `K*K` taps, and the masks were built for this geometry.
            unsafe { plane::<K, S, D, A>(sh, xp, wp, bv, o, accumulate) };
            if let Some(post) = sh.epi.post {
                activation::apply(post, o);
            }
        });
    }

    /// Output rows computed together: they share the loads of their common input rows, and
    /// their accumulators (one per output row and kernel row) form independent chains.
    const fn row_block(k: usize) -> usize {
        if k <= 3 { 4 } else { 2 }
    }

    /// One output plane `o` (`oh x ow`) from its input plane `xp` (`h x w`).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F; `wp` has `K*K` elements; `sh.masks`/`sh.store` were built
    /// by [`run`] for `sh.p`, whose kernel is `K x K` with strides `S` and dilations `D`.
    #[target_feature(enable = "avx512f")]
    unsafe fn plane<const K: usize, const S: usize, const D: usize, const A: u8>(
        sh: &Shared,
        xp: &[f32],
        wp: &[f32],
        bias: f32,
        o: &mut [f32],
        accumulate: bool,
    ) {
        let p = sh.p;
        debug_assert!(p.kh == K && p.kw == K && p.stride_h == S && p.stride_w == S && p.dil_h == D && p.dil_w == D);
        debug_assert!(xp.len() == p.h * p.w && o.len() == p.oh * p.ow && wp.len() == K * K);
        let rb = const { row_block(K) };
        // Input rows read by one block of output rows.
        let nr = const { (row_block(K) - 1) * S + (K - 1) * D + 1 };
        let wv: [[__m512; K]; K] = std::array::from_fn(|ky| std::array::from_fn(|kx| _mm512_set1_ps(wp[ky * K + kx])));
        let bv = _mm512_set1_ps(bias);
        let ev = EpiV::new(&sh.epi);
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let per = if S == 1 { K } else { K.div_ceil(2) };
        let nblk = sh.store.len();
        debug_assert!(sh.masks.len() == nblk * per);
        let x0 = xp.as_ptr();
        let pad_l = p.pad_l as isize;
        let mut oy0 = 0;
        while oy0 < p.oh {
            let rows_out = rb.min(p.oh - oy0);
            // Input row `r` of this block is `oy0*S - pad_t + r`; rows `r_lo..r_hi` are in
            // the image, the others in the padding.
            let top = (oy0 * S) as isize - p.pad_t as isize;
            let r_lo = (-top).clamp(0, nr as isize) as usize;
            let r_hi = (p.h as isize - top).clamp(0, nr as isize) as usize;
            let base = x0.wrapping_offset(top * p.w as isize);
            for blk in 0..nblk {
                let o0 = blk * L;
                let masks = &sh.masks[blk * per..][..per];
                // Accumulators per (output row, kernel row).
                let mut acc = [[_mm512_setzero_ps(); K]; 4];
                for r in 0..nr {
                    if r < r_lo || r >= r_hi {
                        continue;
                    }
                    let row = base.wrapping_add(r * p.w);
                    // The K input vectors of this row: tap `kx` reads input column
                    // `S*(o0 + lane) + kx*D - pad_l`.
                    let mut v = [_mm512_setzero_ps(); K];
                    // SAFETY: `row` is input row `top + r` with `0 <= top + r < h`; every unmasked
                    // lane reads an input column in `0..w` (the masks select exactly those), so
                    // inside `xp`.
                    unsafe {
                        if S == 1 {
                            for (kx, v) in v.iter_mut().enumerate() {
                                let src = row.wrapping_offset(o0 as isize + (kx * D) as isize - pad_l);
                                *v = _mm512_maskz_loadu_ps(masks[kx] as u16, src);
                            }
                        } else {
                            for (j, &m) in masks.iter().enumerate() {
                                let src = row.wrapping_offset(2 * o0 as isize + 2 * j as isize - pad_l);
                                let lo = _mm512_maskz_loadu_ps(m as u16, src);
                                let hi = _mm512_maskz_loadu_ps((m >> 16) as u16, src.wrapping_add(L));
                                v[2 * j] = _mm512_permutex2var_ps(lo, even, hi);
                                if 2 * j + 1 < K {
                                    v[2 * j + 1] = _mm512_permutex2var_ps(lo, odd, hi);
                                }
                            }
                        }
                    }
                    for (i, acc) in acc.iter_mut().enumerate().take(rb) {
                        // Output row `oy0 + i` reads this input row with kernel row `ky`.
                        let Some(ky) = r.checked_sub(i * S).filter(|&d| d % D == 0 && d / D < K).map(|d| d / D) else {
                            continue;
                        };
                        for kx in 0..K {
                            acc[ky] = _mm512_fmadd_ps(wv[ky][kx], v[kx], acc[ky]);
                        }
                    }
                }
                let sm = sh.store[blk];
                for (i, acc) in acc.iter().enumerate().take(rows_out) {
                    let mut t = bv;
                    for a in acc {
                        t = _mm512_add_ps(t, *a);
                    }
                    // SAFETY: the store mask keeps lanes below `ow - o0`, inside output row
                    // `oy0 + i < oh`.
                    unsafe {
                        let dst = o.as_mut_ptr().add((oy0 + i) * p.ow + o0);
                        if accumulate {
                            t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(sm, dst));
                        }
                        _mm512_mask_storeu_ps(dst, sm, act::<A>(t, &ev));
                    }
                }
            }
            oy0 += rows_out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::activation::{self, test_util::*};
    use super::*;

    /// Direct definition, f64 accumulation.
    fn naive(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, res: Option<&[f32]>, act: Activation) -> Vec<f32> {
        let mult = p.m / p.c;
        let mut y = vec![0f32; p.n * p.m * p.oh * p.ow];
        for b in 0..p.n {
            for oc in 0..p.m {
                let ic = oc / mult;
                for oy in 0..p.oh {
                    for ox in 0..p.ow {
                        let mut s = bias.map_or(0.0, |bs| bs[oc] as f64);
                        for ky in 0..p.kh {
                            for kx in 0..p.kw {
                                let iy = (oy * p.stride_h + ky * p.dil_h) as isize - p.pad_t as isize;
                                let ix = (ox * p.stride_w + kx * p.dil_w) as isize - p.pad_l as isize;
                                if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                    continue;
                                }
                                let xv = x[((b * p.c + ic) * p.h + iy as usize) * p.w + ix as usize] as f64;
                                s += xv * w[(oc * p.kh + ky) * p.kw + kx] as f64;
                            }
                        }
                        let idx = ((b * p.m + oc) * p.oh + oy) * p.ow + ox;
                        if let Some(r) = res {
                            s += r[idx] as f64;
                        }
                        y[idx] = activation::apply_scalar(act, s as f32);
                    }
                }
            }
        }
        y
    }

    /// (n, c, h, w, multiplier, k, stride, pads [t, l, b, r]).
    #[allow(clippy::too_many_arguments)]
    fn geom(n: usize, c: usize, h: usize, w: usize, mult: usize, k: usize, s: usize, pads: [usize; 4]) -> Conv2d {
        dilated(n, c, h, w, mult, k, s, 1, pads)
    }

    #[allow(clippy::too_many_arguments)]
    fn dilated(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        mult: usize,
        k: usize,
        s: usize,
        d: usize,
        pads: [usize; 4],
    ) -> Conv2d {
        let out = |len: usize, pb: usize, pe: usize| (len + pb + pe - (d * (k - 1) + 1)) / s + 1;
        Conv2d {
            n,
            c,
            h,
            w,
            m: c * mult,
            oh: out(h, pads[0], pads[2]),
            ow: out(w, pads[1], pads[3]),
            kh: k,
            kw: k,
            stride_h: s,
            stride_w: s,
            dil_h: d,
            dil_w: d,
            pad_t: pads[0],
            pad_l: pads[1],
            group: c,
        }
    }

    /// A kernel entry point: [`depthwise`] or [`depthwise_avx2`].
    type Kernel = fn(&Conv2d, &[f32], &[f32], Option<&[f32]>, &mut [f32], bool, Activation, usize) -> bool;

    #[test]
    fn avx512_matches_naive() {
        if crate::cpu::kernels::simd512::available() {
            check_kernel(depthwise);
        }
    }

    #[test]
    fn avx2_matches_naive() {
        if crate::cpu::kernels::simd256::available() {
            check_kernel(depthwise_avx2);
        }
    }

    #[test]
    fn flat_avx512_matches_naive() {
        if !crate::cpu::kernels::simd512::available() {
            return;
        }
        let flat: Vec<Conv2d> =
            cases().into_iter().filter(super::super::depthwise_flat::flat_geometry_applies).collect();
        // Stride 1 as wide as the input: 3x3, 5x5, dilated, asymmetric padding.
        assert!(flat.len() >= 12, "only {} flat cases", flat.len());
        assert!(
            flat.iter().any(|p| p.kh == 5) && flat.iter().any(|p| p.dil_w == 2) && flat.iter().any(|p| p.oh != p.h)
        );
        check_cases(super::super::depthwise_flat::depthwise_flat, &flat);
    }

    fn check_kernel(kernel: Kernel) {
        let cases = cases();
        for p in &cases {
            assert!(applies(p), "{p:?}");
        }
        check_cases(kernel, &cases);
    }

    fn cases() -> Vec<Conv2d> {
        vec![
            geom(1, 3, 7, 7, 1, 3, 1, [1; 4]),
            geom(2, 5, 14, 14, 1, 3, 1, [1; 4]),
            geom(1, 4, 9, 17, 1, 3, 1, [1; 4]),
            geom(1, 3, 11, 33, 2, 3, 1, [1; 4]),
            geom(1, 2, 5, 40, 1, 3, 1, [0; 4]),
            geom(1, 2, 13, 31, 3, 3, 1, [2, 0, 1, 2]),
            geom(1, 3, 1, 1, 1, 3, 1, [1; 4]),
            geom(1, 2, 2, 3, 1, 3, 1, [1; 4]),
            geom(1, 2, 6, 5, 1, 3, 1, [3, 3, 3, 3]),
            geom(1, 3, 112, 112, 1, 3, 2, [1; 4]),
            geom(1, 4, 15, 15, 1, 3, 2, [1; 4]),
            geom(2, 3, 16, 33, 1, 3, 2, [0, 0, 1, 1]),
            geom(1, 2, 9, 64, 2, 3, 2, [1, 0, 1, 2]),
            geom(1, 2, 4, 2, 1, 3, 2, [1; 4]),
            geom(1, 3, 12, 12, 1, 5, 1, [2; 4]),
            geom(1, 2, 9, 37, 2, 5, 1, [2, 1, 2, 3]),
            geom(1, 3, 20, 20, 1, 5, 2, [2; 4]),
            geom(1, 2, 11, 35, 1, 5, 2, [1, 2, 3, 0]),
            dilated(1, 3, 17, 17, 1, 3, 1, 2, [2; 4]),
            dilated(2, 2, 9, 21, 2, 3, 1, 2, [1, 2, 3, 0]),
            dilated(1, 2, 3, 4, 1, 3, 1, 2, [2; 4]),
            dilated(1, 2, 14, 35, 1, 5, 1, 2, [4; 4]),
            // 8-lane edges: exactly one and two vectors wide, one past, tiny 5x5 stride 2
            geom(1, 7, 8, 8, 1, 3, 1, [1; 4]),
            geom(1, 9, 10, 18, 1, 3, 2, [1; 4]),
            geom(1, 3, 16, 17, 1, 3, 1, [1; 4]),
            geom(1, 5, 3, 3, 1, 5, 2, [2; 4]),
            geom(1, 6, 9, 23, 1, 5, 1, [0, 2, 0, 2]),
            // Flat-kernel shapes: narrow planes, odd sizes, stride 2 with each padding
            geom(1, 5, 7, 7, 1, 3, 1, [1; 4]),
            geom(1, 4, 17, 17, 1, 3, 1, [1; 4]),
            geom(2, 3, 14, 14, 1, 3, 2, [1; 4]),
            geom(1, 3, 17, 17, 1, 3, 2, [1; 4]),
            geom(1, 3, 33, 33, 1, 3, 2, [1; 4]),
            geom(1, 2, 16, 16, 1, 3, 2, [0, 0, 1, 1]),
            geom(1, 2, 15, 9, 1, 3, 2, [0, 0, 1, 1]),
            geom(1, 2, 5, 3, 1, 3, 2, [1, 1, 0, 0]),
            geom(1, 2, 1, 2, 1, 3, 2, [1; 4]),
            geom(1, 3, 7, 7, 1, 5, 1, [2; 4]),
            dilated(1, 3, 9, 9, 1, 3, 1, 2, [2; 4]),
        ]
    }

    fn check_cases(kernel: Kernel, cases: &[Conv2d]) {
        let mut rng = Rng::new(21);
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::Clip { min: -0.3, max: 0.4 },
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Activation::HardSwish,
            Activation::Sigmoid,
        ];
        for p in cases {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.kh * p.kw);
            let bias = rng.vec(p.m);
            let res = rng.vec(p.n * p.m * p.oh * p.ow);
            for (k, &act) in acts.iter().enumerate() {
                let b = (k % 3 != 1).then_some(&bias[..]);
                let accumulate = k % 2 == 1;
                let want = naive(p, &x, &w, b, accumulate.then_some(&res[..]), act);
                for threads in [1, 2] {
                    let mut out = if accumulate { res.clone() } else { vec![f32::NAN; res.len()] };
                    let done = in_pool(threads, || kernel(p, &x, &w, b, &mut out, accumulate, act, threads));
                    assert!(done, "{p:?}");
                    assert_close(&out, &want, 1e-4);
                }
            }
        }
    }
}

#[cfg(test)]
mod bench {
    use super::super::activation::test_util::*;
    use super::super::depthwise_flat::depthwise_flat;
    use super::*;

    /// The row kernel against the flat one on the shared models' depthwise shapes, interleaved:
    /// `cargo test --release -p hetc-runtime --lib -- --ignored --nocapture bench_dw_flat`.
    #[test]
    #[ignore]
    fn bench_dw_flat() {
        if !crate::cpu::kernels::simd512::available() {
            return;
        }
        // (channels, input size, kernel, stride, dilation)
        let shapes = [
            (32, 112, 3, 1, 1),
            (144, 56, 3, 1, 1),
            (192, 28, 3, 1, 1),
            (384, 14, 3, 1, 1),
            (960, 7, 3, 1, 1),
            (32, 129, 3, 1, 1),
            (128, 65, 3, 1, 1),
            (256, 33, 3, 1, 1),
            (512, 17, 3, 1, 1),
            (512, 17, 3, 1, 2),
            (48, 160, 5, 1, 1),
            (120, 40, 5, 1, 1),
        ];
        let act = Activation::Clip { min: 0.0, max: 6.0 };
        let mut rng = Rng::new(5);
        for (c, hw, k, s, d) in shapes {
            let pad = d * (k - 1) / 2;
            let p = super::tests_geom(c, hw, k, s, d, pad);
            let x = rng.vec(p.c * p.h * p.w);
            let w = rng.vec(p.m * k * k);
            let bias = rng.vec(p.m);
            let mut out = vec![0f32; p.m * p.oh * p.ow];
            for threads in [1, 2] {
                let mut t = [Vec::new(), Vec::new()];
                let reps = (4_000_000 / (p.m * p.oh * p.ow * k * k)).clamp(1, 200);
                for _ in 0..25 {
                    for (i, t) in t.iter_mut().enumerate() {
                        let s = std::time::Instant::now();
                        for _ in 0..reps {
                            in_pool(threads, || {
                                if i == 0 {
                                    depthwise(&p, &x, &w, Some(&bias), &mut out, false, act, threads)
                                } else {
                                    depthwise_flat(&p, &x, &w, Some(&bias), &mut out, false, act, threads)
                                }
                            });
                        }
                        t.push(s.elapsed().as_secs_f64() * 1e6 / reps as f64);
                    }
                }
                for v in &mut t {
                    v.sort_by(f64::total_cmp);
                }
                println!(
                    "t{threads} dw {c:4} {hw:3} k{k} s{s} d{d}: row min {:8.1} med {:8.1} us | flat min {:8.1} med {:8.1} us | flat/row {:.2}",
                    t[0][0],
                    t[0][12],
                    t[1][0],
                    t[1][12],
                    t[1][0] / t[0][0]
                );
            }
        }
    }
}

/// A square depthwise geometry for the benchmarks.
#[cfg(test)]
fn tests_geom(c: usize, hw: usize, k: usize, s: usize, d: usize, pad: usize) -> Conv2d {
    let o = (hw + 2 * pad - (d * (k - 1) + 1)) / s + 1;
    Conv2d {
        n: 1,
        c,
        h: hw,
        w: hw,
        m: c,
        oh: o,
        ow: o,
        kh: k,
        kw: k,
        stride_h: s,
        stride_w: s,
        dil_h: d,
        dil_w: d,
        pad_t: pad,
        pad_l: pad,
        group: c,
    }
}
