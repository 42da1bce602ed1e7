//! Elementwise ops with one input: activations and math functions.

use super::{OpDef, ShapeError, const_input, input, shape_err};
use crate::{DType, Tensor, TensorType};
use std::fmt;

/// Which function, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryKind {
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Celu {
        alpha: f32,
    },
    ThresholdedRelu {
        alpha: f32,
    },
    Sigmoid,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Tanh,
    Softplus,
    Softsign,
    Mish,
    /// Clip to `[min, max]`; absent bounds are infinite.
    Clip {
        min: f32,
        max: f32,
    },
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Neg,
    Abs,
    Floor,
    Ceil,
    Round,
    Sign,
    Erf,
    Sin,
    Cos,
    Not,
}

impl UnaryKind {
    pub fn name(&self) -> &'static str {
        match self {
            UnaryKind::Relu => "Relu",
            UnaryKind::LeakyRelu { .. } => "LeakyRelu",
            UnaryKind::Elu { .. } => "Elu",
            UnaryKind::Selu { .. } => "Selu",
            UnaryKind::Celu { .. } => "Celu",
            UnaryKind::ThresholdedRelu { .. } => "ThresholdedRelu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::HardSigmoid { .. } => "HardSigmoid",
            UnaryKind::HardSwish => "HardSwish",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Softplus => "Softplus",
            UnaryKind::Softsign => "Softsign",
            UnaryKind::Mish => "Mish",
            UnaryKind::Clip { .. } => "Clip",
            UnaryKind::Exp => "Exp",
            UnaryKind::Log => "Log",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Reciprocal => "Reciprocal",
            UnaryKind::Neg => "Neg",
            UnaryKind::Abs => "Abs",
            UnaryKind::Floor => "Floor",
            UnaryKind::Ceil => "Ceil",
            UnaryKind::Round => "Round",
            UnaryKind::Sign => "Sign",
            UnaryKind::Erf => "Erf",
            UnaryKind::Sin => "Sin",
            UnaryKind::Cos => "Cos",
            UnaryKind::Not => "Not",
        }
    }

    /// Ops defined on integers as well as floats (the rest need a float input).
    fn accepts_integers(&self) -> bool {
        matches!(self, UnaryKind::Relu | UnaryKind::Neg | UnaryKind::Abs | UnaryKind::Sign | UnaryKind::Clip { .. })
    }

    /// The function on one value, in f64.
    pub fn apply(&self, x: f64) -> f64 {
        match *self {
            UnaryKind::Relu => x.max(0.0),
            UnaryKind::LeakyRelu { alpha } => {
                if x < 0.0 {
                    alpha as f64 * x
                } else {
                    x
                }
            }
            UnaryKind::Elu { alpha } => {
                if x < 0.0 {
                    alpha as f64 * (x.exp() - 1.0)
                } else {
                    x
                }
            }
            UnaryKind::Selu { alpha, gamma } => {
                gamma as f64 * if x <= 0.0 { alpha as f64 * (x.exp() - 1.0) } else { x }
            }
            UnaryKind::Celu { alpha } => {
                let a = alpha as f64;
                x.max(0.0) + (0.0f64).min(a * ((x / a).exp() - 1.0))
            }
            UnaryKind::ThresholdedRelu { alpha } => {
                if x > alpha as f64 {
                    x
                } else {
                    0.0
                }
            }
            UnaryKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnaryKind::HardSigmoid { alpha, beta } => (alpha as f64 * x + beta as f64).clamp(0.0, 1.0),
            UnaryKind::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            UnaryKind::Tanh => x.tanh(),
            UnaryKind::Softplus => softplus(x),
            UnaryKind::Softsign => x / (1.0 + x.abs()),
            UnaryKind::Mish => x * softplus(x).tanh(),
            UnaryKind::Clip { min, max } => x.max(min as f64).min(max as f64),
            UnaryKind::Exp => x.exp(),
            UnaryKind::Log => x.ln(),
            UnaryKind::Sqrt => x.sqrt(),
            UnaryKind::Reciprocal => 1.0 / x,
            UnaryKind::Neg => -x,
            UnaryKind::Abs => x.abs(),
            UnaryKind::Floor => x.floor(),
            UnaryKind::Ceil => x.ceil(),
            UnaryKind::Round => x.round_ties_even(),
            UnaryKind::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            UnaryKind::Erf => erf(x),
            UnaryKind::Sin => x.sin(),
            UnaryKind::Cos => x.cos(),
            UnaryKind::Not => (x == 0.0) as u8 as f64,
        }
    }
}

