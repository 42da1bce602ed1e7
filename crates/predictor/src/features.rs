//! The analytical forms: per family, the features whose weighted sum is the predicted time.
//!
//! Every form is linear in its coefficients, so they are fitted by least squares, while the
//! platform's non-linearity is explicit in the features, as in CoDL's Table 1: work is split
//! into blocks, blocks are spread over threads, and the busiest thread decides, so time grows
//! in steps, `ceil(blocks / threads) x block`. The block sizes and the size below which a
//! kernel stays on one thread are *hyper-parameters*: each kernel's fit tries every candidate
//! of [`hyper_grid`] and keeps the best (see [`crate::fit`]).
//!
//! All sizes are scaled to millions so that coefficients are microseconds per million units.

use crate::PredictError;
use crate::workload::{Family, Sizes, Workload};

/// The most features of any family.
pub const MAX_FEATURES: usize = 5;

/// A feature vector; entries past [`n_features`] are zero.
pub type Features = [f64; MAX_FEATURES];

/// Feature names per family, in order, for documentation and `hetc profile` output.
pub fn feature_names(family: Family) -> &'static [&'static str] {
    match family {
        // Busiest thread's multiply-adds, padded to whole blocks; unfolded elements per thread;
        // bytes read and bytes written (shared memory bandwidth: not divided by threads; a
        // write also reads the line first, so it costs differently); fixed cost.
        Family::Gemm => &["block_macs_per_thread", "unfold_per_thread", "in_bytes", "out_bytes", "one"],
        Family::Winograd => &["block_macs_per_thread", "transform_points_per_thread", "one"],
        // Taps of the busiest thread with each output row padded to whole vectors; input and
        // output pixels per thread; fixed cost.
        Family::Window => &["block_taps_per_thread", "in_pixels_per_thread", "out_pixels_per_thread", "one"],
        // Bytes split over threads and not (the threads term: how well the kernel scales),
        // cheap and transcendental operations per thread, fixed cost.
        Family::Stream => &["bytes_per_thread", "bytes", "cheap_ops_per_thread", "heavy_ops_per_thread", "one"],
        Family::Transfer => &["bytes", "one"],
    }
}

pub fn n_features(family: Family) -> usize {
    feature_names(family).len()
}

/// Names of the hyper-parameters per family.
pub fn hyper_names(family: Family) -> &'static [&'static str] {
    match family {
        Family::Gemm => &["block_pixels", "block_channels"],
        Family::Winograd => &["block_tiles"],
        Family::Window => &["block_planes", "vector_lanes", "parallel_min_elems"],
        Family::Stream => &["parallel_min_elems"],
        Family::Transfer => &[],
    }
}

/// Candidate hyper-parameters per family.
pub fn hyper_grid(family: Family) -> Vec<Vec<u32>> {
    let mut grid = Vec::new();
    match family {
        Family::Gemm => {
            for nb in [8, 16, 32, 64, 128, 256] {
                for mb in [1, 4, 6, 8, 16, 32] {
                    grid.push(vec![nb, mb]);
                }
            }
        }
        Family::Winograd => {
            for tb in [1, 4, 8, 16, 32, 64, 128] {
                grid.push(vec![tb]);
            }
        }
        Family::Window => {
            for pb in [1, 4, 16] {
                for lanes in [1, 4, 8, 16] {
                    for par in [0, 8192, 32768] {
                        grid.push(vec![pb, lanes, par]);
                    }
                }
            }
        }
        Family::Stream => {
            for par in [0, 8192, 16384, 32768, 65536, 131072] {
                grid.push(vec![par]);
            }
        }
        Family::Transfer => grid.push(vec![]),
    }
    grid
}

const M: f64 = 1e-6;

fn ceil_div(a: f64, b: f64) -> f64 {
    (a / b.max(1.0)).ceil()
}

/// The features of `w` under hyper-parameters `hyper`.
pub fn features(w: &Workload, hyper: &[u32]) -> Result<Features, PredictError> {
    let want = hyper_names(w.family).len();
    if hyper.len() != want {
        return Err(PredictError::BadModel(format!(
            "family {} takes {want} hyper-parameters, the model has {}",
            w.family.name(),
            hyper.len()
        )));
    }
    let t = w.threads.max(1) as f64;
    let h = |i: usize| hyper[i] as f64;
    let mut f = [0.0; MAX_FEATURES];
    match (w.family, w.sizes) {
        (Family::Gemm, Sizes::Gemm { batch, m, n, k, unfold, in_bytes, out_bytes }) => {
            let (nb, mb) = (h(0).max(1.0), h(1).max(1.0));
            let blocks = batch * ceil_div(n, nb) * ceil_div(m, mb);
            f[0] = ceil_div(blocks, t) * nb * mb * k * M;
            f[1] = unfold / t * M;
            f[2] = in_bytes * M;
            f[3] = out_bytes * M;
            f[4] = 1.0;
        }
        (Family::Winograd, Sizes::Winograd { tiles, alpha, c, m }) => {
            let tb = h(0).max(1.0);
            f[0] = ceil_div(ceil_div(tiles, tb), t) * tb * alpha * c * (m / 32.0).ceil() * 32.0 * M;
            f[1] = tiles * alpha * (c + m) / t * M;
            f[2] = 1.0;
        }
        (Family::Window, Sizes::Window { planes, out_px, out_w, in_px, window }) => {
            let (pb, lanes) = (h(0).max(1.0), h(1).max(1.0));
            let te = if planes * out_px >= h(2) { t } else { 1.0 };
            let rows = out_px / out_w.max(1.0);
            f[0] = ceil_div(planes, pb * te) * pb * rows * ceil_div(out_w, lanes) * lanes * window * M;
            f[1] = ceil_div(planes, te) * in_px * M;
            f[2] = ceil_div(planes, te) * out_px * M;
            f[3] = 1.0;
        }
        (Family::Stream, Sizes::Stream { elems, bytes, cheap, heavy }) => {
            let te = if elems >= h(0) { t } else { 1.0 };
            f[0] = bytes / te * M;
            f[1] = bytes * M;
            f[2] = elems * cheap / te * M;
            f[3] = elems * heavy / te * M;
            f[4] = 1.0;
        }
        (Family::Transfer, Sizes::Transfer { bytes }) => {
            f[0] = bytes * M;
            f[1] = 1.0;
        }
        (family, sizes) => {
            return Err(PredictError::BadStep(format!("family {} does not take sizes {sizes:?}", family.name())));
        }
    }
    Ok(f)
}
