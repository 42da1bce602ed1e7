//! The support analysis on graphs built for the purpose, against a synthetic target whose
//! accelerators run only what the test says, so every count below is known by hand.

mod common;

use common::{Builder, code_tables};
use hetc_ir::ops::{Binary, BinaryKind, UnaryKind};
use hetc_ir::{Graph, Op};
use hetc_target::analysis::{Combination, Placement, SupportReport, analyse};
use hetc_target::desc::TargetDesc;
use hetc_target::table::SupportTable;
use hetc_target::{CheckOptions, Target, TargetError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// cpu (the stand-in table), gpu (runs Relu and Add), npu (runs Relu only, quantized only).
fn target() -> Target {
    let gpu = SupportTable::parse(
        r#"
        name = "test-gpu"
        basis = "test GPU"
        quality = "guess"
        dtypes = ["f32"]
        unlisted = "not on the test GPU"
        [[rule]]
        ops = ["Relu", "Add"]
        "#,
    )
    .unwrap();
    let npu = SupportTable::parse(
        r#"
        name = "test-npu"
        basis = "test NPU"
        quality = "guess"
        dtypes = ["q8"]
        dtype_reason = "quantized only"
        unlisted = "not on the test NPU"
        [[rule]]
        ops = ["Relu"]
        "#,
    )
    .unwrap();
    let desc = TargetDesc::parse(
        r#"
        name = "test"
        device = "test device"
        soc = "test SoC"
        quality = "guess"
        [[processor]]
        name = "cpu"
        kind = "cpu"
        model = "test CPU"
        quality = "guess"
        support = { code = "hetc-cpu" }
        [[processor]]
        name = "gpu"
        kind = "gpu"
        model = "test GPU"
        quality = "guess"
        support = { table = "test-gpu" }
        [[processor]]
        name = "npu"
        kind = "npu"
        model = "test NPU"
        quality = "guess"
        support = { table = "test-npu" }
        "#,
    )
    .unwrap();
    desc.validate(&BTreeMap::new()).unwrap();
    let tables = BTreeMap::from([("test-gpu".to_string(), Arc::new(gpu)), ("test-npu".to_string(), Arc::new(npu))]);
    Target::resolve(desc, &tables, &code_tables()).unwrap()
}

fn combo<'a>(r: &'a SupportReport, names: &[&str]) -> &'a Combination {
    r.combinations.iter().find(|c| c.processors == names).unwrap_or_else(|| panic!("no combination {names:?}"))
}

/// x -> relu a -> exp b -> relu c -> exp d -> exp e -> relu f -> y: the GPU runs a, c, f.
fn chain() -> Graph {
    let mut b = Builder::new("chain");
    let x = b.input("x", &[1, 4, 8, 8]);
    let a = b.unary("a", UnaryKind::Relu, x);
    let bb = b.unary("b", UnaryKind::Exp, a);
    let c = b.unary("c", UnaryKind::Relu, bb);
    let d = b.unary("d", UnaryKind::Exp, c);
    let e = b.unary("e", UnaryKind::Exp, d);
    let f = b.unary("f", UnaryKind::Relu, e);
    b.output(f)
}

#[test]
fn counts_segments_and_transfers_of_a_chain() {
    let r = analyse(&chain(), &target(), Some(&["cpu".into(), "gpu".into()]), CheckOptions::default()).unwrap();
    assert_eq!(r.compute_nodes, 6);
    // Singletons first, then the pair.
    let names: Vec<Vec<String>> = r.combinations.iter().map(|c| c.processors.clone()).collect();
    assert_eq!(names, [vec!["cpu".to_string()], vec!["gpu".into()], vec!["cpu".into(), "gpu".into()]]);

    let cpu = combo(&r, &["cpu"]);
    assert_eq!((cpu.supported, cpu.unsupported), (6, 0));
    assert_eq!((cpu.placement.fallback_segments, cpu.placement.crossing_edges), (0, 0));

    let gpu = combo(&r, &["gpu"]);
    assert_eq!((gpu.supported, gpu.unsupported, gpu.ratio), (3, 3, 0.5));
    let unsupported: Vec<&str> = gpu.unsupported_nodes.iter().map(|u| u.node.as_str()).collect();
    assert_eq!(unsupported, ["b", "d", "e"]);
    assert_eq!(gpu.unsupported_nodes[0].reasons, [("gpu".to_string(), "not on the test GPU".to_string())]);
    // Fallback runs [b] and [d, e]; every edge of the chain crosses, the input's and the
    // output's included.
    assert_eq!(gpu.placement.fallback_segments, 2);
    assert_eq!(gpu.placement.fallback_nodes, 3);
    assert_eq!((gpu.placement.crossing_edges, gpu.placement.transfers), (6, 6));
    assert_eq!(gpu.placement.nodes, BTreeMap::from([("cpu".to_string(), 3), ("gpu".to_string(), 3)]));

    // With the CPU in the combination everything is supported, but the placement (GPU first)
    // is the same.
    let both = combo(&r, &["cpu", "gpu"]);
    assert_eq!((both.supported, both.unsupported), (6, 0));
    assert_eq!(both.placement.fallback_nodes, 0);
    assert_eq!(both.placement, Placement { fallback_nodes: 0, ..gpu.placement.clone() });
}

