//! Data movement: copy, concat, split, slice, transpose, pad and expand.
//!
//! Slice, transpose and expand are all "strided gathers": the output is contiguous and each of
//! its axes reads the input with some element stride (a slice step, a permuted stride, 0 for a
//! broadcast axis). They share one engine that first collapses the view into as few axes as
//! possible, then copies whole rows when the innermost stride is 1, fills when it is 0, and
//! otherwise transposes in cache-sized tiles between the innermost output axis and the axis
//! that reads the input contiguously (NCHW <-> NHWC and 2-D transposes hit this path).

use hetc_plan::{PadMode, SliceAxis};
use rayon::prelude::*;

/// Below this many output elements a kernel runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 16;
/// Side of the square tiles used by transposing gathers.
const TILE: usize = 32;

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// `out = x` (same length).
pub fn copy(x: &[f32], out: &mut [f32], threads: usize) {
    assert_eq!(x.len(), out.len(), "copy: lengths differ");
    if threads > 1 && out.len() >= 4 * PAR_MIN_ELEMS {
        let c = out.len().div_ceil(threads);
        out.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(o, x)| o.copy_from_slice(x));
    } else {
        out.copy_from_slice(x);
    }
}

/// Concatenates `inputs` (with shapes `shapes`, equal except along `axis`) along `axis` into
/// `out`.
pub fn concat(inputs: &[&[f32]], shapes: &[&[usize]], axis: usize, out: &mut [f32], threads: usize) {
    assert_eq!(inputs.len(), shapes.len(), "concat: one shape per input");
    assert!(!shapes.is_empty(), "concat: no inputs");
    let rank = shapes[0].len();
    assert!(axis < rank, "concat: axis {axis} out of range for rank {rank}");
    let outer = numel(&shapes[0][..axis]);
    let inner = numel(&shapes[0][axis + 1..]);
    // Per input: elements per outer index.
    let blocks: Vec<usize> = shapes.iter().map(|s| s[axis] * inner).collect();
    for (x, s) in inputs.iter().zip(shapes) {
        assert_eq!(x.len(), numel(s), "concat: input length does not match its shape");
    }
    let out_block: usize = blocks.iter().sum();
    assert_eq!(out.len(), outer * out_block, "concat: output length mismatch");
    if out.is_empty() {
        return;
    }
    // Copies outer indices `o0 .. o0 + chunk.len() / out_block` into `chunk`.
    let run = |o0: usize, chunk: &mut [f32]| {
        for (r, orow) in chunk.chunks_exact_mut(out_block).enumerate() {
            let o = o0 + r;
            let mut off = 0;
            for (x, &b) in inputs.iter().zip(&blocks) {
                orow[off..off + b].copy_from_slice(&x[o * b..(o + 1) * b]);
                off += b;
            }
        }
    };
    if threads > 1 && out.len() >= PAR_MIN_ELEMS {
        if outer >= 2 {
            let rows = outer.div_ceil(threads * 2);
            out.par_chunks_mut(rows * out_block).enumerate().for_each(|(t, c)| run(t * rows, c));
        } else {
            // One outer index: the inputs land in disjoint consecutive pieces.
            let mut pieces = Vec::with_capacity(inputs.len());
            let mut rest = out;
            for (&x, &b) in inputs.iter().zip(&blocks) {
                let (head, tail) = rest.split_at_mut(b);
                pieces.push((x, head));
                rest = tail;
            }
            pieces.into_par_iter().for_each(|(x, o)| o.copy_from_slice(x));
        }
    } else {
        run(0, out);
    }
}

