//! Convolutions. Regular, pointwise and grouped convolutions run as an implicit GEMM on the
//! tiled kernel (`gemm.rs`): per image and group, `Y[m][p] = sum_k W[m][k] * X~[k][p]` with
//! `k = (c, ky, kx)` and the patch matrix `X~` gathered tile by tile from the input (a 1x1,
//! stride 1, unpadded convolution reads `X` directly). Depthwise convolutions are memory-bound
//! and run one thread per output. The epilogue (bias, residual, activation) is applied when
//! each output is stored. ConvTranspose runs one thread per output, gathering the inputs that
//! reach it.

use super::gemm::{TiledGemm, choose_tile};
use super::wgsl::{self, LINEAR_WG};
use super::{Pass, StepIo};
use hetc_plan::{ConvParams, ConvTransposeParams};
use std::fmt::Write;

/// The epilogue's statements: `t` (the accumulator plus bias) becomes the stored value at
/// output index `o` of channel `ch`.
fn epilogue(
    bias: Option<usize>,
    residual: Option<usize>,
    act: hetc_plan::Activation,
    out: usize,
    acc: &str,
    ch: &str,
    o: &str,
) -> String {
    let mut s = format!("var t = {acc};\n");
    if let Some(b) = bias {
        writeln!(s, "t = t + b{b}[{ch}];").unwrap();
    }
    if let Some(r) = residual {
        writeln!(s, "t = t + b{r}[{o}];").unwrap();
    }
    writeln!(s, "b{out}[{o}] = {};", wgsl::activation(act, "t")).unwrap();
    s
}

pub fn conv(c: &ConvParams, io: &StepIo) -> Result<Vec<Pass>, String> {
    if c.algo == hetc_plan::ConvAlgo::Winograd {
        return Err("Winograd weights are a CPU layout".into());
    }
    let (x, w, y) = (&io.ins[0], &io.ins[1], &io.outs[0]);
    let [n, ch, h, wd] = [x[0], x[1], x[2], x[3]];
    let [_, m, oh, ow] = [y[0], y[1], y[2], y[3]];
    let g = c.group as usize;
    let (cg, mg) = (ch / g, m / g);
    let (kh, kw) = (w[2], w[3]);
    let [sh, sw] = c.strides.map(|v| v as usize);
    let [dh, dw] = c.dilations.map(|v| v as usize);
    let (pt, pl) = (c.pads[0] as usize, c.pads[1] as usize);
    let bias = c.has_bias.then_some(2);
    let residual = c.has_residual.then(|| io.ins.len() - 1);
    let out = io.ins.len();
    let bindings = out + 1;

    if g == ch && cg == 1 && mg == 1 {
        // Depthwise: one thread per output, kh x kw taps.
        let total = n * m * oh * ow;
        let mut body = wgsl::unravel("i", &[n, m, oh, ow], "c");
        body.push_str("var acc = 0.0f;\n");
        writeln!(body, "let xb = (c0 * {ch}u + c1) * {};", h * wd).unwrap();
        writeln!(body, "let wb = c1 * {};", kh * kw).unwrap();
        writeln!(body, "for (var ky = 0u; ky < {kh}u; ky++) {{").unwrap();
        writeln!(body, "let iy = i32(c2 * {sh}u + ky * {dh}u) - {pt};").unwrap();
        writeln!(body, "if (iy < 0 || iy >= {h}) {{ continue; }}").unwrap();
        writeln!(body, "for (var kx = 0u; kx < {kw}u; kx++) {{").unwrap();
        writeln!(body, "let ix = i32(c3 * {sw}u + kx * {dw}u) - {pl};").unwrap();
        writeln!(body, "if (ix < 0 || ix >= {wd}) {{ continue; }}").unwrap();
        writeln!(body, "acc = fma(b0[xb + u32(iy) * {wd}u + u32(ix)], b1[wb + ky * {kw}u + kx], acc);").unwrap();
        body.push_str("}\n}\n");
        body.push_str(&epilogue(bias, residual, c.activation, out, "acc", "c1", "i"));
        let wgsl = format!("{}{}", wgsl::bindings(bindings), wgsl::linear_main(total, &body));
        return Ok(vec![Pass {
            name: "conv_depthwise".into(),
            wgsl,
            workgroup_size: [LINEAR_WG, 1, 1],
            workgroup_memory_bytes: 0,
            workgroups: wgsl::linear_grid(total, LINEAR_WG),
            bindings: io.all_ids(),
        }]);
    }

    let k = cg * kh * kw;
    let pixels = oh * ow;
    let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && oh == h && ow == wd;
    // z = image * groups + group
    let mut f = String::new();
    writeln!(f, "fn load_a(z: u32, gm: u32, gk: u32) -> f32 {{ return b1[((z % {g}u) * {mg}u + gm) * {k}u + gk]; }}")
        .unwrap();
    writeln!(f, "fn x_base(z: u32) -> u32 {{ return ((z / {g}u) * {ch}u + (z % {g}u) * {cg}u) * {}u; }}", h * wd)
        .unwrap();
    if pointwise {
        writeln!(f, "fn load_b(z: u32, gk: u32, gn: u32) -> f32 {{ return b0[x_base(z) + gk * {pixels}u + gn]; }}")
            .unwrap();
    } else {
        let kk = kh * kw;
        writeln!(
            f,
            "fn load_b(z: u32, gk: u32, gn: u32) -> f32 {{\n\
             let c = gk / {kk}u; let r = gk % {kk}u; let ky = r / {kw}u; let kx = r % {kw}u;\n\
             let oy = gn / {ow}u; let ox = gn % {ow}u;\n\
             let iy = i32(oy * {sh}u + ky * {dh}u) - {pt};\n\
             let ix = i32(ox * {sw}u + kx * {dw}u) - {pl};\n\
             if (iy < 0 || iy >= {h} || ix < 0 || ix >= {wd}) {{ return 0.0f; }}\n\
             return b0[x_base(z) + c * {}u + u32(iy) * {wd}u + u32(ix)];\n}}",
            h * wd
        )
        .unwrap();
    }
    writeln!(f, "fn store(z: u32, gm: u32, gn: u32, acc: f32) {{").unwrap();
    writeln!(f, "let ch = (z % {g}u) * {mg}u + gm;").unwrap();
    writeln!(f, "let o = ((z / {g}u) * {m}u + ch) * {pixels}u + gn;").unwrap();
    f.push_str(&epilogue(bias, residual, c.activation, out, "acc", "ch", "o"));
    f.push_str("}\n");
    let name = if pointwise {
        "conv1x1"
    } else if g > 1 {
        "conv_grouped"
    } else {
        "conv"
    };
    let gemm = TiledGemm { name: name.into(), m: mg, n: pixels, k, batches: n * g, bindings, functions: f };
    Ok(vec![gemm.pass(choose_tile(mg, pixels, n * g), io.all_ids())?])
}

