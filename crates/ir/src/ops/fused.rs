//! Fused ops: what the fusion pass (`passes/fusion`) replaces groups of ops with, so that one
//! kernel computes them in one pass over memory.
//!
//! - [`FusedConv`]: a convolution with an epilogue: bias, a residual tensor added before the
//!   activation, and an activation.
//! - [`FusedConvTranspose`] and [`FusedGemm`]: the same for transposed convolutions (bias and
//!   activation) and Gemm (activation).
//! - [`FusedInstanceNorm`]: InstanceNormalization with a residual tensor added and an
//!   activation.
//! - [`ElementwiseChain`]: a small expression program of unary and broadcasting binary ops over
//!   its inputs, evaluated per output element.
//!
//! Importers never produce these ops; each is equivalent to the group of plain ops it replaced,
//! and its shape inference checks the same rules those ops would.

use super::eval::{MAX_FOLD_ELEMENTS, broadcast_source, unravel};
use super::{
    BinaryKind, Conv, ConvTranspose, Gemm, InstanceNorm, OpDef, ShapeError, UnaryKind, const_input, input, shape_err,
};
use crate::shape::broadcast_shapes;
use crate::{Tensor, TensorType};
use std::fmt;

/// Whether `kind` may be a fused epilogue's activation (a function the kernels apply to each
/// output element as they write it).
pub fn is_epilogue_activation(kind: &UnaryKind) -> bool {
    matches!(
        kind,
        UnaryKind::Relu
            | UnaryKind::LeakyRelu { .. }
            | UnaryKind::Clip { .. }
            | UnaryKind::Sigmoid
            | UnaryKind::HardSigmoid { .. }
            | UnaryKind::HardSwish
            | UnaryKind::Tanh
            | UnaryKind::Elu { .. }
            | UnaryKind::Selu { .. }
            | UnaryKind::Celu { .. }
            | UnaryKind::ThresholdedRelu { .. }
            | UnaryKind::Softplus
            | UnaryKind::Softsign
            | UnaryKind::Mish
    )
}

fn check_activation(op: &str, a: &Option<UnaryKind>) -> Result<(), ShapeError> {
    match a {
        Some(k) if !is_epilogue_activation(k) => shape_err!("{op} cannot apply {} in its epilogue", k.name()),
        _ => Ok(()),
    }
}

fn fmt_epilogue(f: &mut fmt::Formatter<'_>, bias: bool, residual: bool, a: &Option<UnaryKind>) -> fmt::Result {
    if bias {
        f.write_str(", bias")?;
    }
    if residual {
        f.write_str(", residual")?;
    }
    if let Some(a) = a {
        write!(f, ", activation={a:?}")?;
    }
    Ok(())
}

/// `act(conv(X, W) + bias + residual)`. Inputs: X, W, then bias `[M]` if `has_bias`, then the
/// residual (the output's type) if `has_residual`.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedConv {
    pub conv: Conv,
    pub has_bias: bool,
    pub has_residual: bool,
    pub activation: Option<UnaryKind>,
}

impl FusedConv {
    pub fn num_inputs(&self) -> usize {
        2 + self.has_bias as usize + self.has_residual as usize
    }
}

impl OpDef for FusedConv {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        check_activation("FusedConv", &self.activation)?;
        if inputs.len() != self.num_inputs() {
            shape_err!("FusedConv expects {} inputs, got {}", self.num_inputs(), inputs.len());
        }
        let conv_inputs = &inputs[..2 + self.has_bias as usize];
        if self.has_bias {
            input(inputs, 2, "bias")?;
        }
        let out = self.conv.infer(conv_inputs)?;
        if self.has_residual {
            let r = input(inputs, inputs.len() - 1, "residual")?;
            if *r != out[0] {
                shape_err!("FusedConv residual {r} must be the output's type {}", out[0]);
            }
        }
        Ok(out)
    }

    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        self.conv.macs(inputs, outputs)
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.conv.fmt_attrs(f)?;
        fmt_epilogue(f, self.has_bias, self.has_residual, &self.activation)
    }
}

/// `act(conv_transpose(X, W) + bias)`. Inputs: X, W, then bias if `has_bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedConvTranspose {
    pub conv: ConvTranspose,
    pub has_bias: bool,
    pub activation: Option<UnaryKind>,
}

impl OpDef for FusedConvTranspose {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        check_activation("FusedConvTranspose", &self.activation)?;
        let n = 2 + self.has_bias as usize;
        if inputs.len() != n || inputs.iter().any(Option::is_none) {
            shape_err!("FusedConvTranspose expects {n} connected inputs, got {}", inputs.len());
        }
        self.conv.infer(inputs)
    }

    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        self.conv.macs(inputs, outputs)
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.conv.fmt_attrs(f)?;
        fmt_epilogue(f, self.has_bias, false, &self.activation)
    }
}

/// `act(Gemm(A, B, C))`. Inputs as Gemm's.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedGemm {
    pub gemm: Gemm,
    pub activation: UnaryKind,
}

