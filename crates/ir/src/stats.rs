//! Model statistics for `hetc inspect`: op histogram, parameters, MACs/FLOPs and activation
//! memory.

use crate::{Graph, GraphError, Op, TensorType, ValueRef};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Per op type totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OpTypeStats {
    pub count: usize,
    pub macs: u64,
    /// 2 x MACs: one multiply and one add each.
    pub flops: u64,
    /// Bytes of the outputs this op type writes.
    pub output_bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NamedType {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

impl NamedType {
    fn new(name: &str, ty: &TensorType) -> Self {
        NamedType { name: name.to_string(), dtype: ty.dtype.name().to_string(), shape: ty.shape.clone() }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ModelStats {
    pub name: String,
    pub inputs: Vec<NamedType>,
    pub outputs: Vec<NamedType>,
    /// Compute nodes (inputs and constants excluded).
    pub nodes: usize,
    pub ops: BTreeMap<String, OpTypeStats>,
    /// Elements of all constants that compute nodes read (weights, biases, ...).
    pub parameters: u64,
    pub parameter_bytes: u64,
    /// MACs of Conv, ConvTranspose, Gemm and MatMul.
    pub macs: u64,
    /// 2 x `macs`.
    pub flops: u64,
    /// Sum of the sizes of every value computed in the graph (no reuse at all).
    pub activation_bytes_total: u64,
    /// Most bytes live at once when running in topological order, graph inputs included: the
    /// lower bound for any memory plan of this order.
    pub activation_bytes_peak: u64,
}

/// Computes [`ModelStats`] for `graph`.
pub fn model_stats(graph: &Graph) -> Result<ModelStats, GraphError> {
    let order = graph.topo_order()?;
    let mut ops: BTreeMap<String, OpTypeStats> = BTreeMap::new();
    let (mut parameters, mut parameter_bytes, mut macs, mut activation_total) = (0u64, 0u64, 0u64, 0u64);
    for &id in &order {
        let node = graph.node(id);
        match &node.op {
            Op::Input => {}
            Op::Constant(t) => {
                if graph
                    .consumers_of(ValueRef { node: id, slot: 0 })
                    .iter()
                    .any(|&(c, _)| graph.node(c).op.is_compute())
                {
                    parameters += t.numel() as u64;
                    parameter_bytes += t.ty().byte_size();
                }
            }
            op => {
                let inputs = graph.input_types(id);
                let m = op.macs(&inputs, &node.outputs);
                let bytes: u64 = node.outputs.iter().map(|t| t.byte_size()).sum();
                let e = ops.entry(op.name().to_string()).or_default();
                // Saturating: a hostile model's counts need not fit in u64.
                e.count += 1;
                e.macs = e.macs.saturating_add(m);
                e.flops = e.flops.saturating_add(m.saturating_mul(2));
                e.output_bytes = e.output_bytes.saturating_add(bytes);
                macs = macs.saturating_add(m);
                activation_total = activation_total.saturating_add(bytes);
            }
        }
    }
    let inputs = graph.inputs.iter().map(|&i| NamedType::new(&graph.node(i).name, &graph.node(i).outputs[0])).collect();
    let outputs = graph.outputs.iter().map(|o| NamedType::new(&o.name, graph.value_type(o.value))).collect();
    Ok(ModelStats {
        name: graph.name.clone(),
        inputs,
        outputs,
        nodes: ops.values().map(|o| o.count).sum(),
        ops,
        parameters,
        parameter_bytes,
        macs,
        flops: macs.saturating_mul(2),
        activation_bytes_total: activation_total,
        activation_bytes_peak: peak_live_bytes(graph, &order),
    })
}

/// Peak of the bytes of live values over an execution in `order`. A value lives from the step
/// that produces it to the step of its last consumer; graph outputs live to the end.
pub fn peak_live_bytes(graph: &Graph, order: &[petgraph::stable_graph::NodeIndex]) -> u64 {
    let step: HashMap<_, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    // (birth step, death step, bytes) for every non-constant value.
    let mut intervals = Vec::new();
    for &id in order {
        let node = graph.node(id);
        if matches!(node.op, Op::Constant(_)) {
            continue;
        }
        for (slot, ty) in node.outputs.iter().enumerate() {
            let v = ValueRef { node: id, slot };
            let last_use = graph.consumers_of(v).iter().map(|(c, _)| step[c]).max().unwrap_or(step[&id]);
            let death = if graph.is_output(v) { order.len() } else { last_use };
            intervals.push((step[&id], death, ty.byte_size()));
        }
    }
    // Bytes live during step s: born at or before s and dying at or after s.
    let mut delta = vec![0i128; order.len() + 2];
    for (b, d, bytes) in intervals {
        delta[b] += bytes as i128;
        delta[d + 1] -= bytes as i128;
    }
    let mut live = 0i128;
    let mut peak = 0i128;
    for d in delta {
        live += d;
        peak = peak.max(live);
    }
    peak as u64
}
