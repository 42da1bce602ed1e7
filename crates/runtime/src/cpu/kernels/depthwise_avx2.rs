//! AVX2+FMA depthwise convolution: the 8-lane counterpart of the AVX-512 kernel in
//! [`super::depthwise`], for the same geometries ([`super::depthwise::applies`]).
//!
//! Output rows go in blocks of four (two for 5x5 windows, whose five input vectors per row
//! take more registers), eight output columns at a time, reading the input plane in place
//! (no padded copy). Each input row the block needs is loaded once (its `K` shifted vectors)
//! and feeds every output row that reads it. With 16 registers there is no room for an
//! accumulator per (output row, kernel row) as the AVX-512 kernel keeps, nor for the
//! weights: each output row has two accumulators (taps alternate between them, so several
//! FMA chains are in flight), and the weights are FMA memory operands. Columns in the padding
//! (or past the end of a row) are masked out of the loads; blocks whose loads are all inside
//! the row use plain loads. With stride 2, two loads cover 16 input columns and two shuffles
//! gather the even (or odd) ones; the pair serves two adjacent taps. Bias, residual and
//! activation are applied to the sums before they are stored. Planes are spread over
//! threads.

#![cfg(target_arch = "x86_64")]

use super::activation;
use super::conv::{Conv2d, for_each_depthwise_plane};
use super::simd256::{EpiV8, act8, lane_mask8};
use super::simd512::{ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_LEAKY, ACT_NONE, ACT_RELU, Epi};
use hetc_plan::Activation;
use std::arch::x86_64::*;

/// Lanes per vector.
const L: usize = 8;
/// Output rows per block for a `k x k` window.
const fn row_block(k: usize) -> usize {
    if k <= 3 { 4 } else { 2 }
}

