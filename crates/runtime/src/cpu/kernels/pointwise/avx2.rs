//! The AVX2+FMA microkernels of the pointwise/grouped products: the 8-lane forms of the
//! AVX-512 `kernel`, `dot` and `pack_tile` of the parent module, driven by the same plan.
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

/// Rows `i..i+mr` (`mr <= 6`) by columns `j..j+tw` of `g`, whose `k` input rows start at
/// `x` with stride `ldx`, as register blocks of 16 columns.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; the rows and columns are inside the product, `x` is
/// valid for `k` rows of those `tw` columns, and no other thread touches the output block.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile(g: &Product, i: usize, mr: usize, j: usize, tw: usize, x: *const f32, ldx: usize, ks: Steps) {
    debug_assert!(mr >= 1 && mr <= MR);
    let mut c = 0;
    while c < tw {
        let cw = NB.min(tw - c);
        let nv = cw.div_ceil(8);
        let last = mask8(0, cw - (nv - 1) * 8);
        let xc = x.wrapping_add(c);
        // SAFETY: columns `j+c..j+c+cw` are inside the tile (caller's contract).
        unsafe {
            macro_rules! rows {
                ($v:literal) => {
                    match mr {
                        6 => kernel::<6, $v>(g, i, j + c, last, xc, ldx, ks),
                        5 => kernel::<5, $v>(g, i, j + c, last, xc, ldx, ks),
                        4 => kernel::<4, $v>(g, i, j + c, last, xc, ldx, ks),
                        3 => kernel::<3, $v>(g, i, j + c, last, xc, ldx, ks),
                        2 => kernel::<2, $v>(g, i, j + c, last, xc, ldx, ks),
                        _ => kernel::<1, $v>(g, i, j + c, last, xc, ldx, ks),
                    }
                };
            }
            if nv == 2 { rows!(2) } else { rows!(1) }
        }
        c += cw;
    }
}

/// Rows `i..i+R` by columns `j..j+8*V` (the last vector masked by `last`), whose `k` input
/// rows start at `x` with stride `ldx`.
///
/// # Safety
///
/// As [`tile`], for these columns (those past `j + 8*(V-1)` only where `last` has lanes).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize, const V: usize>(
    g: &Product,
    i: usize,
    j: usize,
    last: __m256i,
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
                if v + 1 == V { _mm256_maskload_ps(xp.add(v * 8), last) } else { _mm256_loadu_ps(xp.add(v * 8)) }
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
    let full = _mm256_set1_epi32(-1);
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
                let m = if v + 1 == V { last } else { full };
                let mut t = _mm256_add_ps(a, b);
                if read {
                    t = _mm256_add_ps(t, _mm256_maskload_ps(orow.add(v * 8), m));
                }
                if ks.last {
                    t = act8_dyn(g.epi.kind, t, &ev);
                }
                _mm256_maskstore_ps(orow.add(v * 8), m, t);
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

/// Copies `rows x cols` (`cols <= 64`) from `src` (row stride `ld`) to `dst` (row stride
/// 64), zero past `cols`.
///
/// # Safety
///
/// The CPU must support AVX2; `src` is valid for the elements described, `dst` for
/// `rows * 64` elements, and they do not overlap.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pack_tile(src: *const f32, ld: usize, rows: usize, cols: usize, dst: *mut f32) {
    const NT: usize = 64;
    let nv = cols.div_ceil(8);
    let masks: [__m256i; NT / 8] = std::array::from_fn(|v| mask8(0, cols.saturating_sub(v * 8)));
    for r in 0..rows {
        // SAFETY: row `r` has `cols` elements at `src + r*ld`; the masks keep lanes below
        // `cols`; `dst` has `NT` elements per row.
        unsafe {
            let s = src.add(r * ld);
            let d = dst.add(r * NT);
            for (v, &m) in masks.iter().enumerate().take(nv) {
                _mm256_storeu_ps(d.add(v * 8), _mm256_maskload_ps(s.add(v * 8), m));
            }
        }
    }
}
