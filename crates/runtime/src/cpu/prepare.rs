//! Checks each step of a plan against the shapes of its tensors before anything runs.
//!
//! A plan is untrusted: structural validation (`hetc_plan::decode`) proved every tensor lies
//! inside the arena or the weight section; this module proves each kernel's shape rules, so
//! kernels can index without bounds surprises, and that no step's outputs overlap its inputs
//! except where the kernel computes in place.

use hetc_plan::{ConvAlgo, DType, Kernel, PlanMeta, PoolKind, Step, Storage, TensorDesc};

/// Where a tensor's `f32` elements are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub weight: bool,
    /// Offset in elements.
    pub offset: usize,
    pub len: usize,
}

impl Region {
    fn overlaps(&self, o: &Region) -> bool {
        self.weight == o.weight && self.offset < o.offset + o.len && o.offset < self.offset + self.len
    }
}

/// A step ready to run: its kernel, tensor shapes and memory regions.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub kernel: Kernel,
    pub in_shapes: Vec<Vec<usize>>,
    pub out_shapes: Vec<Vec<usize>>,
    pub inputs: Vec<Region>,
    pub outputs: Vec<Region>,
    /// The input whose memory output 0 overwrites, if the step computes in place.
    pub in_place: Option<usize>,
}

fn shape(t: &TensorDesc) -> Vec<usize> {
    t.shape.iter().map(|&d| d as usize).collect()
}

/// Where a tensor's elements are in the CPU's memory. GPU-arena tensors map to
/// `gpu_base` (in elements) plus their offset: in CPU fallback the CPU arena is extended by
/// the GPU arena; with a GPU, those regions only name GPU memory and are never touched here.
pub fn region(t: &TensorDesc, gpu_base: usize) -> Result<Region, String> {
    if t.dtype != DType::F32 {
        return Err(format!("tensor `{}` is {:?}; the CPU computes in f32", t.name, t.dtype));
    }
    let len = t.numel().ok_or("tensor size overflows")? as usize;
    let (weight, offset) = match t.storage {
        Storage::Arena { offset } => (false, offset),
        Storage::Weight { offset } => (true, offset),
        Storage::GpuArena { offset } => {
            return Ok(Region { weight: false, offset: gpu_base + (offset / 4) as usize, len });
        }
    };
    Ok(Region { weight, offset: (offset / 4) as usize, len })
}

fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

fn window_out(len: usize, pad: usize, k: usize, s: usize, d: usize) -> Option<usize> {
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = len.checked_add(pad)?;
    (s > 0 && padded >= span).then(|| (padded - span) / s + 1)
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => { if !$cond { return Err(format!($($arg)*)); } };
}

/// Whether the kernel may write output 0 over input `i`.
fn may_alias(kernel: &Kernel, i: usize, n_inputs: usize) -> bool {
    match kernel {
        Kernel::Activation(_) | Kernel::Unary(_) | Kernel::ChannelAffine { .. } => i == 0,
        Kernel::Binary { .. } => i < 2,
        Kernel::Conv(c) => c.has_residual && i + 1 == n_inputs,
        // `check_shapes` proved this input has the output's element count, so (broadcasting
        // to the output) its shape.
        Kernel::Elementwise { .. } => true,
        _ => false,
    }
}

/// Checks `step` and finds its regions (GPU-arena tensors at `gpu_base`, see [`region`]).
/// A GPU step is checked like a CPU step: its kernel is what its shaders compute, and what the
/// CPU runs instead in fallback.
pub fn prepare(meta: &PlanMeta, step: &Step, gpu_base: usize) -> Result<Prepared, String> {
    let t = |id: u32| &meta.tensors[id as usize];
    let in_shapes: Vec<Vec<usize>> = step.inputs.iter().map(|&i| shape(t(i))).collect();
    let out_shapes: Vec<Vec<usize>> = step.outputs.iter().map(|&i| shape(t(i))).collect();
    let inputs = step.inputs.iter().map(|&i| region(t(i), gpu_base)).collect::<Result<Vec<_>, _>>()?;
    let outputs = step.outputs.iter().map(|&i| region(t(i), gpu_base)).collect::<Result<Vec<_>, _>>()?;
    check_shapes(&step.kernel, &in_shapes, &out_shapes)?;
    // Memory safety: outputs are disjoint from each other, and from inputs unless in place.
    let mut in_place = None;
    for (j, o) in outputs.iter().enumerate() {
        ensure!(!o.weight, "output {j} is a weight");
        for p in &outputs[..j] {
            ensure!(!o.overlaps(p), "outputs overlap");
        }
        for (i, x) in inputs.iter().enumerate() {
            if !o.overlaps(x) {
                continue;
            }
            ensure!(
                j == 0 && x == o && may_alias(&step.kernel, i, inputs.len()) && in_place.is_none(),
                "output {j} overlaps input {i}"
            );
            in_place = Some(i);
        }
    }
    if let Some(i) = in_place {
        // An in-place input must not also be read through another region.
        for (k, x) in inputs.iter().enumerate() {
            ensure!(k == i || !x.overlaps(&outputs[0]), "input {k} overlaps the in-place output");
        }
    }
    Ok(Prepared { kernel: step.kernel.clone(), in_shapes, out_shapes, inputs, outputs, in_place })
}

