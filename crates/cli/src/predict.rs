//! `hetc predict MODEL --target T [--profile P]`: predicted time per op and in total, and the
//! profile loading that `hetc compile --profile` and `hetc partition --profile` share.

use crate::inspect::import_options;
use anyhow::{Context, Result, bail};
use clap::Args;
use hetc_compile::{CompileOptions, compile};
use hetc_onnx::import_file;
use hetc_predictor::derived::{CpuFigures, cpu_profile};
use hetc_predictor::{Basis, Predictor, Profile};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct PredictArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Target: `host-cpu`/`host` (needs `--profile`) or a built-in phone (`sd855`, ...), whose
    /// coefficients are derived from its published peak figures.
    #[arg(long, default_value = "host-cpu")]
    target: String,
    /// A profile written by `hetc profile` (overrides a built-in target's derived one).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// CPU threads (default: the profile's largest measured count, or the target's big cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Static shape for an input with symbolic dimensions, e.g. `x=1x3x640x640`; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
}

/// Reads and validates a profile file.
pub fn load_profile(path: &Path) -> Result<Predictor> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read profile {}", path.display()))?;
    let profile = Profile::from_toml(&text).with_context(|| format!("profile {}", path.display()))?;
    Ok(Predictor::new(profile)?)
}

/// The predictor for `target`: the given profile, or one derived from a built-in target's
/// figures. This machine's targets have no published figures: they need a measured profile.
pub fn predictor_for(target: &str, profile: Option<&Path>) -> Result<Predictor> {
    if let Some(p) = profile {
        return load_profile(p);
    }
    if matches!(target, "host" | "host-cpu") {
        bail!(
            "target `{target}` needs a measured profile: run `hetc profile --out host.profile.toml` and pass --profile"
        );
    }
    let catalog = crate::targets::catalog_for(target)?;
    let t = catalog.get(target).with_context(|| format!("unknown target `{target}`"))?;
    let (cpu, _) = t.cpu();
    let f =
        t.figures(&cpu.name).with_context(|| format!("target {target} lacks the figures a derived profile needs"))?;
    let big = cpu
        .clusters
        .iter()
        .filter(|c| c.role != hetc_target::desc::ClusterRole::Efficiency)
        .map(|c| c.count)
        .sum::<usize>()
        .max(1);
    let link = t.desc.processors.iter().find(|p| p.name == "gpu").and_then(|g| t.link(&cpu.name, &g.name).ok());
    let figures = CpuFigures {
        peak_gflops: f.gflops,
        cores: big,
        gbps: f.gbps,
        dispatch_us: f.dispatch_us,
        link: link.map(|l| (l.latency_us, l.gbps)),
        provenance: format!("targets/{target}.toml; figure quality {:?}", f.quality),
    };
    Ok(Predictor::new(cpu_profile(target, &figures))?)
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let p = predictor_for(&args.target, args.profile.as_deref())?;
    let threads = args.threads.unwrap_or_else(|| p.default_threads());
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    let options = import_options(&args.input_shapes)?;
    let model =
        import_file(&args.model, &options).with_context(|| format!("cannot import {}", args.model.display()))?;
    // Mobile targets run hetc's own CPU kernels (portable build), so the host-cpu lowering
    // is their plan too.
    let plan = compile(&model.graph, &CompileOptions { target: args.target.clone(), ..Default::default() })
        .with_context(|| format!("cannot compile {}", args.model.display()))?;
    let meta = &plan.meta;
    crate::outln!("target {} ({}), {threads} threads", args.target, p.profile().note);
    crate::outln!("{:>4}  {:<24} {:>11}  {:<8} name", "step", "kernel", "predicted", "basis");
    let mut total = 0.0;
    for (i, step) in meta.steps.iter().enumerate() {
        let w = hetc_predictor::workload::cpu_workload(meta, step, p.isa(), threads)
            .with_context(|| format!("step {}", step.name))?;
        let r = p.predict(&w).with_context(|| format!("step {}", step.name))?;
        total += r.us;
        let basis = match r.basis {
            Basis::Kernel => "kernel",
            Basis::Fallback => "family",
        };
        crate::outln!("{i:>4}  {:<24} {:>8.1} us  {basis:<8} {}", w.key, r.us, step.name);
    }
    crate::outln!("total predicted: {:.3} ms over {} steps", total / 1e3, meta.steps.len());
    Ok(())
}
