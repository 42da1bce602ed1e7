//! `Split` into pieces of given sizes along one axis.

use super::eval::{MAX_FOLD_ELEMENTS, gather_elements, strides, unravel};
use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

/// Sizes are resolved at import (from the `split` input/attribute or `num_outputs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub axis: usize,
    pub sizes: Vec<usize>,
}

impl OpDef for Split {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "input")?;
        if self.axis >= x.rank() {
            shape_err!("Split axis {} out of range for {x}", self.axis);
        }
        if self.sizes.iter().sum::<usize>() != x.shape[self.axis] {
            shape_err!("Split sizes {:?} do not add up to dimension {} of {x}", self.sizes, self.axis);
        }
        Ok(self
            .sizes
            .iter()
            .map(|&s| {
                let mut shape = x.shape.clone();
                shape[self.axis] = s;
                TensorType::new(x.dtype, shape)
            })
            .collect())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        if x.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let outs = match self.infer(&[Some(x.ty())]) {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        let st = strides(x.shape());
        let mut start = 0;
        let mut result = Vec::new();
        for (ty, &size) in outs.into_iter().zip(&self.sizes) {
            let shape = ty.shape.clone();
            result.push(gather_elements(&[x], ty, |i| {
                let mut idx = unravel(i, &shape);
                idx[self.axis] += start;
                (0, idx.iter().zip(&st).map(|(a, b)| a * b).sum())
            }));
            start += size;
        }
        Some(Ok(result))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "axis={}, ", self.axis)?;
        fmt_list(f, "sizes", &self.sizes)
    }
}
