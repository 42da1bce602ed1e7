//! Small hand-built graphs and a scripted cost model, shared by the partition tests.

#![allow(dead_code)] // each test file uses its own part

use hetc_ir::ops::{Binary, BinaryKind, Unary, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Node, NodeId, Op, TensorType, ValueRef};
use hetc_partition::CostModel;
use hetc_partition::problem::dev;
use hetc_plan::Device;
use std::collections::HashMap;

/// Op times by node name (`None`: the device cannot run it); transfers cost `latency` each.
pub struct Scripted {
    pub times: HashMap<String, [Option<f64>; 2]>,
    pub latency: f64,
}

impl Scripted {
    /// Times given by node name.
    pub fn named<S: AsRef<str>>(times: &[(S, [Option<f64>; 2])], latency: f64) -> Scripted {
        Scripted { times: times.iter().map(|(n, t)| (n.as_ref().to_string(), *t)).collect(), latency }
    }
}

impl CostModel for Scripted {
    fn node_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<f64, String> {
        self.times[&graph.node(id).name][dev(device)].ok_or_else(|| format!("scripted: no {}", device.name()))
    }
    fn transfer_us(&self, _bytes: u64, from: Device, to: Device) -> f64 {
        if from == to { 0.0 } else { self.latency }
    }
    fn label(&self) -> String {
        "scripted".into()
    }
}

/// The one tensor type of these graphs.
pub fn ty() -> TensorType {
    TensorType::new(DType::F32, vec![1, 4])
}

/// Adds node `name` reading `inputs` in order; its one output.
pub fn node(g: &mut Graph, name: &str, op: Op, inputs: &[ValueRef]) -> ValueRef {
    let id = g.add_node(Node {
        name: name.into(),
        op,
        num_inputs: inputs.len(),
        outputs: vec![ty()],
        output_names: vec![name.into()],
    });
    for (slot, &v) in inputs.iter().enumerate() {
        g.connect(v, id, slot);
    }
    ValueRef { node: id, slot: 0 }
}

pub fn relu(g: &mut Graph, name: &str, x: ValueRef) -> ValueRef {
    node(g, name, Op::Unary(Unary { kind: UnaryKind::Relu }), &[x])
}

pub fn add(g: &mut Graph, name: &str, a: ValueRef, b: ValueRef) -> ValueRef {
    node(g, name, Op::Binary(Binary { kind: BinaryKind::Add }), &[a, b])
}

/// x -> op0 -> op1 -> ... -> op{n-1} -> output.
pub fn chain(n: usize) -> Graph {
    let mut g = Graph::new("chain");
    let x = g.add_input("x", ty());
    let mut v = ValueRef { node: x, slot: 0 };
    for i in 0..n {
        v = relu(&mut g, &format!("op{i}"), v);
    }
    g.outputs.push(GraphOutput { name: "y".into(), value: v });
    g
}
