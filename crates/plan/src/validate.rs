//! Structural validation of plan metadata: every index, offset and length is checked here,
//! so the runtime can index without further bounds worries. Kernel-specific shape rules are
//! checked by the runtime when it prepares each step.

use crate::error::invalid;
use crate::{Device, GPU_ARENA_ALIGN, Kernel, PlanError, PlanMeta, Storage, WEIGHT_ALIGN};

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
    for sh in &meta.shaders {
        check_name("shader name", &sh.name)?;
        check_name("shader entry point", &sh.entry_point)?;
    }
    if meta.arena_bytes > MAX_TENSOR_BYTES {
        return Err(invalid(format!("arena of {} bytes is too large", meta.arena_bytes)));
    }
    if meta.gpu_arena_bytes > MAX_TENSOR_BYTES {
        return Err(invalid(format!("GPU arena of {} bytes is too large", meta.gpu_arena_bytes)));
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
            Storage::GpuArena { offset } => {
                if offset % GPU_ARENA_ALIGN != 0 {
                    return Err(invalid(format!("GPU tensor {i} is not {GPU_ARENA_ALIGN}-byte aligned")));
                }
                (offset, meta.gpu_arena_bytes, "GPU arena")
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
            return Err(invalid(format!("binding `{}` must live in the CPU arena", b.name)));
        }
    }
    for (s, step) in meta.steps.iter().enumerate() {
        if step.outputs.is_empty() {
            return Err(invalid(format!("step {s} has no outputs")));
        }
        if !step.predicted_us.is_finite() || step.predicted_us < 0.0 {
            return Err(invalid(format!("step {s} has predicted time {}", step.predicted_us)));
        }
        for &id in step.inputs.iter().chain(&step.outputs) {
            check_id(id, &format!("step {s}"))?;
        }
        let space = |id: u32| meta.tensors[id as usize].storage.device();
        // Which memory space the step reads and writes: its processor's, except for transfers.
        let (reads, writes) = match (&step.kernel, step.device) {
            (Kernel::Upload, Device::Gpu) => (Device::Cpu, Device::Gpu),
            (Kernel::Download, Device::Gpu) => (Device::Gpu, Device::Cpu),
            (Kernel::Upload | Kernel::Download, Device::Cpu) => {
                return Err(invalid(format!("step {s}: transfers run on the GPU's queue")));
            }
            (_, d) => (d, d),
        };
        for &id in &step.outputs {
            match space(id) {
                Some(d) if d == writes => {}
                None => return Err(invalid(format!("step {s} writes weight tensor {id}"))),
                Some(d) => {
                    return Err(invalid(format!(
                        "step {s} writes tensor {id} in {} memory, expected {}",
                        d.name(),
                        writes.name()
                    )));
                }
            }
        }
        for &id in &step.inputs {
            // Weights are readable everywhere; a transfer moves activations only.
            let ok = match space(id) {
                None => !matches!(step.kernel, Kernel::Upload | Kernel::Download),
                Some(d) => d == reads,
            };
            if !ok {
                return Err(invalid(format!("step {s} reads tensor {id} from the wrong memory")));
            }
        }
        if let Kernel::Upload | Kernel::Download = step.kernel {
            let (&[i], &[o]) = (&step.inputs[..], &step.outputs[..]) else {
                return Err(invalid(format!("step {s}: a transfer has one input and one output")));
            };
            let (a, b) = (&meta.tensors[i as usize], &meta.tensors[o as usize]);
            if a.dtype != b.dtype || a.shape != b.shape {
                return Err(invalid(format!("step {s}: a transfer keeps dtype and shape")));
            }
        }
        match (&step.gpu, step.device, &step.kernel) {
            (None, Device::Cpu, _) | (None, Device::Gpu, Kernel::Upload | Kernel::Download) => {}
            (Some(work), Device::Gpu, k) if !matches!(k, Kernel::Upload | Kernel::Download) => {
                if work.dispatches.is_empty() {
                    return Err(invalid(format!("step {s}: a GPU step needs at least one dispatch")));
                }
                for &id in &work.scratch {
                    check_id(id, &format!("step {s} scratch"))?;
                    if space(id) != Some(Device::Gpu) {
                        return Err(invalid(format!("step {s}: scratch tensor {id} is not in the GPU arena")));
                    }
                }
                for (k, d) in work.dispatches.iter().enumerate() {
                    if d.shader as usize >= meta.shaders.len() {
                        return Err(invalid(format!("step {s} dispatch {k} names shader {}", d.shader)));
                    }
                    for &b in &d.bindings {
                        let known = step.inputs.contains(&b) || step.outputs.contains(&b) || work.scratch.contains(&b);
                        if !known {
                            return Err(invalid(format!(
                                "step {s} dispatch {k} binds tensor {b}, not one of the step's"
                            )));
                        }
                    }
                }
            }
            _ => return Err(invalid(format!("step {s}: shader dispatches do not match its device"))),
        }
    }
    Ok(())
}
