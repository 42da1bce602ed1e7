//! Matrix products over the `gemm` crate, and ONNX `Gemm`.
//!
//! [`matmul`] is the safe entry point for every matrix product in the runtime: it checks that
//! each strided operand lies inside its slice before handing raw pointers to `gemm`.
//! [`gemm_op`] implements the ONNX `Gemm` operator on top of it.

use hetc_plan::Activation;

use super::activation;

/// The `gemm` crate's parallelism for a kernel allowed `threads` workers.
///
/// `gemm` runs its workers through rayon, so inside the session's pool they are that pool's
/// threads; it falls back to one thread by itself when a product is too small to split.
pub(crate) fn parallelism(threads: usize) -> gemm::Parallelism {
    if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None }
}

/// The highest index a strided `rows x cols` operand touches, plus one (`0` if it is empty).
/// Panics on overflow, which only a corrupt shape can cause.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        return 0;
    }
    (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
        .and_then(|last| last.checked_add(1))
        .expect("matrix extent overflows usize")
}

fn to_isize(v: usize) -> isize {
    isize::try_from(v).expect("stride exceeds isize::MAX")
}

/// `dst := (read_dst ? dst : 0) + scale * lhs · rhs` on raw strided matrices, where `dst` is
/// `m x n`, `lhs` is `m x k` and `rhs` is `k x n` (strides in elements).
///
/// # Safety
///
/// For every `i < m`, `j < n`, `l < k`: `dst + i*dst_rs + j*dst_cs` is valid for reads and
/// writes, `lhs + i*lhs_rs + l*lhs_cs` and `rhs + l*rhs_rs + j*rhs_cs` are valid for reads;
/// the `dst` elements do not overlap `lhs` or `rhs` and no other thread accesses them during
/// the call; distinct `(i, j)` address distinct elements.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    dst_cs: usize,
    read_dst: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
    scale: f32,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded from this function's contract; `gemm` only touches the elements
    // described there (for `k == 0` it only reads/writes `dst`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            to_isize(dst_cs),
            to_isize(dst_rs),
            read_dst,
            lhs,
            to_isize(lhs_cs),
            to_isize(lhs_rs),
            rhs,
            to_isize(rhs_cs),
            to_isize(rhs_rs),
            1.0,
            scale,
            false,
            false,
            false,
            parallelism(threads),
        );
    }
}

/// `c = (accumulate ? c : 0) + a · b`, where `a` is `m x k` with element `(i, l)` at
/// `a[i * a_row_stride + l * a_col_stride]`, `b` is `k x n` likewise, and `c` is row-major
/// `m x n` (row stride `n`, the first `m * n` elements of the slice).
///
/// Transposed operands are just swapped strides. Panics if an operand does not fit its slice.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_row_stride: usize,
    a_col_stride: usize,
    b: &[f32],
    b_row_stride: usize,
    b_col_stride: usize,
    c: &mut [f32],
    accumulate: bool,
    threads: usize,
) {
    matmul_strided(m, k, n, a, a_row_stride, a_col_stride, b, b_row_stride, b_col_stride, c, n, accumulate, threads);
}

/// [`matmul`] with an explicit row stride for `c` (`c_row_stride >= n`), e.g. to write a
/// block of a larger matrix.
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_row_stride: usize,
    a_col_stride: usize,
    b: &[f32],
    b_row_stride: usize,
    b_col_stride: usize,
    c: &mut [f32],
    c_row_stride: usize,
    accumulate: bool,
    threads: usize,
) {
    matmul_scaled(
        m,
        k,
        n,
        1.0,
        a,
        a_row_stride,
        a_col_stride,
        b,
        b_row_stride,
        b_col_stride,
        c,
        c_row_stride,
        accumulate,
        threads,
    );
}

