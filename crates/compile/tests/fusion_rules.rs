//! Each fusion rule on a small graph: the IR before and after the pass as an insta snapshot
//! (values numbered in topological order, weights redacted), and the fused plan's outputs
//! against the unfused plan's through the CPU runtime.

mod fusion_common;

use fusion_common::{G, assert_fusion_keeps_outputs, before_after, kernels};
use hetc_compile::Fusion;
use hetc_ir::Graph;
use hetc_ir::ops::{BinaryKind, PoolKind, UnaryKind};

fn check(name: &str, g: &Graph) {
    insta::assert_snapshot!(name, before_after(g));
    assert_fusion_keeps_outputs(g);
}

/// The op names in the fused graph's dump.
fn fused_ops(g: &Graph) -> String {
    before_after(g).split("after:").nth(1).unwrap().to_string()
}

#[test]
fn batch_norm_folds_into_conv() {
    let mut g = G::new("conv_bn", 1);
    let x = g.input("x", &[1, 3, 8, 8]);
    let c = g.conv(x, 4, 3, 1, true);
    let y = g.bn(c);
    g.output("y", y);
    check("conv_bn", &g.g);
}

#[test]
fn mul_and_add_by_constants_fold_into_conv() {
    let mut g = G::new("conv_mul_add", 2);
    let x = g.input("x", &[1, 3, 8, 8]);
    let c = g.conv(x, 4, 1, 0, false);
    let k = g.constant(&[4, 1, 1], false);
    let m = g.binary(k, c, BinaryKind::Mul);
    let t = g.constant(&[1, 4, 1, 1], false);
    let a = g.binary(m, t, BinaryKind::Add);
    let s = g.scalar(0.5);
    let y = g.binary(a, s, BinaryKind::Mul);
    g.output("y", y);
    check("conv_mul_add", &g.g);
}

#[test]
fn non_per_channel_constants_stay() {
    // A constant varying along a spatial axis cannot be folded into the weights.
    let mut g = G::new("conv_mul_spatial", 3);
    let x = g.input("x", &[1, 3, 6, 6]);
    let c = g.conv(x, 4, 3, 1, true);
    let k = g.constant(&[1, 1, 6, 1], false);
    let y = g.binary(c, k, BinaryKind::Mul);
    g.output("y", y);
    let after = fused_ops(&g.g);
    assert!(after.contains("Conv{") && after.contains("Mul"), "{after}");
    assert_fusion_keeps_outputs(&g.g);
}

#[test]
fn conv_bias_activation() {
    let acts = [
        ("relu", UnaryKind::Relu),
        ("leaky_relu", UnaryKind::LeakyRelu { alpha: 0.1 }),
        ("clip", UnaryKind::Clip { min: 0.0, max: 6.0 }),
        ("hard_sigmoid", UnaryKind::HardSigmoid { alpha: 0.2, beta: 0.5 }),
        ("hard_swish", UnaryKind::HardSwish),
        ("sigmoid", UnaryKind::Sigmoid),
    ];
    for (name, kind) in acts {
        let mut g = G::new(name, 4);
        let x = g.input("x", &[1, 3, 7, 7]);
        let c = g.conv(x, 5, 3, 1, true);
        let y = g.unary(c, kind);
        g.output("y", y);
        check(&format!("conv_bias_{name}"), &g.g);
    }
}

#[test]
fn residual_add_and_activation_join_the_conv() {
    let mut g = G::new("residual", 5);
    let x = g.input("x", &[1, 4, 6, 6]);
    let c1 = g.conv(x, 4, 3, 1, false);
    let b1 = g.bn(c1);
    let r1 = g.unary(b1, UnaryKind::Relu);
    let c2 = g.conv(r1, 4, 3, 1, false);
    let b2 = g.bn(c2);
    let sum = g.binary(b2, x, BinaryKind::Add);
    let y = g.unary(sum, UnaryKind::Relu);
    g.output("y", y);
    check("residual", &g.g);
}

