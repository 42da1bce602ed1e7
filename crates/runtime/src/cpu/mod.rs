//! CPU execution: step preparation (validation), dispatch and kernels.

pub(crate) mod arena;
pub(crate) mod exec;
pub mod introspect;
pub mod kernels;
pub(crate) mod prepare;
pub(crate) mod spin;
