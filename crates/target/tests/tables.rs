//! The built-in support tables on single nodes: each documented limit refuses what it should,
//! with a reason that names it, and accepts the ordinary case.

mod common;

use common::{Builder, catalog};
use hetc_ir::ops::{Concat, Conv, Pad, PadMode, Reshape, Transpose, UnaryKind};
use hetc_ir::{Graph, Op, ValueRef};
use hetc_target::{CheckOptions, NodeView};

/// The verdict of `target`'s `processor` on the graph's node named `node`.
fn verdict(g: &Graph, target: &str, processor: &str, node: &str, options: CheckOptions) -> Result<(), String> {
    let c = catalog();
    let (_, support) = c.get(target).unwrap().processor(processor).unwrap();
    let id = g.node_ids().find(|&id| g.node(id).name == node).unwrap();
    support.check(&NodeView::of(g, id), options)
}

fn plain() -> CheckOptions {
    CheckOptions::default()
}

fn conv_graph(channels: usize, out: usize, group: usize, k: usize, pad: usize, dilation: usize) -> Graph {
    let mut b = Builder::new("conv");
    let x = b.input("x", &[1, channels, 16, 16]);
    let w = b.constant("w", &[out, channels / group, k, k]);
    let conv = Conv {
        kernel: vec![k, k],
        strides: vec![1, 1],
        dilations: vec![dilation, dilation],
        pads: vec![pad; 4],
        group,
    };
    let y = b.op("conv", Op::Conv(conv), &[x, w]);
    b.output(y)
}

#[test]
fn mace_gpu_convolutions() {
    let ok = |g: &Graph| verdict(g, "sd855", "gpu", "conv", plain());
    ok(&conv_graph(8, 16, 1, 3, 1, 1)).unwrap();
    ok(&conv_graph(8, 8, 8, 3, 1, 1)).unwrap();
    let err = ok(&conv_graph(8, 8, 2, 3, 1, 1)).unwrap_err();
    assert_eq!(err, "a grouped convolution (group 2 of 8 channels) (only group 1 or depthwise with multiplier 1)");
    let err = ok(&conv_graph(8, 16, 8, 3, 1, 1)).unwrap_err();
    assert!(err.starts_with("a depthwise convolution with channel multiplier 2"), "{err}");
    // Mali runs the same kernels.
    verdict(&conv_graph(8, 16, 1, 3, 1, 1), "kirin990", "gpu", "conv", plain()).unwrap();
}

#[test]
fn hexagon_runs_only_quantized_valid_or_same_undilated_convolutions() {
    let dsp = |g: &Graph, o| verdict(g, "sd865", "dsp", "conv", o);
    let q = CheckOptions { assume_quantized: true };
    let err = dsp(&conv_graph(8, 16, 1, 3, 1, 1), plain()).unwrap_err();
    assert!(err.starts_with("f32 values (accepts q8; the DSP runs only 8-bit quantized ops"), "{err}");
    // SAME (3x3, pad 1) and VALID (3x3, pad 0) pass once quantized.
    dsp(&conv_graph(8, 16, 1, 3, 1, 1), q).unwrap();
    dsp(&conv_graph(8, 16, 1, 3, 0, 1), q).unwrap();
    // 5x5 with pad 1: 14x14 out of 16x16, neither.
    let err = dsp(&conv_graph(8, 16, 1, 5, 1, 1), q).unwrap_err();
    assert!(err.contains("neither VALID nor SAME"), "{err}");
    let err = dsp(&conv_graph(8, 16, 1, 3, 2, 2), q).unwrap_err();
    assert_eq!(err, "dilations 2x2 (accepts 1)");
}

fn concat_graph(channels: &[usize], axis: usize) -> Graph {
    let mut b = Builder::new("concat");
    let inputs: Vec<ValueRef> =
        channels.iter().enumerate().map(|(i, &c)| b.input(&format!("x{i}"), &[1, c, 4, 4])).collect();
    let y = b.op("concat", Op::Concat(Concat { axis }), &inputs);
    b.output(y)
}

#[test]
fn mace_gpu_concat_limits() {
    let gpu = |g: &Graph| verdict(g, "sd855", "gpu", "concat", plain());
    gpu(&concat_graph(&[6, 6], 1)).unwrap();
    gpu(&concat_graph(&[8, 4, 12], 1)).unwrap();
    let err = gpu(&concat_graph(&[8, 6, 4], 1)).unwrap_err();
    assert_eq!(err, "with 3 inputs every input's channels must be a multiple of 4 (input 1 has 6)");
    let err = gpu(&concat_graph(&[4, 4], 2)).unwrap_err();
    assert_eq!(err, "axis 2 (accepts axis 1)");
}

