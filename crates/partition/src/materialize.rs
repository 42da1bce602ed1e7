//! Turns a co-execution plan into a graph the compiler lowers as it is: each co-executed op
//! or chain becomes a GPU part and a CPU part made of ordinary ops on sub-tensors, fed by
//! `Slice`s and merged by one `Concat`.
//!
//! - **Why a rewrite, not special kernels.** Every kernel of both processors already runs any
//!   shape, so a part is the same op on fewer rows or channels: a height part gets the input
//!   rows its window reads (the halo included) and the padding only at the tensor's true
//!   edges; a channel part gets its slice of the weights, bias and per-channel operands. The
//!   compiler's transfer pass then moves exactly the rows or channels each processor lacks.
//! - **Order.** Nodes are added to a fresh graph in topological order with each split's GPU
//!   part before its CPU part, and lowering keeps insertion order among ready nodes, so the
//!   runtime records (and submits) the GPU part first, runs the CPU part while the GPU works,
//!   and waits only at the download that feeds the merge.
//! - **Where slices and merges run.** A slice runs where the value it reads lives, so only the
//!   slice crosses; the merge runs on the GPU only when every reader of the result is there,
//!   otherwise on the CPU (graph outputs live on the CPU).

use crate::coexec::{Chain, CoexecPlan, Dim, split_point};
use crate::cost::CostModel;
use crate::error::PartitionError;
use hetc_ir::ops::{Concat, Slice, SliceAxis};
use hetc_ir::{Graph, Node, NodeId, Op, Tensor, TensorType, ValueRef};
use hetc_plan::Device;
use std::collections::HashMap;

/// One op of a materialized split: where its parts went.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitPart {
    /// The original op's name.
    pub op: String,
    pub dim: Dim,
    /// Rows (height) or channels of the op's output computed by `[gpu, cpu]`, as
    /// `start..end`; height ranges include the halo later ops of a chain read.
    pub ranges: [(usize, usize); 2],
    /// The output's extent along the split axis.
    pub extent: usize,
    /// Index of the chain in [`CoexecPlan::chains`].
    pub chain: usize,
}

/// A graph with co-executed ops split into parts, and the device of every compute node.
#[derive(Debug, Clone)]
pub struct SplitGraph {
    pub graph: Graph,
    pub devices: HashMap<NodeId, Device>,
    pub parts: Vec<SplitPart>,
}

impl SplitGraph {
    pub fn device(&self, id: NodeId) -> Device {
        self.devices.get(&id).copied().unwrap_or(Device::Cpu)
    }
}

fn internal(msg: String) -> PartitionError {
    PartitionError::Split(msg)
}

/// The output axis a split cuts: rows of `[N, C, H, W]`, or channels (axis 1 of a 4-D
/// activation or of a fully connected layer's `[M, N]`).
fn axis_of(dim: Dim) -> usize {
    match dim {
        Dim::Height => 2,
        Dim::Channels => 1,
    }
}

/// A sliding window along height: extent, stride, top and bottom padding.
#[derive(Debug, Clone, Copy)]
struct HeightWindow {
    extent: usize,
    stride: usize,
    pad_top: usize,
}

fn height_window(op: &Op) -> HeightWindow {
    let window = |k: &[usize], s: &[usize], d: &[usize], pads: &[usize]| HeightWindow {
        extent: d.first().copied().unwrap_or(1) * (k.first().copied().unwrap_or(1).max(1) - 1) + 1,
        stride: s.first().copied().unwrap_or(1).max(1),
        pad_top: pads.first().copied().unwrap_or(0),
    };
    match op {
        Op::Conv(c) => window(&c.kernel, &c.strides, &c.dilations, &c.pads),
        Op::FusedConv(f) => window(&f.conv.kernel, &f.conv.strides, &f.conv.dilations, &f.conv.pads),
        Op::Pool(p) => window(&p.kernel, &p.strides, &p.dilations, &p.pads),
        // Elementwise: row r reads row r.
        _ => HeightWindow { extent: 1, stride: 1, pad_top: 0 },
    }
}

/// What one part of one op computes along height: its output rows, the input rows it reads
/// and the padding it adds at the tensor's edges.
#[derive(Debug, Clone, Copy)]
struct RowPlan {
    input: (usize, usize),
    pads: (usize, usize),
}

