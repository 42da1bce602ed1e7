//! Runs one prepared step: finds its tensors in the arena and weight section and calls the
//! kernel.

// Products (`Gemm`, `MatMul`, `ConvTranspose`) of fewer FLOPs run on one thread, as small
// convolutions do (`introspect::conv_threads`, which measured the threshold).
use super::introspect::{self, CpuIsa, PARALLEL_MIN_FLOPS};
use super::kernels::{
    activation, conv, elementwise, fused_elementwise, gemm, matmul, movement, norm, pool, reduce, resize, softmax,
    winograd,
};
use super::prepare::{Prepared, Region};
use hetc_plan::{Activation, ConvAlgo, Kernel};

/// Views of a step's tensors.
struct Views<'a> {
    inputs: Vec<&'a [f32]>,
    outputs: Vec<&'a mut [f32]>,
}

/// Splits the step's regions out of the arena and weights.
///
/// `prepare` proved every region lies inside its buffer, that outputs are pairwise disjoint,
/// and that an output overlaps an input only when it is exactly the step's in-place input;
/// that input is then not handed out separately (the kernel reads it through the output).
fn views<'a>(step: &Prepared, arena: &'a mut [f32], weights: &'a [f32]) -> Views<'a> {
    let base = arena.as_mut_ptr();
    let arena_len = arena.len();
    let inputs = step
        .inputs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.weight {
                &weights[r.offset..r.offset + r.len]
            } else if Some(i) == step.in_place {
                &[][..]
            } else {
                assert!(r.offset + r.len <= arena_len);
                // SAFETY: the region is inside the arena (asserted), and `prepare` proved it is
                // disjoint from every output of this step, so no `&mut` below aliases it.
                unsafe { std::slice::from_raw_parts(base.add(r.offset), r.len) }
            }
        })
        .collect();
    let outputs = step
        .outputs
        .iter()
        .map(|r: &Region| {
            assert!(!r.weight && r.offset + r.len <= arena_len);
            // SAFETY: inside the arena (asserted); outputs are pairwise disjoint and disjoint
            // from every input handed out above (`prepare`), so this is the only reference.
            unsafe { std::slice::from_raw_parts_mut(base.add(r.offset), r.len) }
        })
        .collect();
    Views { inputs, outputs }
}

fn dims4(s: &[usize]) -> [usize; 4] {
    [s[0], s[1], s[2], s[3]]
}

/// The Winograd variant whose layout the weights `w` have (`prepare` checked that it is one).
fn winograd_variant(w: &[usize], geom: &conv::Conv2d) -> hetc_plan::winograd::Variant {
    hetc_plan::winograd::Variant::of_weight_shape(w, geom.m, geom.c).expect("prepare checks winograd weights")
}

/// Other steps (memory-bound: activations, pooling, data movement) with fewer output
/// elements run on one thread: 64 KiB is copied or transformed in a few microseconds.
const PARALLEL_MIN_ELEMS: usize = 16 * 1024;

/// The threads `step` runs on when the session has `threads`: one for steps too small to
/// split profitably, else all of them. Deciding per step here (rather than in every kernel)
/// also lets a session whose steps are all small run without waking any helper thread.
pub fn step_threads(step: &Prepared, threads: usize) -> usize {
    let (ins, outs) = (&step.in_shapes, &step.out_shapes);
    let elems = |s: &[usize]| s.iter().product::<usize>();
    let big = match &step.kernel {
        Kernel::Conv(c) => {
            let g = conv::Conv2d::from_params(c, dims4(&ins[0]), dims4(&outs[0]));
            return introspect::conv_threads(&g, introspect::conv_impl(&g, c.algo, CpuIsa::host()), threads);
        }
        Kernel::ConvTranspose(c) => {
            conv::Conv2d::from_transpose_params(c, dims4(&ins[0]), dims4(&outs[0])).flops() >= PARALLEL_MIN_FLOPS
        }
        Kernel::Gemm { trans_a, .. } => {
            let k = if *trans_a { ins[0][0] } else { ins[0][1] };
            // A one-row product (a classifier at batch 1) streams its weights once: it is
            // bound by memory, not FLOPs, and sized by the weights it reads. MobileNetV2's
            // 1280 x 1000 classifier (2.6 MFLOP) measured 228 us on one thread and 125 us
            // on two (`bench_gemv`).
            let one_row = outs[0].first() == Some(&1) && outs[0].len() == 2;
            2 * (elems(&outs[0]) as u64) * k as u64 >= PARALLEL_MIN_FLOPS
                || (one_row && ins.get(1).is_some_and(|b| elems(b) >= PARALLEL_MIN_ELEMS))
        }
        Kernel::MatMul => {
            let k = ins[0].last().copied().unwrap_or(1);
            2 * (elems(&outs[0]) as u64) * k as u64 >= PARALLEL_MIN_FLOPS
        }
        // Reductions over a large input to a small output (global pooling, Reduce*, norms)
        // are sized by what they read.
        _ => ins.iter().chain(outs).map(|s| elems(s)).max().unwrap_or(0) >= PARALLEL_MIN_ELEMS,
    };
    if big { threads.max(1) } else { 1 }
}

