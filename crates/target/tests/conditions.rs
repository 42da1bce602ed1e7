//! Every condition a support table can set, on a synthetic table: it refuses what it names,
//! with a reason, and accepts the rest.

mod common;

use common::Builder;
use hetc_ir::ops::{Binary, BinaryKind, Concat, Conv, Gemm, Pool, PoolKind, Reduce, ReduceKind, Resize, UnaryKind};
use hetc_ir::{Graph, Op};
use hetc_target::table::SupportTable;
use hetc_target::{CheckOptions, NodeView, OpSupport};

fn table(rules: &str) -> SupportTable {
    let t = SupportTable::parse(&format!(
        "name = \"t\"\nbasis = \"test\"\nquality = \"guess\"\ndtypes = [\"f32\"]\nunlisted = \"unlisted\"\n{rules}"
    ))
    .unwrap();
    t.validate(&Default::default()).unwrap();
    t
}

fn check(t: &SupportTable, g: &Graph, node: &str) -> Result<(), String> {
    let id = g.node_ids().find(|&id| g.node(id).name == node).unwrap();
    t.check(&NodeView::of(g, id), CheckOptions::default())
}

fn conv_op(k: usize, stride: usize) -> Op {
    Op::Conv(Conv {
        kernel: vec![k, k],
        strides: vec![stride, stride],
        dilations: vec![1, 1],
        pads: vec![0; 4],
        group: 1,
    })
}

#[test]
fn window_and_channel_limits() {
    let t = table("[[rule]]\nops = [\"Conv\", \"MaxPool\"]\nmax_kernel = 5\nstrides = [1, 2]\nmax_channels = 64\n");
    let mut b = Builder::new("w");
    let x = b.input("x", &[1, 8, 32, 32]);
    let wide = b.input("wide", &[1, 128, 8, 8]);
    let w3 = b.constant("w3", &[16, 8, 3, 3]);
    let w7 = b.constant("w7", &[16, 8, 7, 7]);
    let w1 = b.constant("w1", &[16, 128, 1, 1]);
    b.op("ok", conv_op(3, 2), &[x, w3]);
    b.op("big", conv_op(7, 1), &[x, w7]);
    b.op("stride3", conv_op(3, 3), &[x, w3]);
    b.op("channels", conv_op(1, 1), &[wide, w1]);
    let pool = Pool {
        kind: PoolKind::Max,
        kernel: vec![9, 9],
        strides: vec![1, 1],
        dilations: vec![1, 1],
        pads: vec![0; 4],
        ceil_mode: false,
    };
    let y = b.op("pool", Op::Pool(pool), &[x]);
    let g = b.output(y);
    check(&t, &g, "ok").unwrap();
    assert_eq!(check(&t, &g, "big").unwrap_err(), "kernel 7x7 (at most 5 per axis)");
    assert_eq!(check(&t, &g, "stride3").unwrap_err(), "strides 3x3 (accepts 1, 2)");
    assert_eq!(check(&t, &g, "channels").unwrap_err(), "128 channels (at most 64)");
    assert_eq!(check(&t, &g, "pool").unwrap_err(), "kernel 9x9 (at most 5 per axis)");
}

