//! Input files for `hetc run`: `.npy` or ONNX `TensorProto` (`.pb`), and model-zoo test sets.

use anyhow::{Context, Result, bail};
use hetc_runtime::Tensor;
use std::path::Path;

/// Reads a tensor from `.npy` or `.pb`, as `f32`.
pub fn read_tensor(path: &Path) -> Result<Tensor> {
    let (shape, data) = match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => crate::npy::read(path)?,
        Some("pb") => read_pb(path)?,
        _ => bail!("{}: expected a .npy or .pb file", path.display()),
    };
    Tensor::new(shape, data).context("tensor data does not match its shape")
}

fn read_pb(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    use prost::Message;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let proto = hetc_onnx::proto::TensorProto::decode(bytes.as_slice())
        .with_context(|| format!("{} is not an ONNX TensorProto", path.display()))?;
    let t = hetc_onnx::tensor_from_proto(&proto, path.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("{}", path.display()))?;
    if !t.dtype().is_float() {
        bail!("{}: {} tensors are not model inputs hetc accepts (f32 only)", path.display(), t.dtype());
    }
    Ok((t.shape().to_vec(), t.to_f32_vec()))
}

/// The graph-ordered `input_K.pb` files of a model-zoo test set folder.
pub fn test_set_inputs(dir: &Path) -> Result<Vec<Tensor>> {
    let mut tensors = Vec::new();
    for k in 0.. {
        let p = dir.join(format!("input_{k}.pb"));
        if !p.exists() {
            break;
        }
        tensors.push(read_tensor(&p)?);
    }
    if tensors.is_empty() {
        bail!("{} holds no input_0.pb", dir.display());
    }
    Ok(tensors)
}
