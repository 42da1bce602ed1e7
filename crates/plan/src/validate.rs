//! Structural validation of plan metadata: every index, offset and length is checked here,
//! so the runtime can index without further bounds worries. Kernel-specific shape rules are
//! checked by the runtime when it prepares each step.

use crate::error::invalid;
use crate::{PlanError, PlanMeta, Storage, WEIGHT_ALIGN};

/// Most dimensions a tensor may have, and most bytes one tensor may take: bounds that keep
/// size arithmetic far from overflow.
pub const MAX_RANK: usize = 8;
pub const MAX_TENSOR_BYTES: u64 = 1 << 40;

/// Error messages quote names; a control character in one (a line break, a terminal escape)
/// would break the promise that every message is one line. The compiler never writes one.
fn check_name(what: &str, s: &str) -> Result<(), PlanError> {
    if s.contains(char::is_control) {
        return Err(invalid(format!("{what} {s:?} contains a control character")));
    }
    Ok(())
}

pub fn validate(meta: &PlanMeta, weights_len: u64) -> Result<(), PlanError> {
    check_name("plan name", &meta.name)?;
    check_name("target", &meta.target)?;
    check_name("producer", &meta.producer)?;
    for t in &meta.tensors {
        check_name("tensor name", &t.name)?;
    }
    for b in meta.inputs.iter().chain(&meta.outputs) {
        check_name("binding name", &b.name)?;
    }
    for s in &meta.steps {
        check_name("step name", &s.name)?;
    }
    if meta.arena_bytes > MAX_TENSOR_BYTES {
        return Err(invalid(format!("arena of {} bytes is too large", meta.arena_bytes)));
    }
    let n = meta.tensors.len();
    for (i, t) in meta.tensors.iter().enumerate() {
        if t.shape.len() > MAX_RANK {
            return Err(invalid(format!("tensor {i} has rank {}", t.shape.len())));
        }
        let size = t
            .byte_size()
            .filter(|&s| s <= MAX_TENSOR_BYTES)
            .ok_or_else(|| invalid(format!("tensor {i} is too large")))?;
        // Empty axes count as 1 here, so that every product of some of a tensor's dimensions
        // (kernels compute them) is bounded too: `[0, 2^62, 2^62]` holds nothing, but the
        // product of its last two axes overflows.
        let extent = t.shape.iter().try_fold(t.dtype.size() as u64, |a, &d| a.checked_mul(d.max(1)));
        if extent.is_none_or(|e| e > MAX_TENSOR_BYTES) {
            return Err(invalid(format!("tensor {i} has an empty axis beside huge ones")));
        }
        let (offset, limit, what) = match t.storage {
            Storage::Arena { offset } => (offset, meta.arena_bytes, "arena"),
            Storage::Weight { offset } => {
                if offset % WEIGHT_ALIGN as u64 != 0 {
                    return Err(invalid(format!("weight tensor {i} is not 64-byte aligned")));
                }
                (offset, weights_len, "weight section")
            }
        };
        if offset.checked_add(size).is_none_or(|end| end > limit) {
            return Err(invalid(format!("tensor {i} ({}) lies outside the {what}", t.name)));
        }
        if offset % t.dtype.size() as u64 != 0 {
            return Err(invalid(format!("tensor {i} is misaligned for its element type")));
        }
    }
    let check_id = |id: u32, what: &str| -> Result<(), PlanError> {
        if (id as usize) < n { Ok(()) } else { Err(invalid(format!("{what} names tensor {id}, plan has {n}"))) }
    };
    for b in meta.inputs.iter().chain(&meta.outputs) {
        check_id(b.tensor, &format!("binding `{}`", b.name))?;
        if !matches!(meta.tensors[b.tensor as usize].storage, Storage::Arena { .. }) {
            return Err(invalid(format!("binding `{}` must live in the arena", b.name)));
        }
    }
    for (s, step) in meta.steps.iter().enumerate() {
        if step.outputs.is_empty() {
            return Err(invalid(format!("step {s} has no outputs")));
        }
        for &id in step.inputs.iter().chain(&step.outputs) {
            check_id(id, &format!("step {s}"))?;
        }
        for &id in &step.outputs {
            if !matches!(meta.tensors[id as usize].storage, Storage::Arena { .. }) {
                return Err(invalid(format!("step {s} writes weight tensor {id}")));
            }
        }
    }
    Ok(())
}
