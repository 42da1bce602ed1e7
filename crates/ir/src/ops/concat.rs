//! `Concat` along one axis.

use super::eval::{MAX_FOLD_ELEMENTS, gather_elements, strides, unravel};
use super::{OpDef, ShapeError, const_input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    pub axis: usize,
}

impl OpDef for Concat {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let Some(Some(first)) = inputs.first() else { shape_err!("Concat needs at least one input") };
        if self.axis >= first.rank() {
            shape_err!("Concat axis {} out of range for {first}", self.axis);
        }
        let mut shape = first.shape.clone();
        shape[self.axis] = 0;
        for t in inputs {
            let Some(t) = t else { shape_err!("Concat inputs cannot be empty") };
            let same = t.dtype == first.dtype
                && t.rank() == first.rank()
                && (0..t.rank()).all(|d| d == self.axis || t.shape[d] == first.shape[d]);
            if !same {
                shape_err!("Concat inputs {first} and {t} differ outside axis {}", self.axis);
            }
            shape[self.axis] += t.shape[self.axis];
        }
        Ok(vec![TensorType::new(first.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let ts: Vec<&Tensor> = (0..inputs.len()).map(|i| const_input(inputs, i)).collect::<Option<_>>()?;
        let types: Vec<Option<&TensorType>> = ts.iter().map(|t| Some(t.ty())).collect();
        let out = match self.infer(&types) {
            Ok(mut o) => o.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if out.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        // Which input each position along the axis comes from, and its offset there.
        let owner: Vec<(usize, usize)> =
            ts.iter().enumerate().flat_map(|(k, t)| (0..t.shape()[self.axis]).map(move |j| (k, j))).collect();
        let shape = out.shape.clone();
        let axis = self.axis;
        let src_strides: Vec<Vec<usize>> = ts.iter().map(|t| strides(t.shape())).collect();
        Some(Ok(vec![gather_elements(&ts, out, |i| {
            let mut idx = unravel(i, &shape);
            let (k, j) = owner[idx[axis]];
            idx[axis] = j;
            (k, idx.iter().zip(&src_strides[k]).map(|(a, b)| a * b).sum())
        })]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "axis={}", self.axis)
    }
}
