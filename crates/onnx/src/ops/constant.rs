//! `Constant` and `ConstantOfShape`: values known at compile time.

use super::{Ctx, Lowered};
use crate::tensor::tensor_from_proto;
use hetc_ir::{Tensor, TensorType};

/// Largest `ConstantOfShape` output hetc materialises, in bytes.
const MAX_FILL_BYTES: usize = 1 << 28;

pub fn constant(ctx: &mut Ctx) -> Result<Lowered, String> {
    let a = &ctx.attrs;
    let t = if let Some(t) = a.tensor("value")? {
        tensor_from_proto(t, ctx.external).map_err(|e| e.to_string())?
    } else if let Some(v) = a.float("value_float")? {
        Tensor::from_f32(vec![], &[v])
    } else if let Some(v) = a.floats("value_floats")? {
        Tensor::from_f32(vec![v.len()], &v)
    } else if let Some(v) = a.int("value_int")? {
        Tensor::from_i64(vec![], &[v])
    } else if let Some(v) = a.ints("value_ints")? {
        Tensor::from_i64(vec![v.len()], &v)
    } else if a.has("sparse_value") || a.has("value_string") || a.has("value_strings") {
        return Err("sparse and string constants are not supported".into());
    } else {
        return Err("Constant has no value attribute".into());
    };
    Ok(Lowered::Values(vec![t]))
}

pub fn constant_of_shape(ctx: &mut Ctx) -> Result<Lowered, String> {
    let shape = ctx.const_ints(0, "shape")?.ok_or("input `shape` is required")?;
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in {shape:?}")))
        .collect::<Result<_, _>>()?;
    let fill = match ctx.attrs.tensor("value")? {
        Some(t) => tensor_from_proto(t, ctx.external).map_err(|e| e.to_string())?,
        None => Tensor::from_f32(vec![1], &[0.0]),
    };
    if fill.numel() != 1 {
        return Err("value must hold exactly one element".into());
    }
    let numel = hetc_ir::checked_numel(&shape)
        .filter(|&n| n.checked_mul(fill.dtype().size()).is_some_and(|b| b <= MAX_FILL_BYTES))
        .ok_or("shape is too large to fold")?;
    // The fill in canonical encoding, its bytes repeated: one allocation, no per-element work.
    let one = if fill.dtype().is_float() {
        Tensor::from_f64_values(fill.dtype(), vec![], &[fill.get_f64(0)])
    } else {
        Tensor::from_i64_values(fill.dtype(), vec![], &[fill.get_i64(0)])
    };
    let t = Tensor::from_bytes(TensorType::new(fill.dtype(), shape), one.bytes().repeat(numel).into())
        .map_err(|e| e.to_string())?;
    Ok(Lowered::Values(vec![t]))
}
