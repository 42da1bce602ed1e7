//! Elementwise chains.
//!
//! - `hard-swish`: `x * HardSigmoid{1/6, 1/2}(x)` and `x * Clip{0,6}(x + 3) / 6` are
//!   `HardSwish(x)` (paddle2onnx writes it both ways), which a convolution can take as its
//!   epilogue.
//! - `elementwise-chain`: an elementwise op (or chain) whose operands are computed by
//!   elementwise ops (or chains) becomes one [`ElementwiseChain`] with the operands' programs
//!   inlined. Each application inlines either one operand or all of them, so a chain of `k`
//!   ops is fully merged after `k` iterations; whether a merge pays (an operand used elsewhere
//!   is then computed twice) is extraction's decision.

use super::{Builder, FnRule};
use crate::lang::ENode;
use egg::Id;
use hetc_ir::ops::{
    BinaryKind, ChainInstr, ElementwiseChain, MAX_CHAIN_INPUTS, MAX_CHAIN_INSTRS, Unary, UnaryKind, is_chain_binary,
    is_chain_unary,
};
use hetc_ir::{DType, Op};

pub(crate) fn hard_swish() -> FnRule {
    FnRule {
        name: "hard-swish",
        filter: |op| matches!(op, Op::Binary(b) if b.kind == BinaryKind::Mul),
        apply: hard_swish_apply,
    }
}

/// The value of a constant class holding one element.
fn scalar(b: &Builder<'_>, c: Id) -> Option<f64> {
    b.egraph[c].nodes.iter().find_map(|n| match n.op {
        crate::lang::FOp::Const(i) => {
            let t = &b.egraph.analysis.consts[i as usize];
            (t.numel() == 1 && t.dtype().is_float()).then(|| t.get_f64(0))
        }
        _ => None,
    })
}

/// The operand pairs of a commutative binary node of `kind` in class `c`.
fn operands(b: &Builder<'_>, c: Id, kind: BinaryKind) -> Vec<(Id, Id)> {
    b.ops_in(c)
        .into_iter()
        .filter(|(_, op)| matches!(op, Op::Binary(bi) if bi.kind == kind))
        .flat_map(|(n, _)| [(n.children[0], n.children[1]), (n.children[1], n.children[0])])
        .collect()
}

pub(crate) fn hard_swish_div() -> FnRule {
    FnRule {
        name: "hard-swish-div",
        filter: |op| matches!(op, Op::Binary(b) if b.kind == BinaryKind::Div),
        apply: hard_swish_div_apply,
    }
}

/// `x * Clip{0, 6}(x + 3) / 6`.
fn hard_swish_div_apply(b: &mut Builder<'_>, class: Id, node: &ENode, _op: &Op) -> Option<Vec<Id>> {
    let [m, six] = node.children[..] else { return None };
    if scalar(b, six)? != 6.0 {
        return None;
    }
    let mut out = Vec::new();
    for (x, clipped) in operands(b, m, BinaryKind::Mul) {
        for (cn, cop) in b.ops_in(clipped) {
            let Op::Unary(Unary { kind: UnaryKind::Clip { min, max } }) = cop else { continue };
            if min != 0.0 || max != 6.0 {
                continue;
            }
            let matched = operands(b, cn.children[0], BinaryKind::Add)
                .into_iter()
                .any(|(y, three)| b.egraph.find(y) == b.egraph.find(x) && scalar(b, three) == Some(3.0));
            if matched && b.ty(x).is_some_and(|t| t.dtype == DType::F32) {
                let name = b.name(class);
                out.extend(b.op(Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![x], name));
            }
        }
    }
    Some(out)
}

fn hard_swish_apply(b: &mut Builder<'_>, class: Id, node: &ENode, _op: &Op) -> Option<Vec<Id>> {
    let [l, r] = node.children[..] else { return None };
    let mut out = Vec::new();
    for (x, h) in [(l, r), (r, l)] {
        for (hn, hop) in b.ops_in(h) {
            let Op::Unary(Unary { kind: UnaryKind::HardSigmoid { alpha, beta } }) = hop else { continue };
            if (alpha - 1.0 / 6.0).abs() < 1e-6 && (beta - 0.5).abs() < 1e-6 && b.egraph.find(hn.children[0]) == x {
                let name = b.name(class);
                out.extend(b.op(Op::Unary(Unary { kind: UnaryKind::HardSwish }), vec![x], name));
            }
        }
    }
    Some(out)
}

/// The program of one elementwise e-node over its children, if it is chainable.
fn program_of(op: &Op, n_children: usize) -> Option<Vec<ChainInstr>> {
    match op {
        Op::Unary(u) if is_chain_unary(&u.kind) && n_children == 1 => {
            Some(vec![ChainInstr::Unary { kind: u.kind, x: 0 }])
        }
        Op::Binary(bi) if is_chain_binary(&bi.kind) && n_children == 2 => {
            Some(vec![ChainInstr::Binary { kind: bi.kind, a: 0, b: 1 }])
        }
        Op::ElementwiseChain(c) => Some(c.program.clone()),
        _ => None,
    }
}

fn chainable(op: &Op) -> bool {
    match op {
        Op::Unary(u) => is_chain_unary(&u.kind),
        Op::Binary(b) => is_chain_binary(&b.kind),
        Op::ElementwiseChain(_) => true,
        _ => false,
    }
}

pub(crate) fn elementwise_chain() -> FnRule {
    FnRule { name: "elementwise-chain", filter: chainable, apply: chain_apply }
}

