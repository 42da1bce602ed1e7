//! `TensorProto` to IR tensors: embedded raw data (borrowed from the model's buffer without
//! copying), typed repeated fields, and ONNX external data.

use crate::ImportError;
use crate::proto::{TensorProto, tensor_proto};
use bytes::Bytes;
use hetc_ir::{DType, Tensor, TensorType};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Maps an ONNX `TensorProto.DataType` code to an IR dtype.
pub fn dtype_from_onnx(code: i32) -> Result<DType, String> {
    use tensor_proto::DataType as D;
    Ok(match D::try_from(code).map_err(|_| format!("unknown data type code {code}"))? {
        D::Float => DType::F32,
        D::Uint8 => DType::U8,
        D::Int8 => DType::I8,
        D::Uint16 => DType::U16,
        D::Int16 => DType::I16,
        D::Int32 => DType::I32,
        D::Int64 => DType::I64,
        D::Bool => DType::Bool,
        D::Float16 => DType::F16,
        D::Double => DType::F64,
        D::Uint32 => DType::U32,
        D::Uint64 => DType::U64,
        D::Bfloat16 => DType::BF16,
        other => return Err(format!("data type {} is not supported", other.as_str_name())),
    })
}

/// Reads external data files once each and hands out zero-copy slices of them.
#[derive(Default)]
pub struct ExternalData {
    base_dir: PathBuf,
    files: HashMap<PathBuf, Bytes>,
}

impl ExternalData {
    pub fn new(base_dir: &Path) -> Self {
        ExternalData { base_dir: base_dir.to_path_buf(), files: HashMap::new() }
    }

    fn slice(
        &mut self,
        tensor: &str,
        location: &str,
        offset: u64,
        length: Option<u64>,
        expected: u64,
    ) -> Result<Bytes, ImportError> {
        let rel = Path::new(location);
        let err = |path: &Path, reason: String| ImportError::ExternalData {
            tensor: tensor.to_string(),
            path: path.to_path_buf(),
            reason,
        };
        // The ONNX spec makes locations relative to the model's folder; refuse anything that
        // escapes it, so a hostile model cannot make us read arbitrary files.
        if location.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(err(rel, "location must be a relative path inside the model's folder".into()));
        }
        let path = self.base_dir.join(rel);
        if !self.files.contains_key(&path) {
            let data = std::fs::read(&path).map_err(|e| err(&path, format!("cannot read: {e}")))?;
            self.files.insert(path.clone(), Bytes::from(data));
        }
        let file = &self.files[&path];
        let length = length.unwrap_or(expected);
        if length != expected {
            return Err(err(&path, format!("length {length} does not match the tensor's {expected} bytes")));
        }
        let end = offset.checked_add(length).filter(|&e| e <= file.len() as u64).ok_or_else(|| {
            err(
                &path,
                format!("needs bytes {offset}..{} but the file has only {}", offset.saturating_add(length), file.len()),
            )
        })?;
        Ok(file.slice(offset as usize..end as usize))
    }
}

/// Converts an initializer or constant attribute into an IR tensor.
pub fn tensor_from_proto(t: &TensorProto, external: &mut ExternalData) -> Result<Tensor, ImportError> {
    let name = t.name.clone().unwrap_or_default();
    let bad = |reason: String| ImportError::Tensor { tensor: name.clone(), reason };
    let dtype = dtype_from_onnx(t.data_type.unwrap_or(0)).map_err(&bad)?;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        match usize::try_from(d) {
            Ok(d) => shape.push(d),
            Err(_) => return Err(bad(format!("negative dimension {d} in {:?}", t.dims))),
        }
    }
    let ty = TensorType::new(dtype, shape);
    crate::import::check_size(&ty).map_err(|_| bad(format!("dimensions {:?} are too large", t.dims)))?;
    let numel = ty.numel();
    let expected = ty.byte_size();
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let data: Bytes = if t.data_location == Some(tensor_proto::DataLocation::External as i32) {
        let mut location = None;
        let (mut offset, mut length) = (0u64, None);
        for kv in &t.external_data {
            let value = kv.value.as_deref().unwrap_or("");
            let parse = |v: &str| {
                v.parse::<u64>().map_err(|_| {
                    bad(format!("external data {} `{v}` is not a number", kv.key.as_deref().unwrap_or("")))
                })
            };
            match kv.key.as_deref() {
                Some("location") => location = Some(value.to_string()),
                Some("offset") => offset = parse(value)?,
                Some("length") => length = Some(parse(value)?),
                _ => {}
            }
        }
        let location = location.ok_or_else(|| bad("external data has no location".into()))?;
        external.slice(&name, &location, offset, length, expected)?
    } else if let Some(raw) = &t.raw_data {
        raw.clone()
    } else {
        typed_field_bytes(t, dtype, numel).map_err(bad)?
    };
    Tensor::from_bytes(ty, data).map_err(|e| bad(e.to_string()))
}

/// Packs ONNX's typed repeated fields into little-endian bytes.
fn typed_field_bytes(t: &TensorProto, dtype: DType, numel: usize) -> Result<Bytes, String> {
    // Allocate only once the field is known to hold `numel` values: the dims alone are
    // untrusted, and a few bytes of them can claim a terabyte.
    let buffer = |len: usize, field: &str| {
        if len == numel {
            Ok(Vec::with_capacity(numel * dtype.size()))
        } else {
            Err(format!("{field} has {len} values for {numel} elements"))
        }
    };
    let out = match dtype {
        DType::F32 => {
            let mut out = buffer(t.float_data.len(), "float_data")?;
            t.float_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            out
        }
        DType::F64 => {
            let mut out = buffer(t.double_data.len(), "double_data")?;
            t.double_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            out
        }
        DType::I64 => {
            let mut out = buffer(t.int64_data.len(), "int64_data")?;
            t.int64_data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            out
        }
        DType::U32 | DType::U64 => {
            let mut out = buffer(t.uint64_data.len(), "uint64_data")?;
            t.uint64_data.iter().for_each(|&v| out.extend_from_slice(&v.to_le_bytes()[..dtype.size()]));
            out
        }
        // int32_data carries every type of 32 bits or fewer, float16 as its bit pattern.
        _ => {
            let mut out = buffer(t.int32_data.len(), "int32_data")?;
            t.int32_data.iter().for_each(|&v| out.extend_from_slice(&v.to_le_bytes()[..dtype.size()]));
            out
        }
    };
    Ok(Bytes::from(out))
}
