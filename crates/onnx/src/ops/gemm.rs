//! `Gemm`.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Gemm;

pub fn gemm(ctx: &mut Ctx) -> Result<Lowered, String> {
    let a = &ctx.attrs;
    let gemm = Gemm {
        alpha: a.float_or("alpha", 1.0)?,
        beta: a.float_or("beta", 1.0)?,
        trans_a: a.int_or("transA", 0)? != 0,
        trans_b: a.int_or("transB", 0)? != 0,
    };
    Ok(Lowered::op(Op::Gemm(gemm), ctx))
}
