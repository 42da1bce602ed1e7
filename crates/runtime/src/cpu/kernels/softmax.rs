//! Softmax and LogSoftmax over one axis.
//!
//! The input is viewed as `[outer, extent, inner]`: `extent` is `shape[axis]` and `inner` the
//! product of the following dimensions, or, with `coerce_2d` (opset < 13 semantics), `extent`
//! is the product of `shape[axis..]` and `inner` is 1. Each of the `outer * inner` lanes is
//! normalised as in the ONNX reference: `exp(x - max) / sum(exp(x - max))`, and for the log
//! variant `(x - max) - ln(sum(exp(x - max)))`.

use rayon::prelude::*;

/// Below this many elements the kernel runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 15;

/// Softmax (or log-softmax with `log`) of `x` (shape `shape`) along `axis`, into `out` (same
/// shape).
pub fn softmax(x: &[f32], shape: &[usize], axis: usize, coerce_2d: bool, log: bool, out: &mut [f32], threads: usize) {
    assert!(axis < shape.len().max(1), "softmax: axis {axis} out of range for {shape:?}");
    let numel: usize = shape.iter().product();
    assert_eq!(x.len(), numel, "softmax: input length does not match its shape");
    assert_eq!(out.len(), numel, "softmax: output length does not match its shape");
    if numel == 0 {
        return;
    }
    let axis = axis.min(shape.len().saturating_sub(1));
    let (extent, inner) = if shape.is_empty() {
        (1, 1)
    } else if coerce_2d {
        (shape[axis..].iter().product(), 1)
    } else {
        (shape[axis], shape[axis + 1..].iter().product())
    };
    let block = extent * inner;
    let outer = numel / block;
    let parallel = threads > 1 && numel >= PAR_MIN_ELEMS;

    if inner == 1 {
        // Contiguous rows.
        let run = |xs: &[f32], os: &mut [f32]| fast(|| rows(xs, os, extent, log));
        if parallel && outer > 1 {
            let rows = outer.div_ceil(threads * 4).max(1);
            out.par_chunks_mut(rows * extent).zip(x.par_chunks(rows * extent)).for_each(|(o, x)| run(x, o));
        } else {
            run(x, out);
        }
        return;
    }

    // Strided lanes: process each `[extent, inner]` block column-wise, whole rows at a time.
    if !parallel {
        let mut scratch = vec![0.0; 2 * inner];
        for (xb, ob) in x.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
            let mut rows: Vec<&mut [f32]> = ob.chunks_exact_mut(inner).collect();
            fast(|| columns(xb, inner, 0, &mut rows, &mut scratch, log));
        }
    } else if outer >= threads * 2 {
        out.par_chunks_mut(block).zip(x.par_chunks(block)).for_each_init(
            || vec![0.0; 2 * inner],
            |scratch, (ob, xb)| {
                let mut rows: Vec<&mut [f32]> = ob.chunks_exact_mut(inner).collect();
                fast(|| columns(xb, inner, 0, &mut rows, scratch, log));
            },
        );
    } else {
        // Few blocks (e.g. softmax over the channels of one image): split the columns.
        let ncols = inner.div_ceil(threads * 2).max(64).min(inner);
        for (xb, ob) in x.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
            let mut tasks: Vec<(usize, Vec<&mut [f32]>)> =
                (0..inner.div_ceil(ncols)).map(|t| (t * ncols, Vec::with_capacity(extent))).collect();
            for r in ob.chunks_exact_mut(inner) {
                for (t, piece) in r.chunks_mut(ncols).enumerate() {
                    tasks[t].1.push(piece);
                }
            }
            tasks.into_par_iter().for_each(|(c0, mut rows)| {
                let w = rows[0].len();
                let mut scratch = vec![0.0; 2 * w];
                fast(|| columns(xb, inner, c0, &mut rows, &mut scratch, log));
            });
        }
    }
}

/// Runs `f` compiled for AVX2+FMA when the CPU has them (as the activations do): the `exp`
/// polynomial then runs 8 lanes wide. Everything `f` calls is `#[inline(always)]`.
#[inline(always)]
fn fast<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if super::activation::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// `e^v` for `v <= 0` (or NaN): the runtime's vectorisable polynomial `exp`, exactly 0 below
/// its clamp (where the true value is under 1e-38, invisible next to the max term's 1).
#[inline(always)]
fn exp_nonpos(v: f32) -> f32 {
    let e = super::activation::exp(v);
    if v < -87.0 { 0.0 } else { e }
}

/// Maximum and sum over 8 lanes, so that the loops vectorise.
#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            m[k] = m[k].max(c[k]);
        }
    }
    chunks.remainder().iter().chain(&m).fold(f32::NEG_INFINITY, |a, &v| a.max(v))
}

#[inline(always)]
fn lane_sum(x: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            s[k] += c[k];
        }
    }
    chunks.remainder().iter().fold(s.iter().sum::<f32>(), |a, &v| a + v)
}

