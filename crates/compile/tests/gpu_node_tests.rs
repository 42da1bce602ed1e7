//! The ONNX backend conformance suite on the GPU (lavapipe in CI): every test whose nodes the
//! GPU support table claims is compiled with `--strategy gpu`, must place every computing step
//! on the GPU, and must match the reference outputs (max |out - ref| <= 1e-4 x max(1, max
//! |ref|), as on the CPU). Each plan runs twice on one session. A test the GPU does not claim
//! is kept in an insta snapshot with its reason. Without a GPU adapter every claimed test fails
//! with the runtime's "no GPU adapter" error: nothing is skipped.
//!
//! See `cpu_node_tests.rs` for the harness (shared in `node_common`).

mod node_common;

#[test]
fn gpu_node_tests() {
    let unsupported = node_common::run_node_suite(hetc_compile::Processor::Gpu);
    insta::assert_snapshot!("gpu_unsupported", unsupported);
}
