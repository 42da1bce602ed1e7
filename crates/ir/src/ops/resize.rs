//! `Resize` (and the deprecated `Upsample`) with a static output size.

use super::{OpDef, ShapeError, fmt_list, input, shape_err};
use crate::TensorType;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordTransform {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// Resize to `out_shape`. `scales` are kept because the coordinate transforms use the
/// requested scale, which can differ from `out/in` when sizes are rounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub nearest: NearestMode,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    pub scales: Vec<f32>,
    pub out_shape: Vec<usize>,
    /// Region of interest for `tf_crop_and_resize`: starts then ends, per axis.
    pub roi: Vec<f32>,
}

impl OpDef for Resize {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        if self.out_shape.len() != x.rank() || self.scales.len() != x.rank() {
            shape_err!("Resize output {:?} does not match input {x}", self.out_shape);
        }
        if self.mode != ResizeMode::Nearest && !x.dtype.is_float() {
            shape_err!("{:?} Resize needs a float input, got {}", self.mode, x.dtype);
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn required_inputs(&self, _num_inputs: usize) -> Vec<usize> {
        vec![0]
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mode={:?}, coord={:?}", self.mode, self.coord)?;
        match self.mode {
            ResizeMode::Nearest => write!(f, ", nearest={:?}", self.nearest)?,
            ResizeMode::Cubic => {
                write!(f, ", cubic_coeff_a={}, exclude_outside={}", self.cubic_coeff_a, self.exclude_outside as u8)?
            }
            ResizeMode::Linear => {}
        }
        f.write_str(", ")?;
        fmt_list(f, "scales", &self.scales)
    }
}
