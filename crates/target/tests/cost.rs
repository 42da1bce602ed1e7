//! The stand-in cost model: FLOPs and bytes per node, roofline times against the target's
//! figures, transfer times, and refusals where a figure is missing.

mod common;

use common::{Builder, catalog};
use hetc_ir::ops::UnaryKind;
use hetc_ir::{Graph, Op};
use hetc_target::NodeView;
use hetc_target::cost::{
    CostError, LinkFigures, NodeCost, ProcessorFigures, node_cost, node_time_us, transfer_time_us,
};
use hetc_target::facts::Quality;

fn cost_of(g: &Graph, name: &str) -> NodeCost {
    let id = g.node_ids().find(|&id| g.node(id).name == name).unwrap();
    node_cost(&NodeView::of(g, id))
}

#[test]
fn flops_and_bytes_per_node() {
    let mut b = Builder::new("cost");
    let x = b.input("x", &[1, 8, 16, 16]);
    let c = b.conv("conv", x, 16, 3, 1, 1);
    let r = b.unary("relu", UnaryKind::Relu, c);
    let f = b.op("flat", Op::Reshape(hetc_ir::ops::Reshape { shape: vec![1, 4096] }), &[r]);
    let g = b.output(f);
    let conv = cost_of(&g, "conv");
    // 16 x 16 x 16 outputs, 8 x 3 x 3 MACs each, 2 FLOPs per MAC.
    assert_eq!(conv.flops, 2 * 16 * 16 * 16 * 8 * 9);
    // Input, weight and output, f32.
    assert_eq!(conv.bytes, 4 * (8 * 256 + 16 * 8 * 9 + 16 * 256));
    let relu = cost_of(&g, "relu");
    assert_eq!((relu.flops, relu.bytes), (4096, 2 * 4096 * 4));
    assert!(cost_of(&g, "flat").free);
}

#[test]
fn roofline_takes_the_slower_of_compute_and_memory() {
    let f = ProcessorFigures { gflops: 100.0, gbps: 10.0, dispatch_us: 5.0, quality: Quality::Guess };
    // 1 MFLOP at 100 GFLOP/s = 10 us; 1 KB at 10 GB/s = 0.1 us.
    let compute_bound = NodeCost { flops: 1_000_000, bytes: 1_000, free: false };
    assert!((node_time_us(compute_bound, &f) - 15.0).abs() < 1e-9);
    // 1 MB at 10 GB/s = 100 us.
    let memory_bound = NodeCost { flops: 1_000, bytes: 1_000_000, free: false };
    assert!((node_time_us(memory_bound, &f) - 105.0).abs() < 1e-9);
    assert_eq!(node_time_us(NodeCost { free: true, ..memory_bound }, &f), 0.0);
    let link = LinkFigures { latency_us: 50.0, gbps: 20.0, quality: Quality::Guess };
    assert!((transfer_time_us(2_000_000, &link) - 150.0).abs() < 1e-9);
}

#[test]
fn figures_come_from_the_target_and_carry_their_quality() {
    let c = catalog();
    let sd855 = c.get("sd855").unwrap();
    let gpu = sd855.figures("gpu").unwrap();
    assert_eq!((gpu.gflops, gpu.gbps, gpu.dispatch_us), (899.0, 34.1, 30.0));
    assert_eq!(gpu.quality, Quality::Guess, "the dispatch cost is a guess, so the figures are");
    assert_eq!(sd855.figures("cpu").unwrap().gflops, 161.6);
    let link = sd855.link("gpu", "cpu").unwrap();
    assert_eq!((link.latency_us, link.gbps), (50.0, 17.05));
    // No published peak for the Kirin 990's NPU: the model refuses rather than invent one.
    let err = c.get("kirin990").unwrap().figures("npu").unwrap_err();
    assert_eq!(
        err,
        CostError::MissingFigure { target: "kirin990".into(), processor: "npu".into(), figure: "peak GFLOP/s" }
    );
    assert!(c.get("kirin960").unwrap().link("cpu", "npu").is_err());
}
