//! Reductions over a set of axes (ReduceSum, ReduceMean, ReduceMax, ...).
//!
//! The input's axes are first reduced to alternating runs of kept and reduced axes (unit axes
//! dropped, neighbours of the same kind merged), so `[N,C,H,W]` over `{2,3}` is `[N*C | H*W]`
//! and over `{1}` is `[N | C | H*W]`. The walk visits the input in memory order: a reduced
//! innermost run is folded into one value with several independent accumulators, a kept
//! innermost run is combined element-wise into a row of the output. Keepdims only changes the
//! output shape, which the caller owns; the output holds one value per kept index, row-major.

use hetc_plan::ReduceKind;
use rayon::prelude::*;

/// Below this many input elements the kernel runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 16;

/// Reduces `x` (shape `shape`) over `axes` (each `< shape.len()`, duplicates ignored) into
/// `out` (the product of the kept extents). Empty `axes` reduces nothing: each element is
/// mapped on its own (`L1` gives `|x|`, `SumSquare` gives `x^2`, ...), which is the ONNX
/// `noop_with_empty_axes` behaviour; the caller expands "all axes" itself.
///
/// Reducing an empty set gives ONNX's identities: 0 for the sums, 1 for `Prod`, `-inf` for
/// `Max` and `LogSumExp`, `+inf` for `Min`, NaN for `Mean`.
pub fn reduce(kind: ReduceKind, x: &[f32], shape: &[usize], axes: &[usize], out: &mut [f32], threads: usize) {
    let reduced: Vec<bool> = (0..shape.len()).map(|d| axes.contains(&d)).collect();
    assert!(axes.iter().all(|&a| a < shape.len()), "reduce: axis out of range for {shape:?}");
    assert_eq!(x.len(), shape.iter().product::<usize>(), "reduce: input length does not match its shape");
    let kept: usize = shape.iter().zip(&reduced).filter(|(_, r)| !**r).map(|(n, _)| n).product();
    let count: usize = shape.iter().zip(&reduced).filter(|(_, r)| **r).map(|(n, _)| n).product();
    assert_eq!(out.len(), kept, "reduce: output length does not match the kept extents");
    if out.is_empty() {
        return;
    }
    let dims = collapse(shape, &reduced);
    match kind {
        ReduceKind::Sum => run(&Sum, x, &dims, None, out, threads),
        ReduceKind::Mean => {
            run(&Sum, x, &dims, None, out, threads);
            let c = count as f32;
            out.iter_mut().for_each(|v| *v /= c);
        }
        ReduceKind::Max => run(&Max, x, &dims, None, out, threads),
        ReduceKind::Min => run(&Min, x, &dims, None, out, threads),
        ReduceKind::Prod => run(&Prod, x, &dims, None, out, threads),
        ReduceKind::L1 => run(&L1, x, &dims, None, out, threads),
        ReduceKind::L2 => {
            run(&SumSquare, x, &dims, None, out, threads);
            out.iter_mut().for_each(|v| *v = v.sqrt());
        }
        ReduceKind::SumSquare => run(&SumSquare, x, &dims, None, out, threads),
        ReduceKind::LogSumExp => {
            // As the reference: shift by the largest finite value (no shift if there is none,
            // so that all -inf gives -inf and +inf gives +inf).
            run(&FiniteMax, x, &dims, None, out, threads);
            out.iter_mut().for_each(|m| {
                if *m == f32::NEG_INFINITY {
                    *m = 0.0;
                }
            });
            let mut sums = vec![0.0; out.len()];
            run(&ShiftedExp, x, &dims, Some(&*out), &mut sums, threads);
            for (m, s) in out.iter_mut().zip(&sums) {
                *m += s.ln();
            }
        }
    }
}

/// A run of axes: its extent and whether it is reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dim {
    size: usize,
    reduced: bool,
}

