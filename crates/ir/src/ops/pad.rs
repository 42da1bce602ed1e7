//! `Pad` with constant, reflect, edge or wrap modes.

use super::eval::{MAX_FOLD_ELEMENTS, gather_elements, strides, unravel};
use super::{OpDef, ShapeError, const_input, fmt_list, input, shape_err};
use crate::{Tensor, TensorType};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// Pads are resolved to every axis at import: `pads[d]` before axis d, `pads[rank + d]` after.
/// Negative pads crop.
#[derive(Debug, Clone, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
    pub pads: Vec<i64>,
    pub value: f64,
}

impl Pad {
    /// Source coordinate along one axis for output coordinate `o`, or `None` for the
    /// constant fill.
    fn source(&self, o: i64, before: i64, len: i64) -> Option<i64> {
        let i = o - before;
        if (0..len).contains(&i) {
            return Some(i);
        }
        match self.mode {
            PadMode::Constant => None,
            PadMode::Edge => Some(i.clamp(0, len - 1)),
            PadMode::Wrap => Some(i.rem_euclid(len)),
            PadMode::Reflect => {
                if len == 1 {
                    return Some(0);
                }
                let period = 2 * (len - 1);
                let m = i.rem_euclid(period);
                Some(if m < len { m } else { period - m })
            }
        }
    }
}

impl OpDef for Pad {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "data")?;
        let r = x.rank();
        if self.pads.len() != 2 * r {
            shape_err!("Pad has {} pads for a rank-{r} input", self.pads.len());
        }
        let mut shape = Vec::with_capacity(r);
        for d in 0..r {
            let (b, e) = (self.pads[d], self.pads[d + r]);
            let Some(len) = (x.shape[d] as i64).checked_add(b).and_then(|l| l.checked_add(e)) else {
                shape_err!("Pad of {b},{e} on axis {d} of {x} is out of range");
            };
            if len < 0 {
                shape_err!("Pad crops more than axis {d} of {x} holds");
            }
            if self.mode == PadMode::Reflect && (b.max(e) >= x.shape[d] as i64) && (b > 0 || e > 0) {
                shape_err!("reflect Pad of {b},{e} needs axis {d} of {x} to be longer");
            }
            if self.mode != PadMode::Constant && x.shape[d] == 0 && (b > 0 || e > 0) {
                shape_err!("{:?} Pad cannot pad an empty axis", self.mode);
            }
            shape.push(len as usize);
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
        let fill = Tensor::from_f64_values(x.dtype(), vec![], &[self.value]);
        let st = strides(x.shape());
        let shape = out.shape.clone();
        let r = x.shape().len();
        Some(Ok(vec![gather_elements(&[x, &fill], out, |i| {
            let idx = unravel(i, &shape);
            let mut lin = 0;
            for d in 0..r {
                match self.source(idx[d] as i64, self.pads[d], x.shape()[d] as i64) {
                    Some(s) => lin += s as usize * st[d],
                    None => return (1, 0),
                }
            }
            (0, lin)
        })]))
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mode={:?}, ", self.mode)?;
        fmt_list(f, "pads", &self.pads)?;
        if self.mode == PadMode::Constant {
            write!(f, ", value={}", self.value)?;
        }
        Ok(())
    }
}
