//! hetc's latency predictor (after CoDL, MobiSys'22).
//!
//! Per processor and per kernel *implementation* (im2col + GEMM, Winograd F(4x4), depthwise,
//! pooling, streaming elementwise kernels, ...), an analytical form whose non-linearity is
//! explicit (`ceil(blocks / threads) x block`, a parallel threshold, see [`features`]) and
//! whose few coefficients are fitted by least squares on measurements ([`fit`]). Which
//! implementation a step runs comes from the runtime's own dispatch function
//! ([`workload::cpu_workload`] calls `hetc_runtime::cpu::introspect`).
//!
//! A [`Profile`] holds one processor's coefficients as TOML: measured by `hetc profile`, or
//! derived from a target's published peak figures ([`derived`]). A [`Predictor`] answers per
//! step in well under 10 microseconds.

pub mod derived;
pub mod features;
pub mod fit;
mod profile;
pub mod workload;

pub use profile::{
    GpuModels, KernelModel, MAX_MODEL_BYTES, PROFILE_FORMAT, Profile, ProfileSource, TransferModel, TransferStatus,
};
pub use workload::{Family, Sizes, Workload};

use hetc_plan::{Device, PlanMeta, Step};
use hetc_runtime::cpu::introspect::CpuIsa;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("invalid profile: {0}")]
    BadProfile(String),
    #[error("invalid kernel model: {0}")]
    BadModel(String),
    #[error("cannot describe step: {0}")]
    BadStep(String),
    #[error("no model for kernel `{key}` (family {family}) in the profile, and no {family} fallback")]
    NoModel { key: String, family: &'static str },
    #[error("cannot fit: {0}")]
    Fit(String),
}

/// The profile key of `key`'s model fitted on measurements with `threads` threads only.
pub fn thread_key(key: &str, threads: usize) -> String {
    format!("{key}@{threads}")
}

/// How a prediction was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The kernel's own fitted model.
    Kernel,
    /// The family's pooled model (the kernel was not in the sweep).
    Fallback,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub us: f64,
    /// The part of `us` that does not grow with the work: the form's constant term (dispatch,
    /// thread start-up). Placement pays it in full for every part of a split op.
    pub fixed_us: f64,
    pub basis: Basis,
}

/// Predicts step times from a profile.
#[derive(Debug, Clone)]
pub struct Predictor {
    profile: Profile,
    isa: CpuIsa,
}

