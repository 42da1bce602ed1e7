//! Sliding-window pooling: `MaxPool` and `AveragePool`.

use super::{OpDef, ShapeError, fmt_list, input, shape_err};
use crate::TensorType;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// Average; `count_include_pad` decides whether padded positions count in the divisor.
    Average {
        count_include_pad: bool,
    },
}

impl PoolKind {
    pub fn name(&self) -> &'static str {
        match self {
            PoolKind::Max => "MaxPool",
            PoolKind::Average { .. } => "AveragePool",
        }
    }

    pub fn global_name(&self) -> &'static str {
        match self {
            PoolKind::Max => "GlobalMaxPool",
            PoolKind::Average { .. } => "GlobalAveragePool",
        }
    }
}

/// Pooling with explicit pads (`auto_pad` resolved at import). With `ceil_mode` the last
/// window may run past the end padding, but never starts inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads: Vec<usize>,
    pub ceil_mode: bool,
}

impl Pool {
    /// Output length of spatial axis `d` for an input of length `len`.
    pub fn output_len(&self, d: usize, len: usize) -> Option<usize> {
        let spatial = self.kernel.len();
        let (pb, pe) = (self.pads[d], self.pads[d + spatial]);
        let span = self.dilations[d].saturating_mul(self.kernel[d] - 1).saturating_add(1);
        let padded = len + pb + pe;
        if padded < span {
            return None;
        }
        let s = self.strides[d];
        let mut out = if self.ceil_mode { (padded - span).div_ceil(s) + 1 } else { (padded - span) / s + 1 };
        // A window that would start in the end padding is dropped (ONNX and PyTorch agree).
        if self.ceil_mode && (out - 1) * s >= len + pb {
            out -= 1;
        }
        Some(out)
    }
}

impl OpDef for Pool {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        let name = self.kind.name();
        let int8_max = self.kind == PoolKind::Max && matches!(x.dtype, crate::DType::I8 | crate::DType::U8);
        if !x.dtype.is_float() && !int8_max {
            shape_err!("{name} is not defined on {}", x.dtype);
        }
        if x.rank() < 3 {
            shape_err!("{name} needs an input of rank >= 3, got {:?}", x.shape);
        }
        let spatial = x.rank() - 2;
        if self.kernel.len() != spatial
            || self.strides.len() != spatial
            || self.dilations.len() != spatial
            || self.pads.len() != 2 * spatial
        {
            shape_err!("{name} attributes do not match {spatial} spatial dims");
        }
        if self.kernel.contains(&0) || self.strides.contains(&0) || self.dilations.contains(&0) {
            shape_err!("{name} has a zero kernel, stride or dilation");
        }
        for d in 0..spatial {
            let window = self.kernel[d].saturating_mul(self.dilations[d]);
            if self.pads[d] >= window || self.pads[d + spatial] >= window {
                shape_err!("{name} pads {:?} must be smaller than the kernel {:?}", self.pads, self.kernel);
            }
        }
        let mut out = x.shape[..2].to_vec();
        for d in 0..spatial {
            match self.output_len(d, x.shape[d + 2]) {
                Some(o) => out.push(o),
                None => shape_err!("{name} window larger than padded input on spatial axis {d}"),
            }
        }
        Ok(vec![TensorType::new(x.dtype, out)])
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "kernel", &self.kernel)?;
        fmt_list(f, ", strides", &self.strides)?;
        fmt_list(f, ", pads", &self.pads)?;
        fmt_list(f, ", dilations", &self.dilations)?;
        write!(f, ", ceil_mode={}", self.ceil_mode as u8)?;
        if let PoolKind::Average { count_include_pad } = self.kind {
            write!(f, ", count_include_pad={}", count_include_pad as u8)?;
        }
        Ok(())
    }
}