/// Splits `x` (shape `shape`) along `axis` into `outs`; `sizes[i]` is `outs[i]`'s extent along
/// `axis` (the sizes sum to `shape[axis]`).
pub fn split(x: &[f32], shape: &[usize], axis: usize, sizes: &[usize], outs: &mut [&mut [f32]], threads: usize) {
    assert!(axis < shape.len(), "split: axis {axis} out of range for {shape:?}");
    assert_eq!(sizes.len(), outs.len(), "split: one size per output");
    assert_eq!(sizes.iter().sum::<usize>(), shape[axis], "split: sizes do not sum to the axis extent");
    assert_eq!(x.len(), numel(shape), "split: input length does not match its shape");
    let outer = numel(&shape[..axis]);
    let inner = numel(&shape[axis + 1..]);
    let in_block = shape[axis] * inner;
    let mut offsets = Vec::with_capacity(sizes.len());
    let mut off = 0;
    for (o, &s) in outs.iter().zip(sizes) {
        assert_eq!(o.len(), outer * s * inner, "split: output length mismatch");
        offsets.push(off);
        off += s * inner;
    }
    let run = |o: &mut [f32], start: usize| {
        let b = o.len() / outer.max(1);
        if b == 0 {
            return;
        }
        for (r, orow) in o.chunks_exact_mut(b).enumerate() {
            orow.copy_from_slice(&x[r * in_block + start..r * in_block + start + b]);
        }
    };
    if threads > 1 && x.len() >= PAR_MIN_ELEMS && outs.len() > 1 {
        outs.par_iter_mut().zip(offsets.par_iter()).for_each(|(o, &s)| run(o, s));
    } else {
        for (o, &s) in outs.iter_mut().zip(&offsets) {
            run(o, s);
        }
    }
}

/// ONNX Slice with normalised parameters: along each listed axis, output index `i` reads input
/// index `start + i * step` (`step` may be negative; `start` is an in-range index). Unlisted
/// axes are copied whole. `out_shape` gives the element counts.
pub fn slice(x: &[f32], in_shape: &[usize], axes: &[SliceAxis], out: &mut [f32], out_shape: &[usize], threads: usize) {
    assert_eq!(in_shape.len(), out_shape.len(), "slice: rank mismatch");
    assert_eq!(x.len(), numel(in_shape), "slice: input length does not match its shape");
    let istr = contiguous_strides(in_shape);
    let mut start = vec![0i64; in_shape.len()];
    let mut step = vec![1i64; in_shape.len()];
    for a in axes {
        start[a.axis as usize] = a.start;
        step[a.axis as usize] = a.step;
    }
    let mut base = 0isize;
    let mut strides = vec![0isize; in_shape.len()];
    for d in 0..in_shape.len() {
        assert!(step[d] != 0, "slice: zero step");
        if out_shape[d] > 0 {
            let last = start[d] + (out_shape[d] as i64 - 1) * step[d];
            let dim = in_shape[d] as i64;
            assert!(
                (0..dim).contains(&start[d]) && (0..dim).contains(&last),
                "slice: axis {d} reads outside 0..{dim} (start {}, step {}, count {})",
                start[d],
                step[d],
                out_shape[d]
            );
        }
        base += start[d] as isize * istr[d] as isize;
        strides[d] = step[d] as isize * istr[d] as isize;
    }
    gather(x, base, out_shape, &strides, out, threads);
}

/// Transpose: output axis `i` is input axis `perm[i]`.
pub fn transpose(x: &[f32], in_shape: &[usize], perm: &[usize], out: &mut [f32], threads: usize) {
    assert_eq!(perm.len(), in_shape.len(), "transpose: perm rank mismatch");
    assert_eq!(x.len(), numel(in_shape), "transpose: input length does not match its shape");
    let istr = contiguous_strides(in_shape);
    let shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let strides: Vec<isize> = perm.iter().map(|&p| istr[p] as isize).collect();
    gather(x, 0, &shape, &strides, out, threads);
}

/// Broadcasts `x` (shape `in_shape`) to `out_shape` (numpy rules, right-aligned).
pub fn expand(x: &[f32], in_shape: &[usize], out: &mut [f32], out_shape: &[usize], threads: usize) {
    assert!(in_shape.len() <= out_shape.len(), "expand: input rank exceeds output rank");
    assert_eq!(x.len(), numel(in_shape), "expand: input length does not match its shape");
    let lead = out_shape.len() - in_shape.len();
    let istr = contiguous_strides(in_shape);
    let mut strides = vec![0isize; out_shape.len()];
    for (i, &d) in in_shape.iter().enumerate() {
        assert!(d == out_shape[lead + i] || d == 1, "expand: {in_shape:?} does not broadcast to {out_shape:?}");
        if d != 1 {
            strides[lead + i] = istr[i] as isize;
        }
    }
    gather(x, 0, out_shape, &strides, out, threads);
}

