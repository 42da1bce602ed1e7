//! `Resize` (opset 10 and 11+) and the deprecated `Upsample`, with static output sizes.

use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{CoordTransform, NearestMode, Resize, ResizeMode};

fn mode(s: &str) -> Result<ResizeMode, String> {
    Ok(match s {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" | "trilinear" => ResizeMode::Linear,
        "cubic" => ResizeMode::Cubic,
        other => return Err(format!("unknown resize mode `{other}`")),
    })
}

/// Output sizes from scales: `floor(in * scale)`, as ONNX specifies.
fn sizes_from_scales(input: &[usize], scales: &[f32]) -> Result<Vec<usize>, String> {
    if scales.len() != input.len() {
        return Err(format!("{} scales for a rank-{} input", scales.len(), input.len()));
    }
    input
        .iter()
        .zip(scales)
        .map(|(&n, &s)| {
            let v = (n as f64 * s as f64).floor();
            if s > 0.0 && v.is_finite() && v < (1u64 << 32) as f64 {
                Ok(v as usize)
            } else {
                Err(format!("scale {s} is not a positive finite factor"))
            }
        })
        .collect()
}

/// The simple form of Upsample and opset-10 Resize: asymmetric coordinates, nearest rounds down.
fn legacy(ctx: &Ctx, scales: Vec<f32>) -> Result<Lowered, String> {
    let input = ctx.input(0)?.ty.shape.clone();
    let out_shape = sizes_from_scales(&input, &scales)?;
    let resize = Resize {
        mode: mode(&ctx.attrs.string_or("mode", "nearest")?)?,
        coord: CoordTransform::Asymmetric,
        nearest: NearestMode::Floor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        scales,
        out_shape,
        roi: vec![],
    };
    Ok(Lowered::op_on(Op::Resize(resize), &[0]))
}

/// Scales and output shape from `sizes` given for `axes`. `stretch` takes the sizes as they are;
/// `not_larger` and `not_smaller` keep the aspect ratio: one scale for all of `axes`, the
/// smallest or largest of their ratios, with sizes rounded half up (as ONNX's reference does).
fn from_sizes(input: &[usize], axes: &[usize], sizes: &[i64], policy: &str) -> Result<(Vec<f32>, Vec<usize>), String> {
    if sizes.len() != axes.len() {
        return Err(format!("{} sizes for {} axes", sizes.len(), axes.len()));
    }
    let mut out = input.to_vec();
    for (&ax, &v) in axes.iter().zip(sizes) {
        out[ax] = usize::try_from(v).map_err(|_| format!("negative size {v}"))?;
    }
    if policy == "stretch" {
        let s = input.iter().zip(&out).map(|(&i, &o)| if i == 0 { 1.0 } else { o as f32 / i as f32 }).collect();
        return Ok((s, out));
    }
    let ratios = axes.iter().map(|&d| if input[d] == 0 { 1.0 } else { out[d] as f64 / input[d] as f64 });
    let scale = if policy == "not_larger" {
        ratios.fold(f64::INFINITY, f64::min)
    } else {
        ratios.fold(f64::NEG_INFINITY, f64::max)
    };
    if !(scale.is_finite() && scale > 0.0) {
        return Err(format!("sizes {sizes:?} give no positive finite scale"));
    }
    let mut scales = vec![1.0f32; input.len()];
    for &d in axes {
        scales[d] = scale as f32;
        out[d] = (scale * input[d] as f64 + 0.5).floor() as usize;
    }
    Ok((scales, out))
}

pub fn upsample(ctx: &mut Ctx) -> Result<Lowered, String> {
    let scales = match ctx.const_floats(1, "scales")? {
        Some(s) => s.into_iter().map(|v| v as f32).collect(),
        None => ctx.attrs.floats("scales")?.ok_or("scales are required")?,
    };
    legacy(ctx, scales)
}

