//! One node's steps on their own, for the latency predictor: placement asks what a node
//! would cost on a processor before any plan exists, and the predictor prices plan steps, so
//! the node is lowered exactly as [`crate::compile`] would lower it (same kernel choice, same
//! Winograd variant, on the GPU the same shaders), without memory planning or weight
//! transforms.

use crate::CompileError;
use crate::layout::plan_dtype;
use crate::lower::{ValKind, lower_one, winograd_weight_shapes};
use hetc_ir::{Graph, NodeId};
use hetc_plan::{Device, MemoryReport, PlanMeta, Storage, TensorDesc};

/// The CPU steps node `id` of `graph` lowers to, in a [`PlanMeta`] that holds only them and
/// the tensors they read and write (shapes and types; no storage is planned, every tensor
/// says arena offset 0). Views (Reshape) lower to no step.
///
/// Nodes lowered in a whole graph may differ in one way: a Concat whose inputs are written
/// in place by their producers costs nothing there, and is priced here as a copy.
pub fn cpu_steps(graph: &Graph, id: NodeId) -> Result<PlanMeta, CompileError> {
    steps_on(graph, id, Device::Cpu)
}

/// The GPU steps node `id` of `graph` lowers to, with their dispatches and shaders, as
/// [`cpu_steps`] does for the CPU. An error if the GPU kernels do not cover the node.
pub fn gpu_steps(graph: &Graph, id: NodeId) -> Result<PlanMeta, CompileError> {
    let mut meta = steps_on(graph, id, Device::Gpu)?;
    crate::gpu::generate(&mut meta)?;
    Ok(meta)
}

fn steps_on(graph: &Graph, id: NodeId, device: Device) -> Result<PlanMeta, CompileError> {
    let mut p = lower_one(graph, id, device)?;
    winograd_weight_shapes(&mut p);
    let tensors = p
        .values
        .iter()
        .map(|v| TensorDesc {
            name: v.name.clone(),
            dtype: plan_dtype(v.ty.dtype),
            shape: v.ty.shape.iter().map(|&d| d as u64).collect(),
            storage: match v.kind {
                ValKind::Constant(_) => Storage::Weight { offset: 0 },
                _ => Storage::Arena { offset: 0 },
            },
        })
        .collect();
    let steps = p
        .steps
        .iter()
        .map(|s| hetc_plan::Step {
            name: s.name.clone(),
            device: s.device,
            kernel: s.kernel.clone(),
            inputs: s.inputs.iter().map(|&v| v as u32).collect(),
            outputs: s.outputs.iter().map(|&v| v as u32).collect(),
            gpu: None,
            predicted_us: 0.0,
        })
        .collect();
    Ok(PlanMeta {
        name: graph.node(id).name.clone(),
        target: "host-cpu".into(),
        producer: format!("hetc {}", env!("CARGO_PKG_VERSION")),
        tensors,
        inputs: Vec::new(),
        outputs: Vec::new(),
        steps,
        arena_bytes: 0,
        memory: MemoryReport::default(),
        gpu_arena_bytes: 0,
        gpu_memory: MemoryReport::default(),
        shaders: Vec::new(),
    })
}
