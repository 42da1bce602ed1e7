//! `Split` into pieces of static sizes.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Split;

pub fn split(ctx: &mut Ctx) -> Result<Lowered, String> {
    let shape = ctx.input(0)?.ty.shape.clone();
    let axis = ctx.axis(ctx.attrs.int_or("axis", 0)?, shape.len())?;
    let len = shape[axis];
    let given = match ctx.const_ints(1, "split")? {
        Some(s) => Some(s),
        None => ctx.attrs.ints("split")?,
    };
    let sizes: Vec<usize> = match given {
        Some(s) => s
            .iter()
            .map(|&v| usize::try_from(v).map_err(|_| format!("negative split size {v}")))
            .collect::<Result<_, _>>()?,
        None => {
            // Opset 18 names the count; before it, one piece per declared output.
            let n = ctx.attrs.int("num_outputs")?.map_or(ctx.num_outputs, |n| n.max(0) as usize);
            if n == 0 {
                return Err("Split has no outputs".into());
            }
            // Checked before making the sizes: `num_outputs` alone can ask for billions.
            if n != ctx.num_outputs {
                return Err(format!("num_outputs is {n} but the node has {} outputs", ctx.num_outputs));
            }
            // Equal pieces, the last one smaller if the axis does not divide (opset 18).
            let piece = len.div_ceil(n);
            (0..n).map(|i| piece.min(len.saturating_sub(i * piece))).collect()
        }
    };
    if sizes.len() != ctx.num_outputs {
        return Err(format!("split has {} sizes for {} outputs", sizes.len(), ctx.num_outputs));
    }
    if sizes.iter().sum::<usize>() != len {
        return Err(format!("split sizes {sizes:?} do not add up to {len}"));
    }
    Ok(Lowered::op_on(Op::Split(Split { axis, sizes }), &[0]))
}
