//! What a processor can run: the [`OpSupport`] trait, implemented by declarative tables
//! ([`crate::table::SupportTable`], for the phones' GPUs, DSPs and NPUs) and by code
//! ([`CodeTable`], for processors whose support is exactly what hetc's own kernels implement).

use hetc_ir::{Graph, NodeId, Op, TensorType};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One IR node as a support table sees it: the op, the type of each input slot (`None` for an
/// unconnected optional input), which inputs are compile-time constants (weights), and the
/// output types.
#[derive(Debug, Clone)]
pub struct NodeView<'a> {
    pub name: &'a str,
    pub op: &'a Op,
    pub inputs: Vec<Option<&'a TensorType>>,
    /// Per input slot: whether its producer is a constant.
    pub const_inputs: Vec<bool>,
    pub outputs: &'a [TensorType],
}

impl<'a> NodeView<'a> {
    pub fn of(graph: &'a Graph, id: NodeId) -> Self {
        let node = graph.node(id);
        let producers = graph.inputs_of(id);
        NodeView {
            name: &node.name,
            op: &node.op,
            inputs: producers.iter().map(|p| p.map(|v| graph.value_type(v))).collect(),
            const_inputs: producers
                .iter()
                .map(|p| p.is_some_and(|v| matches!(graph.node(v.node).op, Op::Constant(_))))
                .collect(),
            outputs: &node.outputs,
        }
    }
}

/// How the question is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Treat the model as post-training quantized to 8 bits: tables whose rules accept only
    /// `q8` (8-bit quantized) tensors then accept `f32` ones. hetc itself has no INT8 pass
    /// yet; this answers "what would the DSP run once the model is quantized".
    pub assume_quantized: bool,
}

/// Whether a processor runs a node. Implementations are pure functions of the node.
pub trait OpSupport: Send + Sync {
    /// `Ok` if the processor runs `node`; otherwise the reason, one line.
    fn check(&self, node: &NodeView<'_>, options: CheckOptions) -> Result<(), String>;
    /// What the answers reproduce ("hetc's CPU kernels", "MACE's OpenCL kernels", ...).
    fn basis(&self) -> &str;
}

/// The signature of the compiler's code-based tables (`hetc_compile::support::cpu_supports`).
pub type KernelCheck = fn(&Op, &[Option<&TensorType>], &[TensorType]) -> Result<(), String>;

/// A support table that is code: exactly what one of hetc's backends implements.
pub struct CodeTable {
    basis: String,
    check: KernelCheck,
}

impl CodeTable {
    pub fn new(basis: impl Into<String>, check: KernelCheck) -> Self {
        CodeTable { basis: basis.into(), check }
    }
}

impl OpSupport for CodeTable {
    fn check(&self, node: &NodeView<'_>, _options: CheckOptions) -> Result<(), String> {
        (self.check)(node.op, &node.inputs, node.outputs)
    }

    fn basis(&self) -> &str {
        &self.basis
    }
}

impl fmt::Debug for CodeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeTable({})", self.basis)
    }
}

/// The code tables a build provides, by the name target files use (`support = { code =
/// "hetc-cpu" }`). The target crate does not depend on the compiler, so the caller (the CLI,
/// later the compiler itself) hands them in.
#[derive(Clone, Default)]
pub struct CodeTables {
    tables: BTreeMap<String, Arc<dyn OpSupport>>,
}

/// Name of the table of hetc's CPU kernels (`hetc_compile::support::cpu_supports`).
pub const HETC_CPU: &str = "hetc-cpu";
/// Name of the table of hetc's GPU kernels (the `gpu` branch's `gpu_supports`).
pub const HETC_GPU: &str = "hetc-gpu";

impl CodeTables {
    pub fn new() -> Self {
        CodeTables::default()
    }

    pub fn with(mut self, name: impl Into<String>, table: Arc<dyn OpSupport>) -> Self {
        self.tables.insert(name.into(), table);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn OpSupport>> {
        self.tables.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

impl fmt::Debug for CodeTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tables.keys()).finish()
    }
}
