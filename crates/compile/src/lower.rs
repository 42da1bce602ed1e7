//! IR nodes to plan steps over an intermediate value table.

use crate::CompileError;
use crate::placement::Placement;
use hetc_ir::ops::{self as ir, BinaryKind, UnaryKind};
use hetc_ir::{Graph, NodeId, Op, Tensor, TensorType, ValueRef};
use hetc_plan as plan;
use hetc_plan::{Activation, Device, Kernel};
use std::collections::HashMap;

pub(crate) type ValId = usize;

/// Where a value's bytes come from.
#[derive(Debug, Clone)]
pub(crate) enum ValKind {
    /// Computed at run time (or a graph input): gets arena memory.
    Computed,
    /// Known at compile time: goes to the weight section.
    Constant(Tensor),
    /// The same bytes as another value, seen with another shape.
    ViewOf(ValId),
    /// Part of another value's bytes, from a byte offset: a Concat input that its producer
    /// writes in place (`concat_in_place`).
    SliceOf { base: ValId, offset: u64 },
}

#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub name: String,
    pub ty: TensorType,
    pub kind: ValKind,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub name: String,
    /// The processor that runs it: its node's placement.
    pub device: Device,
    pub kernel: Kernel,
    pub inputs: Vec<ValId>,
    pub outputs: Vec<ValId>,
}

/// The lowered program: values and steps in execution order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    pub values: Vec<Value>,
    pub steps: Vec<Step>,
    pub inputs: Vec<(String, ValId)>,
    pub outputs: Vec<(String, ValId)>,
}

impl Program {
    pub fn add(&mut self, name: impl Into<String>, ty: TensorType, kind: ValKind) -> ValId {
        self.values.push(Value { name: name.into(), ty, kind });
        self.values.len() - 1
    }

    /// The value whose memory `v` uses (following views).
    pub fn root(&self, mut v: ValId) -> ValId {
        while let ValKind::ViewOf(b) | ValKind::SliceOf { base: b, .. } = self.values[v].kind {
            v = b;
        }
        v
    }

    /// Byte offset of `v`'s memory inside its root's (non-zero only inside a Concat's output).
    pub fn offset_in_root(&self, mut v: ValId) -> u64 {
        let mut offset = 0;
        loop {
            match self.values[v].kind {
                ValKind::ViewOf(b) => v = b,
                ValKind::SliceOf { base, offset: o } => {
                    offset += o;
                    v = base;
                }
                _ => return offset,
            }
        }
    }

    /// A view of `v` with another shape; constants are reshaped directly.
    pub fn view(&mut self, v: ValId, shape: Vec<usize>) -> ValId {
        let value = &self.values[v];
        if value.ty.shape == shape {
            return v;
        }
        let ty = TensorType::new(value.ty.dtype, shape.clone());
        let name = format!("{}/view", value.name);
        match &value.kind {
            ValKind::Constant(t) => {
                let t = t.reshaped(shape).expect("views keep the element count");
                self.add(name, ty, ValKind::Constant(t))
            }
            _ => self.add(name, ty, ValKind::ViewOf(v)),
        }
    }

    pub fn constant(&self, v: ValId) -> Option<&Tensor> {
        match &self.values[v].kind {
            ValKind::Constant(t) => Some(t),
            _ => None,
        }
    }
}

fn node_err(name: &str, reason: impl Into<String>) -> CompileError {
    CompileError::Node { node: name.to_string(), reason: reason.into() }
}

