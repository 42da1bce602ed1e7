//! `Conv`, plus the window-attribute handling (strides, dilations, pads, `auto_pad`) that
//! pooling shares.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::Conv;

/// Strides, dilations and explicit pads of a sliding window over `input` spatial sizes.
pub(super) struct Window {
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads: Vec<usize>,
}

pub(super) fn window(ctx: &Ctx, input: &[usize], kernel: &[usize], ceil_mode: bool) -> Result<Window, String> {
    let n = input.len();
    let list = |name: &str, default: usize| -> Result<Vec<usize>, String> {
        match ctx.attrs.usizes(name)? {
            Some(v) if v.len() == n => Ok(v),
            Some(v) => Err(format!("`{name}` = {v:?} does not have {n} entries")),
            None => Ok(vec![default; n]),
        }
    };
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err("strides and dilations must be positive".into());
    }
    let auto_pad = ctx.attrs.string_or("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" => match ctx.attrs.usizes("pads")? {
            Some(p) if p.len() == 2 * n => p,
            Some(p) => return Err(format!("`pads` = {p:?} does not have {} entries", 2 * n)),
            None => vec![0; 2 * n],
        },
        "VALID" => vec![0; 2 * n],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = vec![0; 2 * n];
            for d in 0..n {
                // Output is ceil(in / stride); pad just enough to produce it.
                let out = input[d].div_ceil(strides[d]);
                let span = (kernel[d].max(1) - 1).checked_mul(dilations[d]).and_then(|s| s.checked_add(1));
                // Pads beyond 2^40 are refused, as given ones are (`Attrs::usizes`).
                let total = span
                    .and_then(|s| ((out.max(1) - 1) * strides[d]).checked_add(s))
                    .map(|t| t.saturating_sub(input[d]))
                    .filter(|&t| t < 1 << 40)
                    .ok_or("kernel_shape and dilations are too large")?;
                let (small, large) = (total / 2, total - total / 2);
                let _ = ceil_mode;
                if auto_pad == "SAME_UPPER" {
                    pads[d] = small;
                    pads[d + n] = large;
                } else {
                    pads[d] = large;
                    pads[d + n] = small;
                }
            }
            pads
        }
        other => return Err(format!("unknown auto_pad `{other}`")),
    };
    Ok(Window { strides, dilations, pads })
}

pub fn conv(ctx: &mut Ctx) -> Result<Lowered, String> {
    let x = ctx.input(0)?.ty.clone();
    let w = ctx.input(1)?.ty.clone();
    if x.rank() < 3 || w.rank() != x.rank() {
        return Err(format!("Conv needs X and W of equal rank >= 3, got {x} and {w}"));
    }
    let kernel = match ctx.attrs.usizes("kernel_shape")? {
        Some(k) => k,
        None => w.shape[2..].to_vec(),
    };
    if kernel.len() != x.rank() - 2 {
        return Err(format!("kernel_shape {kernel:?} does not match {x}"));
    }
    let win = window(ctx, &x.shape[2..], &kernel, false)?;
    let group = usize::try_from(ctx.attrs.int_or("group", 1)?).map_err(|_| "group must be positive".to_string())?;
    if group == 0 {
        return Err("group must be positive".into());
    }
    Ok(Lowered::op(
        Op::Conv(Conv { kernel, strides: win.strides, dilations: win.dilations, pads: win.pads, group }),
        ctx,
    ))
}
