//! Lowering of the IR to a plan for one target.
//!
//! 1. [`support`]: every compute node must have a kernel on the target's processor; all the
//!    nodes that do not are reported at once.
//! 2. [`lower`]: each node becomes a plan step with static kernel parameters. Reshapes become
//!    views sharing their input's memory, BatchNormalization becomes a per-channel affine, and
//!    1-D convolutions and pools become 2-D views.
//! 3. [`fuse`]: epilogue fusion: a per-channel affine after a convolution is folded into its
//!    weights, a residual Add and an activation join the producing kernel.
//!    Then the weights of Winograd convolutions are replaced by their transform.
//! 4. [`layout`]: tensors get storage: constants go to the 64-byte-aligned weight section,
//!    everything else to one arena planned by lifetime (`hetc-pass-memory`), with elementwise
//!    steps computing in place when their input dies there.

mod error;
mod fuse;
mod layout;
mod lower;
pub mod support;

pub use error::CompileError;
pub use support::Processor;

use hetc_ir::Graph;
use hetc_plan::PlanMeta;

/// What to compile for.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Target name recorded in the plan.
    pub target: String,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { target: "host-cpu".into() }
    }
}

/// A compiled plan, ready to encode.
#[derive(Debug, Clone)]
pub struct CompiledPlan {
    pub meta: PlanMeta,
    pub weights: Vec<u8>,
}

impl CompiledPlan {
    /// The plan file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, CompileError> {
        hetc_plan::encode(&self.meta, &self.weights).map_err(|e| CompileError::Internal(e.to_string()))
    }
}

/// Compiles `graph` into a CPU plan.
pub fn compile(graph: &Graph, options: &CompileOptions) -> Result<CompiledPlan, CompileError> {
    support::check(graph, Processor::Cpu)?;
    let mut program = lower::lower(graph)?;
    fuse::fuse(&mut program);
    lower::transform_winograd_weights(&mut program);
    layout::layout(graph, program, options)
}