pub(crate) fn activation_of(kind: &UnaryKind) -> Option<Activation> {
    Some(match *kind {
        UnaryKind::Relu => Activation::Relu,
        UnaryKind::LeakyRelu { alpha } => Activation::LeakyRelu { alpha },
        UnaryKind::Clip { min, max } => Activation::Clip { min, max },
        UnaryKind::Sigmoid => Activation::Sigmoid,
        UnaryKind::HardSigmoid { alpha, beta } => Activation::HardSigmoid { alpha, beta },
        UnaryKind::HardSwish => Activation::HardSwish,
        UnaryKind::Tanh => Activation::Tanh,
        UnaryKind::Elu { alpha } => Activation::Elu { alpha },
        UnaryKind::Selu { alpha, gamma } => Activation::Selu { alpha, gamma },
        UnaryKind::Celu { alpha } => Activation::Celu { alpha },
        UnaryKind::ThresholdedRelu { alpha } => Activation::ThresholdedRelu { alpha },
        UnaryKind::Softplus => Activation::Softplus,
        UnaryKind::Softsign => Activation::Softsign,
        UnaryKind::Mish => Activation::Mish,
        _ => return None,
    })
}

pub(crate) fn unary_fn(kind: &UnaryKind) -> Option<plan::UnaryFn> {
    use plan::UnaryFn as U;
    Some(match kind {
        UnaryKind::Exp => U::Exp,
        UnaryKind::Log => U::Log,
        UnaryKind::Sqrt => U::Sqrt,
        UnaryKind::Reciprocal => U::Reciprocal,
        UnaryKind::Neg => U::Neg,
        UnaryKind::Abs => U::Abs,
        UnaryKind::Floor => U::Floor,
        UnaryKind::Ceil => U::Ceil,
        UnaryKind::Round => U::Round,
        UnaryKind::Sign => U::Sign,
        UnaryKind::Erf => U::Erf,
        UnaryKind::Sin => U::Sin,
        UnaryKind::Cos => U::Cos,
        _ => return None,
    })
}

pub(crate) fn binary_fn(kind: &BinaryKind) -> Option<plan::BinaryFn> {
    use plan::BinaryFn as B;
    Some(match kind {
        BinaryKind::Add => B::Add,
        BinaryKind::Sub => B::Sub,
        BinaryKind::Mul => B::Mul,
        BinaryKind::Div => B::Div,
        BinaryKind::Pow => B::Pow,
        BinaryKind::Max => B::Max,
        BinaryKind::Min => B::Min,
        BinaryKind::PRelu => B::PRelu,
        _ => return None,
    })
}

fn u32s<const N: usize>(v: &[usize]) -> [u32; N] {
    let mut out = [0u32; N];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = x as u32;
    }
    out
}

/// Spatial attributes of a 1-D or 2-D window op as 2-D (height first; 1-D gets height 1).
fn window_2d(
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    pads: &[usize],
) -> ([u32; 2], [u32; 2], [u32; 2], [u32; 4]) {
    if kernel.len() == 1 {
        (
            [1, kernel[0] as u32],
            [1, strides[0] as u32],
            [1, dilations[0] as u32],
            [0, pads[0] as u32, 0, pads[1] as u32],
        )
    } else {
        (u32s(kernel), u32s(strides), u32s(dilations), u32s(pads))
    }
}

/// Shape as 4-D for 1-D window ops: `[N, C, L]` becomes `[N, C, 1, L]`.
fn as_2d(shape: &[usize]) -> Vec<usize> {
    if shape.len() == 3 { vec![shape[0], shape[1], 1, shape[2]] } else { shape.to_vec() }
}

fn pool_kind(k: ir::PoolKind) -> plan::PoolKind {
    match k {
        ir::PoolKind::Max => plan::PoolKind::Max,
        ir::PoolKind::Average { count_include_pad } => plan::PoolKind::Average { count_include_pad },
    }
}

