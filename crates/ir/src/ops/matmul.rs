//! `MatMul` with numpy semantics: 1-D operands are promoted, batch dimensions broadcast.

use super::{OpDef, ShapeError, input, shape_err};
use crate::TensorType;
use crate::shape::broadcast_shapes;

/// (batch shape, M, K, N, output shape) of a matrix product.
pub type MatMulDims = (Vec<usize>, usize, usize, usize, Vec<usize>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatMul;

impl MatMul {
    /// (batch shape, M, K, N, output shape).
    pub fn dims(a: &TensorType, b: &TensorType) -> Option<MatMulDims> {
        if a.rank() == 0 || b.rank() == 0 {
            return None;
        }
        let a2: Vec<usize> = if a.rank() == 1 { vec![1, a.shape[0]] } else { a.shape.clone() };
        let b2: Vec<usize> = if b.rank() == 1 { vec![b.shape[0], 1] } else { b.shape.clone() };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != k2 {
            return None;
        }
        let batch = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
        let mut out = batch.clone();
        if a.rank() > 1 {
            out.push(m);
        }
        if b.rank() > 1 {
            out.push(n);
        }
        Some((batch, m, k, n, out))
    }
}

impl OpDef for MatMul {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let a = input(inputs, 0, "A")?;
        let b = input(inputs, 1, "B")?;
        if a.dtype != b.dtype || a.dtype == crate::DType::Bool {
            shape_err!("MatMul needs numeric A and B of one type, got {} and {}", a.dtype, b.dtype);
        }
        match MatMul::dims(a, b) {
            Some((.., out)) => Ok(vec![TensorType::new(a.dtype, out)]),
            None => shape_err!("MatMul cannot multiply {:?} by {:?}", a.shape, b.shape),
        }
    }

    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        match (inputs.first(), inputs.get(1)) {
            (Some(Some(a)), Some(Some(b))) => MatMul::dims(a, b).map_or(0, |(batch, m, k, n, _)| {
                batch.iter().map(|&d| d as u64).product::<u64>() * m as u64 * k as u64 * n as u64
            }),
            _ => 0,
        }
    }
}
