//! Placement: which processor runs each op of a (fused) model.
//!
//! hetc's runtime drives two processors, the CPU and the GPU (through wgpu), so placement
//! chooses between those two; a target's DSP and NPU are described and analysed
//! (`hetc support`) but no runtime drives them yet.
//!
//! - [`cost`]: the [`CostModel`] trait placement asks for op and transfer times, and
//!   [`TargetCost`], which answers from a target's description and support tables.
//! - [`predicted`]: [`PredictorCost`], which answers op and transfer times from the latency predictor's
//!   profile (each node lowered alone by the compiler and its steps priced), the rest from
//!   [`TargetCost`] where the profile has no numbers.
//! - [`problem`]: the placement problem as flat arrays (costs per op and device, values with
//!   their consumers) and its objectives: op times plus the transfers a placement needs, one
//!   after another (`Sequential`) or overlapping (`Overlap`).
//! - [`schedule`]: the two-queue simulation of the runtime (host thread, in-order GPU queue)
//!   behind `Overlap`, the list order the compiler issues steps in, and plan timelines.
//! - [`layer`]: whole-op placement (granularities `layer` and `subgraph`): single-processor
//!   candidates, then a bounded local search over op and window flips; never predicted worse
//!   than the best single-processor candidate.
//! - [`coexec`]: CoDL's intra-operator co-execution on top of a layer placement: ops and
//!   chains of ops split along height or channels with a GPU share, data sharing counted.
//! - [`materialize`]: a co-execution plan as a graph of ordinary ops on sub-tensors (each
//!   split's GPU part, CPU part and merge) with the device of every node, for the compiler.

pub mod coexec;
pub mod cost;
mod error;
pub mod layer;
pub mod materialize;
pub mod predicted;
pub mod problem;
pub mod schedule;

pub use coexec::{Chain, CoexecOptions, CoexecPlan, CoexecStats, Dim, force_coexec, place_coexec};
pub use cost::{CostModel, SplitTime, TargetCost};
pub use error::PartitionError;
pub use layer::{Candidate, LayerPlacement, place_layers, place_layers_with};
pub use materialize::{SplitGraph, SplitPart, materialize};
pub use predicted::{Bases, PredictorCost};
pub use problem::{Objective, Problem};
pub use schedule::{Clocks, PlacedSchedule, Schedule, StepKind, Timeline, schedule_placed};
