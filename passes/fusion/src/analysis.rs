//! The e-class analysis: every e-class carries the types of its value (shape and dtype, from
//! the IR's own shape inference), whether it is a compile-time constant, and whether its
//! values are provably non-negative. Rules read these to decide whether a rewrite is sound
//! (per-channel broadcasting, constness, a zero Pad before a MaxPool of non-negative values),
//! and [`crate::rules`] refuses any union whose two sides' types differ.

use crate::derived::Derived;
use crate::lang::{ENode, FOp};
use egg::{Analysis, DidMerge, EGraph, Id};
use hetc_ir::ops::{PoolKind, UnaryKind};
use hetc_ir::{Op, Tensor, TensorType};
use std::collections::HashMap;

pub type EG = EGraph<ENode, FusionAnalysis>;

/// What is known about one e-class.
#[derive(Debug, Clone)]
pub struct Data {
    /// Output types: one for a plain value, several for a multi-output op (read through
    /// `Proj`), none for an absent input or if inference failed (`ok` false).
    pub types: Vec<TensorType>,
    pub ok: bool,
    /// Computable at compile time (constants and derivations from them).
    pub constant: bool,
    /// Every value is `>= 0` (or NaN).
    pub nonneg: bool,
    /// Name of the first original node in the class, for the rebuilt graph.
    pub name: Option<String>,
    /// Name of the first original node's output value.
    pub value_name: Option<String>,
    /// Earliest position in the original graph's execution order of a node of this class:
    /// the rebuilt graph keeps that order (and so the memory planner's lifetimes) where it can.
    pub pos: Option<u32>,
}

impl Data {
    /// The single output type, if the class is a valid single value.
    pub fn ty(&self) -> Option<&TensorType> {
        match (&self.types[..], self.ok) {
            ([t], true) => Some(t),
            _ => None,
        }
    }

    fn failed() -> Self {
        Data { types: Vec::new(), ok: false, constant: false, nonneg: false, name: None, value_name: None, pos: None }
    }
}

/// Tables the e-nodes index into, and what the rules record as they go.
#[derive(Debug, Default)]
pub struct FusionAnalysis {
    pub ops: Vec<Op>,
    op_ids: HashMap<String, u32>,
    pub derived: Vec<Derived>,
    derived_ids: HashMap<Derived, u32>,
    pub consts: Vec<Tensor>,
    /// Per constant: all its values are `>= 0` (checked for small constants only).
    pub const_nonneg: Vec<bool>,
    pub input_types: Vec<TensorType>,
    /// Names of the e-nodes: the original node's, or what a rule called the node it built
    /// (keyed by the node as added; the first name wins).
    pub node_names: HashMap<ENode, String>,
    /// Name, value name and original position for the next node `make` sees, set by the
    /// builder.
    pub(crate) pending_name: Option<(String, String, Option<u32>)>,
    /// Rewrites refused because the two sides' types differed (a rule bug if ever non-zero).
    pub refused_unions: usize,
    /// How many unions each rule made.
    pub applied: HashMap<&'static str, usize>,
}

impl FusionAnalysis {
    pub fn intern_op(&mut self, op: Op) -> u32 {
        // Attributes are plain data (no weights: constants are never interned), so their Debug
        // text identifies an op; it also tells -0.0 from 0.0 and keeps NaN attributes equal.
        let key = format!("{op:?}");
        if let Some(&i) = self.op_ids.get(&key) {
            return i;
        }
        self.ops.push(op);
        let i = (self.ops.len() - 1) as u32;
        self.op_ids.insert(key, i);
        i
    }

    pub fn intern_derived(&mut self, d: Derived) -> u32 {
        if let Some(&i) = self.derived_ids.get(&d) {
            return i;
        }
        self.derived.push(d.clone());
        let i = (self.derived.len() - 1) as u32;
        self.derived_ids.insert(d, i);
        i
    }

    pub fn add_const(&mut self, t: Tensor) -> u32 {
        const CHECK_LIMIT: usize = 1 << 16;
        let nonneg =
            t.numel() <= CHECK_LIMIT && t.dtype().is_float() && t.to_f64_vec().iter().all(|v| *v >= 0.0 || v.is_nan());
        self.consts.push(t);
        self.const_nonneg.push(nonneg);
        (self.consts.len() - 1) as u32
    }
}

