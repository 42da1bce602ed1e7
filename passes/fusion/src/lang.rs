//! The IR as an egg language.
//!
//! An e-node is an operator key ([`FOp`]) and its children (e-class ids), one per input slot.
//! Operators with attributes are interned: `FOp::Op(i)` is the `i`-th distinct IR [`Op`]
//! (compared by their attributes), so e-nodes are small, hashable and never hold weights.
//! Weights are `FOp::Const(i)`, an index into the analysis's constant table: vgg16's 553 MB of
//! weights are referenced, never copied into e-nodes.
//!
//! [`Op`]: hetc_ir::Op

use egg::{Id, Language};

/// What an e-node computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FOp {
    /// Graph input `i` (in declaration order).
    Input(u32),
    /// Constant `i` of the analysis's table.
    Const(u32),
    /// Interned IR op `i`; its children are its input slots.
    Op(u32),
    /// Output `slot` of a multi-output op (the only child).
    Proj(u32),
    /// Interned compile-time derivation `i` from constants ([`crate::derived::Derived`]): folded
    /// weights and biases, evaluated only for what extraction keeps.
    Derived(u32),
    /// An optional input slot left unconnected.
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ENode {
    pub op: FOp,
    pub children: Vec<Id>,
}

impl ENode {
    pub fn leaf(op: FOp) -> Self {
        ENode { op, children: Vec::new() }
    }

    pub fn new(op: FOp, children: Vec<Id>) -> Self {
        ENode { op, children }
    }
}

impl Language for ENode {
    type Discriminant = FOp;

    fn discriminant(&self) -> FOp {
        self.op
    }

    fn matches(&self, other: &Self) -> bool {
        self.op == other.op && self.children.len() == other.children.len()
    }

    fn children(&self) -> &[Id] {
        &self.children
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.children
    }
}
