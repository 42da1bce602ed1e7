//! Lowering of the fused ops the fusion pass produces (`hetc_ir::ops::fused`).
//!
//! - `FusedConv` / `FusedConvTranspose` lower as their convolution (same algorithm choice),
//!   then [`conv_epilogue`] / [`conv_transpose_epilogue`] give the step its epilogue: bias,
//!   residual input and activation.
//! - `FusedGemm` is a Gemm kernel with an activation, `FusedInstanceNorm` an InstanceNorm
//!   kernel with a residual and an activation.
//! - `ElementwiseChain` lowers to the most specific kernel that computes it: an activation, a
//!   unary function, a binary op with an activation, or a per-channel affine (`x * s + t`
//!   then an activation: folded BatchNormalization) keep their existing kernels; anything
//!   else is one [`Kernel::Elementwise`] program.

use crate::CompileError;
use crate::lower::{Program, ValId, activation_of, binary_fn, unary_fn};
use hetc_ir::ops::{
    ChainInstr, ElementwiseChain, FusedConv, FusedConvTranspose, FusedGemm, FusedInstanceNorm, UnaryKind,
};
use hetc_plan::{Activation, BinaryFn, ElementwiseInstr, ElementwiseOp, Kernel};

fn node_err(name: &str, reason: impl Into<String>) -> CompileError {
    CompileError::Node { node: name.to_string(), reason: reason.into() }
}

fn epilogue_activation(name: &str, a: &Option<UnaryKind>) -> Result<Activation, CompileError> {
    match a {
        None => Ok(Activation::Identity),
        Some(k) => {
            activation_of(k).ok_or_else(|| node_err(name, format!("{} is not an epilogue activation", k.name())))
        }
    }
}

/// Gives the convolution step just emitted for `f` its epilogue. The step was lowered as a
/// plain convolution, which took input 2 (if any) as its bias; here the inputs become X, W,
/// the bias if `f` has one, then the residual (viewed in the output's 4-D shape).
pub(crate) fn conv_epilogue(
    name: &str,
    f: &FusedConv,
    inputs: &[Option<ValId>],
    p: &mut Program,
) -> Result<(), CompileError> {
    let activation = epilogue_activation(name, &f.activation)?;
    let at = |i: usize| inputs.get(i).copied().flatten().ok_or_else(|| node_err(name, format!("missing input {i}")));
    let step = p.steps.len().checked_sub(1).ok_or_else(|| node_err(name, "no convolution step to fuse into"))?;
    let out = p.steps[step].outputs[0];
    let mut ins = p.steps[step].inputs[..2].to_vec();
    if f.has_bias {
        ins.push(at(2)?);
    }
    if f.has_residual {
        let r = at(f.num_inputs() - 1)?;
        let shape = p.values[out].ty.shape.clone();
        ins.push(p.view(r, shape));
    }
    let step = &mut p.steps[step];
    let Kernel::Conv(c) = &mut step.kernel else { return Err(node_err(name, "a fused convolution is not a Conv")) };
    c.has_bias = f.has_bias;
    c.has_residual = f.has_residual;
    c.activation = activation;
    step.inputs = ins;
    Ok(())
}

/// Gives the transposed-convolution step just emitted for `f` its activation.
pub(crate) fn conv_transpose_epilogue(name: &str, f: &FusedConvTranspose, p: &mut Program) -> Result<(), CompileError> {
    let activation = epilogue_activation(name, &f.activation)?;
    match p.steps.last_mut().map(|s| &mut s.kernel) {
        Some(Kernel::ConvTranspose(c)) if c.has_bias == f.has_bias => {
            c.activation = activation;
            Ok(())
        }
        _ => Err(node_err(name, "a fused transposed convolution is not a ConvTranspose")),
    }
}

pub(crate) fn gemm(name: &str, f: &FusedGemm, inputs: &[Option<ValId>]) -> Result<Kernel, CompileError> {
    Ok(Kernel::Gemm {
        trans_a: f.gemm.trans_a,
        trans_b: f.gemm.trans_b,
        alpha: f.gemm.alpha,
        beta: f.gemm.beta,
        has_c: inputs.get(2).copied().flatten().is_some(),
        activation: epilogue_activation(name, &Some(f.activation))?,
    })
}

pub(crate) fn instance_norm(name: &str, f: &FusedInstanceNorm) -> Result<Kernel, CompileError> {
    Ok(Kernel::FusedInstanceNorm {
        epsilon: f.norm.epsilon,
        has_residual: f.has_residual,
        activation: epilogue_activation(name, &f.activation)?,
    })
}

