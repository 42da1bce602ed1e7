//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `../shared` beside the workspace, failing loudly (never skipping) when it is missing.
pub fn shared(sub: &str) -> PathBuf {
    let p = workspace().join("../shared").join(sub);
    assert!(p.exists(), "{} is missing: the tests need the shared assets checked out beside the repo", p.display());
    p
}

/// Reads a serialized `onnx.TensorProto` (model-zoo test data).
pub fn read_tensor_proto(path: &std::path::Path) -> hetc_onnx::proto::TensorProto {
    use prost::Message;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    hetc_onnx::proto::TensorProto::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{} is not a TensorProto: {e}", path.display()))
}