impl OpDef for FusedGemm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        check_activation("FusedGemm", &Some(self.activation))?;
        let out = self.gemm.infer(inputs)?;
        if !out[0].dtype.is_float() {
            shape_err!("FusedGemm needs float values, got {}", out[0].dtype);
        }
        Ok(out)
    }

    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        self.gemm.macs(inputs, outputs)
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0, 1]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.gemm.fmt_attrs(f)?;
        write!(f, ", activation={:?}", self.activation)
    }
}

/// `act(instance_norm(X, scale, B) + residual)`. Inputs: X, scale, B, then the residual (the
/// output's type) if `has_residual`.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedInstanceNorm {
    pub norm: InstanceNorm,
    pub has_residual: bool,
    pub activation: Option<UnaryKind>,
}

impl OpDef for FusedInstanceNorm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        check_activation("FusedInstanceNorm", &self.activation)?;
        let n = 3 + self.has_residual as usize;
        if inputs.len() != n {
            shape_err!("FusedInstanceNorm expects {n} inputs, got {}", inputs.len());
        }
        let out = self.norm.infer(&inputs[..3])?;
        if self.has_residual {
            let r = input(inputs, 3, "residual")?;
            if *r != out[0] {
                shape_err!("FusedInstanceNorm residual {r} must be the output's type {}", out[0]);
            }
        }
        Ok(out)
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.norm.fmt_attrs(f)?;
        fmt_epilogue(f, false, self.has_residual, &self.activation)
    }
}

/// One instruction of an [`ElementwiseChain`]. Registers `0..n` are the chain's `n` inputs;
/// instruction `i` writes register `n + i` and reads only registers before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChainInstr {
    Unary { kind: UnaryKind, x: usize },
    Binary { kind: BinaryKind, a: usize, b: usize },
}

/// Binary kinds a chain may use: the arithmetic ones (comparisons and logical ops yield booleans).
pub fn is_chain_binary(kind: &BinaryKind) -> bool {
    matches!(
        kind,
        BinaryKind::Add
            | BinaryKind::Sub
            | BinaryKind::Mul
            | BinaryKind::Div
            | BinaryKind::Pow
            | BinaryKind::Max
            | BinaryKind::Min
            | BinaryKind::PRelu
    )
}

/// Unary kinds a chain may use: every float function.
pub fn is_chain_unary(kind: &UnaryKind) -> bool {
    !matches!(kind, UnaryKind::Not)
}

/// Longest program and most inputs a chain may have: the kernels keep one block of each
/// register in cache.
pub const MAX_CHAIN_INSTRS: usize = 32;
pub const MAX_CHAIN_INPUTS: usize = 16;

/// A fused group of elementwise ops: `program` evaluated at every output element, its inputs
/// broadcast (numpy rules) to the output, whose shape is the broadcast of all inputs. The last
/// instruction's register is the output.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementwiseChain {
    pub program: Vec<ChainInstr>,
}

impl ElementwiseChain {
    /// The shape of every register, checking the program's structure.
    fn register_types(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let n = inputs.len();
        if n == 0 || n > MAX_CHAIN_INPUTS {
            shape_err!("ElementwiseChain has {n} inputs (1 to {MAX_CHAIN_INPUTS})");
        }
        if self.program.is_empty() || self.program.len() > MAX_CHAIN_INSTRS {
            shape_err!("ElementwiseChain has {} instructions (1 to {MAX_CHAIN_INSTRS})", self.program.len());
        }
        let mut regs: Vec<TensorType> = Vec::with_capacity(n + self.program.len());
        for i in 0..n {
            let t = input(inputs, i, "operand")?;
            if !t.dtype.is_float() {
                shape_err!("ElementwiseChain needs float inputs, got {t}");
            }
            if t.dtype != input(inputs, 0, "operand")?.dtype {
                shape_err!("ElementwiseChain inputs have different types");
            }
            regs.push(t.clone());
        }
        for (i, instr) in self.program.iter().enumerate() {
            let avail = regs.len();
            let reg = |r: usize| -> Result<&TensorType, ShapeError> {
                if r >= avail {
                    shape_err!("ElementwiseChain instruction {i} reads register {r}, which is not yet written");
                }
                Ok(&regs[r])
            };
            let t = match instr {
                ChainInstr::Unary { kind, x } => {
                    if !is_chain_unary(kind) {
                        shape_err!("ElementwiseChain cannot compute {}", kind.name());
                    }
                    reg(*x)?.clone()
                }
                ChainInstr::Binary { kind, a, b } => {
                    if !is_chain_binary(kind) {
                        shape_err!("ElementwiseChain cannot compute {}", kind.name());
                    }
                    let (ta, tb) = (reg(*a)?, reg(*b)?);
                    let Some(shape) = broadcast_shapes(&ta.shape, &tb.shape) else {
                        shape_err!("ElementwiseChain cannot broadcast {ta} with {tb}");
                    };
                    if *kind == BinaryKind::PRelu && shape != ta.shape {
                        shape_err!("PRelu slope {tb} does not broadcast to X {ta}");
                    }
                    TensorType::new(ta.dtype, shape)
                }
            };
            regs.push(t);
        }
        Ok(regs)
    }
}

