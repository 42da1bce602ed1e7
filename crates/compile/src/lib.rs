//! Lowering of the IR to a plan for one target.
//!
//! 1. [`support`]: every compute node must have a kernel on the target's processor; all the
//!    nodes that do not are reported at once.
//! 2. [`lower`]: each node becomes a plan step with static kernel parameters. Reshapes become
//!    views sharing their input's memory, BatchNormalization becomes a per-channel affine, and
//!    1-D convolutions and pools become 2-D views.
//! 3. Fusion runs before lowering, on the IR: the egg pass (`hetc-pass-fusion`) folds
//!    normalisations and constants into weights, gives convolutions their epilogues (bias,
//!    residual, activation) and merges elementwise chains; [`lower_fused`] maps the fused ops
//!    to kernels; Concat inputs are written in place by their producers
//!    ([`concat_in_place`]). Then the weights of Winograd convolutions are replaced by their
//!    transform.
//! 4. [`layout`]: tensors get storage: constants go to the 64-byte-aligned weight section,
//!    everything else to one arena planned by lifetime (`hetc-pass-memory`), with elementwise
//!    steps computing in place when their input dies there.
//!
//! [`cpu_steps`] and [`gpu_steps`] lower one node alone, so that the latency predictor can
//! price it during placement, before any plan exists.

mod concat_in_place;
mod error;
pub mod gpu;
mod layout;
mod lower;
mod lower_fused;
pub mod placement;
mod single_node;
pub mod support;
mod transfers;

pub use error::CompileError;
pub use placement::{Placed, Placement, Strategy};
pub use single_node::{cpu_steps, gpu_steps};
pub use support::Processor;

pub use hetc_pass_fusion::FusionReport;

use hetc_ir::Graph;
use hetc_plan::PlanMeta;
use std::borrow::Cow;

/// How to fuse operators before lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fusion {
    /// No fusion: one kernel per op (for before/after comparisons and tests).
    None,
    /// Equality saturation with egg and cost-based extraction (`hetc-pass-fusion`).
    #[default]
    Egg,
}

/// What to compile for.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Target name recorded in the plan.
    pub target: String,
    pub fusion: Fusion,
    /// Where nodes run when no placement is given ([`compile_placed`]).
    pub strategy: Strategy,
    /// With [`Strategy::Gpu`]: the adapter's largest storage binding, in bytes (wgpu's
    /// `max_storage_buffer_binding_size`). Ops with a larger operand or result stay on the
    /// CPU, as unsupported ops do, instead of producing a plan the adapter refuses to load.
    pub gpu_max_binding_bytes: Option<u64>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            target: "host-cpu".into(),
            fusion: Fusion::default(),
            strategy: Strategy::default(),
            gpu_max_binding_bytes: None,
        }
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

/// Runs the fusion pass on a copy of `graph` (placement works on the fused graph, since its
/// nodes are what becomes kernels).
pub fn fuse(graph: &Graph) -> Result<(Graph, FusionReport), CompileError> {
    // Graphs share their weights: the copy costs only the node table.
    let mut fused = graph.clone();
    let report = hetc_ir::pass::run_checked(
        &hetc_pass_fusion::FusionPass::<hetc_pass_fusion::FlopsBytesModel>::default(),
        &mut fused,
    )?;
    Ok((fused, report))
}

/// Compiles `graph` into a CPU plan.
pub fn compile(graph: &Graph, options: &CompileOptions) -> Result<CompiledPlan, CompileError> {
    compile_with_report(graph, options).map(|(plan, _)| plan)
}

/// Compiles `graph` into a plan placed by `options.strategy`, with the fusion pass's report
/// when it ran.
pub fn compile_with_report(
    graph: &Graph,
    options: &CompileOptions,
) -> Result<(CompiledPlan, Option<FusionReport>), CompileError> {
    let (strategy, limit) = (options.strategy, options.gpu_max_binding_bytes);
    compile_placed(graph, options, &mut |g: &Graph| Ok(Placed::new(Placement::from_strategy(g, strategy, limit))))
}

/// Compiles `graph` with the placement `place` computes on the graph as lowered (after
/// fusion, whose node ids it must use). `place` may also rewrite the graph (co-execution
/// splits ops into parts); the plan is then lowered from its graph.
pub fn compile_placed(
    graph: &Graph,
    options: &CompileOptions,
    place: &mut dyn FnMut(&Graph) -> Result<Placed, CompileError>,
) -> Result<(CompiledPlan, Option<FusionReport>), CompileError> {
    // Unsupported ops are reported against the model as the user wrote it.
    support::check(graph, Processor::Cpu)?;
    let (graph, report) = match options.fusion {
        Fusion::None => (Cow::Borrowed(graph), None),
        Fusion::Egg => {
            let (fused, report) = fuse(graph)?;
            support::check(&fused, Processor::Cpu)?;
            (Cow::Owned(fused), Some(report))
        }
    };
    let Placed { graph: rewritten, placement } = place(&graph)?;
    let graph = match rewritten {
        Some(g) => Cow::Owned(g),
        None => graph,
    };
    let misplaced = placement.unsupported(&graph);
    if !misplaced.is_empty() {
        return Err(CompileError::Unsupported {
            processor: "their placed devices".into(),
            count: misplaced.len(),
            list: misplaced.join("; "),
        });
    }
    let mut program = lower::lower(&graph, &placement)?;
    transfers::insert(&mut program);
    if options.fusion == Fusion::Egg {
        concat_in_place::place(&mut program);
    }
    lower::transform_winograd_weights(&mut program);
    Ok((layout::layout(&graph, program, options)?, report))
}
