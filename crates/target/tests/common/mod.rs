//! Helpers shared by the target crate's tests: IR graphs built op by op, a stand-in for the
//! compiler's CPU table (this crate does not depend on the compiler), and the catalog.

#![allow(dead_code)]

use hetc_ir::ops::{Conv, Unary, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Node, Op, Tensor, TensorType, ValueRef};
use hetc_target::host::HostInfo;
use hetc_target::{Catalog, CodeTable, CodeTables, HETC_CPU};
use std::sync::Arc;

/// Stand-in for `hetc_compile::support::cpu_supports`: f32 everything, except `Not` (so that
/// tests can make a node the CPU cannot run).
pub fn cpu_check(op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> Result<(), String> {
    if let Op::Unary(u) = op
        && matches!(u.kind, UnaryKind::Not)
    {
        return Err("test CPU has no Not".into());
    }
    match inputs.iter().flatten().copied().chain(outputs).find(|t| t.dtype != DType::F32) {
        Some(t) => Err(format!("{} values", t.dtype)),
        None => Ok(()),
    }
}

pub fn code_tables() -> CodeTables {
    CodeTables::new().with(HETC_CPU, Arc::new(CodeTable::new("test CPU", cpu_check)))
}

pub fn host() -> HostInfo {
    HostInfo {
        arch: "x86_64".into(),
        cpu_model: "Test CPU".into(),
        logical_cores: 2,
        features: vec!["avx2".into(), "fma".into()],
        mhz: Some(2000.0),
        ram_bytes: Some(8 << 30),
        gpu: None,
    }
}

pub fn catalog() -> Catalog {
    Catalog::builtin(&code_tables(), &host()).expect("built-in targets load")
}

/// Builds graphs node by node, inferring output types with the op's own `infer`.
pub struct Builder {
    pub g: Graph,
}

impl Builder {
    pub fn new(name: &str) -> Self {
        Builder { g: Graph::new(name) }
    }

    pub fn input(&mut self, name: &str, shape: &[usize]) -> ValueRef {
        ValueRef { node: self.g.add_input(name, TensorType::new(DType::F32, shape.to_vec())), slot: 0 }
    }

    pub fn constant(&mut self, name: &str, shape: &[usize]) -> ValueRef {
        let n: usize = shape.iter().product();
        ValueRef { node: self.g.add_constant(name, Tensor::from_f32(shape.to_vec(), &vec![0.5; n])), slot: 0 }
    }

    /// Adds `op` reading `inputs` (one per slot) and returns its first output.
    pub fn op(&mut self, name: &str, op: Op, inputs: &[ValueRef]) -> ValueRef {
        let types: Vec<TensorType> = inputs.iter().map(|&v| self.g.value_type(v).clone()).collect();
        let refs: Vec<Option<&TensorType>> = types.iter().map(Some).collect();
        let outputs = op.infer(&refs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let id = self.g.add_node(Node {
            name: name.into(),
            op,
            num_inputs: inputs.len(),
            output_names: (0..outputs.len()).map(|i| format!("{name}:{i}")).collect(),
            outputs,
        });
        for (slot, &v) in inputs.iter().enumerate() {
            self.g.connect(v, id, slot);
        }
        ValueRef { node: id, slot: 0 }
    }

    pub fn unary(&mut self, name: &str, kind: UnaryKind, x: ValueRef) -> ValueRef {
        self.op(name, Op::Unary(Unary { kind }), &[x])
    }

    /// A 2-D convolution with a constant weight `[out, in/group, k, k]`, stride 1.
    pub fn conv(&mut self, name: &str, x: ValueRef, out: usize, k: usize, pad: usize, group: usize) -> ValueRef {
        let c = self.g.value_type(x).shape[1];
        let w = self.constant(&format!("{name}.w"), &[out, c / group, k, k]);
        let conv = Conv { kernel: vec![k, k], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![pad; 4], group };
        self.op(name, Op::Conv(conv), &[x, w])
    }

    pub fn output(mut self, v: ValueRef) -> Graph {
        self.g.outputs.push(GraphOutput { name: "y".into(), value: v });
        self.g.validate().expect("valid test graph");
        self.g
    }
}
