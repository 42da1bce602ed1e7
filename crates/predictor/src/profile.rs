//! Target profiles: the fitted coefficients of every kernel of one processor, as TOML.
//!
//! A profile is user-editable input, so loading validates everything: the format version,
//! each model's family, the number of hyper-parameters and coefficients its family takes,
//! and that every number is finite and non-negative.

use crate::PredictError;
use crate::features::{hyper_names, n_features};
use crate::workload::Family;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The profile format this build reads and writes.
pub const PROFILE_FORMAT: u32 = 1;

/// Most bytes one kernel's model may take serialized (the limit).
pub const MAX_MODEL_BYTES: usize = 1024;

/// One kernel implementation's fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelModel {
    pub family: Family,
    /// The family's hyper-parameters (block sizes, parallel threshold), see
    /// [`crate::features::hyper_names`].
    pub hyper: Vec<u32>,
    /// Microseconds per million of each feature ([`crate::features::feature_names`]).
    pub coef: Vec<f64>,
    /// Measurements it was fitted on (0 for derived models).
    pub samples: u32,
    /// Share of those measurements the fit predicts within ±10%.
    pub fit_pm10: f64,
}

impl KernelModel {
    fn validate(&self, what: &str) -> Result<(), PredictError> {
        let bad = |m: String| PredictError::BadProfile(format!("{what}: {m}"));
        if self.hyper.len() != hyper_names(self.family).len() {
            return Err(bad(format!(
                "family {} takes {} hyper-parameters ({}), found {}",
                self.family.name(),
                hyper_names(self.family).len(),
                hyper_names(self.family).join(", "),
                self.hyper.len()
            )));
        }
        if self.coef.len() != n_features(self.family) {
            return Err(bad(format!(
                "family {} takes {} coefficients, found {}",
                self.family.name(),
                n_features(self.family),
                self.coef.len()
            )));
        }
        if let Some(c) = self.coef.iter().find(|c| !c.is_finite() || **c < 0.0) {
            return Err(bad(format!("coefficient {c} is not a finite non-negative number")));
        }
        if !(0.0..=1.0).contains(&self.fit_pm10) {
            return Err(bad(format!("fit_pm10 {} is not a share in [0, 1]", self.fit_pm10)));
        }
        Ok(())
    }
}

/// Where a profile's numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileSource {
    /// Fitted on this machine's kernels by `hetc profile`.
    Measured,
    /// Derived from a target's published peak figures (no measurement).
    Derived,
}

/// The CPU<->GPU data-sharing cost, `latency_us + us_per_mb x MB`: the hook for co-execution.
/// Downloads (GPU to CPU) have terms of their own where measured (`download_latency_us`,
/// `download_us_per_mb`): reading GPU memory back maps a staging buffer and costs several
/// times an upload on some drivers; without them a download costs what an upload does.
///
/// `hetc profile --processors cpu` cannot measure it and leaves it `unfitted`; the GPU side
/// fills it with [`crate::Profile::fit_transfer`] from measured (bytes, microseconds) pairs of
/// its upload and download steps. A derived profile takes it from the target's link figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferModel {
    pub status: TransferStatus,
    pub latency_us: f64,
    pub us_per_mb: f64,
    /// Cost of one CPU<->GPU synchronisation (submit and wait for an empty GPU queue), paid
    /// once per co-executed part on top of the copies; 0 where not measured.
    #[serde(default)]
    pub sync_us: f64,
    /// Downloads' own terms, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_latency_us: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_us_per_mb: Option<f64>,
    pub samples: u32,
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    Unfitted,
    Fitted,
    Derived,
}

impl Default for TransferModel {
    fn default() -> Self {
        TransferModel {
            status: TransferStatus::Unfitted,
            latency_us: 0.0,
            us_per_mb: 0.0,
            sync_us: 0.0,
            download_latency_us: None,
            download_us_per_mb: None,
            samples: 0,
            note: "not measured: fit it from the GPU's upload/download step timings (Profile::fit_transfer)".into(),
        }
    }
}

/// The coefficients of one processor of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub format: u32,
    pub target: String,
    pub processor: String,
    pub source: ProfileSource,
    /// Provenance: the machine and how it was measured, or the figures it was derived from.
    pub note: String,
    /// Whether the measured CPU had the AVX-512 kernels (it changes which kernels run).
    pub avx512: bool,
    /// Whether the measured CPU had the AVX2+FMA depthwise kernel (run where AVX-512 is
    /// missing).
    /// Profiles written before these kernels existed lack it: they measured the portable
    /// kernels, which is what `false` predicts.
    #[serde(default)]
    pub avx2: bool,
    /// Thread counts the sweep measured; predictions default to the largest.
    pub threads: Vec<usize>,
    /// Per kernel implementation (`conv_im2col_gemm`, `binary`, ...).
    pub kernels: BTreeMap<String, KernelModel>,
    /// Per family, fitted on all of that family's measurements: used for a kernel that has no
    /// model of its own (reported as such).
    #[serde(default)]
    pub fallback: BTreeMap<String, KernelModel>,
    /// FLOPs-linear baseline per kernel, `[us per MFLOP, us]`, fitted on the same data, for
    /// `hetc profile --evaluate`.
    #[serde(default)]
    pub baseline: BTreeMap<String, [f64; 2]>,
    #[serde(default)]
    pub transfer: TransferModel,
    /// Models of hetc's WGSL kernels on the GPU the profile measured, if it did
    /// (`hetc profile --processors gpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuModels>,
}

