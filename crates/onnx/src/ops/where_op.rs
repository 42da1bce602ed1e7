//! `Where(condition, X, Y)`.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Where;

pub fn where_op(ctx: &mut Ctx) -> Result<Lowered, String> {
    for i in 0..3 {
        ctx.input(i)?;
    }
    Ok(Lowered::op_on(Op::Where(Where), &[0, 1, 2]))
}
