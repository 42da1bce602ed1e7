//! `Softmax` and `LogSoftmax`; before opset 13 they normalised the input coerced to 2-D.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Softmax;

fn lower(ctx: &mut Ctx, log: bool) -> Result<Lowered, String> {
    let rank = ctx.rank()?;
    let legacy = ctx.opset < 13;
    let axis = ctx.attrs.int_or("axis", if legacy { 1 } else { -1 })?;
    let axis = ctx.axis(axis, rank.max(1))?;
    // Coercion to 2-D at the last axis is the same as the modern meaning.
    let coerce_2d = legacy && axis + 1 < rank;
    Ok(Lowered::op_on(Op::Softmax(Softmax { axis, coerce_2d, log }), &[0]))
}

pub fn softmax(ctx: &mut Ctx) -> Result<Lowered, String> {
    lower(ctx, false)
}

pub fn log_softmax(ctx: &mut Ctx) -> Result<Lowered, String> {
    lower(ctx, true)
}