/// ONNX Pad. `pads` is `[b_0, .., b_{r-1}, e_0, .., e_{r-1}]` (begin then end counts per axis);
/// negative counts crop. Cropping happens first, then padding reads the cropped tensor (as
/// onnxruntime does): `Constant` writes `value`, `Edge` repeats the border, `Reflect` mirrors
/// without repeating the border (periodically, like numpy, when a pad exceeds the extent - 1;
/// an extent of 1 repeats it), `Wrap` continues periodically. An axis cropped to nothing and
/// padded again reads `value` in every mode.
#[allow(clippy::too_many_arguments)]
pub fn pad(
    x: &[f32],
    in_shape: &[usize],
    pads: &[i64],
    mode: PadMode,
    value: f32,
    out: &mut [f32],
    out_shape: &[usize],
    threads: usize,
) {
    let rank = in_shape.len();
    assert_eq!(pads.len(), 2 * rank, "pad: expected {} pads", 2 * rank);
    assert_eq!(out_shape.len(), rank, "pad: rank mismatch");
    assert_eq!(x.len(), numel(in_shape), "pad: input length does not match its shape");
    assert_eq!(out.len(), numel(out_shape), "pad: output length does not match its shape");
    for d in 0..rank {
        assert_eq!(
            in_shape[d] as i64 + pads[d] + pads[rank + d],
            out_shape[d] as i64,
            "pad: axis {d}: {} + {} + {} != {}",
            in_shape[d],
            pads[d],
            pads[rank + d],
            out_shape[d]
        );
    }
    if out.is_empty() {
        return;
    }
    if rank == 0 {
        out[0] = x[0];
        return;
    }
    // Per axis: the input index each output index reads, or None for `value`.
    let maps: Vec<Vec<Option<usize>>> =
        (0..rank).map(|d| axis_map(in_shape[d], pads[d], pads[rank + d], out_shape[d], mode)).collect();
    let istr = contiguous_strides(in_shape);
    let l = out_shape[rank - 1];
    let segs = segments(&maps[rank - 1]);
    let outer_shape = &out_shape[..rank - 1];
    let run = |r0: usize, chunk: &mut [f32]| {
        for (r, orow) in chunk.chunks_exact_mut(l).enumerate() {
            // Source offset of this output row, None if any outer axis reads the pad value.
            let mut rem = r0 + r;
            let mut src = Some(0usize);
            for d in (0..outer_shape.len()).rev() {
                let i = rem % outer_shape[d];
                rem /= outer_shape[d];
                src = match (src, maps[d][i]) {
                    (Some(s), Some(m)) => Some(s + m * istr[d]),
                    _ => None,
                };
            }
            let Some(src) = src else {
                orow.fill(value);
                continue;
            };
            for s in &segs {
                let dst = &mut orow[s.out..s.out + s.len];
                match s.src {
                    Some(i) => dst.copy_from_slice(&x[src + i..src + i + s.len]),
                    None => dst.fill(value),
                }
            }
        }
    };
    let rows = out.len() / l;
    if threads > 1 && out.len() >= PAR_MIN_ELEMS && rows >= 2 {
        let per = rows.div_ceil(threads * 4);
        out.par_chunks_mut(per * l).enumerate().for_each(|(t, c)| run(t * per, c));
    } else {
        run(0, out);
    }
}

