//! `InstanceNormalization`.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::InstanceNorm;

pub fn instance_norm(ctx: &mut Ctx) -> Result<Lowered, String> {
    let epsilon = ctx.attrs.float_or("epsilon", 1e-5)?;
    Ok(Lowered::op_on(Op::InstanceNorm(InstanceNorm { epsilon }), &[0, 1, 2]))
}