pub fn resize(ctx: &mut Ctx) -> Result<Lowered, String> {
    if ctx.opset < 11 {
        let scales = ctx.const_floats(1, "scales")?.ok_or("input `scales` is required")?;
        return legacy(ctx, scales.into_iter().map(|v| v as f32).collect());
    }
    let input = ctx.input(0)?.ty.shape.clone();
    let rank = input.len();
    let a = &ctx.attrs;
    // Opset 18's antialiasing changes the linear and cubic filters when downscaling; the IR's
    // Resize does not carry it, so refuse rather than resize without it.
    if a.int_or("antialias", 0)? != 0 {
        return Err("antialias=1 is not supported".into());
    }
    let policy = a.string_or("keep_aspect_ratio_policy", "stretch")?;
    if !matches!(policy.as_str(), "stretch" | "not_larger" | "not_smaller") {
        return Err(format!("unknown keep_aspect_ratio_policy `{policy}`"));
    }
    // Opset 18 lets scales/sizes name a subset of axes.
    let axes: Vec<usize> = match a.ints("axes")? {
        Some(ax) => ax.iter().map(|&x| ctx.axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
        return Err(format!("axes {axes:?} repeat an axis"));
    }
    let spread = |given: Vec<f64>, fill: f64| -> Result<Vec<f64>, String> {
        if given.len() != axes.len() {
            return Err(format!("{} values for {} axes", given.len(), axes.len()));
        }
        let mut all = vec![fill; rank];
        for (&ax, v) in axes.iter().zip(given) {
            all[ax] = v;
        }
        Ok(all)
    };
    let scales_in = ctx.const_floats(2, "scales")?.filter(|s| !s.is_empty());
    let sizes_in = ctx.const_ints(3, "sizes")?.filter(|s| !s.is_empty());
    let (scales, out_shape): (Vec<f32>, Vec<usize>) = match (scales_in, sizes_in) {
        (Some(s), None) => {
            let s: Vec<f32> = spread(s, 1.0)?.into_iter().map(|v| v as f32).collect();
            let out = sizes_from_scales(&input, &s)?;
            (s, out)
        }
        (None, Some(sz)) => from_sizes(&input, &axes, &sz, &policy)?,
        (Some(_), Some(_)) => return Err("only one of scales and sizes may be given".into()),
        (None, None) => return Err("one of scales and sizes is required".into()),
    };
    let coord = match a.string_or("coordinate_transformation_mode", "half_pixel")?.as_str() {
        "half_pixel" => CoordTransform::HalfPixel,
        "half_pixel_symmetric" => CoordTransform::HalfPixelSymmetric,
        "pytorch_half_pixel" => CoordTransform::PytorchHalfPixel,
        "align_corners" => CoordTransform::AlignCorners,
        "asymmetric" => CoordTransform::Asymmetric,
        "tf_crop_and_resize" => CoordTransform::TfCropAndResize,
        "tf_half_pixel_for_nn" => return Err("coordinate mode tf_half_pixel_for_nn is not supported".into()),
        other => return Err(format!("unknown coordinate_transformation_mode `{other}`")),
    };
    let nearest = match a.string_or("nearest_mode", "round_prefer_floor")?.as_str() {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        other => return Err(format!("unknown nearest_mode `{other}`")),
    };
    let roi = match ctx.const_floats(1, "roi")? {
        Some(r) if !r.is_empty() && coord == CoordTransform::TfCropAndResize => {
            if r.len() != 2 * axes.len() {
                return Err(format!("roi has {} values for {} axes", r.len(), axes.len()));
            }
            let mut all: Vec<f32> = [vec![0.0; rank], vec![1.0; rank]].concat();
            for (i, &ax) in axes.iter().enumerate() {
                all[ax] = r[i] as f32;
                all[ax + rank] = r[i + axes.len()] as f32;
            }
            all
        }
        _ if coord == CoordTransform::TfCropAndResize => return Err("tf_crop_and_resize needs roi".into()),
        _ => vec![],
    };
    let resize = Resize {
        mode: mode(&a.string_or("mode", "nearest")?)?,
        coord,
        nearest,
        cubic_coeff_a: a.float_or("cubic_coeff_a", -0.75)?,
        exclude_outside: a.int_or("exclude_outside", 0)? != 0,
        extrapolation_value: a.float_or("extrapolation_value", 0.0)?,
        scales,
        out_shape,
        roi,
    };
    Ok(Lowered::op_on(Op::Resize(resize), &[0]))
}
