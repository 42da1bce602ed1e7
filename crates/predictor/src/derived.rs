//! Profiles derived from a target's published figures, for targets we cannot measure (the
//! phones of CoDL's evaluation). They are rooflines in the shape of the measured forms: the
//! same features, with coefficients set from the CPU's peak FLOP/s per core, the memory
//! bandwidth and the per-step dispatch cost, instead of fitted. Every such profile says so
//! (`source = "derived"`, and a note with the figures).

use crate::features::hyper_names;
use crate::{Family, KernelModel, PROFILE_FORMAT, Profile, ProfileSource, TransferModel, TransferStatus};
use std::collections::BTreeMap;

/// The figures a derived CPU profile is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuFigures {
    /// Peak FP32 GFLOP/s of the cores that run inference (the big cores).
    pub peak_gflops: f64,
    /// How many those cores are: the thread count of the predictions.
    pub cores: usize,
    /// DRAM bandwidth, GB/s.
    pub gbps: f64,
    /// Fixed cost per step, microseconds.
    pub dispatch_us: f64,
    /// CPU<->GPU link: latency (us) and bandwidth (GB/s), if the target has a GPU.
    pub link: Option<(f64, f64)>,
    /// Where the figures come from, for the profile's note.
    pub provenance: String,
}

/// Hyper-parameters assumed for derived models: blocks of 64 pixels by 8 channels (a NEON
/// micro-kernel's shape, as in MACE's GEMM), 8 Winograd tiles, one plane per block with rows
/// in 4-lane NEON vectors, and a parallel threshold of 16384 elements. Assumptions, not
/// measurements.
fn hyper(family: Family) -> Vec<u32> {
    let h = match family {
        Family::Gemm => vec![64, 8],
        Family::Winograd => vec![8],
        Family::Window => vec![1, 4, 16384],
        Family::Stream => vec![16384],
        Family::Transfer => vec![],
    };
    debug_assert_eq!(h.len(), hyper_names(family).len());
    h
}

/// A CPU profile for `target` from `f`: one model per family (every kernel uses its family's).
pub fn cpu_profile(target: &str, f: &CpuFigures) -> Profile {
    let cores = f.cores.max(1);
    let per_core = (f.peak_gflops / cores as f64).max(1e-3);
    let gbps = f.gbps.max(1e-3);
    // Microseconds per million: multiply-adds (2 FLOPs each) on one core at peak; bytes at
    // the full bandwidth; an elementwise operation as one FLOP per lane at peak (half the FMA
    // rate), a transcendental one as ten.
    let us_per_mmac = 2e3 / per_core;
    let us_per_mbyte = 1e3 / gbps;
    let us_per_mop = 2e3 / per_core;
    let model =
        |family: Family, coef: Vec<f64>| KernelModel { family, hyper: hyper(family), coef, samples: 0, fit_pm10: 0.0 };
    let mut fallback = BTreeMap::new();
    fallback.insert(
        "gemm".to_string(),
        model(
            Family::Gemm,
            vec![us_per_mmac, 8.0 * us_per_mbyte / cores as f64, us_per_mbyte, us_per_mbyte, f.dispatch_us],
        ),
    );
    fallback.insert(
        "winograd".to_string(),
        model(Family::Winograd, vec![us_per_mmac, 8.0 * us_per_mbyte / cores as f64, f.dispatch_us]),
    );
    fallback.insert(
        "window".to_string(),
        model(Family::Window, vec![us_per_mmac, 4.0 * us_per_mbyte, 4.0 * us_per_mbyte, f.dispatch_us]),
    );
    fallback.insert(
        "stream".to_string(),
        model(Family::Stream, vec![0.0, us_per_mbyte, us_per_mop, 10.0 * us_per_mop, f.dispatch_us]),
    );
    let transfer = match f.link {
        Some((latency_us, link_gbps)) => TransferModel {
            status: TransferStatus::Derived,
            latency_us,
            us_per_mb: 1e3 / link_gbps.max(1e-3),
            // The stand-in cost model's synchronisation cost is the link latency too.
            sync_us: latency_us,
            download_latency_us: None,
            download_us_per_mb: None,
            samples: 0,
            note: "derived from the target's CPU-GPU link figures".into(),
        },
        None => TransferModel::default(),
    };
    Profile {
        format: PROFILE_FORMAT,
        target: target.into(),
        processor: "cpu".into(),
        source: ProfileSource::Derived,
        note: format!(
            "derived, not measured: roofline in the measured forms' shape from {:.1} GFLOP/s over {cores} big cores, \
             {gbps:.1} GB/s, {:.1} us per step ({})",
            f.peak_gflops, f.dispatch_us, f.provenance
        ),
        avx512: false,
        avx2: false,
        threads: vec![cores],
        kernels: BTreeMap::new(),
        fallback,
        baseline: BTreeMap::new(),
        transfer,
        gpu: None,
    }
}
