//! `InstanceNormalization`: normalise each (batch, channel) plane over its spatial extent.

use super::{OpDef, ShapeError, input, shape_err};
use crate::TensorType;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceNorm {
    pub epsilon: f32,
}

impl OpDef for InstanceNorm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        if !x.dtype.is_float() || x.rank() < 3 {
            shape_err!("InstanceNormalization needs a float input of rank >= 3, got {x}");
        }
        let c = x.shape[1];
        for (i, what) in [(1, "scale"), (2, "B")] {
            let p = input(inputs, i, what)?;
            if p.shape != [c] || p.dtype != x.dtype {
                shape_err!("InstanceNormalization {what} must be {}[{c}], got {p}", x.dtype);
            }
        }
        Ok(vec![x.clone()])
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epsilon={}", self.epsilon)
    }
}
