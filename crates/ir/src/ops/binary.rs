//! Elementwise ops with two inputs and numpy broadcasting.

use super::eval::{MAX_FOLD_ELEMENTS, broadcast_source, unravel};
use super::{OpDef, ShapeError, const_input, input, shape_err};
use crate::shape::broadcast_shapes;
use crate::{DType, Tensor, TensorType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    /// Floor modulo, with the sign of the divisor (ONNX `fmod=0`; for floats since opset 28),
    /// or C `fmod`, with the sign of the dividend (`fmod=1`).
    Mod {
        fmod: bool,
    },
    /// `x < 0 ? slope * x : x`, slope broadcast to x.
    PRelu,
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
    Xor,
}

impl BinaryKind {
    pub fn name(&self) -> &'static str {
        match self {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Pow => "Pow",
            BinaryKind::Max => "Max",
            BinaryKind::Min => "Min",
            BinaryKind::Mod { .. } => "Mod",
            BinaryKind::PRelu => "PRelu",
            BinaryKind::Equal => "Equal",
            BinaryKind::Less => "Less",
            BinaryKind::LessOrEqual => "LessOrEqual",
            BinaryKind::Greater => "Greater",
            BinaryKind::GreaterOrEqual => "GreaterOrEqual",
            BinaryKind::And => "And",
            BinaryKind::Or => "Or",
            BinaryKind::Xor => "Xor",
        }
    }

    fn is_comparison(&self) -> bool {
        matches!(
            self,
            BinaryKind::Equal
                | BinaryKind::Less
                | BinaryKind::LessOrEqual
                | BinaryKind::Greater
                | BinaryKind::GreaterOrEqual
        )
    }

    fn is_logical(&self) -> bool {
        matches!(self, BinaryKind::And | BinaryKind::Or | BinaryKind::Xor)
    }

    /// The function on one pair, in f64 for floats.
    pub fn apply_f64(&self, a: f64, b: f64) -> f64 {
        let t = |c: bool| c as u8 as f64;
        match self {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::Pow => a.powf(b),
            BinaryKind::Max => a.max(b),
            BinaryKind::Min => a.min(b),
            BinaryKind::Mod { fmod: true } => a % b,
            BinaryKind::Mod { fmod: false } => floor_mod(a, b),
            BinaryKind::PRelu => {
                if a < 0.0 {
                    a * b
                } else {
                    a
                }
            }
            BinaryKind::Equal => t(a == b),
            BinaryKind::Less => t(a < b),
            BinaryKind::LessOrEqual => t(a <= b),
            BinaryKind::Greater => t(a > b),
            BinaryKind::GreaterOrEqual => t(a >= b),
            BinaryKind::And => t(a != 0.0 && b != 0.0),
            BinaryKind::Or => t(a != 0.0 || b != 0.0),
            BinaryKind::Xor => t((a != 0.0) != (b != 0.0)),
        }
    }

    /// The function on one pair of integers (exact, wrapping, division truncating toward zero).
    /// `None` for division by zero, which ONNX leaves undefined.
    pub fn apply_i64(&self, a: i64, b: i64) -> Option<i64> {
        Some(match self {
            BinaryKind::Add => a.wrapping_add(b),
            BinaryKind::Sub => a.wrapping_sub(b),
            BinaryKind::Mul => a.wrapping_mul(b),
            BinaryKind::Div => a.checked_div(b)?,
            BinaryKind::Pow => a.checked_pow(u32::try_from(b).ok()?)?,
            BinaryKind::Max => a.max(b),
            BinaryKind::Min => a.min(b),
            BinaryKind::Mod { fmod: true } => a.checked_rem(b)?,
            BinaryKind::Mod { fmod: false } => {
                let r = a.checked_rem(b)?;
                if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }
            }
            BinaryKind::PRelu => {
                if a < 0 {
                    a.wrapping_mul(b)
                } else {
                    a
                }
            }
            _ => self.apply_f64(a as f64, b as f64) as i64,
        })
    }
}

