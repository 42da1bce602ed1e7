//! `MatMul`.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::MatMul;

pub fn matmul(ctx: &mut Ctx) -> Result<Lowered, String> {
    ctx.input(1)?;
    Ok(Lowered::op_on(Op::MatMul(MatMul), &[0, 1]))
}
