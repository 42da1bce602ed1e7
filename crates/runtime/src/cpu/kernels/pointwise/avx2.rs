//! The AVX2+FMA microkernels of the pointwise/grouped products: the 8-lane forms of the
//! AVX-512 `kernel`, `dot` and `pack_tile` of the parent module, driven by the same plan
//! (except that tiles are packed whenever several channel blocks read them, into one panel
//! per 16-column register block, so that each block streams its input in order).
//!
//! A 6 x 64 block of the plan is computed as 6 x 16 register blocks: 12 accumulators, two
//! input vectors and a broadcast weight fill 15 of the 16 registers, so each reduction step
//! is 8 loads for 12 FMAs. Narrower edges use smaller instances and a masked last vector.

use super::super::activation;
use super::super::simd256::{EpiV8, act8_dyn, hsum8, mask8};
use super::x86::{Product, Steps};
use std::arch::x86_64::*;

/// Output channels per register block (the plan's `MR`).
const MR: usize = 6;
/// Pixels per register block.
const NB: usize = 16;

/// Rows `i..i+mr` (`mr <= 6`) by columns `j..j+tw` of `g`, as register blocks of 16
/// columns. The `k1 - k0` input rows of the step are at `x` with stride `ldx`, or, when
/// `g.pack`, in the panels [`pack_panels`] wrote at `x`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; the rows and columns are inside the product, `x` is
/// valid for those input rows of the `tw` columns (or their panels), and no other thread
/// touches the output block.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile(g: &Product, i: usize, mr: usize, j: usize, tw: usize, x: *const f32, ldx: usize, ks: Steps) {
    debug_assert!((1..=MR).contains(&mr));
    let rows = ks.k1 - ks.k0;
    let mut c = 0;
    while c < tw {
        let cw = NB.min(tw - c);
        let nv = cw.div_ceil(8);
        let last = mask8(0, cw - (nv - 1) * 8);
        let partial = !cw.is_multiple_of(8);
        // Packed panels are zero past the tile's columns: no masked loads.
        let (xc, ld, masked) =
            if g.pack { (x.wrapping_add(c * rows), NB, false) } else { (x.wrapping_add(c), ldx, partial) };
        // SAFETY: columns `j+c..j+c+cw` are inside the tile (caller's contract); a packed
        // panel holds all 16 columns of each row.
        unsafe {
            macro_rules! rows {
                ($v:literal, $m:literal) => {
                    match mr {
                        6 => kernel::<6, $v, $m>(g, i, j + c, last, partial, xc, ld, ks),
                        5 => kernel::<5, $v, $m>(g, i, j + c, last, partial, xc, ld, ks),
                        4 => kernel::<4, $v, $m>(g, i, j + c, last, partial, xc, ld, ks),
                        3 => kernel::<3, $v, $m>(g, i, j + c, last, partial, xc, ld, ks),
                        2 => kernel::<2, $v, $m>(g, i, j + c, last, partial, xc, ld, ks),
                        _ => kernel::<1, $v, $m>(g, i, j + c, last, partial, xc, ld, ks),
                    }
                };
            }
            match (nv, masked) {
                (2, false) => rows!(2, false),
                (2, true) => rows!(2, true),
                (_, false) => rows!(1, false),
                (_, true) => rows!(1, true),
            }
        }
        c += cw;
    }
}

/// Rows `i..i+R` by columns `j..j+8*V` (the last vector stored through `last` when
/// `partial`), whose input rows start at `x` with stride `ldx`; the last vector's loads are
/// masked when `M`.
///
/// # Safety
///
/// As [`tile`], for these columns (the input past `j + 8*(V-1)` readable where `last` has
/// lanes, or wholly unless `M`).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize, const V: usize, const M: bool>(
    g: &Product,
    i: usize,
    j: usize,
    last: __m256i,
    partial: bool,
    x: *const f32,
    ldx: usize,
    ks: Steps,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    // SAFETY: rows `i..i+R` of `w` have `k` elements each; the `k` rows at `x` have these
    // columns (the masked lanes excepted); the caller guarantees both.
    unsafe {
        let w = g.w.add(i * g.ldw);
        let mut xp = x;
        for kk in ks.k0..ks.k1 {
            let xv: [__m256; V] = std::array::from_fn(|v| {
                if M && v + 1 == V { _mm256_maskload_ps(xp.add(v * 8), last) } else { _mm256_loadu_ps(xp.add(v * 8)) }
            });
            for (r, acc) in acc.iter_mut().enumerate() {
                let wr = _mm256_broadcast_ss(&*w.add(r * g.ldw + kk));
                for v in 0..V {
                    acc[v] = _mm256_fmadd_ps(wr, xv[v], acc[v]);
                }
            }
            xp = xp.add(ldx);
        }
    }
    let ev = EpiV8::new(&g.epi);
    let read = g.accumulate || !ks.first;
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: bias has `m > i + r` elements; the output row `i + r` has columns
        // `j..j+8*V` outside the masked lanes (caller's contract).
        unsafe {
            let b = match g.bias {
                Some(b) if ks.last => _mm256_set1_ps(*b.add(i + r)),
                _ => _mm256_setzero_ps(),
            };
            let orow = g.out.add((i + r) * g.ldo + j);
            for (v, &a) in acc.iter().enumerate() {
                // Masked moves only for a partial last vector: `vmaskmovps` stores are slow
                // on AMD cores.
                let masked = partial && v + 1 == V;
                let dst = orow.add(v * 8);
                let mut t = _mm256_add_ps(a, b);
                if read {
                    let old = if masked { _mm256_maskload_ps(dst, last) } else { _mm256_loadu_ps(dst) };
                    t = _mm256_add_ps(t, old);
                }
                if ks.last {
                    t = act8_dyn(g.epi.kind, t, &ev);
                }
                if masked {
                    _mm256_maskstore_ps(dst, last, t);
                } else {
                    _mm256_storeu_ps(dst, t);
                }
            }
        }
    }
}

