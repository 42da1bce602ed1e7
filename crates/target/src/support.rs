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

/// A GPU table narrowed to one adapter: a node whose operand or result is larger than the
/// adapter can bind to one kernel (wgpu's `max_storage_buffer_binding_size`, 128 MiB on
/// lavapipe) cannot run there, whatever the kernels implement. VGG-16's first fully connected
/// weight (392 MiB) is the case that made this necessary.
pub struct BindingLimited {
    inner: Arc<dyn OpSupport>,
    max_binding_bytes: u64,
    basis: String,
}

impl BindingLimited {
    pub fn new(inner: Arc<dyn OpSupport>, max_binding_bytes: u64) -> Self {
        let basis = format!("{}, tensors up to {} bytes per binding", inner.basis(), max_binding_bytes);
        BindingLimited { inner, max_binding_bytes, basis }
    }
}

impl OpSupport for BindingLimited {
    fn check(&self, node: &NodeView<'_>, options: CheckOptions) -> Result<(), String> {
        self.inner.check(node, options)?;
        let largest = node.inputs.iter().flatten().copied().chain(node.outputs.iter()).map(|t| t.byte_size()).max();
        match largest {
            Some(b) if b > self.max_binding_bytes => Err(format!(
                "a {b}-byte tensor exceeds the adapter's largest binding ({} bytes)",
                self.max_binding_bytes
            )),
            _ => Ok(()),
        }
    }

    fn basis(&self) -> &str {
        &self.basis
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

#[cfg(test)]
mod tests {
    use super::*;
    use hetc_ir::DType;
    use hetc_ir::ops::MatMul;

    fn accept_all(_: &Op, _: &[Option<&TensorType>], _: &[TensorType]) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn binding_limit_rejects_only_tensors_over_it() {
        let table = BindingLimited::new(Arc::new(CodeTable::new("all", accept_all)), 1024);
        let op = Op::MatMul(MatMul);
        let fits = TensorType::new(DType::F32, [16, 16]); // exactly 1024 bytes
        let over = TensorType::new(DType::F32, [16, 17]);
        let outputs = [fits.clone()];
        let view = |a: &TensorType| -> Result<(), String> {
            let v = NodeView {
                name: "m",
                op: &op,
                inputs: vec![Some(a), Some(&fits)],
                const_inputs: vec![false, true],
                outputs: &outputs,
            };
            table.check(&v, CheckOptions::default())
        };
        assert_eq!(view(&fits), Ok(()));
        let err = view(&over).unwrap_err();
        assert!(err.contains("1088-byte tensor") && err.contains("1024 bytes"), "{err}");
    }
}
