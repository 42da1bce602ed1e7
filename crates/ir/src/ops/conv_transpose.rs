//! Transposed convolution (`ConvTranspose`).

use super::conv::Conv;
use super::{OpDef, ShapeError, fmt_list, input, shape_err};
use crate::TensorType;
use std::fmt;

/// Explicit-padding transposed convolution; `output_shape` and `auto_pad` are resolved into
/// `pads` and `output_padding` at import. Inputs: X `[N,C,spatial..]`, W `[C, M/group, kernel..]`,
/// optional bias `[M]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvTranspose {
    pub conv: Conv,
    pub output_padding: Vec<usize>,
}

impl ConvTranspose {
    /// Full (unpadded) output length of one axis: `(in-1)*stride + (k-1)*dilation + 1 + output_padding`.
    pub fn full_output_len(&self, axis: usize, len: usize) -> Option<usize> {
        let c = &self.conv;
        len.checked_sub(1)?
            .checked_mul(c.strides[axis])?
            .checked_add((c.kernel[axis] - 1).checked_mul(c.dilations[axis])? + 1)?
            .checked_add(self.output_padding[axis])
    }
}

impl OpDef for ConvTranspose {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        let w = input(inputs, 1, "W")?;
        if !x.dtype.is_float() || w.dtype != x.dtype {
            shape_err!("ConvTranspose needs float X and W of one type, got {} and {}", x.dtype, w.dtype);
        }
        if x.rank() < 3 || w.rank() != x.rank() {
            shape_err!("ConvTranspose needs X and W of equal rank >= 3, got {:?} and {:?}", x.shape, w.shape);
        }
        let spatial = x.rank() - 2;
        let c = &self.conv;
        c.check_attrs("ConvTranspose", spatial)?;
        if self.output_padding.len() != spatial {
            shape_err!("ConvTranspose output_padding {:?} does not match {spatial} spatial dims", self.output_padding);
        }
        if w.shape[0] != x.shape[1] || x.shape[1] % c.group != 0 {
            shape_err!("ConvTranspose: X has {} channels, W is {:?}, group {}", x.shape[1], w.shape, c.group);
        }
        if w.shape[2..] != c.kernel[..] {
            shape_err!("ConvTranspose kernel_shape {:?} does not match W {:?}", c.kernel, w.shape);
        }
        // An empty X lets any group through the check above.
        let Some(m) = w.shape[1].checked_mul(c.group) else {
            shape_err!("ConvTranspose: group {} times W {:?} is out of range", c.group, w.shape);
        };
        if let Some(b) = inputs.get(2).copied().flatten()
            && (b.shape != [m] || b.dtype != x.dtype)
        {
            shape_err!("ConvTranspose bias must be {}[{m}], got {b}", x.dtype);
        }
        let mut out = vec![x.shape[0], m];
        for d in 0..spatial {
            let full = self.full_output_len(d, x.shape[d + 2]);
            match full.and_then(|f| f.checked_sub(c.pads[d] + c.pads[d + spatial])).filter(|&o| o > 0) {
                Some(o) => out.push(o),
                None => shape_err!("ConvTranspose pads exceed the output on spatial axis {d}"),
            }
        }
        Ok(vec![TensorType::new(x.dtype, out)])
    }

    fn macs(&self, inputs: &[Option<&TensorType>], _outputs: &[TensorType]) -> u64 {
        let (Some(Some(x)), Some(Some(w))) = (inputs.first(), inputs.get(1)) else { return 0 };
        // Every input element is scattered through (M/group) x kernel weights.
        let per_input: u64 = w.shape[1..].iter().map(|&d| d as u64).product();
        // Saturating, as for Conv.
        (x.numel() as u64).saturating_mul(per_input)
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0, 1]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.conv.fmt_attrs(f)?;
        fmt_list(f, ", output_padding", &self.output_padding)
    }
}
