//! ONNX import for hetc.
//!
//! The model is decoded with prost (schema code vendored in [`proto`]) from one shared buffer,
//! so embedded weights are slices of it rather than copies; ONNX external data files are read
//! once each and sliced the same way. Import checks that every op is supported (reporting all
//! unsupported nodes at once), resolves static input shapes, lowers each node to IR ops with
//! static attributes, folds shape computations, removes dead nodes and validates the graph.

mod attrs;
mod error;
mod import;
pub mod ops;
mod printable;
pub mod proto;
mod tensor;

pub use error::{ImportError, UnsupportedNode};
pub use import::{MAX_IR_VERSION, MAX_OPSET, MIN_IR_VERSION, MIN_OPSET};
pub use ops::supported_ops;
pub use tensor::dtype_from_onnx;

use bytes::Bytes;
use hetc_ir::Graph;
use std::collections::BTreeMap;
use std::path::Path;

/// Options for import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Static shapes for inputs, replacing symbolic dimensions (`--input-shape x=1x3x224x224`).
    pub input_shapes: BTreeMap<String, Vec<usize>>,
}

/// An imported model.
#[derive(Debug, Clone)]
pub struct Model {
    pub graph: Graph,
    /// Default-domain opset version.
    pub opset: i64,
    pub ir_version: i64,
    pub producer: String,
}

/// Imports an ONNX file; external data is looked up beside it.
pub fn import_file(path: impl AsRef<Path>, options: &ImportOptions) -> Result<Model, ImportError> {
    let path = path.as_ref();
    let data = std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut model = import::import_bytes(Bytes::from(data), base, options)?;
    if model.graph.name.is_empty() {
        model.graph.name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    }
    Ok(model)
}

/// Imports a model from memory; external data paths are resolved against `base_dir`.
pub fn import_bytes(data: impl Into<Bytes>, base_dir: &Path, options: &ImportOptions) -> Result<Model, ImportError> {
    import::import_bytes(data.into(), base_dir, options)
}

/// Decodes a serialized-tensor message (an initializer, or a test set's `input_K.pb` /
/// `output_K.pb`) into an IR tensor, with the same checks as import; external data is read
/// from `base_dir`.
pub fn tensor_from_proto(t: &proto::TensorProto, base_dir: &Path) -> Result<hetc_ir::Tensor, ImportError> {
    tensor::tensor_from_proto(t, &mut tensor::ExternalData::new(base_dir))
}

/// Parses `NAME=1x3x224x224` as given to `--input-shape`.
pub fn parse_input_shape(spec: &str) -> Result<(String, Vec<usize>), String> {
    let (name, dims) = spec.rsplit_once('=').ok_or_else(|| format!("`{spec}` is not NAME=DIMS, e.g. x=1x3x224x224"))?;
    if name.is_empty() {
        return Err(format!("`{spec}` has no input name"));
    }
    let dims = dims
        .split(['x', ','])
        .map(|d| d.trim().parse::<usize>().map_err(|_| format!("`{d}` in `{spec}` is not a dimension")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_string(), dims))
}