#[test]
fn a_value_read_twice_on_the_same_processor_is_one_transfer() {
    // x -> exp p (CPU) -> relu q1, relu q2 (GPU) -> add r (GPU) -> y
    let mut b = Builder::new("fanout");
    let x = b.input("x", &[1, 4, 8, 8]);
    let p = b.unary("p", UnaryKind::Exp, x);
    let q1 = b.unary("q1", UnaryKind::Relu, p);
    let q2 = b.unary("q2", UnaryKind::Relu, p);
    let r = b.op("r", Op::Binary(Binary { kind: BinaryKind::Add }), &[q1, q2]);
    let g = b.output(r);
    let report = analyse(&g, &target(), Some(&["gpu".into()]), CheckOptions::default()).unwrap();
    let gpu = combo(&report, &["gpu"]);
    assert_eq!(gpu.placement.fallback_segments, 1);
    // p -> q1, p -> q2 and r -> y cross; p's value moves to the GPU once.
    assert_eq!((gpu.placement.crossing_edges, gpu.placement.transfers), (3, 2));
}

#[test]
fn weights_never_cross() {
    // x -> conv (CPU: the test GPU has no Conv) -> relu (GPU) -> y; the weight is a constant.
    let mut b = Builder::new("conv");
    let x = b.input("x", &[1, 4, 8, 8]);
    let c = b.conv("conv", x, 4, 3, 1, 1);
    let r = b.unary("relu", UnaryKind::Relu, c);
    let g = b.output(r);
    let report = analyse(&g, &target(), Some(&["gpu".into()]), CheckOptions::default()).unwrap();
    let gpu = combo(&report, &["gpu"]);
    assert_eq!(gpu.placement.fallback_segments, 1);
    // conv -> relu and relu -> y only.
    assert_eq!((gpu.placement.crossing_edges, gpu.placement.transfers), (2, 2));
}

#[test]
fn specialised_processors_are_preferred_and_quantized_only_tables_need_the_option() {
    let g = chain();
    let t = target();
    let plain = analyse(&g, &t, None, CheckOptions::default()).unwrap();
    assert_eq!(plain.combinations.len(), 7);
    let npu = combo(&plain, &["npu"]);
    assert_eq!(npu.supported, 0);
    assert_eq!(npu.unsupported_nodes[0].reasons[0].1, "f32 values (accepts q8; quantized only)");
    // Nothing runs on the NPU, so all of the model is one CPU segment.
    assert_eq!(npu.placement.fallback_segments, 1);

    let quantized = analyse(&g, &t, None, CheckOptions { assume_quantized: true }).unwrap();
    assert!(quantized.assume_quantized);
    let npu = combo(&quantized, &["npu"]);
    assert_eq!(npu.supported, 3);
    // GPU and NPU both run the Relus; the NPU, more specialised, gets them.
    let all = combo(&quantized, &["cpu", "gpu", "npu"]);
    assert_eq!(all.placement.nodes, BTreeMap::from([("cpu".to_string(), 3), ("npu".to_string(), 3)]));
    let reasons = &combo(&quantized, &["gpu", "npu"]).unsupported_nodes[0].reasons;
    assert_eq!(reasons.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["gpu", "npu"]);
}

#[test]
fn nodes_the_cpu_cannot_run_are_unrunnable() {
    let mut b = Builder::new("not");
    let x = b.input("x", &[4]);
    let r = b.unary("relu", UnaryKind::Relu, x);
    // The stand-in CPU table refuses Not; so does the GPU.
    let n = b.unary("not", UnaryKind::Relu, r);
    let mut g = b.output(n);
    let id = g.node_ids().find(|&id| g.node(id).name == "not").unwrap();
    g.node_mut(id).op = Op::Unary(hetc_ir::ops::Unary { kind: UnaryKind::Not });
    let report = analyse(&g, &target(), Some(&["gpu".into()]), CheckOptions::default()).unwrap();
    assert_eq!(combo(&report, &["gpu"]).placement.unrunnable, ["not"]);
}

#[test]
fn unknown_or_no_processors_are_errors() {
    let err = analyse(&chain(), &target(), Some(&["tpu".into()]), CheckOptions::default()).unwrap_err();
    assert!(matches!(err, TargetError::UnknownProcessor { .. }), "{err}");
    assert_eq!(err.to_string(), "target test has no processor `tpu` (it has: cpu, gpu, npu)");
    let err = analyse(&chain(), &target(), Some(&[]), CheckOptions::default()).unwrap_err();
    assert!(matches!(err, TargetError::NoProcessors), "{err}");
}