fn count(ins: &[Vec<usize>], outs: &[Vec<usize>], n_in: usize, n_out: usize) -> Result<(), String> {
    ensure!(
        ins.len() == n_in && outs.len() == n_out,
        "expects {n_in} inputs and {n_out} outputs, has {} and {}",
        ins.len(),
        outs.len()
    );
    Ok(())
}

fn check_shapes(kernel: &Kernel, ins: &[Vec<usize>], outs: &[Vec<usize>]) -> Result<(), String> {
    match kernel {
        Kernel::Conv(c) => {
            count(ins, outs, 2 + c.has_bias as usize + c.has_residual as usize, 1)?;
            let (x, w, y) = (&ins[0], &ins[1], &outs[0]);
            ensure!(x.len() == 4 && w.len() == 4 && y.len() == 4, "convolution tensors must be 4-D");
            // Winograd weights are stored transformed; check that layout, then the rest against
            // the logical `[M, C, 3, 3]`.
            let logical;
            let w = if c.algo == ConvAlgo::Winograd {
                ensure!(
                    c.kernel == [3, 3] && c.strides == [1, 1] && c.dilations == [1, 1] && c.group == 1,
                    "winograd algorithm on a convolution that is not 3x3, stride 1, undilated and ungrouped"
                );
                use hetc_plan::winograd::Variant;
                ensure!(
                    Variant::of_weight_shape(w, y[1], x[1]).is_some(),
                    "winograd weights {w:?} must be {:?} or {:?}",
                    Variant::F4x4.weight_shape(y[1], x[1]),
                    Variant::F2x2.weight_shape(y[1], x[1])
                );
                logical = vec![y[1], x[1], 3, 3];
                &logical
            } else {
                w
            };
            let g = c.group as usize;
            ensure!(
                g > 0 && x[1] % g == 0 && w[0] % g == 0 && w[1].checked_mul(g) == Some(x[1]),
                "channels {} / weights {:?} / group {g}",
                x[1],
                w
            );
            ensure!(w[2] == c.kernel[0] as usize && w[3] == c.kernel[1] as usize, "kernel size does not match weights");
            ensure!(c.strides.iter().chain(&c.dilations).all(|&v| v > 0), "zero stride or dilation");
            let oh = window_out(
                x[2],
                c.pads[0] as usize + c.pads[2] as usize,
                w[2],
                c.strides[0] as usize,
                c.dilations[0] as usize,
            );
            let ow = window_out(
                x[3],
                c.pads[1] as usize + c.pads[3] as usize,
                w[3],
                c.strides[1] as usize,
                c.dilations[1] as usize,
            );
            ensure!(
                *y == [x[0], w[0], oh.unwrap_or(0), ow.unwrap_or(0)] && oh.is_some() && ow.is_some(),
                "output {y:?} does not match input {x:?} and weights {w:?}"
            );
            if c.has_bias {
                ensure!(ins[2] == [w[0]], "bias must be [{}]", w[0]);
            }
            if c.has_residual {
                ensure!(ins[ins.len() - 1] == *y, "residual must match the output");
            }
            match c.algo {
                ConvAlgo::Pointwise => ensure!(
                    w[2] == 1 && w[3] == 1 && c.strides == [1, 1] && c.pads == [0; 4] && g == 1,
                    "pointwise algorithm on a non-pointwise convolution"
                ),
                ConvAlgo::Depthwise => {
                    ensure!(g == x[1] && w[1] == 1, "depthwise algorithm needs one input channel per group")
                }
                ConvAlgo::Im2colGemm | ConvAlgo::Winograd => {}
            }
        }
        Kernel::ConvTranspose(c) => {
            count(ins, outs, 2 + c.has_bias as usize, 1)?;
            let (x, w, y) = (&ins[0], &ins[1], &outs[0]);
            ensure!(x.len() == 4 && w.len() == 4 && y.len() == 4, "convolution tensors must be 4-D");
            let g = c.group as usize;
            ensure!(g > 0 && w[0] == x[1] && x[1] % g == 0, "channels {} / weights {:?} / group {g}", x[1], w);
            ensure!(w[2] == c.kernel[0] as usize && w[3] == c.kernel[1] as usize, "kernel size does not match weights");
            ensure!(y[0] == x[0] && w[1].checked_mul(g) == Some(y[1]), "output channels");
            ensure!(c.strides.iter().chain(&c.dilations).all(|&v| v > 0), "zero stride or dilation");
            for a in 0..2 {
                // Dimensions are below 2^40 and parameters below 2^32: no overflow in i128.
                let (s, d, k) = (c.strides[a] as i128, c.dilations[a] as i128, w[2 + a] as i128);
                ensure!(k > 0, "empty kernel");
                let full = (x[2 + a].max(1) as i128 - 1) * s + d * (k - 1) + 1;
                let cropped = full - (c.pads[a] as i128 + c.pads[a + 2] as i128);
                let extra = y[2 + a] as i128 - cropped;
                ensure!(cropped > 0 && (0..s.max(d)).contains(&extra), "output {y:?} does not match input {x:?}");
            }
            if c.has_bias {
                ensure!(ins[2] == [y[1]], "bias must be [{}]", y[1]);
            }
        }
        Kernel::Gemm { trans_a, trans_b, has_c, .. } => {
            count(ins, outs, 2 + *has_c as usize, 1)?;
            let (a, b) = (&ins[0], &ins[1]);
            ensure!(a.len() == 2 && b.len() == 2, "Gemm operands must be 2-D");
            let (m, k) = if *trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
            let (k2, n) = if *trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
            ensure!(k == k2 && outs[0] == [m, n], "Gemm shapes {a:?} x {b:?} -> {:?}", outs[0]);
            if *has_c {
                ensure!(broadcast(&ins[2], &[m, n]).as_deref() == Some(&[m, n][..]), "Gemm C does not broadcast");
            }
        }
        Kernel::MatMul => {
            count(ins, outs, 2, 1)?;
            let (a, b) = (&ins[0], &ins[1]);
            ensure!(!a.is_empty() && !b.is_empty(), "MatMul of a scalar");
            let a2 = if a.len() == 1 { vec![1, a[0]] } else { a.clone() };
            let b2 = if b.len() == 1 { vec![b[0], 1] } else { b.clone() };
            ensure!(a2[a2.len() - 1] == b2[b2.len() - 2], "MatMul inner dimensions differ");
            let mut out =
                broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2]).ok_or("MatMul batch dims do not broadcast")?;
            if a.len() > 1 {
                out.push(a2[a2.len() - 2]);
            }
            if b.len() > 1 {
                out.push(b2[b2.len() - 1]);
            }
            ensure!(outs[0] == out, "MatMul output {:?}, expected {out:?}", outs[0]);
        }
        Kernel::Pool(p) => {
            count(ins, outs, 1, 1)?;
            let (x, y) = (&ins[0], &outs[0]);
            ensure!(x.len() == 4 && y.len() == 4 && y[..2] == x[..2], "pooling tensors must be 4-D with equal N, C");
            for a in 0..2 {
                let (k, s, d) = (p.kernel[a] as usize, p.strides[a] as usize, p.dilations[a] as usize);
                let (pb, pe) = (p.pads[a] as usize, p.pads[a + 2] as usize);
                ensure!(k > 0 && s > 0 && d > 0 && pb < k * d && pe < k * d, "bad pooling window");
                let floor = window_out(x[2 + a], pb + pe, k, s, d).ok_or("window larger than the input")?;
                ensure!(y[2 + a] == floor || y[2 + a] == floor + 1, "pooling output {y:?} does not match input {x:?}");
                // Every window must start inside the input or its begin padding.
                ensure!((y[2 + a] - 1) * s < x[2 + a] + pb, "a pooling window starts in the end padding");
            }
            if let PoolKind::Average { .. } = p.kind {}
        }
        Kernel::GlobalPool { .. } => {
            count(ins, outs, 1, 1)?;
            let (x, y) = (&ins[0], &outs[0]);
            ensure!(
                x.len() >= 3 && y.len() == x.len() && y[..2] == x[..2] && y[2..].iter().all(|&d| d == 1),
                "global pooling shapes"
            );
            ensure!(x[2..].iter().product::<usize>() > 0, "global pooling of an empty plane");
        }
        Kernel::ChannelAffine { .. } | Kernel::InstanceNorm { .. } => {
            count(ins, outs, 3, 1)?;
            let x = &ins[0];
            ensure!(
                x.len() >= 2 && ins[1] == [x[1]] && ins[2] == [x[1]] && outs[0] == *x,
                "per-channel parameters must be [{}]",
                x.get(1).copied().unwrap_or(0)
            );
            if let Kernel::InstanceNorm { .. } = kernel {
                ensure!(
                    x.len() >= 3 && x[2..].iter().product::<usize>() > 0,
                    "instance normalization of an empty plane"
                );
            }
        }
        Kernel::Activation(_) | Kernel::Unary(_) | Kernel::Copy | Kernel::Upload | Kernel::Download => {
            count(ins, outs, 1, 1)?;
            ensure!(ins[0].iter().product::<usize>() == outs[0].iter().product::<usize>(), "element counts differ");
        }
        Kernel::Binary { .. } => {
            count(ins, outs, 2, 1)?;
            ensure!(
                broadcast(&ins[0], &ins[1]).as_ref() == Some(&outs[0]),
                "{:?} and {:?} do not broadcast to {:?}",
                ins[0],
                ins[1],
                outs[0]
            );
        }
        Kernel::Softmax { axis, .. } => {
            count(ins, outs, 1, 1)?;
            ensure!((*axis as usize) < ins[0].len().max(1) && outs[0] == ins[0], "softmax axis or shape");
        }
        Kernel::Concat { axis } => {
            ensure!(!ins.is_empty() && outs.len() == 1, "Concat needs inputs and one output");
            let a = *axis as usize;
            let y = &outs[0];
            ensure!(a < y.len(), "axis out of range");
            let mut total = 0;
            for x in ins {
                ensure!(
                    x.len() == y.len() && (0..y.len()).all(|d| d == a || x[d] == y[d]),
                    "Concat input {x:?} vs output {y:?}"
                );
                total = x[a].checked_add(total).ok_or("Concat sizes overflow")?;
            }
            ensure!(total == y[a], "Concat sizes do not add up");
        }
        Kernel::Split { axis } => {
            ensure!(ins.len() == 1 && !outs.is_empty(), "Split needs one input and outputs");
            let (a, x) = (*axis as usize, &ins[0]);
            ensure!(a < x.len(), "axis out of range");
            let mut total = 0;
            for y in outs {
                ensure!(
                    y.len() == x.len() && (0..x.len()).all(|d| d == a || x[d] == y[d]),
                    "Split output {y:?} vs input {x:?}"
                );
                total = y[a].checked_add(total).ok_or("Split sizes overflow")?;
            }
            ensure!(total == x[a], "Split sizes do not add up");
        }
        Kernel::Slice { axes } => {
            count(ins, outs, 1, 1)?;
            let (x, y) = (&ins[0], &outs[0]);
            ensure!(x.len() == y.len(), "Slice changes rank");
            let mut sliced = vec![false; x.len()];
            for s in axes {
                let a = s.axis as usize;
                ensure!(a < x.len() && !sliced[a] && s.step != 0, "bad slice axis");
                sliced[a] = true;
                if y[a] > 0 {
                    let last = s.start as i128 + (y[a] as i128 - 1) * s.step as i128;
                    ensure!(
                        (0..x[a] as i128).contains(&(s.start as i128)) && (0..x[a] as i128).contains(&last),
                        "slice reads outside axis {a}"
                    );
                }
            }
            ensure!((0..x.len()).all(|d| sliced[d] || x[d] == y[d]), "unsliced axes must keep their size");
        }
        Kernel::Transpose { perm } => {
            count(ins, outs, 1, 1)?;
            let x = &ins[0];
            let mut sorted: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
            sorted.sort_unstable();
            ensure!(sorted == (0..x.len()).collect::<Vec<_>>(), "perm is not a permutation");
            ensure!(outs[0] == perm.iter().map(|&p| x[p as usize]).collect::<Vec<_>>(), "transpose output shape");
        }
        Kernel::Pad { mode, pads, .. } => {
            count(ins, outs, 1, 1)?;
            let (x, y) = (&ins[0], &outs[0]);
            let r = x.len();
            ensure!(pads.len() == 2 * r && y.len() == r, "pads do not match rank");
            for d in 0..r {
                // A crop cannot remove more than the axis, nor a pad add more than the output:
                // this keeps the kernel's index arithmetic far from overflow.
                for p in [pads[d], pads[d + r]] {
                    ensure!(p >= -(x[d] as i64) && p <= y[d] as i64, "pad {p} on axis {d} of {x:?} -> {y:?}");
                }
                let len = x[d] as i128 + pads[d] as i128 + pads[d + r] as i128;
                ensure!(len == y[d] as i128, "padded size of axis {d}");
                let grows = pads[d] > 0 || pads[d + r] > 0;
                if *mode != hetc_plan::PadMode::Constant && grows {
                    ensure!(x[d] > 0, "cannot pad an empty axis by {:?}", mode);
                }
                if *mode == hetc_plan::PadMode::Reflect && grows {
                    ensure!(pads[d].max(pads[d + r]) < x[d] as i64, "reflect pad larger than axis {d}");
                }
            }
        }
        Kernel::Resize(p) => {
            count(ins, outs, 1, 1)?;
            let r = ins[0].len();
            ensure!(outs[0].len() == r && p.scales.len() == r, "resize rank");
            ensure!(p.roi.is_empty() || p.roi.len() == 2 * r, "roi length");
            ensure!(ins[0].iter().zip(&outs[0]).all(|(&i, &o)| i > 0 || o == 0), "cannot resize an empty axis");
        }
        Kernel::Reduce { axes, keepdims, .. } => {
            count(ins, outs, 1, 1)?;
            let x = &ins[0];
            ensure!(axes.iter().all(|&a| (a as usize) < x.len()), "reduce axis out of range");
            let expected: Vec<usize> = (0..x.len())
                .filter_map(|d| if axes.contains(&(d as u32)) { keepdims.then_some(1) } else { Some(x[d]) })
                .collect();
            ensure!(outs[0] == expected, "reduce output {:?}, expected {expected:?}", outs[0]);
        }
        Kernel::Elementwise { program } => check_elementwise(program, ins, outs)?,
        Kernel::FusedInstanceNorm { has_residual, .. } => {
            count(ins, outs, 3 + *has_residual as usize, 1)?;
            let x = &ins[0];
            ensure!(
                x.len() >= 3 && ins[1] == [x[1]] && ins[2] == [x[1]] && outs[0] == *x,
                "per-channel parameters must be [{}]",
                x.get(1).copied().unwrap_or(0)
            );
            ensure!(x[2..].iter().product::<usize>() > 0, "instance normalization of an empty plane");
            if *has_residual {
                ensure!(ins[3] == *x, "residual must match the output");
            }
        }
        Kernel::Expand => {
            count(ins, outs, 1, 1)?;
            ensure!(
                broadcast(&ins[0], &outs[0]).as_ref() == Some(&outs[0]),
                "cannot expand {:?} to {:?}",
                ins[0],
                outs[0]
            );
        }
    }
    Ok(())
}

