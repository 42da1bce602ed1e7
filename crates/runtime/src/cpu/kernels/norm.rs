//! Per-channel normalisations (NCHW, f32): the folded inference BatchNormalization
//! (`channel_affine`) and InstanceNormalization. Parallel over `N*C` planes.

use hetc_plan::Activation;
use rayon::prelude::*;

use super::activation;

/// Elements per activation pass: the affine result is still in L1 when the activation runs.
const BLOCK: usize = 2048;

/// `out[b, ch, i] = act(x[b, ch, i] * scale[ch] + shift[ch])` over `[n, c, hw]`.
#[allow(clippy::too_many_arguments)]
pub fn channel_affine(
    x: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    scale: &[f32],
    shift: &[f32],
    act: Activation,
    out: &mut [f32],
    threads: usize,
) {
    assert!(x.len() >= n * c * hw && out.len() >= n * c * hw, "channel_affine: buffer too short");
    assert!(scale.len() >= c && shift.len() >= c, "channel_affine: scale/shift too short");
    let out = &mut out[..n * c * hw];
    for_each_plane(out, hw, threads, |i, o| {
        let ch = i % c;
        let xs = &x[i * hw..][..hw];
        let (s, b) = (scale[ch], shift[ch]);
        for (ob, xb) in o.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)) {
            affine(ob, xb, s, b);
            activation::apply(act, ob);
        }
    });
}

/// [`channel_affine`] in place.
#[allow(clippy::too_many_arguments)]
pub fn channel_affine_inplace(
    data: &mut [f32],
    n: usize,
    c: usize,
    hw: usize,
    scale: &[f32],
    shift: &[f32],
    act: Activation,
    threads: usize,
) {
    assert!(data.len() >= n * c * hw, "channel_affine: buffer too short");
    assert!(scale.len() >= c && shift.len() >= c, "channel_affine: scale/shift too short");
    let data = &mut data[..n * c * hw];
    for_each_plane(data, hw, threads, |i, o| {
        let ch = i % c;
        let (s, b) = (scale[ch], shift[ch]);
        for ob in o.chunks_mut(BLOCK) {
            for v in ob.iter_mut() {
                *v = *v * s + b;
            }
            activation::apply(act, ob);
        }
    });
}

#[inline]
fn affine(o: &mut [f32], x: &[f32], s: f32, b: f32) {
    for (o, &x) in o.iter_mut().zip(x) {
        *o = x * s + b;
    }
}

/// InstanceNormalization over `[n, c, hw]`: per plane, `out = (x - mean) / sqrt(var + eps) *
/// scale[ch] + bias[ch]` with the population variance, computed in f64 in two passes.
#[allow(clippy::too_many_arguments)]
pub fn instance_norm(
    x: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    scale: &[f32],
    bias: &[f32],
    epsilon: f32,
    out: &mut [f32],
    threads: usize,
) {
    assert!(x.len() >= n * c * hw && out.len() >= n * c * hw, "instance_norm: buffer too short");
    assert!(scale.len() >= c && bias.len() >= c, "instance_norm: scale/bias too short");
    let out = &mut out[..n * c * hw];
    for_each_plane(out, hw, threads, |i, o| {
        let ch = i % c;
        let xs = &x[i * hw..][..hw];
        let mean = sum_f64(xs, |v| v) / hw as f64;
        let var = sum_f64(xs, |v| (v - mean) * (v - mean)) / hw as f64;
        let s = scale[ch] as f64 / (var + epsilon as f64).sqrt();
        let b = bias[ch] as f64;
        // Centre in f64 too: folding the mean into the shift would cancel badly when the
        // mean is large against the spread.
        for (o, &v) in o.iter_mut().zip(xs) {
            *o = ((v as f64 - mean) * s + b) as f32;
        }
    });
}

/// [`instance_norm`] with an epilogue: `out = act(norm(x) + residual)`, applied to each plane
/// while it is in cache (a fused InstanceNormalization + Add + activation).
#[allow(clippy::too_many_arguments)]
pub fn instance_norm_epilogue(
    x: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    scale: &[f32],
    bias: &[f32],
    epsilon: f32,
    residual: Option<&[f32]>,
    act: Activation,
    out: &mut [f32],
    threads: usize,
) {
    assert!(x.len() >= n * c * hw && out.len() >= n * c * hw, "instance_norm: buffer too short");
    assert!(scale.len() >= c && bias.len() >= c, "instance_norm: scale/bias too short");
    assert!(residual.is_none_or(|r| r.len() >= n * c * hw), "instance_norm: residual too short");
    let out = &mut out[..n * c * hw];
    for_each_plane(out, hw, threads, |i, o| {
        let ch = i % c;
        let xs = &x[i * hw..][..hw];
        let mean = sum_f64(xs, |v| v) / hw as f64;
        let var = sum_f64(xs, |v| (v - mean) * (v - mean)) / hw as f64;
        let s = scale[ch] as f64 / (var + epsilon as f64).sqrt();
        let b = bias[ch] as f64;
        match residual {
            Some(r) => {
                for ((o, &v), &r) in o.iter_mut().zip(xs).zip(&r[i * hw..][..hw]) {
                    *o = ((v as f64 - mean) * s + b) as f32 + r;
                }
            }
            None => {
                for (o, &v) in o.iter_mut().zip(xs) {
                    *o = ((v as f64 - mean) * s + b) as f32;
                }
            }
        }
        super::activation::apply(act, o);
    });
}