/// Rows `i..i+mr`, columns `j..j+len` (`len <= 4`) as dot products over the reduction, 8
/// steps at a time; `tb` holds the `len` input columns transposed (`len x k`). One row at
/// a time keeps the accumulators (`len` of them) in registers.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; the rows and columns are inside the product, `tb` has
/// `len * k` elements, and no other thread touches the output block.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(g: &Product, i: usize, mr: usize, j: usize, len: usize, tb: *const f32) {
    // SAFETY: forwarded.
    unsafe {
        match len {
            1 => dot_cols::<1>(g, i, mr, j, tb),
            2 => dot_cols::<2>(g, i, mr, j, tb),
            3 => dot_cols::<3>(g, i, mr, j, tb),
            _ => dot_cols::<4>(g, i, mr, j, tb),
        }
    }
}

/// [`dot`] for `T` columns.
///
/// # Safety
///
/// As [`dot`] with `len == T`.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_cols<const T: usize>(g: &Product, i: usize, mr: usize, j: usize, tb: *const f32) {
    for r in i..i + mr {
        let mut acc = [_mm256_setzero_ps(); T];
        let mut kk = 0;
        // SAFETY: lanes below `k - kk` of weight row `r` and of the `T` columns of `tb`.
        unsafe {
            let wrow = g.w.add(r * g.ldw);
            while kk < g.k {
                let m = mask8(0, g.k - kk);
                let wv = _mm256_maskload_ps(wrow.add(kk), m);
                for (t, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(wv, _mm256_maskload_ps(tb.add(t * g.k + kk), m), *acc);
                }
                kk += 8;
            }
        }
        // SAFETY: bias has `m > r` elements; output row `r` has columns `j..j+T`.
        unsafe {
            let b = g.bias.map_or(0.0, |b| *b.add(r));
            let orow = g.out.add(r * g.ldo + j);
            for (t, &a) in acc.iter().enumerate() {
                let mut v = hsum8(a) + b;
                if g.accumulate {
                    v += *orow.add(t);
                }
                *orow.add(t) = activation::apply_scalar(g.epi.scalar, v);
            }
        }
    }
}

/// Copies `rows x cols` (`cols <= 64`) from `src` (row stride `ld`) into panels of 16
/// columns at `dst`: panel `q` holds columns `16q..16q+16` of every row, row after row
/// (`rows * 16` elements), zero past `cols`.
///
/// # Safety
///
/// The CPU must support AVX2; `src` is valid for the elements described, `dst` for
/// `rows * 64` elements, and they do not overlap.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pack_panels(src: *const f32, ld: usize, rows: usize, cols: usize, dst: *mut f32) {
    let panels = cols.div_ceil(NB);
    let masks: [__m256i; 8] = std::array::from_fn(|v| mask8(0, cols.saturating_sub(v * 8)));
    for r in 0..rows {
        // SAFETY: row `r` has `cols` elements at `src + r*ld`; the masks keep lanes below
        // `cols`; panel `q` of `dst` has `rows * 16` elements.
        unsafe {
            let s = src.add(r * ld);
            for q in 0..panels {
                let d = dst.add(q * rows * NB + r * NB);
                for h in 0..2 {
                    let v = 2 * q + h;
                    _mm256_storeu_ps(d.add(h * 8), _mm256_maskload_ps(s.add(v * 8), masks[v]));
                }
            }
        }
    }
}
