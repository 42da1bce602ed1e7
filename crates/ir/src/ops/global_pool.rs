//! `GlobalAveragePool` and `GlobalMaxPool`: reduce every spatial axis to 1.

use super::{OpDef, PoolKind, ShapeError, input, shape_err};
use crate::TensorType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalPool {
    pub kind: PoolKind,
}

impl OpDef for GlobalPool {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        if !x.dtype.is_float() {
            shape_err!("{} needs a float input, got {}", self.kind.global_name(), x.dtype);
        }
        if x.rank() < 3 {
            shape_err!("{} needs an input of rank >= 3, got {:?}", self.kind.global_name(), x.shape);
        }
        let mut out = x.shape[..2].to_vec();
        out.resize(x.rank(), 1);
        Ok(vec![TensorType::new(x.dtype, out)])
    }
}