impl Predictor {
    /// Validates `profile` and builds a predictor for the CPU it describes.
    pub fn new(profile: Profile) -> Result<Predictor, PredictError> {
        profile.validate()?;
        let isa = CpuIsa { avx512: profile.avx512, avx2: profile.avx2 };
        Ok(Predictor { profile, isa })
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The thread count predictions assume by default: the largest the profile measured.
    pub fn default_threads(&self) -> usize {
        self.profile.threads.iter().copied().max().unwrap_or(1)
    }

    /// The CPU instruction set the profile describes (it decides which kernels run).
    pub fn isa(&self) -> CpuIsa {
        self.isa
    }

    /// The model that predicts `key` of `family` run with `threads` threads, and on what
    /// basis: the kernel's model for that thread count (`key@threads`), else its model over
    /// all measured thread counts, else its family's.
    pub fn model(&self, key: &str, family: Family, threads: usize) -> Result<(&KernelModel, Basis), PredictError> {
        lookup(&self.profile.kernels, &self.profile.fallback, key, family, threads)
    }

    /// Whether the profile has models of the GPU's kernels.
    pub fn has_gpu_models(&self) -> bool {
        self.profile.gpu.is_some()
    }

    /// Predicted time of a GPU workload ([`workload::gpu_workload`]) from the profile's GPU
    /// models.
    pub fn predict_gpu(&self, w: &Workload) -> Result<Prediction, PredictError> {
        let g = self.profile.gpu.as_ref().ok_or_else(|| {
            PredictError::BadStep(format!("{}: the profile has no GPU models (hetc profile --processors gpu)", w.key))
        })?;
        let (m, basis) = lookup(&g.kernels, &g.fallback, &w.key, w.family, 1)?;
        evaluate(m, w, basis)
    }

    /// The FLOPs-linear baseline's prediction for a GPU workload, if the profile has one.
    pub fn gpu_baseline(&self, w: &Workload) -> Option<f64> {
        let c = self.profile.gpu.as_ref()?.baseline.get(&w.key)?;
        Some(fit::flops_linear(*c, w))
    }

    /// Predicted time of a workload, microseconds.
    pub fn predict(&self, w: &Workload) -> Result<Prediction, PredictError> {
        if w.family == Family::Transfer {
            let t = &self.profile.transfer;
            let us = self.transfer_us(w.sizes_bytes());
            return Ok(Prediction { us, fixed_us: t.latency_us.min(us), basis: Basis::Kernel });
        }
        let (m, basis) = self.model(&w.key, w.family, w.threads)?;
        evaluate(m, w, basis)
    }

    /// Predicted time of `step` of `meta` with `threads` CPU threads, microseconds.
    pub fn predict_step(&self, meta: &PlanMeta, step: &Step, threads: usize) -> Result<Prediction, PredictError> {
        if step.device == Device::Gpu && !matches!(step.kernel, hetc_plan::Kernel::Upload | hetc_plan::Kernel::Download)
        {
            if !self.has_gpu_models() {
                return Err(PredictError::BadStep(format!(
                    "{}: GPU kernels are not modelled by this profile (hetc profile --processors gpu measures them)",
                    step.name
                )));
            }
            return self.predict_gpu(&workload::gpu_workload(meta, step)?);
        }
        let w = workload::cpu_workload(meta, step, self.isa, threads)?;
        if matches!(step.kernel, hetc_plan::Kernel::Download) {
            let t = &self.profile.transfer;
            let us = self.download_us(w.sizes_bytes());
            let fixed_us = t.download_latency_us.unwrap_or(t.latency_us).min(us);
            return Ok(Prediction { us, fixed_us, basis: Basis::Kernel });
        }
        self.predict(&w)
    }

    /// Predicted CPU<->GPU copy time of `bytes` (the data-sharing term; 0 while unfitted):
    /// an upload, or either direction where downloads have no terms of their own.
    pub fn transfer_us(&self, bytes: f64) -> f64 {
        let t = &self.profile.transfer;
        t.latency_us + t.us_per_mb * bytes * 1e-6
    }

    /// Predicted GPU->CPU copy time of `bytes`: the downloads' own terms where measured.
    pub fn download_us(&self, bytes: f64) -> f64 {
        let t = &self.profile.transfer;
        match (t.download_latency_us, t.download_us_per_mb) {
            (Some(l), Some(m)) => l + m * bytes * 1e-6,
            _ => self.transfer_us(bytes),
        }
    }

    /// Whether the profile's CPU<->GPU transfer term holds numbers (measured or derived): an
    /// unfitted one predicts every copy free.
    pub fn has_transfer_model(&self) -> bool {
        self.profile.transfer.status != TransferStatus::Unfitted
    }

    /// Predicted cost of one CPU<->GPU synchronisation, microseconds (0 while unmeasured).
    pub fn sync_us(&self) -> f64 {
        self.profile.transfer.sync_us
    }

    /// The FLOPs-linear baseline's prediction for `w`, if the profile has one for its kernel
    /// (for its thread count, else over all).
    pub fn baseline(&self, w: &Workload) -> Option<f64> {
        let b = &self.profile.baseline;
        b.get(&thread_key(&w.key, w.threads)).or_else(|| b.get(&w.key)).map(|c| fit::flops_linear(*c, w))
    }
}

/// The model for `key` of `family` among `kernels` (for `threads` threads, else over all),
/// else its family's among `fallback`.
fn lookup<'a>(
    kernels: &'a std::collections::BTreeMap<String, KernelModel>,
    fallback: &'a std::collections::BTreeMap<String, KernelModel>,
    key: &str,
    family: Family,
    threads: usize,
) -> Result<(&'a KernelModel, Basis), PredictError> {
    let own = kernels.get(&thread_key(key, threads)).or_else(|| kernels.get(key));
    if let Some(m) = own.filter(|m| m.family == family) {
        return Ok((m, Basis::Kernel));
    }
    fallback
        .get(family.name())
        .map(|m| (m, Basis::Fallback))
        .ok_or_else(|| PredictError::NoModel { key: key.into(), family: family.name() })
}

/// `m`'s time for `w`, with the part that does not grow with the work (the form's constant).
fn evaluate(m: &KernelModel, w: &Workload, basis: Basis) -> Result<Prediction, PredictError> {
    let f = features::features(w, &m.hyper)?;
    let us = f.iter().zip(&m.coef).map(|(a, b)| a * b).sum::<f64>().max(0.0);
    let constant = features::feature_names(m.family).iter().position(|&n| n == "one");
    let fixed_us = constant.and_then(|i| m.coef.get(i)).copied().unwrap_or(0.0).min(us);
    Ok(Prediction { us, fixed_us, basis })
}

impl Workload {
    fn sizes_bytes(&self) -> f64 {
        match self.sizes {
            Sizes::Transfer { bytes } => bytes,
            _ => 0.0,
        }
    }
}
