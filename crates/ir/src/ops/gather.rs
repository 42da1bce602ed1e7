//! `Gather`: select slices of `data` along `axis` by an index tensor.

use super::eval::{MAX_FOLD_ELEMENTS, gather_elements, strides, unravel};
use super::{OpDef, ShapeError, const_input, input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gather {
    pub axis: usize,
}

impl OpDef for Gather {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let data = input(inputs, 0, "data")?;
        let idx = input(inputs, 1, "indices")?;
        if self.axis >= data.rank() {
            shape_err!("Gather axis {} out of range for {data}", self.axis);
        }
        if !matches!(idx.dtype, crate::DType::I32 | crate::DType::I64) {
            shape_err!("Gather indices must be i32 or i64, got {}", idx.dtype);
        }
        let mut shape = data.shape[..self.axis].to_vec();
        shape.extend_from_slice(&idx.shape);
        shape.extend_from_slice(&data.shape[self.axis + 1..]);
        Ok(vec![TensorType::new(data.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let (data, idx) = (const_input(inputs, 0)?, const_input(inputs, 1)?);
        let out = match self.infer(&[Some(data.ty()), Some(idx.ty())]) {
            Ok(mut o) => o.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if out.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let len = data.shape()[self.axis] as i64;
        let indices = idx.to_i64_vec();
        if let Some(bad) = indices.iter().find(|&&i| i < -len || i >= len) {
            return Some(Err(ShapeError(format!("Gather index {bad} out of range for axis of length {len}"))));
        }
        let st = strides(data.shape());
        let shape = out.shape.clone();
        let (a, k) = (self.axis, idx.shape().len());
        let idx_shape = idx.shape().to_vec();
        Some(Ok(vec![gather_elements(&[data], out, |i| {
            let o = unravel(i, &shape);
            let ipos: usize = o[a..a + k].iter().zip(strides(&idx_shape)).map(|(v, s)| v * s).sum();
            let j = indices[ipos].rem_euclid(len) as usize;
            let src: Vec<usize> = o[..a].iter().copied().chain([j]).chain(o[a + k..].iter().copied()).collect();
            (0, src.iter().zip(&st).map(|(v, s)| v * s).sum())
        })]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "axis={}", self.axis)
    }
}
