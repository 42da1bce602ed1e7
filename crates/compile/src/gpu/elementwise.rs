//! Memory-bound elementwise kernels: activations, unary functions, broadcasting binary ops,
//! per-channel affine (folded BatchNormalization), fused `Elementwise` programs, Expand and
//! Copy. One thread per output element; each input is read through its broadcast strides.

use super::wgsl::{self, LINEAR_WG};
use super::{Pass, StepIo};
use hetc_plan::{ElementwiseOp, Kernel};
use std::fmt::Write;

pub fn elementwise(kernel: &Kernel, io: &StepIo) -> Result<Vec<Pass>, String> {
    let out = io.outs.first().ok_or("no output")?.clone();
    let total: usize = out.iter().product();
    let n = io.ins.len();
    // How each input is read: its broadcast strides over the output's coordinates.
    let strides: Vec<Vec<usize>> = match kernel {
        // Per-channel parameters `[C]` against `[N, C, ...]`.
        Kernel::ChannelAffine { .. } => {
            let mut chan = vec![0; out.len()];
            if out.len() > 1 {
                chan[1] = 1;
            }
            vec![wgsl::strides(&out), chan.clone(), chan]
        }
        // A copy keeps the element order whatever the shapes.
        Kernel::Copy => vec![wgsl::strides(&out)],
        _ => io.ins.iter().map(|s| wgsl::broadcast_strides(s, &out)).collect(),
    };
    if strides.len() != n {
        return Err(format!("expects {} inputs, has {n}", strides.len()));
    }
    let mut body = String::new();
    let contiguous = wgsl::strides(&out);
    let needs_coords = strides.iter().any(|s| *s != contiguous);
    if needs_coords {
        body.push_str(&wgsl::unravel("i", &out, "c"));
    }
    for (k, s) in strides.iter().enumerate() {
        let index = if *s == contiguous { "i".to_string() } else { wgsl::dot("c", s) };
        writeln!(body, "let r{k} = b{k}[{index}];").unwrap();
    }
    let value = match kernel {
        Kernel::Activation(a) => wgsl::activation(*a, "r0"),
        Kernel::Unary(f) => wgsl::unary(*f, "r0"),
        Kernel::Binary { op, activation } => {
            writeln!(body, "let t = {};", wgsl::binary(*op, "r0", "r1")).unwrap();
            wgsl::activation(*activation, "t")
        }
        Kernel::ChannelAffine { activation } => {
            body.push_str("let t = r0 * r1 + r2;\n");
            wgsl::activation(*activation, "t")
        }
        Kernel::Copy | Kernel::Expand => "r0".to_string(),
        Kernel::Elementwise { program } => {
            for (j, ins) in program.iter().enumerate() {
                let [a, b] = ins.args.map(|r| format!("r{r}"));
                let e = match ins.op {
                    ElementwiseOp::Activation(act) => wgsl::activation(act, &a),
                    ElementwiseOp::Unary(f) => wgsl::unary(f, &a),
                    ElementwiseOp::Binary(op) => wgsl::binary(op, &a, &b),
                };
                writeln!(body, "let r{} = {e};", n + j).unwrap();
            }
            format!("r{}", n + program.len().checked_sub(1).ok_or("empty program")?)
        }
        other => return Err(format!("{} is not elementwise", other.name())),
    };
    writeln!(body, "b{n}[i] = {value};").unwrap();
    let wgsl = format!("{}{}{}", wgsl::bindings(n + 1), wgsl::HELPERS, wgsl::linear_main(total, &body));
    Ok(vec![Pass {
        name: kernel.name().to_lowercase(),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(total, LINEAR_WG),
        bindings: io.all_ids(),
    }])
}
