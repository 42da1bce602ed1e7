//! The fused elementwise kernel: a small program of activations, unary and broadcasting binary
//! functions ([`ElementwiseInstr`]) evaluated in one pass over memory.
//!
//! The output's index space is collapsed jointly over all inputs (as in [`super::elementwise`]):
//! dimensions merge where every input's strides allow, so same-shape operands become one
//! contiguous run, per-channel operands `[C,1,1]` against `[N,C,H,W]` a constant per run of
//! `H*W`, scalars a constant everywhere. Each run is cut into blocks of [`BLOCK`] elements; the
//! program runs over a block instruction by instruction, each register a block-sized buffer
//! that stays in L1, and the last instruction writes the output block. Every input is read
//! once and the output written once, whatever the program's length. The loops are compiled
//! for AVX2+FMA as well and picked at run time; large outputs are split over the threads.

use super::elementwise::{erf, max_nan, min_nan, prelu, sign, with_binary, with_unary};
use hetc_plan::{BinaryFn, ElementwiseInstr, ElementwiseOp, UnaryFn};
use rayon::prelude::*;

/// Elements per block: one block of each register stays in L1 for programs of a few
/// instructions.
const BLOCK: usize = 512;
/// Below this many output elements the kernel runs on the calling thread.
const PAR_MIN_ELEMS: usize = 1 << 15;

/// Strides of `shape` broadcast to `out_shape` (right-aligned, 0 on broadcast dims).
fn broadcast_strides(shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    assert!(shape.len() <= out_shape.len(), "operand rank exceeds output rank");
    let lead = out_shape.len() - shape.len();
    let mut strides = vec![0; out_shape.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let d = shape[i];
        assert!(d == out_shape[lead + i] || d == 1, "shape {shape:?} does not broadcast to {out_shape:?}");
        if d != 1 {
            strides[lead + i] = s;
        }
        s *= d;
    }
    strides
}

/// The collapsed iteration space: extent of each dimension and, per dimension, every input's
/// stride. Never empty.
struct Space {
    sizes: Vec<usize>,
    strides: Vec<Vec<usize>>,
}

fn collapse(out_shape: &[usize], in_shapes: &[Vec<usize>]) -> Space {
    let per_input: Vec<Vec<usize>> = in_shapes.iter().map(|s| broadcast_strides(s, out_shape)).collect();
    let mut sizes: Vec<usize> = Vec::new();
    let mut strides: Vec<Vec<usize>> = Vec::new();
    for (d, &size) in out_shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let st: Vec<usize> = per_input.iter().map(|s| s[d]).collect();
        if let (Some(ps), Some(pst)) = (sizes.last_mut(), strides.last_mut())
            && pst.iter().zip(&st).all(|(&p, &s)| p == s * size)
        {
            *ps *= size;
            *pst = st;
            continue;
        }
        sizes.push(size);
        strides.push(st);
    }
    if sizes.is_empty() {
        sizes.push(1);
        strides.push(vec![1; in_shapes.len()]);
    }
    Space { sizes, strides }
}

/// Walks the flat output range `[start, start + len)` as runs along the innermost dimension,
/// calling `run(offset_in_range, input_offsets, run_len)` for each.
fn walk(space: &Space, start: usize, len: usize, mut run: impl FnMut(usize, &[usize], usize)) {
    let depth = space.sizes.len();
    let l = space.sizes[depth - 1];
    let inner = &space.strides[depth - 1];
    let n_in = inner.len();
    let outer = depth - 1;
    let mut row = start / l;
    let mut col = start % l;
    let mut idx = vec![0usize; outer];
    let mut base = vec![0usize; n_in];
    for d in (0..outer).rev() {
        idx[d] = row % space.sizes[d];
        row /= space.sizes[d];
        for (b, s) in base.iter_mut().zip(&space.strides[d]) {
            *b += idx[d] * s;
        }
    }
    let mut offs = vec![0usize; n_in];
    let mut pos = 0;
    while pos < len {
        let n = (l - col).min(len - pos);
        for i in 0..n_in {
            offs[i] = base[i] + col * inner[i];
        }
        run(pos, &offs, n);
        pos += n;
        col = 0;
        for d in (0..outer).rev() {
            idx[d] += 1;
            for (b, s) in base.iter_mut().zip(&space.strides[d]) {
                *b += s;
            }
            if idx[d] < space.sizes[d] {
                break;
            }
            idx[d] = 0;
            for (b, s) in base.iter_mut().zip(&space.strides[d]) {
                *b -= s * space.sizes[d];
            }
        }
    }
}

