//! `Gemm`: `Y = alpha * op(A) * op(B) + beta * C`.

use super::{OpDef, ShapeError, input, shape_err};
use crate::TensorType;
use crate::shape::broadcast_shapes;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Gemm {
    /// (M, K, N) for the given A and B types.
    pub fn dims(&self, a: &TensorType, b: &TensorType) -> Option<(usize, usize, usize)> {
        if a.rank() != 2 || b.rank() != 2 {
            return None;
        }
        let (m, k) = if self.trans_a { (a.shape[1], a.shape[0]) } else { (a.shape[0], a.shape[1]) };
        let (k2, n) = if self.trans_b { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
        (k == k2).then_some((m, k, n))
    }
}

impl OpDef for Gemm {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let a = input(inputs, 0, "A")?;
        let b = input(inputs, 1, "B")?;
        if a.dtype != b.dtype || a.dtype == crate::DType::Bool {
            shape_err!("Gemm needs numeric A and B of one type, got {} and {}", a.dtype, b.dtype);
        }
        let Some((m, _, n)) = self.dims(a, b) else {
            shape_err!(
                "Gemm cannot multiply {:?} (transA={}) by {:?} (transB={})",
                a.shape,
                self.trans_a as u8,
                b.shape,
                self.trans_b as u8
            );
        };
        if let Some(c) = inputs.get(2).copied().flatten()
            && (c.dtype != a.dtype || broadcast_shapes(&c.shape, &[m, n]).as_deref() != Some(&[m, n][..]))
        {
            shape_err!("Gemm C {c} does not broadcast to [{m},{n}]");
        }
        Ok(vec![TensorType::new(a.dtype, vec![m, n])])
    }

    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        match (inputs.first(), inputs.get(1)) {
            (Some(Some(a)), Some(Some(b))) => self.dims(a, b).map_or(0, |(m, k, n)| m as u64 * k as u64 * n as u64),
            _ => 0,
        }
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0, 1]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alpha={}, beta={}, transA={}, transB={}",
            self.alpha, self.beta, self.trans_a as u8, self.trans_b as u8
        )
    }
}
