//! Data movement that cancels out.
//!
//! - `transpose-pairs`: two Transposes compose into one, or into nothing when they are inverse;
//!   a Transpose that moves only axes of size 1 is a Reshape (which costs nothing: a view).
//! - `reshape-pairs`: two Reshapes are one; a Reshape to the shape its input already has is
//!   nothing.

use super::{Builder, FnRule};
use crate::lang::ENode;
use egg::Id;
use hetc_ir::Op;
use hetc_ir::ops::{Reshape, Transpose};

pub(crate) fn transpose_pairs() -> FnRule {
    FnRule { name: "transpose-pairs", filter: |op| matches!(op, Op::Transpose(_)), apply: transposes }
}

fn transposes(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    let Op::Transpose(t) = op else { return None };
    let x = node.children[0];
    let (xt, out_t) = (b.ty(x)?, b.ty(class)?);
    let name = b.name(class);
    let mut out = Vec::new();
    // Only size-1 axes move: the non-unit axes keep their order.
    let kept: Vec<usize> = t.perm.iter().copied().filter(|&p| xt.shape[p] != 1).collect();
    if kept.windows(2).all(|w| w[0] < w[1]) {
        out.extend(b.op(Op::Reshape(Reshape { shape: out_t.shape.clone() }), vec![x], name.clone()));
    }
    for (inner, op) in b.ops_in(x) {
        let Op::Transpose(first) = op else { continue };
        // y = t(first(z)): y[i] = z[first[t[i]]].
        let perm: Vec<usize> = t.perm.iter().map(|&i| first.perm[i]).collect();
        let z = inner.children[0];
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            out.push(z);
        } else {
            out.extend(b.op(Op::Transpose(Transpose { perm }), vec![z], name.clone()));
        }
    }
    Some(out)
}

pub(crate) fn reshape_pairs() -> FnRule {
    FnRule { name: "reshape-pairs", filter: |op| matches!(op, Op::Reshape(_)), apply: reshapes }
}

fn reshapes(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    let Op::Reshape(r) = op else { return None };
    let x = node.children[0];
    if b.ty(x)?.shape == r.shape {
        return Some(vec![x]);
    }
    let name = b.name(class);
    let mut out = Vec::new();
    for (inner, op) in b.ops_in(x) {
        let Op::Reshape(_) = op else { continue };
        let z = inner.children[0];
        if b.ty(z).is_some_and(|t| t.shape == r.shape) {
            out.push(z);
        } else {
            out.extend(b.op(Op::Reshape(r.clone()), vec![z], name.clone()));
        }
    }
    Some(out)
}