/// Input index read by each output index along one padded axis.
fn axis_map(n: usize, begin: i64, end: i64, out_len: usize, mode: PadMode) -> Vec<Option<usize>> {
    let crop_b = (-begin).max(0);
    let crop_e = (-end).max(0);
    let len = n as i64 - crop_b - crop_e;
    let pad_b = begin.max(0);
    (0..out_len as i64)
        .map(|j| {
            let k = j - pad_b;
            let k = if (0..len).contains(&k) {
                k
            } else if len <= 0 {
                // Nothing left after cropping to repeat: every mode writes the value.
                return None;
            } else {
                match mode {
                    PadMode::Constant => return None,
                    PadMode::Edge => k.clamp(0, len - 1),
                    PadMode::Wrap => k.rem_euclid(len),
                    PadMode::Reflect if len == 1 => 0,
                    PadMode::Reflect => {
                        let period = 2 * (len - 1);
                        let m = k.rem_euclid(period);
                        if m >= len { period - m } else { m }
                    }
                }
            };
            Some((crop_b + k) as usize)
        })
        .collect()
}

/// A run of one output row: `len` elements at `out` copied from `src..` or set to the value.
struct Segment {
    out: usize,
    len: usize,
    src: Option<usize>,
}

fn segments(map: &[Option<usize>]) -> Vec<Segment> {
    let mut segs: Vec<Segment> = Vec::new();
    for (j, &m) in map.iter().enumerate() {
        if let Some(last) = segs.last_mut() {
            let extends = match (last.src, m) {
                (None, None) => true,
                (Some(s), Some(i)) => s + last.len == i,
                _ => false,
            };
            if extends {
                last.len += 1;
                continue;
            }
        }
        segs.push(Segment { out: j, len: 1, src: m });
    }
    segs
}

// ---------------------------------------------------------------------------------------------
// Strided gather engine
// ---------------------------------------------------------------------------------------------

/// `out[i_0, .., i_{n-1}] = src[base + sum(i_d * strides[d])]` with `out` contiguous of
/// `shape`.
fn gather(src: &[f32], base: isize, shape: &[usize], strides: &[isize], out: &mut [f32], threads: usize) {
    let total = numel(shape);
    assert_eq!(out.len(), total, "output length does not match its shape");
    if total == 0 {
        return;
    }
    let (shape, strides) = collapse(shape, strides);
    if shape.is_empty() {
        out[0] = src[base as usize];
        return;
    }
    if threads <= 1 || total < PAR_MIN_ELEMS {
        gather_seq(src, base, &shape, &strides, out);
        return;
    }
    // Tasks: blocks of axis 0, or, when axis 0 is short, blocks of axis 1 for each index of
    // axis 0. Each task owns a contiguous piece of `out` and gathers a sub-view.
    let want = threads * 4;
    let row0 = total / shape[0];
    let mut tasks: Vec<(isize, Vec<usize>, &mut [f32])> = Vec::new();
    if shape[0] >= want || shape.len() == 1 {
        // When axis 0 is the one a tiled transpose walks in tiles, keep whole tiles per task.
        let tiled = shape.len() > 1 && strides[0].abs() == 1 && strides[shape.len() - 1].abs() > 1;
        let per = shape[0].div_ceil(want);
        let per = if tiled { per.next_multiple_of(TILE).min(shape[0]) } else { per };
        for (t, chunk) in out.chunks_mut(per * row0).enumerate() {
            let mut sub = shape.clone();
            sub[0] = chunk.len() / row0;
            tasks.push((base + (t * per) as isize * strides[0], sub, chunk));
        }
    } else {
        let per = shape[1].div_ceil(want.div_ceil(shape[0]));
        let row1 = row0 / shape[1];
        for (i0, plane) in out.chunks_mut(row0).enumerate() {
            for (t, chunk) in plane.chunks_mut(per * row1).enumerate() {
                let mut sub = shape.clone();
                sub[0] = 1;
                sub[1] = chunk.len() / row1;
                let b = base + i0 as isize * strides[0] + (t * per) as isize * strides[1];
                tasks.push((b, sub, chunk));
            }
        }
    }
    tasks.into_par_iter().for_each(|(b, sub, chunk)| gather_seq(src, b, &sub, &strides, chunk));
}

