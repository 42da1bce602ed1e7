//! The operation set of the IR, one file per op (or per family of elementwise ops).
//!
//! Every op's attributes are static and fully resolved at import: ONNX inputs that must be
//! constant (Reshape's shape, Pad's pads, Resize's scales, Slice's starts, ...) and `auto_pad`
//! are folded into the op, and Flatten/Squeeze/Unsqueeze become [`Reshape`]. Later stages
//! (passes, placement, the runtime) therefore never see shape computations.

mod batch_norm;
mod binary;
mod cast;
mod concat;
mod conv;
mod conv_transpose;
mod eval;
mod expand;
mod fused;
mod gather;
mod gemm;
mod global_pool;
mod instance_norm;
mod matmul;
mod pad;
mod pool;
mod reduce;
mod reshape;
mod resize;
mod slice;
mod softmax;
mod split;
mod transpose;
mod unary;
mod where_op;

pub use batch_norm::BatchNorm;
pub use binary::{Binary, BinaryKind};
pub use cast::Cast;
pub use concat::Concat;
pub use conv::Conv;
pub use conv_transpose::ConvTranspose;
pub use expand::Expand;
pub use fused::{
    ChainInstr, ElementwiseChain, FusedConv, FusedConvTranspose, FusedGemm, FusedInstanceNorm, MAX_CHAIN_INPUTS,
    MAX_CHAIN_INSTRS, is_chain_binary, is_chain_unary, is_epilogue_activation,
};
pub use gather::Gather;
pub use gemm::Gemm;
pub use global_pool::GlobalPool;
pub use instance_norm::InstanceNorm;
pub use matmul::MatMul;
pub use pad::{Pad, PadMode};
pub use pool::{Pool, PoolKind};
pub use reduce::{Reduce, ReduceKind};
pub use reshape::Reshape;
pub use resize::{CoordTransform, NearestMode, Resize, ResizeMode};
pub use slice::{Slice, SliceAxis};
pub use softmax::Softmax;
pub use split::Split;
pub use transpose::Transpose;
pub use unary::{Unary, UnaryKind};
pub use where_op::Where;

use crate::{Tensor, TensorType};
use std::fmt;

/// Why an op cannot produce outputs for the given inputs (wrong rank, mismatched channels, ...).
/// The importer adds the node's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

impl ShapeError {
    pub fn new(msg: impl Into<String>) -> Self {
        ShapeError(msg.into())
    }
}

/// Shorthand for returning a [`ShapeError`].
macro_rules! shape_err {
    ($($arg:tt)*) => { return Err($crate::ops::ShapeError(format!($($arg)*))) };
}
pub(crate) use shape_err;

/// What every op knows about itself. Inputs are given per slot; `None` is an optional input
/// that is not connected.
pub trait OpDef {
    /// Output types for the given input types.
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError>;

    /// Multiply-accumulates performed, for ops that are dominated by them (Conv, ConvTranspose,
    /// Gemm, MatMul). Others count 0; their cost is bandwidth, reported separately.
    fn macs(&self, _inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        0
    }

    /// Evaluates the op on constant inputs, for constant folding. `None`: this op has no
    /// reference evaluator and stays in the graph.
    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        None
    }

    /// Input slots that must be connected, given how many slots the node has.
    fn required_inputs(&self, num_inputs: usize) -> Vec<usize> {
        (0..num_inputs).collect()
    }

    /// Attributes for IR dumps, in a fixed order.
    fn fmt_attrs(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// An operation of the IR.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A graph input; its type is the node's only output.
    Input,
    /// A compile-time constant: a weight or a folded value.
    Constant(Tensor),
    Unary(Unary),
    Binary(Binary),
    Where(Where),
    Conv(Conv),
    ConvTranspose(ConvTranspose),
    Gemm(Gemm),
    MatMul(MatMul),
    Pool(Pool),
    GlobalPool(GlobalPool),
    BatchNorm(BatchNorm),
    InstanceNorm(InstanceNorm),
    Softmax(Softmax),
    Concat(Concat),
    Split(Split),
    Slice(Slice),
    Reshape(Reshape),
    Transpose(Transpose),
    Pad(Pad),
    Resize(Resize),
    Gather(Gather),
    Reduce(Reduce),
    Cast(Cast),
    Expand(Expand),
    /// Fused ops, produced by the fusion pass (`ops/fused.rs`).
    FusedConv(FusedConv),
    FusedConvTranspose(FusedConvTranspose),
    FusedGemm(FusedGemm),
    ElementwiseChain(ElementwiseChain),
    FusedInstanceNorm(FusedInstanceNorm),
}

