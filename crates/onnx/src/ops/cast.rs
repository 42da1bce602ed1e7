//! `Cast` to another element type, and `CastLike` to the type of a second input.

use super::{Ctx, Lowered};
use crate::tensor::dtype_from_onnx;
use hetc_ir::ops::Cast;
use hetc_ir::{DType, Op};

pub fn cast(ctx: &mut Ctx) -> Result<Lowered, String> {
    let to = ctx.attrs.int("to")?.ok_or("attribute `to` is required")?;
    let to = dtype_from_onnx(i32::try_from(to).map_err(|_| format!("bad type code {to}"))?)?;
    to_type(ctx, to)
}

/// `CastLike(input, target_type)`: only the second input's element type matters, not its value.
pub fn cast_like(ctx: &mut Ctx) -> Result<Lowered, String> {
    let to = ctx.input(1)?.ty.dtype;
    to_type(ctx, to)
}

fn to_type(ctx: &Ctx, to: DType) -> Result<Lowered, String> {
    if ctx.input(0)?.ty.dtype == to {
        return Ok(Lowered::Alias(0));
    }
    Ok(Lowered::op_on(Op::Cast(Cast { to }), &[0]))
}
