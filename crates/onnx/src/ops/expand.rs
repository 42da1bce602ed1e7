//! `Expand` to a constant shape.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Expand;

pub fn expand(ctx: &mut Ctx) -> Result<Lowered, String> {
    let shape = ctx.const_ints(1, "shape")?.ok_or("input `shape` is required")?;
    let shape = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in {shape:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Lowered::op_on(Op::Expand(Expand { shape }), &[0]))
}
