//! Pooling. Windowed pools run one thread per output with onnxruntime's semantics (as the CPU
//! kernels: a max over no element is `f32::MIN`, an average over none is 0, and with
//! `count_include_pad` the divisor counts the positions inside the padded extent). Global
//! pools reduce each plane in one workgroup.

use super::wgsl::{self, LINEAR_WG};
use super::{Pass, StepIo};
use hetc_plan::{PoolKind, PoolParams};
use std::fmt::Write;

pub fn pool(p: &PoolParams, io: &StepIo) -> Result<Vec<Pass>, String> {
    let (x, y) = (&io.ins[0], &io.outs[0]);
    let [n, c, h, w] = [x[0], x[1], x[2], x[3]];
    let [oh, ow] = [y[2], y[3]];
    let [kh, kw] = p.kernel.map(|v| v as usize);
    let [sh, sw] = p.strides.map(|v| v as usize);
    let [dh, dw] = p.dilations.map(|v| v as usize);
    let [pt, pl, pb, pr] = p.pads.map(|v| v as usize);
    let total = n * c * oh * ow;
    let mut body = wgsl::unravel("i", &[n, c, oh, ow], "c");
    writeln!(body, "let xb = (c0 * {c}u + c1) * {};", h * w).unwrap();
    writeln!(body, "let hs = i32(c2 * {sh}u) - {pt}; let ws = i32(c3 * {sw}u) - {pl};").unwrap();
    let max = matches!(p.kind, PoolKind::Max);
    writeln!(body, "var acc = {};", if max { wgsl::lit(f32::MIN) } else { "0.0f".into() }).unwrap();
    body.push_str("var count = 0u;\n");
    writeln!(body, "for (var ky = 0; ky < {kh}; ky++) {{ let iy = hs + ky * {dh};").unwrap();
    writeln!(body, "if (iy < 0 || iy >= {h}) {{ continue; }}").unwrap();
    writeln!(body, "for (var kx = 0; kx < {kw}; kx++) {{ let ix = ws + kx * {dw};").unwrap();
    writeln!(body, "if (ix < 0 || ix >= {w}) {{ continue; }}").unwrap();
    body.push_str("let v = b0[xb + u32(iy) * ");
    writeln!(body, "{w}u + u32(ix)];").unwrap();
    body.push_str(if max { "acc = max(acc, v);\n" } else { "acc = acc + v;\n" });
    body.push_str("count = count + 1u;\n}\n}\n");
    match p.kind {
        PoolKind::Max => {}
        PoolKind::Average { count_include_pad: false } => {
            body.push_str("if (count > 0u) { acc = acc / f32(count); }\n");
        }
        PoolKind::Average { count_include_pad: true } => {
            writeln!(body, "let he = min(hs + {}, {}); let we = min(ws + {}, {});", kh * dh, h + pb, kw * dw, w + pr)
                .unwrap();
            writeln!(body, "let nh = 1 + (he - hs - 1) / {dh}; let nw = 1 + (we - ws - 1) / {dw};").unwrap();
            body.push_str("if (count > 0u) { acc = acc / f32(nh * nw); }\n");
        }
    }
    body.push_str("b1[i] = acc;\n");
    let wgsl = format!("{}{}", wgsl::bindings(2), wgsl::linear_main(total, &body));
    Ok(vec![Pass {
        name: if max { "maxpool" } else { "avgpool" }.into(),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(total, LINEAR_WG),
        bindings: io.all_ids(),
    }])
}

/// Threads that reduce one plane.
pub const PLANE_WG: u32 = 256;

/// A workgroup-per-plane reduction: `init`, `combine(a, b)` and the plane's `finish(acc)`.
pub fn plane_reduce_fn(init: &str, combine: &str) -> String {
    format!(
        "var<workgroup> part: array<f32, {PLANE_WG}>;
fn plane_reduce(li: u32, v: f32) -> f32 {{
    part[li] = v;
    workgroupBarrier();
    for (var w = {half}u; w > 0u; w = w / 2u) {{
        if (li < w) {{ let a = part[li]; let b = part[li + w]; part[li] = {combine}; }}
        workgroupBarrier();
    }}
    let r = part[0];
    workgroupBarrier();
    return r;
}}
const REDUCE_INIT = {init};
",
        half = PLANE_WG / 2
    )
}

pub fn global_pool(kind: PoolKind, io: &StepIo) -> Result<Vec<Pass>, String> {
    let x = &io.ins[0];
    let planes = x[0] * x[1];
    let hw: usize = x[2..].iter().product();
    let max = kind == PoolKind::Max;
    let (init, combine) = if max { (wgsl::lit(f32::MIN), "max(a, b)") } else { ("0.0f".into(), "a + b") };
    let finish = if max { "r".to_string() } else { format!("r / {}", wgsl::lit(hw as f32)) };
    let wgsl = format!(
        "{}{}
@compute @workgroup_size({PLANE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let plane = wid.x + wid.y * nwg.x;
    let valid = plane < {planes}u;
    let p = min(plane, {last}u);
    var acc = REDUCE_INIT;
    for (var j = li; j < {hw}u; j += {PLANE_WG}u) {{ let a = acc; let b = b0[p * {hw}u + j]; acc = {combine}; }}
    let r = plane_reduce(li, acc);
    if (li == 0u && valid) {{ b1[p] = {finish}; }}
}}
",
        wgsl::bindings(2),
        plane_reduce_fn(&init, combine),
        last = planes.saturating_sub(1),
    );
    Ok(vec![Pass {
        name: if max { "global_maxpool" } else { "global_avgpool" }.into(),
        wgsl,
        workgroup_size: [PLANE_WG, 1, 1],
        workgroup_memory_bytes: PLANE_WG * 4,
        workgroups: wgsl::linear_grid(planes * PLANE_WG as usize, PLANE_WG),
        bindings: io.all_ids(),
    }])
}
