//! Static tensor types: element type, shape and memory layout.

use crate::DType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a tensor's elements are laid out in memory. Everything imported from ONNX is `Plain`
/// (row-major in the order of its dimensions, NCHW for images); later passes may choose
/// other layouts for particular processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Layout {
    #[default]
    Plain,
    /// Channels last: an NCHW-shaped tensor stored as NHWC.
    Nhwc,
}

/// The type of a tensor value in the graph. hetc compiles static shapes only: symbolic
/// dimensions must be resolved at import.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub layout: Layout,
}

impl TensorType {
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        TensorType { dtype, shape: shape.into(), layout: Layout::Plain }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size in bytes, saturating so that absurd shapes from bad input cannot overflow.
    pub fn byte_size(&self) -> u64 {
        (self.shape.iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64))).saturating_mul(self.dtype.size() as u64)
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")?;
        if self.layout != Layout::Plain {
            write!(f, "{{{:?}}}", self.layout)?;
        }
        Ok(())
    }
}

/// Multiplies dimensions, failing instead of overflowing on hostile shapes.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Resolves a possibly negative ONNX axis against `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// Numpy-style multidirectional broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[1, 3, 1], &[4, 1, 5]), Some(vec![4, 3, 5]));
        assert_eq!(broadcast_shapes(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shapes(&[], &[7]), Some(vec![7]));
        assert_eq!(broadcast_shapes(&[2, 3], &[4]), None);
    }

    #[test]
    fn axes_normalize() {
        assert_eq!(normalize_axis(-1, 4), Some(3));
        assert_eq!(normalize_axis(4, 4), None);
        assert_eq!(normalize_axis(-5, 4), None);
    }
}
