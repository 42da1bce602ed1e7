//! Constant tensors: weights and folded values.
//!
//! Data is held in [`bytes::Bytes`], so a tensor can borrow from a memory-mapped model file
//! and every clone shares one buffer: passes move weights around without copying them.

use crate::{DType, TensorType};
use bytes::Bytes;
use std::fmt;

/// A tensor whose value is known at compile time. `data` holds the elements little-endian,
/// row-major, exactly `ty.byte_size()` bytes.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    ty: TensorType,
    data: Bytes,
}

/// Why a byte buffer cannot be a tensor of the given type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tensor of type {ty} needs {expected} bytes, got {actual}")]
pub struct TensorSizeError {
    pub ty: TensorType,
    pub expected: u64,
    pub actual: u64,
}

impl Tensor {
    /// Wraps raw little-endian bytes, checking that their length matches the type.
    pub fn from_bytes(ty: TensorType, data: Bytes) -> Result<Self, TensorSizeError> {
        let expected = ty.byte_size();
        if data.len() as u64 != expected {
            return Err(TensorSizeError { ty, expected, actual: data.len() as u64 });
        }
        Ok(Tensor { ty, data })
    }

    pub fn from_f32(shape: impl Into<Vec<usize>>, values: &[f32]) -> Self {
        Self::from_le(DType::F32, shape.into(), values.iter().flat_map(|v| v.to_le_bytes()))
    }

    pub fn from_i64(shape: impl Into<Vec<usize>>, values: &[i64]) -> Self {
        Self::from_le(DType::I64, shape.into(), values.iter().flat_map(|v| v.to_le_bytes()))
    }

    /// Builds a tensor of any dtype from values given as `f64` (floats) and rounded/truncated
    /// for integer types with ONNX `Cast` semantics (truncation toward zero, wrapping).
    pub fn from_f64_values(dtype: DType, shape: impl Into<Vec<usize>>, values: &[f64]) -> Self {
        let bytes: Vec<u8> = values.iter().flat_map(|&v| encode_f64(dtype, v)).collect();
        Self::from_le(dtype, shape.into(), bytes)
    }

    /// Builds an integer or bool tensor from `i64` values, wrapping to the target width.
    pub fn from_i64_values(dtype: DType, shape: impl Into<Vec<usize>>, values: &[i64]) -> Self {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|&v| if dtype.is_float() { encode_f64(dtype, v as f64) } else { encode_i64(dtype, v) })
            .collect();
        Self::from_le(dtype, shape.into(), bytes)
    }

    fn from_le(dtype: DType, shape: Vec<usize>, bytes: impl IntoIterator<Item = u8>) -> Self {
        let data: Vec<u8> = bytes.into_iter().collect();
        let ty = TensorType::new(dtype, shape);
        debug_assert_eq!(data.len() as u64, ty.byte_size());
        Tensor { ty, data: Bytes::from(data) }
    }

    pub fn ty(&self) -> &TensorType {
        &self.ty
    }

    pub fn dtype(&self) -> DType {
        self.ty.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.ty.shape
    }

    pub fn numel(&self) -> usize {
        self.ty.numel()
    }

    /// The raw little-endian bytes, shared with every clone of this tensor.
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// Same data, new shape with the same number of elements.
    pub fn reshaped(&self, shape: Vec<usize>) -> Option<Tensor> {
        let ty = TensorType::new(self.ty.dtype, shape);
        (ty.numel() == self.numel()).then(|| Tensor { ty, data: self.data.clone() })
    }

    /// Elements `start..end` along `axis`, copied block by block (no element-wise gather,
    /// so it is cheap even for large weights). `None` if the range or axis is out of bounds.
    pub fn narrow(&self, axis: usize, start: usize, end: usize) -> Option<Tensor> {
        let dim = *self.ty.shape.get(axis)?;
        if start > end || end > dim {
            return None;
        }
        let outer: usize = self.ty.shape[..axis].iter().product();
        let inner: usize = self.ty.shape[axis + 1..].iter().product::<usize>() * self.ty.dtype.size();
        let mut shape = self.ty.shape.clone();
        shape[axis] = end - start;
        let mut data = Vec::with_capacity(outer * (end - start) * inner);
        for o in 0..outer {
            let block = o * dim * inner;
            data.extend_from_slice(&self.data[block + start * inner..block + end * inner]);
        }
        Some(Tensor { ty: TensorType::new(self.ty.dtype, shape), data: Bytes::from(data) })
    }

    /// Element `i` as `f64` (exact for every integer up to 2^53 and for all float types).
    pub fn get_f64(&self, i: usize) -> f64 {
        let s = self.ty.dtype.size();
        let b = &self.data[i * s..(i + 1) * s];
        match self.ty.dtype {
            DType::F32 => f32::from_le_bytes(b.try_into().unwrap()) as f64,
            DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
            DType::F16 => f16_to_f32(u16::from_le_bytes(b.try_into().unwrap())) as f64,
            DType::BF16 => f32::from_bits((u16::from_le_bytes(b.try_into().unwrap()) as u32) << 16) as f64,
            _ => self.get_i64(i) as f64,
        }
    }

    /// Element `i` as `i64`; floats are truncated toward zero.
    pub fn get_i64(&self, i: usize) -> i64 {
        let s = self.ty.dtype.size();
        let b = &self.data[i * s..(i + 1) * s];
        match self.ty.dtype {
            DType::I8 => b[0] as i8 as i64,
            DType::U8 | DType::Bool => b[0] as i64,
            DType::I16 => i16::from_le_bytes(b.try_into().unwrap()) as i64,
            DType::U16 => u16::from_le_bytes(b.try_into().unwrap()) as i64,
            DType::I32 => i32::from_le_bytes(b.try_into().unwrap()) as i64,
            DType::U32 => u32::from_le_bytes(b.try_into().unwrap()) as i64,
            DType::I64 => i64::from_le_bytes(b.try_into().unwrap()),
            DType::U64 => u64::from_le_bytes(b.try_into().unwrap()) as i64,
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => self.get_f64(i) as i64,
        }
    }

    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.numel()).map(|i| self.get_f64(i)).collect()
    }

    pub fn to_i64_vec(&self) -> Vec<i64> {
        (0..self.numel()).map(|i| self.get_i64(i)).collect()
    }

    pub fn to_f32_vec(&self) -> Vec<f32> {
        if self.ty.dtype == DType::F32 {
            return self.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        }
        (0..self.numel()).map(|i| self.get_f64(i) as f32).collect()
    }

    /// Whether every element equals `v` (used to recognise no-op pads and zero biases).
    pub fn all_equal_to(&self, v: f64) -> bool {
        (0..self.numel()).all(|i| self.get_f64(i) == v)
    }
}

