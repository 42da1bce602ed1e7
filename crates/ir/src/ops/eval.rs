//! Index arithmetic shared by the reference evaluators used for constant folding.
//! These run on small shape-computation tensors, so clarity wins over speed.

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Converts a linear index into per-dimension coordinates.
pub(crate) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
    }
    idx
}

/// Linear index into a tensor of `in_shape` broadcast to `out_shape`, for output coordinates
/// `out_idx`.
pub(crate) fn broadcast_source(out_idx: &[usize], in_shape: &[usize]) -> usize {
    let offset = out_idx.len() - in_shape.len();
    let st = strides(in_shape);
    in_shape.iter().enumerate().map(|(d, &n)| if n == 1 { 0 } else { out_idx[d + offset] * st[d] }).sum()
}

/// Largest tensor (in elements) that constant folding will evaluate. Shape chains are tiny;
/// anything larger is real compute and is left to the runtime rather than bloating the model.
pub const MAX_FOLD_ELEMENTS: usize = 1 << 20;

use crate::{Tensor, TensorType};

/// Builds a tensor of type `out` whose element `i` is element `src(i).1` of tensor
/// `sources[src(i).0]`. Works on raw bytes, so it serves every dtype.
pub(crate) fn gather_elements(sources: &[&Tensor], out: TensorType, src: impl Fn(usize) -> (usize, usize)) -> Tensor {
    let size = out.dtype.size();
    let mut data = Vec::with_capacity(out.numel() * size);
    for i in 0..out.numel() {
        let (t, j) = src(i);
        data.extend_from_slice(&sources[t].bytes()[j * size..(j + 1) * size]);
    }
    Tensor::from_bytes(out, data.into()).expect("gathered exactly numel elements")
}
