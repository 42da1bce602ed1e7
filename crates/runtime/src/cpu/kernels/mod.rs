//! CPU kernels: plain functions over `f32` slices in NCHW (row-major) layout.
//!
//! Each kernel takes its shapes in a small parameter struct, reads inputs from shared slices
//! and writes its whole output slice. Shapes were validated when the session was prepared, so
//! kernels may index freely within the sizes those parameters imply. `threads` is the number
//! of worker threads the session allows; kernels parallelise through rayon inside the
//! session's pool.

pub mod activation;
pub mod conv;
pub(crate) mod depthwise;
pub(crate) mod depthwise_avx2;
pub(crate) mod depthwise_flat;
pub mod elementwise;
pub mod fused_elementwise;
pub mod gemm;
pub(crate) mod gemv;
pub mod matmul;
pub mod movement;
pub mod norm;
pub(crate) mod pointwise;
pub mod pool;
pub mod reduce;
pub mod resize;
pub(crate) mod simd256;
pub(crate) mod simd512;
pub mod softmax;
pub mod winograd;
