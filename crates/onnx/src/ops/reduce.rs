//! The `Reduce*` family; axes moved from attribute to input in opset 13 (ReduceSum) and 18
//! (the rest).

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{Reduce, ReduceKind};

pub fn reduce(ctx: &mut Ctx) -> Result<Lowered, String> {
    let kind = match ctx.op_type {
        "ReduceSum" => ReduceKind::Sum,
        "ReduceMean" => ReduceKind::Mean,
        "ReduceMax" => ReduceKind::Max,
        "ReduceMin" => ReduceKind::Min,
        "ReduceProd" => ReduceKind::Prod,
        "ReduceL1" => ReduceKind::L1,
        "ReduceL2" => ReduceKind::L2,
        "ReduceSumSquare" => ReduceKind::SumSquare,
        "ReduceLogSumExp" => ReduceKind::LogSumExp,
        other => return Err(format!("unknown reduction {other}")),
    };
    let rank = ctx.rank()?;
    let raw = match ctx.const_ints(1, "axes")? {
        Some(a) => Some(a),
        None => ctx.attrs.ints("axes")?,
    };
    let noop_with_empty_axes = ctx.attrs.int_or("noop_with_empty_axes", 0)? != 0;
    let axes: Vec<usize> = match raw {
        Some(a) if !a.is_empty() => {
            let mut v = a.iter().map(|&x| ctx.axis(x, rank)).collect::<Result<Vec<_>, _>>()?;
            v.sort_unstable();
            v.dedup();
            v
        }
        _ if noop_with_empty_axes => return Ok(Lowered::Alias(0)),
        _ => (0..rank).collect(),
    };
    let keepdims = ctx.attrs.int_or("keepdims", 1)? != 0;
    Ok(Lowered::op_on(Op::Reduce(Reduce { kind, axes, keepdims }), &[0]))
}