impl OpDef for ElementwiseChain {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let regs = self.register_types(inputs)?;
        let out = regs.last().expect("a non-empty program").clone();
        // The kernel evaluates every register at the output's index: that is only the same as
        // the separate ops if every input broadcasts to the output.
        for t in &regs[..inputs.len()] {
            if broadcast_shapes(&t.shape, &out.shape).as_deref() != Some(&out.shape[..]) {
                shape_err!("ElementwiseChain input {t} does not broadcast to the output {out}");
            }
        }
        Ok(vec![out])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let ts: Vec<&Tensor> = (0..inputs.len()).map(|i| const_input(inputs, i)).collect::<Option<_>>()?;
        let types: Vec<Option<&TensorType>> = ts.iter().map(|t| Some(t.ty())).collect();
        let out = match self.infer(&types) {
            Ok(mut o) => o.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if out.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let mut values = Vec::with_capacity(out.numel());
        let mut regs = vec![0.0f64; ts.len() + self.program.len()];
        for i in 0..out.numel() {
            let idx = unravel(i, &out.shape);
            for (k, t) in ts.iter().enumerate() {
                regs[k] = t.get_f64(broadcast_source(&idx, t.shape()));
            }
            for (j, instr) in self.program.iter().enumerate() {
                regs[ts.len() + j] = match *instr {
                    ChainInstr::Unary { kind, x } => kind.apply(regs[x]),
                    ChainInstr::Binary { kind, a, b } => kind.apply_f64(regs[a], regs[b]),
                };
            }
            values.push(*regs.last().expect("a non-empty program"));
        }
        Some(Ok(vec![Tensor::from_f64_values(out.dtype, out.shape, &values)]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("program=[")?;
        for (i, instr) in self.program.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match instr {
                ChainInstr::Unary { kind, x } => write!(f, "{kind:?}(r{x})")?,
                ChainInstr::Binary { kind, a, b } => write!(f, "{}(r{a}, r{b})", kind.name())?,
            }
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn t(shape: &[usize]) -> TensorType {
        TensorType::new(DType::F32, shape.to_vec())
    }

    #[test]
    fn chain_infers_the_broadcast_shape() {
        // relu(x * s + b) with per-channel s and b.
        let chain = ElementwiseChain {
            program: vec![
                ChainInstr::Binary { kind: BinaryKind::Mul, a: 0, b: 1 },
                ChainInstr::Binary { kind: BinaryKind::Add, a: 3, b: 2 },
                ChainInstr::Unary { kind: UnaryKind::Relu, x: 4 },
            ],
        };
        let (x, s) = (t(&[1, 4, 5, 5]), t(&[4, 1, 1]));
        let out = chain.infer(&[Some(&x), Some(&s), Some(&s)]).unwrap();
        assert_eq!(out, vec![x.clone()]);
        // A register read before it is written, and a register that does not exist.
        let bad = ElementwiseChain { program: vec![ChainInstr::Unary { kind: UnaryKind::Relu, x: 1 }] };
        assert!(bad.infer(&[Some(&x)]).is_err());
        let bad = ElementwiseChain { program: vec![ChainInstr::Binary { kind: BinaryKind::Equal, a: 0, b: 0 }] };
        assert!(bad.infer(&[Some(&x)]).is_err());
    }

    #[test]
    fn chain_eval_matches_the_ops() {
        let chain = ElementwiseChain {
            program: vec![
                ChainInstr::Binary { kind: BinaryKind::Sub, a: 0, b: 1 },
                ChainInstr::Unary { kind: UnaryKind::Abs, x: 2 },
            ],
        };
        let a = Tensor::from_f32(vec![2, 2], &[1.0, -2.0, 3.0, 4.0]);
        let b = Tensor::from_f32(vec![2], &[2.0, 1.0]);
        let out = chain.eval(&[Some(&a), Some(&b)]).unwrap().unwrap();
        assert_eq!(out[0].to_f32_vec(), vec![1.0, 3.0, 1.0, 3.0]);
    }

    #[test]
    fn fused_conv_checks_the_residual() {
        let conv = Conv { kernel: vec![1, 1], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![0; 4], group: 1 };
        let op = FusedConv { conv, has_bias: false, has_residual: true, activation: Some(UnaryKind::Relu) };
        let (x, w) = (t(&[1, 3, 4, 4]), t(&[8, 3, 1, 1]));
        assert_eq!(op.infer(&[Some(&x), Some(&w), Some(&t(&[1, 8, 4, 4]))]).unwrap(), vec![t(&[1, 8, 4, 4])]);
        assert!(op.infer(&[Some(&x), Some(&w), Some(&t(&[1, 8, 1, 1]))]).is_err());
        let not_act = FusedConv { activation: Some(UnaryKind::Exp), ..op };
        assert!(not_act.infer(&[Some(&x), Some(&w), Some(&t(&[1, 8, 4, 4]))]).is_err());
    }
}