pub(crate) fn resize_params(r: &ir::Resize) -> plan::ResizeParams {
    use ir::{CoordTransform as C, NearestMode as N, ResizeMode as M};
    plan::ResizeParams {
        mode: match r.mode {
            M::Nearest => plan::ResizeMode::Nearest,
            M::Linear => plan::ResizeMode::Linear,
            M::Cubic => plan::ResizeMode::Cubic,
        },
        coord: match r.coord {
            C::HalfPixel => plan::CoordTransform::HalfPixel,
            C::HalfPixelSymmetric => plan::CoordTransform::HalfPixelSymmetric,
            C::PytorchHalfPixel => plan::CoordTransform::PytorchHalfPixel,
            C::AlignCorners => plan::CoordTransform::AlignCorners,
            C::Asymmetric => plan::CoordTransform::Asymmetric,
            C::TfCropAndResize => plan::CoordTransform::TfCropAndResize,
        },
        nearest: match r.nearest {
            N::RoundPreferFloor => plan::NearestMode::RoundPreferFloor,
            N::RoundPreferCeil => plan::NearestMode::RoundPreferCeil,
            N::Floor => plan::NearestMode::Floor,
            N::Ceil => plan::NearestMode::Ceil,
        },
        cubic_coeff_a: r.cubic_coeff_a,
        exclude_outside: r.exclude_outside,
        extrapolation_value: r.extrapolation_value,
        scales: r.scales.clone(),
        roi: r.roi.clone(),
    }
}

fn reduce_kind(k: ir::ReduceKind) -> plan::ReduceKind {
    use ir::ReduceKind as R;
    match k {
        R::Sum => plan::ReduceKind::Sum,
        R::Mean => plan::ReduceKind::Mean,
        R::Max => plan::ReduceKind::Max,
        R::Min => plan::ReduceKind::Min,
        R::Prod => plan::ReduceKind::Prod,
        R::L1 => plan::ReduceKind::L1,
        R::L2 => plan::ReduceKind::L2,
        R::SumSquare => plan::ReduceKind::SumSquare,
        R::LogSumExp => plan::ReduceKind::LogSumExp,
    }
}

fn pad_mode(m: ir::PadMode) -> plan::PadMode {
    match m {
        ir::PadMode::Constant => plan::PadMode::Constant,
        ir::PadMode::Reflect => plan::PadMode::Reflect,
        ir::PadMode::Edge => plan::PadMode::Edge,
        ir::PadMode::Wrap => plan::PadMode::Wrap,
    }
}

/// Inference BatchNormalization as `x * scale + shift` per channel, from constant statistics.
fn batch_norm_affine(eps: f32, params: [&Tensor; 4]) -> (Tensor, Tensor) {
    let [gamma, beta, mean, var] = params;
    let (g, b, m, v) = (gamma.to_f64_vec(), beta.to_f64_vec(), mean.to_f64_vec(), var.to_f64_vec());
    let scale: Vec<f32> = g.iter().zip(&v).map(|(g, v)| (g / (v + eps as f64).sqrt()) as f32).collect();
    let shift: Vec<f32> = b.iter().zip(&m).zip(&scale).map(|((b, m), s)| (b - m * *s as f64) as f32).collect();
    let c = scale.len();
    (Tensor::from_f32(vec![c], &scale), Tensor::from_f32(vec![c], &shift))
}

/// Steps computing BatchNormalization's per-channel `scale = gamma / sqrt(var + eps)` and
/// `shift = beta - mean * scale` at run time, for statistics that are not all constant.
fn batch_norm_affine_steps(name: &str, eps: f32, params: [ValId; 4], p: &mut Program) -> (ValId, ValId) {
    let [gamma, beta, mean, var] = params;
    let ty = p.values[gamma].ty.clone();
    let eps_t = Tensor::from_f32(vec![1], &[eps]);
    let eps = p.add(format!("{name}/epsilon"), eps_t.ty().clone(), ValKind::Constant(eps_t));
    let step = |p: &mut Program, what: &str, kernel: Kernel, inputs: Vec<ValId>| {
        let out = p.add(format!("{name}/{what}"), ty.clone(), ValKind::Computed);
        p.steps.push(Step { name: format!("{name}/{what}"), device: Device::Cpu, kernel, inputs, outputs: vec![out] });
        out
    };
    let binary = |op| Kernel::Binary { op, activation: Activation::Identity };
    use plan::BinaryFn as B;
    let var_eps = step(p, "var_eps", binary(B::Add), vec![var, eps]);
    let std = step(p, "std", Kernel::Unary(plan::UnaryFn::Sqrt), vec![var_eps]);
    let scale = step(p, "scale", binary(B::Div), vec![gamma, std]);
    let mean_scaled = step(p, "mean_scaled", binary(B::Mul), vec![mean, scale]);
    let shift = step(p, "shift", binary(B::Sub), vec![beta, mean_scaled]);
    (scale, shift)
}

