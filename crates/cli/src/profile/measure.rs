//! Timing plans on the runtime's real kernels, step by step.

use crate::bench::synthetic;
use anyhow::{Context, Result};
use hetc_compile::{CompileOptions, Fusion, Strategy, compile};
use hetc_ir::Graph;
use hetc_plan::Kernel;
use hetc_predictor::workload::{cpu_workload, gpu_workload};
use hetc_predictor::{Workload, fit::within};
use hetc_runtime::cpu::introspect::CpuIsa;
use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
use std::time::Instant;

/// One step's measured time.
#[derive(Debug, Clone)]
pub struct StepTime {
    pub name: String,
    pub workload: Workload,
    /// Fastest of the timed runs, microseconds: on a machine shared with other work the
    /// minimum is the statistic least disturbed by it (on a quiet machine it is within a few
    /// percent of the median).
    pub us: f64,
    /// Minima of the first and the second half of the runs, for the noise ceiling.
    pub halves: (f64, f64),
}

impl StepTime {
    /// Whether the two halves agree within 10% (the measurement's own repeatability).
    pub fn halves_agree(&self) -> bool {
        within(self.halves.0, self.halves.1, 0.10)
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Compiles `graph` for the host CPU into plan bytes.
pub fn compile_bytes(graph: &Graph, fusion: Fusion) -> Result<Vec<u8>> {
    let plan = compile(graph, &CompileOptions { target: "host-cpu".into(), fusion, ..Default::default() })?;
    Ok(plan.encode()?)
}

/// Compiles `graph` for the host with every op the GPU runs on the GPU into plan bytes.
pub fn compile_gpu_bytes(graph: &Graph, fusion: Fusion) -> Result<Vec<u8>> {
    let plan = compile(
        graph,
        &CompileOptions { target: "host".into(), fusion, strategy: Strategy::Gpu, ..Default::default() },
    )?;
    Ok(plan.encode()?)
}

/// Which steps of a plan [`time_plan`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// CPU steps, as CPU workloads.
    Cpu,
    /// GPU compute steps, as GPU workloads (uploads, downloads and CPU steps left out).
    Gpu,
}

/// How long the timed runs of one plan should take together, seconds (at least
/// `MIN_RUNS` runs, at most `MAX_RUNS`).
pub struct Repeats {
    pub target_s: f64,
    pub min_runs: usize,
    pub max_runs: usize,
}

/// Times every step of the plan in `bytes` with `threads` threads: warm-up, then runs until
/// `rep` is satisfied; per step of the kind `which` the minimum and the two half-minima, and
/// the median of the whole runs.
pub fn time_plan(bytes: &[u8], threads: usize, rep: &Repeats, which: Steps) -> Result<(Vec<StepTime>, f64)> {
    let plan = Plan::from_bytes(bytes).context("cannot load the compiled plan")?;
    let mut session = Session::new(&plan, SessionOptions { threads, ..Default::default() })?;
    if which == Steps::Gpu {
        match session.gpu_mode() {
            hetc_runtime::GpuMode::Adapter(_) => {}
            hetc_runtime::GpuMode::CpuFallback(why) => anyhow::bail!("no GPU to measure on: {why}"),
            hetc_runtime::GpuMode::None => return Ok((Vec::new(), 0.0)),
        }
    }
    let inputs: Vec<(String, Tensor)> =
        session.inputs().iter().enumerate().map(|(i, (n, s))| (n.to_string(), synthetic(s, i as u64))).collect();
    let refs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let start = Instant::now();
    session.run(&refs)?;
    let warm = start.elapsed().as_secs_f64();
    if warm < rep.target_s / 4.0 {
        session.run(&refs)?;
    }
    let runs = ((rep.target_s / warm.max(1e-6)).ceil() as usize).clamp(rep.min_runs, rep.max_runs);
    let meta = plan.meta();
    let mut per_step: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); meta.steps.len()];
    let mut totals = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let (_, timings) = session.run_profiled(&refs)?;
        totals.push(t.elapsed().as_secs_f64() * 1e6);
        for (i, s) in timings.iter().enumerate() {
            if let Some(v) = per_step.get_mut(i) {
                v.push(s.seconds * 1e6);
            }
        }
    }
    let mut out = Vec::new();
    for (step, times) in meta.steps.iter().zip(per_step) {
        if matches!(step.kernel, Kernel::Copy) && meta.steps.len() > 1 {
            // An output copy the compiler adds around a single op; not what was asked for.
            continue;
        }
        let gpu_compute =
            step.device == hetc_plan::Device::Gpu && !matches!(step.kernel, Kernel::Upload | Kernel::Download);
        let workload = match which {
            Steps::Gpu if gpu_compute => gpu_workload(meta, step),
            Steps::Cpu if step.device == hetc_plan::Device::Cpu => cpu_workload(meta, step, CpuIsa::host(), threads),
            _ => continue,
        }
        .with_context(|| format!("step {}", step.name))?;
        let half = times.len() / 2;
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        out.push(StepTime {
            name: step.name.clone(),
            workload,
            us: min(&times),
            halves: (min(&times[..half]), min(&times[half..])),
        });
    }
    Ok((out, median(&mut totals)))
}