fn instr(name: &str, i: &ChainInstr) -> Result<ElementwiseInstr, CompileError> {
    let err = |what: &str| node_err(name, format!("{what} has no CPU elementwise kernel"));
    Ok(match *i {
        ChainInstr::Unary { kind, x } => {
            let op = match (activation_of(&kind), unary_fn(&kind)) {
                (Some(a), _) => ElementwiseOp::Activation(a),
                (None, Some(f)) => ElementwiseOp::Unary(f),
                _ => return Err(err(kind.name())),
            };
            ElementwiseInstr { op, args: [x as u32, 0] }
        }
        ChainInstr::Binary { kind, a, b } => {
            let op = binary_fn(&kind).ok_or_else(|| err(kind.name()))?;
            ElementwiseInstr { op: ElementwiseOp::Binary(op), args: [a as u32, b as u32] }
        }
    })
}

/// `x * s + t` (either operand order) with `s` and `t` constants holding one value per
/// channel of `x` (axis 1): a ChannelAffine over `[C]` views of them.
fn channel_affine(program: &[ElementwiseInstr], ins: &[ValId], p: &mut Program) -> Option<(Kernel, Vec<ValId>)> {
    let (mul, add, act) = match program {
        [m, a] => (m, a, Activation::Identity),
        [m, a, ElementwiseInstr { op: ElementwiseOp::Activation(act), args: [4, 0] }] => (m, a, *act),
        _ => return None,
    };
    if ins.len() != 3
        || mul.op != ElementwiseOp::Binary(BinaryFn::Mul)
        || add.op != ElementwiseOp::Binary(BinaryFn::Add)
    {
        return None;
    }
    let x_shape = p.values[*ins.iter().find(|&&v| p.constant(v).is_none())?].ty.shape.clone();
    if x_shape.len() < 2 {
        return None;
    }
    let c = x_shape[1];
    // Which of registers 0..3 is X, the scale and the shift.
    let [m0, m1] = mul.args.map(|r| r as usize);
    let [a0, a1] = add.args.map(|r| r as usize);
    let shift = match (a0, a1) {
        (3, s) | (s, 3) if s < 3 => s,
        _ => return None,
    };
    let (x, scale) = match (m0, m1) {
        (x, s) | (s, x) if x < 3 && s < 3 && p.constant(ins[x]).is_none() && p.constant(ins[s]).is_some() => (x, s),
        _ => return None,
    };
    let per_channel = |v: ValId, p: &Program| {
        let s = &p.values[v].ty.shape;
        p.constant(v).is_some()
            && s.len() <= x_shape.len()
            && s.iter().product::<usize>() == c
            && s.iter().rev().zip(x_shape.iter().rev()).enumerate().all(|(i, (&d, _))| d == 1 || i + 2 == x_shape.len())
    };
    if x == shift || scale == shift {
        return None;
    }
    if p.values[ins[x]].ty.shape != x_shape || !per_channel(ins[scale], p) || !per_channel(ins[shift], p) {
        return None;
    }
    let (s, t) = (p.view(ins[scale], vec![c]), p.view(ins[shift], vec![c]));
    Some((Kernel::ChannelAffine { activation: act }, vec![ins[x], s, t]))
}

pub(crate) fn chain(
    name: &str,
    c: &ElementwiseChain,
    ins: &[ValId],
    p: &mut Program,
) -> Result<(Kernel, Vec<ValId>), CompileError> {
    let program: Vec<ElementwiseInstr> = c.program.iter().map(|i| instr(name, i)).collect::<Result<_, _>>()?;
    let n = ins.len() as u32;
    let pick = |r: [u32; 2]| vec![ins[r[0] as usize], ins[r[1] as usize]];
    let specific = match &program[..] {
        [ElementwiseInstr { op: ElementwiseOp::Activation(a), args: [0, 0] }] if n == 1 => {
            Some((Kernel::Activation(*a), ins.to_vec()))
        }
        [ElementwiseInstr { op: ElementwiseOp::Unary(f), args: [0, 0] }] if n == 1 => {
            Some((Kernel::Unary(*f), ins.to_vec()))
        }
        [ElementwiseInstr { op: ElementwiseOp::Binary(op), args }] if n == 2 && args.iter().all(|&r| r < 2) => {
            Some((Kernel::Binary { op: *op, activation: Activation::Identity }, pick(*args)))
        }
        [
            ElementwiseInstr { op: ElementwiseOp::Binary(op), args },
            ElementwiseInstr { op: ElementwiseOp::Activation(a), args: [2, 0] },
        ] if n == 2 && args.iter().all(|&r| r < 2) => Some((Kernel::Binary { op: *op, activation: *a }, pick(*args))),
        _ => channel_affine(&program, ins, p),
    };
    Ok(specific.unwrap_or((Kernel::Elementwise { program }, ins.to_vec())))
}