/// Fewest input channels, output channels and output rows/columns for which Winograd beats
/// im2col + GEMM (measured on ResNet and VGG shapes: the transforms cost about as much per
/// tile as a few channels' products; F(2x2, 3x3) still wins at 7x7 with 512 channels, and
/// at 4x4 with 128: 45-68 us against im2col's 83-119 us on digits_resnet's last layers, 2
/// threads on the Xeon, where 16 pixels leave a GEMM too little to fill its kernels).
const WINOGRAD_MIN_CHANNELS: usize = 16;
const WINOGRAD_MIN_SIZE: usize = 4;

/// Whether a convolution runs as Winograd: 3x3, stride 1, undilated, ungrouped, and large
/// enough for the transforms to pay off.
fn winograd_pays(
    kernel: [u32; 2],
    strides: [u32; 2],
    dilations: [u32; 2],
    group: usize,
    x: &[usize],
    w: &[usize],
    y: &[usize],
) -> bool {
    kernel == [3, 3]
        && strides == [1, 1]
        && dilations == [1, 1]
        && group == 1
        && x.len() == 4
        && w.len() == 4
        && y.len() == 4
        && x[1] >= WINOGRAD_MIN_CHANNELS
        && w[0] >= WINOGRAD_MIN_CHANNELS
        && y[2] >= WINOGRAD_MIN_SIZE
        && y[3] >= WINOGRAD_MIN_SIZE
}

/// The Winograd variant for `c` input and `m` output channels and an `oh x ow` output:
/// F(4x4, 3x3) does 1.8x fewer multiplications than F(2x2, 3x3), but its 4x4 tiles overhang
/// small outputs (14x14 takes 16x16) and its transformed weights are 2.25x larger, which
/// dominates when few tiles share them. Measured on ResNet/VGG shapes: F(2x2) is faster at
/// 14x14 and below with 256 channels or more (and at 7x7, where F(4x4) loses to im2col),
/// F(4x4) at 28x28 and above, and on small-channel layers of any size.
fn winograd_variant(c: usize, m: usize, oh: usize, ow: usize) -> hetc_plan::winograd::Variant {
    use hetc_plan::winograd::Variant;
    let tiles = oh.div_ceil(4) * ow.div_ceil(4);
    let overhang = (tiles * 16) as f64 / (oh * ow).max(1) as f64;
    let weight_bytes = Variant::F4x4.weight_shape(m, c).iter().product::<usize>() * 4;
    if overhang > 1.2 || (tiles < 32 && weight_bytes > 1 << 20) { Variant::F2x2 } else { Variant::F4x4 }
}

/// Replaces the weights of every Winograd convolution by their transform (after fusion has
/// folded batch normalisations into them); a convolution whose weights are not constant f32
/// after all falls back to im2col.
pub(crate) fn transform_winograd_weights(p: &mut Program) {
    winograd_weights(p, true);
}

/// [`transform_winograd_weights`] without computing the transform: the transformed weights
/// are a computed value of the transform's shape (which tells the variant), for the
/// predictor's pricing of single nodes ([`crate::cpu_steps`]).
pub(crate) fn winograd_weight_shapes(p: &mut Program) {
    winograd_weights(p, false);
}

