//! `Range`: an arithmetic sequence from constant scalars.

use super::{Ctx, Lowered};
use crate::tensor::dtype_from_onnx;
use hetc_ir::{DType, Tensor};

pub fn range(ctx: &mut Ctx) -> Result<Lowered, String> {
    let get = |i: usize, what: &str| -> Result<hetc_ir::Tensor, String> {
        let t = ctx.const_input(i, what)?.ok_or(format!("input `{what}` is required"))?;
        if t.numel() != 1 {
            return Err(format!("`{what}` must be a scalar"));
        }
        Ok(t.clone())
    };
    let (start, limit, delta) = (get(0, "start")?, get(1, "limit")?, get(2, "delta")?);
    let dtype = start.dtype();
    let (s, l, d) = (start.get_f64(0), limit.get_f64(0), delta.get_f64(0));
    if d == 0.0 {
        return Err("delta is zero".into());
    }
    let n = ((l - s) / d).ceil().max(0.0);
    if n > (1 << 24) as f64 {
        return Err(format!("Range of {n} elements is too large to fold"));
    }
    let n = n as usize;
    let t = if dtype.is_float() {
        // `start + i * delta`, each operation rounded to the type computed in, as the spec's loop.
        let compute = compute_type(ctx, dtype)?;
        let round = |v: f64| round_to(compute, v);
        let (s, d) = (round(s), round(d));
        let v: Vec<f64> = (0..n).map(|i| round(s + round(round(i as f64) * d))).collect();
        Tensor::from_f64_values(dtype, vec![n], &v)
    } else {
        let (s, d) = (start.get_i64(0), delta.get_i64(0));
        // Wrapping: `i * delta` can overflow even where `start + i * delta` fits, and modular
        // arithmetic gives the exact value whenever the result fits.
        let v: Vec<i64> = (0..n as i64).map(|i| s.wrapping_add(i.wrapping_mul(d))).collect();
        Tensor::from_i64_values(dtype, vec![n], &v)
    };
    Ok(Lowered::Values(vec![t]))
}

/// The float type the sequence is computed in: the element type, except that half-precision
/// types use `stash_type` (opset 27; float by default) to avoid accumulating their rounding.
fn compute_type(ctx: &Ctx, dtype: DType) -> Result<DType, String> {
    if !matches!(dtype, DType::F16 | DType::BF16) {
        return Ok(dtype);
    }
    let code = ctx.attrs.int_or("stash_type", 1)?;
    let stash = i32::try_from(code).map_err(|_| format!("bad stash_type {code}")).and_then(dtype_from_onnx)?;
    if !stash.is_float() {
        return Err(format!("stash_type {stash} is not a floating-point type"));
    }
    Ok(stash)
}

/// `v` rounded to the nearest value of float type `dtype`.
fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F64 => v,
        DType::F32 => v as f32 as f64,
        _ => Tensor::from_f64_values(dtype, vec![], &[v]).get_f64(0),
    }
}
