//! numpy MatMul: 1-D operands are promoted (`[K]` is a row `[1, K]` on the left and a column
//! `[K, 1]` on the right, the promoted axis absent from the output) and the leading batch axes
//! broadcast. Every product goes through [`super::gemm::matmul`].
//!
//! When the right operand is shared by every batch and the left one is not broadcast (a
//! `[B, S, K] x [K, N]` linear layer), all batches are one `[B*S, K] x [K, N]` product.
//! Otherwise many batches run in parallel, one single-threaded product each, and few batches
//! run one after the other with the product itself parallelised.

use rayon::prelude::*;

/// `out = a @ b` with numpy semantics. `out_shape` is the broadcast batch shape followed by
/// `M` (absent when `a` is 1-D) and `N` (absent when `b` is 1-D).
pub fn matmul(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
    out_shape: &[usize],
    threads: usize,
) {
    let (ra, rb) = (a_shape.len(), b_shape.len());
    assert!(ra >= 1 && rb >= 1, "matmul: scalar operand");
    assert_eq!(a.len(), a_shape.iter().product::<usize>(), "matmul: a length does not match its shape");
    assert_eq!(b.len(), b_shape.iter().product::<usize>(), "matmul: b length does not match its shape");
    assert_eq!(out.len(), out_shape.iter().product::<usize>(), "matmul: output length does not match its shape");
    let (m, k) = if ra == 1 { (1, a_shape[0]) } else { (a_shape[ra - 2], a_shape[ra - 1]) };
    let (kb, n) = if rb == 1 { (b_shape[0], 1) } else { (b_shape[rb - 2], b_shape[rb - 1]) };
    assert_eq!(k, kb, "matmul: inner dimensions differ ({a_shape:?} x {b_shape:?})");
    let matrix_axes = usize::from(ra > 1) + usize::from(rb > 1);
    assert!(out_shape.len() >= matrix_axes, "matmul: output rank too small");
    let batch = &out_shape[..out_shape.len() - matrix_axes];
    assert!(ra <= 2 || rb <= 2 || batch.len() >= ra.max(rb) - 2, "matmul: output batch rank too small");
    if ra > 1 {
        assert_eq!(out_shape[batch.len()], m, "matmul: output M mismatch");
    }
    if rb > 1 {
        assert_eq!(out_shape[out_shape.len() - 1], n, "matmul: output N mismatch");
    }
    if out.is_empty() {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    let a_batch = &a_shape[..ra.saturating_sub(2)];
    let b_batch = &b_shape[..rb.saturating_sub(2)];
    let sa = batch_strides(a_batch, batch, m * k);
    let sb = batch_strides(b_batch, batch, k * n);
    let nb: usize = batch.iter().product();
    let (mk, kn, mn) = (m * k, k * n, m * n);

    // Shared right operand, unbroadcast left operand: one tall product.
    if sb.iter().all(|&s| s == 0) && a.len() == nb * mk {
        super::gemm::matmul(nb * m, k, n, a, k, 1, b, n, 1, out, false, threads);
        return;
    }

    let offsets = |i: usize| -> (usize, usize) {
        let (mut rem, mut ao, mut bo) = (i, 0, 0);
        for d in (0..batch.len()).rev() {
            let c = rem % batch[d];
            rem /= batch[d];
            ao += c * sa[d];
            bo += c * sb[d];
        }
        (ao, bo)
    };
    let one = |i: usize, c: &mut [f32], threads: usize| {
        let (ao, bo) = offsets(i);
        super::gemm::matmul(m, k, n, &a[ao..ao + mk], k, 1, &b[bo..bo + kn], n, 1, c, false, threads);
    };
    if threads > 1 && nb >= threads {
        out.par_chunks_mut(mn).enumerate().for_each(|(i, c)| one(i, c, 1));
    } else {
        for (i, c) in out.chunks_mut(mn).enumerate() {
            one(i, c, threads);
        }
    }
}

/// Element offsets between consecutive matrices of an operand with batch shape `shape`,
/// broadcast (right-aligned) to `batch`; 0 on broadcast axes.
fn batch_strides(shape: &[usize], batch: &[usize], matrix: usize) -> Vec<usize> {
    assert!(shape.len() <= batch.len(), "matmul: operand batch rank exceeds the output's");
    let lead = batch.len() - shape.len();
    let mut strides = vec![0; batch.len()];
    let mut s = matrix;
    for i in (0..shape.len()).rev() {
        assert!(
            shape[i] == batch[lead + i] || shape[i] == 1,
            "matmul: batch {shape:?} does not broadcast to {batch:?}"
        );
        if shape[i] != 1 {
            strides[lead + i] = s;
        }
        s *= shape[i];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n)
                .map(|_| {
                    self.0 ^= self.0 << 13;
                    self.0 ^= self.0 >> 7;
                    self.0 ^= self.0 << 17;
                    ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        }
    }

    /// numpy matmul in f64; returns the output shape, the values and, per element, the sum
    /// of `|a_ik * b_kj|` (the scale of its rounding error).
    fn naive(a: &[f32], ash: &[usize], b: &[f32], bsh: &[usize]) -> (Vec<usize>, Vec<f32>, Vec<f64>) {
        let a2: Vec<usize> = if ash.len() == 1 { vec![1, ash[0]] } else { ash.to_vec() };
        let b2: Vec<usize> = if bsh.len() == 1 { vec![bsh[0], 1] } else { bsh.to_vec() };
        let (m, k, n) = (a2[a2.len() - 2], a2[a2.len() - 1], b2[b2.len() - 1]);
        let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
        let r = ab.len().max(bb.len());
        let pad =
            |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, r - s.len()).chain(s.iter().copied()).collect() };
        let (pa, pb) = (pad(ab), pad(bb));
        let batch: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
        let nb: usize = batch.iter().product();
        let (mut vals, mut scale) = (Vec::new(), Vec::new());
        for bi in 0..nb {
            let mut rem = bi;
            let (mut ai, mut bj) = (0, 0);
            let (mut am, mut bm) = (1, 1);
            for d in (0..r).rev() {
                let c = rem % batch[d];
                rem /= batch[d];
                ai += if pa[d] == 1 { 0 } else { c } * am;
                bj += if pb[d] == 1 { 0 } else { c } * bm;
                am *= pa[d];
                bm *= pb[d];
            }
            for i in 0..m {
                for j in 0..n {
                    let (mut s, mut t) = (0.0f64, 0.0f64);
                    for l in 0..k {
                        let p = a[ai * m * k + i * k + l] as f64 * b[bj * k * n + l * n + j] as f64;
                        s += p;
                        t += p.abs();
                    }
                    vals.push(s as f32);
                    scale.push(t);
                }
            }
        }
        let mut osh = batch;
        if ash.len() > 1 {
            osh.push(m);
        }
        if bsh.len() > 1 {
            osh.push(n);
        }
        (osh, vals, scale)
    }

    #[test]
    fn matches_naive() {
        let mut rng = Rng(0xabcdef);
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![3], vec![3]),
            (vec![3], vec![3, 4]),
            (vec![2, 3], vec![3]),
            (vec![7, 13], vec![13, 9]),
            (vec![5, 2, 3], vec![3, 4]),
            (vec![5, 2, 3], vec![3]),
            (vec![4], vec![2, 4, 3]),
            (vec![2, 1, 3, 4], vec![5, 4, 2]),
            (vec![1, 4], vec![2, 3, 4, 5]),
            (vec![1, 3, 5, 6], vec![2, 1, 6, 7]),
            (vec![3, 5, 6], vec![1, 6, 7]),
            (vec![8, 16, 33], vec![8, 33, 17]),
            (vec![4, 17, 19], vec![19, 23]),
            (vec![64, 65], vec![65, 67]),
            (vec![2, 130, 70], vec![70, 129]),
            (vec![2, 0], vec![0, 3]),
            (vec![0, 3], vec![3, 4]),
            (vec![2, 3, 0, 4], vec![4, 5]),
        ];
        for (ash, bsh) in cases {
            let a = rng.vec(ash.iter().product());
            let b = rng.vec(bsh.iter().product());
            let (osh, want, scale) = naive(&a, &ash, &b, &bsh);
            for threads in [1, 2, 4] {
                let mut out = vec![f32::NAN; want.len()];
                matmul(&a, &ash, &b, &bsh, &mut out, &osh, threads);
                for (i, ((&g, &w), &s)) in out.iter().zip(&want).zip(&scale).enumerate() {
                    assert!(
                        ((g - w).abs() as f64) <= 1e-5 * s.max(1e-6),
                        "{ash:?} x {bsh:?} threads {threads} [{i}]: got {g}, want {w}"
                    );
                }
            }
        }
    }
}
