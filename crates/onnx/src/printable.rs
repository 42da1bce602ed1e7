//! Refuses control characters in the model's identifiers (names, op types, domains,
//! dimension parameters, external data entries). Error messages quote these strings, and a
//! line break in one would break the promise that every error is one line (a terminal escape
//! could garble the user's terminal). ONNX restricts names to identifiers anyway.

use crate::ImportError;
use crate::proto::{GraphProto, TensorProto, TypeProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto};

fn check(what: &str, s: &str) -> Result<(), ImportError> {
    if s.contains(char::is_control) {
        return Err(ImportError::Model(format!("{what} {s:?} contains a control character")));
    }
    Ok(())
}

fn check_tensor(t: &TensorProto) -> Result<(), ImportError> {
    check("tensor name", t.name.as_deref().unwrap_or(""))?;
    for kv in &t.external_data {
        check("external data key", kv.key.as_deref().unwrap_or(""))?;
        check("external data value", kv.value.as_deref().unwrap_or(""))?;
    }
    Ok(())
}

fn check_value_info(info: &ValueInfoProto) -> Result<(), ImportError> {
    check("value name", info.name.as_deref().unwrap_or(""))?;
    if let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), .. }) = &info.r#type {
        for d in t.shape.iter().flat_map(|s| &s.dim) {
            if let Some(dimension::Value::DimParam(p)) = &d.value {
                check("dimension parameter", p)?;
            }
        }
    }
    Ok(())
}

/// Checks every identifier of `g` that hetc may quote in an error (subgraphs are not
/// imported, so not checked).
pub fn check_identifiers(g: &GraphProto) -> Result<(), ImportError> {
    for n in &g.node {
        check("node name", n.name.as_deref().unwrap_or(""))?;
        check("op type", n.op_type.as_deref().unwrap_or(""))?;
        check("domain", n.domain.as_deref().unwrap_or(""))?;
        for value in n.input.iter().chain(&n.output) {
            check("value name", value)?;
        }
        for a in &n.attribute {
            a.t.iter().chain(&a.tensors).try_for_each(check_tensor)?;
        }
    }
    g.initializer.iter().try_for_each(check_tensor)?;
    g.input.iter().chain(&g.output).chain(&g.value_info).try_for_each(check_value_info)
}
