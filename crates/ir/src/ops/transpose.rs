//! `Transpose` by a permutation of axes.

use super::eval::{MAX_FOLD_ELEMENTS, gather_elements, strides, unravel};
use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transpose {
    /// Output axis `i` is input axis `perm[i]`.
    pub perm: Vec<usize>,
}

impl OpDef for Transpose {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "data")?;
        let mut sorted = self.perm.clone();
        sorted.sort_unstable();
        if sorted != (0..x.rank()).collect::<Vec<_>>() {
            shape_err!("Transpose perm {:?} is not a permutation of {x}'s axes", self.perm);
        }
        Ok(vec![TensorType::new(x.dtype, self.perm.iter().map(|&p| x.shape[p]).collect::<Vec<_>>())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        if x.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let out = match self.infer(&[Some(x.ty())]) {
            Ok(mut o) => o.remove(0),
            Err(e) => return Some(Err(e)),
        };
        let st = strides(x.shape());
        let shape = out.shape.clone();
        Some(Ok(vec![gather_elements(&[x], out, |i| {
            let idx = unravel(i, &shape);
            (0, idx.iter().zip(&self.perm).map(|(&v, &p)| v * st[p]).sum())
        })]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "perm", &self.perm)
    }
}
