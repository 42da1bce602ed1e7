//! `Softmax` and `LogSoftmax`.

use super::{OpDef, ShapeError, input, shape_err};
use crate::TensorType;
use std::fmt;

/// Softmax over `axis`. Before opset 13 ONNX coerced the input to 2-D at `axis` and normalised
/// over all trailing dimensions together; `coerce_2d` keeps that meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softmax {
    pub axis: usize,
    pub coerce_2d: bool,
    pub log: bool,
}

impl Softmax {
    pub fn name(&self) -> &'static str {
        if self.log { "LogSoftmax" } else { "Softmax" }
    }
}

impl OpDef for Softmax {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "input")?;
        if !x.dtype.is_float() {
            shape_err!("{} needs a float input, got {}", self.name(), x.dtype);
        }
        if self.axis >= x.rank().max(1) {
            shape_err!("{} axis {} out of range for {x}", self.name(), self.axis);
        }
        Ok(vec![x.clone()])
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "axis={}", self.axis)?;
        if self.coerce_2d {
            f.write_str(", coerce_2d")?;
        }
        Ok(())
    }
}
