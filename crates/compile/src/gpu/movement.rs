//! Data movement: Concat (one dispatch per input), Split (one per output), Slice, Transpose,
//! Pad (constant, reflect, edge, wrap) and Resize (nearest and linear), one thread per element
//! written.

use super::wgsl::{self, LINEAR_WG};
use super::{Pass, StepIo};
use hetc_plan::{CoordTransform, NearestMode, PadMode, ResizeMode, ResizeParams, SliceAxis, TensorId};
use std::fmt::Write;

fn linear_pass(name: &str, total: usize, bindings: Vec<TensorId>, body: &str) -> Pass {
    let wgsl = format!("{}{}", wgsl::bindings(bindings.len()), wgsl::linear_main(total, body));
    Pass {
        name: name.into(),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(total, LINEAR_WG),
        bindings,
    }
}

/// Copies between a part `[outer, part, inner]` and the whole `[outer, whole, inner]` at
/// `offset` along the middle axis; `into_whole` says which way.
#[allow(clippy::too_many_arguments)]
fn block_copy(
    name: &str,
    outer: usize,
    part: usize,
    whole: usize,
    inner: usize,
    offset: usize,
    into_whole: bool,
    ids: Vec<TensorId>,
) -> Pass {
    let total = outer * part * inner;
    let body = format!(
        "let o = i / {pi}u; let r = i % {pi}u;\nlet w = o * {wi}u + {off}u + r;\n{}",
        if into_whole { "b1[w] = b0[i];" } else { "b1[i] = b0[w];" },
        pi = part * inner,
        wi = whole * inner,
        off = offset * inner,
    );
    linear_pass(name, total, ids, &body)
}

pub fn concat(io: &StepIo, axis: usize) -> Result<Vec<Pass>, String> {
    let y = &io.outs[0];
    let outer: usize = y[..axis].iter().product();
    let inner: usize = y[axis + 1..].iter().product();
    let mut offset = 0;
    let mut passes = Vec::new();
    for (k, x) in io.ins.iter().enumerate() {
        if x[axis] > 0 && outer * inner > 0 {
            passes.push(block_copy(
                "concat",
                outer,
                x[axis],
                y[axis],
                inner,
                offset,
                true,
                vec![io.in_ids[k], io.out_ids[0]],
            ));
        }
        offset += x[axis];
    }
    if passes.is_empty() {
        return Err("a Concat of empty tensors".into());
    }
    Ok(passes)
}

pub fn split(io: &StepIo, axis: usize) -> Result<Vec<Pass>, String> {
    let x = &io.ins[0];
    let outer: usize = x[..axis].iter().product();
    let inner: usize = x[axis + 1..].iter().product();
    let mut offset = 0;
    let mut passes = Vec::new();
    for (k, y) in io.outs.iter().enumerate() {
        if y[axis] > 0 && outer * inner > 0 {
            passes.push(block_copy(
                "split",
                outer,
                y[axis],
                x[axis],
                inner,
                offset,
                false,
                vec![io.in_ids[0], io.out_ids[k]],
            ));
        }
        offset += y[axis];
    }
    if passes.is_empty() {
        return Err("a Split into empty tensors".into());
    }
    Ok(passes)
}

pub fn slice(io: &StepIo, axes: &[SliceAxis]) -> Result<Vec<Pass>, String> {
    let (x, y) = (&io.ins[0], &io.outs[0]);
    let st = wgsl::strides(x);
    let mut body = wgsl::unravel("i", y, "c");
    let mut terms = Vec::new();
    #[allow(clippy::needless_range_loop)]
    for d in 0..y.len() {
        match axes.iter().find(|a| a.axis as usize == d) {
            Some(a) => terms.push(format!("u32({} + i32(c{d}) * {}) * {}u", a.start, a.step, st[d])),
            None => terms.push(format!("c{d} * {}u", st[d])),
        }
    }
    if terms.is_empty() {
        terms.push("0u".into());
    }
    writeln!(body, "b1[i] = b0[{}];", terms.join(" + ")).unwrap();
    Ok(vec![linear_pass("slice", y.iter().product(), io.all_ids(), &body)])
}

pub fn transpose(io: &StepIo, perm: &[u32]) -> Result<Vec<Pass>, String> {
    let (x, y) = (&io.ins[0], &io.outs[0]);
    let st = wgsl::strides(x);
    let mut body = wgsl::unravel("i", y, "c");
    let s: Vec<usize> = perm.iter().map(|&p| st[p as usize]).collect();
    writeln!(body, "b1[i] = b0[{}];", wgsl::dot("c", &s)).unwrap();
    Ok(vec![linear_pass("transpose", y.iter().product(), io.all_ids(), &body)])
}

