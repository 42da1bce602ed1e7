//! `Shape` and `Size`: with static shapes these are always compile-time constants.

use super::{Ctx, Lowered};
use hetc_ir::Tensor;

pub fn shape(ctx: &mut Ctx) -> Result<Lowered, String> {
    let dims: Vec<i64> = ctx.input(0)?.ty.shape.iter().map(|&d| d as i64).collect();
    let r = dims.len() as i64;
    // Opset 15 added start/end, clamped like Slice.
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clamp(ctx.attrs.int_or("start", 0)?);
    let end = clamp(ctx.attrs.int_or("end", r)?);
    let picked = if start < end { dims[start..end].to_vec() } else { vec![] };
    Ok(Lowered::Values(vec![Tensor::from_i64(vec![picked.len()], &picked)]))
}

pub fn size(ctx: &mut Ctx) -> Result<Lowered, String> {
    let n = ctx.input(0)?.ty.numel() as i64;
    Ok(Lowered::Values(vec![Tensor::from_i64(vec![], &[n])]))
}
