//! Elementwise kernels: [`UnaryFn`]s and broadcasting [`BinaryFn`]s with an activation epilogue.
//!
//! Broadcasting follows numpy: shapes are aligned on the right and a dimension of 1 stretches to
//! the output's. Before running, the output's index space is collapsed into as few dimensions
//! as the operands' strides allow, so the common cases become one tight loop over contiguous
//! memory: same shapes collapse to one dimension, a scalar operand to one dimension with a zero
//! stride, and per-channel operands (`[N,C,H,W]` with `[1,C,1,1]` or `[C,1,1]`) to
//! `[N, C, H*W]` whose innermost loop reads the channel value once per plane.

use hetc_plan::{Activation, BinaryFn, UnaryFn};
use rayon::prelude::*;

/// Below this many output elements a kernel runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 16;
/// Elements computed before the activation epilogue runs over them (stays in L1/L2).
const BLOCK: usize = 4096;

/// Chunk length for splitting `len` elements over `threads` (a multiple of `granule`), or
/// `None` when the work is too small to be worth parallelising.
fn par_chunk(len: usize, threads: usize, granule: usize) -> Option<usize> {
    if threads <= 1 || len < PAR_MIN_ELEMS {
        return None;
    }
    let granule = granule.max(1);
    let chunk = len.div_ceil(threads * 4).div_ceil(granule) * granule;
    (chunk < len).then_some(chunk)
}

// ---------------------------------------------------------------------------------------------
// Unary
// ---------------------------------------------------------------------------------------------

/// The error function, within a few ulp in `f32`; branch-free so that it vectorises.
///
/// `x * P(x^2)` for `|x| < 1`, and `1 - exp(-x^2) * Q(|x|)` for `|x| >= 1` (`Q` approximating
/// the scaled complement `exp(x^2) erfc(x)`, `|x|` clamped to 4 where `erf` rounds to +-1 in
/// `f32`). `P` and `Q` are least-squares fits on Chebyshev nodes (errors below 1e-9); `x^2` is
/// split into two `f32`s so that `exp(-x^2)` keeps full precision.
#[inline]
pub fn erf(x: f32) -> f32 {
    const P: [f32; 9] = [
        std::f32::consts::FRAC_2_SQRT_PI,
        -0.37612638,
        0.11283791,
        -0.026866134,
        0.005223785,
        -0.0008542671,
        0.0001195695,
        -1.3911713e-05,
        1.0595288e-06,
    ];
    const Q: [f32; 13] = [
        0.21080637,
        -0.111521006,
        0.05611047,
        -0.027005725,
        0.0124897035,
        -0.0055673323,
        0.0024017012,
        -0.0010171197,
        0.00041450898,
        -0.00014394642,
        5.4946395e-05,
        -3.6929592e-05,
        1.3819399e-05,
    ];
    #[inline(always)]
    fn horner<const N: usize>(c: &[f32; N], t: f32) -> f32 {
        let mut acc = c[N - 1];
        for k in (0..N - 1).rev() {
            acc = acc * t + c[k];
        }
        acc
    }
    let a = x.abs();
    let small = x * horner(&P, x * x);
    let ac = if a < 4.0 { a } else { 4.0 };
    // ac^2 = hi + lo exactly (an f32 product is exact in f64); e^-lo ~ 1 - lo.
    let sq = ac as f64 * ac as f64;
    let hi = sq as f32;
    let lo = (sq - hi as f64) as f32;
    let tail = super::activation::exp(-hi) * (1.0 - lo) * horner(&Q, (ac - 2.5) * (1.0 / 1.5));
    let large = (1.0 - tail).copysign(x);
    let r = if a < 1.0 { small } else { large };
    if x.is_nan() { x } else { r }
}

/// One [`UnaryFn`] applied to one value (ONNX semantics: `Round` rounds half to even, `Sign`
/// keeps zeros and NaN).
#[inline]
pub fn unary_scalar(f: UnaryFn, x: f32) -> f32 {
    match f {
        UnaryFn::Exp => x.exp(),
        UnaryFn::Log => x.ln(),
        UnaryFn::Sqrt => x.sqrt(),
        UnaryFn::Reciprocal => 1.0 / x,
        UnaryFn::Neg => -x,
        UnaryFn::Abs => x.abs(),
        UnaryFn::Floor => x.floor(),
        UnaryFn::Ceil => x.ceil(),
        UnaryFn::Round => x.round_ties_even(),
        UnaryFn::Sign => sign(x),
        UnaryFn::Erf => erf(x),
        UnaryFn::Sin => x.sin(),
        UnaryFn::Cos => x.cos(),
    }
}