fn winograd_weights(p: &mut Program, compute: bool) {
    for s in 0..p.steps.len() {
        let Kernel::Conv(conv) = &p.steps[s].kernel else { continue };
        if conv.algo != plan::ConvAlgo::Winograd {
            continue;
        }
        let w = p.steps[s].inputs[1];
        let y = &p.values[p.steps[s].outputs[0]].ty.shape;
        let transformed = match p.constant(w) {
            Some(t) if t.dtype() == hetc_ir::DType::F32 && t.shape().len() == 4 && t.shape()[2..] == [3, 3] => {
                let (m, c) = (t.shape()[0], t.shape()[1]);
                let v = winograd_variant(c, m, y[2], y[3]);
                let shape = v.weight_shape(m, c).to_vec();
                Some(if compute {
                    let u = Tensor::from_f32(shape, &v.transform_weights(&t.to_f32_vec(), m, c));
                    (u.ty().clone(), ValKind::Constant(u))
                } else {
                    (TensorType::new(hetc_ir::DType::F32, shape), ValKind::Computed)
                })
            }
            _ => None,
        };
        match transformed {
            Some((ty, kind)) => {
                let name = format!("{}/winograd", p.values[w].name);
                let id = p.add(name, ty, kind);
                p.steps[s].inputs[1] = id;
            }
            None => {
                if let Kernel::Conv(conv) = &mut p.steps[s].kernel {
                    conv.algo = plan::ConvAlgo::Im2colGemm;
                }
            }
        }
    }
}

/// The order to lower `graph`'s nodes in: the placement's order of its compute nodes, after
/// the inputs and constants, or the topological order.
fn node_order(graph: &Graph, placement: &Placement) -> Result<Vec<NodeId>, CompileError> {
    let topo = graph.topo_order()?;
    let Some(order) = &placement.order else { return Ok(topo) };
    let bad = |why: String| CompileError::Placement(format!("the placement's step order {why}"));
    let mut full: Vec<NodeId> = topo.iter().copied().filter(|&id| !graph.node(id).op.is_compute()).collect();
    let mut done: std::collections::HashSet<NodeId> = full.iter().copied().collect();
    for &id in order {
        if graph.try_node(id).is_none_or(|n| !n.op.is_compute()) {
            return Err(bad(format!("names {id:?}, not a compute node of the graph")));
        }
        if let Some(v) = graph.inputs_of(id).into_iter().flatten().find(|v| !done.contains(&v.node)) {
            let (node, input) = (&graph.node(id).name, &graph.node(v.node).name);
            return Err(bad(format!("puts `{node}` before `{input}`, which it reads")));
        }
        if !done.insert(id) {
            return Err(bad(format!("names `{}` twice", graph.node(id).name)));
        }
        full.push(id);
    }
    if let Some(&missing) = topo.iter().find(|id| !done.contains(id)) {
        return Err(bad(format!("lacks `{}`", graph.node(missing).name)));
    }
    Ok(full)
}

/// Lowers node `id` of `graph` alone, on `device`, for pricing: its inputs become values of
/// their types, constants staying constants (the kernel chosen depends on them, e.g. Winograd
/// needs constant weights and BatchNormalization folds constant statistics).
pub(crate) fn lower_one(graph: &Graph, id: NodeId, device: Device) -> Result<Program, CompileError> {
    let mut p = Program::default();
    let mut map: HashMap<ValueRef, ValId> = HashMap::new();
    for v in graph.inputs_of(id).into_iter().flatten() {
        if map.contains_key(&v) {
            continue;
        }
        let producer = graph.node(v.node);
        let name = producer.output_names.get(v.slot).filter(|n| !n.is_empty()).unwrap_or(&producer.name).clone();
        let kind = match &producer.op {
            Op::Constant(t) => ValKind::Constant(t.clone()),
            _ => ValKind::Computed,
        };
        let value = p.add(name, graph.value_type(v).clone(), kind);
        map.insert(v, value);
    }
    lower_node(graph, id, device, &mut p, &mut map)?;
    // Steps a node lowers to run where the node does (as in `lower`).
    for step in &mut p.steps {
        step.device = device;
    }
    Ok(p)
}

