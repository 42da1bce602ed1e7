//! `hetc profile --processors cpu,gpu`: the CPU<->GPU data-sharing terms, measured on the
//! wgpu adapter a session picks (`HETC_ADAPTER` selects another).
//!
//! For a sweep of sizes, a plan `input -> ReLU on the GPU -> output` is compiled and run by
//! the real runtime, so its `Upload` and `Download` steps are the copies co-execution pays;
//! the session's per-step profiling times each around a submit-and-wait. Their minima over
//! the runs are the samples of [`hetc_predictor::Profile::fit_transfer`]
//! (`latency_us + us_per_mb x MB`, uploads and downloads pooled: placement prices both
//! directions alike). The synchronisation term is the smallest download's time: a round
//! trip that moves 4 bytes is the cost of making the CPU wait for the GPU once.

use super::progress;
use crate::bench::synthetic;
use anyhow::{Context, Result, bail};
use hetc_compile::{CompileOptions, Fusion, Strategy, compile};
use hetc_ir::ops::{Unary, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Node, Op, TensorType, ValueRef};
use hetc_plan::Kernel;
use hetc_runtime::{GpuMode, Plan, Session, SessionOptions, Tensor};
use std::time::Instant;

/// Elements (f32) of the copied tensors: 4 bytes to 16 MiB.
pub const SIZES: [usize; 9] = [1, 256, 4096, 16384, 65536, 262_144, 1_048_576, 2_097_152, 4_194_304];

/// Timed runs per size (after one warm-up).
const RUNS: usize = 12;

/// What the sweep measured.
pub struct TransferSweep {
    /// The adapter, as the runtime describes it.
    pub adapter: String,
    /// `(bytes, microseconds)`: minimum over the runs, per size.
    pub upload: Vec<(u64, f64)>,
    pub download: Vec<(u64, f64)>,
    /// Whether each sample's two half-minima agree within 10%, pooled over both directions.
    pub repeatable: usize,
}

impl TransferSweep {
    /// All samples, uploads then downloads.
    pub fn samples(&self) -> Vec<(u64, f64)> {
        self.upload.iter().chain(&self.download).copied().collect()
    }

    /// The smallest download's time: one CPU<->GPU round trip.
    pub fn sync_us(&self) -> f64 {
        self.download.iter().min_by_key(|s| s.0).map_or(0.0, |s| s.1)
    }
}

/// `x [1, n] -> Relu -> y`.
fn relu_graph(n: usize) -> Graph {
    let ty = TensorType::new(DType::F32, vec![1, n]);
    let mut g = Graph::new("transfer");
    let x = g.add_input("x", ty.clone());
    let relu = g.add_node(Node {
        name: "relu".into(),
        op: Op::Unary(Unary { kind: UnaryKind::Relu }),
        num_inputs: 1,
        outputs: vec![ty],
        output_names: vec!["y".into()],
    });
    g.connect(ValueRef { node: x, slot: 0 }, relu, 0);
    g.outputs.push(GraphOutput { name: "y".into(), value: ValueRef { node: relu, slot: 0 } });
    g
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Measures uploads and downloads of every size in [`SIZES`] until `budget` seconds are spent
/// (at least the two smallest sizes: a fit needs two points).
pub fn sweep(budget: f64) -> Result<TransferSweep> {
    let start = Instant::now();
    let mut out = TransferSweep { adapter: String::new(), upload: Vec::new(), download: Vec::new(), repeatable: 0 };
    for (k, &n) in SIZES.iter().enumerate() {
        if k >= 2 && start.elapsed().as_secs_f64() > budget {
            break;
        }
        progress(&format!("profile gpu transfers [{}/{}] {} bytes", k + 1, SIZES.len(), 4 * n));
        let plan = compile(
            &relu_graph(n),
            &CompileOptions {
                target: "host".into(),
                fusion: Fusion::None,
                strategy: Strategy::Gpu,
                ..Default::default()
            },
        )
        .context("cannot compile the transfer plan")?;
        let bytes = plan.encode()?;
        let plan = Plan::from_bytes(&bytes).context("cannot load the transfer plan")?;
        let mut session = Session::new(&plan, SessionOptions::default())?;
        match session.gpu_mode() {
            GpuMode::Adapter(a) => out.adapter = a.label(),
            GpuMode::CpuFallback(why) => bail!("no GPU to measure transfers on: {why}"),
            GpuMode::None => bail!("the transfer plan has no GPU step (ReLU not placed on the GPU)"),
        }
        let x: Tensor = synthetic(&[1, n], k as u64);
        let feeds = [("x", &x)];
        session.run(&feeds)?;
        let meta = plan.meta();
        let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(RUNS); meta.steps.len()];
        for _ in 0..RUNS {
            let (_, timings) = session.run_profiled(&feeds)?;
            for (i, t) in timings.iter().enumerate() {
                if t.device != "gpu" {
                    continue;
                }
                times[i].push(t.seconds * 1e6);
            }
        }
        for (step, t) in meta.steps.iter().zip(&times) {
            let list = match step.kernel {
                Kernel::Upload => &mut out.upload,
                Kernel::Download => &mut out.download,
                _ => continue,
            };
            if t.len() != RUNS {
                bail!("step {} did not run on the GPU in every run", step.name);
            }
            let half = t.len() / 2;
            if hetc_predictor::fit::within(min(&t[..half]), min(&t[half..]), 0.10) {
                out.repeatable += 1;
            }
            list.push((4 * n as u64, min(t)));
        }
    }
    progress("");
    eprintln!();
    if out.upload.len() < 2 || out.download.len() < 2 {
        bail!("the transfer plans had no upload or download steps to time");
    }
    Ok(out)
}