#[inline]
pub(super) fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// Runs `$body` with `$g` bound to a closure computing `f`, monomorphised per function so that
/// every loop is specialised.
macro_rules! with_unary {
    ($f:expr, $g:ident => $body:expr) => {
        match $f {
            UnaryFn::Exp => {
                let $g = |x: f32| x.exp();
                $body
            }
            UnaryFn::Log => {
                let $g = |x: f32| x.ln();
                $body
            }
            UnaryFn::Sqrt => {
                let $g = |x: f32| x.sqrt();
                $body
            }
            UnaryFn::Reciprocal => {
                let $g = |x: f32| 1.0 / x;
                $body
            }
            UnaryFn::Neg => {
                let $g = |x: f32| -x;
                $body
            }
            UnaryFn::Abs => {
                let $g = |x: f32| x.abs();
                $body
            }
            UnaryFn::Floor => {
                let $g = |x: f32| x.floor();
                $body
            }
            UnaryFn::Ceil => {
                let $g = |x: f32| x.ceil();
                $body
            }
            UnaryFn::Round => {
                let $g = |x: f32| x.round_ties_even();
                $body
            }
            UnaryFn::Sign => {
                let $g = sign;
                $body
            }
            UnaryFn::Erf => {
                let $g = erf;
                $body
            }
            UnaryFn::Sin => {
                let $g = |x: f32| x.sin();
                $body
            }
            UnaryFn::Cos => {
                let $g = |x: f32| x.cos();
                $body
            }
        }
    };
}
pub(super) use with_unary;

/// `out[i] = f(x[i])`. `x` and `out` have the same length.
pub fn unary(f: UnaryFn, x: &[f32], out: &mut [f32], threads: usize) {
    assert_eq!(x.len(), out.len(), "unary: input and output lengths differ");
    with_unary!(f, g => map_into(x, out, g, threads))
}

/// `data[i] = f(data[i])`.
pub fn unary_inplace(f: UnaryFn, data: &mut [f32], threads: usize) {
    with_unary!(f, g => map_inplace(data, g, threads))
}

fn map_into<G: Fn(f32) -> f32 + Sync + Copy>(x: &[f32], out: &mut [f32], g: G, threads: usize) {
    match par_chunk(out.len(), threads, 64) {
        None => map_slice(x, out, g),
        Some(c) => out.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(o, x)| map_slice(x, o, g)),
    }
}

fn map_inplace<G: Fn(f32) -> f32 + Sync + Copy>(data: &mut [f32], g: G, threads: usize) {
    match par_chunk(data.len(), threads, 64) {
        None => map_slice_inplace(data, g),
        Some(c) => data.par_chunks_mut(c).for_each(|d| map_slice_inplace(d, g)),
    }
}

/// `out[i] = g(x[i])`, compiled for AVX2+FMA too and picked at run time (as the activations
/// are): `erf` and the roundings vectorise far better there than on baseline x86-64.
fn map_slice<G: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], g: G) {
    #[inline(always)]
    fn generic<G: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], g: G) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = g(v);
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<G: Fn(f32) -> f32>(x: &[f32], out: &mut [f32], g: G) {
        generic(x, out, g)
    }
    #[cfg(target_arch = "x86_64")]
    if super::activation::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { avx2(x, out, g) };
        return;
    }
    generic(x, out, g)
}

