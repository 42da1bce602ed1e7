//! Activations with parameters, and `Clip` (attributes before opset 11, inputs after).

use super::{Ctx, Lowered};
use hetc_ir::ops::{Unary, UnaryKind};
use hetc_ir::{DType, Op};

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
                Some(t) if t.numel() == 1 && dtype.is_float() => Ok(t.get_f64(0) as f32),
                Some(t) if t.numel() == 1 => integer_bound(t.get_i64(0), dtype, what == "max", default),
                Some(_) => Err(format!("`{what}` must be a scalar")),
                None => Ok(default),
            }
        };
        (bound(1, "min", lo)?, bound(2, "max", hi)?)
    };
    Ok(Lowered::op_on(Op::Unary(Unary { kind: UnaryKind::Clip { min, max } }), &[0]))
}

/// Clip keeps its bounds as f32, so an integer bound must be exactly an f32, or it would clip
/// at a different value. A bound at or past the end of the input type's range clips nothing
/// on its side (`torch.clamp(x, max=2**31 - 1)`), so it becomes no bound.
fn integer_bound(b: i64, dtype: DType, is_max: bool, none: f32) -> Result<f32, String> {
    let (lo, hi): (i64, i64) = match dtype {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::U64 => (0, i64::MAX),
        _ => (i64::MIN, i64::MAX),
    };
    if (is_max && b >= hi) || (!is_max && b <= lo) {
        return Ok(none);
    }
    let f = b as f32;
    if f as i64 != b {
        return Err(format!("Clip bound {b} on {dtype} is not exactly representable (hetc keeps bounds as f32)"));
    }
    Ok(f)
}