/// One op's part: its output range and, along height, the rows it reads.
type OpPart = ((usize, usize), Option<RowPlan>);

fn rows_needed(w: HeightWindow, out: (usize, usize), in_rows: usize) -> Option<RowPlan> {
    let first = (out.0 * w.stride) as i64 - w.pad_top as i64;
    let last = ((out.1 - 1) * w.stride + w.extent) as i64 - w.pad_top as i64 - 1;
    let a = first.max(0);
    let b = (last + 1).min(in_rows as i64);
    if b <= a {
        return None;
    }
    Some(RowPlan { input: (a as usize, b as usize), pads: ((a - first) as usize, (last + 1 - b).max(0) as usize) })
}

/// The op of a part: padding along height for a height part, the group of a depthwise
/// convolution for a channel part.
fn part_op(op: &Op, dim: Dim, rows: Option<RowPlan>, channels: usize) -> Op {
    let mut op = op.clone();
    let set_pads = |pads: &mut Vec<usize>, r: RowPlan| {
        let spatial = pads.len() / 2;
        if spatial > 0 {
            pads[0] = r.pads.0;
            pads[spatial] = r.pads.1;
        }
    };
    match (&mut op, dim, rows) {
        (Op::Conv(c), Dim::Height, Some(r)) => set_pads(&mut c.pads, r),
        (Op::FusedConv(f), Dim::Height, Some(r)) => set_pads(&mut f.conv.pads, r),
        (Op::Pool(p), Dim::Height, Some(r)) => set_pads(&mut p.pads, r),
        (Op::Conv(c), Dim::Channels, _) if c.group > 1 => c.group = channels,
        (Op::FusedConv(f), Dim::Channels, _) if f.conv.group > 1 => f.conv.group = channels,
        _ => {}
    }
    op
}

/// What slot `slot` of an op reads of its operand in a part.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Operand {
    /// The whole value.
    Whole,
    /// `start..end` along `axis` of the operand.
    Range { axis: usize, start: usize, end: usize },
}

/// How a part of `op` reads input `slot` of type `ty`, given the part's output range along
/// `axis` (of an output of rank `out_rank`) and, for the first input of a height part, its
/// input rows.
fn operand(op: &Op, slot: usize, ty: &TensorType, axis: usize, out_rank: usize, out: (usize, usize)) -> Operand {
    // An operand broadcast against the output: cut along the output axis where it varies.
    let broadcast = || {
        let shift = out_rank.saturating_sub(ty.rank());
        match axis.checked_sub(shift) {
            Some(a) if ty.shape.get(a).is_some_and(|&d| d > 1) => Operand::Range { axis: a, start: out.0, end: out.1 },
            _ => Operand::Whole,
        }
    };
    let range = |a: usize| Operand::Range { axis: a, start: out.0, end: out.1 };
    let channels = axis == 1;
    match op {
        Op::Conv(_) | Op::FusedConv(_) => {
            let (group, has_bias) = match op {
                Op::FusedConv(f) => (f.conv.group, f.has_bias),
                Op::Conv(c) => (c.group, true),
                _ => (1, false),
            };
            match slot {
                // A depthwise part reads its own channels, a dense one every channel (a
                // height part's rows are cut by the caller).
                0 if group > 1 && channels => broadcast(),
                0 => Operand::Whole,
                // Weights `[M, C/g, kh, kw]` and bias `[M]` follow the output channels.
                1 => {
                    if channels {
                        range(0)
                    } else {
                        Operand::Whole
                    }
                }
                2 if has_bias => {
                    if channels {
                        range(0)
                    } else {
                        Operand::Whole
                    }
                }
                // The residual has the output's type.
                _ => broadcast(),
            }
        }
        Op::Gemm(g) | Op::FusedGemm(hetc_ir::ops::FusedGemm { gemm: g, .. }) => match slot {
            0 => Operand::Whole,
            1 => range(if g.trans_b { 0 } else { 1 }),
            _ => broadcast(),
        },
        _ => broadcast(),
    }
}

