//! The stand-in cost model, until the latency predictor exists: a roofline of each node's FLOPs
//! and bytes against a processor's peak figures, plus a fixed dispatch cost, and a
//! latency-plus-bandwidth model of transfers. Its numbers are only as good as the target
//! file's figures, most of them estimates; every output built from it says so
//! ([`COST_MODEL_LABEL`]).

use crate::catalog::Target;
use crate::facts::Quality;
use crate::support::NodeView;
use hetc_ir::ops::ResizeMode;
use hetc_ir::{Op, TensorType};
use serde::Serialize;

/// What every report that uses this model prints beside its times.
pub const COST_MODEL_LABEL: &str = "stand-in cost model: roofline of FLOPs and bytes against the target's peak figures (not a measured latency predictor)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("target {target}: processor `{processor}` has no {figure} figure, so the cost model cannot time it")]
    MissingFigure { target: String, processor: String, figure: &'static str },
    #[error("target {target}: no transfer figures between `{a}` and `{b}`")]
    MissingTransfer { target: String, a: String, b: String },
}

/// Work of one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NodeCost {
    /// Floating-point operations: 2 per multiply-accumulate for Conv, ConvTranspose, Gemm and
    /// MatMul; for other ops a per-element count (see [`node_cost`]).
    pub flops: u64,
    /// Bytes read (inputs, weights included) and written (outputs).
    pub bytes: u64,
    /// Whether the node costs nothing at run time (a reshape is a view in hetc's runtime).
    pub free: bool,
}

/// FLOPs and bytes of a node.
///
/// Ops without multiply-accumulates count one FLOP per output element, except: a window
/// pool counts its window per output element; global pools and reductions one per input
/// element; softmax three per element (max, exp and sum, divide); normalisations two; linear
/// and cubic resizes four and sixteen (the taps). Reshape is free.
pub fn node_cost(node: &NodeView<'_>) -> NodeCost {
    if matches!(node.op, Op::Reshape(_)) {
        return NodeCost { flops: 0, bytes: 0, free: true };
    }
    let bytes =
        node.inputs.iter().flatten().map(|t| t.byte_size()).chain(node.outputs.iter().map(TensorType::byte_size));
    let bytes = bytes.fold(0u64, u64::saturating_add);
    let out = node.outputs.iter().map(|t| t.numel() as u64).sum::<u64>();
    let input = node.inputs.first().copied().flatten().map_or(0, |t| t.numel() as u64);
    let macs = node.op.macs(&node.inputs, node.outputs);
    let flops = if macs > 0 {
        macs.saturating_mul(2)
    } else {
        match node.op {
            Op::Pool(p) => out.saturating_mul(p.kernel.iter().product::<usize>() as u64),
            Op::GlobalPool(_) | Op::Reduce(_) => input,
            Op::Softmax(_) => out.saturating_mul(3),
            Op::BatchNorm(_) | Op::InstanceNorm(_) => out.saturating_mul(2),
            Op::Resize(r) => out.saturating_mul(match r.mode {
                ResizeMode::Nearest => 1,
                ResizeMode::Linear => 4,
                ResizeMode::Cubic => 16,
            }),
            _ => out,
        }
    };
    NodeCost { flops, bytes, free: false }
}

/// The figures the model needs for one processor, with the weakest quality among them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessorFigures {
    pub gflops: f64,
    /// The target's DRAM bandwidth, which all processors share.
    pub gbps: f64,
    pub dispatch_us: f64,
    pub quality: Quality,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkFigures {
    pub latency_us: f64,
    pub gbps: f64,
    pub quality: Quality,
}

impl Target {
    /// The cost model's figures for processor `name`.
    pub fn figures(&self, name: &str) -> Result<ProcessorFigures, CostError> {
        let missing = |figure| CostError::MissingFigure { target: self.name().into(), processor: name.into(), figure };
        let p = self.desc.processor(name).ok_or_else(|| missing("any"))?;
        let peak = p.peak_gflops().ok_or_else(|| missing("peak GFLOP/s"))?;
        let memory = self.desc.memory.as_ref().ok_or_else(|| missing("memory bandwidth"))?;
        let dispatch = p.dispatch_us.as_ref().ok_or_else(|| missing("dispatch"))?;
        if peak.value <= 0.0 {
            return Err(missing("non-zero peak GFLOP/s"));
        }
        if memory.bandwidth_gbps.value <= 0.0 {
            return Err(missing("non-zero memory bandwidth"));
        }
        Ok(ProcessorFigures {
            gflops: peak.value,
            gbps: memory.bandwidth_gbps.value,
            dispatch_us: dispatch.value,
            quality: peak.quality.weaker(memory.bandwidth_gbps.quality).weaker(dispatch.quality),
        })
    }

    /// The cost model's figures for moving data between processors `a` and `b`.
    pub fn link(&self, a: &str, b: &str) -> Result<LinkFigures, CostError> {
        let t = self.desc.transfer(a, b).ok_or_else(|| CostError::MissingTransfer {
            target: self.name().into(),
            a: a.into(),
            b: b.into(),
        })?;
        Ok(LinkFigures {
            latency_us: t.latency_us.value,
            gbps: t.gbps.value,
            quality: t.latency_us.quality.weaker(t.gbps.quality),
        })
    }
}

/// Predicted time of a node on a processor, microseconds: the dispatch cost plus the larger of
/// compute time at peak and memory time at full bandwidth.
pub fn node_time_us(cost: NodeCost, f: &ProcessorFigures) -> f64 {
    if cost.free {
        return 0.0;
    }
    // GFLOP/s = 1e3 FLOP/us; GB/s = 1e3 bytes/us.
    let compute = cost.flops as f64 / (f.gflops * 1e3);
    let memory = cost.bytes as f64 / (f.gbps * 1e3);
    f.dispatch_us + compute.max(memory)
}

/// Predicted time to move `bytes` across a link, microseconds.
pub fn transfer_time_us(bytes: u64, link: &LinkFigures) -> f64 {
    link.latency_us + bytes as f64 / (link.gbps * 1e3)
}