/// Where an instruction reads one operand of a block from.
#[derive(Clone, Copy)]
enum Src<'a> {
    Slice(&'a [f32]),
    Splat(f32),
}

#[inline(always)]
fn map<G: Fn(f32) -> f32>(x: Src<'_>, dst: &mut [f32], g: G) {
    match x {
        Src::Slice(x) => {
            for (d, &v) in dst.iter_mut().zip(x) {
                *d = g(v);
            }
        }
        Src::Splat(v) => dst.fill(g(v)),
    }
}

#[inline(always)]
fn zip<G: Fn(f32, f32) -> f32>(a: Src<'_>, b: Src<'_>, dst: &mut [f32], g: G) {
    match (a, b) {
        (Src::Slice(a), Src::Slice(b)) => {
            for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                *d = g(x, y);
            }
        }
        (Src::Slice(a), Src::Splat(y)) => {
            for (d, &x) in dst.iter_mut().zip(a) {
                *d = g(x, y);
            }
        }
        (Src::Splat(x), Src::Slice(b)) => {
            for (d, &y) in dst.iter_mut().zip(b) {
                *d = g(x, y);
            }
        }
        (Src::Splat(x), Src::Splat(y)) => dst.fill(g(x, y)),
    }
}

/// Runs `program` over one block of `out.len()` elements: `inputs` are the step's operands
/// for this block, `regs` scratch for every register but the last.
#[inline(always)]
fn eval_block(program: &[ElementwiseInstr], inputs: &[Src<'_>], regs: &mut [f32], out: &mut [f32]) {
    let n = out.len();
    let n_in = inputs.len();
    let last = program.len() - 1;
    for (k, instr) in program.iter().enumerate() {
        let (done, rest) = regs.split_at_mut(k * BLOCK);
        let dst: &mut [f32] = if k == last { &mut *out } else { &mut rest[..n] };
        let get = |r: u32| -> Src<'_> {
            let r = r as usize;
            if r < n_in { inputs[r] } else { Src::Slice(&done[(r - n_in) * BLOCK..][..n]) }
        };
        let [a, b] = instr.args;
        match instr.op {
            ElementwiseOp::Activation(act) => {
                match get(a) {
                    Src::Slice(x) => dst.copy_from_slice(x),
                    Src::Splat(v) => dst.fill(v),
                }
                super::activation::apply(act, dst);
            }
            ElementwiseOp::Unary(f) => with_unary!(f, g => map(get(a), dst, g)),
            ElementwiseOp::Binary(op) => with_binary!(op, g => zip(get(a), get(b), dst, g)),
        }
    }
}

/// [`eval_block`] compiled for AVX2+FMA.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn eval_block_avx2(program: &[ElementwiseInstr], inputs: &[Src<'_>], regs: &mut [f32], out: &mut [f32]) {
    eval_block(program, inputs, regs, out)
}

fn eval_block_dispatch(program: &[ElementwiseInstr], inputs: &[Src<'_>], regs: &mut [f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::activation::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { eval_block_avx2(program, inputs, regs, out) };
        return;
    }
    eval_block(program, inputs, regs, out)
}

