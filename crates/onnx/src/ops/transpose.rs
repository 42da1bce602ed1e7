//! `Transpose`; without `perm` it reverses the axes.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Transpose;

pub fn transpose(ctx: &mut Ctx) -> Result<Lowered, String> {
    let rank = ctx.rank()?;
    let perm = match ctx.attrs.ints("perm")? {
        Some(p) => p.iter().map(|&a| ctx.axis(a, rank)).collect::<Result<Vec<_>, _>>()?,
        None => (0..rank).rev().collect(),
    };
    Ok(Lowered::op_on(Op::Transpose(Transpose { perm }), &[0]))
}