/// `c = (accumulate ? c : 0) + scale * a · b`; see [`matmul_strided`].
#[allow(clippy::too_many_arguments)]
fn matmul_scaled(
    m: usize,
    k: usize,
    n: usize,
    scale: f32,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(n == 1 || c_rs >= n, "matmul: c row stride {c_rs} < n {n}");
    assert!(extent(m, n, c_rs, 1) <= c.len(), "matmul: c too short");
    if k > 0 {
        assert!(extent(m, k, a_rs, a_cs) <= a.len(), "matmul: a too short");
        assert!(extent(k, n, b_rs, b_cs) <= b.len(), "matmul: b too short");
    }
    // SAFETY: the asserts above keep every element `gemm` reads inside `a` and `b` and every
    // element it writes inside `c`; `c_rs >= n` (or a single column) makes distinct `(i, j)`
    // distinct elements; `c` is a unique borrow, so it aliases neither input nor any other
    // thread's data.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_rs,
            1,
            accumulate,
            a.as_ptr(),
            a_rs,
            a_cs,
            b.as_ptr(),
            b_rs,
            b_cs,
            scale,
            threads,
        );
    }
}

/// Shape of ONNX `Gemm`: `Y[M, N] = alpha * op(A) · op(B) + beta * C`, where `op(A)` is
/// `[M, K]` (A is stored `[K, M]` when `trans_a`) and `op(B)` is `[K, N]` (B stored `[N, K]`
/// when `trans_b`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmOp {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
}