pub(crate) fn lower(graph: &Graph, placement: &Placement) -> Result<Program, CompileError> {
    let mut p = Program::default();
    let mut map: HashMap<ValueRef, ValId> = HashMap::new();
    for id in node_order(graph, placement)? {
        let before = p.steps.len();
        let device = placement.device(id);
        lower_node(graph, id, device, &mut p, &mut map)?;
        // Steps a node lowers to (a BatchNormalization's parameter arithmetic too) run where
        // the node does.
        for step in &mut p.steps[before..] {
            step.device = device;
        }
    }
    for o in &graph.outputs {
        p.outputs.push((o.name.clone(), map[&o.value]));
    }
    // Outputs that import folded to constants are copied into the arena, unless every output
    // is constant: then there is nothing to compute and layout refuses the graph.
    if p.outputs.iter().any(|&(_, v)| p.constant(v).is_none()) {
        for k in 0..p.outputs.len() {
            let (name, v) = p.outputs[k].clone();
            if p.constant(v).is_some() {
                let copy = p.add(name.clone(), p.values[v].ty.clone(), ValKind::Computed);
                p.steps.push(Step {
                    name: format!("{name}/copy"),
                    device: Device::Cpu,
                    kernel: Kernel::Copy,
                    inputs: vec![v],
                    outputs: vec![copy],
                });
                p.outputs[k].1 = copy;
            }
        }
    }
    Ok(p)
}

