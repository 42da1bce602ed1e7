//! Compile-time derivations from constants: the weights and biases that folding a
//! normalisation or a constant Mul/Add into a convolution produces.
//!
//! During saturation they stay symbolic (e-nodes over constant e-classes, costing nothing),
//! so a rewrite that extraction does not keep costs no arithmetic over the weights. Only the
//! derivations in the extracted graph are evaluated, once each, in `f32` (`f64` where
//! BatchNormalization's statistics are combined, as the unfused lowering does).

use hetc_ir::{DType, Tensor, TensorType};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Derived {
    /// `gamma / sqrt(var + epsilon)`; inputs gamma, var `[C]`; `epsilon` as f32 bits.
    BnScale { epsilon_bits: u32 },
    /// `beta - mean * scale`; inputs beta, mean, scale `[C]`.
    BnShift,
    /// A per-channel constant as a vector of `len`: one that has `len` elements is reshaped,
    /// a scalar repeated.
    ChannelVector { len: usize },
    /// `w * v` along `axis` of `w` (`v` has `w.shape[axis]` elements): scales a weight per
    /// output channel.
    ScaleAxis { axis: usize },
    /// Elementwise sum of two tensors with equal element counts, in the first's shape.
    AddVec,
    /// Elementwise product of two tensors with equal element counts, in the first's shape.
    MulVec,
    /// The same values in another shape.
    Reshape { shape: Vec<usize> },
}

impl Derived {
    /// The result's type, `None` if the inputs do not fit (the rule that built it is then
    /// refused).
    pub fn infer(&self, inputs: &[&TensorType]) -> Option<TensorType> {
        let f32s = inputs.iter().all(|t| t.dtype == DType::F32);
        if !f32s {
            return None;
        }
        let vec_of = |t: &TensorType, n: usize| t.numel() == n;
        match (self, inputs) {
            (Derived::BnScale { .. }, [g, v]) if g.rank() == 1 && vec_of(v, g.numel()) => Some((*g).clone()),
            (Derived::BnShift, [b, m, s]) if b.rank() == 1 && vec_of(m, b.numel()) && vec_of(s, b.numel()) => {
                Some((*b).clone())
            }
            (Derived::ChannelVector { len }, [k]) if k.numel() == *len || k.numel() == 1 => {
                Some(TensorType::new(DType::F32, vec![*len]))
            }
            (Derived::ScaleAxis { axis }, [w, v]) if *axis < w.rank() && v.numel() == w.shape[*axis] => {
                Some((*w).clone())
            }
            (Derived::AddVec | Derived::MulVec, [a, b]) if a.numel() == b.numel() => Some((*a).clone()),
            (Derived::Reshape { shape }, [a]) if shape.iter().product::<usize>() == a.numel() => {
                Some(TensorType::new(DType::F32, shape.clone()))
            }
            _ => None,
        }
    }

    /// Evaluates the derivation; the inputs have the types `infer` accepted.
    pub fn eval(&self, inputs: &[&Tensor]) -> Tensor {
        let types: Vec<&TensorType> = inputs.iter().map(|t| t.ty()).collect();
        let out = self.infer(&types).expect("derived constants are built only from inputs that fit");
        let values: Vec<f32> = match self {
            Derived::BnScale { epsilon_bits } => {
                let eps = f32::from_bits(*epsilon_bits) as f64;
                let (g, v) = (inputs[0].to_f64_vec(), inputs[1].to_f64_vec());
                g.iter().zip(&v).map(|(g, v)| (g / (v + eps).sqrt()) as f32).collect()
            }
            Derived::BnShift => {
                let (b, m, s) = (inputs[0].to_f64_vec(), inputs[1].to_f64_vec(), inputs[2].to_f32_vec());
                b.iter().zip(&m).zip(&s).map(|((b, m), s)| (b - m * *s as f64) as f32).collect()
            }
            Derived::ChannelVector { len } => {
                let k = inputs[0].to_f32_vec();
                if k.len() == *len { k } else { vec![k[0]; *len] }
            }
            Derived::ScaleAxis { axis } => {
                let (w, v) = (inputs[0].to_f32_vec(), inputs[1].to_f32_vec());
                let shape = inputs[0].shape();
                let inner: usize = shape[axis + 1..].iter().product();
                let n = shape[*axis];
                w.iter().enumerate().map(|(i, x)| x * v[(i / inner.max(1)) % n.max(1)]).collect()
            }
            Derived::AddVec => inputs[0].to_f32_vec().iter().zip(inputs[1].to_f32_vec()).map(|(a, b)| a + b).collect(),
            Derived::MulVec => inputs[0].to_f32_vec().iter().zip(inputs[1].to_f32_vec()).map(|(a, b)| a * b).collect(),
            Derived::Reshape { .. } => {
                return inputs[0].reshaped(out.shape.clone()).expect("the element count was checked");
            }
        };
        Tensor::from_f32(out.shape, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_axis_scales_output_channels() {
        let w = Tensor::from_f32(vec![2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let v = Tensor::from_f32(vec![2], &[10.0, -1.0]);
        assert_eq!(Derived::ScaleAxis { axis: 0 }.eval(&[&w, &v]).to_f32_vec(), vec![10.0, 20.0, -3.0, -4.0]);
        let v = Tensor::from_f32(vec![2], &[10.0, -1.0]);
        assert_eq!(Derived::ScaleAxis { axis: 2 }.eval(&[&w, &v]).to_f32_vec(), vec![10.0, -2.0, 30.0, -4.0]);
    }

    #[test]
    fn batch_norm_scale_and_shift() {
        let g = Tensor::from_f32(vec![1], &[2.0]);
        let var = Tensor::from_f32(vec![1], &[3.0]);
        let s = Derived::BnScale { epsilon_bits: 1.0f32.to_bits() }.eval(&[&g, &var]);
        assert_eq!(s.to_f32_vec(), vec![1.0]);
        let (b, m) = (Tensor::from_f32(vec![1], &[0.5]), Tensor::from_f32(vec![1], &[2.0]));
        assert_eq!(Derived::BnShift.eval(&[&b, &m, &s]).to_f32_vec(), vec![-1.5]);
        assert!(Derived::ChannelVector { len: 3 }.infer(&[&TensorType::new(DType::F32, vec![2])]).is_none());
    }
}
