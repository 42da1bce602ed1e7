//! `MaxPool`, `AveragePool`, `GlobalAveragePool` and `GlobalMaxPool`.

use super::conv::window;
use super::{Ctx, Lowered};
use hetc_ir::Op;
use hetc_ir::ops::{GlobalPool, Pool, PoolKind};

fn pool(ctx: &mut Ctx, kind: PoolKind) -> Result<Lowered, String> {
    let x = ctx.input(0)?.ty.clone();
    if x.rank() < 3 {
        return Err(format!("pooling needs an input of rank >= 3, got {x}"));
    }
    let kernel = ctx.attrs.usizes("kernel_shape")?.ok_or("attribute `kernel_shape` is required")?;
    if kernel.len() != x.rank() - 2 {
        return Err(format!("kernel_shape {kernel:?} does not match {x}"));
    }
    let ceil_mode = ctx.attrs.int_or("ceil_mode", 0)? != 0;
    let win = window(ctx, &x.shape[2..], &kernel, ceil_mode)?;
    // `storage_order` only describes how the Indices output counts positions, so it matters
    // only with that output, which hetc does not produce.
    if ctx.num_outputs > 1 {
        return Err("the Indices output of MaxPool is not supported".into());
    }
    Ok(Lowered::op_on(
        Op::Pool(Pool { kind, kernel, strides: win.strides, dilations: win.dilations, pads: win.pads, ceil_mode }),
        &[0],
    ))
}

pub fn max_pool(ctx: &mut Ctx) -> Result<Lowered, String> {
    pool(ctx, PoolKind::Max)
}

pub fn average_pool(ctx: &mut Ctx) -> Result<Lowered, String> {
    let count_include_pad = ctx.attrs.int_or("count_include_pad", 0)? != 0;
    pool(ctx, PoolKind::Average { count_include_pad })
}

pub fn global_average_pool(_ctx: &mut Ctx) -> Result<Lowered, String> {
    Ok(Lowered::op_on(Op::GlobalPool(GlobalPool { kind: PoolKind::Average { count_include_pad: false } }), &[0]))
}

pub fn global_max_pool(_ctx: &mut Ctx) -> Result<Lowered, String> {
    Ok(Lowered::op_on(Op::GlobalPool(GlobalPool { kind: PoolKind::Max }), &[0]))
}
