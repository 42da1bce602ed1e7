//! N-dimensional convolution (`Conv`), grouped and depthwise included.

use super::{OpDef, ShapeError, fmt_list, input, shape_err};
use crate::TensorType;
use std::fmt;

/// Explicit-padding convolution; `auto_pad` is resolved at import. Inputs: X `[N,C,spatial..]`,
/// W `[M, C/group, kernel..]`, optional bias `[M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// Begin pads for each spatial axis, then end pads (ONNX order).
    pub pads: Vec<usize>,
    pub group: usize,
}

/// Output length of one spatial axis of a sliding window.
pub(crate) fn window_output(len: usize, pad: usize, kernel: usize, stride: usize, dilation: usize) -> Option<usize> {
    let span = dilation.checked_mul(kernel.checked_sub(1)?)?.checked_add(1)?;
    let padded = len.checked_add(pad)?;
    if stride == 0 || padded < span {
        return None;
    }
    Some((padded - span) / stride + 1)
}

impl Conv {
    pub fn spatial_rank(&self) -> usize {
        self.kernel.len()
    }

    pub(crate) fn check_attrs(&self, op: &str, spatial: usize) -> Result<(), ShapeError> {
        if self.kernel.len() != spatial
            || self.strides.len() != spatial
            || self.dilations.len() != spatial
            || self.pads.len() != 2 * spatial
        {
            shape_err!(
                "{op} attributes do not match {spatial} spatial dims (kernel {:?}, strides {:?}, dilations {:?}, pads {:?})",
                self.kernel,
                self.strides,
                self.dilations,
                self.pads
            );
        }
        if self.group == 0 || self.strides.contains(&0) || self.dilations.contains(&0) || self.kernel.contains(&0) {
            shape_err!("{op} has a zero group, stride, dilation or kernel size");
        }
        Ok(())
    }
}

impl OpDef for Conv {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        let w = input(inputs, 1, "W")?;
        if !x.dtype.is_float() || w.dtype != x.dtype {
            shape_err!("Conv needs float X and W of one type, got {} and {}", x.dtype, w.dtype);
        }
        if x.rank() < 3 || w.rank() != x.rank() {
            shape_err!("Conv needs X and W of equal rank >= 3, got {:?} and {:?}", x.shape, w.shape);
        }
        let spatial = x.rank() - 2;
        self.check_attrs("Conv", spatial)?;
        let (c, m) = (x.shape[1], w.shape[0]);
        if c % self.group != 0 || m % self.group != 0 || w.shape[1].checked_mul(self.group) != Some(c) {
            shape_err!("Conv: X has {c} channels, W is {:?}, group {}", w.shape, self.group);
        }
        if w.shape[2..] != self.kernel[..] {
            shape_err!("Conv kernel_shape {:?} does not match W {:?}", self.kernel, w.shape);
        }
        if let Some(b) = inputs.get(2).copied().flatten()
            && (b.shape != [m] || b.dtype != x.dtype)
        {
            shape_err!("Conv bias must be {}[{m}], got {b}", x.dtype);
        }
        let mut out = vec![x.shape[0], m];
        for d in 0..spatial {
            let pad = self.pads[d] + self.pads[d + spatial];
            match window_output(x.shape[d + 2], pad, self.kernel[d], self.strides[d], self.dilations[d]) {
                Some(o) => out.push(o),
                None => shape_err!("Conv window larger than padded input on spatial axis {d}"),
            }
        }
        Ok(vec![TensorType::new(x.dtype, out)])
    }

    fn macs(&self, inputs: &[Option<&TensorType>], outputs: &[TensorType]) -> u64 {
        let Some(Some(w)) = inputs.get(1) else { return 0 };
        // Each output element accumulates C/group x kernel products.
        let per_output: u64 = w.shape[1..].iter().map(|&d| d as u64).product();
        // Saturating: shapes are checked one by one, not this product (huge pads can make both
        // factors near 2^38).
        (outputs[0].numel() as u64).saturating_mul(per_output)
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0, 1]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list(f, "kernel", &self.kernel)?;
        fmt_list(f, ", strides", &self.strides)?;
        fmt_list(f, ", pads", &self.pads)?;
        fmt_list(f, ", dilations", &self.dilations)?;
        write!(f, ", group={}", self.group)
    }
}
