//! `BatchNormalization` in inference mode.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::BatchNorm;

pub fn batch_norm(ctx: &mut Ctx) -> Result<Lowered, String> {
    if ctx.attrs.int_or("training_mode", 0)? != 0 {
        return Err("training_mode=1 is not supported at inference".into());
    }
    if ctx.opset < 9 && ctx.attrs.int_or("spatial", 1)? == 0 {
        return Err("spatial=0 is not supported".into());
    }
    let epsilon = ctx.attrs.float_or("epsilon", 1e-5)?;
    Ok(Lowered::op_on(Op::BatchNorm(BatchNorm { epsilon }), &[0, 1, 2, 3, 4]))
}
