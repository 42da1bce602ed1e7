//! WGSL text helpers shared by the generators: literals, bindings, the linear-index prologue
//! of elementwise-shaped kernels, and the activation, unary and binary functions.

use hetc_plan::{Activation, BinaryFn, UnaryFn};
use std::fmt::Write;

/// Threads per workgroup of the one-thread-per-element kernels.
pub const LINEAR_WG: u32 = 256;
/// WebGPU's guaranteed `maxComputeWorkgroupsPerDimension`; larger grids fold into y.
pub const MAX_GROUPS_PER_DIM: u32 = 65535;

/// An `f32` literal. WGSL has no infinity or NaN literals, so those are bit casts.
pub fn lit(v: f32) -> String {
    if v.is_finite() {
        let s = format!("{v:?}");
        // `{:?}` writes `1.0`, `1e-5`, `-3.4028235e38`: all valid WGSL once suffixed.
        format!("{s}f")
    } else {
        format!("bitcast<f32>({}u)", v.to_bits())
    }
}

/// Storage bindings `b0..b{n-1}`, all `read_write`: they are ranges of one arena buffer, and
/// WebGPU forbids mixing read-only and writable views of a buffer in one dispatch.
pub fn bindings(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        writeln!(s, "@group(0) @binding({i}) var<storage, read_write> b{i}: array<f32>;").unwrap();
    }
    s
}

/// Workgroup grid for `threads` one-dimensional invocations of `wg` threads each: at most
/// [`MAX_GROUPS_PER_DIM`] in x, the rest in y.
pub fn linear_grid(threads: usize, wg: u32) -> [u32; 3] {
    let groups = threads.div_ceil(wg as usize).max(1);
    let x = groups.min(MAX_GROUPS_PER_DIM as usize);
    let y = groups.div_ceil(x);
    [x as u32, y as u32, 1]
}

/// Entry point of a one-thread-per-element kernel over `total` elements: binds `i`, the linear
/// element index, and returns early past the end. `body` follows.
pub fn linear_main(total: usize, body: &str) -> String {
    format!(
        "@compute @workgroup_size({LINEAR_WG})\n\
         fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {{\n\
         let i = gid.x + gid.y * nwg.x * {LINEAR_WG}u;\n\
         if (i >= {total}u) {{ return; }}\n\
         {body}\n\
         }}\n"
    )
}

/// Statements that split linear index `var` of a row-major `shape` into `c0..c{r-1}`
/// (`let` bindings named `{prefix}{d}`).
pub fn unravel(var: &str, shape: &[usize], prefix: &str) -> String {
    let mut s = format!("var rem_{prefix} = {var};\n");
    for d in (0..shape.len()).rev() {
        if d == 0 {
            writeln!(s, "let {prefix}{d} = rem_{prefix};").unwrap();
        } else {
            writeln!(s, "let {prefix}{d} = rem_{prefix} % {}u; rem_{prefix} = rem_{prefix} / {}u;", shape[d], shape[d])
                .unwrap();
        }
    }
    s
}

/// Row-major strides.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// `sum(c{d} * strides[d])` over the non-zero strides (`0u` if none).
pub fn dot(prefix: &str, strides: &[usize]) -> String {
    let terms: Vec<String> = strides
        .iter()
        .enumerate()
        .filter(|&(_, &s)| s != 0)
        .map(|(d, &s)| if s == 1 { format!("{prefix}{d}") } else { format!("{prefix}{d} * {s}u") })
        .collect();
    if terms.is_empty() { "0u".into() } else { terms.join(" + ") }
}

/// Strides with which an input of `shape`, broadcast (numpy rules) to `out`, is read at each
/// output coordinate (0 on broadcast axes).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(shape);
    let r = out.len();
    (0..r)
        .map(|d| {
            let k = (d + shape.len()).checked_sub(r);
            match k {
                Some(k) if shape[k] != 1 || out[d] == 1 => own[k],
                _ => 0,
            }
        })
        .collect()
}

