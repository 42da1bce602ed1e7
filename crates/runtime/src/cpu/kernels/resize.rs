//! ONNX Resize (nearest, linear, cubic; every coordinate transformation mode).
//!
//! Follows `onnx/reference/ops/op_resize.py` (onnx 1.23), which is separable: the axes are
//! resized one at a time, in order, each output coordinate along an axis reading a few input
//! positions with weights that depend only on that coordinate. The weights and indices are
//! computed per axis in `f64` exactly as the reference does (including its `f32` arithmetic on
//! `roi` values); the data passes run in `f32`. An axis whose scale is 1 with an unchanged
//! extent (and an identity roi) is skipped, as in the reference, so a bilinear resize of NCHW
//! is a pass over W followed by a pass over H with one intermediate buffer.

use hetc_plan::{CoordTransform, NearestMode, ResizeMode, ResizeParams};
use rayon::prelude::*;

/// Below this many output elements a pass runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 15;

/// The input positions (clamped) and weights that one output coordinate reads along an axis.
/// Zero weights are dropped, so an infinite or NaN neighbour with weight 0 does not poison the
/// result (the reference multiplies it by 0).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    n: usize,
    idx: [usize; 4],
    w: [f32; 4],
    /// tf_crop_and_resize: the coordinate falls outside the input; the output is the
    /// extrapolation value.
    extrap: bool,
}

/// Resizes `x` (shape `in_shape`) into `out` (shape `out_shape`, of the same rank).
///
/// `p.scales` has one entry per axis (used in the coordinate transforms; when empty, the
/// scales are taken as `out / in` in `f64`, which is what the reference does for a model
/// that gives `sizes`); `p.roi` is empty or `[starts.., ends..]` over all axes (used by
/// `TfCropAndResize`; when empty there, the roi is `[0, 1]` on every axis).
pub fn resize(x: &[f32], in_shape: &[usize], p: &ResizeParams, out: &mut [f32], out_shape: &[usize], threads: usize) {
    let rank = in_shape.len();
    assert_eq!(out_shape.len(), rank, "resize: rank mismatch");
    assert_eq!(x.len(), in_shape.iter().product::<usize>(), "resize: input length does not match its shape");
    assert_eq!(out.len(), out_shape.iter().product::<usize>(), "resize: output length does not match its shape");
    assert!(p.scales.is_empty() || p.scales.len() == rank, "resize: expected {rank} scales");
    assert!(p.roi.is_empty() || p.roi.len() == 2 * rank, "resize: expected {} roi values", 2 * rank);
    if out.is_empty() {
        return;
    }
    let scale = |d: usize| -> f64 {
        if p.scales.is_empty() { out_shape[d] as f64 / in_shape[d] as f64 } else { p.scales[d] as f64 }
    };
    let roi = |d: usize| -> Option<(f32, f32)> { (!p.roi.is_empty()).then(|| (p.roi[d], p.roi[rank + d])) };

    let mut axes: Vec<(usize, Vec<Tap>)> = Vec::new();
    for d in 0..rank {
        let s = scale(d);
        let identity_roi = roi(d).is_none_or(|(a, b)| a == 0.0 && b == 1.0);
        if is_close(s, 1.0) && out_shape[d] == in_shape[d] && identity_roi {
            continue;
        }
        assert!(in_shape[d] > 0, "resize: cannot resize an empty axis to {}", out_shape[d]);
        axes.push((d, axis_taps(p, in_shape[d], out_shape[d], s, roi(d))));
    }
    if axes.is_empty() {
        out.copy_from_slice(x);
        return;
    }
    // Shrinking axes first, then growing ones, so that no intermediate is larger than the
    // input or the output (in axis order, [1, n] -> [n, 1] would pass through [n, n]). The sort
    // is stable: resizes in one direction keep the reference's order.
    axes.sort_by_key(|&(d, _)| out_shape[d] >= in_shape[d]);

    let mut shape = in_shape.to_vec();
    let mut prev: Option<Vec<f32>> = None;
    let last = axes.len() - 1;
    for (k, (d, taps)) in axes.iter().enumerate() {
        let src: &[f32] = prev.as_deref().unwrap_or(x);
        let in_len = shape[*d];
        shape[*d] = out_shape[*d];
        if k == last {
            pass(src, &shape, *d, in_len, taps, p.extrapolation_value, out, threads);
        } else {
            let mut buf = vec![0.0; shape.iter().product()];
            pass(src, &shape, *d, in_len, taps, p.extrapolation_value, &mut buf, threads);
            prev = Some(buf);
        }
    }

    // Later passes combine extrapolated rows with weights summing to 1, which may round; the
    // reference's f64 arithmetic yields the extrapolation value exactly, so restore it.
    if p.coord == CoordTransform::TfCropAndResize && axes.len() > 1 {
        for (d, taps) in &axes[..last] {
            if !taps.iter().any(|t| t.extrap) {
                continue;
            }
            let inner: usize = out_shape[d + 1..].iter().product();
            for (j, plane) in out.chunks_exact_mut(inner).enumerate() {
                if taps[j % taps.len()].extrap {
                    plane.fill(p.extrapolation_value);
                }
            }
        }
    }
}

