//! Two-input elementwise ops, and the variadic `Max`, `Min`, `Sum`, `Mean` lowered to chains.

use super::{Ctx, Lowered, Src, Step};
use hetc_ir::ops::{Binary, BinaryKind};
use hetc_ir::{Op, Tensor};

fn kind(op_type: &str, ctx: &Ctx) -> Result<BinaryKind, String> {
    Ok(match op_type {
        "Add" | "Sum" | "Mean" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        "Div" => BinaryKind::Div,
        "Pow" => BinaryKind::Pow,
        "Max" => BinaryKind::Max,
        "Min" => BinaryKind::Min,
        "Mod" => BinaryKind::Mod { fmod: ctx.attrs.int_or("fmod", 0)? != 0 },
        "PRelu" => BinaryKind::PRelu,
        "Equal" => BinaryKind::Equal,
        "Less" => BinaryKind::Less,
        "LessOrEqual" => BinaryKind::LessOrEqual,
        "Greater" => BinaryKind::Greater,
        "GreaterOrEqual" => BinaryKind::GreaterOrEqual,
        "And" => BinaryKind::And,
        "Or" => BinaryKind::Or,
        "Xor" => BinaryKind::Xor,
        other => return Err(format!("unknown binary op {other}")),
    })
}

pub fn binary(ctx: &mut Ctx) -> Result<Lowered, String> {
    let a = ctx.input(0)?.ty.dtype;
    ctx.input(1)?;
    let kind = kind(ctx.op_type, ctx)?;
    // Mod-28 defined fmod=0 (floor modulo) for floats; earlier versions allow it on integers only.
    if kind == (BinaryKind::Mod { fmod: false }) && a.is_float() && ctx.opset < 28 {
        return Err(format!("Mod with fmod=0 on {a} needs opset 28 (earlier opsets define it for integers only)"));
    }
    Ok(Lowered::op_on(Op::Binary(Binary { kind }), &[0, 1]))
}

/// `Max(a, b, c)` becomes `Max(Max(a, b), c)`; `Mean` divides the sum by the count.
pub fn variadic(ctx: &mut Ctx) -> Result<Lowered, String> {
    let n = ctx.inputs.len();
    if n == 0 || ctx.inputs.iter().any(Option::is_none) {
        return Err("needs at least one input and no empty ones".into());
    }
    let kind = kind(ctx.op_type, ctx)?;
    if n == 1 && ctx.op_type != "Mean" {
        return Ok(Lowered::Alias(0));
    }
    let op = Op::Binary(Binary { kind });
    let mut steps = Vec::new();
    let mut acc = Src::In(0);
    for i in 1..n {
        steps.push(Step { op: op.clone(), inputs: vec![Some(acc), Some(Src::In(i))] });
        acc = Src::Step(steps.len() - 1);
    }
    if ctx.op_type == "Mean" {
        let dtype = ctx.input(0)?.ty.dtype;
        let count = Tensor::from_f64_values(dtype, vec![], &[n as f64]);
        steps.push(Step {
            op: Op::Binary(Binary { kind: BinaryKind::Div }),
            inputs: vec![Some(acc), Some(Src::Const(count))],
        });
    }
    Ok(Lowered::Steps(steps))
}
