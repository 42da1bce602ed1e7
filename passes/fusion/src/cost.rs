//! What extraction minimises: each kernel's time on the target plus the memory traffic of
//! its inputs and outputs.
//!
//! A [`CostModel`] prices one op given its input and output types. The latency predictor (a
//! later issue) will provide measured per-op times per target; until then
//! [`FlopsBytesModel`] stands in: a roofline estimate from FLOPs and bytes with a fixed cost
//! per kernel launch. **It is a stand-in**, good enough to rank fusion choices (which mostly
//! remove whole passes over memory and launches) but not to predict latency.

use hetc_ir::ops::ChainInstr;
use hetc_ir::{Op, TensorType};

/// One kernel's estimated cost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OpCost {
    /// Compute time in microseconds (launch overhead included).
    pub time_us: f64,
    /// Bytes read and written in memory.
    pub bytes: u64,
}

/// Prices ops for one target.
pub trait CostModel {
    /// For reports: which model this is.
    fn name(&self) -> &str;

    /// The cost of running `op` once on inputs of these types (`None`: an unconnected
    /// optional input).
    fn op_cost(&self, op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> OpCost;

    /// One number to minimise: time plus memory traffic at the target's bandwidth.
    fn total(&self, cost: OpCost) -> f64;
}

/// The FLOPs-and-bytes stand-in for the latency predictor (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct FlopsBytesModel {
    /// Sustained compute throughput, GFLOP/s.
    pub gflops: f64,
    /// Sustained memory bandwidth, GB/s.
    pub gbytes_per_s: f64,
    /// Fixed cost of one kernel (dispatch, threads waking, a pass over the loop nest), us.
    pub launch_us: f64,
}

impl Default for FlopsBytesModel {
    /// Orientation values for the 2-core development machine (about 300 GFLOP/s on matrix
    /// products, about 10 GB/s for a streaming kernel, a few microseconds per kernel).
    fn default() -> Self {
        FlopsBytesModel { gflops: 300.0, gbytes_per_s: 10.0, launch_us: 3.0 }
    }
}

fn bytes(t: &TensorType) -> u64 {
    t.byte_size()
}

/// Floating-point operations of `op` (2 per multiply-accumulate; 1 per element and
/// elementwise instruction; the window size per pooled element).
fn flops(op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> f64 {
    let out_elems: f64 = outputs.iter().map(|t| t.numel() as f64).sum();
    let macs = op.macs(inputs, outputs) as f64;
    match op {
        Op::Conv(_) | Op::ConvTranspose(_) | Op::Gemm(_) | Op::MatMul(_) => 2.0 * macs,
        Op::FusedConv(_) | Op::FusedConvTranspose(_) | Op::FusedGemm(_) => 2.0 * macs + 2.0 * out_elems,
        Op::ElementwiseChain(c) => {
            let weight: f64 = c
                .program
                .iter()
                .map(|i| match i {
                    ChainInstr::Unary { .. } => 2.0,
                    ChainInstr::Binary { .. } => 1.0,
                })
                .sum();
            weight * out_elems
        }
        Op::Pool(p) => p.kernel.iter().product::<usize>() as f64 * out_elems,
        _ => out_elems,
    }
}

impl CostModel for FlopsBytesModel {
    fn name(&self) -> &str {
        "flops-and-bytes stand-in (no latency predictor yet)"
    }

    fn op_cost(&self, op: &Op, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> OpCost {
        match op {
            // A view of its input: no kernel, no traffic.
            Op::Reshape(_) => OpCost { time_us: 0.0, bytes: 0 },
            Op::Input | Op::Constant(_) => OpCost::default(),
            _ => {
                let traffic: u64 =
                    inputs.iter().flatten().map(|t| bytes(t)).sum::<u64>() + outputs.iter().map(bytes).sum::<u64>();
                let time_us = flops(op, inputs, outputs) / (self.gflops * 1e3) + self.launch_us;
                OpCost { time_us, bytes: traffic }
            }
        }
    }

    fn total(&self, cost: OpCost) -> f64 {
        cost.time_us + cost.bytes as f64 / (self.gbytes_per_s * 1e3)
    }
}