/// Drops unit axes and merges axes that are contiguous with each other in the source.
fn collapse(shape: &[usize], strides: &[isize]) -> (Vec<usize>, Vec<isize>) {
    let mut sh: Vec<usize> = Vec::with_capacity(shape.len());
    let mut st: Vec<isize> = Vec::with_capacity(shape.len());
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        if let (Some(pn), Some(ps)) = (sh.last_mut(), st.last_mut())
            && *ps == s * n as isize
        {
            *pn *= n;
            *ps = s;
            continue;
        }
        sh.push(n);
        st.push(s);
    }
    (sh, st)
}

/// Calls `f(src_offset, out_offset)` for every index of `shape` in row-major order.
fn for_each_index(shape: &[usize], strides: &[isize], ostrides: &[usize], mut f: impl FnMut(isize, usize)) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    let (mut s, mut o) = (0isize, 0usize);
    loop {
        f(s, o);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            s += strides[d];
            o += ostrides[d];
            if idx[d] < shape[d] {
                break;
            }
            s -= strides[d] * shape[d] as isize;
            o -= ostrides[d] * shape[d];
            idx[d] = 0;
        }
    }
}

fn gather_seq(src: &[f32], base: isize, shape: &[usize], strides: &[isize], out: &mut [f32]) {
    let n = shape.len();
    if n == 0 {
        out[0] = src[base as usize];
        return;
    }
    let l = shape[n - 1];
    let s = strides[n - 1];
    let ostr = contiguous_strides(shape);
    if s.abs() > 1 {
        // Tile between the innermost output axis and an axis reading the source contiguously
        // (also when the innermost axis is short, e.g. NCHW -> NHWC with 3 channels: the
        // source is then read in order while each output row stays short).
        if let Some(p) = (0..n - 1).rev().find(|&p| strides[p].abs() == 1) {
            let others: Vec<usize> = (0..n - 1).filter(|&d| d != p).collect();
            let osh: Vec<usize> = others.iter().map(|&d| shape[d]).collect();
            let ost: Vec<isize> = others.iter().map(|&d| strides[d]).collect();
            let oos: Vec<usize> = others.iter().map(|&d| ostr[d]).collect();
            let (np, sp, op) = (shape[p], strides[p], ostr[p]);
            for_each_index(&osh, &ost, &oos, |sb, ob| {
                let sb = base + sb;
                for p0 in (0..np).step_by(TILE) {
                    for q0 in (0..l).step_by(TILE) {
                        let q1 = (q0 + TILE).min(l);
                        for ip in p0..(p0 + TILE).min(np) {
                            let so = sb + ip as isize * sp;
                            let dst = &mut out[ob + ip * op + q0..ob + ip * op + q1];
                            for (k, d) in dst.iter_mut().enumerate() {
                                *d = src[(so + (q0 + k) as isize * s) as usize];
                            }
                        }
                    }
                }
            });
            return;
        }
    }
    for_each_index(&shape[..n - 1], &strides[..n - 1], &ostr[..n - 1], |so, o| {
        let dst = &mut out[o..o + l];
        let so = base + so;
        match s {
            1 => dst.copy_from_slice(&src[so as usize..so as usize + l]),
            0 => dst.fill(src[so as usize]),
            -1 => {
                let lo = (so + 1) as usize - l;
                for (d, &v) in dst.iter_mut().zip(src[lo..=so as usize].iter().rev()) {
                    *d = v;
                }
            }
            _ => {
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = src[(so + k as isize * s) as usize];
                }
            }
        }
    });
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
                    (self.0 >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.vec(1)[0] * n as f32) as usize % n.max(1)
        }
    }

    fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
        let mut c = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            c[d] = i % shape[d];
            i /= shape[d];
        }
        c
    }

    fn ravel(c: &[usize], shape: &[usize]) -> usize {
        c.iter().zip(shape).fold(0, |a, (&i, &n)| a * n + i)
    }

    #[test]
    fn transpose_matches_naive() {
        let mut rng = Rng(11);
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![5, 7], vec![1, 0]),
            (vec![67, 45], vec![1, 0]),
            (vec![2, 3, 37, 41], vec![0, 2, 3, 1]),
            (vec![2, 37, 41, 3], vec![0, 3, 1, 2]),
            (vec![1, 64, 40, 50], vec![0, 2, 3, 1]),
            (vec![3, 1, 5, 1, 7], vec![4, 2, 0, 3, 1]),
            (vec![4, 5, 6, 7], vec![3, 2, 1, 0]),
            (vec![2, 3, 4], vec![0, 1, 2]),
            (vec![1, 12, 50, 64], vec![0, 2, 1, 3]),
            (vec![], vec![]),
            (vec![0, 3], vec![1, 0]),
            (vec![300, 257], vec![1, 0]),
        ];
        for (shape, perm) in cases {
            let x = rng.vec(numel(&shape));
            let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            let want: Vec<f32> = (0..x.len())
                .map(|o| {
                    let oc = unravel(o, &oshape);
                    let mut ic = vec![0; shape.len()];
                    for (i, &p) in perm.iter().enumerate() {
                        ic[p] = oc[i];
                    }
                    x[ravel(&ic, &shape)]
                })
                .collect();
            for threads in [1, 4] {
                let mut out = vec![f32::NAN; x.len()];
                transpose(&x, &shape, &perm, &mut out, threads);
                assert_eq!(out, want, "shape {shape:?} perm {perm:?}");
            }
        }
    }

    #[test]
    fn slice_matches_naive() {
        let mut rng = Rng(12);
        let shape = [5usize, 9, 37, 80];
        let x = rng.vec(numel(&shape));
        for _ in 0..60 {
            let mut axes = Vec::new();
            let mut oshape = shape.to_vec();
            for (d, &n) in shape.iter().enumerate() {
                if rng.below(3) == 0 {
                    continue;
                }
                let step = [1i64, 2, 3, -1, -2, -5][rng.below(6)];
                let start = rng.below(n) as i64;
                let count =
                    if step > 0 { (n as i64 - start + step - 1) / step } else { (start + 1 + (-step) - 1) / -step };
                let count = (count as usize).min(1 + rng.below(count as usize));
                oshape[d] = count;
                axes.push(SliceAxis { axis: d as u32, start, step });
            }
            let want: Vec<f32> = (0..numel(&oshape))
                .map(|o| {
                    let mut c = unravel(o, &oshape);
                    for a in &axes {
                        let d = a.axis as usize;
                        c[d] = (a.start + c[d] as i64 * a.step) as usize;
                    }
                    x[ravel(&c, &shape)]
                })
                .collect();
            for threads in [1, 4] {
                let mut out = vec![f32::NAN; want.len()];
                slice(&x, &shape, &axes, &mut out, &oshape, threads);
                assert_eq!(out, want, "axes {axes:?}");
            }
        }
    }

    #[test]
    fn expand_matches_naive() {
        let mut rng = Rng(13);
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![3, 1], vec![2, 3, 5]),
            (vec![1], vec![4, 4]),
            (vec![], vec![2, 3]),
            (vec![1, 64, 1, 1], vec![2, 64, 30, 40]),
            (vec![2, 1, 5], vec![2, 7, 5]),
            (vec![1, 1, 300], vec![3, 250, 300]),
            (vec![2, 3], vec![2, 3]),
        ];
        for (ishape, oshape) in cases {
            let x = rng.vec(numel(&ishape));
            let lead = oshape.len() - ishape.len();
            let want: Vec<f32> = (0..numel(&oshape))
                .map(|o| {
                    let c = unravel(o, &oshape);
                    let ic: Vec<usize> =
                        ishape.iter().enumerate().map(|(i, &n)| if n == 1 { 0 } else { c[lead + i] }).collect();
                    x[ravel(&ic, &ishape)]
                })
                .collect();
            for threads in [1, 4] {
                let mut out = vec![f32::NAN; want.len()];
                expand(&x, &ishape, &mut out, &oshape, threads);
                assert_eq!(out, want, "{ishape:?} -> {oshape:?}");
            }
        }
    }

    #[test]
    fn concat_and_split_roundtrip() {
        let mut rng = Rng(14);
        for (base, axis, sizes) in [
            (vec![2, 0, 5, 7], 1, vec![3, 1, 4]),
            (vec![0, 3], 0, vec![2, 5]),
            (vec![4, 6, 0], 2, vec![1, 1, 3]),
            (vec![1, 0, 100, 100], 1, vec![4, 3]),
            (vec![0, 40, 40], 0, vec![30, 20]),
            (vec![3], 0, vec![0, 2]),
        ] {
            let shapes: Vec<Vec<usize>> = sizes
                .iter()
                .map(|&s| {
                    let mut sh = base.clone();
                    sh[axis] = s;
                    sh
                })
                .collect();
            let inputs: Vec<Vec<f32>> = shapes.iter().map(|s| rng.vec(numel(s))).collect();
            let mut oshape = base.clone();
            oshape[axis] = sizes.iter().sum();
            // Naive concat: output index -> (input, index) by walking the axis.
            let want: Vec<f32> = (0..numel(&oshape))
                .map(|o| {
                    let mut c = unravel(o, &oshape);
                    let mut i = 0;
                    while c[axis] >= sizes[i] {
                        c[axis] -= sizes[i];
                        i += 1;
                    }
                    inputs[i][ravel(&c, &shapes[i])]
                })
                .collect();
            let refs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
            let srefs: Vec<&[usize]> = shapes.iter().map(|v| v.as_slice()).collect();
            for threads in [1, 4] {
                let mut out = vec![f32::NAN; want.len()];
                concat(&refs, &srefs, axis, &mut out, threads);
                assert_eq!(out, want);
                let mut parts: Vec<Vec<f32>> = inputs.iter().map(|v| vec![f32::NAN; v.len()]).collect();
                let mut prefs: Vec<&mut [f32]> = parts.iter_mut().map(|v| v.as_mut_slice()).collect();
                split(&want, &oshape, axis, &sizes, &mut prefs, threads);
                assert_eq!(parts, inputs);
            }
        }
    }

    #[test]
    fn copy_works() {
        let x = Rng(15).vec(300_000);
        let mut out = vec![0.0; x.len()];
        copy(&x, &mut out, 4);
        assert_eq!(out, x);
    }

    fn naive_pad(x: &[f32], shape: &[usize], pads: &[i64], mode: PadMode, value: f32) -> (Vec<f32>, Vec<usize>) {
        let r = shape.len();
        let oshape: Vec<usize> = (0..r).map(|d| (shape[d] as i64 + pads[d] + pads[r + d]) as usize).collect();
        let out = (0..numel(&oshape))
            .map(|o| {
                let c = unravel(o, &oshape);
                let mut ic = vec![0; r];
                for d in 0..r {
                    let cb = (-pads[d]).max(0);
                    let len = shape[d] as i64 - cb - (-pads[r + d]).max(0);
                    let mut k = c[d] as i64 - pads[d].max(0);
                    if k < 0 || k >= len {
                        match mode {
                            PadMode::Constant => return value,
                            PadMode::Edge => k = k.clamp(0, len - 1),
                            PadMode::Wrap => k = k.rem_euclid(len),
                            PadMode::Reflect => {
                                // Bounce back and forth one step at a time.
                                while k < 0 || k >= len {
                                    if len == 1 {
                                        k = 0;
                                    } else if k < 0 {
                                        k = -k;
                                    } else {
                                        k = 2 * (len - 1) - k;
                                    }
                                }
                            }
                        }
                    }
                    ic[d] = (k + cb) as usize;
                }
                x[ravel(&ic, shape)]
            })
            .collect();
        (out, oshape)
    }

    #[test]
    fn pad_matches_naive() {
        let mut rng = Rng(16);
        let cases: Vec<(Vec<usize>, Vec<i64>)> = vec![
            (vec![2, 3, 5, 7], vec![0, 0, 1, 2, 0, 0, 3, 1]),
            (vec![1, 4, 9, 11], vec![0, 1, 2, 3, 0, 2, 3, 2]),
            (vec![3, 8], vec![-1, 2, 1, -3]),
            (vec![3, 8], vec![2, -2, -1, 3]),
            (vec![5], vec![4, 4]),
            (vec![3], vec![7, 5]),
            (vec![1, 1], vec![0, 2, 0, 3]),
            (vec![2, 16, 60, 70], vec![0, 0, 3, 3, 0, 0, 3, 3]),
        ];
        for (shape, pads) in cases {
            let x = rng.vec(numel(&shape));
            for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Edge, PadMode::Wrap] {
                let (want, oshape) = naive_pad(&x, &shape, &pads, mode, -7.5);
                for threads in [1, 4] {
                    let mut out = vec![f32::NAN; want.len()];
                    pad(&x, &shape, &pads, mode, -7.5, &mut out, &oshape, threads);
                    assert_eq!(out, want, "{shape:?} {pads:?} {mode:?}");
                }
            }
        }
    }

    #[test]
    fn pad_after_cropping_everything() {
        for mode in [PadMode::Constant, PadMode::Reflect, PadMode::Edge, PadMode::Wrap] {
            let mut out = [0.0; 1];
            pad(&[1.0, 2.0], &[2], &[-2, 1], mode, 9.0, &mut out, &[1], 1);
            assert_eq!(out, [9.0]);
            pad(&[1.0, 2.0, 3.0], &[3], &[2, -4], mode, 9.0, &mut out, &[1], 1);
            assert_eq!(out, [9.0]);
        }
    }

    /// Expected values from `onnx.reference.ReferenceEvaluator` (onnx 1.23) on
    /// `x = arange(12).reshape(3, 4)`.
    #[test]
    fn pad_onnx_reference() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let run = |pads: &[i64], mode| {
            let oshape = [(3 + pads[0] + pads[2]) as usize, (4 + pads[1] + pads[3]) as usize];
            let mut out = vec![0.0; oshape[0] * oshape[1]];
            pad(&x, &[3, 4], pads, mode, 1.5, &mut out, &oshape, 1);
            out
        };
        // pads [1, 2, 0, 1], reflect
        assert_eq!(
            run(&[1, 2, 0, 1], PadMode::Reflect),
            [
                6., 5., 4., 5., 6., 7., 6., 2., 1., 0., 1., 2., 3., 2., 6., 5., 4., 5., 6., 7., 6., 10., 9., 8., 9.,
                10., 11., 10.
            ]
        );
        // pads [2, 1, 1, 3], edge
        assert_eq!(
            run(&[2, 1, 1, 3], PadMode::Edge),
            [
                0., 0., 1., 2., 3., 3., 3., 3., 0., 0., 1., 2., 3., 3., 3., 3., 0., 0., 1., 2., 3., 3., 3., 3., 4., 4.,
                5., 6., 7., 7., 7., 7., 8., 8., 9., 10., 11., 11., 11., 11., 8., 8., 9., 10., 11., 11., 11., 11.
            ]
        );
        // pads [1, 5, 2, 6], wrap
        assert_eq!(
            run(&[1, 5, 2, 6], PadMode::Wrap),
            [
                11., 8., 9., 10., 11., 8., 9., 10., 11., 8., 9., 10., 11., 8., 9., 3., 0., 1., 2., 3., 0., 1., 2., 3.,
                0., 1., 2., 3., 0., 1., 7., 4., 5., 6., 7., 4., 5., 6., 7., 4., 5., 6., 7., 4., 5., 11., 8., 9., 10.,
                11., 8., 9., 10., 11., 8., 9., 10., 11., 8., 9., 3., 0., 1., 2., 3., 0., 1., 2., 3., 0., 1., 2., 3.,
                0., 1., 7., 4., 5., 6., 7., 4., 5., 6., 7., 4., 5., 6., 7., 4., 5.
            ]
        );
        // pads [0, 1, 1, 0], constant 1.5
        assert_eq!(
            run(&[0, 1, 1, 0], PadMode::Constant),
            [1.5, 0., 1., 2., 3., 1.5, 4., 5., 6., 7., 1.5, 8., 9., 10., 11., 1.5, 1.5, 1.5, 1.5, 1.5]
        );
    }
}
