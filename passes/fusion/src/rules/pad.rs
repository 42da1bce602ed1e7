//! Pad folded into the window op that reads it.
//!
//! - `pad-into-conv`: a constant-zero Pad of the spatial axes before a convolution is the
//!   convolution's own zero padding.
//! - `pad-into-pool`: before a MaxPool, a constant Pad of `-inf` is MaxPool's own padding, and
//!   so is a zero Pad when the padded values are provably non-negative (every window keeps at
//!   least one real element, whose value is then >= 0). A zero Pad before a MaxPool of values
//!   that may be negative is *not* equivalent (tiny_yolov2 has one: onnxruntime's Pad fusion
//!   gets it wrong) and stays. Before an AveragePool, a zero Pad is padding counted in the
//!   average (`count_include_pad`), if the pool's own padding was zero or counted too.
//!   Only floor-mode, undilated pools: ceil mode treats its extra window differently.

use super::{Builder, FnRule};
use crate::lang::ENode;
use egg::Id;
use hetc_ir::Op;
use hetc_ir::ops::{Conv, Pad, PadMode, Pool, PoolKind};

/// The spatial begin and end pads of a constant Pad of a rank-`r` tensor that pads nothing
/// but spatial axes (2..) and never crops.
fn spatial_pads(pad: &Pad, r: usize) -> Option<Vec<usize>> {
    if pad.mode != PadMode::Constant || pad.pads.len() != 2 * r || r < 3 {
        return None;
    }
    if pad.pads.iter().any(|&p| p < 0)
        || pad.pads[0] != 0
        || pad.pads[1] != 0
        || pad.pads[r] != 0
        || pad.pads[r + 1] != 0
    {
        return None;
    }
    let s = r - 2;
    Some((0..2 * s).map(|i| pad.pads[if i < s { 2 + i } else { r + 2 + (i - s) }] as usize).collect())
}

fn add_pads(own: &[usize], extra: &[usize]) -> Vec<usize> {
    own.iter().zip(extra).map(|(a, b)| a + b).collect()
}

/// The Pad nodes computing class `x`, with their input and spatial pads.
fn pads_of(b: &Builder<'_>, x: Id) -> Vec<(Id, Pad, Vec<usize>)> {
    let Some(r) = b.ty(x).map(|t| t.rank()) else { return Vec::new() };
    b.ops_in(x)
        .into_iter()
        .filter_map(|(n, op)| match op {
            Op::Pad(p) => spatial_pads(&p, r).map(|s| (n.children[0], p, s)),
            _ => None,
        })
        .collect()
}

pub(crate) fn pad_into_conv() -> FnRule {
    FnRule { name: "pad-into-conv", filter: |op| matches!(op, Op::Conv(_)), apply: pad_conv }
}

fn pad_conv(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    let Op::Conv(conv) = op else { return None };
    let mut out = Vec::new();
    for (x, pad, extra) in pads_of(b, node.children[0]) {
        if pad.value != 0.0 || extra.len() != conv.pads.len() {
            continue;
        }
        let folded = Conv { pads: add_pads(&conv.pads, &extra), ..conv.clone() };
        let mut children = node.children.clone();
        children[0] = x;
        let name = b.name(class);
        out.extend(b.op(Op::Conv(folded), children, name));
    }
    Some(out)
}

pub(crate) fn pad_into_pool() -> FnRule {
    FnRule {
        name: "pad-into-pool",
        filter: |op| matches!(op, Op::Pool(p) if !p.ceil_mode && p.dilations.iter().all(|&d| d == 1)),
        apply: pad_pool,
    }
}

fn pad_pool(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    let Op::Pool(pool) = op else { return None };
    let mut out = Vec::new();
    for (x, pad, extra) in pads_of(b, node.children[0]) {
        if extra.len() != pool.pads.len() {
            continue;
        }
        let kind = match pool.kind {
            PoolKind::Max if pad.value == f64::NEG_INFINITY => PoolKind::Max,
            PoolKind::Max if pad.value == 0.0 && b.data(x).nonneg => PoolKind::Max,
            PoolKind::Average { count_include_pad }
                if pad.value == 0.0 && (count_include_pad || pool.pads.iter().all(|&p| p == 0)) =>
            {
                PoolKind::Average { count_include_pad: true }
            }
            _ => continue,
        };
        let folded = Pool { kind, pads: add_pads(&pool.pads, &extra), ..pool.clone() };
        let name = b.name(class);
        // Pool's shape inference refuses pads as large as the window.
        out.extend(b.op(Op::Pool(folded), vec![x], name));
    }
    Some(out)
}