/// `math.isclose` with its default relative tolerance.
fn is_close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn nearest_coeffs(ratio: f64, mode: NearestMode) -> [f64; 2] {
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    if ratio.fract() == 0.0 {
        return [0.0, 1.0];
    }
    match mode {
        NearestMode::RoundPreferFloor => [b(ratio <= 0.5), b(ratio > 0.5)],
        NearestMode::RoundPreferCeil => [b(ratio < 0.5), b(ratio >= 0.5)],
        NearestMode::Floor => [1.0, 0.0],
        NearestMode::Ceil => [0.0, 1.0],
    }
}

fn cubic_coeffs(r: f64, a: f64) -> [f64; 4] {
    let s = 1.0 - r;
    [
        ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
        ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
        ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0,
        ((a * (s + 1.0) - 5.0 * a) * (s + 1.0) + 8.0 * a) * (s + 1.0) - 4.0 * a,
    ]
}

/// The source coordinate of output index `y` along an axis, and whether it extrapolates
/// (`_compute_x_ori` in the reference).
fn source_coord(
    coord: CoordTransform,
    y: usize,
    scale: f64,
    in_len: usize,
    out_len: usize,
    roi: Option<(f32, f32)>,
) -> (f64, bool) {
    let y = y as f64;
    let iw = in_len as f64;
    let ow = scale * iw;
    match coord {
        CoordTransform::AlignCorners => (if ow == 1.0 { 0.0 } else { y * (iw - 1.0) / (ow - 1.0) }, false),
        CoordTransform::Asymmetric => (y / scale, false),
        CoordTransform::TfCropAndResize => {
            // The reference requires a roi here; without one, crop nothing.
            let (r0, r1) = roi.unwrap_or((0.0, 1.0));
            // numpy evaluates these on float32 scalars in float32.
            let span = r1 - r0;
            let last = (in_len as f32) - 1.0;
            let x = if ow == 1.0 { (span * last / 2.0) as f64 } else { y * span as f64 * (iw - 1.0) / (ow - 1.0) };
            let x = x + (r0 * last) as f64;
            (x, x < 0.0 || x > iw - 1.0)
        }
        CoordTransform::PytorchHalfPixel => (if ow == 1.0 { -0.5 } else { (y + 0.5) / scale - 0.5 }, false),
        CoordTransform::HalfPixel => ((y + 0.5) / scale - 0.5, false),
        CoordTransform::HalfPixelSymmetric => {
            let adjustment = out_len as f64 / ow;
            let center = iw / 2.0;
            let offset = center * (1.0 - adjustment);
            (offset + (y + 0.5) / scale - 0.5, false)
        }
    }
}

