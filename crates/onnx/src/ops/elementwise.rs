//! One-input math functions without parameters.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{Unary, UnaryKind};

pub fn elementwise(ctx: &mut Ctx) -> Result<Lowered, String> {
    let kind = match ctx.op_type {
        "Tanh" => UnaryKind::Tanh,
        "Exp" => UnaryKind::Exp,
        "Log" => UnaryKind::Log,
        "Sqrt" => UnaryKind::Sqrt,
        "Reciprocal" => UnaryKind::Reciprocal,
        "Neg" => UnaryKind::Neg,
        "Abs" => UnaryKind::Abs,
        "Floor" => UnaryKind::Floor,
        "Ceil" => UnaryKind::Ceil,
        "Round" => UnaryKind::Round,
        "Sign" => UnaryKind::Sign,
        "Erf" => UnaryKind::Erf,
        "Sin" => UnaryKind::Sin,
        "Cos" => UnaryKind::Cos,
        "Not" => UnaryKind::Not,
        other => return Err(format!("unknown elementwise op {other}")),
    };
    Ok(Lowered::op_on(Op::Unary(Unary { kind }), &[0]))
}