pub fn conv_transpose(c: &ConvTransposeParams, io: &StepIo) -> Result<Vec<Pass>, String> {
    let (x, w, y) = (&io.ins[0], &io.ins[1], &io.outs[0]);
    let [n, ch, h, wd] = [x[0], x[1], x[2], x[3]];
    let [_, m, oh, ow] = [y[0], y[1], y[2], y[3]];
    let g = c.group as usize;
    let (cg, mg) = (ch / g, m / g);
    let (kh, kw) = (w[2], w[3]);
    let [sh, sw] = c.strides.map(|v| v as usize);
    let [dh, dw] = c.dilations.map(|v| v as usize);
    let (pt, pl) = (c.pads[0] as usize, c.pads[1] as usize);
    let total = n * m * oh * ow;
    let out = io.ins.len();
    // y[n, m, oy, ox] = sum over c in m's group, ky, kx with oy + pt - ky*dh = iy*sh (iy in the
    // input) of x[n, c, iy, ix] * w[c, m % mg, ky, kx].
    let mut body = wgsl::unravel("i", &[n, m, oh, ow], "c");
    writeln!(body, "let grp = c1 / {mg}u; let mm = c1 % {mg}u;").unwrap();
    body.push_str("var acc = 0.0f;\n");
    writeln!(body, "for (var ky = 0u; ky < {kh}u; ky++) {{").unwrap();
    writeln!(body, "let ty = i32(c2) + {pt} - i32(ky * {dh}u);").unwrap();
    writeln!(body, "if (ty < 0 || ty % {sh} != 0) {{ continue; }}").unwrap();
    writeln!(body, "let iy = ty / {sh}; if (iy >= {h}) {{ continue; }}").unwrap();
    writeln!(body, "for (var kx = 0u; kx < {kw}u; kx++) {{").unwrap();
    writeln!(body, "let tx = i32(c3) + {pl} - i32(kx * {dw}u);").unwrap();
    writeln!(body, "if (tx < 0 || tx % {sw} != 0) {{ continue; }}").unwrap();
    writeln!(body, "let ix = tx / {sw}; if (ix >= {wd}) {{ continue; }}").unwrap();
    writeln!(body, "for (var cc = 0u; cc < {cg}u; cc++) {{").unwrap();
    writeln!(body, "let cin = grp * {cg}u + cc;").unwrap();
    writeln!(
        body,
        "acc = fma(b0[((c0 * {ch}u + cin) * {h}u + u32(iy)) * {wd}u + u32(ix)], b1[((cin * {mg}u + mm) * {kh}u + ky) * {kw}u + kx], acc);"
    )
    .unwrap();
    body.push_str("}\n}\n}\n");
    body.push_str(&epilogue(c.has_bias.then_some(2), None, c.activation, out, "acc", "c1", "i"));
    let wgsl = format!("{}{}", wgsl::bindings(out + 1), wgsl::linear_main(total, &body));
    Ok(vec![Pass {
        name: "conv_transpose".into(),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(total, LINEAR_WG),
        bindings: io.all_ids(),
    }])
}
