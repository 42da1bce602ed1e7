//! Fitting coefficients: weighted, non-negative linear least squares, and the search over a
//! family's hyper-parameters.
//!
//! Rows are weighted by `1 / measured`, so the fit minimises squared *relative* error (what
//! PM10ACC counts), not absolute error that the largest shapes would dominate. Coefficients
//! are kept non-negative (a negative cost per byte or per multiply-add would predict negative
//! times outside the sweep): a feature whose coefficient comes out negative is dropped and the
//! rest refitted, until all are non-negative (the active-set idea of Lawson and Hanson, in its
//! simplest form; there are at most five features). The normal equations are solved with
//! columns scaled to unit norm and a tiny ridge, by Gaussian elimination with pivoting.

use crate::features::{Features, MAX_FEATURES, features, hyper_grid, n_features};
use crate::workload::{Family, Workload};
use crate::{KernelModel, PredictError};

/// One measurement: a workload and its measured time in microseconds.
#[derive(Debug, Clone)]
pub struct Sample {
    pub workload: Workload,
    pub us: f64,
}

/// Solves `A x = b` for a small dense system (row-major `n x n`); `None` if singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-300 {
            return None;
        }
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
        }
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * n + row];
    }
    Some(x)
}

/// Weighted least squares over the columns in `active`; the others get 0.
fn wls(rows: &[Features], y: &[f64], w: &[f64], active: &[usize]) -> Option<Vec<f64>> {
    let n = active.len();
    // Column norms, for scaling.
    let norm: Vec<f64> = active
        .iter()
        .map(|&j| rows.iter().zip(w).map(|(r, wi)| (r[j] * wi).powi(2)).sum::<f64>().sqrt().max(1e-300))
        .collect();
    let mut ata = vec![0.0; n * n];
    let mut atb = vec![0.0; n];
    for ((r, &yi), &wi) in rows.iter().zip(y).zip(w) {
        let xs: Vec<f64> = active.iter().zip(&norm).map(|(&j, s)| r[j] * wi / s).collect();
        for a in 0..n {
            atb[a] += xs[a] * yi * wi;
            for b in 0..n {
                ata[a * n + b] += xs[a] * xs[b];
            }
        }
    }
    for a in 0..n {
        ata[a * n + a] += 1e-9;
    }
    let x = solve(ata, atb, n)?;
    Some(x.iter().zip(&norm).map(|(v, s)| v / s).collect())
}

/// Non-negative weighted least squares: coefficients for every feature (0 for dropped ones).
pub fn nnls(rows: &[Features], y: &[f64], w: &[f64], nfeat: usize) -> Vec<f64> {
    // Features that are zero on every row carry no information.
    let mut active: Vec<usize> = (0..nfeat).filter(|&j| rows.iter().any(|r| r[j] != 0.0)).collect();
    loop {
        if active.is_empty() {
            return vec![0.0; nfeat];
        }
        let Some(x) = wls(rows, y, w, &active) else {
            // Singular (collinear features): drop the last and retry.
            active.pop();
            continue;
        };
        let worst = x.iter().enumerate().filter(|(_, v)| **v < 0.0).min_by(|a, b| a.1.total_cmp(b.1));
        match worst {
            Some((i, _)) => {
                active.remove(i);
            }
            None => {
                let mut out = vec![0.0; nfeat];
                for (k, &j) in active.iter().enumerate() {
                    out[j] = x[k];
                }
                return out;
            }
        }
    }
}

/// Share of predictions within ±10% of the measurement.
pub fn pm10(pred: &[f64], meas: &[f64]) -> f64 {
    if meas.is_empty() {
        return 0.0;
    }
    let ok = pred.iter().zip(meas).filter(|(p, m)| within(**p, **m, 0.10)).count();
    ok as f64 / meas.len() as f64
}

/// Whether `p` is within `tol` (relative) of `m`.
pub fn within(p: f64, m: f64, tol: f64) -> bool {
    m > 0.0 && ((p - m) / m).abs() <= tol
}

fn dot(f: &Features, c: &[f64]) -> f64 {
    f.iter().zip(c).map(|(a, b)| a * b).sum()
}

/// Fits one kernel's model: every hyper-parameter candidate of its family, keeping the one
/// with the most fitted points within ±10% (ties: the lower mean relative error).
pub fn fit_kernel(samples: &[Sample]) -> Result<KernelModel, PredictError> {
    let first = samples.first().ok_or_else(|| PredictError::Fit("no samples".into()))?;
    let family = first.workload.family;
    if let Some(s) = samples.iter().find(|s| s.workload.family != family) {
        return Err(PredictError::Fit(format!("mixed families: {} and {}", family.name(), s.workload.family.name())));
    }
    if let Some(s) = samples.iter().find(|s| !(s.us.is_finite() && s.us > 0.0)) {
        return Err(PredictError::Fit(format!("measured time {} is not a positive number", s.us)));
    }
    let nfeat = n_features(family);
    let y: Vec<f64> = samples.iter().map(|s| s.us).collect();
    let w: Vec<f64> = y.iter().map(|v| 1.0 / v).collect();
    let mut best: Option<(f64, f64, KernelModel)> = None;
    for hyper in hyper_grid(family) {
        let rows: Vec<Features> = samples.iter().map(|s| features(&s.workload, &hyper)).collect::<Result<_, _>>()?;
        let coef = nnls(&rows, &y, &w, nfeat);
        let pred: Vec<f64> = rows.iter().map(|r| dot(r, &coef)).collect();
        let acc = pm10(&pred, &y);
        let mare = pred.iter().zip(&y).map(|(p, m)| ((p - m) / m).abs()).sum::<f64>() / y.len() as f64;
        let better = match &best {
            None => true,
            Some((a, e, _)) => acc > *a + 1e-12 || ((acc - a).abs() <= 1e-12 && mare < *e),
        };
        if better {
            let model = KernelModel {
                family,
                hyper: hyper.clone(),
                coef: coef.iter().map(|c| round_sig(*c)).collect(),
                samples: samples.len() as u32,
                fit_pm10: (acc * 1000.0).round() / 1000.0,
            };
            best = Some((acc, mare, model));
        }
    }
    Ok(best.expect("every family has at least one candidate").2)
}

/// The FLOPs-linear baseline, `t = a x FLOPs + b`, fitted the same way (CoDL's comparison).
pub fn fit_flops_linear(samples: &[Sample]) -> [f64; 2] {
    let rows: Vec<Features> = samples
        .iter()
        .map(|s| {
            let mut f = [0.0; MAX_FEATURES];
            f[0] = s.workload.flops * 1e-6;
            f[1] = 1.0;
            f
        })
        .collect();
    let y: Vec<f64> = samples.iter().map(|s| s.us).collect();
    let w: Vec<f64> = y.iter().map(|v| 1.0 / v.max(1e-9)).collect();
    let c = nnls(&rows, &y, &w, 2);
    [round_sig(c[0]), round_sig(c[1])]
}

/// Rounds to 6 significant digits: the profile stays small and readable, and 1e-6 relative is
/// far below measurement noise.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let mag = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(5 - mag);
    (v * scale).round() / scale
}

/// The FLOPs-linear baseline's prediction.
pub fn flops_linear(c: [f64; 2], w: &Workload) -> f64 {
    c[0] * w.flops * 1e-6 + c[1]
}

/// The family of every workload must match for fitting; exposed for the profile builder.
pub fn family_of(samples: &[Sample]) -> Option<Family> {
    samples.first().map(|s| s.workload.family)
}