/// Consecutive contiguous lanes of `extent` elements.
#[inline(always)]
fn rows(x: &[f32], out: &mut [f32], extent: usize, log: bool) {
    for (xr, or) in x.chunks_exact(extent).zip(out.chunks_exact_mut(extent)) {
        row(xr, or, log);
    }
}

/// One contiguous lane.
#[inline(always)]
fn row(x: &[f32], out: &mut [f32], log: bool) {
    let max = lane_max(x);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp_nonpos(v - max);
    }
    let sum = lane_sum(out);
    if log {
        let ls = sum.ln();
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v - max) - ls;
        }
    } else {
        for o in out.iter_mut() {
            *o /= sum;
        }
    }
}

/// Lanes `c0 .. c0 + w` of one `[extent, inner]` block `xb`; `rows[k]` is the output row `k`
/// restricted to those lanes (all of width `w`), `scratch` has room for `2 * w`.
#[inline(always)]
fn columns(xb: &[f32], inner: usize, c0: usize, rows: &mut [&mut [f32]], scratch: &mut [f32], log: bool) {
    let w = rows[0].len();
    let (max, sum) = scratch[..2 * w].split_at_mut(w);
    max.fill(f32::NEG_INFINITY);
    sum.fill(0.0);
    for k in 0..rows.len() {
        let xr = &xb[k * inner + c0..k * inner + c0 + w];
        for (m, &v) in max.iter_mut().zip(xr) {
            *m = m.max(v);
        }
    }
    for (k, orow) in rows.iter_mut().enumerate() {
        let xr = &xb[k * inner + c0..k * inner + c0 + w];
        for ((o, s), (&v, &m)) in orow.iter_mut().zip(sum.iter_mut()).zip(xr.iter().zip(max.iter())) {
            let e = exp_nonpos(v - m);
            *o = e;
            *s += e;
        }
    }
    if log {
        for s in sum.iter_mut() {
            *s = s.ln();
        }
        for (k, orow) in rows.iter_mut().enumerate() {
            let xr = &xb[k * inner + c0..k * inner + c0 + w];
            for ((o, &ls), (&v, &m)) in orow.iter_mut().zip(sum.iter()).zip(xr.iter().zip(max.iter())) {
                *o = (v - m) - ls;
            }
        }
    } else {
        for orow in rows.iter_mut() {
            for (o, &s) in orow.iter_mut().zip(sum.iter()) {
                *o /= s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
            (0..n)
                .map(|_| {
                    self.0 ^= self.0 << 13;
                    self.0 ^= self.0 >> 7;
                    self.0 ^= self.0 << 17;
                    (((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
                })
                .collect()
        }
    }

    /// Straightforward f64 reference, lane by lane.
    fn naive(x: &[f32], shape: &[usize], axis: usize, coerce_2d: bool, log: bool) -> Vec<f32> {
        let (extent, inner): (usize, usize) = if coerce_2d {
            (shape[axis..].iter().product(), 1)
        } else {
            (shape[axis], shape[axis + 1..].iter().product())
        };
        let outer = x.len() / (extent * inner);
        let mut out = vec![0.0; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let idx = |k: usize| o * extent * inner + k * inner + i;
                let max = (0..extent).map(|k| x[idx(k)] as f64).fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = (0..extent).map(|k| (x[idx(k)] as f64 - max).exp()).sum();
                for k in 0..extent {
                    let d = x[idx(k)] as f64 - max;
                    out[idx(k)] = if log { d - sum.ln() } else { d.exp() / sum } as f32;
                }
            }
        }
        out
    }

    /// Relative tolerance 1e-5, with `floor` as the smallest magnitude it is relative to (the
    /// log variant cancels `x - max` against `ln(sum)`, which are O(1) or larger).
    fn close(got: &[f32], want: &[f32], floor: f32) {
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(floor), "element {i}: got {g}, want {w}");
        }
    }

    #[test]
    fn matches_naive() {
        let mut rng = Rng(0xdead_beef);
        let shapes: [&[usize]; 7] =
            [&[7], &[3, 5], &[2, 3, 4, 5], &[1, 19, 33, 41], &[5, 1, 3], &[4, 257, 3], &[2, 16, 40, 60]];
        for shape in shapes {
            let n: usize = shape.iter().product();
            let x = rng.vec(n, 20.0);
            for axis in 0..shape.len() {
                for coerce_2d in [false, true] {
                    for log in [false, true] {
                        let want = naive(&x, shape, axis, coerce_2d, log);
                        for threads in [1, 2, 8] {
                            let mut out = vec![f32::NAN; n];
                            softmax(&x, shape, axis, coerce_2d, log, &mut out, threads);
                            close(&out, &want, if log { 1.0 } else { 1e-2 });
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn large_values_are_stable() {
        let x = [1000.0, 1001.0, 1002.0, -1e30];
        let mut out = [0.0; 4];
        softmax(&x, &[1, 4], 1, false, false, &mut out, 1);
        close(&out, &[0.09003057, 0.24472848, 0.66524094, 0.0], 1e-2);
        softmax(&x, &[1, 4], 1, false, true, &mut out, 1);
        close(&out[..3], &[-2.407606, -1.407606, -0.40760595], 1.0);
    }
}
