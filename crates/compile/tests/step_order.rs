//! A placement's step order (`Placement::order`): the plan issues steps in that order, and an
//! order that is not a topological order of the compute nodes is refused with a clear error.

use hetc_compile::{CompileError, CompileOptions, Fusion, Placed, Placement, compile_placed};
use hetc_ir::ops::{Binary, BinaryKind, Unary, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Node, NodeId, Op, TensorType, ValueRef};
use hetc_plan::Device;
use std::collections::HashMap;

fn ty() -> TensorType {
    TensorType::new(DType::F32, vec![1, 4, 8, 8])
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: &[ValueRef]) -> NodeId {
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
    id
}

/// x -> a -> a2, x -> b -> b2, y = a2 + b2.
fn branches() -> (Graph, HashMap<&'static str, NodeId>) {
    let mut g = Graph::new("branches");
    let x = g.add_input("x", ty());
    let v = |id| ValueRef { node: id, slot: 0 };
    let relu = || Op::Unary(Unary { kind: UnaryKind::Relu });
    let sigmoid = || Op::Unary(Unary { kind: UnaryKind::Sigmoid });
    let a = node(&mut g, "a", relu(), &[v(x)]);
    let a2 = node(&mut g, "a2", sigmoid(), &[v(a)]);
    let b = node(&mut g, "b", sigmoid(), &[v(x)]);
    let b2 = node(&mut g, "b2", relu(), &[v(b)]);
    let y = node(&mut g, "y", Op::Binary(Binary { kind: BinaryKind::Add }), &[v(a2), v(b2)]);
    g.outputs.push(GraphOutput { name: "y".into(), value: v(y) });
    let ids = HashMap::from([("a", a), ("a2", a2), ("b", b), ("b2", b2), ("y", y)]);
    (g, ids)
}

fn compile_with(g: &Graph, placement: Placement) -> Result<Vec<(String, Device)>, CompileError> {
    let options = CompileOptions { fusion: Fusion::None, ..Default::default() };
    let (plan, _) = compile_placed(g, &options, &mut |_| Ok(Placed::new(placement.clone())))?;
    Ok(plan.meta.steps.iter().map(|s| (s.name.clone(), s.device)).collect())
}

#[test]
fn steps_follow_the_placement_order() {
    let (g, id) = branches();
    let devices = HashMap::from([(id["b"], Device::Gpu), (id["b2"], Device::Gpu)]);
    // Topological order lowers branch a (CPU) first; the placement's order issues the GPU
    // branch first, so that it runs while the CPU computes branch a.
    let topo = compile_with(&g, Placement { devices: devices.clone(), order: None }).unwrap();
    let names: Vec<&str> = topo.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["a", "a2", "x/upload", "b", "b2", "b2/download", "y"]);
    let order = ["b", "b2", "a", "a2", "y"].map(|n| id[n]).to_vec();
    let listed = compile_with(&g, Placement { devices, order: Some(order) }).unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["x/upload", "b", "b2", "a", "a2", "b2/download", "y"]);
    assert_eq!(listed[1].1, Device::Gpu);
    assert_eq!(listed[3].1, Device::Cpu);
}

#[test]
fn orders_that_are_not_topological_are_refused() {
    let (g, id) = branches();
    let cases: [(Vec<&str>, &str); 3] = [
        (vec!["a2", "a", "b", "b2", "y"], "puts `a2` before `a`, which it reads"),
        (vec!["a", "a2", "b", "b2"], "lacks `y`"),
        (vec!["a", "a", "a2", "b", "b2", "y"], "names `a` twice"),
    ];
    for (order, why) in cases {
        let order = order.iter().map(|n| id[n]).collect();
        let err = compile_with(&g, Placement { devices: HashMap::new(), order: Some(order) }).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CompileError::Placement(_)) && text.contains(why), "{text}");
    }
    // A node that is not a compute node of the graph.
    let input = g.inputs[0];
    let err = compile_with(&g, Placement { devices: HashMap::new(), order: Some(vec![input]) }).unwrap_err();
    assert!(err.to_string().contains("not a compute node"), "{err}");
}
