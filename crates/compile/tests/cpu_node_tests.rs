//! The ONNX backend conformance suite (`../shared/onnx-node-tests`: 1,884 small models, each
//! with reference inputs and outputs) run end to end on the CPU: import, compile for host-cpu,
//! encode, load, run on the test's inputs and compare every output with `output_K.pb`
//! (max |out - ref| <= 1e-4 x max(1, max |ref|); NaN where the reference has NaN, the same
//! infinities).
//!
//! Many node tests feed at run time what hetc needs constant (Reshape's shape, Clip's bounds,
//! Resize's scales, ...), which import rightly rejects. Such a test is imported again with
//! graph inputs turned into initializers holding the test's data, one more at a time: first
//! the non-float ones (from the last), then the float ones (from the last), so the leading data
//! inputs stay real inputs wherever the op allows.
//!
//! Each plan runs three times: on one thread, twice on one session (no kernel may depend on
//! what its output memory held), and on two threads.
//!
//! Every test lands in one category; the CPU must run everything it claims (the support table
//! in `hetc_compile::support`) and get it right. The tests it does not claim are kept in an
//! insta snapshot with their reasons, so any change in what the CPU claims shows up in review.
//! `HETC_NODE_TESTS_LIST=1` prints every test that does not pass, with its category and reason.

mod node_common;

#[test]
fn cpu_node_tests() {
    let unsupported = node_common::run_node_suite(hetc_compile::Processor::Cpu);
    insta::assert_snapshot!("cpu_unsupported", unsupported);
}
