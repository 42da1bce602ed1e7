//! Activations with parameters, and `Clip` (attributes before opset 11, inputs after).

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{Unary, UnaryKind};

pub fn activation(ctx: &mut Ctx) -> Result<Lowered, String> {
    let a = &ctx.attrs;
    let kind = match ctx.op_type {
        "Relu" => UnaryKind::Relu,
        "LeakyRelu" => UnaryKind::LeakyRelu { alpha: a.float_or("alpha", 0.01)? },
        "Elu" => UnaryKind::Elu { alpha: a.float_or("alpha", 1.0)? },
        "Selu" => UnaryKind::Selu { alpha: a.float_or("alpha", 1.673_263_2)?, gamma: a.float_or("gamma", 1.050_701)? },
        "Celu" => UnaryKind::Celu { alpha: a.float_or("alpha", 1.0)? },
        "ThresholdedRelu" => UnaryKind::ThresholdedRelu { alpha: a.float_or("alpha", 1.0)? },
        "Sigmoid" => UnaryKind::Sigmoid,
        "HardSigmoid" => UnaryKind::HardSigmoid { alpha: a.float_or("alpha", 0.2)?, beta: a.float_or("beta", 0.5)? },
        "HardSwish" => UnaryKind::HardSwish,
        "Softplus" => UnaryKind::Softplus,
        "Softsign" => UnaryKind::Softsign,
        "Mish" => UnaryKind::Mish,
        other => return Err(format!("unknown activation {other}")),
    };
    Ok(Lowered::op_on(Op::Unary(Unary { kind }), &[0]))
}

pub fn clip(ctx: &mut Ctx) -> Result<Lowered, String> {
    let dtype = ctx.input(0)?.ty.dtype;
    let (lo, hi) =
        if dtype.is_float() { (f32::NEG_INFINITY, f32::INFINITY) } else { (i64::MIN as f32, i64::MAX as f32) };
    let (min, max) = if ctx.opset < 11 {
        (ctx.attrs.float_or("min", lo)?, ctx.attrs.float_or("max", hi)?)
    } else {
        let bound = |i: usize, what: &str, default: f32| -> Result<f32, String> {
            match ctx.const_input(i, what)? {
                Some(t) if t.numel() == 1 => Ok(t.get_f64(0) as f32),
                Some(_) => Err(format!("`{what}` must be a scalar")),
                None => Ok(default),
            }
        };
        (bound(1, "min", lo)?, bound(2, "max", hi)?)
    };
    Ok(Lowered::op_on(Op::Unary(Unary { kind: UnaryKind::Clip { min, max } }), &[0]))
}
