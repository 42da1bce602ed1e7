//! `Pad`: attributes before opset 11, constant inputs after (with `axes` from opset 18).

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{Pad, PadMode};

pub fn pad(ctx: &mut Ctx) -> Result<Lowered, String> {
    let rank = ctx.rank()?;
    let mode = match ctx.attrs.string_or("mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => return Err(format!("unknown pad mode `{other}`")),
    };
    let (raw, value) = if ctx.opset < 11 {
        let pads = match ctx.attrs.ints("pads")? {
            Some(p) => p,
            None => ctx.attrs.ints("paddings")?.ok_or("attribute `pads` is required")?,
        };
        (pads, ctx.attrs.float_or("value", 0.0)? as f64)
    } else {
        let pads = ctx.const_ints(1, "pads")?.ok_or("input `pads` is required")?;
        let value = match ctx.const_input(2, "constant_value")? {
            Some(v) if v.numel() == 1 => v.get_f64(0),
            Some(v) if v.numel() == 0 => 0.0,
            Some(_) => return Err("constant_value must be a scalar".into()),
            None => 0.0,
        };
        (pads, value)
    };
    // Pads given for a subset of axes (opset 18) are spread to every axis.
    let axes: Vec<usize> = match ctx.const_ints(3, "axes")? {
        Some(a) => a.iter().map(|&x| ctx.axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if raw.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", raw.len(), axes.len()));
    }
    let mut pads = vec![0i64; 2 * rank];
    for (i, &a) in axes.iter().enumerate() {
        pads[a] = raw[i];
        pads[a + rank] = raw[i + axes.len()];
    }
    if pads.iter().all(|&p| p == 0) {
        return Ok(Lowered::Alias(0));
    }
    Ok(Lowered::op_on(Op::Pad(Pad { mode, pads, value }), &[0]))
}
