//! Targets: what each processor of a device can run, and the figures a placement needs.
//!
//! - [`desc`]: the target description format (`targets/*.toml`): processors (CPU clusters,
//!   GPU, DSP, NPU), RAM, memory, peak figures, transfer links; every fact with its quality
//!   and sources ([`facts`], `sources.toml`).
//! - [`table`]: declarative operator support tables (`tables/*.toml`) keyed by op, element
//!   type and attribute limits; [`support`]: the [`OpSupport`] trait they and the code tables
//!   (hetc's own kernels) implement.
//! - [`catalog`]: the built-in targets, embedded in the binary, plus `host-cpu` and `host`
//!   ([`host`]) built from this machine.
//! - [`analysis`]: per processor and per combination of processors, supported and
//!   unsupported nodes with reasons, fallback segments and transfers (`hetc support`).
//! - [`cost`]: the FLOPs-and-bandwidth stand-in cost model.

pub mod analysis;
pub mod catalog;
pub mod cost;
pub mod desc;
pub mod docs;
mod error;
pub mod facts;
mod fused;
pub mod host;
pub mod support;
pub mod table;

pub use catalog::{Catalog, Target};
pub use error::TargetError;
pub use host::{HostGpu, HostInfo};
pub use support::{CheckOptions, CodeTable, CodeTables, HETC_CPU, HETC_GPU, KernelCheck, NodeView, OpSupport};