#[test]
fn gemm_scale_bias_activation() {
    let mut g = G::new("gemm", 6);
    let x = g.input("x", &[2, 8]);
    let m = g.gemm(x, 5, true);
    let k = g.constant(&[5], false);
    let s = g.binary(m, k, BinaryKind::Mul);
    let y = g.unary(s, UnaryKind::Relu);
    g.output("y", y);
    check("gemm", &g.g);
}

#[test]
fn elementwise_chain_is_one_kernel() {
    let mut g = G::new("chain", 7);
    let x = g.input("x", &[1, 4, 5, 5]);
    let r = g.input("r", &[5]);
    let k = g.constant(&[4, 1, 1], false);
    let a = g.binary(x, k, BinaryKind::Mul);
    let b = g.binary(a, r, BinaryKind::Sub);
    let c = g.unary(b, UnaryKind::Sigmoid);
    let d = g.binary(c, x, BinaryKind::Mul);
    let y = g.unary(d, UnaryKind::Abs);
    g.output("y", y);
    check("chain", &g.g);
}

#[test]
fn hard_swish_patterns() {
    let mut g = G::new("hard_swish_forms", 8);
    let x = g.input("x", &[1, 3, 6, 6]);
    let c = g.conv(x, 4, 1, 0, true);
    // x * HardSigmoid{1/6, 1/2}(x)
    let h = g.unary(c, UnaryKind::HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 });
    let y1 = g.binary(c, h, BinaryKind::Mul);
    let c2 = g.conv(y1, 4, 1, 0, true);
    // x * Clip{0,6}(x + 3) / 6
    let three = g.scalar(3.0);
    let six = g.scalar(6.0);
    let a = g.binary(c2, three, BinaryKind::Add);
    let cl = g.unary(a, UnaryKind::Clip { min: 0.0, max: 6.0 });
    let m = g.binary(c2, cl, BinaryKind::Mul);
    let y = g.binary(m, six, BinaryKind::Div);
    g.output("y", y);
    check("hard_swish_forms", &g.g);
}

#[test]
fn zero_pad_folds_into_conv() {
    let mut g = G::new("pad_conv", 9);
    let x = g.input("x", &[1, 3, 6, 6]);
    let p = g.pad(x, 1, 0.0);
    let y = g.conv(p, 4, 3, 0, true);
    g.output("y", y);
    check("pad_conv", &g.g);
}

#[test]
fn pads_fold_into_pools_only_where_equivalent() {
    // -inf before MaxPool: folds.
    let mut g = G::new("pad_maxpool_neg_inf", 10);
    let x = g.input("x", &[1, 3, 6, 6]);
    let p = g.pad(x, 1, f64::NEG_INFINITY);
    let y = g.pool(p, PoolKind::Max, 3, 2, 0);
    g.output("y", y);
    check("pad_maxpool_neg_inf", &g.g);
    // Zero before MaxPool of non-negative values (after Relu): folds.
    let mut g = G::new("pad_maxpool_after_relu", 11);
    let x = g.input("x", &[1, 3, 6, 6]);
    let r = g.unary(x, UnaryKind::Relu);
    let p = g.pad(r, 1, 0.0);
    let y = g.pool(p, PoolKind::Max, 2, 1, 0);
    g.output("y", y);
    check("pad_maxpool_after_relu", &g.g);
    // Zero before MaxPool of values that may be negative (tiny_yolov2's case): stays.
    let mut g = G::new("pad_maxpool_after_leaky_relu", 12);
    let x = g.input("x", &[1, 3, 6, 6]);
    let r = g.unary(x, UnaryKind::LeakyRelu { alpha: 0.1 });
    let p = g.pad(r, 1, 0.0);
    let y = g.pool(p, PoolKind::Max, 2, 1, 0);
    g.output("y", y);
    let after = fused_ops(&g.g);
    assert!(after.contains("Pad{"), "the zero Pad must stay before a MaxPool of signed values:\n{after}");
    check("pad_maxpool_after_leaky_relu", &g.g);
    // Zero before AveragePool: padding counted in the average.
    let mut g = G::new("pad_avgpool", 13);
    let x = g.input("x", &[1, 3, 6, 6]);
    let p = g.pad(x, 1, 0.0);
    let y = g.pool(p, PoolKind::Average { count_include_pad: false }, 3, 1, 0);
    g.output("y", y);
    check("pad_avgpool", &g.g);
}

