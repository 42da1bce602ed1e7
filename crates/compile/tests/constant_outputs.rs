//! Graph outputs that import folded to constants: copied into the arena beside computed
//! outputs when `f32`, refused as unsupported otherwise, and a graph with nothing but constant
//! outputs is refused as having nothing to compute.

use hetc_compile::{CompileError, CompileOptions, compile};
use hetc_ir::ops::{Unary, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Node, Op, Tensor, TensorType, ValueRef};
use hetc_runtime::{Plan, Session, SessionOptions};

/// `y = Relu(x)` and a constant output `c`; with `computed` false, only `c`.
fn graph(c: Tensor, computed: bool) -> Graph {
    let mut g = Graph::new("constant_outputs");
    let c = g.add_constant("c", c);
    if computed {
        let ty = TensorType::new(DType::F32, vec![2, 3]);
        let x = g.add_input("x", ty.clone());
        let relu = g.add_node(Node {
            name: "relu".into(),
            op: Op::Unary(Unary { kind: UnaryKind::Relu }),
            num_inputs: 1,
            outputs: vec![ty],
            output_names: vec!["y".into()],
        });
        g.connect(ValueRef { node: x, slot: 0 }, relu, 0);
        g.outputs.push(GraphOutput { name: "y".into(), value: ValueRef { node: relu, slot: 0 } });
    }
    g.outputs.push(GraphOutput { name: "c".into(), value: ValueRef { node: c, slot: 0 } });
    g
}

#[test]
fn f32_constant_output_is_copied_beside_computed_ones() {
    let plan = compile(&graph(Tensor::from_f32(vec![2], &[1.5, -2.0]), true), &CompileOptions::default()).unwrap();
    let bytes = plan.encode().unwrap();
    let plan = Plan::from_bytes(&bytes).unwrap();
    let mut session = Session::new(&plan, SessionOptions { threads: 1, ..Default::default() }).unwrap();
    let x = hetc_runtime::Tensor::new(vec![2, 3], vec![-1.0, 2.0, -3.0, 4.0, 0.0, 6.0]).unwrap();
    let out = session.run(&[("x", &x)]).unwrap();
    assert_eq!(out[0].0, "y");
    assert_eq!(out[0].1.data, [0.0, 2.0, 0.0, 4.0, 0.0, 6.0]);
    assert_eq!(out[1].0, "c");
    assert_eq!((out[1].1.shape.as_slice(), out[1].1.data.as_slice()), (&[2][..], &[1.5, -2.0][..]));
}

#[test]
fn non_f32_constant_output_is_unsupported() {
    let err = compile(&graph(Tensor::from_i64(vec![2], &[1, 2]), true), &CompileOptions::default()).unwrap_err();
    assert!(matches!(err, CompileError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("output `c` is a constant of i64 values"), "{err}");
}

#[test]
fn only_constant_outputs_is_refused() {
    let err = compile(&graph(Tensor::from_f32(vec![2], &[1.0, 2.0]), false), &CompileOptions::default()).unwrap_err();
    assert!(err.to_string().contains("the output is a compile-time constant"), "{err}");
}
