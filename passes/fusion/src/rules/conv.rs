//! Rules around convolutions and Gemm: folding constants into their weights, and epilogues.
//!
//! - `batch-norm-to-affine`: inference BatchNormalization with constant statistics is
//!   `x * scale + shift` with per-channel constants (derived, not yet computed).
//! - `mul-const-into-weights`: `conv(x, W, b) * k` with `k` constant and per output channel
//!   is `conv(x, W * k, b * k)` (also ConvTranspose with one group, and Gemm per column).
//! - `add-const-into-bias`: `conv(x, W, b) + k` is `conv(x, W, b + k)` likewise.
//! - `activation-into-producer`: `act(conv(...))` is a [`FusedConv`] with that activation
//!   (also ConvTranspose, Gemm and InstanceNormalization).
//! - `residual-into-conv`: `conv(...) + r` with `r` of the output's type is a [`FusedConv`]
//!   adding `r` before its (later) activation (also InstanceNormalization, as in style
//!   transfer's residual blocks).

use super::{Builder, FnRule, per_channel};
use crate::derived::Derived;
use crate::lang::ENode;
use egg::Id;
use hetc_ir::ops::{
    Binary, BinaryKind, FusedConv, FusedConvTranspose, FusedGemm, FusedInstanceNorm, Gemm, is_epilogue_activation,
};
use hetc_ir::{DType, Op};

fn is_binary(op: &Op, kind: BinaryKind) -> bool {
    matches!(op, Op::Binary(b) if b.kind == kind)
}

pub(crate) fn batch_norm_to_affine() -> FnRule {
    FnRule { name: "batch-norm-to-affine", filter: |op| matches!(op, Op::BatchNorm(_)), apply: batch_norm }
}

fn batch_norm(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    let Op::BatchNorm(bn) = op else { return None };
    let [x, gamma, beta, mean, var] = node.children[..] else { return None };
    if ![gamma, beta, mean, var].iter().all(|&c| b.is_const(c)) {
        return None;
    }
    let xt = b.ty(x)?;
    if xt.dtype != DType::F32 || xt.rank() < 2 {
        return None;
    }
    let scale = b.derived(Derived::BnScale { epsilon_bits: bn.epsilon.to_bits() }, vec![gamma, var])?;
    let shift = b.derived(Derived::BnShift, vec![beta, mean, scale])?;
    // `[C, 1, ...]` broadcasts along axis 1 of `[N, C, ...]`.
    let mut shape = vec![xt.shape[1]];
    shape.resize(xt.rank() - 1, 1);
    let scale = b.derived(Derived::Reshape { shape: shape.clone() }, vec![scale])?;
    let shift = b.derived(Derived::Reshape { shape }, vec![shift])?;
    let name = b.name(class);
    let mul = b.op(Op::Binary(Binary { kind: BinaryKind::Mul }), vec![x, scale], format!("{name}/scale"))?;
    let add = b.op(Op::Binary(Binary { kind: BinaryKind::Add }), vec![mul, shift], name)?;
    Some(vec![add])
}

/// The (producer, constant) operand pairs of a commutative binary node: the producer is
/// computed, the constant per output channel of it.
fn producer_and_constant(b: &Builder<'_>, node: &ENode) -> Vec<(Id, Id)> {
    let [l, r] = node.children[..] else { return Vec::new() };
    [(l, r), (r, l)]
        .into_iter()
        .filter(|&(p, k)| {
            !b.is_const(p)
                && b.is_const(k)
                && matches!((b.ty(p), b.ty(k)), (Some(pt), Some(kt))
                    if kt.dtype == DType::F32 && pt.dtype == DType::F32 && per_channel(&kt.shape, &pt.shape))
        })
        .collect()
}

pub(crate) fn mul_const_into_weights() -> FnRule {
    FnRule { name: "mul-const-into-weights", filter: |op| is_binary(op, BinaryKind::Mul), apply: mul_into }
}

fn mul_into(b: &mut Builder<'_>, _class: Id, node: &ENode, _op: &Op) -> Option<Vec<Id>> {
    let mut out = Vec::new();
    for (p, k) in producer_and_constant(b, node) {
        let pt = b.ty(p)?;
        for (pn, pop) in b.ops_in(p) {
            // The weight axis holding the output channels, and the new op.
            let (axis, op) = match &pop {
                Op::Conv(_) => (0, pop.clone()),
                Op::ConvTranspose(ct) if ct.conv.group == 1 => (1, pop.clone()),
                Op::Gemm(g) if pt.rank() == 2 => (if g.trans_b { 0 } else { 1 }, pop.clone()),
                _ => continue,
            };
            let (x, w) = (pn.children[0], pn.children[1]);
            let bias = b.input(&pn, 2);
            let m = pt.shape[1];
            let Some(kv) = b.derived(Derived::ChannelVector { len: m }, vec![k]) else { continue };
            let Some(w) = b.derived(Derived::ScaleAxis { axis }, vec![w, kv]) else { continue };
            let mut children = vec![x, w];
            if let Some(bias) = bias {
                let ok = b.ty(bias).is_some_and(|t| per_channel(&t.shape, &pt.shape) || t.shape == [m]);
                let Some(bv) = ok.then(|| b.derived(Derived::ChannelVector { len: m }, vec![bias])).flatten() else {
                    continue;
                };
                let Some(bias) = b.derived(Derived::MulVec, vec![bv, kv]) else { continue };
                children.push(bias);
            }
            let name = b.node_name(&pn, p);
            if let Some(id) = b.op(op, children, name) {
                out.push(id);
            }
        }
    }
    Some(out)
}