/// The most scratch elements [`execute`] grows `scratch` to for `step`, so that a session can
/// reserve it up front and fail cleanly if it cannot be had.
pub fn scratch_len(step: &Prepared, threads: usize) -> usize {
    let (ins, outs) = (&step.in_shapes, &step.out_shapes);
    match &step.kernel {
        Kernel::Conv(c) => {
            let geom = conv::Conv2d::from_params(c, dims4(&ins[0]), dims4(&outs[0]));
            match c.algo {
                ConvAlgo::Winograd => winograd::scratch_len(&geom, winograd_variant(&ins[1], &geom), threads),
                _ => conv::conv2d_scratch_len(&geom, threads),
            }
        }
        Kernel::ConvTranspose(c) => {
            conv::conv_transpose2d_scratch_len(&conv::Conv2d::from_transpose_params(c, dims4(&ins[0]), dims4(&outs[0])))
        }
        _ => 0,
    }
}

pub fn execute(step: &Prepared, arena: &mut [f32], weights: &[f32], scratch: &mut Vec<f32>, threads: usize) {
    let Views { inputs, mut outputs } = views(step, arena, weights);
    let (ins, outs) = (&step.in_shapes, &step.out_shapes);
    let in_place = step.in_place;
    match &step.kernel {
        Kernel::Conv(c) => {
            let geom = conv::Conv2d::from_params(c, dims4(&ins[0]), dims4(&outs[0]));
            let bias = c.has_bias.then(|| inputs[2]);
            let out = &mut *outputs[0];
            if c.has_residual && in_place.is_none() {
                out.copy_from_slice(inputs[inputs.len() - 1]);
            }
            if c.algo == ConvAlgo::Winograd {
                winograd::conv2d_winograd(
                    &geom,
                    winograd_variant(&ins[1], &geom),
                    inputs[0],
                    inputs[1],
                    bias,
                    out,
                    c.has_residual,
                    c.activation,
                    scratch,
                    threads,
                );
            } else {
                conv::conv2d(
                    &geom,
                    c.algo,
                    inputs[0],
                    inputs[1],
                    bias,
                    out,
                    c.has_residual,
                    c.activation,
                    scratch,
                    threads,
                );
            }
        }
        Kernel::ConvTranspose(c) => {
            let geom = conv::Conv2d::from_transpose_params(c, dims4(&ins[0]), dims4(&outs[0]));
            let bias = c.has_bias.then(|| inputs[2]);
            conv::conv_transpose2d(&geom, inputs[0], inputs[1], bias, outputs[0], c.activation, scratch, threads);
        }
        Kernel::Gemm { trans_a, trans_b, alpha, beta, has_c, activation } => {
            let (m, k) = if *trans_a { (ins[0][1], ins[0][0]) } else { (ins[0][0], ins[0][1]) };
            let n = outs[0][1];
            let p = gemm::GemmOp { m, k, n, trans_a: *trans_a, trans_b: *trans_b, alpha: *alpha, beta: *beta };
            let c = has_c.then(|| (inputs[2], ins[2].as_slice()));
            gemm::gemm_op(&p, inputs[0], inputs[1], c, *activation, outputs[0], threads);
        }
        Kernel::MatMul => matmul::matmul(inputs[0], &ins[0], inputs[1], &ins[1], outputs[0], &outs[0], threads),
        Kernel::Pool(p) => pool::pool2d(p, dims4(&ins[0]), dims4(&outs[0]), inputs[0], outputs[0], threads),
        Kernel::GlobalPool { kind } => {
            let planes = ins[0][0] * ins[0][1];
            pool::global_pool(*kind, inputs[0], planes, inputs[0].len() / planes.max(1), outputs[0], threads);
        }
        Kernel::ChannelAffine { activation } => {
            let (n, c) = (ins[0][0], ins[0][1]);
            let hw = ins[0][2..].iter().product();
            match in_place {
                Some(_) => {
                    norm::channel_affine_inplace(outputs[0], n, c, hw, inputs[1], inputs[2], *activation, threads)
                }
                None => {
                    norm::channel_affine(inputs[0], n, c, hw, inputs[1], inputs[2], *activation, outputs[0], threads)
                }
            }
        }
        Kernel::InstanceNorm { epsilon } => {
            let (n, c) = (ins[0][0], ins[0][1]);
            let hw = ins[0][2..].iter().product();
            norm::instance_norm(inputs[0], n, c, hw, inputs[1], inputs[2], *epsilon, outputs[0], threads);
        }
        Kernel::FusedInstanceNorm { epsilon, has_residual, activation } => {
            let (n, c) = (ins[0][0], ins[0][1]);
            let hw = ins[0][2..].iter().product();
            let residual = has_residual.then(|| inputs[3]);
            norm::instance_norm_epilogue(
                inputs[0],
                n,
                c,
                hw,
                inputs[1],
                inputs[2],
                *epsilon,
                residual,
                *activation,
                outputs[0],
                threads,
            );
        }
        Kernel::Activation(a) => {
            if in_place.is_none() {
                outputs[0].copy_from_slice(inputs[0]);
            }
            activation::apply_par(*a, outputs[0], threads);
        }
        Kernel::Unary(f) => match in_place {
            Some(_) => elementwise::unary_inplace(*f, outputs[0], threads),
            None => elementwise::unary(*f, inputs[0], outputs[0], threads),
        },
        Kernel::Binary { op, activation } => match in_place {
            Some(0) => elementwise::binary_inplace(*op, outputs[0], &outs[0], inputs[1], &ins[1], *activation, threads),
            Some(_) => {
                elementwise::binary_inplace_b(*op, inputs[0], &ins[0], outputs[0], &outs[0], *activation, threads)
            }
            None => elementwise::binary(
                *op,
                inputs[0],
                &ins[0],
                inputs[1],
                &ins[1],
                outputs[0],
                &outs[0],
                *activation,
                threads,
            ),
        },
        Kernel::Softmax { axis, coerce_2d, log } => {
            softmax::softmax(inputs[0], &ins[0], *axis as usize, *coerce_2d, *log, outputs[0], threads)
        }
        Kernel::Concat { axis } => {
            let shapes: Vec<&[usize]> = ins.iter().map(Vec::as_slice).collect();
            movement::concat(&inputs, &shapes, *axis as usize, outputs[0], threads);
        }
        Kernel::Split { axis } => {
            let a = *axis as usize;
            let sizes: Vec<usize> = outs.iter().map(|s| s[a]).collect();
            movement::split(inputs[0], &ins[0], a, &sizes, &mut outputs, threads);
        }
        Kernel::Slice { axes } => movement::slice(inputs[0], &ins[0], axes, outputs[0], &outs[0], threads),
        Kernel::Transpose { perm } => {
            let perm: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
            movement::transpose(inputs[0], &ins[0], &perm, outputs[0], threads);
        }
        Kernel::Pad { mode, pads, value } => {
            movement::pad(inputs[0], &ins[0], pads, *mode, *value, outputs[0], &outs[0], threads)
        }
        Kernel::Resize(p) => resize::resize(inputs[0], &ins[0], p, outputs[0], &outs[0], threads),
        Kernel::Reduce { kind, axes, .. } => {
            let axes: Vec<usize> = axes.iter().map(|&a| a as usize).collect();
            reduce::reduce(*kind, inputs[0], &ins[0], &axes, outputs[0], threads);
        }
        Kernel::Expand => movement::expand(inputs[0], &ins[0], outputs[0], &outs[0], threads),
        Kernel::Elementwise { program } => {
            fused_elementwise::elementwise(program, &inputs, ins, in_place, outputs[0], &outs[0], threads)
        }
        // Without a GPU (`--fallback cpu`) a transfer is a copy between two CPU buffers.
        Kernel::Copy | Kernel::Upload | Kernel::Download => movement::copy(inputs[0], outputs[0], threads),
    }
    let _ = Activation::Identity;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gemm_step(m: usize, k: usize, n: usize) -> Prepared {
        let region = |len| Region { weight: false, offset: 0, len };
        Prepared {
            kernel: Kernel::Gemm {
                trans_a: false,
                trans_b: true,
                alpha: 1.0,
                beta: 1.0,
                has_c: false,
                activation: Activation::Identity,
            },
            in_shapes: vec![vec![m, k], vec![n, k]],
            out_shapes: vec![vec![m, n]],
            inputs: vec![region(m * k), region(n * k)],
            outputs: vec![region(m * n)],
            in_place: None,
        }
    }

    #[test]
    fn one_row_products_are_split_by_the_weights_they_read() {
        // MobileNetV2's classifier: 2.6 MFLOP, but 1.3 M weights streamed once.
        assert_eq!(step_threads(&gemm_step(1, 1280, 1000), 2), 2);
        // A small head stays on one thread.
        assert_eq!(step_threads(&gemm_step(1, 128, 10), 2), 1);
        // Several rows reuse the weights: sized by FLOPs as before.
        assert_eq!(step_threads(&gemm_step(4, 64, 100), 2), 1);
        assert_eq!(step_threads(&gemm_step(64, 1024, 1000), 2), 2);
    }
}