/// ONNX `Gemm`, then `act`. `c` is the optional third input with its shape (rank 0, 1 or 2,
/// unidirectionally broadcastable to `[M, N]`: `[]`, `[1]`, `[N]`, `[1, N]`, `[M, 1]`,
/// `[M, N]`, ...). `y` is row-major `[M, N]`.
pub fn gemm_op(
    p: &GemmOp,
    a: &[f32],
    b: &[f32],
    c: Option<(&[f32], &[usize])>,
    act: Activation,
    y: &mut [f32],
    threads: usize,
) {
    let (m, k, n) = (p.m, p.k, p.n);
    let y = &mut y[..m * n];
    let (a_rs, a_cs) = if p.trans_a { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if p.trans_b { (1, k) } else { (n, 1) };
    let mut read_dst = false;
    if let Some((c, shape)) = c.filter(|_| p.beta != 0.0) {
        let (cm, cn) = match *shape {
            [] => (1, 1),
            [d] => (1, d),
            [r, d] => (r, d),
            _ => panic!("gemm_op: C must have rank <= 2, got {shape:?}"),
        };
        assert!((cm == 1 || cm == m) && (cn == 1 || cn == n), "gemm_op: C {shape:?} does not broadcast to [{m}, {n}]");
        assert!(c.len() >= cm * cn, "gemm_op: C too short");
        let beta = p.beta;
        for (i, row) in y.chunks_exact_mut(n.max(1)).enumerate() {
            let src = &c[if cm == 1 { 0 } else { i * cn }..][..cn];
            if cn == 1 {
                row.fill(beta * src[0]);
            } else {
                for (d, s) in row.iter_mut().zip(src) {
                    *d = beta * s;
                }
            }
        }
        read_dst = true;
    }
    if p.alpha == 0.0 || k == 0 {
        if !read_dst {
            y.fill(0.0);
        }
    } else if m == 1 && p.trans_b {
        // One row against contiguous weight rows: a bandwidth-bound matrix-vector product.
        super::gemv::gemv_rows(&a[..k], &b[..n * k], k, p.alpha, y, read_dst, threads);
    } else {
        matmul_scaled(m, k, n, p.alpha, a, a_rs, a_cs, b, b_rs, b_cs, y, n, read_dst, threads);
    }
    activation::apply_par(act, y, threads);
}

#[cfg(test)]
mod tests {
    use super::super::activation::test_util::*;
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        ars: usize,
        acs: usize,
        b: &[f32],
        brs: usize,
        bcs: usize,
    ) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for l in 0..k {
                    s += a[i * ars + l * acs] as f64 * b[l * brs + j * bcs] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matmul_matches_naive() {
        let mut rng = Rng::new(1);
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 64, 64), (100, 3, 130), (5, 0, 4), (1, 300, 1)] {
            for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                let a = rng.vec(m * k);
                let b = rng.vec(k * n);
                let (ars, acs) = if ta { (1, m) } else { (k, 1) };
                let (brs, bcs) = if tb { (1, k) } else { (n, 1) };
                let want = naive(m, k, n, &a, ars, acs, &b, brs, bcs);
                for threads in [1, 2] {
                    let mut c = vec![f32::NAN; m * n];
                    in_pool(threads, || matmul(m, k, n, &a, ars, acs, &b, brs, bcs, &mut c, false, threads));
                    assert_close(&c, &want, 1e-4);
                    // accumulate
                    let base = rng.vec(m * n);
                    let mut c = base.clone();
                    in_pool(threads, || matmul(m, k, n, &a, ars, acs, &b, brs, bcs, &mut c, true, threads));
                    let want2: Vec<f32> = want.iter().zip(&base).map(|(w, b)| w + b).collect();
                    assert_close(&c, &want2, 1e-4);
                }
            }
        }
    }

    #[test]
    #[should_panic]
    fn matmul_checks_bounds() {
        let a = vec![0f32; 5];
        let b = vec![0f32; 6];
        let mut c = vec![0f32; 6];
        matmul(2, 3, 2, &a, 3, 1, &b, 2, 1, &mut c, false, 1);
    }

    #[test]
    fn gemm_op_matches_naive() {
        let mut rng = Rng::new(2);
        let (m, k, n) = (7, 13, 5);
        let c_shapes: [&[usize]; 7] = [&[], &[1], &[n], &[1, n], &[m, 1], &[m, n], &[1, 1]];
        for &(ta, tb) in &[(false, false), (true, true), (true, false)] {
            for cs in c_shapes {
                for &(alpha, beta) in &[(1.0f32, 1.0f32), (0.5, -2.0), (0.0, 1.0), (1.5, 0.0)] {
                    let a = rng.vec(m * k);
                    let b = rng.vec(k * n);
                    let clen: usize = cs.iter().product();
                    let c = rng.vec(clen);
                    let (ars, acs) = if ta { (1, m) } else { (k, 1) };
                    let (brs, bcs) = if tb { (1, k) } else { (n, 1) };
                    let prod = naive(m, k, n, &a, ars, acs, &b, brs, bcs);
                    let (cm, cn) = match cs {
                        [] => (1, 1),
                        [d] => (1, *d),
                        [r, d] => (*r, *d),
                        _ => unreachable!(),
                    };
                    let act = Activation::LeakyRelu { alpha: 0.1 };
                    let want: Vec<f32> = (0..m * n)
                        .map(|idx| {
                            let (i, j) = (idx / n, idx % n);
                            let cv = c[(if cm == 1 { 0 } else { i }) * cn + if cn == 1 { 0 } else { j }];
                            let v = alpha * prod[idx] + beta * cv;
                            if v < 0.0 { 0.1 * v } else { v }
                        })
                        .collect();
                    let p = GemmOp { m, k, n, trans_a: ta, trans_b: tb, alpha, beta };
                    for threads in [1, 2] {
                        let mut y = vec![f32::NAN; m * n];
                        in_pool(threads, || gemm_op(&p, &a, &b, Some((&c, cs)), act, &mut y, threads));
                        assert_close(&y, &want, 1e-4);
                    }
                }
            }
        }
        // No C.
        let a = rng.vec(m * k);
        let b = rng.vec(k * n);
        let want = naive(m, k, n, &a, k, 1, &b, n, 1);
        let mut y = vec![f32::NAN; m * n];
        let p = GemmOp { m, k, n, trans_a: false, trans_b: false, alpha: 1.0, beta: 1.0 };
        gemm_op(&p, &a, &b, None, Activation::Identity, &mut y, 1);
        assert_close(&y, &want, 1e-4);
    }
}