fn collapse(shape: &[usize], reduced: &[bool]) -> Vec<Dim> {
    let mut dims: Vec<Dim> = Vec::new();
    for (&size, &r) in shape.iter().zip(reduced) {
        if size == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(p) if p.reduced == r => p.size *= size,
            _ => dims.push(Dim { size, reduced: r }),
        }
    }
    dims
}

/// A reduction as a fold: `combine(acc, map(x, aux))` starting from `init`, where `aux` is
/// the value of an auxiliary array at the output position (used by LogSumExp's shift).
trait Op: Sync {
    const INIT: f32;
    fn map(x: f32, aux: f32) -> f32;
    fn combine(a: f32, b: f32) -> f32;
}

struct Sum;
impl Op for Sum {
    const INIT: f32 = 0.0;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        x
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        a + b
    }
}

struct L1;
impl Op for L1 {
    const INIT: f32 = 0.0;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        x.abs()
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        a + b
    }
}

struct SumSquare;
impl Op for SumSquare {
    const INIT: f32 = 0.0;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        x * x
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        a + b
    }
}

struct Prod;
impl Op for Prod {
    const INIT: f32 = 1.0;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        x
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        a * b
    }
}

/// numpy's max: NaN propagates.
struct Max;
impl Op for Max {
    const INIT: f32 = f32::NEG_INFINITY;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        x
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        if a > b || a.is_nan() { a } else { b }
    }
}

struct Min;
impl Op for Min {
    const INIT: f32 = f32::INFINITY;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        x
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        if a < b || a.is_nan() { a } else { b }
    }
}

/// Max over the finite values (infinities count as -inf; NaN propagates).
struct FiniteMax;
impl Op for FiniteMax {
    const INIT: f32 = f32::NEG_INFINITY;
    #[inline]
    fn map(x: f32, _: f32) -> f32 {
        if x.is_infinite() { f32::NEG_INFINITY } else { x }
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        Max::combine(a, b)
    }
}

struct ShiftedExp;
impl Op for ShiftedExp {
    const INIT: f32 = 0.0;
    #[inline]
    fn map(x: f32, shift: f32) -> f32 {
        (x - shift).exp()
    }
    #[inline]
    fn combine(a: f32, b: f32) -> f32 {
        a + b
    }
}

/// Folds a contiguous run with 8 independent accumulators (vectorisable, and more accurate
/// for long sums than a single chain).
#[inline]
fn fold<O: Op>(xs: &[f32], aux: f32) -> f32 {
    let mut acc = [O::INIT; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] = O::combine(acc[k], O::map(c[k], aux));
        }
    }
    let mut r = chunks.remainder().iter().fold(O::INIT, |a, &v| O::combine(a, O::map(v, aux)));
    for a in acc {
        r = O::combine(r, a);
    }
    r
}

/// Combines the reduction of `x` (laid out as `dims`) into `out` (already initialised).
/// `aux`, when given, is indexed like `out`.
fn accumulate<O: Op>(x: &[f32], dims: &[Dim], aux: Option<&[f32]>, out: &mut [f32]) {
    let Some((d, rest)) = dims.split_first() else {
        // Nothing left: one element into one output.
        out[0] = O::combine(out[0], O::map(x[0], aux.map_or(0.0, |a| a[0])));
        return;
    };
    if rest.is_empty() {
        if d.reduced {
            let v = fold::<O>(&x[..d.size], aux.map_or(0.0, |a| a[0]));
            out[0] = O::combine(out[0], v);
        } else {
            match aux {
                None => {
                    for (o, &v) in out[..d.size].iter_mut().zip(x) {
                        *o = O::combine(*o, O::map(v, 0.0));
                    }
                }
                Some(a) => {
                    for ((o, &v), &s) in out[..d.size].iter_mut().zip(x).zip(a) {
                        *o = O::combine(*o, O::map(v, s));
                    }
                }
            }
        }
        return;
    }
    let xs: usize = rest.iter().map(|d| d.size).product();
    let os: usize = rest.iter().filter(|d| !d.reduced).map(|d| d.size).product();
    for i in 0..d.size {
        let xo = &x[i * xs..(i + 1) * xs];
        if d.reduced {
            accumulate::<O>(xo, rest, aux, out);
        } else {
            accumulate::<O>(xo, rest, aux.map(|a| &a[i * os..(i + 1) * os]), &mut out[i * os..(i + 1) * os]);
        }
    }
}