/// Computes `out[start..start + out.len()]` of the flat output.
fn eval_range(
    program: &[ElementwiseInstr],
    space: &Space,
    inputs: &[&[f32]],
    in_place: Option<usize>,
    start: usize,
    out: &mut [f32],
) {
    let mut regs = vec![0.0f32; (program.len() - 1) * BLOCK];
    let mut saved = if in_place.is_some() { vec![0.0f32; BLOCK] } else { Vec::new() };
    let inner = space.strides.last().expect("a collapsed space has dimensions");
    walk(space, start, out.len(), |pos, offs, n| {
        let mut done = 0;
        while done < n {
            let len = (n - done).min(BLOCK);
            let at = pos + done;
            if let Some(i) = in_place {
                // The in-place input is the output itself: keep this block's values before the
                // last instruction overwrites them.
                saved[..len].copy_from_slice(&out[at..at + len]);
                debug_assert_eq!(inner[i], 1, "an in-place input has the output's shape");
            }
            let mut srcs = [Src::Splat(0.0); hetc_plan::MAX_ELEMENTWISE_INPUTS];
            let srcs = &mut srcs[..inputs.len()];
            for (i, src) in srcs.iter_mut().enumerate() {
                let o = offs[i] + done * inner[i];
                *src = if Some(i) == in_place {
                    Src::Slice(&saved[..len])
                } else if inner[i] == 0 {
                    Src::Splat(inputs[i][o])
                } else {
                    debug_assert_eq!(inner[i], 1, "innermost strides are 0 or 1");
                    Src::Slice(&inputs[i][o..o + len])
                };
            }
            eval_block_dispatch(program, srcs, &mut regs, &mut out[at..at + len]);
            done += len;
        }
    });
}

/// `out = program(inputs)` with numpy broadcasting of every input to `out_shape`.
///
/// `in_place`: the input whose memory `out` is (its slice in `inputs` is then ignored and may
/// be empty); it has the output's shape. The caller (the session, after `prepare`) guarantees
/// that the program's register indices are in range, that every input broadcasts to
/// `out_shape` and that the program is not empty.
#[allow(clippy::too_many_arguments)]
pub fn elementwise(
    program: &[ElementwiseInstr],
    inputs: &[&[f32]],
    in_shapes: &[Vec<usize>],
    in_place: Option<usize>,
    out: &mut [f32],
    out_shape: &[usize],
    threads: usize,
) {
    assert!(!program.is_empty(), "elementwise: empty program");
    assert!(inputs.len() <= hetc_plan::MAX_ELEMENTWISE_INPUTS, "elementwise: too many inputs");
    assert_eq!(inputs.len(), in_shapes.len(), "elementwise: inputs and shapes differ in number");
    assert_eq!(out.len(), out_shape.iter().product::<usize>(), "elementwise: output length does not match its shape");
    for (i, (x, s)) in inputs.iter().zip(in_shapes).enumerate() {
        if Some(i) == in_place {
            assert_eq!(s.iter().product::<usize>(), out.len(), "elementwise: in-place input is not the output's size");
        } else {
            assert_eq!(x.len(), s.iter().product::<usize>(), "elementwise: input {i} does not match its shape");
        }
    }
    if out.is_empty() {
        return;
    }
    let space = collapse(out_shape, in_shapes);
    let len = out.len();
    if threads <= 1 || len < PAR_MIN_ELEMS {
        eval_range(program, &space, inputs, in_place, 0, out);
        return;
    }
    let chunk = len.div_ceil(threads * 4).next_multiple_of(BLOCK);
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(c, part)| eval_range(program, &space, inputs, in_place, c * chunk, part));
}