/// Builds the split graph of `plan` (made on `graph`). `cost` says which device can run a
/// slice or a merge.
pub fn materialize(graph: &Graph, plan: &CoexecPlan, cost: &dyn CostModel) -> Result<SplitGraph, PartitionError> {
    let index: HashMap<NodeId, usize> = plan.ops.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut b = Builder {
        old: graph,
        index: &index,
        new: Graph::new(graph.name.clone()),
        map: HashMap::new(),
        devices: HashMap::new(),
        cost,
        parts: Vec::new(),
    };
    let mut chain_at: HashMap<usize, usize> = HashMap::new();
    for (c, ch) in plan.chains.iter().enumerate() {
        for i in ch.start..ch.end {
            chain_at.insert(i, c);
        }
    }
    // Inputs first, in declaration order (the model's interface), then every constant, so
    // that compute nodes keep their relative order.
    for &id in &graph.inputs {
        let n = graph.node(id);
        let new = b.new.add_input(n.name.clone(), n.outputs[0].clone());
        b.map.insert(ValueRef { node: id, slot: 0 }, ValueRef { node: new, slot: 0 });
    }
    for id in graph.node_ids().filter(|&id| matches!(graph.node(id).op, Op::Constant(_))) {
        let new = b.new.add_node(graph.node(id).clone());
        b.map.insert(ValueRef { node: id, slot: 0 }, ValueRef { node: new, slot: 0 });
    }
    for id in graph.topo_order()? {
        let node = graph.node(id);
        if !node.op.is_compute() {
            continue;
        }
        let i = index.get(&id).copied();
        match i.and_then(|i| chain_at.get(&i).copied()) {
            Some(c) if plan.chains[c].start == i.unwrap_or(usize::MAX) => b.chain(plan, c)?,
            // The rest of a chain was built with its first op.
            Some(_) => {}
            None => {
                let device = match (&node.op, i) {
                    (Op::Reshape(_), _) | (_, None) => None,
                    (_, Some(i)) => Some(plan.devices[i]),
                };
                b.copy(id, device)?;
            }
        }
    }
    b.new.outputs = graph
        .outputs
        .iter()
        .map(|o| {
            let value = b.value(o.value)?;
            Ok(hetc_ir::GraphOutput { name: o.name.clone(), value })
        })
        .collect::<Result<_, PartitionError>>()?;
    // Weights replaced by their slices are no longer read.
    b.new.remove_dead_nodes();
    b.new.validate()?;
    Ok(SplitGraph { graph: b.new, devices: b.devices, parts: b.parts })
}

struct Builder<'a> {
    old: &'a Graph,
    /// Index of each op of the plan in [`CoexecPlan::ops`].
    index: &'a HashMap<NodeId, usize>,
    new: Graph,
    map: HashMap<ValueRef, ValueRef>,
    devices: HashMap<NodeId, Device>,
    cost: &'a dyn CostModel,
    parts: Vec<SplitPart>,
}