/// Taps for every output index along one axis (`_interpolate_1d_along_axis`).
fn axis_taps(p: &ResizeParams, in_len: usize, out_len: usize, scale: f64, roi: Option<(f32, f32)>) -> Vec<Tap> {
    (0..out_len)
        .map(|y| {
            let (x, extrap) = source_coord(p.coord, y, scale, in_len, out_len, roi);
            let xi = x.floor();
            let ratio = if x == xi { 1.0 } else { x - xi };
            let mut c = [0.0f64; 4];
            let n: usize = match p.mode {
                ResizeMode::Nearest => {
                    c[..2].copy_from_slice(&nearest_coeffs(ratio, p.nearest));
                    2
                }
                ResizeMode::Linear => {
                    c[..2].copy_from_slice(&[1.0 - ratio, ratio]);
                    2
                }
                ResizeMode::Cubic => {
                    c = cubic_coeffs(ratio, p.cubic_coeff_a as f64);
                    4
                }
            };
            // The n neighbours nearest to x, ties to the smaller index.
            let pad = n.div_ceil(2);
            let xp = x + pad as f64;
            let pp = xp.floor();
            let half = (n / 2) as i64;
            let offset = if xp - pp == 0.0 { -half } else { 1 - half };
            // Saturating: a degenerate scale (0, inf, NaN) must not overflow, only clamp.
            let start = (pp as i64).saturating_add(offset - pad as i64);
            let idx: [i64; 4] = std::array::from_fn(|t| start.saturating_add(t as i64));
            if p.exclude_outside {
                let mut sum = 0.0;
                for t in 0..n {
                    if idx[t] < 0 || idx[t] >= in_len as i64 {
                        c[t] = 0.0;
                    }
                    sum += c[t];
                }
                let sum = if sum == 0.0 { 1.0 } else { sum };
                for v in &mut c[..n] {
                    *v /= sum;
                }
            }
            let mut tap = Tap { n: 0, idx: [0; 4], w: [0.0; 4], extrap };
            for t in 0..n {
                if c[t] != 0.0 {
                    tap.idx[tap.n] = idx[t].clamp(0, in_len as i64 - 1) as usize;
                    tap.w[tap.n] = c[t] as f32;
                    tap.n += 1;
                }
            }
            tap
        })
        .collect()
}

