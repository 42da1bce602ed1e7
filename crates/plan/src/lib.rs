//! hetc's plan file: the versioned artifact the compiler writes and the runtime executes.
//!
//! A plan is a 64-byte header, postcard-encoded [`PlanMeta`] and a raw, 64-byte-aligned weight
//! section read in place. Both sections carry CRC-32 checksums, and [`decode`] validates every
//! index, offset and length before anything uses them: plan files are untrusted input.

mod codec;
mod error;
mod schema;
mod validate;
pub mod winograd;

pub use codec::{DecodedPlan, FORMAT_VERSION, HEADER_LEN, MAGIC, WEIGHT_ALIGN, align_up, decode, encode};
pub use error::PlanError;
pub use schema::*;
pub use validate::{MAX_RANK, MAX_TENSOR_BYTES};
