//! The rewrite rules, as egg [`Rewrite`]s.
//!
//! A rule here is a Rust function rather than a pattern: it looks at one e-node whose op its
//! filter accepts (the searcher reports one match per such node, with the node's op and
//! children in the substitution), inspects the e-classes around it through the analysis
//! (types, constness, non-negativity) and adds equivalent e-nodes. Every addition goes
//! through [`Builder`], which runs the IR's shape inference on the new node first and adds
//! nothing if it fails; every union goes through [`FnRule::apply_one`], which refuses it
//! unless both sides have the same types. So each rewrite is shape-checked twice: by its own
//! conditions and by the analysis.

mod chain;
mod conv;
mod movement;
mod pad;

use crate::analysis::{Data, EG, FusionAnalysis};
use crate::derived::Derived;
use crate::lang::{ENode, FOp};
use egg::{Applier, Id, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};
use hetc_ir::{Op, TensorType};

/// A match's substitution: variable 0 holds the op index, variables 1.. the children.
fn encode(node: &ENode) -> Option<Subst> {
    let FOp::Op(i) = node.op else { return None };
    let mut s = Subst::with_capacity(node.children.len() + 1);
    s.insert(Var::from_u32(0), Id::from(i as usize));
    for (k, &c) in node.children.iter().enumerate() {
        s.insert(Var::from_u32(k as u32 + 1), c);
    }
    Some(s)
}

fn decode(egraph: &EG, s: &Subst) -> ENode {
    let op = usize::from(s[Var::from_u32(0)]) as u32;
    let mut children = Vec::new();
    let mut k = 1;
    while let Some(&c) = s.get(Var::from_u32(k)) {
        children.push(egraph.find(c));
        k += 1;
    }
    ENode::new(FOp::Op(op), children)
}

