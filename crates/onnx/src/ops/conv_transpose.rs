//! `ConvTranspose`, with `output_shape` and `auto_pad` resolved into explicit pads.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{Conv, ConvTranspose};

pub fn conv_transpose(ctx: &mut Ctx) -> Result<Lowered, String> {
    let x = ctx.input(0)?.ty.clone();
    let w = ctx.input(1)?.ty.clone();
    if x.rank() < 3 || w.rank() != x.rank() {
        return Err(format!("ConvTranspose needs X and W of equal rank >= 3, got {x} and {w}"));
    }
    let n = x.rank() - 2;
    let a = &ctx.attrs;
    let list = |name: &str, default: usize| -> Result<Vec<usize>, String> {
        match a.usizes(name)? {
            Some(v) if v.len() == n => Ok(v),
            Some(v) => Err(format!("`{name}` = {v:?} does not have {n} entries")),
            None => Ok(vec![default; n]),
        }
    };
    let kernel = match a.usizes("kernel_shape")? {
        Some(k) if k.len() == n => k,
        Some(k) => return Err(format!("kernel_shape {k:?} does not match {x}")),
        None => w.shape[2..].to_vec(),
    };
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    let mut output_padding = list("output_padding", 0)?;
    if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
        return Err("strides, dilations and kernel sizes must be positive".into());
    }
    let group = usize::try_from(a.int_or("group", 1)?).ok().filter(|&g| g > 0).ok_or("group must be positive")?;
    let auto_pad = a.string_or("auto_pad", "NOTSET")?;
    let output_shape = a.usizes("output_shape")?;
    let mut pads = vec![0usize; 2 * n];
    let target: Option<Vec<usize>> = match (&output_shape, auto_pad.as_str()) {
        (Some(s), _) => Some(if s.len() == n + 2 { s[2..].to_vec() } else { s.clone() }),
        (None, "SAME_UPPER" | "SAME_LOWER") => Some(
            (0..n)
                .map(|d| x.shape[d + 2].checked_mul(strides[d]))
                .collect::<Option<_>>()
                .ok_or("strides are too large")?,
        ),
        (None, "NOTSET") => {
            pads = match a.usizes("pads")? {
                Some(p) if p.len() == 2 * n => p,
                Some(p) => return Err(format!("`pads` = {p:?} does not have {} entries", 2 * n)),
                None => vec![0; 2 * n],
            };
            None
        }
        (None, "VALID") => None,
        (None, other) => return Err(format!("unknown auto_pad `{other}`")),
    };
    if let Some(target) = target {
        if target.len() != n {
            return Err(format!("output_shape {target:?} does not have {n} spatial entries"));
        }
        for d in 0..n {
            let full = (x.shape[d + 2].max(1) - 1)
                .checked_mul(strides[d])
                .and_then(|f| f.checked_add((kernel[d] - 1).checked_mul(dilations[d])?))
                .and_then(|f| f.checked_add(1 + output_padding[d]))
                .ok_or("strides, kernel_shape and dilations are too large")?;
            if full >= target[d] {
                let total = full - target[d];
                // ONNX puts the odd pad at the end for SAME_UPPER, at the start otherwise.
                let (small, large) = (total / 2, total - total / 2);
                (pads[d], pads[d + n]) = if auto_pad == "SAME_UPPER" { (small, large) } else { (large, small) };
            } else {
                // A larger requested output is reached by extra output padding.
                output_padding[d] += target[d] - full;
            }
        }
    }
    let conv = Conv { kernel, strides, dilations, pads, group };
    Ok(Lowered::op(Op::ConvTranspose(ConvTranspose { conv, output_padding }), ctx))
}