/// `data[i] = g(data[i])`; see [`map_slice`].
fn map_slice_inplace<G: Fn(f32) -> f32>(data: &mut [f32], g: G) {
    #[inline(always)]
    fn generic<G: Fn(f32) -> f32>(data: &mut [f32], g: G) {
        for v in data.iter_mut() {
            *v = g(*v);
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<G: Fn(f32) -> f32>(data: &mut [f32], g: G) {
        generic(data, g)
    }
    #[cfg(target_arch = "x86_64")]
    if super::activation::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { avx2(data, g) };
        return;
    }
    generic(data, g)
}

// ---------------------------------------------------------------------------------------------
// Binary
// ---------------------------------------------------------------------------------------------

/// numpy's `maximum`: NaN in either operand gives NaN.
#[inline]
pub(super) fn max_nan(a: f32, b: f32) -> f32 {
    if a > b || a.is_nan() { a } else { b }
}

/// numpy's `minimum`: NaN in either operand gives NaN.
#[inline]
pub(super) fn min_nan(a: f32, b: f32) -> f32 {
    if a < b || a.is_nan() { a } else { b }
}

#[inline]
pub(super) fn prelu(x: f32, slope: f32) -> f32 {
    if x < 0.0 { slope * x } else { x }
}

/// One [`BinaryFn`] applied to one pair (no activation). `PRelu` takes `(x, slope)`.
#[inline]
pub fn binary_scalar(op: BinaryFn, a: f32, b: f32) -> f32 {
    match op {
        BinaryFn::Add => a + b,
        BinaryFn::Sub => a - b,
        BinaryFn::Mul => a * b,
        BinaryFn::Div => a / b,
        BinaryFn::Pow => a.powf(b),
        BinaryFn::Max => max_nan(a, b),
        BinaryFn::Min => min_nan(a, b),
        BinaryFn::PRelu => prelu(a, b),
    }
}

macro_rules! with_binary {
    ($op:expr, $g:ident => $body:expr) => {
        match $op {
            BinaryFn::Add => {
                let $g = |a: f32, b: f32| a + b;
                $body
            }
            BinaryFn::Sub => {
                let $g = |a: f32, b: f32| a - b;
                $body
            }
            BinaryFn::Mul => {
                let $g = |a: f32, b: f32| a * b;
                $body
            }
            BinaryFn::Div => {
                let $g = |a: f32, b: f32| a / b;
                $body
            }
            BinaryFn::Pow => {
                let $g = |a: f32, b: f32| a.powf(b);
                $body
            }
            BinaryFn::Max => {
                let $g = max_nan;
                $body
            }
            BinaryFn::Min => {
                let $g = min_nan;
                $body
            }
            BinaryFn::PRelu => {
                let $g = prelu;
                $body
            }
        }
    };
}
pub(super) use with_binary;

/// One dimension of the collapsed iteration space: output extent and each operand's element
/// stride (0 where the operand is broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dim {
    size: usize,
    sa: usize,
    sb: usize,
}

/// Strides of `shape` when broadcast to `out_shape` (right-aligned, 0 on broadcast dims).
fn broadcast_strides(shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    assert!(shape.len() <= out_shape.len(), "operand rank exceeds output rank");
    let lead = out_shape.len() - shape.len();
    let mut strides = vec![0; out_shape.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let d = shape[i];
        let o = out_shape[lead + i];
        assert!(d == o || d == 1, "shape {shape:?} does not broadcast to {out_shape:?}");
        if d != 1 {
            strides[lead + i] = s;
        }
        s *= d;
    }
    strides
}

/// The collapsed iteration space; never empty (a scalar output is one dimension of size 1).
fn collapse(out_shape: &[usize], sa: &[usize], sb: &[usize]) -> Vec<Dim> {
    let mut dims: Vec<Dim> = Vec::with_capacity(out_shape.len());
    for (i, &size) in out_shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let d = Dim { size, sa: sa[i], sb: sb[i] };
        if let Some(p) = dims.last_mut()
            && p.sa == d.sa * d.size
            && p.sb == d.sb * d.size
        {
            p.size *= d.size;
            p.sa = d.sa;
            p.sb = d.sb;
            continue;
        }
        dims.push(d);
    }
    if dims.is_empty() {
        dims.push(Dim { size: 1, sa: 1, sb: 1 });
    }
    dims
}

/// Walks the flat output range `[start, start + len)` as runs along the innermost dimension,
/// calling `seg(out_offset_in_range, a_offset, b_offset, run_len)` for each run.
fn walk(dims: &[Dim], start: usize, len: usize, mut seg: impl FnMut(usize, usize, usize, usize)) {
    let (inner, outer) = dims.split_last().expect("collapse never returns no dims");
    let l = inner.size;
    let mut row = start / l;
    let mut col = start % l;
    let mut idx = vec![0usize; outer.len()];
    let (mut ao, mut bo) = (0usize, 0usize);
    for i in (0..outer.len()).rev() {
        idx[i] = row % outer[i].size;
        row /= outer[i].size;
        ao += idx[i] * outer[i].sa;
        bo += idx[i] * outer[i].sb;
    }
    let mut pos = 0;
    while pos < len {
        let n = (l - col).min(len - pos);
        seg(pos, ao + col * inner.sa, bo + col * inner.sb, n);
        pos += n;
        col = 0;
        for i in (0..outer.len()).rev() {
            idx[i] += 1;
            ao += outer[i].sa;
            bo += outer[i].sb;
            if idx[i] < outer[i].size {
                break;
            }
            idx[i] = 0;
            ao -= outer[i].sa * outer[i].size;
            bo -= outer[i].sb * outer[i].size;
        }
    }
}

