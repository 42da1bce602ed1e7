//! Reductions over a set of axes: `ReduceMean`, `ReduceSum`, `ReduceMax`, ...

use super::eval::{MAX_FOLD_ELEMENTS, strides, unravel};
use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::{Tensor, TensorType};
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
            ReduceKind::LogSumExp => v.iter().map(|x| x.exp()).sum::<f64>().ln(),
        }
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
        if x.dtype == crate::DType::Bool {
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
        let v: Vec<f64> = groups.iter().map(|g| self.kind.reduce(g)).collect();
        Some(Ok(vec![Tensor::from_f64_values(out.dtype, out.shape, &v)]))
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "axes", &self.axes)?;
        write!(f, ", keepdims={}", self.keepdims as u8)
    }
}
