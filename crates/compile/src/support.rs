//! What each processor's kernels implement, by op, element type and attribute limits.
//!
//! This table is the single source of truth for placement: the CPU runtime computes in `f32`
//! only, so ops whose values are integers or booleans (comparisons, `Cast`, `Gather` with
//! run-time indices) are unsupported unless import folded them away.

use crate::CompileError;
use hetc_ir::ops::{BinaryKind, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Op, TensorType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    Cpu,
    /// The GPU through wgpu: what the WGSL generators (`crate::gpu`) implement.
    Gpu,
}

impl fmt::Display for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Processor::Cpu => "cpu",
            Processor::Gpu => "gpu",
        })
    }
}

fn all_f32(types: &[&TensorType]) -> Result<(), String> {
    match types.iter().find(|t| t.dtype != DType::F32) {
        Some(t) => Err(format!("{} values (the CPU computes in f32)", t.dtype)),
        None => Ok(()),
    }
}

/// Whether the CPU runs `op` on these input and output types; the reason if not.
pub fn cpu_supports(op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> Result<(), String> {
    let present: Vec<&TensorType> = inputs.iter().flatten().copied().chain(outputs.iter()).collect();
    let rank = inputs.first().copied().flatten().map_or(0, |t| t.rank());
    match op {
        Op::Constant(_) => Ok(()),
        // Inputs are bound to the arena as f32 (even one that only passes through to an output).
        Op::Input => all_f32(&present).map_err(|e| format!("an input of {e}")),
        Op::Conv(_) | Op::ConvTranspose(_) | Op::Pool(_) | Op::FusedConv(_) | Op::FusedConvTranspose(_)
            if !(3..=4).contains(&rank) =>
        {
            Err(format!("{}-D {} (the CPU kernels are 1-D and 2-D)", rank.saturating_sub(2), op.name()))
        }
        Op::Unary(u) if matches!(u.kind, UnaryKind::Not) => Err("boolean Not".into()),
        Op::Binary(b)
            if !matches!(
                b.kind,
                BinaryKind::Add
                    | BinaryKind::Sub
                    | BinaryKind::Mul
                    | BinaryKind::Div
                    | BinaryKind::Pow
                    | BinaryKind::Max
                    | BinaryKind::Min
                    | BinaryKind::PRelu
            ) =>
        {
            Err(match b.kind {
                BinaryKind::Mod { .. } => "Mod has no CPU kernel".to_string(),
                _ => format!("{} has no CPU kernel (comparisons and logical ops yield booleans)", op.name()),
            })
        }
        Op::Where(_) | Op::Gather(_) | Op::Cast(_) => {
            Err(format!("{} at run time (no CPU kernel; it is folded only when its inputs are constant)", op.name()))
        }
        Op::Gemm(_) | Op::MatMul(_) => all_f32(&present),
        _ => all_f32(&present),
    }
}

/// Whether the GPU runs `op` on these input and output types; the reason if not.
///
/// The GPU kernels are generated from the same plan kernels as the CPU's (`crate::gpu`), so
/// the table starts from the CPU's and removes what the generators lack. Reshapes are views
/// and inputs and constants live where they are needed: they are placed but never computed.
pub fn gpu_supports(op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> Result<(), String> {
    cpu_supports(op, inputs, outputs).map_err(|e| e.replace("the CPU", "the GPU"))?;
    // WebGPU cannot bind an empty buffer range.
    if !matches!(op, Op::Input | Op::Constant(_))
        && inputs.iter().flatten().copied().chain(outputs.iter()).any(|t| t.shape.contains(&0))
    {
        return Err("empty tensors (WebGPU binds no empty buffer)".into());
    }
    let rank = inputs.first().copied().flatten().map_or(0, |t| t.rank());
    match op {
        Op::Conv(_) | Op::FusedConv(_) | Op::ConvTranspose(_) | Op::FusedConvTranspose(_) | Op::Pool(_)
            if !(3..=4).contains(&rank) =>
        {
            Err(format!("{}-D {} (the GPU kernels are 1-D and 2-D)", rank.saturating_sub(2), op.name()))
        }
        Op::Resize(r) => match (inputs.first().copied().flatten(), outputs.first()) {
            (Some(x), Some(y)) => crate::gpu::resize_exact(&crate::lower::resize_params(r), &x.shape, &y.shape),
            _ => Err("Resize without input or output".into()),
        },
        Op::GlobalPool(_) | Op::InstanceNorm(_) | Op::FusedInstanceNorm(_) if rank < 3 => {
            Err(format!("{}-D {} has no GPU kernel", rank, op.name()))
        }
        _ => Ok(()),
    }
}

/// Whether a GPU adapter whose largest storage binding is `max_binding_bytes` can bind every
/// operand and result of a node: a larger tensor cannot be a kernel's operand there, whatever
/// the kernels implement (VGG-16's 392 MiB first FC weight against lavapipe's 128 MiB).
pub fn check_binding(
    inputs: &[Option<&TensorType>],
    outputs: &[TensorType],
    max_binding_bytes: u64,
) -> Result<(), String> {
    let largest = inputs.iter().flatten().copied().chain(outputs).map(|t| t.byte_size()).max();
    match largest {
        Some(b) if b > max_binding_bytes => {
            Err(format!("a {b}-byte tensor exceeds the adapter's largest binding ({max_binding_bytes} bytes)"))
        }
        _ => Ok(()),
    }
}

/// Graph outputs that import folded to constants are copied into the arena when other outputs
/// are computed (lowering adds the copies; a graph with only constant outputs is refused as
/// having nothing to compute), so like every tensor the CPU holds they must be `f32`.
fn cpu_constant_outputs(graph: &Graph) -> Vec<String> {
    let constant = |o: &GraphOutput| match &graph.node(o.value.node).op {
        Op::Constant(t) => Some((graph.node(o.value.node), t)),
        _ => None,
    };
    if graph.outputs.iter().all(|o| constant(o).is_some()) {
        return Vec::new();
    }
    graph
        .outputs
        .iter()
        .filter_map(|o| {
            let (node, t) = constant(o)?;
            (t.dtype() != DType::F32).then(|| {
                format!(
                    "Constant `{}` (output `{}` is a constant of {} values; the CPU computes in f32)",
                    node.name,
                    o.name,
                    t.dtype()
                )
            })
        })
        .collect()
}

/// Checks every compute node of `graph`, reporting all unsupported ones in one error.
pub fn check(graph: &Graph, processor: Processor) -> Result<(), CompileError> {
    let mut bad = Vec::new();
    for id in graph.topo_order()? {
        let node = graph.node(id);
        let inputs = graph.input_types(id);
        let verdict = match processor {
            Processor::Cpu => cpu_supports(&node.op, &inputs, &node.outputs),
            Processor::Gpu => gpu_supports(&node.op, &inputs, &node.outputs),
        };
        if let Err(reason) = verdict {
            bad.push(format!("{} `{}` ({reason})", node.op.name(), node.name));
        }
    }
    // Constant outputs are copied into the CPU arena whatever the placement.
    bad.extend(cpu_constant_outputs(graph));
    if bad.is_empty() {
        return Ok(());
    }
    let count = bad.len();
    let shown: Vec<String> = bad.iter().take(10).cloned().collect();
    let more = if count > 10 { format!("; and {} more", count - 10) } else { String::new() };
    Err(CompileError::Unsupported {
        processor: processor.to_string(),
        count,
        list: format!("{}{more}", shown.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_limit_rejects_only_tensors_over_it() {
        let fits = TensorType::new(DType::F32, [16, 16]); // exactly 1024 bytes
        let over = TensorType::new(DType::F32, [16, 17]);
        let outputs = [fits.clone()];
        assert_eq!(check_binding(&[Some(&fits), None], &outputs, 1024), Ok(()));
        let err = check_binding(&[Some(&over)], &outputs, 1024).unwrap_err();
        assert!(err.contains("1088-byte tensor") && err.contains("1024 bytes"), "{err}");
        let err = check_binding(&[Some(&fits)], &[over], 1024).unwrap_err();
        assert!(err.contains("1088-byte tensor"), "{err}");
    }
}