pub fn pad(io: &StepIo, mode: PadMode, pads: &[i64], value: f32) -> Result<Vec<Pass>, String> {
    let (x, y) = (&io.ins[0], &io.outs[0]);
    let r = x.len();
    let st = wgsl::strides(x);
    let mut body = wgsl::unravel("i", y, "c");
    body.push_str("var inside = true;\nvar at = 0u;\n");
    for d in 0..r {
        let len = x[d] as i64;
        writeln!(body, "{{ var k = i32(c{d}) - ({});", pads[d]).unwrap();
        match mode {
            PadMode::Constant => writeln!(body, "if (k < 0 || k >= {len}) {{ inside = false; k = 0; }}").unwrap(),
            PadMode::Edge => writeln!(body, "k = clamp(k, 0, {});", (len - 1).max(0)).unwrap(),
            PadMode::Wrap => writeln!(body, "k = ((k % {len}) + {len}) % {len};", len = len.max(1)).unwrap(),
            PadMode::Reflect if len == 1 => body.push_str("k = 0;\n"),
            PadMode::Reflect => {
                // Validation bounds the pads below the axis length: one reflection suffices.
                writeln!(body, "if (k < 0) {{ k = -k; }}\nif (k >= {len}) {{ k = {} - k; }}", 2 * (len - 1)).unwrap()
            }
        }
        writeln!(body, "at = at + u32(k) * {}u; }}", st[d]).unwrap();
    }
    writeln!(body, "if (inside) {{ b1[i] = b0[at]; }} else {{ b1[i] = {}; }}", wgsl::lit(value)).unwrap();
    Ok(vec![linear_pass("pad", y.iter().product(), io.all_ids(), &body)])
}

/// What the Resize kernel implements: nearest and linear interpolation with every coordinate
/// transformation but `tf_crop_and_resize`, without `exclude_outside`.
pub fn resize_supported(p: &ResizeParams) -> Result<(), String> {
    if p.mode == ResizeMode::Cubic {
        return Err("cubic Resize has no GPU kernel".into());
    }
    if p.coord == CoordTransform::TfCropAndResize {
        return Err("tf_crop_and_resize has no GPU kernel".into());
    }
    if p.exclude_outside {
        return Err("exclude_outside has no GPU kernel".into());
    }
    Ok(())
}

/// `x = a * y + b`: the source coordinate of output index `y` along an axis, for every
/// supported transformation (the ONNX reference's `_compute_x_ori`).
fn affine_coord(coord: CoordTransform, scale: f64, in_len: usize, out_len: usize) -> (f64, f64) {
    let iw = in_len as f64;
    let ow = scale * iw;
    match coord {
        CoordTransform::AlignCorners => (if ow == 1.0 { 0.0 } else { (iw - 1.0) / (ow - 1.0) }, 0.0),
        CoordTransform::Asymmetric => (1.0 / scale, 0.0),
        CoordTransform::PytorchHalfPixel if ow == 1.0 => (0.0, -0.5),
        CoordTransform::PytorchHalfPixel | CoordTransform::HalfPixel | CoordTransform::TfCropAndResize => {
            (1.0 / scale, 0.5 / scale - 0.5)
        }
        CoordTransform::HalfPixelSymmetric => {
            let adjustment = out_len as f64 / ow;
            let offset = iw / 2.0 * (1.0 - adjustment);
            (1.0 / scale, offset + 0.5 / scale - 0.5)
        }
    }
}

/// Whether the kernel's `f32` source coordinates pick the same taps as the reference's `f64`
/// ones for these shapes (they do for the usual integral and power-of-two scales; a scale
/// like 3.5 from `sizes` can round the other way at a tie, so such a Resize stays on the CPU).
pub fn resize_exact(p: &ResizeParams, x: &[usize], y: &[usize]) -> Result<(), String> {
    resize_supported(p)?;
    if x.len() != y.len() {
        return Err("Resize changes rank".into());
    }
    for d in 0..x.len() {
        let scale = if p.scales.is_empty() {
            y[d] as f64 / x[d].max(1) as f64
        } else {
            p.scales.get(d).copied().unwrap_or(1.0) as f64
        };
        if (scale - 1.0).abs() <= 1e-9 && x[d] == y[d] {
            continue;
        }
        let ratio = y[d] as f64 / x[d].max(1) as f64;
        if p.mode == ResizeMode::Nearest && ratio > 1.0 && ratio.fract() != 0.0 {
            return Err(format!("nearest Resize by the non-integral factor {ratio} on axis {d} has no GPU kernel"));
        }
        let (a, b) = affine_coord(p.coord, scale, x[d], y[d]);
        let (a32, b32) = (a as f32, b as f32);
        for o in 0..y[d] {
            let exact = a * o as f64 + b;
            let approx = o as f32 * a32 + b32;
            // The taps each computes: the index read (nearest) or the floor and weight (linear).
            let len = x[d] as i64;
            let pick = |x: f64| -> (i64, f64) {
                let f = x.floor();
                let q = x - f;
                match p.mode {
                    ResizeMode::Linear => (f as i64, q),
                    _ => {
                        let up = match p.nearest {
                            NearestMode::RoundPreferFloor => q > 0.5,
                            NearestMode::RoundPreferCeil => q >= 0.5,
                            NearestMode::Floor => false,
                            NearestMode::Ceil => q > 0.0,
                        };
                        ((f as i64 + up as i64).clamp(0, len - 1), 0.0)
                    }
                }
            };
            let (ie, we) = pick(exact);
            let (ia, wa) = pick(approx as f64);
            // A linear tap whose weight rounds to 0 or 1 reads the same value either way.
            let same = if p.mode == ResizeMode::Linear {
                (ie == ia && (we - wa).abs() < 1e-5)
                    || (ie + 1 == ia && we > 1.0 - 1e-5 && wa < 1e-5)
                    || (ia + 1 == ie && wa > 1.0 - 1e-5 && we < 1e-5)
            } else {
                ie == ia
            };
            if !same {
                return Err(format!(
                    "Resize scale {scale} on axis {d}: f32 source coordinates round differently from the reference"
                ));
            }
        }
    }
    Ok(())
}