/// `sum(f(x[i]))` in f64, four interleaved partial sums so that it vectorises.
#[inline]
fn sum_f64(xs: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; 4];
    let mut chunks = xs.chunks_exact(4);
    for ch in &mut chunks {
        for l in 0..4 {
            acc[l] += f(ch[l] as f64);
        }
    }
    let rest: f64 = chunks.remainder().iter().map(|&v| f(v as f64)).sum();
    acc.iter().sum::<f64>() + rest
}

/// Runs `f(plane_index, plane)` for every plane of `out`, in parallel when `threads > 1`.
fn for_each_plane(out: &mut [f32], plane: usize, threads: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if plane == 0 || out.is_empty() {
        return;
    }
    let planes = out.len() / plane;
    if threads <= 1 || planes == 1 || out.len() < 1 << 14 {
        for (i, o) in out.chunks_exact_mut(plane).enumerate() {
            f(i, o);
        }
        return;
    }
    let per = planes.div_ceil(threads * 4).max((8192 / plane).max(1)).min(planes.div_ceil(threads));
    out.par_chunks_mut(per * plane).enumerate().for_each(|(ci, chunk)| {
        for (k, o) in chunk.chunks_exact_mut(plane).enumerate() {
            f(ci * per + k, o);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::activation::test_util::*;
    use super::*;

    #[test]
    fn channel_affine_matches_naive() {
        let mut rng = Rng::new(31);
        for &(n, c, hw) in &[(1, 1, 1), (2, 3, 7), (1, 64, 3136), (3, 5, 10_007)] {
            let x = rng.vec(n * c * hw);
            let scale = rng.vec(c);
            let shift = rng.vec(c);
            for act in
                [Activation::Identity, Activation::Relu, Activation::Clip { min: 0.0, max: 6.0 }, Activation::Sigmoid]
            {
                let want: Vec<f32> = (0..n * c * hw)
                    .map(|i| {
                        let ch = (i / hw) % c;
                        activation::apply_scalar(act, x[i] * scale[ch] + shift[ch])
                    })
                    .collect();
                for threads in [1, 2] {
                    let mut out = vec![f32::NAN; want.len()];
                    in_pool(threads, || channel_affine(&x, n, c, hw, &scale, &shift, act, &mut out, threads));
                    assert_close(&out, &want, 1e-6);
                    let mut data = x.clone();
                    in_pool(threads, || channel_affine_inplace(&mut data, n, c, hw, &scale, &shift, act, threads));
                    assert_close(&data, &want, 1e-6);
                }
            }
        }
    }

    #[test]
    fn instance_norm_matches_naive() {
        let mut rng = Rng::new(32);
        for &(n, c, hw) in &[(1, 1, 1), (2, 3, 7), (1, 16, 4096), (2, 2, 100_003)] {
            // An offset makes a single-pass variance lose precision; two passes must not.
            let x: Vec<f32> = rng.vec(n * c * hw).iter().map(|v| v * 0.5 + 100.0).collect();
            let scale = rng.vec(c);
            let bias = rng.vec(c);
            let eps = 1e-5f32;
            let mut want = vec![0f32; x.len()];
            for i in 0..n * c {
                let ch = i % c;
                let s = &x[i * hw..][..hw];
                let mean = s.iter().map(|&v| v as f64).sum::<f64>() / hw as f64;
                let var = s.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / hw as f64;
                for k in 0..hw {
                    want[i * hw + k] =
                        ((s[k] as f64 - mean) / (var + eps as f64).sqrt() * scale[ch] as f64 + bias[ch] as f64) as f32;
                }
            }
            for threads in [1, 2] {
                let mut out = vec![f32::NAN; want.len()];
                in_pool(threads, || instance_norm(&x, n, c, hw, &scale, &bias, eps, &mut out, threads));
                assert_close(&out, &want, 1e-4);
            }
        }
    }
}