fn lower_node(
    graph: &Graph,
    id: NodeId,
    device: Device,
    p: &mut Program,
    map: &mut HashMap<ValueRef, ValId>,
) -> Result<(), CompileError> {
    let node = graph.node(id);
    let out_ref = |slot| ValueRef { node: id, slot };
    let inputs: Vec<Option<ValId>> = graph.inputs_of(id).into_iter().map(|v| v.map(|v| map[&v])).collect();
    let input =
        |i: usize| inputs.get(i).copied().flatten().ok_or_else(|| node_err(&node.name, format!("missing input {i}")));
    let computed = |p: &mut Program, slot: usize| {
        let name = node.output_names.get(slot).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| node.name.clone());
        p.add(name, node.outputs[slot].clone(), ValKind::Computed)
    };
    let name = node.name.clone();
    let emit = |p: &mut Program, kernel: Kernel, ins: Vec<ValId>, outs: Vec<ValId>| {
        p.steps.push(Step { name: name.clone(), device, kernel, inputs: ins, outputs: outs });
    };
    match &node.op {
        Op::Input => {
            let v = computed(p, 0);
            p.inputs.push((node.name.clone(), v));
            map.insert(out_ref(0), v);
        }
        Op::Constant(t) => {
            let v = p.add(node.name.clone(), t.ty().clone(), ValKind::Constant(t.clone()));
            map.insert(out_ref(0), v);
        }
        Op::Reshape(r) => {
            let v = p.view(input(0)?, r.shape.clone());
            map.insert(out_ref(0), v);
        }
        Op::Conv(c) | Op::FusedConv(ir::FusedConv { conv: c, .. }) => {
            let x = p.view(input(0)?, as_2d(&p.values[input(0)?].ty.shape.clone()));
            let w = p.view(input(1)?, as_2d(&p.values[input(1)?].ty.shape.clone()));
            let (kernel, strides, dilations, pads) = window_2d(&c.kernel, &c.strides, &c.dilations, &c.pads);
            let xs = &p.values[x].ty.shape;
            let ws = &p.values[w].ty.shape;
            let algo = if c.group > 1 && c.group == xs[1] && ws[1] == 1 {
                plan::ConvAlgo::Depthwise
            } else if kernel == [1, 1] && strides == [1, 1] && pads == [0; 4] && c.group == 1 {
                plan::ConvAlgo::Pointwise
            } else if device == Device::Cpu
                && winograd_pays(kernel, strides, dilations, c.group, xs, ws, &as_2d(&node.outputs[0].shape))
                && p.constant(w).is_some_and(|t| t.dtype() == hetc_ir::DType::F32)
            {
                plan::ConvAlgo::Winograd
            } else {
                plan::ConvAlgo::Im2colGemm
            };
            let mut ins = vec![x, w];
            let has_bias = inputs.get(2).copied().flatten().is_some();
            if has_bias {
                ins.push(input(2)?);
            }
            let out_ty = node.outputs[0].clone();
            let out4 = p.add(node.name.clone(), TensorType::new(out_ty.dtype, as_2d(&out_ty.shape)), ValKind::Computed);
            let params = plan::ConvParams {
                algo,
                kernel,
                strides,
                dilations,
                pads,
                group: c.group as u32,
                has_bias,
                has_residual: false,
                activation: Activation::Identity,
            };
            emit(p, Kernel::Conv(params), ins, vec![out4]);
            if let Op::FusedConv(f) = &node.op {
                crate::lower_fused::conv_epilogue(&node.name, f, &inputs, p)?;
            }
            let v = p.view(out4, out_ty.shape.clone());
            map.insert(out_ref(0), v);
        }
        Op::ConvTranspose(ct) | Op::FusedConvTranspose(ir::FusedConvTranspose { conv: ct, .. }) => {
            let c = &ct.conv;
            let x = p.view(input(0)?, as_2d(&p.values[input(0)?].ty.shape.clone()));
            let w = p.view(input(1)?, as_2d(&p.values[input(1)?].ty.shape.clone()));
            let (kernel, strides, dilations, pads) = window_2d(&c.kernel, &c.strides, &c.dilations, &c.pads);
            let mut ins = vec![x, w];
            let has_bias = inputs.get(2).copied().flatten().is_some();
            if has_bias {
                ins.push(input(2)?);
            }
            let out_ty = node.outputs[0].clone();
            let out4 = p.add(node.name.clone(), TensorType::new(out_ty.dtype, as_2d(&out_ty.shape)), ValKind::Computed);
            let params = plan::ConvTransposeParams {
                kernel,
                strides,
                dilations,
                pads,
                group: c.group as u32,
                has_bias,
                activation: Activation::Identity,
            };
            emit(p, Kernel::ConvTranspose(params), ins, vec![out4]);
            if let Op::FusedConvTranspose(f) = &node.op {
                crate::lower_fused::conv_transpose_epilogue(&node.name, f, p)?;
            }
            let v = p.view(out4, out_ty.shape.clone());
            map.insert(out_ref(0), v);
        }
        Op::Pool(pool) => {
            let x = p.view(input(0)?, as_2d(&p.values[input(0)?].ty.shape.clone()));
            let (kernel, strides, dilations, pads) =
                window_2d(&pool.kernel, &pool.strides, &pool.dilations, &pool.pads);
            let out_ty = node.outputs[0].clone();
            let out4 = p.add(node.name.clone(), TensorType::new(out_ty.dtype, as_2d(&out_ty.shape)), ValKind::Computed);
            let params = plan::PoolParams { kind: pool_kind(pool.kind), kernel, strides, dilations, pads };
            emit(p, Kernel::Pool(params), vec![x], vec![out4]);
            let v = p.view(out4, out_ty.shape.clone());
            map.insert(out_ref(0), v);
        }
        op => {
            let (kernel, ins) = simple_kernel(&node.name, op, &inputs, p)?;
            let outs: Vec<ValId> = (0..node.outputs.len()).map(|s| computed(p, s)).collect();
            for (s, &v) in outs.iter().enumerate() {
                map.insert(out_ref(s), v);
            }
            emit(p, kernel, ins, outs);
        }
    }
    Ok(())
}