/// What a rule function sees: the e-graph, the matched node's class, the node and its op.
pub(crate) type RuleFn = fn(&mut Builder<'_>, Id, &ENode, &Op) -> Option<Vec<Id>>;

/// A rule as a searcher (nodes whose op `filter` accepts) and an applier (`apply`).
#[derive(Clone, Copy)]
pub(crate) struct FnRule {
    pub name: &'static str,
    pub filter: fn(&Op) -> bool,
    pub apply: RuleFn,
}

impl Searcher<ENode, FusionAnalysis> for FnRule {
    fn search_eclass_with_limit(&self, egraph: &EG, eclass: Id, limit: usize) -> Option<SearchMatches<'_, ENode>> {
        let class = &egraph[eclass];
        if !class.data.ok || class.data.constant {
            return None;
        }
        let substs: Vec<Subst> = class
            .nodes
            .iter()
            .filter(|n| matches!(n.op, FOp::Op(i) if (self.filter)(&egraph.analysis.ops[i as usize])))
            .filter_map(encode)
            .take(limit)
            .collect();
        (!substs.is_empty()).then_some(SearchMatches { eclass, substs, ast: None })
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

impl Applier<ENode, FusionAnalysis> for FnRule {
    fn apply_one(
        &self,
        egraph: &mut EG,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<ENode>>,
        _rule_name: Symbol,
    ) -> Vec<Id> {
        let node = decode(egraph, subst);
        let FOp::Op(i) = node.op else { return Vec::new() };
        let op = egraph.analysis.ops[i as usize].clone();
        let candidates = (self.apply)(&mut Builder { egraph }, eclass, &node, &op).unwrap_or_default();
        let mut changed = Vec::new();
        for id in candidates {
            let (want, got) = (&egraph[eclass].data, &egraph[id].data);
            if !(want.ok && got.ok && want.types == got.types) {
                egraph.analysis.refused_unions += 1;
                continue;
            }
            if egraph.union(eclass, id) {
                *egraph.analysis.applied.entry(self.name).or_default() += 1;
                changed.push(id);
            }
        }
        changed
    }
}

/// Adds shape-checked e-nodes for the rules.
pub(crate) struct Builder<'a> {
    pub egraph: &'a mut EG,
}

impl Builder<'_> {
    pub fn data(&self, id: Id) -> &Data {
        &self.egraph[id].data
    }

    /// The single value type of a class.
    pub fn ty(&self, id: Id) -> Option<TensorType> {
        self.data(id).ty().cloned()
    }

    pub fn is_const(&self, id: Id) -> bool {
        self.data(id).constant
    }

    /// Whether a class is an unconnected optional input.
    pub fn is_absent(&self, id: Id) -> bool {
        self.egraph[id].nodes.iter().any(|n| n.op == FOp::Absent)
    }

    /// Child `i` of `node`, unless absent.
    pub fn input(&self, node: &ENode, i: usize) -> Option<Id> {
        node.children.get(i).copied().filter(|&c| !self.is_absent(c))
    }

    pub fn name(&self, id: Id) -> String {
        self.data(id).name.clone().unwrap_or_else(|| "fused".into())
    }

    /// The name of an e-node (an original node's name), else its class's.
    pub fn node_name(&self, node: &ENode, class: Id) -> String {
        self.egraph.analysis.node_names.get(node).cloned().unwrap_or_else(|| self.name(class))
    }

    /// The e-nodes of a class whose op is an IR op, with that op.
    pub fn ops_in(&self, id: Id) -> Vec<(ENode, Op)> {
        self.egraph[id]
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                FOp::Op(i) => Some((n.clone(), self.egraph.analysis.ops[i as usize].clone())),
                _ => None,
            })
            .collect()
    }

    fn add_named(&mut self, node: ENode, name: String) -> Id {
        let value = name.clone();
        self.egraph.analysis.pending_name = Some((name.clone(), value, None));
        let id = self.egraph.add(node.clone());
        self.egraph.analysis.pending_name = None;
        self.egraph.analysis.node_names.entry(node).or_insert(name);
        id
    }

    /// Adds `op` over `children` if shape inference accepts it.
    pub fn op(&mut self, op: Op, children: Vec<Id>, name: String) -> Option<Id> {
        let types: Vec<Option<TensorType>> = children
            .iter()
            .map(|&c| {
                let d = self.data(c);
                if d.ok && d.types.len() <= 1 { Ok(d.types.first().cloned()) } else { Err(()) }
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let refs: Vec<Option<&TensorType>> = types.iter().map(Option::as_ref).collect();
        op.infer(&refs).ok()?;
        let i = self.egraph.analysis.intern_op(op);
        Some(self.add_named(ENode::new(FOp::Op(i), children), name))
    }

    /// Adds a compile-time derivation from constant classes, if its inputs fit.
    pub fn derived(&mut self, d: Derived, children: Vec<Id>) -> Option<Id> {
        let types: Vec<TensorType> = children.iter().map(|&c| self.ty(c)).collect::<Option<_>>()?;
        if !children.iter().all(|&c| self.is_const(c)) {
            return None;
        }
        d.infer(&types.iter().collect::<Vec<_>>())?;
        let i = self.egraph.analysis.intern_derived(d);
        Some(self.egraph.add(ENode::new(FOp::Derived(i), children)))
    }
}

/// Whether `k` broadcast against `out` (`[N, C, ...]` or Gemm's `[M, N]`) varies at most
/// along axis 1: a per-output-channel (or scalar) operand, which leaves the output's shape
/// unchanged.
pub(crate) fn per_channel(k: &[usize], out: &[usize]) -> bool {
    if k.len() > out.len() || out.len() < 2 {
        return false;
    }
    let lead = out.len() - k.len();
    k.iter().enumerate().all(|(i, &d)| d == 1 || (lead + i == 1 && d == out[1]))
        && hetc_ir::broadcast_shapes(k, out).as_deref() == Some(out)
}

/// Every rule, in the order the runner tries them.
pub fn all() -> Vec<Rewrite<ENode, FusionAnalysis>> {
    let rules: Vec<FnRule> = vec![
        conv::batch_norm_to_affine(),
        conv::mul_const_into_weights(),
        conv::add_const_into_bias(),
        conv::activation_into_producer(),
        conv::residual_into_conv(),
        chain::hard_swish(),
        chain::hard_swish_div(),
        chain::elementwise_chain(),
        pad::pad_into_conv(),
        pad::pad_into_pool(),
        movement::transpose_pairs(),
        movement::reshape_pairs(),
    ];
    // A rule is its own searcher and applier.
    rules.into_iter().map(|r| Rewrite::new(r.name, r, r).expect("rules bind no variables")).collect()
}