/// The register count check the session does before running: every argument names an input
/// or an earlier instruction (see `prepare`). Exposed for tests.
pub fn program_is_well_formed(program: &[ElementwiseInstr], n_inputs: usize) -> bool {
    !program.is_empty()
        && program.iter().enumerate().all(|(k, instr)| {
            let avail = (n_inputs + k) as u64;
            let [a, b] = instr.args;
            match instr.op {
                ElementwiseOp::Binary(_) => (a as u64) < avail && (b as u64) < avail,
                ElementwiseOp::Activation(_) | ElementwiseOp::Unary(_) => (a as u64) < avail && b == 0,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hetc_plan::Activation;

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

    /// Index of `shape` (broadcast) for flat output index `o`.
    fn src_index(o: usize, out_shape: &[usize], shape: &[usize]) -> usize {
        let mut rem = o;
        let mut coords = vec![0; out_shape.len()];
        for i in (0..out_shape.len()).rev() {
            coords[i] = rem % out_shape[i];
            rem /= out_shape[i];
        }
        let lead = out_shape.len() - shape.len();
        shape.iter().enumerate().fold(0, |idx, (i, &d)| idx * d + if d == 1 { 0 } else { coords[lead + i] })
    }

    fn naive(
        program: &[ElementwiseInstr],
        inputs: &[Vec<f32>],
        shapes: &[Vec<usize>],
        out_shape: &[usize],
    ) -> Vec<f32> {
        let n: usize = out_shape.iter().product();
        (0..n)
            .map(|o| {
                let mut regs: Vec<f32> =
                    inputs.iter().zip(shapes).map(|(x, s)| x[src_index(o, out_shape, s)]).collect();
                for instr in program {
                    let [a, b] = instr.args.map(|r| regs[r as usize]);
                    regs.push(match instr.op {
                        ElementwiseOp::Activation(act) => super::super::activation::apply_scalar(act, a),
                        ElementwiseOp::Unary(f) => super::super::elementwise::unary_scalar(f, a),
                        ElementwiseOp::Binary(op) => super::super::elementwise::binary_scalar(op, a, b),
                    });
                }
                *regs.last().unwrap()
            })
            .collect()
    }

    fn ins(op: ElementwiseOp, a: u32, b: u32) -> ElementwiseInstr {
        ElementwiseInstr { op, args: [a, b] }
    }

    fn close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "element {i}: got {g}, want {w}");
        }
    }

    #[test]
    fn matches_naive_with_broadcasting_and_threads() {
        // hardswish-like: x * clip(x * s + t, 0, 1) + r, per-channel s and t, full-shape r.
        let program = vec![
            ins(ElementwiseOp::Binary(BinaryFn::Mul), 0, 1),
            ins(ElementwiseOp::Binary(BinaryFn::Add), 4, 2),
            ins(ElementwiseOp::Activation(Activation::Clip { min: 0.0, max: 1.0 }), 5, 0),
            ins(ElementwiseOp::Binary(BinaryFn::Mul), 0, 6),
            ins(ElementwiseOp::Binary(BinaryFn::Add), 7, 3),
            ins(ElementwiseOp::Unary(UnaryFn::Abs), 8, 0),
        ];
        let mut rng = Rng(42);
        for (x, s, r) in [
            (vec![1, 16, 33, 35], vec![16, 1, 1], vec![1, 16, 33, 35]),
            (vec![2, 3, 5, 7], vec![1], vec![5, 7]),
            (vec![3, 1, 7], vec![1, 5, 1], vec![3, 5, 7]),
            (vec![4, 64, 40, 41], vec![1, 64, 1, 1], vec![41]),
        ] {
            let shapes = vec![x.clone(), s.clone(), s.clone(), r.clone()];
            let out_shape: Vec<usize> = {
                let mut o = x.clone();
                for sh in &shapes {
                    let lead = o.len().max(sh.len());
                    let mut res = vec![1; lead];
                    for i in 0..lead {
                        let a = if i + o.len() >= lead { o[i + o.len() - lead] } else { 1 };
                        let b = if i + sh.len() >= lead { sh[i + sh.len() - lead] } else { 1 };
                        res[i] = a.max(b);
                    }
                    o = res;
                }
                o
            };
            let inputs: Vec<Vec<f32>> = shapes.iter().map(|s| rng.vec(s.iter().product())).collect();
            let want = naive(&program, &inputs, &shapes, &out_shape);
            for threads in [1, 3] {
                let slices: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
                let mut out = vec![f32::NAN; want.len()];
                elementwise(&program, &slices, &shapes, None, &mut out, &out_shape, threads);
                close(&out, &want);
                if shapes[0] == out_shape {
                    // In place over input 0.
                    let mut buf = inputs[0].clone();
                    let mut slices = slices.clone();
                    slices[0] = &[];
                    elementwise(&program, &slices, &shapes, Some(0), &mut buf, &out_shape, threads);
                    close(&buf, &want);
                }
            }
        }
    }

    #[test]
    fn well_formed_programs() {
        let p = [ins(ElementwiseOp::Binary(BinaryFn::Add), 0, 1), ins(ElementwiseOp::Unary(UnaryFn::Neg), 2, 0)];
        assert!(program_is_well_formed(&p, 2));
        assert!(!program_is_well_formed(&p, 1));
        assert!(!program_is_well_formed(&[], 1));
        assert!(!program_is_well_formed(&[ins(ElementwiseOp::Unary(UnaryFn::Neg), 0, 3)], 1));
        assert!(!program_is_well_formed(&[ins(ElementwiseOp::Unary(UnaryFn::Neg), 1, 0)], 1));
    }
}