#[test]
fn transpose_and_reshape_pairs_cancel() {
    let mut g = G::new("movement", 14);
    let x = g.input("x", &[1, 4, 3, 5]);
    let t1 = g.transpose(x, &[0, 2, 3, 1]);
    let t2 = g.transpose(t1, &[0, 3, 1, 2]);
    let r1 = g.reshape(t2, &[4, 15]);
    let r2 = g.reshape(r1, &[1, 4, 3, 5]);
    let y = g.unary(r2, UnaryKind::Relu);
    // A transpose that only moves a unit axis is a reshape.
    let u = g.transpose(y, &[1, 0, 2, 3]);
    g.output("y", u);
    check("movement", &g.g);
}

#[test]
fn concat_inputs_are_fused_producers() {
    let mut g = G::new("concat", 15);
    let x = g.input("x", &[1, 3, 6, 6]);
    let a = g.conv(x, 4, 3, 1, true);
    let a = g.unary(a, UnaryKind::Relu);
    let b = g.conv(x, 2, 1, 0, true);
    let b = g.unary(b, UnaryKind::LeakyRelu { alpha: 0.1 });
    let y = g.concat(&[a, b], 1);
    let z = g.conv(y, 3, 1, 0, false);
    g.output("y", z);
    check("concat", &g.g);
    // The producers write into the Concat's output: no Concat step is left.
    assert!(kernels(&g.g, Fusion::None).contains(&"Concat"));
    let fused = kernels(&g.g, Fusion::Egg);
    assert!(!fused.contains(&"Concat"), "{fused:?}");
}

#[test]
fn concat_of_a_graph_input_is_a_copy() {
    // A graph input cannot be written by a producer: that Concat stays.
    let mut g = G::new("concat_input", 17);
    let x = g.input("x", &[1, 2, 4, 4]);
    let a = g.conv(x, 3, 1, 0, true);
    let y = g.concat(&[x, a], 1);
    g.output("y", y);
    assert!(kernels(&g.g, Fusion::Egg).contains(&"Concat"));
    assert_fusion_keeps_outputs(&g.g);
}

#[test]
fn a_shared_conv_is_not_computed_twice() {
    // conv -> relu and conv -> add: fusing relu into a copy of the conv would compute it
    // twice; the DAG extractor keeps one conv.
    let mut g = G::new("shared_conv", 16);
    let x = g.input("x", &[1, 8, 10, 10]);
    let c = g.conv(x, 8, 3, 1, true);
    let r = g.unary(c, UnaryKind::Relu);
    let s = g.unary(c, UnaryKind::Sigmoid);
    let y = g.binary(r, s, BinaryKind::Add);
    g.output("y", y);
    let after = fused_ops(&g.g);
    assert_eq!(after.matches("Conv").count(), 1, "{after}");
    check("shared_conv", &g.g);
}

#[test]
fn instance_norm_takes_residual_and_activation() {
    // Style transfer's residual block: relu(IN(conv(x))) then x + IN(conv(.)).
    let mut g = G::new("instance_norm", 18);
    let x = g.input("x", &[1, 4, 6, 6]);
    let c1 = g.conv(x, 4, 3, 1, true);
    let n1 = g.instance_norm(c1);
    let r1 = g.unary(n1, UnaryKind::Relu);
    let c2 = g.conv(r1, 4, 3, 1, true);
    let n2 = g.instance_norm(c2);
    let y = g.binary(x, n2, BinaryKind::Add);
    g.output("y", y);
    check("instance_norm", &g.g);
}
