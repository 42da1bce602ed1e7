//! `Expand`: broadcast to a static shape.

use super::eval::{MAX_FOLD_ELEMENTS, broadcast_source, gather_elements, unravel};
use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::shape::broadcast_shapes;
use crate::{Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expand {
    /// The requested shape; the output is its broadcast with the input's shape.
    pub shape: Vec<usize>,
}

impl OpDef for Expand {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "input")?;
        match broadcast_shapes(&x.shape, &self.shape) {
            Some(s) => Ok(vec![TensorType::new(x.dtype, s)]),
            None => shape_err!("Expand cannot broadcast {x} to {:?}", self.shape),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        let out = match self.infer(&[Some(x.ty())]) {
            Ok(mut o) => o.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if out.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let shape = out.shape.clone();
        Some(Ok(vec![gather_elements(&[x], out, |i| (0, broadcast_source(&unravel(i, &shape), x.shape())))]))
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "shape", &self.shape)
    }
}