/// What every plane of one call shares.
struct Shared<'a> {
    p: &'a Conv2d,
    /// Load masks: stride 1, `[block][kx]`; stride 2, `[block][pair][half]` (the two loads
    /// of the pair at input column `2*o0 + 2*pair - pad_l`).
    masks: Vec<[i32; 8]>,
    /// Whether every load of the block is inside the row (plain loads suffice).
    full: Vec<bool>,
    /// Store mask of each column block.
    store: Vec<[i32; 8]>,
    epi: Epi,
}

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))` for a depthwise convolution that
/// [`super::depthwise::applies`] to.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run(
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
    let per = if p.stride_w == 1 { p.kw } else { 2 * p.kw.div_ceil(2) };
    let mut masks = Vec::with_capacity(nblk * per);
    let mut full = Vec::with_capacity(nblk);
    let mut store = Vec::with_capacity(nblk);
    for blk in 0..nblk {
        let o0 = (blk * L) as isize;
        store.push(lane_mask8(0, p.ow - blk * L));
        let mut all = true;
        for j in 0..per {
            // Lanes `e` of load `j` whose input column `base + e` is in the row.
            let base = if p.stride_w == 1 {
                o0 + (j * p.dil_w) as isize - pad_l
            } else {
                2 * o0 + 2 * (j / 2) as isize + (L * (j % 2)) as isize - pad_l
            };
            let lo = (-base).clamp(0, L as isize) as usize;
            let hi = (w_in - base).clamp(0, L as isize) as usize;
            all &= lo == 0 && hi == L;
            masks.push(lane_mask8(lo, hi));
        }
        full.push(all);
    }
    let sh = Shared { p, masks, full, store, epi: Epi::new(act) };
    let kind = sh.epi.kind;
    macro_rules! go {
        ($k:literal, $s:literal, $d:literal) => {
            match kind {
                ACT_RELU => planes::<$k, $s, $d, ACT_RELU>(&sh, x, w, bias, out, accumulate, threads),
                ACT_CLIP => planes::<$k, $s, $d, ACT_CLIP>(&sh, x, w, bias, out, accumulate, threads),
                ACT_LEAKY => planes::<$k, $s, $d, ACT_LEAKY>(&sh, x, w, bias, out, accumulate, threads),
                ACT_HARD_SIGMOID => planes::<$k, $s, $d, ACT_HARD_SIGMOID>(&sh, x, w, bias, out, accumulate, threads),
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
        _ => unreachable!("depthwise_avx2: unsupported geometry {p:?}"),
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
        // SAFETY: `run`'s caller guarantees AVX2 and FMA; `xp` is one whole input plane, `o`
        // one whole output plane, `wp` has `K*K` taps, and the masks were built for this
        // geometry.
        unsafe { plane::<K, S, D, A>(sh, xp, wp, bv, o, accumulate) };
        if let Some(post) = sh.epi.post {
            activation::apply(post, o);
        }
    });
}

/// Loads 8 floats at `src`, the lanes outside `mask` as zero (plain load when `full`).
///
/// # Safety
///
/// AVX2; every lane selected by `mask` (all of them when `full`) is readable.
#[inline(always)]
unsafe fn load(src: *const f32, mask: &[i32; 8], full: bool) -> __m256 {
    // SAFETY: forwarded from the contract; masked-out lanes are not accessed by `vmaskmovps`.
    unsafe {
        if full { _mm256_loadu_ps(src) } else { _mm256_maskload_ps(src, _mm256_loadu_si256(mask.as_ptr().cast())) }
    }
}

/// One output plane `o` (`oh x ow`) from its input plane `xp` (`h x w`).
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `wp` has `K*K` elements; `sh.masks`/`sh.store` were
/// built by [`run`] for `sh.p`, whose kernel is `K x K` with strides `S` and dilations `D`.
#[target_feature(enable = "avx2,fma")]
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
    // Input rows read by one block of output rows.
    let rb = const { row_block(K) };
    let nr = const { (row_block(K) - 1) * S + (K - 1) * D + 1 };
    let wv: [[__m256; K]; K] = std::array::from_fn(|ky| std::array::from_fn(|kx| _mm256_set1_ps(wp[ky * K + kx])));
    let bv = _mm256_set1_ps(bias);
    let ev = EpiV8::new(&sh.epi);
    let per = if S == 1 { K } else { 2 * K.div_ceil(2) };
    let nblk = sh.store.len();
    debug_assert!(sh.masks.len() == nblk * per);
    let x0 = xp.as_ptr();
    let pad_l = p.pad_l as isize;
    let mut oy0 = 0;
    while oy0 < p.oh {
        let rows_out = rb.min(p.oh - oy0);
        // Input row `r` of this block is `oy0*S - pad_t + r`; rows `r_lo..r_hi` are in the
        // image, the others in the padding.
        let top = (oy0 * S) as isize - p.pad_t as isize;
        let r_lo = (-top).clamp(0, nr as isize) as usize;
        let r_hi = (p.h as isize - top).clamp(0, nr as isize) as usize;
        let base = x0.wrapping_offset(top * p.w as isize);
        for blk in 0..nblk {
            let o0 = blk * L;
            let masks = &sh.masks[blk * per..][..per];
            let full = sh.full[blk];
            // Two accumulators per output row; tap `t` adds into `acc[row][t % 2]`.
            let mut acc = [[_mm256_setzero_ps(); 2]; 4];
            // All `nr` rows, the padding skipped inside: with constant bounds the loop
            // unrolls, the kernel row of each (input row, output row) pair is a constant,
            // and the accumulators stay in registers.
            for r in 0..nr {
                if r < r_lo || r >= r_hi {
                    continue;
                }
                let row = base.wrapping_add(r * p.w);
                // The K input vectors of this row: tap `kx` reads input column
                // `S*(o0 + lane) + kx*D - pad_l`.
                let mut v = [_mm256_setzero_ps(); K];
                // SAFETY: `row` is input row `top + r` with `0 <= top + r < h`; every selected
                // lane reads an input column in `0..w` (the masks select exactly those; `full`
                // only when all are selected), so inside `xp`.
                unsafe {
                    if S == 1 {
                        for (kx, v) in v.iter_mut().enumerate() {
                            let src = row.wrapping_offset(o0 as isize + (kx * D) as isize - pad_l);
                            *v = load(src, &masks[kx], full);
                        }
                    } else {
                        for j in 0..K.div_ceil(2) {
                            let src = row.wrapping_offset(2 * o0 as isize + 2 * j as isize - pad_l);
                            let lo = load(src, &masks[2 * j], full);
                            let hi = load(src.wrapping_add(L), &masks[2 * j + 1], full);
                            // [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then the 64-bit pairs in
                            // order 0, 2, 1, 3: the eight even columns.
                            let ev = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
                            v[2 * j] = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(ev)));
                            if 2 * j + 1 < K {
                                let od = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
                                v[2 * j + 1] =
                                    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(od)));
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
                        let a = (ky * K + kx) % 2;
                        acc[a] = _mm256_fmadd_ps(wv[ky][kx], v[kx], acc[a]);
                    }
                }
            }
            let sm = &sh.store[blk];
            let store_full = o0 + L <= p.ow;
            for (i, acc) in acc.iter().enumerate().take(rows_out) {
                let mut t = _mm256_add_ps(bv, _mm256_add_ps(acc[0], acc[1]));
                // SAFETY: the store mask keeps lanes below `ow - o0` (all 8 when
                // `store_full`), inside output row `oy0 + i < oh`.
                unsafe {
                    let dst = o.as_mut_ptr().add((oy0 + i) * p.ow + o0);
                    if store_full {
                        if accumulate {
                            t = _mm256_add_ps(t, _mm256_loadu_ps(dst));
                        }
                        _mm256_storeu_ps(dst, act8::<A>(t, &ev));
                    } else {
                        let m = _mm256_loadu_si256(sm.as_ptr().cast());
                        if accumulate {
                            t = _mm256_add_ps(t, _mm256_maskload_ps(dst, m));
                        }
                        _mm256_maskstore_ps(dst, m, act8::<A>(t, &ev));
                    }
                }
            }
        }
        oy0 += rows_out;
    }
}
