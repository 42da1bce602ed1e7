//! The plan against the adapter's limits, checked when a session starts: every shader's
//! workgroup size, invocations and workgroup memory, every dispatch's grid and binding count,
//! every bound tensor's size, the arena's and each weight buffer's size.

use hetc_plan::{DType, PlanMeta, Storage};

/// Every problem, one line, naming the shader or step.
pub fn check(meta: &PlanMeta, l: &wgpu::Limits) -> Result<(), String> {
    let mut bad: Vec<String> = Vec::new();
    if meta.gpu_arena_bytes > l.max_buffer_size {
        bad.push(format!(
            "the GPU arena needs {} bytes, the adapter's largest buffer is {}",
            meta.gpu_arena_bytes, l.max_buffer_size
        ));
    }
    for sh in &meta.shaders {
        let [x, y, z] = sh.workgroup_size;
        let max = [l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_workgroup_size_z];
        if x > max[0] || y > max[1] || z > max[2] || x == 0 || y == 0 || z == 0 {
            bad.push(format!("shader `{}`: workgroup size {x}x{y}x{z}, the adapter allows {:?}", sh.name, max));
        }
        let inv = x as u64 * y as u64 * z as u64;
        if inv > l.max_compute_invocations_per_workgroup as u64 {
            bad.push(format!(
                "shader `{}`: {inv} invocations per workgroup, the adapter allows {}",
                sh.name, l.max_compute_invocations_per_workgroup
            ));
        }
        if sh.workgroup_memory_bytes > l.max_compute_workgroup_storage_size {
            bad.push(format!(
                "shader `{}`: {} bytes of workgroup memory, the adapter allows {}",
                sh.name, sh.workgroup_memory_bytes, l.max_compute_workgroup_storage_size
            ));
        }
    }
    for (s, step) in meta.steps.iter().enumerate() {
        let Some(work) = &step.gpu else { continue };
        if !work.scratch.is_empty() {
            bad.push(format!("step {s} (`{}`): scratch tensors are not supported by this runtime", step.name));
        }
        for d in &work.dispatches {
            if d.workgroups.iter().any(|&g| g > l.max_compute_workgroups_per_dimension) {
                bad.push(format!(
                    "step {s} (`{}`): {:?} workgroups, the adapter allows {} per dimension",
                    step.name, d.workgroups, l.max_compute_workgroups_per_dimension
                ));
            }
            let n = d.bindings.len() as u32;
            if n > l.max_storage_buffers_per_shader_stage || n > l.max_bindings_per_bind_group {
                bad.push(format!(
                    "step {s} (`{}`): {n} storage bindings, the adapter allows {}",
                    step.name, l.max_storage_buffers_per_shader_stage
                ));
            }
            if !d.params.is_empty() {
                bad.push(format!("step {s} (`{}`): uniform parameters are not supported by this runtime", step.name));
            }
            for &b in &d.bindings {
                let t = &meta.tensors[b as usize];
                let size = t.byte_size().unwrap_or(0);
                if t.dtype != DType::F32 {
                    bad.push(format!(
                        "step {s} (`{}`): tensor `{}` is {:?}; GPU kernels are f32",
                        step.name, t.name, t.dtype
                    ));
                } else if size == 0 {
                    bad.push(format!("step {s} (`{}`): binds the empty tensor `{}`", step.name, t.name));
                } else if size > l.max_storage_buffer_binding_size {
                    bad.push(format!(
                        "step {s} (`{}`): tensor `{}` is {size} bytes, the adapter binds at most {}",
                        step.name, t.name, l.max_storage_buffer_binding_size
                    ));
                }
                if let Storage::GpuArena { offset } = t.storage
                    && offset % l.min_storage_buffer_offset_alignment as u64 != 0
                {
                    bad.push(format!("tensor `{}` is misaligned for this adapter", t.name));
                }
                if matches!(t.storage, Storage::Weight { .. }) && size > l.max_buffer_size {
                    bad.push(format!("weight `{}` is larger than the adapter's largest buffer", t.name));
                }
            }
        }
    }
    bad.sort();
    bad.dedup();
    match bad.len() {
        0 => Ok(()),
        1 => Err(bad.remove(0)),
        n => Err(format!("{n} problems: {}", bad.into_iter().take(8).collect::<Vec<_>>().join("; "))),
    }
}

/// The number of bindings of each shader, which all its dispatches must agree on.
pub fn binding_counts(meta: &PlanMeta) -> Result<Vec<usize>, String> {
    let mut counts: Vec<Option<usize>> = vec![None; meta.shaders.len()];
    for step in &meta.steps {
        let Some(work) = &step.gpu else { continue };
        for d in &work.dispatches {
            let c = &mut counts[d.shader as usize];
            match *c {
                None => *c = Some(d.bindings.len()),
                Some(n) if n != d.bindings.len() => {
                    return Err(format!(
                        "shader `{}` is dispatched with {n} and {} bindings",
                        meta.shaders[d.shader as usize].name,
                        d.bindings.len()
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(counts.into_iter().map(|c| c.unwrap_or(0)).collect())
}
