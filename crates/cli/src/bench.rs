//! `hetc bench PLAN [--threads N] [--runs N] [--warmup N] [--json]`.

use anyhow::{Context, Result};
use clap::Args;
use hetc_runtime::{Plan, Session, Tensor};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// The plan file.
    plan: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Also time every step and print the time per kernel.
    #[arg(long)]
    profile: bool,
    /// Include every run's time in the JSON output (for scripts that pool runs).
    #[arg(long, requires = "json")]
    all_times: bool,
    #[command(flatten)]
    device: crate::device::DeviceArgs,
}

#[derive(Serialize)]
struct Report {
    plan: String,
    threads: usize,
    runs: usize,
    median_ms: f64,
    min_ms: f64,
    p10_ms: f64,
    p90_ms: f64,
    memory_bytes: usize,
    /// Where the GPU steps ran (absent for CPU plans).
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu: Option<String>,
    gpu_memory_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<StepReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    times_ms: Option<Vec<f64>>,
}

/// One step's time from `--profile` (for the latency predictor).
#[derive(Serialize)]
struct StepReport {
    name: String,
    kernel: &'static str,
    device: &'static str,
    ms: f64,
    timer: &'static str,
}

/// Deterministic pseudo-random inputs in [-1, 1).
pub(crate) fn synthetic(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let data = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor { shape: shape.to_vec(), data }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let plan = Plan::from_file(&args.plan).with_context(|| format!("cannot load {}", args.plan.display()))?;
    let mut session = Session::new(&plan, args.device.options(args.threads))?;
    let gpu = crate::device::report(&session);
    let inputs: Vec<(String, Tensor)> =
        session.inputs().iter().enumerate().map(|(i, (n, s))| (n.to_string(), synthetic(s, i as u64))).collect();
    let refs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for _ in 0..args.warmup {
        session.run(&refs)?;
    }
    let mut times = Vec::with_capacity(args.runs.max(1));
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        session.run(&refs)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let raw = args.all_times.then(|| times.clone());
    let timings = if args.profile { Some(session.run_profiled(&refs)?.1) } else { None };
    times.sort_by(f64::total_cmp);
    let report = Report {
        plan: args.plan.display().to_string(),
        threads: session.threads(),
        runs: times.len(),
        median_ms: percentile(&times, 0.5),
        min_ms: times[0],
        p10_ms: percentile(&times, 0.1),
        p90_ms: percentile(&times, 0.9),
        memory_bytes: session.memory_bytes(),
        gpu: gpu.clone(),
        gpu_memory_bytes: session.gpu_memory_bytes(),
        steps: timings.as_ref().map(|ts| {
            ts.iter()
                .map(|t| StepReport {
                    name: t.name.clone(),
                    kernel: t.kernel,
                    device: t.device,
                    ms: t.seconds * 1e3,
                    timer: t.timer,
                })
                .collect()
        }),
        times_ms: raw,
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::outln!(
            "{}: median {:.3} ms (p10 {:.3}, p90 {:.3}, min {:.3}) over {} runs, {} threads",
            report.plan,
            report.median_ms,
            report.p10_ms,
            report.p90_ms,
            report.min_ms,
            report.runs,
            report.threads
        );
        if let Some(g) = &gpu {
            crate::outln!("gpu steps on {g}");
        }
    }
    if let Some(timings) = &timings {
        let mut by_kernel: std::collections::BTreeMap<(&str, &str), (usize, f64)> = Default::default();
        for t in timings {
            let e = by_kernel.entry((t.device, t.kernel)).or_default();
            e.0 += 1;
            e.1 += t.seconds * 1e3;
        }
        let mut rows: Vec<_> = by_kernel.into_iter().collect();
        rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
        for ((d, k), (n, ms)) in rows {
            eprintln!("{d:<12} {k:<20} {n:>5} steps {ms:>10.3} ms");
        }
        if gpu.is_some() {
            eprintln!(
                "GPU step times: {}",
                if session.gpu_timestamps() {
                    "timestamp queries"
                } else {
                    "wall clock around a submit and wait per step"
                }
            );
        }
    }
    Ok(())
}
