//! `BatchNormalization` in inference mode: `(x - mean) / sqrt(var + eps) * scale + bias`.

use super::{OpDef, ShapeError, input, shape_err};
use crate::TensorType;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
}

impl OpDef for BatchNorm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        if !x.dtype.is_float() || x.rank() < 2 {
            shape_err!("BatchNormalization needs a float input of rank >= 2, got {x}");
        }
        let c = x.shape[1];
        for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let p = input(inputs, i, what)?;
            if p.shape != [c] || !p.dtype.is_float() {
                shape_err!("BatchNormalization {what} must be float[{c}], got {p}");
            }
        }
        Ok(vec![x.clone()])
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epsilon={}", self.epsilon)
    }
}