impl Builder<'_> {
    fn value(&self, old: ValueRef) -> Result<ValueRef, PartitionError> {
        self.map
            .get(&old)
            .copied()
            .ok_or_else(|| internal(format!("value of `{}` read before it is made", self.old.node(old.node).name)))
    }

    /// Where a value of the new graph lives.
    fn home(&self, v: ValueRef) -> Device {
        let node = self.new.node(v.node);
        match node.op {
            Op::Reshape(_) => match self.new.inputs_of(v.node).first().copied().flatten() {
                Some(src) => self.home(src),
                None => Device::Cpu,
            },
            _ => self.devices.get(&v.node).copied().unwrap_or(Device::Cpu),
        }
    }

    fn add(&mut self, node: Node, inputs: &[Option<ValueRef>], device: Option<Device>) -> NodeId {
        let id = self.new.add_node(node);
        for (slot, v) in inputs.iter().enumerate() {
            if let Some(v) = v {
                self.new.connect(*v, id, slot);
            }
        }
        if let Some(d) = device {
            self.devices.insert(id, d);
        }
        id
    }

    /// Copies an unsplit node.
    fn copy(&mut self, id: NodeId, device: Option<Device>) -> Result<(), PartitionError> {
        let inputs: Vec<Option<ValueRef>> = self
            .old
            .inputs_of(id)
            .into_iter()
            .map(|v| v.map(|v| self.value(v)).transpose())
            .collect::<Result<_, _>>()?;
        let node = self.old.node(id).clone();
        let outputs = node.outputs.len();
        let new = self.add(node, &inputs, device);
        for slot in 0..outputs {
            self.map.insert(ValueRef { node: id, slot }, ValueRef { node: new, slot });
        }
        Ok(())
    }

    /// `v` cut to `start..end` along `axis`: a constant is cut now, anything else by a
    /// `Slice` that runs where `v` lives.
    fn cut(
        &mut self,
        v: ValueRef,
        axis: usize,
        start: usize,
        end: usize,
        label: &str,
    ) -> Result<ValueRef, PartitionError> {
        let ty = self.new.value_type(v).clone();
        if start == 0 && ty.shape.get(axis) == Some(&end) {
            return Ok(v);
        }
        let slice = Op::Slice(Slice { axes: vec![SliceAxis { axis, start: start as i64, end: end as i64, step: 1 }] });
        let name = format!("{}.slice[{label}{start}:{end}]", self.new.node(v.node).name);
        if let Op::Constant(t) = &self.new.node(v.node).op {
            let sliced: Tensor = t
                .narrow(axis, start, end)
                .ok_or_else(|| internal(format!("cannot cut constant `{name}` of shape {:?}", t.shape())))?;
            let c = self.new.add_constant(name, sliced);
            return Ok(ValueRef { node: c, slot: 0 });
        }
        let out = slice.infer(&[Some(&ty)]).map_err(|e| internal(format!("`{name}`: {e}")))?;
        let node = Node { name: name.clone(), op: slice, num_inputs: 1, output_names: vec![name], outputs: out };
        let mut device = self.home(v);
        let id = self.add(node, &[Some(v)], None);
        if device == Device::Gpu && self.cost.node_us(&self.new, id, Device::Gpu).is_err() {
            device = Device::Cpu;
        }
        self.devices.insert(id, device);
        Ok(ValueRef { node: id, slot: 0 })
    }

    /// Builds chain `c` of `plan`: the GPU part, the CPU part, the merge.
    fn chain(&mut self, plan: &CoexecPlan, c: usize) -> Result<(), PartitionError> {
        let ch: &Chain = &plan.chains[c];
        let ids: Vec<NodeId> = plan.ops[ch.start..ch.end].to_vec();
        let last = *ids.last().ok_or_else(|| internal("empty chain".into()))?;
        let out_ty =
            self.old.node(last).outputs.first().cloned().ok_or_else(|| internal("op without output".into()))?;
        let axis = axis_of(ch.dim);
        let extent = *out_ty
            .shape
            .get(axis)
            .ok_or_else(|| internal(format!("`{}` has no axis {axis}", self.old.node(last).name)))?;
        let cut = split_point(extent, ch.gpu_share);
        if cut == 0 || cut >= extent {
            return Err(internal(format!("chain at `{}` leaves a processor nothing", self.old.node(ids[0]).name)));
        }
        let ranges = [(0, cut), (cut, extent)];
        // Per part and op (in chain order): output range and, along height, the rows read.
        let mut plans: [Vec<OpPart>; 2] = [Vec::new(), Vec::new()];
        for (p, &range) in ranges.iter().enumerate() {
            let mut out = range;
            let mut list = Vec::with_capacity(ids.len());
            for &id in ids.iter().rev() {
                let rows = match ch.dim {
                    Dim::Height => {
                        let in_rows =
                            self.old.input_types(id).first().copied().flatten().and_then(|t| t.shape.get(2).copied());
                        let in_rows = in_rows
                            .ok_or_else(|| internal(format!("`{}` has no input rows", self.old.node(id).name)))?;
                        let r = rows_needed(height_window(&self.old.node(id).op), out, in_rows)
                            .ok_or_else(|| internal(format!("`{}` part reads no rows", self.old.node(id).name)))?;
                        Some(r)
                    }
                    Dim::Channels => None,
                };
                list.push((out, rows));
                if let Some(r) = rows {
                    out = r.input;
                }
            }
            list.reverse();
            plans[p] = list;
        }
        // Names mark the part's range: `h` rows or `c` channels.
        let label = if ch.dim == Dim::Height { "h" } else { "c" };
        let devices = [Device::Gpu, Device::Cpu];
        let mut results = [None, None];
        for p in 0..2 {
            let dev = devices[p];
            let mut prev: Option<ValueRef> = None;
            for (k, &id) in ids.iter().enumerate() {
                let node = self.old.node(id).clone();
                let (out, rows) = plans[p][k];
                let old_inputs = self.old.inputs_of(id);
                let mut inputs = Vec::with_capacity(old_inputs.len());
                for (slot, v) in old_inputs.iter().enumerate() {
                    let Some(v) = *v else {
                        inputs.push(None);
                        continue;
                    };
                    let linked = k > 0 && v.node == ids[k - 1];
                    let value = if linked {
                        prev.ok_or_else(|| internal("chain link without a value".into()))?
                    } else {
                        let new = self.value(v)?;
                        let ty = self.new.value_type(new).clone();
                        match (slot, rows) {
                            // The first input of a height part: the rows its window reads.
                            (0, Some(r)) if k == 0 => self.cut(new, 2, r.input.0, r.input.1, label)?,
                            _ => match operand(&node.op, slot, &ty, axis, out_ty.rank(), out) {
                                Operand::Whole => new,
                                Operand::Range { axis, start, end } => {
                                    // A dense layer's channel part reads every input channel.
                                    self.cut(new, axis, start, end, label)?
                                }
                            },
                        }
                    };
                    inputs.push(Some(value));
                }
                // A depthwise first op, pool or elementwise op reads only its channels; the
                // `operand` rule above cut them (slot 0 broadcasts like the output).
                let op = part_op(&node.op, ch.dim, rows, out.1 - out.0);
                let types: Vec<Option<&TensorType>> =
                    inputs.iter().map(|v| v.map(|v| self.new.value_type(v))).collect();
                let outputs = op.infer(&types).map_err(|e| internal(format!("part of `{}`: {e}", node.name)))?;
                if outputs.first().and_then(|t| t.shape.get(axis)) != Some(&(out.1 - out.0)) {
                    return Err(internal(format!(
                        "part of `{}` computes {:?}, expected {} along axis {axis}",
                        node.name,
                        outputs.first(),
                        out.1 - out.0
                    )));
                }
                let name = format!("{}.{}[{label}{}:{}]", node.name, dev.name(), out.0, out.1);
                let part = Node { name: name.clone(), op, num_inputs: inputs.len(), output_names: vec![name], outputs };
                let new = self.add(part, &inputs, Some(dev));
                prev = Some(ValueRef { node: new, slot: 0 });
                if p == 0 {
                    let cpu_range = plans[1][k].0;
                    let extent = node.outputs.first().and_then(|t| t.shape.get(axis).copied()).unwrap_or(0);
                    self.parts.push(SplitPart {
                        op: node.name.clone(),
                        dim: ch.dim,
                        ranges: [out, cpu_range],
                        extent,
                        chain: c,
                    });
                }
            }
            results[p] = prev;
        }
        let [Some(gpu), Some(cpu)] = results else { return Err(internal("a chain part is empty".into())) };
        // The merge: on the GPU only if every reader of the result is there.
        let last_value = ValueRef { node: last, slot: 0 };
        let readers = self.old.consumers_of(last_value);
        let on_gpu = !self.old.is_output(last_value)
            && !readers.is_empty()
            && readers.iter().all(|(r, _)| {
                self.index.get(r).is_some_and(|&i| plan.chain_of(i).is_none() && plan.devices[i] == Device::Gpu)
            });
        let node = self.old.node(last);
        let merge = Op::Concat(Concat { axis });
        let name = format!("{}.merge", node.name);
        let merged =
            Node { name, op: merge, num_inputs: 2, outputs: vec![out_ty], output_names: node.output_names.clone() };
        let id = self.add(merged, &[Some(gpu), Some(cpu)], None);
        let device =
            if on_gpu && self.cost.node_us(&self.new, id, Device::Gpu).is_ok() { Device::Gpu } else { Device::Cpu };
        self.devices.insert(id, device);
        self.map.insert(last_value, ValueRef { node: id, slot: 0 });
        Ok(())
    }
}
