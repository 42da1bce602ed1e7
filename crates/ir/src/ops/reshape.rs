//! `Reshape`, also standing for Flatten, Squeeze and Unsqueeze once their shapes are static.

use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    /// The fully resolved output shape (no 0 or -1 placeholders).
    pub shape: Vec<usize>,
}

impl Reshape {
    /// Resolves an ONNX shape request (`0` copies the input dimension unless `allowzero`,
    /// one `-1` is inferred) against the input shape.
    pub fn resolve(input: &[usize], request: &[i64], allowzero: bool) -> Result<Vec<usize>, ShapeError> {
        let mut out = Vec::with_capacity(request.len());
        let mut infer_at = None;
        for (i, &r) in request.iter().enumerate() {
            match r {
                -1 if infer_at.is_none() => {
                    infer_at = Some(i);
                    out.push(1);
                }
                0 if !allowzero => match input.get(i) {
                    Some(&d) => out.push(d),
                    None => shape_err!("Reshape copies dimension {i}, which {input:?} does not have"),
                },
                r if r >= 0 => out.push(r as usize),
                _ => shape_err!("Reshape shape {request:?} has an invalid or second -1 entry"),
            }
        }
        let total: usize = input.iter().product();
        if let Some(i) = infer_at {
            let known: usize = out.iter().product();
            if known == 0 || !total.is_multiple_of(known) {
                shape_err!("Reshape cannot infer -1 in {request:?} for input {input:?}");
            }
            out[i] = total / known;
        }
        if out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(total) {
            shape_err!("Reshape {request:?} does not preserve the {total} elements of {input:?}");
        }
        Ok(out)
    }
}

impl OpDef for Reshape {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "data")?;
        if crate::shape::checked_numel(&self.shape) != Some(x.numel()) {
            shape_err!("Reshape to {:?} does not preserve the elements of {x}", self.shape);
        }
        Ok(vec![TensorType::new(x.dtype, self.shape.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        Some(x.reshaped(self.shape.clone()).map(|t| vec![t]).ok_or_else(|| {
            ShapeError(format!("Reshape to {:?} does not preserve the elements of {}", self.shape, x.ty()))
        }))
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "shape", &self.shape)
    }
}