fn run<O: Op>(_: &O, x: &[f32], dims: &[Dim], aux: Option<&[f32]>, out: &mut [f32], threads: usize) {
    out.fill(O::INIT);
    if x.is_empty() {
        return;
    }
    let first = dims.first().copied();
    let parallel = threads > 1 && x.len() >= PAR_MIN_ELEMS;
    match first {
        Some(d) if parallel && d.size >= 2 => {
            let xs = x.len() / d.size;
            let per = d.size.div_ceil(threads * 2);
            let rest = &dims[1..];
            if !d.reduced {
                // Independent output rows.
                let os = out.len() / d.size;
                out.par_chunks_mut(per * os).enumerate().for_each(|(t, chunk)| {
                    let rows = chunk.len() / os;
                    for r in 0..rows {
                        let i = t * per + r;
                        let a = aux.map(|a| &a[i * os..(i + 1) * os]);
                        accumulate::<O>(&x[i * xs..(i + 1) * xs], rest, a, &mut chunk[r * os..(r + 1) * os]);
                    }
                });
            } else {
                // Partial results per slice of the reduced axis, combined afterwards.
                let partials: Vec<Vec<f32>> = x
                    .par_chunks(per * xs)
                    .map(|xc| {
                        let mut part = vec![O::INIT; out.len()];
                        for xi in xc.chunks_exact(xs) {
                            accumulate::<O>(xi, rest, aux, &mut part);
                        }
                        part
                    })
                    .collect();
                for part in partials {
                    for (o, p) in out.iter_mut().zip(part) {
                        *o = O::combine(*o, p);
                    }
                }
            }
        }
        _ => accumulate::<O>(x, dims, aux, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n)
                .map(|_| {
                    self.0 ^= self.0 << 13;
                    self.0 ^= self.0 >> 7;
                    self.0 ^= self.0 << 17;
                    ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        }
    }

    /// f64 reference: gathers each output's values, then reduces them directly. Also returns
    /// a magnitude scale for the tolerance (cancellation in sums).
    fn naive(kind: ReduceKind, x: &[f32], shape: &[usize], axes: &[usize]) -> (Vec<f32>, Vec<f64>) {
        let r = shape.len();
        let kept_shape: Vec<usize> = (0..r).filter(|d| !axes.contains(d)).map(|d| shape[d]).collect();
        let kept: usize = kept_shape.iter().product();
        let mut groups: Vec<Vec<f64>> = vec![Vec::new(); kept];
        for (i, &v) in x.iter().enumerate() {
            let mut rem = i;
            let mut c = vec![0; r];
            for d in (0..r).rev() {
                c[d] = rem % shape[d];
                rem /= shape[d];
            }
            let o = (0..r).filter(|d| !axes.contains(d)).fold(0, |a, d| a * shape[d] + c[d]);
            groups[o].push(v as f64);
        }
        let vals = groups
            .iter()
            .map(|g| {
                let n = g.len() as f64;
                (match kind {
                    ReduceKind::Sum => g.iter().sum(),
                    ReduceKind::Mean => g.iter().sum::<f64>() / n,
                    ReduceKind::Max => g.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                    ReduceKind::Min => g.iter().cloned().fold(f64::INFINITY, f64::min),
                    ReduceKind::Prod => g.iter().product(),
                    ReduceKind::L1 => g.iter().map(|v| v.abs()).sum(),
                    ReduceKind::L2 => g.iter().map(|v| v * v).sum::<f64>().sqrt(),
                    ReduceKind::SumSquare => g.iter().map(|v| v * v).sum(),
                    ReduceKind::LogSumExp => g.iter().map(|v| v.exp()).sum::<f64>().ln(),
                }) as f32
            })
            .collect();
        let scale = groups
            .iter()
            .map(|g| match kind {
                ReduceKind::Sum | ReduceKind::L1 => g.iter().map(|v| v.abs()).sum(),
                ReduceKind::Mean => g.iter().map(|v| v.abs()).sum::<f64>() / g.len() as f64,
                _ => 0.0,
            })
            .collect();
        (vals, scale)
    }

    const KINDS: [ReduceKind; 9] = [
        ReduceKind::Sum,
        ReduceKind::Mean,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::Prod,
        ReduceKind::L1,
        ReduceKind::L2,
        ReduceKind::SumSquare,
        ReduceKind::LogSumExp,
    ];

    #[test]
    fn matches_naive() {
        let mut rng = Rng(0x5eed);
        let cases: Vec<(Vec<usize>, Vec<Vec<usize>>)> = vec![
            (
                vec![2, 3, 5, 7],
                vec![vec![], vec![0], vec![1], vec![2, 3], vec![1, 3], vec![0, 2], vec![0, 1, 2, 3], vec![3, 1]],
            ),
            (vec![1, 64, 1, 1], vec![vec![1], vec![2, 3]]),
            (vec![13], vec![vec![0], vec![]]),
            (vec![4, 1, 9], vec![vec![1], vec![0, 1], vec![2]]),
            (vec![8, 33, 300], vec![vec![0], vec![1], vec![2], vec![0, 2], vec![0, 1]]),
            (vec![3, 0, 4], vec![vec![2], vec![0, 2]]),
        ];
        for (shape, axes_list) in cases {
            let x = rng.vec(shape.iter().product());
            for axes in axes_list {
                for kind in KINDS {
                    let (want, scale) = naive(kind, &x, &shape, &axes);
                    for threads in [1, 4] {
                        let mut out = vec![f32::NAN; want.len()];
                        reduce(kind, &x, &shape, &axes, &mut out, threads);
                        for (i, ((&g, &w), &s)) in out.iter().zip(&want).zip(&scale).enumerate() {
                            let tol = 1e-5 * (w.abs() as f64).max(s).max(1e-3);
                            assert!(
                                (g == w) || ((g - w).abs() as f64) <= tol,
                                "{kind:?} {shape:?} axes {axes:?} threads {threads} [{i}]: got {g}, want {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_reductions() {
        let x: [f32; 0] = [];
        let want = [0.0, f32::NAN, f32::NEG_INFINITY, f32::INFINITY, 1.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY];
        for (kind, w) in KINDS.iter().zip(want) {
            let mut out = [7.0; 3];
            reduce(*kind, &x, &[3, 0], &[1], &mut out, 1);
            for o in out {
                assert!(o == w || (o.is_nan() && w.is_nan()), "{kind:?}: got {o}, want {w}");
            }
        }
    }

    #[test]
    fn special_values() {
        let mut out = [0.0; 1];
        reduce(ReduceKind::Max, &[1.0, f32::NAN, 3.0], &[3], &[0], &mut out, 1);
        assert!(out[0].is_nan());
        reduce(ReduceKind::LogSumExp, &[f32::NEG_INFINITY; 3], &[3], &[0], &mut out, 1);
        assert_eq!(out[0], f32::NEG_INFINITY);
        reduce(ReduceKind::LogSumExp, &[1.0, f32::INFINITY], &[2], &[0], &mut out, 1);
        assert_eq!(out[0], f32::INFINITY);
        reduce(ReduceKind::LogSumExp, &[1000.0, 1000.0], &[2], &[0], &mut out, 1);
        assert!((out[0] - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }
}
