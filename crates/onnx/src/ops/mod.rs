//! ONNX op converters, one file per op or op family, and the registration table.
//!
//! A converter reads one ONNX node (attributes and the types and constant values of its
//! inputs) and lowers it to IR ops with static attributes, to constants (when the node only
//! computes shapes), or to an alias of one of its inputs.

mod activation;
mod batch_norm;
mod binary;
mod cast;
mod concat;
mod constant;
mod conv;
mod conv_transpose;
mod elementwise;
mod expand;
mod gather;
mod gemm;
mod identity;
mod instance_norm;
mod matmul;
mod pad;
mod pool;
mod range;
mod reduce;
mod reshape;
mod resize;
mod shape;
mod slice;
mod softmax;
mod split;
mod transpose;
mod where_op;

use crate::attrs::Attrs;
use crate::tensor::ExternalData;
use hetc_ir::{Op, Tensor, TensorType};

/// A node input as the converter sees it: its type, and its value when known at compile time.
#[derive(Debug, Clone)]
pub struct Input {
    pub ty: TensorType,
    pub value: Option<Tensor>,
}

/// Everything a converter may read about the node it lowers.
pub struct Ctx<'a> {
    pub op_type: &'a str,
    /// The model's default-domain opset version.
    pub opset: i64,
    pub attrs: Attrs<'a>,
    /// One entry per ONNX input slot; `None` for omitted optional inputs.
    pub inputs: Vec<Option<Input>>,
    /// Number of outputs the node declares.
    pub num_outputs: usize,
    pub external: &'a mut ExternalData,
}

impl Ctx<'_> {
    /// Required input `i`.
    pub fn input(&self, i: usize) -> Result<&Input, String> {
        self.inputs.get(i).and_then(|x| x.as_ref()).ok_or_else(|| format!("input {i} is required"))
    }

    pub fn has_input(&self, i: usize) -> bool {
        matches!(self.inputs.get(i), Some(Some(_)))
    }

    /// Optional input `i` that must be a compile-time constant when given: hetc compiles static
    /// graphs, so shapes, pads, scales and the like cannot be computed at run time.
    pub fn const_input(&self, i: usize, what: &str) -> Result<Option<&Tensor>, String> {
        match self.inputs.get(i).and_then(|x| x.as_ref()) {
            None => Ok(None),
            Some(Input { value: Some(v), .. }) => Ok(Some(v)),
            Some(_) => Err(format!(
                "input `{what}` is computed at run time; hetc needs it constant (dynamic shapes are not supported)"
            )),
        }
    }

    pub fn const_ints(&self, i: usize, what: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.const_input(i, what)?.map(|t| t.to_i64_vec()))
    }

    pub fn const_floats(&self, i: usize, what: &str) -> Result<Option<Vec<f64>>, String> {
        Ok(self.const_input(i, what)?.map(|t| t.to_f64_vec()))
    }

    /// Rank of input 0, the usual reference for axes.
    pub fn rank(&self) -> Result<usize, String> {
        Ok(self.input(0)?.ty.rank())
    }

    /// Normalises a possibly negative axis against `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize, String> {
        hetc_ir::normalize_axis(axis, rank).ok_or_else(|| format!("axis {axis} is out of range for rank {rank}"))
    }
}

/// Where an IR op's input comes from.
#[derive(Debug, Clone)]
pub enum Src {
    /// The ONNX node's input slot.
    In(usize),
    /// Output 0 of an earlier step of the same lowering.
    Step(usize),
    /// A constant made by the converter.
    Const(Tensor),
}

/// One IR op of a lowering.
#[derive(Debug, Clone)]
pub struct Step {
    pub op: Op,
    pub inputs: Vec<Option<Src>>,
}

/// What an ONNX node becomes.
#[derive(Debug, Clone)]
pub enum Lowered {
    /// IR ops; the last step's outputs are the node's outputs.
    Steps(Vec<Step>),
    /// The node's outputs are known at compile time.
    Values(Vec<Tensor>),
    /// The node's output 0 is its input slot `i` (Identity, inference-mode Dropout).
    Alias(usize),
    /// The node's output 0 is its input slot `i` and its further outputs are known at compile
    /// time (inference-mode Dropout and its all-true mask).
    AliasWith(usize, Vec<Tensor>),
}

impl Lowered {
    /// One op reading the node's inputs in order, skipping nothing.
    pub fn op(op: Op, ctx: &Ctx) -> Lowered {
        let inputs = (0..ctx.inputs.len()).map(|i| ctx.has_input(i).then_some(Src::In(i))).collect();
        Lowered::Steps(vec![Step { op, inputs }])
    }

