//! `Gather` along an axis.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Gather;

pub fn gather(ctx: &mut Ctx) -> Result<Lowered, String> {
    let axis = ctx.axis(ctx.attrs.int_or("axis", 0)?, ctx.rank()?)?;
    ctx.input(1)?;
    Ok(Lowered::op_on(Op::Gather(Gather { axis }), &[0, 1]))
}