/// Whether `kind` only produces non-negative values.
fn unary_nonneg(kind: &UnaryKind, input_nonneg: bool) -> bool {
    match kind {
        UnaryKind::Relu
        | UnaryKind::Sigmoid
        | UnaryKind::HardSigmoid { .. }
        | UnaryKind::Softplus
        | UnaryKind::Abs
        | UnaryKind::Exp
        | UnaryKind::Sqrt => true,
        UnaryKind::Clip { min, .. } => *min >= 0.0,
        UnaryKind::ThresholdedRelu { alpha } => *alpha >= 0.0,
        UnaryKind::LeakyRelu { .. } | UnaryKind::Elu { .. } | UnaryKind::Celu { .. } | UnaryKind::Selu { .. } => false,
        UnaryKind::HardSwish | UnaryKind::Tanh | UnaryKind::Softsign | UnaryKind::Mish => false,
        UnaryKind::Floor | UnaryKind::Ceil | UnaryKind::Round => input_nonneg,
        _ => false,
    }
}

fn op_nonneg(op: &Op, children: &[&Data]) -> bool {
    let all = || children.iter().all(|d| d.nonneg || d.types.is_empty());
    match op {
        Op::Unary(u) => unary_nonneg(&u.kind, children[0].nonneg),
        Op::FusedConv(f) => f.activation.as_ref().is_some_and(|a| unary_nonneg(a, false)),
        Op::FusedConvTranspose(f) => f.activation.as_ref().is_some_and(|a| unary_nonneg(a, false)),
        Op::FusedGemm(f) => unary_nonneg(&f.activation, false),
        Op::FusedInstanceNorm(f) => f.activation.as_ref().is_some_and(|a| unary_nonneg(a, false)),
        Op::Pool(p) => match p.kind {
            PoolKind::Max | PoolKind::Average { .. } => children[0].nonneg,
        },
        Op::GlobalPool(_) | Op::Reshape(_) | Op::Transpose(_) | Op::Slice(_) | Op::Resize(_) | Op::Expand(_) => {
            children[0].nonneg
        }
        Op::Pad(p) => children[0].nonneg && p.value >= 0.0,
        Op::Concat(_) => all(),
        _ => false,
    }
}

impl Analysis<ENode> for FusionAnalysis {
    type Data = Data;

    fn make(egraph: &mut EG, enode: &ENode, _id: Id) -> Data {
        let names = egraph.analysis.pending_name.take();
        let children: Vec<&Data> = enode.children.iter().map(|&c| &egraph[c].data).collect();
        let a = &egraph.analysis;
        let mut data = match enode.op {
            FOp::Absent => Data { types: Vec::new(), ok: true, ..Data::failed() },
            FOp::Input(i) => Data { types: vec![a.input_types[i as usize].clone()], ok: true, ..Data::failed() },
            FOp::Const(i) => Data {
                types: vec![a.consts[i as usize].ty().clone()],
                ok: true,
                constant: true,
                nonneg: a.const_nonneg[i as usize],
                ..Data::failed()
            },
            FOp::Proj(slot) => match children[0].types.get(slot as usize) {
                Some(t) if children[0].ok => Data { types: vec![t.clone()], ok: true, ..Data::failed() },
                _ => Data::failed(),
            },
            FOp::Derived(d) => {
                let types: Option<Vec<&TensorType>> = children.iter().map(|c| c.ty()).collect();
                match types.and_then(|t| a.derived[d as usize].infer(&t)) {
                    Some(t) if children.iter().all(|c| c.constant) => {
                        Data { types: vec![t], ok: true, constant: true, ..Data::failed() }
                    }
                    _ => Data::failed(),
                }
            }
            FOp::Op(i) => {
                let op = &a.ops[i as usize];
                if children.iter().any(|c| !c.ok || c.types.len() > 1) {
                    Data::failed()
                } else {
                    let inputs: Vec<Option<&TensorType>> = children.iter().map(|c| c.types.first()).collect();
                    match op.infer(&inputs) {
                        Ok(types) => Data { nonneg: op_nonneg(op, &children), types, ok: true, ..Data::failed() },
                        Err(_) => Data::failed(),
                    }
                }
            }
        };
        if let Some((name, value, pos)) = names {
            data.name = Some(name);
            data.value_name = Some(value);
            data.pos = pos;
        }
        data
    }

    fn merge(&mut self, a: &mut Data, b: Data) -> DidMerge {
        let mut changed_a = false;
        if !a.ok && b.ok {
            a.types = b.types.clone();
            a.ok = true;
            changed_a = true;
        }
        if b.constant && !a.constant {
            a.constant = true;
            changed_a = true;
        }
        if b.nonneg && !a.nonneg {
            a.nonneg = true;
            changed_a = true;
        }
        if let Some(p) = b.pos
            && a.pos.is_none_or(|q| p < q)
        {
            a.pos = Some(p);
        }
        if a.name.is_none() && b.name.is_some() {
            a.name = b.name.clone();
            a.value_name = b.value_name.clone();
        }
        let changed_b = (a.constant && !b.constant) || (a.nonneg && !b.nonneg) || (a.ok && !b.ok);
        DidMerge(changed_a, changed_b)
    }
}
