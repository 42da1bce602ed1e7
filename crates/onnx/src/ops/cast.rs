//! `Cast` to another element type.

use super::{Ctx, Lowered};
use crate::tensor::dtype_from_onnx;
use hetc_ir::Op;
use hetc_ir::ops::Cast;

pub fn cast(ctx: &mut Ctx) -> Result<Lowered, String> {
    let to = ctx.attrs.int("to")?.ok_or("attribute `to` is required")?;
    let to = dtype_from_onnx(i32::try_from(to).map_err(|_| format!("bad type code {to}"))?)?;
    if ctx.input(0)?.ty.dtype == to {
        return Ok(Lowered::Alias(0));
    }
    Ok(Lowered::op_on(Op::Cast(Cast { to }), &[0]))
}