/// Fitted models of the GPU's kernels, keyed `gpu_<shader>` (the first dispatch's shader,
/// e.g. `gpu_conv_tiled64x64`); the same families and forms as the CPU's, with one thread
/// (the GPU's parallelism is inside the coefficients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuModels {
    /// The adapter measured.
    pub adapter: String,
    pub kernels: BTreeMap<String, KernelModel>,
    #[serde(default)]
    pub fallback: BTreeMap<String, KernelModel>,
    #[serde(default)]
    pub baseline: BTreeMap<String, [f64; 2]>,
}

impl Profile {
    /// Parses and validates a profile's TOML text.
    pub fn from_toml(text: &str) -> Result<Profile, PredictError> {
        let p: Profile = toml::from_str(text).map_err(|e| PredictError::BadProfile(e.message().to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// The profile as TOML.
    pub fn to_toml(&self) -> Result<String, PredictError> {
        toml::to_string(self).map_err(|e| PredictError::BadProfile(format!("cannot serialize: {e}")))
    }

    pub fn validate(&self) -> Result<(), PredictError> {
        if self.format != PROFILE_FORMAT {
            return Err(PredictError::BadProfile(format!(
                "format {} is not the supported format {PROFILE_FORMAT}",
                self.format
            )));
        }
        if self.threads.is_empty() || self.threads.contains(&0) {
            return Err(PredictError::BadProfile("threads must list positive thread counts".into()));
        }
        validate_models("", &self.kernels, &self.fallback, &self.baseline)?;
        if let Some(g) = &self.gpu {
            validate_models("gpu ", &g.kernels, &g.fallback, &g.baseline)?;
        }
        let t = &self.transfer;
        let download = [t.download_latency_us, t.download_us_per_mb];
        if [t.latency_us, t.us_per_mb, t.sync_us]
            .iter()
            .chain(download.iter().flatten())
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(PredictError::BadProfile(
                "transfer: latency_us, us_per_mb, sync_us and the download terms must be finite and >= 0".into(),
            ));
        }
        if download[0].is_some() != download[1].is_some() {
            return Err(PredictError::BadProfile(
                "transfer: download_latency_us and download_us_per_mb go together".into(),
            ));
        }
        Ok(())
    }

    /// Fits the CPU<->GPU transfer cost from measured `(bytes, microseconds)` pairs (the
    /// co-execution hook; see [`TransferModel`]): uploads, or both directions when downloads
    /// are not measured apart ([`Profile::fit_download`]).
    pub fn fit_transfer(&mut self, samples: &[(u64, f64)], note: &str) -> Result<(), PredictError> {
        let (latency_us, us_per_mb) = fit_line(samples)?;
        self.transfer = TransferModel {
            status: TransferStatus::Fitted,
            latency_us,
            us_per_mb,
            sync_us: self.transfer.sync_us,
            download_latency_us: None,
            download_us_per_mb: None,
            samples: samples.len() as u32,
            note: note.into(),
        };
        Ok(())
    }

    /// Fits downloads' own terms (after [`Profile::fit_transfer`], which clears them).
    pub fn fit_download(&mut self, samples: &[(u64, f64)]) -> Result<(), PredictError> {
        let (latency_us, us_per_mb) = fit_line(samples)?;
        self.transfer.download_latency_us = Some(latency_us);
        self.transfer.download_us_per_mb = Some(us_per_mb);
        self.transfer.samples += samples.len() as u32;
        Ok(())
    }
}

/// Checks one processor's kernel models, family fallbacks and baselines (`what` prefixes
/// messages).
fn validate_models(
    what: &str,
    kernels: &BTreeMap<String, KernelModel>,
    fallback: &BTreeMap<String, KernelModel>,
    baseline: &BTreeMap<String, [f64; 2]>,
) -> Result<(), PredictError> {
    for (k, m) in kernels {
        m.validate(&format!("{what}kernel {k}"))?;
    }
    for (k, m) in fallback {
        m.validate(&format!("{what}fallback {k}"))?;
        if m.family.name() != k {
            return Err(PredictError::BadProfile(format!(
                "{what}fallback {k} holds a model of family {}",
                m.family.name()
            )));
        }
    }
    for (k, c) in baseline {
        if c.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(PredictError::BadProfile(format!("{what}baseline {k}: coefficients must be finite and >= 0")));
        }
    }
    Ok(())
}

/// `latency + us_per_mb x MB` through `(bytes, microseconds)` pairs: least squares on relative
/// errors, coefficients kept non-negative.
fn fit_line(samples: &[(u64, f64)]) -> Result<(f64, f64), PredictError> {
    if samples.len() < 2 {
        return Err(PredictError::Fit("a transfer fit needs at least two measurements".into()));
    }
    let rows: Vec<crate::features::Features> = samples
        .iter()
        .map(|&(b, _)| {
            let mut f = [0.0; crate::features::MAX_FEATURES];
            f[0] = b as f64 * 1e-6;
            f[1] = 1.0;
            f
        })
        .collect();
    let y: Vec<f64> = samples.iter().map(|s| s.1).collect();
    if y.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(PredictError::Fit("transfer times must be positive".into()));
    }
    let w: Vec<f64> = y.iter().map(|v| 1.0 / v).collect();
    let c = crate::fit::nnls(&rows, &y, &w, 2);
    Ok((c[1], c[0]))
}