    /// One op reading the given ONNX input slots.
    pub fn op_on(op: Op, slots: &[usize]) -> Lowered {
        Lowered::Steps(vec![Step { op, inputs: slots.iter().map(|&i| Some(Src::In(i))).collect() }])
    }
}

pub type Converter = fn(&mut Ctx) -> Result<Lowered, String>;

/// The registration table: ONNX op type (default domain) to converter.
pub fn converter(op_type: &str) -> Option<Converter> {
    REGISTRY.iter().find(|(name, _)| *name == op_type).map(|&(_, c)| c)
}

/// Every ONNX op type hetc imports, sorted.
pub fn supported_ops() -> Vec<&'static str> {
    let mut v: Vec<_> = REGISTRY.iter().map(|(n, _)| *n).collect();
    v.sort_unstable();
    v
}

static REGISTRY: &[(&str, Converter)] = &[
    // Data movement and shape computation.
    ("Identity", identity::identity),
    ("Dropout", identity::dropout),
    ("Constant", constant::constant),
    ("ConstantOfShape", constant::constant_of_shape),
    ("Shape", shape::shape),
    ("Size", shape::size),
    ("Range", range::range),
    ("Cast", cast::cast),
    ("CastLike", cast::cast_like),
    ("Reshape", reshape::reshape),
    ("Flatten", reshape::flatten),
    ("Squeeze", reshape::squeeze),
    ("Unsqueeze", reshape::unsqueeze),
    ("Transpose", transpose::transpose),
    ("Concat", concat::concat),
    ("Split", split::split),
    ("Slice", slice::slice),
    ("Gather", gather::gather),
    ("Expand", expand::expand),
    ("Pad", pad::pad),
    ("Resize", resize::resize),
    ("Upsample", resize::upsample),
    ("Where", where_op::where_op),
    // Compute.
    ("Conv", conv::conv),
    ("ConvTranspose", conv_transpose::conv_transpose),
    ("Gemm", gemm::gemm),
    ("MatMul", matmul::matmul),
    ("MaxPool", pool::max_pool),
    ("AveragePool", pool::average_pool),
    ("GlobalAveragePool", pool::global_average_pool),
    ("GlobalMaxPool", pool::global_max_pool),
    ("BatchNormalization", batch_norm::batch_norm),
    ("InstanceNormalization", instance_norm::instance_norm),
    ("Softmax", softmax::softmax),
    ("LogSoftmax", softmax::log_softmax),
    ("ReduceMean", reduce::reduce),
    ("ReduceSum", reduce::reduce),
    ("ReduceMax", reduce::reduce),
    ("ReduceMin", reduce::reduce),
    ("ReduceProd", reduce::reduce),
    ("ReduceL1", reduce::reduce),
    ("ReduceL2", reduce::reduce),
    ("ReduceSumSquare", reduce::reduce),
    ("ReduceLogSumExp", reduce::reduce),
    // Elementwise.
    ("Add", binary::binary),
    ("Sub", binary::binary),
    ("Mul", binary::binary),
    ("Div", binary::binary),
    ("Pow", binary::binary),
    ("Mod", binary::binary),
    ("PRelu", binary::binary),
    ("Equal", binary::binary),
    ("Less", binary::binary),
    ("LessOrEqual", binary::binary),
    ("Greater", binary::binary),
    ("GreaterOrEqual", binary::binary),
    ("And", binary::binary),
    ("Or", binary::binary),
    ("Xor", binary::binary),
    ("Max", binary::variadic),
    ("Min", binary::variadic),
    ("Sum", binary::variadic),
    ("Mean", binary::variadic),
    ("Relu", activation::activation),
    ("LeakyRelu", activation::activation),
    ("Elu", activation::activation),
    ("Selu", activation::activation),
    ("Celu", activation::activation),
    ("ThresholdedRelu", activation::activation),
    ("Sigmoid", activation::activation),
    ("HardSigmoid", activation::activation),
    ("HardSwish", activation::activation),
    ("Softplus", activation::activation),
    ("Softsign", activation::activation),
    ("Mish", activation::activation),
    ("Clip", activation::clip),
    ("Tanh", elementwise::elementwise),
    ("Exp", elementwise::elementwise),
    ("Log", elementwise::elementwise),
    ("Sqrt", elementwise::elementwise),
    ("Reciprocal", elementwise::elementwise),
    ("Neg", elementwise::elementwise),
    ("Abs", elementwise::elementwise),
    ("Floor", elementwise::elementwise),
    ("Ceil", elementwise::elementwise),
    ("Round", elementwise::elementwise),
    ("Sign", elementwise::elementwise),
    ("Erf", elementwise::elementwise),
    ("Sin", elementwise::elementwise),
    ("Cos", elementwise::elementwise),
    ("Not", elementwise::elementwise),
];