fn epilogue(act: Activation, out: &mut [f32]) {
    if act != Activation::Identity {
        super::activation::apply(act, out);
    }
}

/// `out = act(a op b)` with numpy broadcasting of `a` and `b` to `out_shape`.
///
/// `a` has `a_shape`, `b` has `b_shape`; both broadcast to `out_shape` (which the caller
/// computed as their broadcast shape). For `PRelu`, `a` is X and `b` the slope. The activation
/// is applied to the output in cache-sized blocks right after they are computed.
#[allow(clippy::too_many_arguments)]
pub fn binary(
    op: BinaryFn,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
    act: Activation,
    threads: usize,
) {
    let numel: usize = out_shape.iter().product();
    assert_eq!(out.len(), numel, "binary: output length does not match its shape");
    assert_eq!(a.len(), a_shape.iter().product::<usize>(), "binary: a length does not match its shape");
    assert_eq!(b.len(), b_shape.iter().product::<usize>(), "binary: b length does not match its shape");
    if numel == 0 {
        return;
    }
    let dims = collapse(out_shape, &broadcast_strides(a_shape, out_shape), &broadcast_strides(b_shape, out_shape));
    with_binary!(op, g => run_chunks(out, threads, |start, chunk| binary_range(g, &dims, a, b, start, chunk, act)))
}

/// `a = act(a op b)` in place: `a` has the output's shape `out_shape`, `b` broadcasts to it.
pub fn binary_inplace(
    op: BinaryFn,
    a: &mut [f32],
    out_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    act: Activation,
    threads: usize,
) {
    let numel: usize = out_shape.iter().product();
    assert_eq!(a.len(), numel, "binary_inplace: a length does not match the output shape");
    assert_eq!(b.len(), b_shape.iter().product::<usize>(), "binary_inplace: b length does not match its shape");
    if numel == 0 {
        return;
    }
    let sa = broadcast_strides(out_shape, out_shape);
    let dims = collapse(out_shape, &sa, &broadcast_strides(b_shape, out_shape));
    with_binary!(op, g => run_chunks(a, threads, |start, chunk| inplace_range(g, &dims, b, start, chunk, act, false)))
}

/// `b = act(a op b)` in place: `b` has the output's shape `out_shape`, `a` broadcasts to it
/// (for non-commutative ops whose output reuses the second operand's buffer).
pub fn binary_inplace_b(
    op: BinaryFn,
    a: &[f32],
    a_shape: &[usize],
    b: &mut [f32],
    out_shape: &[usize],
    act: Activation,
    threads: usize,
) {
    let numel: usize = out_shape.iter().product();
    assert_eq!(b.len(), numel, "binary_inplace_b: b length does not match the output shape");
    assert_eq!(a.len(), a_shape.iter().product::<usize>(), "binary_inplace_b: a length does not match its shape");
    if numel == 0 {
        return;
    }
    // Walk with the roles swapped: the in-place operand is "a" of the walk, the other "b".
    let sb = broadcast_strides(out_shape, out_shape);
    let dims = collapse(out_shape, &sb, &broadcast_strides(a_shape, out_shape));
    with_binary!(op, g => run_chunks(b, threads, |start, chunk| inplace_range(g, &dims, a, start, chunk, act, true)))
}

/// Splits `out` into parallel chunks (or not) and calls `f(start, chunk)` on each.
fn run_chunks(out: &mut [f32], threads: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    match par_chunk(out.len(), threads, BLOCK) {
        None => f(0, out),
        Some(c) => out.par_chunks_mut(c).enumerate().for_each(|(i, chunk)| f(i * c, chunk)),
    }
}

