//! Normalisations and reductions: InstanceNorm (with the fused residual and activation
//! epilogue) as one workgroup per plane, Softmax and ReduceX as one thread per reduced row.

use super::pool::{PLANE_WG, plane_reduce_fn};
use super::wgsl::{self, LINEAR_WG};
use super::{Pass, StepIo};
use hetc_plan::{Activation, ReduceKind};
use std::fmt::Write;

pub fn instance_norm(io: &StepIo, epsilon: f32, has_residual: bool, act: Activation) -> Result<Vec<Pass>, String> {
    let x = &io.ins[0];
    let (n, c) = (x[0], x[1]);
    let hw: usize = x[2..].iter().product();
    let planes = n * c;
    let out = io.ins.len();
    let residual = if has_residual { "t = t + b3[p * HW + j];" } else { "" };
    // Two passes over the plane (mean, then the centred sum of squares), as the CPU does, so
    // that large means do not cancel the variance.
    let wgsl = format!(
        "{}{}
const HW = {hw}u;
@compute @workgroup_size({PLANE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let plane = wid.x + wid.y * nwg.x;
    let valid = plane < {planes}u;
    let p = min(plane, {last}u);
    let ch = p % {c}u;
    var s = 0.0f;
    for (var j = li; j < HW; j += {PLANE_WG}u) {{ s = s + b0[p * HW + j]; }}
    let mean = plane_reduce(li, s) / f32(HW);
    var q = 0.0f;
    for (var j = li; j < HW; j += {PLANE_WG}u) {{ let d = b0[p * HW + j] - mean; q = fma(d, d, q); }}
    let var_ = plane_reduce(li, q) / f32(HW);
    let scale = inverseSqrt(var_ + {eps}) * b1[ch];
    let shift = b2[ch];
    if (!valid) {{ return; }}
    for (var j = li; j < HW; j += {PLANE_WG}u) {{
        var t = (b0[p * HW + j] - mean) * scale + shift;
        {residual}
        b{out}[p * HW + j] = {act};
    }}
}}
",
        wgsl::bindings(out + 1),
        plane_reduce_fn("0.0f", "a + b"),
        last = planes.saturating_sub(1),
        eps = wgsl::lit(epsilon),
        act = wgsl::activation(act, "t"),
    );
    Ok(vec![Pass {
        name: "instance_norm".into(),
        wgsl,
        workgroup_size: [PLANE_WG, 1, 1],
        workgroup_memory_bytes: PLANE_WG * 4,
        workgroups: wgsl::linear_grid(planes * PLANE_WG as usize, PLANE_WG),
        bindings: io.all_ids(),
    }])
}

pub fn softmax(io: &StepIo, axis: usize, coerce_2d: bool, log: bool) -> Result<Vec<Pass>, String> {
    let x = &io.ins[0];
    let outer: usize = x[..axis].iter().product();
    let (len, inner) = if coerce_2d {
        (x[axis..].iter().product::<usize>(), 1)
    } else {
        (x[axis], x[axis + 1..].iter().product::<usize>())
    };
    let rows = outer * inner;
    let finish = if log { "b1[at] = b0[at] - mx - log(sum);" } else { "b1[at] = exp(b0[at] - mx) / sum;" };
    let body = format!(
        "let base = (i / {inner}u) * {len}u * {inner}u + i % {inner}u;
var mx = {min};
for (var j = 0u; j < {len}u; j++) {{ mx = max(mx, b0[base + j * {inner}u]); }}
var sum = 0.0f;
for (var j = 0u; j < {len}u; j++) {{ sum = sum + exp(b0[base + j * {inner}u] - mx); }}
for (var j = 0u; j < {len}u; j++) {{ let at = base + j * {inner}u; {finish} }}",
        min = wgsl::lit(f32::NEG_INFINITY),
    );
    let wgsl = format!("{}{}", wgsl::bindings(2), wgsl::linear_main(rows, &body));
    Ok(vec![Pass {
        name: if log { "log_softmax" } else { "softmax" }.into(),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(rows, LINEAR_WG),
        bindings: io.all_ids(),
    }])
}

pub fn reduce(io: &StepIo, kind: ReduceKind, axes: &[u32]) -> Result<Vec<Pass>, String> {
    let x = &io.ins[0];
    let st = wgsl::strides(x);
    let reduced: Vec<usize> = (0..x.len()).filter(|d| axes.contains(&(*d as u32))).collect();
    let kept: Vec<usize> = (0..x.len()).filter(|d| !axes.contains(&(*d as u32))).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&d| x[d]).collect();
    let red_shape: Vec<usize> = reduced.iter().map(|&d| x[d]).collect();
    let count: usize = red_shape.iter().product();
    let total: usize = kept_shape.iter().product();
    let mut body = wgsl::unravel("i", &kept_shape, "k");
    let kept_strides: Vec<usize> = kept.iter().map(|&d| st[d]).collect();
    writeln!(body, "let base = {};", wgsl::dot("k", &kept_strides)).unwrap();
    let red_strides: Vec<usize> = reduced.iter().map(|&d| st[d]).collect();
    let at =
        format!("{{\n{}let v = b0[base + {}];\n", wgsl::unravel("j", &red_shape, "r"), wgsl::dot("r", &red_strides));
    let (init, step, finish) = match kind {
        ReduceKind::Sum => ("0.0f".to_string(), "acc = acc + v;", "acc".to_string()),
        ReduceKind::Mean => ("0.0f".into(), "acc = acc + v;", format!("acc / {}", wgsl::lit(count as f32))),
        ReduceKind::Max => (wgsl::lit(f32::NEG_INFINITY), "acc = max(acc, v);", "acc".into()),
        ReduceKind::Min => (wgsl::lit(f32::INFINITY), "acc = min(acc, v);", "acc".into()),
        ReduceKind::Prod => ("1.0f".into(), "acc = acc * v;", "acc".into()),
        ReduceKind::L1 => ("0.0f".into(), "acc = acc + abs(v);", "acc".into()),
        ReduceKind::L2 => ("0.0f".into(), "acc = fma(v, v, acc);", "sqrt(acc)".into()),
        ReduceKind::SumSquare => ("0.0f".into(), "acc = fma(v, v, acc);", "acc".into()),
        ReduceKind::LogSumExp => ("0.0f".into(), "acc = acc + exp(v - mx);", "log(acc) + mx".into()),
    };
    if kind == ReduceKind::LogSumExp {
        writeln!(body, "var mx = {};", wgsl::lit(f32::NEG_INFINITY)).unwrap();
        writeln!(body, "for (var j = 0u; j < {count}u; j++) {at}mx = max(mx, v);\n}}").unwrap();
        // An all -inf row: keep the CPU's (and numpy's) -inf instead of NaN.
        body.push_str("if (mx == bitcast<f32>(0xff800000u)) { mx = 0.0f; }\n");
    }
    writeln!(body, "var acc = {init};").unwrap();
    writeln!(body, "for (var j = 0u; j < {count}u; j++) {at}{step}\n}}").unwrap();
    writeln!(body, "b1[i] = {finish};").unwrap();
    let wgsl = format!("{}{}", wgsl::bindings(2), wgsl::linear_main(total, &body));
    Ok(vec![Pass {
        name: "reduce".into(),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(total, LINEAR_WG),
        bindings: io.all_ids(),
    }])
}