macro_rules! dispatch {
    ($self:expr, $d:ident => $body:expr, $input:expr, $constant:expr) => {
        match $self {
            Op::Input => $input,
            Op::Constant(_) => $constant,
            Op::Unary($d) => $body,
            Op::Binary($d) => $body,
            Op::Where($d) => $body,
            Op::Conv($d) => $body,
            Op::ConvTranspose($d) => $body,
            Op::Gemm($d) => $body,
            Op::MatMul($d) => $body,
            Op::Pool($d) => $body,
            Op::GlobalPool($d) => $body,
            Op::BatchNorm($d) => $body,
            Op::InstanceNorm($d) => $body,
            Op::Softmax($d) => $body,
            Op::Concat($d) => $body,
            Op::Split($d) => $body,
            Op::Slice($d) => $body,
            Op::Reshape($d) => $body,
            Op::Transpose($d) => $body,
            Op::Pad($d) => $body,
            Op::Resize($d) => $body,
            Op::Gather($d) => $body,
            Op::Reduce($d) => $body,
            Op::Cast($d) => $body,
            Op::Expand($d) => $body,
            Op::FusedConv($d) => $body,
            Op::FusedConvTranspose($d) => $body,
            Op::FusedGemm($d) => $body,
            Op::ElementwiseChain($d) => $body,
            Op::FusedInstanceNorm($d) => $body,
        }
    };
}

impl Op {
    /// The op's name as used in histograms and dumps: the ONNX op type it implements
    /// (`Conv`, `Relu`, `Add`, `MaxPool`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "Input",
            Op::Constant(_) => "Constant",
            Op::Unary(u) => u.kind.name(),
            Op::Binary(b) => b.kind.name(),
            Op::Where(_) => "Where",
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::Gemm(_) => "Gemm",
            Op::MatMul(_) => "MatMul",
            Op::Pool(p) => p.kind.name(),
            Op::GlobalPool(p) => p.kind.global_name(),
            Op::BatchNorm(_) => "BatchNormalization",
            Op::InstanceNorm(_) => "InstanceNormalization",
            Op::Softmax(s) => s.name(),
            Op::Concat(_) => "Concat",
            Op::Split(_) => "Split",
            Op::Slice(_) => "Slice",
            Op::Reshape(_) => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Pad(_) => "Pad",
            Op::Resize(_) => "Resize",
            Op::Gather(_) => "Gather",
            Op::Reduce(r) => r.kind.name(),
            Op::Cast(_) => "Cast",
            Op::Expand(_) => "Expand",
            Op::FusedConv(_) => "FusedConv",
            Op::FusedConvTranspose(_) => "FusedConvTranspose",
            Op::FusedGemm(_) => "FusedGemm",
            Op::ElementwiseChain(_) => "ElementwiseChain",
            Op::FusedInstanceNorm(_) => "FusedInstanceNorm",
        }
    }

    /// Whether the op performs computation (not an input or a constant).
    pub fn is_compute(&self) -> bool {
        !matches!(self, Op::Input | Op::Constant(_))
    }

    pub fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        dispatch!(self, d => d.infer(inputs),
            Err(ShapeError::new("graph inputs have no inputs to infer from")),
            Err(ShapeError::new("constants have no inputs to infer from")))
    }

    pub fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        dispatch!(self, d => d.macs(inputs, outputs), 0, 0)
    }

    pub fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        dispatch!(self, d => d.eval(inputs), None, None)
    }

    pub fn required_inputs(&self, num_inputs: usize) -> Vec<usize> {
        dispatch!(self, d => d.required_inputs(num_inputs), vec![], vec![])
    }
}

impl fmt::Display for Op {
    /// `Name{attr=value, ...}` with attributes in a fixed order; constants are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        struct Attrs<'a>(&'a Op);
        impl fmt::Display for Attrs<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                dispatch!(self.0, d => d.fmt_attrs(f), Ok(()), Ok(()))
            }
        }
        let attrs = Attrs(self).to_string();
        if !attrs.is_empty() {
            write!(f, "{{{attrs}}}")?;
        }
        Ok(())
    }
}

/// Fetches required input `i`, or a shape error naming it.
pub(crate) fn input<'a>(inputs: &[Option<&'a TensorType>], i: usize, what: &str) -> Result<&'a TensorType, ShapeError> {
    inputs.get(i).copied().flatten().ok_or_else(|| ShapeError(format!("missing input {i} ({what})")))
}

/// Fetches constant input `i` for evaluation.
pub(crate) fn const_input<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten()
}

/// Writes `key=[a,b,c]`.
pub(crate) fn fmt_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, key: &str, v: &[T]) -> fmt::Result {
    write!(f, "{key}=[")?;
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{x}")?;
    }
    f.write_str("]")
}
