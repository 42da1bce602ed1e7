//! `Range`: an arithmetic sequence from constant scalars.

use super::{Ctx, Lowered};
use hetc_ir::Tensor;

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
        let v: Vec<f64> = (0..n).map(|i| s + i as f64 * d).collect();
        Tensor::from_f64_values(dtype, vec![n], &v)
    } else {
        let (s, d) = (start.get_i64(0), delta.get_i64(0));
        let v: Vec<i64> = (0..n as i64).map(|i| s + i * d).collect();
        Tensor::from_i64_values(dtype, vec![n], &v)
    };
    Ok(Lowered::Values(vec![t]))
}