impl UnaryKind {
    /// The function on one integer or bool, exactly (`i64::MAX` and friends are not f64 values),
    /// or `None` for functions that go through f64 (`Clip`, whose bounds are f32). `x` holds the
    /// element's bits, so an unsigned one above `i64::MAX` reads negative and is never so.
    fn apply_i64(&self, x: i64, unsigned: bool) -> Option<i64> {
        Some(match self {
            UnaryKind::Relu | UnaryKind::Abs if unsigned => x,
            UnaryKind::Sign if unsigned => (x != 0) as i64,
            UnaryKind::Relu => x.max(0),
            UnaryKind::Neg => x.wrapping_neg(),
            UnaryKind::Abs => x.wrapping_abs(),
            UnaryKind::Sign => x.signum(),
            UnaryKind::Not => (x == 0) as i64,
            _ => return None,
        })
    }
}

/// `ln(1 + e^x)` without overflowing `e^x`: for large `x` it is `x + ln(1 + e^-x)`.
fn softplus(x: f64) -> f64 {
    if x > 0.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() }
}

/// Abramowitz-Stegun 7.1.26 is too coarse for folding; use a series/continued-fraction pair
/// accurate to ~1e-15.
fn erf(x: f64) -> f64 {
    if x.abs() < 2.5 {
        // Maclaurin series.
        let mut sum = x;
        let mut term = x;
        let x2 = x * x;
        for n in 1..60 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Continued fraction for erfc.
        let z = x.abs();
        let mut f = 0.0;
        for n in (1..60).rev() {
            f = (n as f64 / 2.0) / (z + f);
        }
        let erfc = (-z * z).exp() / (std::f64::consts::PI.sqrt() * (z + f));
        x.signum() * (1.0 - erfc)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unary {
    pub kind: UnaryKind,
}

impl OpDef for Unary {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let x = input(inputs, 0, "X")?;
        match self.kind {
            UnaryKind::Not if x.dtype != DType::Bool => shape_err!("Not needs a bool input, got {}", x.dtype),
            UnaryKind::Not => {}
            _ if x.dtype == DType::Bool => shape_err!("{} is not defined on bool", self.kind.name()),
            k if !x.dtype.is_float() && !k.accepts_integers() => {
                shape_err!("{} needs a float input, got {}", k.name(), x.dtype)
            }
            _ => {}
        }
        Ok(vec![x.clone()])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let x = const_input(inputs, 0)?;
        // Fold only what shape inference accepts, so folding never hides a type error.
        if let Err(e) = self.infer(&[Some(x.ty())]) {
            return Some(Err(e));
        }
        if x.numel() > super::eval::MAX_FOLD_ELEMENTS {
            return None;
        }
        let shape = x.shape().to_vec();
        let unsigned = matches!(x.dtype(), DType::U8 | DType::U16 | DType::U32 | DType::U64);
        if !x.dtype().is_float()
            && let Some(v) =
                x.to_i64_vec().into_iter().map(|v| self.kind.apply_i64(v, unsigned)).collect::<Option<Vec<_>>>()
        {
            return Some(Ok(vec![Tensor::from_i64_values(x.dtype(), shape, &v)]));
        }
        let out: Vec<f64> = x.to_f64_vec().into_iter().map(|v| self.kind.apply(v)).collect();
        Some(Ok(vec![Tensor::from_f64_values(x.dtype(), shape, &out)]))
    }

    fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            UnaryKind::LeakyRelu { alpha }
            | UnaryKind::Elu { alpha }
            | UnaryKind::Celu { alpha }
            | UnaryKind::ThresholdedRelu { alpha } => write!(f, "alpha={alpha}"),
            UnaryKind::Selu { alpha, gamma } => write!(f, "alpha={alpha}, gamma={gamma}"),
            UnaryKind::HardSigmoid { alpha, beta } => write!(f, "alpha={alpha}, beta={beta}"),
            UnaryKind::Clip { min, max } => write!(f, "min={min}, max={max}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(kind: UnaryKind, x: Tensor) -> Result<Tensor, ShapeError> {
        Unary { kind }.eval(&[Some(&x)]).expect("folds").map(|mut v| v.remove(0))
    }

    #[test]
    fn integers_fold_exactly() {
        let t = fold(UnaryKind::Neg, Tensor::from_i64(vec![2], &[i64::MAX, -7])).unwrap();
        assert_eq!(t.to_i64_vec(), vec![-i64::MAX, 7]);
        let big = Tensor::from_i64_values(DType::U64, vec![1], &[-2]);
        assert_eq!(fold(UnaryKind::Abs, big).unwrap().to_i64_vec(), vec![-2]);
    }

    #[test]
    fn folding_checks_types_like_inference() {
        assert!(fold(UnaryKind::Sqrt, Tensor::from_i64(vec![1], &[4])).is_err());
    }

    #[test]
    fn softplus_does_not_overflow() {
        assert_eq!(UnaryKind::Softplus.apply(1000.0), 1000.0);
        assert!((UnaryKind::Mish.apply(1000.0) - 1000.0).abs() < 1e-9);
    }
}
