//! `Reshape`, `Flatten`, `Squeeze` and `Unsqueeze`, all lowered to a static IR Reshape.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Reshape;

fn to(shape: Vec<usize>) -> Lowered {
    Lowered::op_on(Op::Reshape(Reshape { shape }), &[0])
}

pub fn reshape(ctx: &mut Ctx) -> Result<Lowered, String> {
    // Opset 5+ takes the shape as an input; opset 1 had an attribute.
    let request = match ctx.const_ints(1, "shape")? {
        Some(s) => s,
        None => ctx.attrs.ints("shape")?.ok_or("input `shape` is required")?,
    };
    let allowzero = ctx.attrs.int_or("allowzero", 0)? != 0;
    let shape = Reshape::resolve(&ctx.input(0)?.ty.shape, &request, allowzero).map_err(|e| e.to_string())?;
    Ok(to(shape))
}

pub fn flatten(ctx: &mut Ctx) -> Result<Lowered, String> {
    let x = &ctx.input(0)?.ty;
    let r = x.rank() as i64;
    let axis = ctx.attrs.int_or("axis", 1)?;
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&axis) {
        return Err(format!("axis {axis} is out of range for rank {r}"));
    }
    let outer: usize = x.shape[..axis as usize].iter().product();
    let inner: usize = x.shape[axis as usize..].iter().product();
    Ok(to(vec![outer, inner]))
}

/// Axes from the attribute (before opset 13) or the input (13 and later).
fn axes(ctx: &Ctx, rank: usize) -> Result<Option<Vec<usize>>, String> {
    let raw = match ctx.const_ints(1, "axes")? {
        Some(a) => Some(a),
        None => ctx.attrs.ints("axes")?,
    };
    let Some(raw) = raw else { return Ok(None) };
    let mut axes = raw.iter().map(|&a| ctx.axis(a, rank)).collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!("axes {raw:?} repeat an axis"));
    }
    Ok(Some(axes))
}

pub fn squeeze(ctx: &mut Ctx) -> Result<Lowered, String> {
    let shape = ctx.input(0)?.ty.shape.clone();
    let out = match axes(ctx, shape.len())? {
        Some(axes) => {
            if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
                return Err(format!("cannot squeeze axis {a} of size {}", shape[a]));
            }
            shape.iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, &n)| n).collect()
        }
        None => shape.iter().copied().filter(|&n| n != 1).collect(),
    };
    Ok(to(out))
}

pub fn unsqueeze(ctx: &mut Ctx) -> Result<Lowered, String> {
    let shape = ctx.input(0)?.ty.shape.clone();
    let rank = shape.len()
        + match ctx.const_ints(1, "axes")? {
            Some(a) => a.len(),
            None => ctx.attrs.ints("axes")?.map_or(0, |a| a.len()),
        };
    let axes = axes(ctx, rank)?.ok_or("axes are required")?;
    let mut src = shape.into_iter();
    let out = (0..rank).map(|d| if axes.contains(&d) { 1 } else { src.next().unwrap_or(1) }).collect();
    Ok(to(out))
}
