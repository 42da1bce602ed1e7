//! `Where(cond, x, y)`: elementwise select with three-way broadcasting.

use super::eval::{MAX_FOLD_ELEMENTS, broadcast_source, unravel};
use super::{OpDef, ShapeError, const_input, input, shape_err};
use crate::shape::broadcast_shapes;
use crate::{DType, Tensor, TensorType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Where;

impl OpDef for Where {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let c = input(inputs, 0, "condition")?;
        let x = input(inputs, 1, "X")?;
        let y = input(inputs, 2, "Y")?;
        if c.dtype != DType::Bool {
            shape_err!("Where condition must be bool, got {}", c.dtype);
        }
        if x.dtype != y.dtype {
            shape_err!("Where branches have different types {} and {}", x.dtype, y.dtype);
        }
        let shape = broadcast_shapes(&c.shape, &x.shape)
            .and_then(|s| broadcast_shapes(&s, &y.shape))
            .ok_or_else(|| ShapeError(format!("Where cannot broadcast {:?}, {:?}, {:?}", c.shape, x.shape, y.shape)))?;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let (c, x, y) = (const_input(inputs, 0)?, const_input(inputs, 1)?, const_input(inputs, 2)?);
        let ty = match self.infer(&[Some(c.ty()), Some(x.ty()), Some(y.ty())]) {
            Ok(mut t) => t.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if ty.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let pick = |i: usize| {
            let idx = unravel(i, &ty.shape);
            if c.get_i64(broadcast_source(&idx, c.shape())) != 0 {
                (x, broadcast_source(&idx, x.shape()))
            } else {
                (y, broadcast_source(&idx, y.shape()))
            }
        };
        let t = if ty.dtype.is_float() {
            let v: Vec<f64> = (0..ty.numel())
                .map(|i| {
                    let (t, j) = pick(i);
                    t.get_f64(j)
                })
                .collect();
            Tensor::from_f64_values(ty.dtype, ty.shape, &v)
        } else {
            let v: Vec<i64> = (0..ty.numel())
                .map(|i| {
                    let (t, j) = pick(i);
                    t.get_i64(j)
                })
                .collect();
            Tensor::from_i64_values(ty.dtype, ty.shape, &v)
        };
        Some(Ok(vec![t]))
    }
}
