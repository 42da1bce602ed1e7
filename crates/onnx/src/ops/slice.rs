//! `Slice` with constant starts, ends, axes and steps (attributes before opset 10).

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{Slice, SliceAxis};

pub fn slice(ctx: &mut Ctx) -> Result<Lowered, String> {
    let shape = ctx.input(0)?.ty.shape.clone();
    let (starts, ends, axes, steps) = if ctx.opset < 10 {
        (ctx.attrs.ints("starts")?, ctx.attrs.ints("ends")?, ctx.attrs.ints("axes")?, None)
    } else {
        (
            ctx.const_ints(1, "starts")?,
            ctx.const_ints(2, "ends")?,
            ctx.const_ints(3, "axes")?,
            ctx.const_ints(4, "steps")?,
        )
    };
    let starts = starts.ok_or("starts are required")?;
    let ends = ends.ok_or("ends are required")?;
    let n = starts.len();
    let axes = axes.unwrap_or_else(|| (0..n as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; n]);
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err("starts, ends, axes and steps have different lengths".into());
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let axis = ctx.axis(axes[i], shape.len())?;
        let a = SliceAxis::resolve(axis, starts[i], ends[i], steps[i], shape[axis]).ok_or("a step is zero")?;
        out.push(a);
    }
    out.sort_by_key(|a| a.axis);
    Ok(Lowered::op_on(Op::Slice(Slice { axes: out }), &[0]))
}