pub fn resize(io: &StepIo, p: &ResizeParams) -> Result<Vec<Pass>, String> {
    resize_exact(p, &io.ins[0], &io.outs[0])?;
    let (x, y) = (&io.ins[0], &io.outs[0]);
    let r = x.len();
    let st = wgsl::strides(x);
    let mut body = wgsl::unravel("i", y, "c");
    body.push_str("var base = 0u;\n");
    // Per resized axis: two taps (index, weight); other axes read their own coordinate.
    let mut resized = Vec::new();
    for d in 0..r {
        let scale = if p.scales.is_empty() { y[d] as f64 / x[d] as f64 } else { p.scales[d] as f64 };
        let same = (scale - 1.0).abs() <= 1e-9 && x[d] == y[d];
        if same {
            writeln!(body, "base = base + c{d} * {}u;", st[d]).unwrap();
            continue;
        }
        let (a, b) = affine_coord(p.coord, scale, x[d], y[d]);
        let last = x[d] as i64 - 1;
        writeln!(body, "let x{d} = f32(c{d}) * {} + {};", wgsl::lit(a as f32), wgsl::lit(b as f32)).unwrap();
        writeln!(body, "let f{d} = floor(x{d}); let q{d} = x{d} - f{d}; let fi{d} = i32(f{d});").unwrap();
        match p.mode {
            ResizeMode::Linear => {
                writeln!(
                    body,
                    "let i{d}a = u32(clamp(fi{d}, 0, {last})); let i{d}b = u32(clamp(fi{d} + 1, 0, {last}));\n\
                     let w{d}a = 1.0f - q{d}; let w{d}b = q{d};"
                )
                .unwrap();
            }
            _ => {
                // An integral coordinate reads itself; otherwise the rounding mode picks.
                let up = match p.nearest {
                    NearestMode::RoundPreferFloor => format!("q{d} > 0.5f"),
                    NearestMode::RoundPreferCeil => format!("q{d} >= 0.5f"),
                    NearestMode::Floor => "false".into(),
                    NearestMode::Ceil => format!("q{d} > 0.0f"),
                };
                writeln!(
                    body,
                    "let i{d}a = u32(clamp(select(fi{d}, fi{d} + 1, {up}), 0, {last})); let i{d}b = i{d}a;\n\
                     let w{d}a = 1.0f; let w{d}b = 0.0f;"
                )
                .unwrap();
            }
        }
        resized.push(d);
    }
    // Tensor product of the taps.
    body.push_str("var acc = 0.0f;\n");
    let n = resized.len();
    for mask in 0..(1usize << n) {
        let mut w = Vec::new();
        let mut idx = vec!["base".to_string()];
        for (j, &d) in resized.iter().enumerate() {
            let t = if mask >> j & 1 == 0 { 'a' } else { 'b' };
            w.push(format!("w{d}{t}"));
            idx.push(format!("i{d}{t} * {}u", st[d]));
        }
        let weight = if w.is_empty() { "1.0f".to_string() } else { w.join(" * ") };
        // Zero-weight taps are skipped: an infinite neighbour times 0 must not poison the sum.
        writeln!(body, "{{ let w = {weight}; if (w != 0.0f) {{ acc = fma(w, b0[{}], acc); }} }}", idx.join(" + "))
            .unwrap();
    }
    body.push_str("b1[i] = acc;\n");
    Ok(vec![linear_pass("resize", y.iter().product(), io.all_ids(), &body)])
}