/// An elementwise program is untrusted: its length and input count are bounded, every register
/// it reads is an input or an earlier instruction, and every input broadcasts to the output,
/// which must be their broadcast shape.
fn check_elementwise(
    program: &[hetc_plan::ElementwiseInstr],
    ins: &[Vec<usize>],
    outs: &[Vec<usize>],
) -> Result<(), String> {
    use hetc_plan::{MAX_ELEMENTWISE_INPUTS, MAX_ELEMENTWISE_INSTRS};
    ensure!(outs.len() == 1, "elementwise programs have one output, not {}", outs.len());
    ensure!(
        (1..=MAX_ELEMENTWISE_INPUTS).contains(&ins.len()),
        "elementwise program with {} inputs (1 to {MAX_ELEMENTWISE_INPUTS})",
        ins.len()
    );
    ensure!(
        (1..=MAX_ELEMENTWISE_INSTRS).contains(&program.len()),
        "elementwise program of {} instructions (1 to {MAX_ELEMENTWISE_INSTRS})",
        program.len()
    );
    ensure!(
        super::kernels::fused_elementwise::program_is_well_formed(program, ins.len()),
        "elementwise program reads a register that is not an input or an earlier instruction"
    );
    let mut shape: Vec<usize> = Vec::new();
    for x in ins {
        shape = broadcast(&shape, x).ok_or_else(|| format!("elementwise inputs {ins:?} do not broadcast"))?;
    }
    ensure!(outs[0] == shape, "elementwise output {:?}, expected the inputs' broadcast {shape:?}", outs[0]);
    Ok(())
}