fn binary_range<G: Fn(f32, f32) -> f32>(
    g: G,
    dims: &[Dim],
    a: &[f32],
    b: &[f32],
    start: usize,
    out: &mut [f32],
    act: Activation,
) {
    let inner = *dims.last().expect("non-empty dims");
    for (bi, block) in out.chunks_mut(BLOCK).enumerate() {
        let len = block.len();
        walk(dims, start + bi * BLOCK, len, |o, ao, bo, n| {
            let dst = &mut block[o..o + n];
            match (inner.sa, inner.sb) {
                (1, 1) => {
                    for ((d, &x), &y) in dst.iter_mut().zip(&a[ao..ao + n]).zip(&b[bo..bo + n]) {
                        *d = g(x, y);
                    }
                }
                (1, 0) => {
                    let y = b[bo];
                    for (d, &x) in dst.iter_mut().zip(&a[ao..ao + n]) {
                        *d = g(x, y);
                    }
                }
                (0, 1) => {
                    let x = a[ao];
                    for (d, &y) in dst.iter_mut().zip(&b[bo..bo + n]) {
                        *d = g(x, y);
                    }
                }
                _ => dst.fill(g(a[ao], b[bo])),
            }
        });
        epilogue(act, block);
    }
}

/// The in-place walk: `data` is the walk's "a" (contiguous, the output itself), `other` its
/// "b". `swapped` computes `g(other, data)` instead of `g(data, other)`.
fn inplace_range<G: Fn(f32, f32) -> f32>(
    g: G,
    dims: &[Dim],
    other: &[f32],
    start: usize,
    data: &mut [f32],
    act: Activation,
    swapped: bool,
) {
    let inner = *dims.last().expect("non-empty dims");
    for (bi, block) in data.chunks_mut(BLOCK).enumerate() {
        let len = block.len();
        walk(dims, start + bi * BLOCK, len, |o, _, bo, n| {
            let dst = &mut block[o..o + n];
            match (inner.sb, swapped) {
                (0, false) => {
                    let y = other[bo];
                    dst.iter_mut().for_each(|d| *d = g(*d, y));
                }
                (0, true) => {
                    let y = other[bo];
                    dst.iter_mut().for_each(|d| *d = g(y, *d));
                }
                (_, false) => {
                    for (d, &y) in dst.iter_mut().zip(&other[bo..bo + n]) {
                        *d = g(*d, y);
                    }
                }
                (_, true) => {
                    for (d, &y) in dst.iter_mut().zip(&other[bo..bo + n]) {
                        *d = g(y, *d);
                    }
                }
            }
        });
        epilogue(act, block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small deterministic generator (xorshift) for test data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    fn close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            if g.is_nan() && w.is_nan() {
                continue;
            }
            let tol = 1e-5 * w.abs().max(1e-3);
            assert!((g - w).abs() <= tol || g == w, "element {i}: got {g}, want {w}");
        }
    }

    fn bshape(a: &[usize], b: &[usize]) -> Vec<usize> {
        let r = a.len().max(b.len());
        (0..r)
            .map(|i| {
                let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
                let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
                if da == 1 { db } else { da }
            })
            .collect()
    }

    /// Naive numpy-style broadcast: index of `shape` for flat output index `o`.
    fn src_index(o: usize, out_shape: &[usize], shape: &[usize]) -> usize {
        let mut rem = o;
        let mut coords = vec![0; out_shape.len()];
        for i in (0..out_shape.len()).rev() {
            coords[i] = rem % out_shape[i];
            rem /= out_shape[i];
        }
        let lead = out_shape.len() - shape.len();
        let mut idx = 0;
        for (i, &d) in shape.iter().enumerate() {
            let c = if d == 1 { 0 } else { coords[lead + i] };
            idx = idx * d + c;
        }
        idx
    }

    fn naive_binary(op: BinaryFn, a: &[f32], ash: &[usize], b: &[f32], bsh: &[usize], act: Activation) -> Vec<f32> {
        let osh = bshape(ash, bsh);
        let n: usize = osh.iter().product();
        (0..n)
            .map(|o| {
                let v = binary_scalar(op, a[src_index(o, &osh, ash)], b[src_index(o, &osh, bsh)]);
                super::super::activation::apply_scalar(act, v)
            })
            .collect()
    }

    const OPS: [BinaryFn; 8] = [
        BinaryFn::Add,
        BinaryFn::Sub,
        BinaryFn::Mul,
        BinaryFn::Div,
        BinaryFn::Pow,
        BinaryFn::Max,
        BinaryFn::Min,
        BinaryFn::PRelu,
    ];

    fn shape_pairs() -> Vec<(Vec<usize>, Vec<usize>)> {
        vec![
            (vec![2, 3, 5, 7], vec![2, 3, 5, 7]),
            (vec![2, 3, 5, 7], vec![1, 3, 1, 1]),
            (vec![2, 3, 5, 7], vec![3, 1, 1]),
            (vec![2, 3, 5, 7], vec![2, 3, 1, 1]),
            (vec![2, 3, 5, 7], vec![1]),
            (vec![2, 3, 5, 7], vec![]),
            (vec![1], vec![4, 3]),
            (vec![3, 1, 7], vec![1, 5, 1]),
            (vec![4, 1], vec![3]),
            (vec![5, 7], vec![7]),
            (vec![1, 3, 1, 9], vec![2, 1, 4, 1]),
            (vec![2, 1, 3, 1], vec![2, 5, 3, 4]),
            (vec![], vec![]),
            (vec![0, 3], vec![3]),
            (vec![1, 64, 33, 35], vec![1, 64, 1, 1]),
            (vec![3, 1, 1, 1], vec![3, 17, 19, 13]),
        ]
    }

    fn operand(rng: &mut Rng, op: BinaryFn, n: usize, second: bool) -> Vec<f32> {
        let v = rng.vec(n);
        if op == BinaryFn::Pow && !second {
            // Positive bases keep powf finite and comparable.
            v.iter().map(|x| x.abs() + 0.1).collect()
        } else if op == BinaryFn::Div && second {
            v.iter().map(|x| if x.abs() < 0.1 { 0.5 } else { *x }).collect()
        } else {
            v
        }
    }

    #[test]
    fn binary_matches_naive() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for (ash, bsh) in shape_pairs() {
            for op in OPS {
                for act in [Activation::Identity, Activation::Relu] {
                    let a = operand(&mut rng, op, ash.iter().product(), false);
                    let b = operand(&mut rng, op, bsh.iter().product(), true);
                    let osh = bshape(&ash, &bsh);
                    let want = naive_binary(op, &a, &ash, &b, &bsh, act);
                    for threads in [1, 3] {
                        let mut out = vec![f32::NAN; want.len()];
                        binary(op, &a, &ash, &b, &bsh, &mut out, &osh, act, threads);
                        close(&out, &want);
                        if osh == ash {
                            let mut ip = a.clone();
                            binary_inplace(op, &mut ip, &osh, &b, &bsh, act, threads);
                            close(&ip, &want);
                        }
                        if osh == bsh {
                            let mut ip = b.clone();
                            binary_inplace_b(op, &a, &ash, &mut ip, &osh, act, threads);
                            close(&ip, &want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn binary_large_parallel() {
        // Large enough to take the parallel path, with chunk boundaries inside rows.
        let mut rng = Rng(99);
        let ash = [2, 24, 37, 41];
        for bsh in [vec![1, 24, 1, 1], vec![24, 1, 1], vec![2, 24, 37, 41], vec![41], vec![2, 1, 37, 1]] {
            let a = rng.vec(ash.iter().product());
            let b = rng.vec(bsh.iter().product());
            let want = naive_binary(BinaryFn::Sub, &a, &ash, &b, &bsh, Activation::Identity);
            let mut out = vec![0.0; want.len()];
            binary(BinaryFn::Sub, &a, &ash, &b, &bsh, &mut out, &ash, Activation::Identity, 4);
            close(&out, &want);
            let mut ip = a.clone();
            binary_inplace(BinaryFn::Sub, &mut ip, &ash, &b, &bsh, Activation::Identity, 4);
            close(&ip, &want);
        }
    }

    #[test]
    fn binary_special_values() {
        let a = [f32::NAN, 1.0, -2.0, 0.0];
        let b = [1.0, f32::NAN, 3.0, -0.0];
        let mut out = [0.0; 4];
        binary(BinaryFn::Max, &a, &[4], &b, &[4], &mut out, &[4], Activation::Identity, 1);
        assert!(out[0].is_nan() && out[1].is_nan() && out[2] == 3.0);
        binary(BinaryFn::Min, &a, &[4], &b, &[4], &mut out, &[4], Activation::Identity, 1);
        assert!(out[0].is_nan() && out[1].is_nan() && out[2] == -2.0);
        // PRelu with a per-channel slope.
        let x = [-1.0, 2.0, -3.0, 4.0];
        let slope = [0.5, 0.25];
        binary(BinaryFn::PRelu, &x, &[1, 2, 2], &slope, &[2, 1], &mut out, &[1, 2, 2], Activation::Identity, 1);
        assert_eq!(out, [-0.5, 2.0, -0.75, 4.0]);
        binary(BinaryFn::Pow, &[2.0, -8.0, 4.0], &[3], &[3.0], &[1], &mut out[..3], &[3], Activation::Identity, 1);
        assert_eq!(&out[..3], &[8.0, -512.0, 64.0]);
    }

    #[test]
    fn unary_matches_naive() {
        let fns = [
            UnaryFn::Exp,
            UnaryFn::Log,
            UnaryFn::Sqrt,
            UnaryFn::Reciprocal,
            UnaryFn::Neg,
            UnaryFn::Abs,
            UnaryFn::Floor,
            UnaryFn::Ceil,
            UnaryFn::Round,
            UnaryFn::Sign,
            UnaryFn::Erf,
            UnaryFn::Sin,
            UnaryFn::Cos,
        ];
        let mut rng = Rng(7);
        for n in [0, 1, 17, 1000, 70_001] {
            let x: Vec<f32> = rng.vec(n).iter().map(|v| v * 5.0).collect();
            for f in fns {
                let want: Vec<f32> = x.iter().map(|&v| unary_scalar(f, v)).collect();
                let mut out = vec![0.0; n];
                unary(f, &x, &mut out, 4);
                close(&out, &want);
                let mut ip = x.clone();
                unary_inplace(f, &mut ip, 4);
                close(&ip, &want);
            }
        }
    }

    #[test]
    fn unary_onnx_semantics() {
        let r: Vec<f32> =
            [0.5f32, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].iter().map(|&v| unary_scalar(UnaryFn::Round, v)).collect();
        assert_eq!(r, [0.0, 2.0, 2.0, -0.0, -2.0, 2.0, -3.0]);
        assert_eq!(unary_scalar(UnaryFn::Sign, 0.0), 0.0);
        assert_eq!(unary_scalar(UnaryFn::Sign, -3.0), -1.0);
        assert!(unary_scalar(UnaryFn::Sign, f32::NAN).is_nan());
    }

    #[test]
    fn erf_accuracy() {
        // Reference values: Python's math.erf (double precision) at the f32-rounded inputs.
        let cases: [(f32, f64); 12] = [
            (0.0, 0.0),
            (1e-6, 1.1283791642462529e-06),
            (0.1, 0.11246291768297051),
            (0.5, 0.5204998778130465),
            (0.99, 0.838508073593712),
            (1.0, 0.8427007929497149),
            (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527),
            (2.5, 0.999593047982555),
            (3.5, 0.9999992569016276),
            (-0.7, -0.6778011855967799),
            (-3.0, -0.9999779095030014),
        ];
        for (x, want) in cases {
            let got = erf(x) as f64;
            assert!((got - want).abs() <= 3e-7 * want.abs().max(1e-30), "erf({x}) = {got}, want {want}");
        }
        // Dense check against an independent f64 evaluation (Taylor series below 3, continued
        // fraction for erfc above).
        fn erf64(x: f64) -> f64 {
            let a = x.abs();
            let v = if a < 3.0 {
                let (mut term, mut sum, mut n) = (a, a, 0.0);
                while term.abs() > 1e-18 * sum.abs() {
                    n += 1.0;
                    term *= -a * a / n;
                    sum += term / (2.0 * n + 1.0);
                }
                sum * 2.0 / std::f64::consts::PI.sqrt()
            } else {
                let mut f = 0.0;
                for k in (1..60).rev() {
                    f = (k as f64 / 2.0) / (a + f);
                }
                1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
            };
            v.copysign(x)
        }
        let mut worst = 0.0f64;
        let mut x = -5.0f32;
        while x < 5.0 {
            let want = erf64(x as f64);
            worst = worst.max(((erf(x) as f64 - want) / want.abs().max(1e-30)).abs());
            x += 0.000_37;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(erf(5.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert!(erf(f32::NAN).is_nan());
    }
}
