//! Reductions over a set of axes: `ReduceMean`, `ReduceSum`, `ReduceMax`, ...

use super::eval::{MAX_FOLD_ELEMENTS, strides, unravel};
use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::{DType, Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSumExp,
}

impl ReduceKind {
    pub fn name(&self) -> &'static str {
        match self {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::SumSquare => "ReduceSumSquare",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
        }
    }

    fn reduce(&self, v: &[f64]) -> f64 {
        match self {
            ReduceKind::Sum => v.iter().sum(),
            ReduceKind::Mean => v.iter().sum::<f64>() / v.len() as f64,
            ReduceKind::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ReduceKind::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
            ReduceKind::Prod => v.iter().product(),
            ReduceKind::L1 => v.iter().map(|x| x.abs()).sum(),
            ReduceKind::L2 => v.iter().map(|x| x * x).sum::<f64>().sqrt(),
            ReduceKind::SumSquare => v.iter().map(|x| x * x).sum(),
            ReduceKind::LogSumExp => log_sum_exp(v),
        }
    }
}

/// `ln(sum(e^x))`, shifted by the largest finite value so that `e^x` cannot overflow (ONNX's
/// reference does the same). Empty or all `-inf` gives `-inf`; a `+inf` or NaN propagates.
fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    let shift = if max.is_finite() { max } else { 0.0 };
    v.iter().map(|x| (x - shift).exp()).sum::<f64>().ln() + shift
}

/// Lowest and highest values of an integer or bool type, as the `i64` whose low bytes encode
/// them (`u64::MAX` is -1): the results of ReduceMax and ReduceMin over an empty set.
fn integer_bounds(dtype: DType) -> (i64, i64) {
    match dtype {
        DType::Bool => (0, 1),
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::U64 => (0, -1),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Axes are resolved at import; an empty list reduces nothing (ONNX `noop_with_empty_axes`)
/// only when the importer says so, otherwise the importer lists every axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axes: Vec<usize>,
    pub keepdims: bool,
}

impl OpDef for Reduce {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "data")?;
        // Opset 20 defined ReduceMax and ReduceMin (any and all) on bool.
        if x.dtype == DType::Bool && !matches!(self.kind, ReduceKind::Max | ReduceKind::Min) {
            shape_err!("{} is not defined on bool", self.kind.name());
        }
        if self.axes.iter().any(|&a| a >= x.rank()) {
            shape_err!("{} axes {:?} out of range for {x}", self.kind.name(), self.axes);
        }
        let mut shape = Vec::new();
        for (d, &n) in x.shape.iter().enumerate() {
            if self.axes.contains(&d) {
                if self.keepdims {
                    shape.push(1);
                }
            } else {
                shape.push(n);
            }
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
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
        // Group input elements by their output position.
        let kept: Vec<usize> = (0..x.shape().len()).filter(|d| !self.axes.contains(d)).collect();
        let kept_shape: Vec<usize> = kept.iter().map(|&d| x.shape()[d]).collect();
        let kst = strides(&kept_shape);
        let mut groups = vec![Vec::new(); out.numel()];
        for i in 0..x.numel() {
            let idx = unravel(i, x.shape());
            let o: usize = kept.iter().zip(&kst).map(|(&d, s)| idx[d] * s).sum();
            groups[o].push(x.get_f64(i));
        }
        if out.dtype.is_float() {
            let v: Vec<f64> = groups.iter().map(|g| self.kind.reduce(g)).collect();
            return Some(Ok(vec![Tensor::from_f64_values(out.dtype, out.shape, &v)]));
        }
        // Integers and bools reduce in f64 (exact for shape-sized values) and truncate, as ONNX's
        // reference casts numpy's result back; only the empty Max/Min needs the type's bounds.
        let v: Vec<i64> = groups
            .iter()
            .map(|g| match self.kind {
                ReduceKind::Max if g.is_empty() => integer_bounds(out.dtype).0,
                ReduceKind::Min if g.is_empty() => integer_bounds(out.dtype).1,
                _ => self.kind.reduce(g) as i64,
            })
            .collect();
        Some(Ok(vec![Tensor::from_i64_values(out.dtype, out.shape, &v)]))
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "axes", &self.axes)?;
        write!(f, ", keepdims={}", self.keepdims as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(kind: ReduceKind, x: Tensor) -> Tensor {
        let r = Reduce { kind, axes: vec![0], keepdims: false };
        r.eval(&[Some(&x)]).expect("folds").expect("valid").remove(0)
    }

    #[test]
    fn log_sum_exp_does_not_overflow() {
        let t = fold(ReduceKind::LogSumExp, Tensor::from_f32(vec![2], &[1000.0, 1000.0]));
        assert!((t.get_f64(0) - (1000.0 + 2f64.ln())).abs() < 1e-3);
        let t = fold(ReduceKind::LogSumExp, Tensor::from_f32(vec![0], &[]));
        assert_eq!(t.get_f64(0), f64::NEG_INFINITY);
    }

    #[test]
    fn empty_integer_max_and_min_are_the_type_bounds() {
        let empty = |dtype| Tensor::from_i64_values(dtype, vec![0], &[]);
        assert_eq!(fold(ReduceKind::Max, empty(DType::I32)).get_i64(0), i32::MIN as i64);
        assert_eq!(fold(ReduceKind::Min, empty(DType::U8)).get_i64(0), 255);
        assert_eq!(fold(ReduceKind::Max, empty(DType::Bool)).get_i64(0), 0);
        assert_eq!(fold(ReduceKind::Min, empty(DType::Bool)).get_i64(0), 1);
    }
}