#[test]
fn inputs_axes_and_shapes() {
    let t = table(
        "[[rule]]\nops = [\"Gemm\"]\nconst_inputs = [1]\ntrans_a = false\n\
         [[rule]]\nops = [\"Concat\"]\nmax_inputs = 2\n\
         [[rule]]\nops = [\"ReduceMean\"]\nreduce_axes = [[-2, -1]]\nkeepdims = true\n\
         [[rule]]\nops = [\"Resize\"]\nresize_axes = [2, 3]\nresize_modes = [\"nearest\"]\n\
         [[rule]]\nops = [\"Add\"]\nbroadcast = \"same-shape\"\n\
         [[rule]]\nops = [\"Mul\"]\nbroadcast = \"scalar-or-channel\"\n\
         [[rule]]\nops = [\"Relu\"]\nranks = [4]\n",
    );
    let mut b = Builder::new("misc");
    let a = b.input("a", &[2, 8]);
    let w = b.constant("w", &[8, 4]);
    let gemm = Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false };
    b.op("fc", Op::Gemm(gemm), &[a, w]);
    let bt = b.input("bt", &[8, 4]);
    b.op("matmul", Op::Gemm(gemm), &[a, bt]);
    let at = b.input("at", &[8, 2]);
    b.op("trans", Op::Gemm(Gemm { alpha: 1.0, beta: 1.0, trans_a: true, trans_b: false }), &[at, w]);
    let x = b.input("x", &[1, 4, 6, 6]);
    b.op("cat2", Op::Concat(Concat { axis: 1 }), &[x, x]);
    b.op("cat3", Op::Concat(Concat { axis: 1 }), &[x, x, x]);
    b.op("mean_hw", Op::Reduce(Reduce { kind: ReduceKind::Mean, axes: vec![2, 3], keepdims: true }), &[x]);
    b.op("mean_c", Op::Reduce(Reduce { kind: ReduceKind::Mean, axes: vec![1], keepdims: true }), &[x]);
    b.op("mean_flat", Op::Reduce(Reduce { kind: ReduceKind::Mean, axes: vec![2, 3], keepdims: false }), &[x]);
    let resize = |out: Vec<usize>, mode| Resize {
        mode,
        coord: hetc_ir::ops::CoordTransform::Asymmetric,
        nearest: hetc_ir::ops::NearestMode::Floor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        scales: out.iter().zip([1, 4, 6, 6]).map(|(&o, i)| o as f32 / i as f32).collect(),
        out_shape: out,
        roi: vec![],
    };
    b.op("up", Op::Resize(resize(vec![1, 4, 12, 12], hetc_ir::ops::ResizeMode::Nearest)), &[x]);
    b.op("upc", Op::Resize(resize(vec![1, 8, 6, 6], hetc_ir::ops::ResizeMode::Nearest)), &[x]);
    b.op("lin", Op::Resize(resize(vec![1, 4, 12, 12], hetc_ir::ops::ResizeMode::Linear)), &[x]);
    let c = b.constant("c", &[4, 1, 1]);
    let s = b.constant("s", &[1]);
    let row = b.constant("row", &[6]);
    let add = |k| Op::Binary(Binary { kind: k });
    b.op("add_same", add(BinaryKind::Add), &[x, x]);
    b.op("add_chan", add(BinaryKind::Add), &[x, c]);
    b.op("mul_chan", add(BinaryKind::Mul), &[x, c]);
    b.op("mul_scalar", add(BinaryKind::Mul), &[x, s]);
    b.op("mul_row", add(BinaryKind::Mul), &[x, row]);
    let r = b.unary("relu2d", UnaryKind::Relu, a);
    let g = b.output(r);

    check(&t, &g, "fc").unwrap();
    assert_eq!(check(&t, &g, "matmul").unwrap_err(), "input 1 is computed at run time (must be a constant weight)");
    assert_eq!(check(&t, &g, "trans").unwrap_err(), "transA=1 (needs transA=0)");
    check(&t, &g, "cat2").unwrap();
    assert_eq!(check(&t, &g, "cat3").unwrap_err(), "3 inputs (at most 2)");
    check(&t, &g, "mean_hw").unwrap();
    assert_eq!(check(&t, &g, "mean_c").unwrap_err(), "reduces axes [1] (accepts [-2, -1])");
    assert_eq!(check(&t, &g, "mean_flat").unwrap_err(), "keepdims=0 (needs keepdims=1)");
    check(&t, &g, "up").unwrap();
    assert_eq!(check(&t, &g, "upc").unwrap_err(), "resizes axis 1 (only axes 2, 3)");
    assert_eq!(check(&t, &g, "lin").unwrap_err(), "linear interpolation (accepts nearest)");
    check(&t, &g, "add_same").unwrap();
    assert_eq!(check(&t, &g, "add_chan").unwrap_err(), "broadcasts [4, 1, 1] to [1, 4, 6, 6] (same shapes only)");
    check(&t, &g, "mul_chan").unwrap();
    check(&t, &g, "mul_scalar").unwrap();
    assert_eq!(
        check(&t, &g, "mul_row").unwrap_err(),
        "broadcasts [6] to [1, 4, 6, 6] (same shape, scalar or per-channel only)"
    );
    assert_eq!(check(&t, &g, "relu2d").unwrap_err(), "rank-2 input (accepts rank 4)");
}

#[test]
fn several_rules_for_one_op_accept_if_any_does_and_report_all_reasons() {
    let t = table("[[rule]]\nops = [\"Conv\"]\nmax_kernel = 1\n[[rule]]\nops = [\"Conv\"]\nstrides = [2]\n");
    let mut b = Builder::new("two");
    let x = b.input("x", &[1, 8, 16, 16]);
    let w3 = b.constant("w3", &[8, 8, 3, 3]);
    b.op("k3s2", conv_op(3, 2), &[x, w3]);
    let y = b.op("k3s1", conv_op(3, 1), &[x, w3]);
    let g = b.output(y);
    check(&t, &g, "k3s2").unwrap();
    assert_eq!(check(&t, &g, "k3s1").unwrap_err(), "kernel 3x3 (at most 1 per axis); or strides 1x1 (accepts 2)");
}