/// A program over input classes.
#[derive(Clone)]
struct Prog {
    program: Vec<ChainInstr>,
    inputs: Vec<Id>,
}

/// The largest chainable program computing class `c`, if it is computed (not a constant) in
/// `f32`.
fn best_program(b: &Builder<'_>, c: Id) -> Option<Prog> {
    if b.is_const(c) || b.ty(c)?.dtype != DType::F32 {
        return None;
    }
    b.ops_in(c)
        .into_iter()
        .filter_map(|(n, op)| {
            let program = program_of(&op, n.children.len())?;
            Some(Prog { program, inputs: n.children.iter().map(|&x| b.egraph.find(x)).collect() })
        })
        .max_by_key(|p| (p.program.len(), std::cmp::Reverse(p.inputs.clone())))
}

/// `root` with the operands in `expand` replaced by their programs.
fn inline(root: &Prog, expand: &[(usize, Prog)]) -> Option<Prog> {
    let mut inputs: Vec<Id> = Vec::new();
    let slot = |id: Id, inputs: &mut Vec<Id>| match inputs.iter().position(|&x| x == id) {
        Some(i) => i,
        None => {
            inputs.push(id);
            inputs.len() - 1
        }
    };
    // Input registers first: the root's kept operands and every inlined program's inputs.
    let mut root_slot: Vec<Option<usize>> = vec![None; root.inputs.len()];
    for (i, &id) in root.inputs.iter().enumerate() {
        if !expand.iter().any(|(e, _)| *e == i) {
            root_slot[i] = Some(slot(id, &mut inputs));
        }
    }
    let sub_slots: Vec<Vec<usize>> =
        expand.iter().map(|(_, p)| p.inputs.iter().map(|&id| slot(id, &mut inputs)).collect()).collect();
    let n = inputs.len();
    if n > MAX_CHAIN_INPUTS {
        return None;
    }
    let mut program: Vec<ChainInstr> = Vec::new();
    let remap = |instr: &ChainInstr, reg: &dyn Fn(usize) -> usize| match *instr {
        ChainInstr::Unary { kind, x } => ChainInstr::Unary { kind, x: reg(x) },
        ChainInstr::Binary { kind, a, b } => ChainInstr::Binary { kind, a: reg(a), b: reg(b) },
    };
    for ((i, sub), slots) in expand.iter().zip(&sub_slots) {
        let base = n + program.len();
        let n_sub = sub.inputs.len();
        for instr in &sub.program {
            let reg = |r: usize| if r < n_sub { slots[r] } else { base + (r - n_sub) };
            program.push(remap(instr, &reg));
        }
        root_slot[*i] = Some(n + program.len() - 1);
    }
    let base = n + program.len();
    let n_root = root.inputs.len();
    for instr in &root.program {
        let reg = |r: usize| {
            if r < n_root { root_slot[r].expect("every operand has a register") } else { base + (r - n_root) }
        };
        program.push(remap(instr, &reg));
    }
    (program.len() <= MAX_CHAIN_INSTRS).then_some(Prog { program, inputs })
}

fn chain_apply(b: &mut Builder<'_>, class: Id, node: &ENode, op: &Op) -> Option<Vec<Id>> {
    if b.ty(class)?.dtype != DType::F32 {
        return None;
    }
    let root = Prog { program: program_of(op, node.children.len())?, inputs: node.children.clone() };
    // Only the largest program of a class grows further: smaller ones would only rebuild
    // chains it already has.
    if let Op::ElementwiseChain(_) = op
        && best_program(b, class).is_some_and(|best| best.program.len() > root.program.len())
    {
        return None;
    }
    let expandable: Vec<(usize, Prog)> = root
        .inputs
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c != b.egraph.find(class))
        .filter_map(|(i, &c)| best_program(b, c).map(|p| (i, p)))
        .collect();
    let mut variants: Vec<Vec<(usize, Prog)>> = expandable.iter().map(|e| vec![e.clone()]).collect();
    if expandable.len() > 1 {
        variants.push(expandable.clone());
    }
    let name = b.name(class);
    let mut out = Vec::new();
    for v in variants {
        let Some(p) = inline(&root, &v) else { continue };
        let chain = Op::ElementwiseChain(ElementwiseChain { program: p.program });
        out.extend(b.op(chain, p.inputs, name.clone()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_remaps_registers_and_shares_inputs() {
        // root: r0 * r1 where r1 = relu(r0 + c): x * relu(x + c).
        let (x, c, y) = (Id::from(1usize), Id::from(2usize), Id::from(3usize));
        let root = Prog { program: vec![ChainInstr::Binary { kind: BinaryKind::Mul, a: 0, b: 1 }], inputs: vec![x, y] };
        let sub = Prog {
            program: vec![
                ChainInstr::Binary { kind: BinaryKind::Add, a: 0, b: 1 },
                ChainInstr::Unary { kind: UnaryKind::Relu, x: 2 },
            ],
            inputs: vec![x, c],
        };
        let p = inline(&root, &[(1, sub)]).unwrap();
        assert_eq!(p.inputs, vec![x, c]);
        assert_eq!(
            p.program,
            vec![
                ChainInstr::Binary { kind: BinaryKind::Add, a: 0, b: 1 },
                ChainInstr::Unary { kind: UnaryKind::Relu, x: 2 },
                ChainInstr::Binary { kind: BinaryKind::Mul, a: 0, b: 3 },
            ]
        );
    }
}
