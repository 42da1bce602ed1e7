//! WGSL kernels generated at compile time, one file per op family.
//!
//! Generation works on the laid-out plan: each GPU compute step's [`Kernel`] and its tensors'
//! shapes are all a generator needs, so fused convolutions (bias, residual, activation
//! epilogues), `Elementwise` programs and fused InstanceNorm get GPU versions from the same
//! lowering as the CPU. Shapes and attributes are baked into the shader text as constants;
//! the workgroup counts go into the plan's dispatches. Every binding is a step tensor: the
//! step's inputs as `b0..`, then its outputs. Identical shaders are stored once.
//!
//! [`supports`] is the GPU half of the support table (`crate::support::gpu_supports`): a
//! kernel is claimed there only if a generator here implements it.

mod conv;
mod elementwise;
mod gemm;
mod movement;
mod norm;
mod pool;
mod wgsl;

use crate::CompileError;
use hetc_plan::{Device, Dispatch, GpuWork, Kernel, PlanMeta, Shader, TensorId};
use std::collections::HashMap;

pub use movement::resize_exact;
pub use wgsl::{LINEAR_WG, MAX_GROUPS_PER_DIM};

/// One dispatch of a generated kernel, with its shader text.
#[derive(Debug, Clone)]
pub struct Pass {
    pub name: String,
    pub wgsl: String,
    pub workgroup_size: [u32; 3],
    pub workgroup_memory_bytes: u32,
    pub workgroups: [u32; 3],
    pub bindings: Vec<TensorId>,
}

/// A step's tensors, as the generators see them.
pub struct StepIo {
    pub name: String,
    pub ins: Vec<Vec<usize>>,
    pub outs: Vec<Vec<usize>>,
    pub in_ids: Vec<TensorId>,
    pub out_ids: Vec<TensorId>,
}

impl StepIo {
    /// Inputs then outputs: the standard bindings.
    pub fn all_ids(&self) -> Vec<TensorId> {
        self.in_ids.iter().chain(&self.out_ids).copied().collect()
    }
}

/// The passes that compute `kernel` over `io` on the GPU.
pub fn generate_kernel(kernel: &Kernel, io: &StepIo) -> Result<Vec<Pass>, String> {
    match kernel {
        Kernel::Conv(c) => conv::conv(c, io),
        Kernel::ConvTranspose(c) => conv::conv_transpose(c, io),
        Kernel::Gemm { trans_a, trans_b, alpha, beta, has_c, activation } => {
            gemm::gemm(io, *trans_a, *trans_b, *alpha, *beta, *has_c, *activation)
        }
        Kernel::MatMul => gemm::matmul(io),
        Kernel::Pool(p) => pool::pool(p, io),
        Kernel::GlobalPool { kind } => pool::global_pool(*kind, io),
        Kernel::InstanceNorm { epsilon } => norm::instance_norm(io, *epsilon, false, hetc_plan::Activation::Identity),
        Kernel::FusedInstanceNorm { epsilon, has_residual, activation } => {
            norm::instance_norm(io, *epsilon, *has_residual, *activation)
        }
        Kernel::Softmax { axis, coerce_2d, log } => norm::softmax(io, *axis as usize, *coerce_2d, *log),
        Kernel::Reduce { kind, axes, keepdims: _ } => norm::reduce(io, *kind, axes),
        Kernel::Activation(_)
        | Kernel::Unary(_)
        | Kernel::Binary { .. }
        | Kernel::ChannelAffine { .. }
        | Kernel::Elementwise { .. }
        | Kernel::Copy
        | Kernel::Expand => elementwise::elementwise(kernel, io),
        Kernel::Concat { axis } => movement::concat(io, *axis as usize),
        Kernel::Split { axis } => movement::split(io, *axis as usize),
        Kernel::Slice { axes } => movement::slice(io, axes),
        Kernel::Transpose { perm } => movement::transpose(io, perm),
        Kernel::Pad { mode, pads, value } => movement::pad(io, *mode, pads, *value),
        Kernel::Resize(p) => movement::resize(io, p),
        Kernel::Upload | Kernel::Download => Err("transfers are copies, not shaders".into()),
    }
}

/// Whether the generators implement `kernel` for these shapes; the reason if not. Lowering
/// decides kernels from IR nodes, so the support table asks this about the kernel a node
/// lowers to, in the few cases where the IR op alone does not tell.
pub fn kernel_supported(kernel: &Kernel) -> Result<(), String> {
    match kernel {
        Kernel::Resize(p) => movement::resize_supported(p),
        Kernel::Upload | Kernel::Download => Err("transfers are not compute kernels".into()),
        _ => Ok(()),
    }
}

/// Fills `step.gpu` of every GPU compute step of `meta` and the plan's shader table.
pub(crate) fn generate(meta: &mut PlanMeta) -> Result<(), CompileError> {
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut shaders: Vec<Shader> = Vec::new();
    for s in 0..meta.steps.len() {
        let step = &meta.steps[s];
        if step.device != Device::Gpu || matches!(step.kernel, Kernel::Upload | Kernel::Download) {
            continue;
        }
        let shape = |id: &TensorId| meta.tensors[*id as usize].shape.iter().map(|&d| d as usize).collect::<Vec<_>>();
        let io = StepIo {
            name: step.name.clone(),
            ins: step.inputs.iter().map(shape).collect(),
            outs: step.outputs.iter().map(shape).collect(),
            in_ids: step.inputs.clone(),
            out_ids: step.outputs.clone(),
        };
        let passes = generate_kernel(&step.kernel, &io).map_err(|reason| CompileError::Node {
            node: step.name.clone(),
            reason: format!("no GPU kernel for {}: {reason}", step.kernel.name()),
        })?;
        let mut dispatches = Vec::with_capacity(passes.len());
        for p in passes {
            let id = *index.entry(p.wgsl.clone()).or_insert_with(|| {
                shaders.push(Shader {
                    name: p.name.clone(),
                    wgsl: p.wgsl.clone(),
                    entry_point: "main".into(),
                    workgroup_size: p.workgroup_size,
                    workgroup_memory_bytes: p.workgroup_memory_bytes,
                });
                (shaders.len() - 1) as u32
            });
            dispatches.push(Dispatch {
                shader: id,
                workgroups: p.workgroups,
                bindings: p.bindings,
                params: Vec::new(),
            });
        }
        meta.steps[s].gpu = Some(GpuWork { scratch: Vec::new(), dispatches });
    }
    meta.shaders = shaders;
    Ok(())
}