/// `a - floor(a / b) * b` as ONNX Mod-28 specifies it for floats: the result takes the sign
/// of `b`, a zero result included; an infinite `b` returns `a` when the signs agree, else `b`.
fn floor_mod(a: f64, b: f64) -> f64 {
    // C fmod is exact (and NaN for infinite `a` or zero `b`); shift it into `b`'s sign.
    let r = a % b;
    if r == 0.0 {
        0.0f64.copysign(b)
    } else if (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    pub kind: BinaryKind,
}

impl OpDef for Binary {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, ShapeError> {
        let a = input(inputs, 0, "A")?;
        let b = input(inputs, 1, "B")?;
        let k = self.kind;
        if k.is_logical() && (a.dtype != DType::Bool || b.dtype != DType::Bool) {
            shape_err!("{} needs bool inputs, got {} and {}", k.name(), a.dtype, b.dtype);
        }
        if k != BinaryKind::Pow && a.dtype != b.dtype {
            shape_err!("{} inputs have different types {} and {}", k.name(), a.dtype, b.dtype);
        }
        let Some(shape) = broadcast_shapes(&a.shape, &b.shape) else {
            shape_err!("{} cannot broadcast {:?} with {:?}", k.name(), a.shape, b.shape);
        };
        if k == BinaryKind::PRelu && shape != a.shape {
            shape_err!("PRelu slope {:?} does not broadcast to X {:?}", b.shape, a.shape);
        }
        let dtype = if k.is_comparison() { DType::Bool } else { a.dtype };
        Ok(vec![TensorType::new(dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Option<Result<Vec<Tensor>, ShapeError>> {
        let a = const_input(inputs, 0)?;
        let b = const_input(inputs, 1)?;
        let out_ty = match self.infer(&[Some(a.ty()), Some(b.ty())]) {
            Ok(mut t) => t.remove(0),
            Err(e) => return Some(Err(e)),
        };
        if out_ty.numel() > MAX_FOLD_ELEMENTS {
            return None;
        }
        let n = out_ty.numel();
        let pairs = (0..n).map(|i| {
            let idx = unravel(i, &out_ty.shape);
            (broadcast_source(&idx, a.shape()), broadcast_source(&idx, b.shape()))
        });
        let t = if a.dtype().is_float() || b.dtype().is_float() {
            let v: Vec<f64> = pairs.map(|(i, j)| self.kind.apply_f64(a.get_f64(i), b.get_f64(j))).collect();
            Tensor::from_f64_values(out_ty.dtype, out_ty.shape, &v)
        } else {
            let mut v = Vec::with_capacity(n);
            for (i, j) in pairs {
                match self.kind.apply_i64(a.get_i64(i), b.get_i64(j)) {
                    Some(x) => v.push(x),
                    // Undefined in ONNX (division by zero): leave it to run time.
                    None => return None,
                }
            }
            Tensor::from_i64_values(out_ty.dtype, out_ty.shape, &v)
        };
        Some(Ok(vec![t]))
    }

    fn fmt_attrs(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            BinaryKind::Mod { fmod } => write!(f, "fmod={}", fmod as u8),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_floor_mod_takes_the_divisor_sign() {
        let m = |a: f64, b: f64| BinaryKind::Mod { fmod: false }.apply_f64(a, b);
        assert_eq!(m(-4.0, 3.0), 2.0);
        assert_eq!(m(4.0, -3.0), -2.0);
        assert!(m(3.0, -3.0).is_sign_negative() && m(3.0, -3.0) == 0.0);
        assert_eq!(m(-1.0, f64::INFINITY), f64::INFINITY);
        assert_eq!(m(1.0, f64::INFINITY), 1.0);
        assert!(m(f64::INFINITY, 2.0).is_nan() && m(1.0, 0.0).is_nan());
        assert_eq!(BinaryKind::Mod { fmod: true }.apply_f64(-4.0, 3.0), -1.0);
    }
}