/// Ops that map one to one onto a kernel over their inputs.
fn simple_kernel(
    name: &str,
    op: &Op,
    inputs: &[Option<ValId>],
    p: &mut Program,
) -> Result<(Kernel, Vec<ValId>), CompileError> {
    let present: Vec<ValId> = inputs.iter().flatten().copied().collect();
    let first = || present.first().copied().ok_or_else(|| node_err(name, "missing input 0"));
    let k = match op {
        Op::Gemm(g) => {
            let has_c = inputs.get(2).copied().flatten().is_some();
            Kernel::Gemm {
                trans_a: g.trans_a,
                trans_b: g.trans_b,
                alpha: g.alpha,
                beta: g.beta,
                has_c,
                activation: Activation::Identity,
            }
        }
        Op::MatMul(_) => Kernel::MatMul,
        Op::GlobalPool(g) => Kernel::GlobalPool { kind: pool_kind(g.kind) },
        Op::BatchNorm(bn) => {
            let mut params = [0; 4];
            for (k, v) in params.iter_mut().enumerate() {
                *v = inputs
                    .get(k + 1)
                    .copied()
                    .flatten()
                    .ok_or_else(|| node_err(name, format!("missing input {}", k + 1)))?;
            }
            let (s, t) = match params.map(|v| p.constant(v)) {
                [Some(g), Some(b), Some(m), Some(v)] => {
                    let (scale, shift) = batch_norm_affine(bn.epsilon, [g, b, m, v]);
                    let s = p.add(format!("{name}/scale"), scale.ty().clone(), ValKind::Constant(scale));
                    let t = p.add(format!("{name}/shift"), shift.ty().clone(), ValKind::Constant(shift));
                    (s, t)
                }
                _ => batch_norm_affine_steps(name, bn.epsilon, params, p),
            };
            return Ok((Kernel::ChannelAffine { activation: Activation::Identity }, vec![first()?, s, t]));
        }
        Op::InstanceNorm(n) => Kernel::InstanceNorm { epsilon: n.epsilon },
        Op::Unary(u) => match (activation_of(&u.kind), unary_fn(&u.kind)) {
            (Some(a), _) => Kernel::Activation(a),
            (None, Some(f)) => Kernel::Unary(f),
            _ => return Err(node_err(name, format!("{} has no CPU kernel", op.name()))),
        },
        Op::Binary(b) => match binary_fn(&b.kind) {
            Some(f) => Kernel::Binary { op: f, activation: Activation::Identity },
            None => return Err(node_err(name, format!("{} has no CPU kernel", op.name()))),
        },
        Op::Softmax(s) => Kernel::Softmax { axis: s.axis as u32, coerce_2d: s.coerce_2d, log: s.log },
        Op::Concat(c) => Kernel::Concat { axis: c.axis as u32 },
        Op::Split(s) => Kernel::Split { axis: s.axis as u32 },
        Op::Slice(s) => Kernel::Slice {
            axes: s
                .axes
                .iter()
                .map(|a| plan::SliceAxis { axis: a.axis as u32, start: a.start, step: a.step })
                .collect(),
        },
        Op::Transpose(t) => Kernel::Transpose { perm: t.perm.iter().map(|&x| x as u32).collect() },
        Op::Pad(pd) => Kernel::Pad { mode: pad_mode(pd.mode), pads: pd.pads.clone(), value: pd.value as f32 },
        Op::Resize(r) => Kernel::Resize(resize_params(r)),
        Op::Reduce(r) => Kernel::Reduce {
            kind: reduce_kind(r.kind),
            axes: r.axes.iter().map(|&x| x as u32).collect(),
            keepdims: r.keepdims,
        },
        Op::Expand(_) => Kernel::Expand,
        Op::FusedGemm(f) => crate::lower_fused::gemm(name, f, inputs)?,
        Op::ElementwiseChain(c) => return crate::lower_fused::chain(name, c, &present, p),
        Op::FusedInstanceNorm(f) => crate::lower_fused::instance_norm(name, f)?,
        other => return Err(node_err(name, format!("{} has no CPU kernel", other.name()))),
    };
    Ok((k, present))
}