#[test]
fn mace_gpu_pad_reshape_transpose_and_activations() {
    let mut b = Builder::new("misc");
    let x = b.input("x", &[1, 4, 8, 8]);
    let edge = b.op("edge", Op::Pad(Pad { mode: PadMode::Edge, pads: vec![0, 0, 1, 1, 0, 0, 1, 1], value: 0.0 }), &[x]);
    let chan =
        b.op("chan", Op::Pad(Pad { mode: PadMode::Constant, pads: vec![0, 1, 0, 0, 0, 1, 0, 0], value: 0.0 }), &[x]);
    let refl =
        b.op("refl", Op::Pad(Pad { mode: PadMode::Reflect, pads: vec![0, 0, 2, 2, 0, 0, 2, 2], value: 0.0 }), &[x]);
    let flat = b.op("flat", Op::Reshape(Reshape { shape: vec![1, 256] }), &[x]);
    let pool = b.op("gap", Op::GlobalPool(hetc_ir::ops::GlobalPool { kind: hetc_ir::ops::PoolKind::Max }), &[x]);
    let squeeze = b.op("squeeze", Op::Reshape(Reshape { shape: vec![1, 4] }), &[pool]);
    let tr = b.op("tr", Op::Transpose(Transpose { perm: vec![0, 1, 3, 2] }), &[x]);
    let hs = b.unary("hsig", UnaryKind::HardSigmoid { alpha: 0.2, beta: 0.5 }, x);
    let six = b.unary("relu6", UnaryKind::Clip { min: 0.0, max: 6.0 }, x);
    let one = b.unary("clip1", UnaryKind::Clip { min: -1.0, max: 1.0 }, x);
    let _ = (edge, chan, refl, flat, squeeze, tr, hs, one);
    let g = b.output(six);
    let gpu = |n: &str| verdict(&g, "sd855", "gpu", n, plain());
    assert_eq!(gpu("edge").unwrap_err(), "edge padding (accepts constant, reflect)");
    assert_eq!(gpu("chan").unwrap_err(), "pads axis 1 (only axes 2, 3)");
    gpu("refl").unwrap();
    assert_eq!(gpu("flat").unwrap_err(), "reshapes [1, 4, 8, 8] to [1, 256] (only size-1 dimensions may change)");
    gpu("squeeze").unwrap();
    assert!(gpu("tr").unwrap_err().starts_with("MACE runs Transpose on the CPU only"));
    assert!(gpu("hsig").unwrap_err().starts_with("not among MACE's OpenCL activation types"));
    gpu("relu6").unwrap();
    gpu("clip1").unwrap();
    // The Kirin NPU (Paddle-Lite's list) takes Clip only as ReLU6; it has no HardSigmoid.
    let npu = |n: &str| verdict(&g, "kirin990", "npu", n, plain());
    npu("relu6").unwrap();
    assert_eq!(npu("clip1").unwrap_err(), "Clip to [-1, 1] (accepts [0, 6])");
    assert_eq!(npu("hsig").unwrap_err(), "not in Paddle-Lite's Huawei Kirin NPU op list");
    npu("tr").unwrap();
    // The Tensor TPU guess: quantized only, ReLU6 and ReLU-N1-to-1.
    let q = CheckOptions { assume_quantized: true };
    verdict(&g, "tensor", "npu", "clip1", q).unwrap();
    assert!(verdict(&g, "tensor", "npu", "clip1", plain()).unwrap_err().contains("fully 8-bit quantized"));
}

#[test]
fn the_cpu_table_is_the_code_table() {
    let mut b = Builder::new("cpu");
    let x = b.input("x", &[1, 4, 8, 8]);
    let y = b.unary("not", UnaryKind::Relu, x);
    let mut g = b.output(y);
    verdict(&g, "sd855", "cpu", "not", plain()).unwrap();
    let id = g.node_ids().find(|&id| g.node(id).name == "not").unwrap();
    g.node_mut(id).op = Op::Unary(hetc_ir::ops::Unary { kind: UnaryKind::Not });
    assert_eq!(verdict(&g, "sd855", "cpu", "not", plain()).unwrap_err(), "test CPU has no Not");
}

fn fused_conv_graph(activation: Option<UnaryKind>, group: usize) -> Graph {
    let mut b = Builder::new("fused");
    let x = b.input("x", &[1, 8, 16, 16]);
    let w = b.constant("w", &[8, 8 / group, 3, 3]);
    let bias = b.constant("b", &[8]);
    let conv = Conv { kernel: vec![3, 3], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![1; 4], group };
    let fused = hetc_ir::ops::FusedConv { conv, has_bias: true, has_residual: true, activation };
    let y = b.op("conv", Op::FusedConv(fused), &[x, w, bias, x]);
    b.output(y)
}

/// Placement runs after hetc's fusion, so declarative tables judge a fused node by the plain
/// ops it stands for: the convolution, the residual Add and the activation.
#[test]
fn fused_convolutions_are_judged_by_their_constituents() {
    let gpu = |g: &Graph| verdict(g, "sd855", "gpu", "conv", plain());
    gpu(&fused_conv_graph(Some(UnaryKind::Relu), 1)).unwrap();
    let err = gpu(&fused_conv_graph(Some(UnaryKind::Relu), 2)).unwrap_err();
    assert!(err.starts_with("fused FusedConv: its Conv (a grouped convolution"), "{err}");
}