/// An activation applied to expression `x` (evaluated once: it is bound by the caller).
pub fn activation(a: Activation, x: &str) -> String {
    match a {
        Activation::Identity => x.to_string(),
        Activation::Relu => format!("max({x}, 0.0f)"),
        Activation::LeakyRelu { alpha } => format!("select({x} * {}, {x}, {x} >= 0.0f)", lit(alpha)),
        Activation::Clip { min, max } => {
            let mut e = x.to_string();
            if min.is_finite() || min.is_nan() {
                e = format!("max({e}, {})", lit(min));
            }
            if max.is_finite() || max.is_nan() {
                e = format!("min({e}, {})", lit(max));
            }
            e
        }
        Activation::Sigmoid => format!("(1.0f / (1.0f + exp(-{x})))"),
        Activation::HardSigmoid { alpha, beta } => format!("clamp({} * {x} + {}, 0.0f, 1.0f)", lit(alpha), lit(beta)),
        Activation::HardSwish => format!("({x} * clamp({x} + 3.0f, 0.0f, 6.0f) / 6.0f)"),
        Activation::Tanh => format!("tanh(clamp({x}, -15.0f, 15.0f))"),
        Activation::Elu { alpha } => format!("select({} * (exp({x}) - 1.0f), {x}, {x} >= 0.0f)", lit(alpha)),
        Activation::Selu { alpha, gamma } => {
            format!("({} * select({} * (exp({x}) - 1.0f), {x}, {x} > 0.0f))", lit(gamma), lit(alpha))
        }
        Activation::Celu { alpha } => {
            format!("(max({x}, 0.0f) + min(0.0f, {} * (exp({x} / {}) - 1.0f)))", lit(alpha), lit(alpha))
        }
        Activation::ThresholdedRelu { alpha } => format!("select(0.0f, {x}, {x} > {})", lit(alpha)),
        Activation::Softplus => format!("select(log(1.0f + exp({x})), {x}, {x} > 20.0f)"),
        Activation::Softsign => format!("({x} / (1.0f + abs({x})))"),
        Activation::Mish => {
            format!("({x} * tanh(clamp(select(log(1.0f + exp({x})), {x}, {x} > 20.0f), -15.0f, 15.0f)))")
        }
    }
}

/// Helper functions that [`unary`] and [`binary`] expressions may call; included in every
/// shader that uses them (unused functions cost nothing).
pub const HELPERS: &str = "
fn hetc_erf(x: f32) -> f32 {
    // Abramowitz and Stegun 7.1.26 (error below 1.5e-7).
    let t = 1.0f / (1.0f + 0.3275911f * abs(x));
    let y = 1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t * exp(-x * x);
    return select(-y, y, x >= 0.0f);
}
fn hetc_pow(a: f32, b: f32) -> f32 {
    // WGSL's pow is undefined for a negative base; C's powf is defined for integer exponents.
    if (b == 0.0f) { return 1.0f; }
    if (a >= 0.0f) { return pow(a, b); }
    if (floor(b) != b) { return bitcast<f32>(0x7fc00000u); }
    let m = pow(-a, b);
    return select(m, -m, (abs(b) % 2.0f) == 1.0f);
}
";

pub fn unary(f: UnaryFn, x: &str) -> String {
    match f {
        UnaryFn::Exp => format!("exp({x})"),
        UnaryFn::Log => format!("log({x})"),
        UnaryFn::Sqrt => format!("sqrt({x})"),
        UnaryFn::Reciprocal => format!("(1.0f / {x})"),
        UnaryFn::Neg => format!("(-{x})"),
        UnaryFn::Abs => format!("abs({x})"),
        UnaryFn::Floor => format!("floor({x})"),
        UnaryFn::Ceil => format!("ceil({x})"),
        // WGSL's round is round-half-to-even, as ONNX's.
        UnaryFn::Round => format!("round({x})"),
        UnaryFn::Sign => format!("sign({x})"),
        UnaryFn::Erf => format!("hetc_erf({x})"),
        UnaryFn::Sin => format!("sin({x})"),
        UnaryFn::Cos => format!("cos({x})"),
    }
}

pub fn binary(op: BinaryFn, a: &str, b: &str) -> String {
    match op {
        BinaryFn::Add => format!("({a} + {b})"),
        BinaryFn::Sub => format!("({a} - {b})"),
        BinaryFn::Mul => format!("({a} * {b})"),
        BinaryFn::Div => format!("({a} / {b})"),
        BinaryFn::Pow => format!("hetc_pow({a}, {b})"),
        BinaryFn::Max => format!("max({a}, {b})"),
        BinaryFn::Min => format!("min({a}, {b})"),
        BinaryFn::PRelu => format!("select({a} * {b}, {a}, {a} >= 0.0f)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(lit(1.0), "1.0f");
        assert_eq!(lit(-0.5), "-0.5f");
        assert_eq!(lit(f32::INFINITY), "bitcast<f32>(2139095040u)");
    }

    #[test]
    fn broadcast() {
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert_eq!(broadcast_strides(&[2, 3, 4], &[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(broadcast_strides(&[1], &[5]), vec![0]);
    }

    #[test]
    fn grid_folds_into_y() {
        assert_eq!(linear_grid(100, 256), [1, 1, 1]);
        assert_eq!(linear_grid(70000 * 256, 256), [65535, 2, 1]);
    }
}
