//! `Slice` with per-axis start, end and step, resolved and clamped at import.

use super::eval::{MAX_FOLD_ELEMENTS, gather_elements, strides, unravel};
use super::{OpDef, ShapeError, const_input, input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

/// One sliced axis: elements `start, start+step, ...` strictly before `end` (after `end` for
/// negative steps). Values are already clamped to the axis, as ONNX specifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceAxis {
    pub axis: usize,
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl SliceAxis {
    /// Clamps raw ONNX values (negative indices, huge sentinels) for an axis of length `len`.
    pub fn resolve(axis: usize, start: i64, end: i64, step: i64, len: usize) -> Option<SliceAxis> {
        if step == 0 {
            return None;
        }
        let len = len as i64;
        let norm = |v: i64| if v < 0 { v.saturating_add(len) } else { v };
        // ONNX clamps a backward start to [0, len-1], so a start before the axis still takes
        // element 0 (numpy would take nothing); `max` then `min` keeps an empty axis at -1.
        let (start, end) = if step > 0 {
            (norm(start).clamp(0, len), norm(end).clamp(0, len))
        } else {
            (norm(start).max(0).min(len - 1), norm(end).clamp(-1, len - 1))
        };
        Some(SliceAxis { axis, start, end, step })
    }

    /// Number of elements this axis keeps.
    pub fn len(&self) -> usize {
        let span = if self.step > 0 { self.end - self.start } else { self.start - self.end };
        // Unsigned: `step` may be i64::MIN or MAX, whose `abs` or rounding-up would overflow.
        if span <= 0 { 0 } else { (span as u64).div_ceil(self.step.unsigned_abs()) as usize }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub axes: Vec<SliceAxis>,
}

impl OpDef for Slice {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "data")?;
        let mut shape = x.shape.clone();
        let mut seen = vec![false; x.rank()];
        for a in &self.axes {
            if a.axis >= x.rank() || std::mem::replace(&mut seen[a.axis], true) {
                shape_err!("Slice axis {} out of range or repeated for {x}", a.axis);
            }
            shape[a.axis] = a.len();
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        let out = match self.infer(&[Some(x.ty())]) {
            Ok(mut o) => o.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if out.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let st = strides(x.shape());
        let shape = out.shape.clone();
        Some(Ok(vec![gather_elements(&[x], out, |i| {
            let mut idx: Vec<i64> = unravel(i, &shape).into_iter().map(|v| v as i64).collect();
            for a in &self.axes {
                idx[a.axis] = a.start + idx[a.axis] * a.step;
            }
            (0, idx.iter().zip(&st).map(|(&a, &b)| a as usize * b).sum())
        })]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.axes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}:{}..{}:{}", a.axis, a.start, a.end, a.step)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(start: i64, end: i64, step: i64, n: usize) -> usize {
        SliceAxis::resolve(0, start, end, step, n).map_or(usize::MAX, |a| a.len())
    }

    #[test]
    fn clamping_follows_onnx() {
        assert_eq!(len(1, 1000, 1, 5), 4);
        assert_eq!(len(-1, i64::MIN, -1, 5), 5);
        assert_eq!(len(i64::MAX, -3, -1, 5), 2);
        // A backward start before the axis clamps to 0, so element 0 is taken.
        assert_eq!(len(-10, -20, -1, 5), 1);
        assert_eq!(len(0, 5, 0, 5), usize::MAX);
        assert_eq!(len(-1, i64::MIN, -1, 0), 0);
        assert_eq!(len(0, i64::MAX, 1, 0), 0);
    }
}
