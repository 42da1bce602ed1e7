//! `Identity` and inference-mode `Dropout`: the output is the input.

use super::{Ctx, Lowered};

pub fn identity(ctx: &mut Ctx) -> Result<Lowered, String> {
    ctx.input(0)?;
    Ok(Lowered::Alias(0))
}

/// Dropout is the identity at inference. Its optional mask output is not produced; a model
/// that reads it fails with an undefined-value error at the reader.
pub fn dropout(ctx: &mut Ctx) -> Result<Lowered, String> {
    ctx.input(0)?;
    if let Some(mode) = ctx.const_input(2, "training_mode")?
        && mode.to_i64_vec().first().copied().unwrap_or(0) != 0
    {
        return Err("training_mode=true is not supported at inference".into());
    }
    Ok(Lowered::Alias(0))
}
