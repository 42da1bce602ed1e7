//! hetc's intermediate representation.
//!
//! A model is a [`Graph`]: a petgraph `StableDiGraph` whose nodes are [`Op`]s with typed
//! outputs and whose edges record which output slot feeds which input slot. Shapes are static.
//! Weights are [`Tensor`]s backed by shared byte buffers, held once and never copied by passes.

mod dtype;
mod graph;
pub mod ops;
pub mod pass;
mod shape;
pub mod stats;
mod tensor;
pub mod text;

pub use dtype::DType;
pub use graph::{Edge, Graph, GraphError, GraphOutput, Node, NodeId, ValueRef};
pub use ops::{Op, OpDef, ShapeError};
pub use shape::{Layout, TensorType, broadcast_shapes, checked_numel, normalize_axis};
pub use tensor::{Tensor, TensorSizeError, f16_to_f32, f32_to_f16};
