//! `Cast` to another element type.

use super::eval::MAX_FOLD_ELEMENTS;
use super::{OpDef, ShapeError, const_input, input};
use crate::{DType, Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cast {
    pub to: DType,
}

impl OpDef for Cast {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "input")?;
        Ok(vec![TensorType::new(self.to, x.shape.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        if x.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let t = if x.dtype().is_float() && self.to.is_float() || x.dtype().is_float() && self.to == DType::Bool {
            Tensor::from_f64_values(self.to, x.shape().to_vec(), &x.to_f64_vec())
        } else if x.dtype().is_float() {
            // Float to integer truncates toward zero.
            Tensor::from_f64_values(self.to, x.shape().to_vec(), &x.to_f64_vec())
        } else if self.to == DType::Bool {
            let v: Vec<i64> = x.to_i64_vec().into_iter().map(|v| (v != 0) as i64).collect();
            Tensor::from_i64_values(self.to, x.shape().to_vec(), &v)
        } else {
            Tensor::from_i64_values(self.to, x.shape().to_vec(), &x.to_i64_vec())
        };
        Some(Ok(vec![t]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "to={}", self.to)
    }
}
