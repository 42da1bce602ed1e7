//! Typed access to a node's attributes, with errors that name the attribute.

use crate::proto::{AttributeProto, TensorProto, attribute_proto::AttributeType};

pub struct Attrs<'a> {
    attrs: &'a [AttributeProto],
}

impl<'a> Attrs<'a> {
    pub fn new(attrs: &'a [AttributeProto]) -> Self {
        Attrs { attrs }
    }

    fn find(&self, name: &str) -> Option<&'a AttributeProto> {
        self.attrs.iter().find(|a| a.name.as_deref() == Some(name))
    }

    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn typed(&self, name: &str, want: AttributeType) -> Result<Option<&'a AttributeProto>, String> {
        let Some(a) = self.find(name) else { return Ok(None) };
        let kind = a.r#type.and_then(|t| AttributeType::try_from(t).ok());
        // Old exporters leave `type` unset; accept the attribute if the wanted field is present.
        let present = match want {
            AttributeType::Int => a.i.is_some(),
            AttributeType::Float => a.f.is_some(),
            AttributeType::String => a.s.is_some(),
            AttributeType::Tensor => a.t.is_some(),
            AttributeType::Ints => !a.ints.is_empty(),
            AttributeType::Floats => !a.floats.is_empty(),
            _ => false,
        };
        match kind {
            Some(k) if k == want => Ok(Some(a)),
            None | Some(AttributeType::Undefined) if present => Ok(Some(a)),
            Some(k) => Err(format!("attribute `{name}` should be {} but is {}", want.as_str_name(), k.as_str_name())),
            None => Err(format!("attribute `{name}` has no value")),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(self.typed(name, AttributeType::Int)?.map(|a| a.i.unwrap_or(0)))
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, String> {
        Ok(self.typed(name, AttributeType::Float)?.map(|a| a.f.unwrap_or(0.0)))
    }

    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, String> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.typed(name, AttributeType::Ints)?.map(|a| a.ints.clone()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        Ok(self.typed(name, AttributeType::Floats)?.map(|a| a.floats.clone()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.typed(name, AttributeType::String)? {
            Some(a) => {
                let bytes = a.s.as_deref().unwrap_or_default();
                let s = String::from_utf8(bytes.to_vec()).map_err(|_| format!("attribute `{name}` is not UTF-8"))?;
                // Callers quote unknown values in their (one-line) errors.
                if s.contains(char::is_control) {
                    return Err(format!("attribute `{name}` = {s:?} contains a control character"));
                }
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    pub fn string_or(&self, name: &str, default: &str) -> Result<String, String> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, String> {
        Ok(self.typed(name, AttributeType::Tensor)?.and_then(|a| a.t.as_ref()))
    }

    /// Non-negative integers (sizes, strides, pads) as `usize`.
    pub fn usizes(&self, name: &str) -> Result<Option<Vec<usize>>, String> {
        match self.ints(name)? {
            Some(v) => v
                .iter()
                .map(|&x| usize::try_from(x).ok().filter(|&x| x < (1 << 40)))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| format!("attribute `{name}` = {v:?} must hold non-negative sizes")),
            None => Ok(None),
        }
    }
}
