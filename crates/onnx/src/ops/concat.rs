//! `Concat` along an axis.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Concat;

pub fn concat(ctx: &mut Ctx) -> Result<Lowered, String> {
    let axis = ctx.attrs.int("axis")?.ok_or("attribute `axis` is required")?;
    if ctx.inputs.is_empty() || ctx.inputs.iter().any(Option::is_none) {
        return Err("Concat needs at least one input and no empty ones".into());
    }
    let axis = ctx.axis(axis, ctx.rank()?)?;
    Ok(Lowered::op(Op::Concat(Concat { axis }), ctx))
}
