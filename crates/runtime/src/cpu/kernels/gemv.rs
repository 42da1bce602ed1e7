//! Matrix-vector products for one-row `Gemm`s (a classifier at batch 1).
//!
//! `y[j] = (accumulate ? y[j] : 0) + alpha * x · B[j]` where every `B[j]` is a contiguous row
//! of `k` weights (ONNX `Gemm` with `transB = 1`, the layout every exporter writes for fully
//! connected layers). Such a product reads each weight once and does two flops with it, so it
//! is bound by memory bandwidth: what counts is streaming the rows with every thread, which
//! the `gemm` crate does not do for a single row (it measured 2.5x slower than onnxruntime on
//! MobileNetV2's 1280 x 1000 classifier). Rows are split over threads in contiguous blocks;
//! each dot product keeps several accumulators so that the additions do not chain.

use rayon::prelude::*;

/// Rows per work item: enough to amortise the item, few enough to balance.
const MIN_ROWS_PER_ITEM: usize = 16;

/// `y[j] = (accumulate ? y[j] : 0) + alpha * dot(x, b[j*k..(j+1)*k])` for `j < y.len()`.
pub(crate) fn gemv_rows(x: &[f32], b: &[f32], k: usize, alpha: f32, y: &mut [f32], accumulate: bool, threads: usize) {
    let n = y.len();
    assert!(x.len() >= k && b.len() >= n * k, "gemv_rows: operands too short");
    // Rows `j0..j0 + ys.len()`, four at a time (four weight streams share each load of `x`).
    let rows = |j0: usize, ys: &mut [f32]| {
        let mut quads = ys.chunks_exact_mut(4);
        let mut j = j0;
        for q in &mut quads {
            let s = dot4(&x[..k], &b[j * k..][..4 * k], k);
            for (d, s) in q.iter_mut().zip(s) {
                *d = if accumulate { *d + alpha * s } else { alpha * s };
            }
            j += 4;
        }
        for d in quads.into_remainder() {
            let s = alpha * dot(&x[..k], &b[j * k..][..k]);
            *d = if accumulate { *d + s } else { s };
            j += 1;
        }
    };
    if threads <= 1 || n < 2 * MIN_ROWS_PER_ITEM {
        rows(0, y);
        return;
    }
    let per = n.div_ceil(threads * 4).max(MIN_ROWS_PER_ITEM).next_multiple_of(4);
    y.par_chunks_mut(per).enumerate().for_each(|(c, ys)| rows(c * per, ys));
}

/// The dot products of `x` with the four consecutive rows of `k` elements in `b`.
fn dot4(x: &[f32], b: &[f32], k: usize) -> [f32; 4] {
    debug_assert!(x.len() == k && b.len() == 4 * k);
    #[cfg(target_arch = "x86_64")]
    if super::simd256::available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above); lengths as asserted.
        return unsafe { dot4_avx2(x, b, k) };
    }
    std::array::from_fn(|r| dot_portable(x, &b[r * k..][..k]))
}

/// # Safety
///
/// The CPU must support AVX2 and FMA; `x` has `k` elements and `b` `4 * k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(x: &[f32], b: &[f32], k: usize) -> [f32; 4] {
    use std::arch::x86_64::*;
    assert!(x.len() >= k && b.len() >= 4 * k);
    let (px, pb) = (x.as_ptr(), b.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    let mut i = 0;
    // SAFETY: loads read 8 (or 16) elements below `k` of `x` and of each row (asserted).
    unsafe {
        while i + 16 <= k {
            let (x0, x1) = (_mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(px.add(i + 8)));
            for (r, a) in acc.iter_mut().enumerate() {
                let row = pb.add(r * k + i);
                a[0] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(row), a[0]);
                a[1] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(row.add(8)), a[1]);
            }
            i += 16;
        }
        while i + 8 <= k {
            let x0 = _mm256_loadu_ps(px.add(i));
            for (r, a) in acc.iter_mut().enumerate() {
                a[0] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(pb.add(r * k + i)), a[0]);
            }
            i += 8;
        }
    }
    std::array::from_fn(|r| {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds exactly one 8-lane vector.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc[r][0], acc[r][1])) };
        let tail: f32 = x[i..k].iter().zip(&b[r * k + i..(r + 1) * k]).map(|(a, b)| a * b).sum();
        lanes.iter().sum::<f32>() + tail
    })
}

/// `a · b` (equal lengths), with the fastest instructions the CPU has.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if super::simd256::available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

/// Sixteen independent partial sums, which the compiler keeps in vector registers.
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// # Safety
///
/// The CPU must support AVX2 and FMA; `a` and `b` have equal lengths.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads 8 elements at `i + 8*u < n` rounded down to whole vectors, so
    // inside both slices.
    unsafe {
        while i + 32 <= n {
            for (u, acc) in acc.iter_mut().enumerate() {
                let o = i + 8 * u;
                *acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)), *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
            i += 8;
        }
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds exactly one 8-lane vector.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), s) };
    let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::super::activation::test_util::*;
    use super::*;

    #[test]
    fn matches_naive_dot_products() {
        let mut rng = Rng::new(3);
        for &(k, n) in &[(1, 1), (7, 3), (8, 40), (33, 17), (1280, 1000), (2048, 65)] {
            let x = rng.vec(k);
            let b = rng.vec(n * k);
            let base = rng.vec(n);
            let want: Vec<f32> = (0..n)
                .map(|j| {
                    let s: f64 = (0..k).map(|l| x[l] as f64 * b[j * k + l] as f64).sum();
                    base[j] + 0.5 * s as f32
                })
                .collect();
            for threads in [1, 2] {
                let mut y = base.clone();
                in_pool(threads, || gemv_rows(&x, &b, k, 0.5, &mut y, true, threads));
                assert_close(&y, &want, 1e-4);
                let mut fresh = vec![f32::NAN; n];
                in_pool(threads, || gemv_rows(&x, &b, k, 0.5, &mut fresh, false, threads));
                let plain: Vec<f32> = want.iter().zip(&base).map(|(w, b)| w - b).collect();
                assert_close(&fresh, &plain, 1e-4);
            }
            let exact: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
            assert_close(&[dot_portable(&x, &x)], &[exact as f32], 1e-4);
        }
    }
}

#[cfg(test)]
mod bench {
    use super::super::activation::test_util::*;
    use super::*;

    /// ResNet-50's classifier (2048 -> 1000) and MobileNetV2's (1280 -> 1000), 1 and 2
    /// threads: `cargo test --release -p hetc-runtime --lib -- --ignored --nocapture bench_gemv`.
    #[test]
    #[ignore]
    fn bench_gemv() {
        let mut rng = Rng::new(4);
        for (k, n) in [(2048, 1000), (1280, 1000)] {
            let x = rng.vec(k);
            let b = rng.vec(n * k);
            let mut y = vec![0f32; n];
            let pool2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            for threads in [1, 2] {
                let mut t: Vec<f64> = (0..30)
                    .map(|_| {
                        let s = std::time::Instant::now();
                        pool2.install(|| gemv_rows(&x, &b, k, 1.0, &mut y, false, threads));
                        s.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                t.sort_by(f64::total_cmp);
                let gbs = (n * k * 4) as f64 / t[15] / 1e3;
                println!("{k}x{n} t{threads}: min {:.0} med {:.0} us ({gbs:.1} GB/s)", t[0], t[15]);
            }
        }
    }
}