/// Resizes axis `axis` of `src` (whose extent there is `in_len`) into `dst` of shape `shape`.
#[allow(clippy::too_many_arguments)]
fn pass(
    src: &[f32],
    shape: &[usize],
    axis: usize,
    in_len: usize,
    taps: &[Tap],
    ev: f32,
    dst: &mut [f32],
    threads: usize,
) {
    let out_len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    if dst.is_empty() {
        return;
    }
    if inner == 1 {
        // The innermost axis: gathers within contiguous rows. Element `u` of `dst` is
        // (row `u / out_len`, position `u % out_len`).
        let all_copy = taps.iter().all(|t| !t.extrap && t.n == 1 && t.w[0] == 1.0);
        let run = |u0: usize, chunk: &mut [f32]| {
            let (mut o, mut j) = (u0 / out_len, u0 % out_len);
            let mut pos = 0;
            while pos < chunk.len() {
                let n = (out_len - j).min(chunk.len() - pos);
                let srow = &src[o * in_len..(o + 1) * in_len];
                let drow = &mut chunk[pos..pos + n];
                let ts = &taps[j..j + n];
                if all_copy {
                    for (d, t) in drow.iter_mut().zip(ts) {
                        *d = srow[t.idx[0]];
                    }
                } else {
                    for (d, t) in drow.iter_mut().zip(ts) {
                        let mut acc = 0.0;
                        for k in 0..t.n {
                            acc += t.w[k] * srow[t.idx[k]];
                        }
                        *d = if t.extrap { ev } else { acc };
                    }
                }
                pos += n;
                j = 0;
                o += 1;
            }
        };
        if threads > 1 && dst.len() >= PAR_MIN_ELEMS {
            let per = dst.len().div_ceil(threads * 4);
            dst.par_chunks_mut(per).enumerate().for_each(|(t, c)| run(t * per, c));
        } else {
            run(0, dst);
        }
        return;
    }
    // One unit = one output row of `inner` elements, at (outer o, axis index j).
    let run = |u0: usize, chunk: &mut [f32]| {
        let (mut o, mut j) = (u0 / out_len, u0 % out_len);
        for row in chunk.chunks_exact_mut(inner) {
            let t = &taps[j];
            let base = o * in_len * inner;
            if t.extrap {
                row.fill(ev);
            } else {
                let line = |k: usize| &src[base + t.idx[k] * inner..base + (t.idx[k] + 1) * inner];
                match t.n {
                    0 => row.fill(0.0),
                    1 if t.w[0] == 1.0 => row.copy_from_slice(line(0)),
                    _ => {
                        let w0 = t.w[0];
                        for (r, &v) in row.iter_mut().zip(line(0)) {
                            *r = w0 * v;
                        }
                        for k in 1..t.n {
                            let w = t.w[k];
                            for (r, &v) in row.iter_mut().zip(line(k)) {
                                *r += w * v;
                            }
                        }
                    }
                }
            }
            j += 1;
            if j == out_len {
                j = 0;
                o += 1;
            }
        }
    };
    let units = dst.len() / inner;
    if threads > 1 && dst.len() >= PAR_MIN_ELEMS && units > 1 {
        let per = units.div_ceil(threads * 4);
        dst.par_chunks_mut(per * inner).enumerate().for_each(|(t, c)| run(t * per, c));
    } else {
        run(0, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: ResizeMode, coord: CoordTransform, scales: &[f32]) -> ResizeParams {
        ResizeParams {
            mode,
            coord,
            nearest: NearestMode::RoundPreferFloor,
            cubic_coeff_a: -0.75,
            exclude_outside: false,
            extrapolation_value: 0.0,
            scales: scales.to_vec(),
            roi: Vec::new(),
        }
    }

    /// Test input used by the pasted reference cases: `((i * 7) % 11) / 3` for flat index `i`.
    fn pattern(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7) % 11) as f32 / 3.0).collect()
    }

    fn run(x: &[f32], in_shape: &[usize], p: &ResizeParams, out_shape: &[usize], threads: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; out_shape.iter().product()];
        resize(x, in_shape, p, &mut out, out_shape, threads);
        out
    }

    fn close(got: &[f32], want: &[f32]) {
        close_ctx(got, want, "");
    }

    fn close_ctx(got: &[f32], want: &[f32], ctx: &str) {
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{ctx}element {i}: got {g}, want {w}\n got {got:?}");
        }
    }

    /// Independent per-axis weights in f64: the n neighbours are chosen by sorting candidate
    /// indices by distance (ties to the smaller), as the reference's scalar `_get_neighbor`.
    fn naive_axis(
        p: &ResizeParams,
        in_len: usize,
        out_len: usize,
        scale: f64,
        roi: Option<(f32, f32)>,
    ) -> Vec<(Vec<(usize, f64)>, bool)> {
        (0..out_len)
            .map(|y| {
                let (x, extrap) = source_coord(p.coord, y, scale, in_len, out_len, roi);
                let ratio = if x.fract() == 0.0 { 1.0 } else { x - x.floor() };
                let mut c: Vec<f64> = match p.mode {
                    ResizeMode::Nearest => nearest_coeffs(ratio, p.nearest).to_vec(),
                    ResizeMode::Linear => vec![1.0 - ratio, ratio],
                    ResizeMode::Cubic => cubic_coeffs(ratio, p.cubic_coeff_a as f64).to_vec(),
                };
                let n = c.len();
                // Like the reference, measure distances in the edge-padded coordinates (adding
                // the pad to x may round).
                let pad = n.div_ceil(2) as i64;
                let xp = x + pad as f64;
                let mut cand: Vec<i64> = (xp.floor() as i64 - 8..xp.floor() as i64 + 9).collect();
                cand.sort_by(|&a, &b| ((xp - a as f64).abs(), a).partial_cmp(&((xp - b as f64).abs(), b)).unwrap());
                let mut idx: Vec<i64> = cand[..n].iter().map(|&i| i - pad).collect();
                idx.sort();
                if p.exclude_outside {
                    for (k, &i) in idx.iter().enumerate() {
                        if i < 0 || i >= in_len as i64 {
                            c[k] = 0.0;
                        }
                    }
                    let s: f64 = c.iter().sum();
                    let s = if s == 0.0 { 1.0 } else { s };
                    c.iter_mut().for_each(|v| *v /= s);
                }
                let taps = idx.iter().zip(&c).map(|(&i, &w)| (i.clamp(0, in_len as i64 - 1) as usize, w)).collect();
                (taps, extrap)
            })
            .collect()
    }

    /// Direct N-D evaluation: every output element sums over the product of its axes' taps.
    fn naive(x: &[f32], in_shape: &[usize], p: &ResizeParams, out_shape: &[usize]) -> Vec<f32> {
        let r = in_shape.len();
        let per_axis: Vec<_> = (0..r)
            .map(|d| {
                let roi = (!p.roi.is_empty()).then(|| (p.roi[d], p.roi[r + d]));
                let s = p.scales[d] as f64;
                if is_close(s, 1.0) && in_shape[d] == out_shape[d] && roi.is_none_or(|(a, b)| a == 0.0 && b == 1.0) {
                    (0..in_shape[d]).map(|i| (vec![(i, 1.0)], false)).collect()
                } else {
                    naive_axis(p, in_shape[d], out_shape[d], s, roi)
                }
            })
            .collect();
        let total: usize = out_shape.iter().product();
        (0..total)
            .map(|o| {
                let mut c = vec![0; r];
                let mut rem = o;
                for d in (0..r).rev() {
                    c[d] = rem % out_shape[d];
                    rem /= out_shape[d];
                }
                if (0..r).any(|d| per_axis[d][c[d]].1) {
                    return p.extrapolation_value;
                }
                // Sum over the cartesian product of taps.
                let mut acc = 0.0f64;
                let counts: Vec<usize> = (0..r).map(|d| per_axis[d][c[d]].0.len()).collect();
                let combos: usize = counts.iter().product();
                for mut k in 0..combos {
                    let mut w = 1.0;
                    let mut flat = 0;
                    for d in 0..r {
                        let (i, wd) = per_axis[d][c[d]].0[k % counts[d]];
                        k /= counts[d];
                        w *= wd;
                        flat = flat * in_shape[d] + i;
                    }
                    acc += w * x[flat] as f64;
                }
                acc as f32
            })
            .collect()
    }

    #[test]
    fn matches_naive_all_modes() {
        let coords = [
            CoordTransform::HalfPixel,
            CoordTransform::HalfPixelSymmetric,
            CoordTransform::PytorchHalfPixel,
            CoordTransform::AlignCorners,
            CoordTransform::Asymmetric,
            CoordTransform::TfCropAndResize,
        ];
        let cases: [(&[usize], &[f32]); 6] = [
            (&[1, 2, 5, 7], &[1.0, 1.0, 2.0, 2.0]),
            (&[2, 3, 9, 8], &[1.0, 1.0, 0.5, 0.7]),
            (&[1, 1, 4, 6], &[1.0, 1.0, 2.6, 1.3]),
            (&[3, 5, 7], &[1.5, 0.6, 1.0]),
            (&[2, 3, 1, 5], &[1.0, 1.0, 3.0, 0.2]),
            // Big enough for the parallel path.
            (&[1, 3, 48, 50], &[1.0, 1.0, 2.0, 2.5]),
        ];
        for (in_shape, scales) in cases {
            let out_shape: Vec<usize> =
                in_shape.iter().zip(scales).map(|(&n, &s)| (n as f32 * s).floor() as usize).collect();
            let x: Vec<f32> = pattern(in_shape.iter().product()).iter().map(|v| v * 1.3 - 1.0).collect();
            for mode in [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic] {
                for coord in coords {
                    let variants = [
                        (NearestMode::RoundPreferFloor, false),
                        (NearestMode::RoundPreferCeil, true),
                        (NearestMode::Floor, false),
                        (NearestMode::Ceil, false),
                    ];
                    let big = x.len() > 1000;
                    for (nearest, exclude) in variants.into_iter().take(if big { 2 } else { 4 }) {
                        let mut p = params(mode, coord, scales);
                        p.nearest = nearest;
                        p.exclude_outside = exclude && mode == ResizeMode::Cubic;
                        p.cubic_coeff_a = if exclude { -0.5 } else { -0.75 };
                        if coord == CoordTransform::TfCropAndResize {
                            let r = in_shape.len();
                            p.roi = (0..2 * r)
                                .map(|i| if i < r { -0.1 + 0.05 * i as f32 } else { 1.2 - 0.15 * (i - r) as f32 })
                                .collect();
                            p.extrapolation_value = 3.25;
                        }
                        let want = naive(&x, in_shape, &p, &out_shape);
                        for threads in [1, 4] {
                            let got = run(&x, in_shape, &p, &out_shape, threads);
                            close_ctx(&got, &want, &format!("{in_shape:?} -> {out_shape:?} {p:?} threads {threads}: "));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn degenerate_parameters_do_not_panic() {
        let x = pattern(4);
        for mode in [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic] {
            for coord in [CoordTransform::Asymmetric, CoordTransform::HalfPixel, CoordTransform::AlignCorners] {
                for scales in [[1.0, 1.0, 0.0, -2.0], [1.0, 1.0, f32::INFINITY, f32::NAN], [1.0, 1.0, 1e-30, 1e30]] {
                    let got = run(&x, &[1, 1, 2, 2], &params(mode, coord, &scales), &[1, 1, 3, 3], 1);
                    assert_eq!(got.len(), 9);
                }
            }
        }
        // tf_crop_and_resize without a roi crops nothing.
        let p = params(ResizeMode::Linear, CoordTransform::TfCropAndResize, &[1.0, 1.0, 2.0, 2.0]);
        let mut with_roi = p.clone();
        with_roi.roi = vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(run(&x, &[1, 1, 2, 2], &p, &[1, 1, 4, 4], 1), run(&x, &[1, 1, 2, 2], &with_roi, &[1, 1, 4, 4], 1));
    }

    #[test]
    fn identity_is_a_copy() {
        let x = pattern(60);
        let p = params(ResizeMode::Cubic, CoordTransform::HalfPixel, &[1.0, 1.0, 1.0]);
        assert_eq!(run(&x, &[3, 4, 5], &p, &[3, 4, 5], 1), x);
    }

    // Expected values below come from onnx 1.23's `onnx.reference.ReferenceEvaluator` running
    // a one-node Resize (opset 19) on `pattern(...)` reshaped to the input shape.

    #[test]
    fn onnx_nearest_asymmetric_floor() {
        let mut p = params(ResizeMode::Nearest, CoordTransform::Asymmetric, &[1.0, 1.0, 2.5, 1.7]);
        p.nearest = NearestMode::Floor;
        let got = run(&pattern(6), &[1, 1, 2, 3], &p, &[1, 1, 5, 5], 1);
        close(&got, &ONNX_NEAREST_ASYMMETRIC_FLOOR);
    }

    #[test]
    fn onnx_nearest_half_pixel_round_prefer_ceil() {
        let mut p = params(ResizeMode::Nearest, CoordTransform::HalfPixel, &[1.0, 1.0, 0.6, 1.5]);
        p.nearest = NearestMode::RoundPreferCeil;
        let got = run(&pattern(20), &[1, 1, 4, 5], &p, &[1, 1, 2, 7], 1);
        close(&got, &ONNX_NEAREST_HALF_PIXEL_CEIL);
    }

    #[test]
    fn onnx_linear_half_pixel_down() {
        let p = params(ResizeMode::Linear, CoordTransform::HalfPixel, &[1.0, 1.0, 0.6, 0.8]);
        let got = run(&pattern(40), &[1, 2, 4, 5], &p, &[1, 2, 2, 4], 1);
        close(&got, &ONNX_LINEAR_HALF_PIXEL_DOWN);
    }

    #[test]
    fn onnx_linear_align_corners_up() {
        let p = params(ResizeMode::Linear, CoordTransform::AlignCorners, &[1.0, 1.0, 2.0, 1.5]);
        let got = run(&pattern(12), &[1, 1, 3, 4], &p, &[1, 1, 6, 6], 1);
        close(&got, &ONNX_LINEAR_ALIGN_CORNERS_UP);
    }

    #[test]
    fn onnx_cubic_exclude_outside() {
        let mut p = params(ResizeMode::Cubic, CoordTransform::HalfPixel, &[1.0, 1.0, 1.5, 2.0]);
        p.cubic_coeff_a = -0.5;
        p.exclude_outside = true;
        let got = run(&pattern(12), &[1, 1, 3, 4], &p, &[1, 1, 4, 8], 1);
        close(&got, &ONNX_CUBIC_EXCLUDE_OUTSIDE);
    }

    #[test]
    fn onnx_cubic_pytorch_half_pixel_to_one() {
        let p = params(ResizeMode::Cubic, CoordTransform::PytorchHalfPixel, &[1.0, 1.0, 0.25, 1.6]);
        let got = run(&pattern(20), &[1, 1, 4, 5], &p, &[1, 1, 1, 8], 1);
        close(&got, &ONNX_CUBIC_PYTORCH_TO_ONE);
    }

    #[test]
    fn onnx_linear_half_pixel_symmetric() {
        let p = params(ResizeMode::Linear, CoordTransform::HalfPixelSymmetric, &[1.0, 1.0, 1.7, 0.55]);
        let got = run(&pattern(15), &[1, 1, 3, 5], &p, &[1, 1, 5, 2], 1);
        close(&got, &ONNX_LINEAR_HALF_PIXEL_SYMMETRIC);
    }

    #[test]
    fn onnx_tf_crop_and_resize() {
        let mut p = params(ResizeMode::Linear, CoordTransform::TfCropAndResize, &[1.0, 1.0, 1.5, 1.25]);
        p.roi = vec![0.0, 0.0, 0.4, -0.2, 1.0, 1.0, 1.3, 0.9];
        p.extrapolation_value = 10.0;
        let got = run(&pattern(32), &[1, 2, 4, 4], &p, &[1, 2, 6, 5], 1);
        close(&got, &ONNX_TF_CROP_AND_RESIZE);
    }

    #[test]
    fn onnx_cubic_tf_crop_and_resize() {
        let mut p = params(ResizeMode::Cubic, CoordTransform::TfCropAndResize, &[1.0, 1.0, 1.4, 1.6]);
        p.roi = vec![0.0, 0.0, 0.1, 0.2, 1.0, 1.0, 0.9, 1.1];
        p.extrapolation_value = -1.0;
        let got = run(&pattern(25), &[1, 1, 5, 5], &p, &[1, 1, 6, 8], 1);
        close(&got, &ONNX_CUBIC_TF_CROP);
    }

    #[rustfmt::skip]
    const ONNX_NEAREST_ASYMMETRIC_FLOOR: [f32; 25] = [
        0.0, 0.0, 2.3333333, 2.3333333, 1.0, 0.0, 0.0, 2.3333333, 2.3333333, 1.0, 0.0, 0.0, 2.3333333, 2.3333333, 1.0,
        3.3333333, 3.3333333, 2.0, 2.0, 0.6666667, 3.3333333, 3.3333333, 2.0, 2.0, 0.6666667,
    ];
    #[rustfmt::skip]
    const ONNX_NEAREST_HALF_PIXEL_CEIL: [f32; 14] = [
        0.0, 2.3333333, 2.3333333, 1.0, 3.3333333, 3.3333333, 2.0, 1.3333334, 0.0, 0.0, 2.3333333, 1.0, 1.0,
        3.3333333,
    ];
    #[rustfmt::skip]
    const ONNX_LINEAR_HALF_PIXEL_DOWN: [f32; 16] = [
        0.51388884, 2.0555556, 1.9166666, 2.2361112, 1.1666667, 0.87500006, 1.5, 3.0416663, 2.7222223, 1.0555556,
        1.6805553, 1.388889, 0.62500024, 2.1666667, 0.50000024, 2.0416665,
    ];
    #[rustfmt::skip]
    const ONNX_LINEAR_ALIGN_CORNERS_UP: [f32; 36] = [
        0.0, 1.4, 2.0666666, 1.2666667, 1.9333333, 3.3333333, 0.8, 1.3199999, 1.6933333, 1.7733333, 2.1466665,
        2.6666665, 1.6, 1.24, 1.32, 2.28, 2.36, 2.0, 1.6666666, 1.3066667, 1.3866667, 2.3466666, 2.1333334, 1.3333333,
        1.0, 1.52, 1.8933334, 1.9733334, 1.4666667, 0.6666666, 0.33333334, 1.7333333, 2.4, 1.6, 0.8, 0.0,
    ];
    #[rustfmt::skip]
    const ONNX_CUBIC_EXCLUDE_OUTSIDE: [f32; 32] = [
        -0.35874552, 0.3915037, 1.981217, 2.2438319, 1.0675716, 1.3301865, 2.9198997, 3.670149, 1.0046136, 1.1003292,
        1.302799, 1.5681678, 1.8821998, 2.2155366, 2.545012, 2.700692, 1.9909807, 1.6497239, 0.9260575, 1.2129043,
        2.561147, 2.6972823, 1.6919943, 1.2177731, 0.37932825, 0.9200702, 2.0657458, 2.4070194, 1.8633356, 1.1806282,
        0.41287953, 0.050220363,
    ];
    #[rustfmt::skip]
    const ONNX_CUBIC_PYTORCH_TO_ONE: [f32; 8] = [
        -0.27911377, 1.0480549, 2.2933674, 1.14824, 1.6569102, 3.5470104, 2.8744993, 1.7818103,
    ];
    #[rustfmt::skip]
    const ONNX_LINEAR_HALF_PIXEL_SYMMETRIC: [f32; 10] = [
        2.212121, 3.121212, 2.486631, 2.0231729, 2.8787878, 0.4545455, 1.3101605, 0.84670234, 0.21212125, 1.1212121,
    ];
    #[rustfmt::skip]
    const ONNX_TF_CROP_AND_RESIZE: [f32; 60] = [
        10.0, 1.5316666, 1.1466668, 2.4666667, 1.7333331, 10.0, 1.0771667, 2.1276667, 1.8141667, 0.8333332, 10.0,
        1.1873333, 2.1846666, 1.9316667, 0.96, 10.0, 1.8218333, 1.3836666, 2.7641666, 2.04, 10.0, 10.0, 10.0, 10.0,
        10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 2.1983333, 1.6666667, 0.5666667, 1.52, 10.0, 1.7438333, 2.7466667,
        1.6466666, 1.214, 10.0, 1.854, 2.8, 1.6999999, 1.3186667, 10.0, 2.4885, 1.9, 0.79999995, 1.8046668, 10.0,
        10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0,
    ];
    #[rustfmt::skip]
    const ONNX_CUBIC_TF_CROP: [f32; 48] = [
        2.5042133, 2.579558, 1.414271, 1.3242255, 1.9831616, 2.2534058, 2.2101011, -1.0, 2.7997677, 2.9899864,
        1.9692878, 0.94236594, 0.4136679, 1.1007049, 2.38966, -1.0, 1.4737467, 1.8843594, 2.0911682, 1.2965008,
        0.257631, 1.1736062, 3.0020037, -1.0, 0.010667342, 0.60659313, 2.0811243, 2.0237143, 1.0082595, 1.6848956,
        3.1006489, -1.0, 0.03179268, 0.8217658, 2.721212, 2.8102624, 1.5665636, 1.2923213, 1.6634979, -1.0, 0.760549,
        1.2704601, 2.6289399, 2.823299, 2.0144687, 1.0737231, 0.369733, -1.0,
    ];
}