pub(crate) fn add_const_into_bias() -> FnRule {
    FnRule { name: "add-const-into-bias", filter: |op| is_binary(op, BinaryKind::Add), apply: add_into }
}

fn add_into(b: &mut Builder<'_>, _class: Id, node: &ENode, _op: &Op) -> Option<Vec<Id>> {
    let mut out = Vec::new();
    for (p, k) in producer_and_constant(b, node) {
        let pt = b.ty(p)?;
        for (pn, pop) in b.ops_in(p) {
            let op = match &pop {
                Op::Conv(_) | Op::ConvTranspose(_) => pop.clone(),
                // `beta * C'` must be `beta * C + k`: only with beta 1 or without C.
                Op::Gemm(g) if pt.rank() == 2 && (g.beta == 1.0 || b.input(&pn, 2).is_none()) => {
                    Op::Gemm(Gemm { beta: 1.0, ..*g })
                }
                _ => continue,
            };
            let m = pt.shape[1];
            let Some(kv) = b.derived(Derived::ChannelVector { len: m }, vec![k]) else { continue };
            let bias = match b.input(&pn, 2) {
                None => Some(kv),
                Some(bias) => {
                    let ok = b.ty(bias).is_some_and(|t| per_channel(&t.shape, &pt.shape) || t.shape == [m]);
                    let bv = ok.then(|| b.derived(Derived::ChannelVector { len: m }, vec![bias])).flatten();
                    bv.and_then(|bv| b.derived(Derived::AddVec, vec![bv, kv]))
                }
            };
            let Some(bias) = bias else { continue };
            let name = b.node_name(&pn, p);
            if let Some(id) = b.op(op, vec![pn.children[0], pn.children[1], bias], name) {
                out.push(id);
            }
        }
    }
    Some(out)
}

pub(crate) fn activation_into_producer() -> FnRule {
    FnRule {
        name: "activation-into-producer",
        filter: |op| matches!(op, Op::Unary(u) if is_epilogue_activation(&u.kind)),
        apply: activation_into,
    }
}

fn activation_into(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    let Op::Unary(u) = op else { return None };
    let act = Some(u.kind);
    let p = node.children[0];
    if b.ty(p)?.dtype != DType::F32 {
        return None;
    }
    let mut out = Vec::new();
    for (pn, pop) in b.ops_in(p) {
        let name = format!("{}+{}", b.node_name(&pn, p), b.node_name(node, class));
        let has_bias = b.input(&pn, 2).is_some();
        let (fused, children) = match pop {
            Op::Conv(conv) => {
                let children = pn.children[..2 + has_bias as usize].to_vec();
                (Op::FusedConv(FusedConv { conv, has_bias, has_residual: false, activation: act }), children)
            }
            Op::FusedConv(f) if f.activation.is_none() => {
                (Op::FusedConv(FusedConv { activation: act, ..f }), pn.children.clone())
            }
            Op::ConvTranspose(conv) => {
                let children = pn.children[..2 + has_bias as usize].to_vec();
                (Op::FusedConvTranspose(FusedConvTranspose { conv, has_bias, activation: act }), children)
            }
            Op::FusedConvTranspose(f) if f.activation.is_none() => {
                (Op::FusedConvTranspose(FusedConvTranspose { activation: act, ..f }), pn.children.clone())
            }
            Op::Gemm(gemm) => (Op::FusedGemm(FusedGemm { gemm, activation: u.kind }), pn.children.clone()),
            Op::InstanceNorm(norm) => (
                Op::FusedInstanceNorm(FusedInstanceNorm { norm, has_residual: false, activation: act }),
                pn.children.clone(),
            ),
            Op::FusedInstanceNorm(f) if f.activation.is_none() => {
                (Op::FusedInstanceNorm(FusedInstanceNorm { activation: act, ..f }), pn.children.clone())
            }
            _ => continue,
        };
        if let Some(id) = b.op(fused, children, name) {
            out.push(id);
        }
    }
    Some(out)
}

pub(crate) fn residual_into_conv() -> FnRule {
    FnRule { name: "residual-into-conv", filter: |op| is_binary(op, BinaryKind::Add), apply: residual_into }
}

fn residual_into(b: &mut Builder<'_>, class: Id, node: &ENode, _op: &Op) -> Option<Vec<Id>> {
    let [l, r] = node.children[..] else { return None };
    let mut out = Vec::new();
    for (p, res) in [(l, r), (r, l)] {
        let (Some(pt), Some(rt)) = (b.ty(p), b.ty(res)) else { continue };
        if pt != rt || pt.dtype != DType::F32 || b.is_const(p) {
            continue;
        }
        for (pn, pop) in b.ops_in(p) {
            let name = format!("{}+{}", b.node_name(&pn, p), b.node_name(node, class));
            let has_bias = b.input(&pn, 2).is_some();
            let (fused, mut children) = match pop {
                Op::Conv(conv) => (
                    Op::FusedConv(FusedConv { conv, has_bias, has_residual: true, activation: None }),
                    pn.children[..2 + has_bias as usize].to_vec(),
                ),
                Op::FusedConv(f) if !f.has_residual && f.activation.is_none() => {
                    (Op::FusedConv(FusedConv { has_residual: true, ..f }), pn.children.clone())
                }
                Op::InstanceNorm(norm) => (
                    Op::FusedInstanceNorm(FusedInstanceNorm { norm, has_residual: true, activation: None }),
                    pn.children.clone(),
                ),
                _ => continue,
            };
            children.push(res);
            if let Some(id) = b.op(fused, children, name) {
                out.push(id);
            }
        }
    }
    Some(out)
}
