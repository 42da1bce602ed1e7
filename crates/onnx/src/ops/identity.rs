//! `Identity` and inference-mode `Dropout`: the output is the input.

use super::{Ctx, Lowered};
use hetc_ir::{DType, Tensor, TensorType};

/// Largest Dropout mask hetc materialises as a constant (elements), as for `ConstantOfShape`.
const MAX_MASK_ELEMENTS: usize = 1 << 28;

pub fn identity(ctx: &mut Ctx) -> Result<Lowered, String> {
    ctx.input(0)?;
    Ok(Lowered::Alias(0))
}

/// Dropout is the identity unless it trains with a nonzero ratio; then its output is random,
/// which a compiled inference graph cannot reproduce. Its optional mask output is then all
/// true (every element kept), a constant.
pub fn dropout(ctx: &mut Ctx) -> Result<Lowered, String> {
    let x = ctx.input(0)?.ty.clone();
    if drops_elements(ctx)? {
        return Err("training_mode=true with a nonzero ratio is not supported at inference".into());
    }
    if ctx.num_outputs < 2 {
        return Ok(Lowered::Alias(0));
    }
    // Before opset 10 the mask had the input's float type, and runtimes disagree on its value
    // at inference (onnxruntime fills it with zeros); refuse rather than guess.
    if ctx.opset < 10 {
        return Err("the mask output of Dropout before opset 10 is not supported".into());
    }
    let numel = hetc_ir::checked_numel(&x.shape)
        .filter(|&n| n <= MAX_MASK_ELEMENTS)
        .ok_or_else(|| format!("the mask of {x} is too large to make a constant"))?;
    let mask = Tensor::from_bytes(TensorType::new(DType::Bool, x.shape), vec![1u8; numel].into())
        .map_err(|e| e.to_string())?;
    Ok(Lowered::AliasWith(0, vec![mask]))
}

/// Whether the node drops elements: only in training mode (input 2, opset 12+) with a nonzero
/// ratio (input 1, default 0.5). The ratio matters only then, so only then must it be constant.
fn drops_elements(ctx: &Ctx) -> Result<bool, String> {
    let training = match ctx.const_input(2, "training_mode")? {
        Some(t) if t.numel() == 1 => t.get_i64(0) != 0,
        Some(t) => return Err(format!("`training_mode` must be a scalar, got {}", t.ty())),
        None => false,
    };
    if !training {
        return Ok(false);
    }
    match ctx.const_input(1, "ratio")? {
        Some(t) if t.numel() == 1 => Ok(t.get_f64(0) != 0.0),
        Some(t) => Err(format!("`ratio` must be a scalar, got {}", t.ty())),
        None => Ok(true),
    }
}