fn encode_f64(dtype: DType, v: f64) -> Vec<u8> {
    match dtype {
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::F16 => f32_to_f16(v as f32).to_le_bytes().to_vec(),
        DType::BF16 => {
            let bits = (v as f32).to_bits();
            // NaN stays a (quiet) NaN; rounding its payload could carry into the sign, or
            // overflow for negative NaNs.
            let half = if v.is_nan() {
                (bits >> 16) as u16 | 0x40
            } else {
                // Round to nearest even; finite values cannot overflow here.
                ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
            };
            half.to_le_bytes().to_vec()
        }
        DType::Bool => vec![(v != 0.0) as u8],
        // `as` saturates float-to-int casts; ONNX leaves out-of-range casts undefined.
        _ => encode_i64(dtype, v as i64),
    }
}

fn encode_i64(dtype: DType, v: i64) -> Vec<u8> {
    match dtype {
        DType::I8 | DType::U8 => vec![v as u8],
        DType::Bool => vec![(v != 0) as u8],
        DType::I16 | DType::U16 => (v as u16).to_le_bytes().to_vec(),
        DType::I32 | DType::U32 => (v as u32).to_le_bytes().to_vec(),
        DType::I64 | DType::U64 => v.to_le_bytes().to_vec(),
        _ => encode_f64(dtype, v as f64),
    }
}

/// IEEE half to single precision.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: renormalise.
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | ((f << (shift + 1)) & 0x3ff) << 13
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Single to IEEE half precision, round to nearest even.
pub fn f32_to_f16(v: f32) -> u16 {
    let x = v.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let frac = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if frac != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = frac | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rounded = (m + half - 1 + ((m >> shift) & 1)) >> shift;
        return sign | rounded as u16;
    }
    let rounded = frac + 0xfff + ((frac >> 13) & 1);
    let (e, rounded) = if rounded & 0x80_0000 != 0 { (e + 1, 0) } else { (e, rounded) };
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    sign | ((e as u16) << 10) | (rounded >> 13) as u16
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never dump weights: they can be hundreds of megabytes.
        write!(f, "Tensor({})", self.ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_round_trips() {
        for v in [0.0f32, 1.0, -2.5, 65504.0, 6.1e-5, 1e-7, 0.333] {
            let back = f16_to_f32(f32_to_f16(v));
            assert!((back - v).abs() <= v.abs() * 1e-3 + 6e-8, "{v} -> {back}");
        }
    }

    #[test]
    fn narrow_cuts_along_any_axis() {
        let t = Tensor::from_f32([2, 3], &[0., 1., 2., 3., 4., 5.]);
        assert_eq!(t.narrow(1, 1, 3).unwrap().to_f32_vec(), vec![1., 2., 4., 5.]);
        assert_eq!(t.narrow(0, 1, 2).unwrap().to_f32_vec(), vec![3., 4., 5.]);
        assert_eq!(t.narrow(1, 1, 3).unwrap().shape(), &[2, 2]);
        assert!(t.narrow(1, 2, 4).is_none());
        assert!(t.narrow(2, 0, 1).is_none());
    }

    #[test]
    fn size_is_checked() {
        let ty = TensorType::new(DType::F32, vec![2, 2]);
        assert!(Tensor::from_bytes(ty.clone(), Bytes::from(vec![0u8; 15])).is_err());
        assert!(Tensor::from_bytes(ty, Bytes::from(vec![0u8; 16])).is_ok());
    }

    #[test]
    fn casts_wrap_and_truncate() {
        let t = Tensor::from_f64_values(DType::I32, vec![3], &[1.9, -1.9, 3.0]);
        assert_eq!(t.to_i64_vec(), vec![1, -1, 3]);
    }
}
