//! `hetc compile MODEL.onnx --target host-cpu -o MODEL.hplan`.

use crate::inspect::import_options;
use anyhow::{Context, Result, bail};
use clap::Args;
use hetc_compile::{CompileOptions, Fusion, FusionReport, compile_with_report};
use hetc_onnx::import_file;
use std::path::PathBuf;
use std::time::Instant;

/// Targets this build can compile for. Mobile targets arrive with the target descriptions.
pub const TARGETS: &[&str] = &["host-cpu"];

#[derive(Args)]
pub struct CompileArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Target to compile for.
    #[arg(long, default_value = "host-cpu")]
    target: String,
    /// Output plan file (default: the model's name with `.hplan`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Static shape for an input with symbolic dimensions, e.g. `x=1x3x640x640`; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Operator fusion: `egg` (equality saturation, the default) or `none` (one kernel per op).
    #[arg(long, value_enum, default_value_t = FusionArg::Egg)]
    fusion: FusionArg,
    /// Print what the fusion pass did: nodes before and after, e-graph size, rules, pass time.
    #[arg(long)]
    fusion_report: bool,
    /// A profile from `hetc profile`: fills every step's predicted time.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Threads the predicted times assume (default: the profile's largest measured count).
    #[arg(long, requires = "profile")]
    threads: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FusionArg {
    None,
    Egg,
}

fn print_report(r: &FusionReport) {
    crate::outln!(
        "fusion: {} -> {} nodes; e-graph {} nodes in {} classes after {} iterations ({}); cost {:.0} -> {:.0} (egg greedy tree extraction: {:.0}; {}){}",
        r.nodes_before,
        r.nodes_after,
        r.egraph_nodes,
        r.egraph_classes,
        r.iterations,
        r.stop_reason,
        r.cost_before,
        r.cost_after,
        r.cost_tree_greedy,
        r.cost_model,
        if r.fell_back_to_tree { "; DAG extraction fell back to the tree choice" } else { "" }
    );
    let rules: Vec<String> = r.rules.iter().map(|(k, v)| format!("{k} {v}")).collect();
    crate::outln!("fusion rules applied: {}", if rules.is_empty() { "none".to_string() } else { rules.join(", ") });
    crate::outln!(
        "fusion pass: {:.1} ms (saturation {:.1} ms, extraction {:.1} ms)",
        r.total.as_secs_f64() * 1e3,
        r.saturate.as_secs_f64() * 1e3,
        r.extract.as_secs_f64() * 1e3
    );
}

pub fn run(args: &CompileArgs) -> Result<()> {
    if !TARGETS.contains(&args.target.as_str()) {
        bail!("unknown target `{}` (known: {})", args.target, TARGETS.join(", "));
    }
    let start = Instant::now();
    let options = import_options(&args.input_shapes)?;
    let model =
        import_file(&args.model, &options).with_context(|| format!("cannot import {}", args.model.display()))?;
    let fusion = match args.fusion {
        FusionArg::None => Fusion::None,
        FusionArg::Egg => Fusion::Egg,
    };
    let (plan, report) = compile_with_report(&model.graph, &CompileOptions { target: args.target.clone(), fusion })
        .with_context(|| format!("cannot compile {} for {}", args.model.display(), args.target))?;
    let mut plan = plan;
    if let Some(path) = &args.profile {
        let p = crate::predict::load_profile(path)?;
        let threads = args.threads.unwrap_or_else(|| p.default_threads()).max(1);
        crate::predict::fill_predictions(&mut plan.meta, &p, threads)?;
        let total: f64 = plan.meta.steps.iter().map(|s| s.predicted_us as f64).sum();
        crate::outln!("predicted latency: {:.3} ms ({threads} threads, profile {})", total / 1e3, path.display());
    }
    let bytes = plan.encode()?;
    let output = args.output.clone().unwrap_or_else(|| {
        let stem = args.model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        let stem = if stem == "model" {
            args.model.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().into_owned()).unwrap_or(stem)
        } else {
            stem
        };
        PathBuf::from(format!("{stem}.hplan"))
    });
    std::fs::write(&output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    let m = &plan.meta.memory;
    crate::outln!(
        "wrote {} ({:.2} MiB): {} steps, arena {:.2} MiB (lower bound {:.2} MiB, naive {:.2} MiB), weights {:.2} MiB, {:.2} s",
        output.display(),
        bytes.len() as f64 / 1048576.0,
        plan.meta.steps.len(),
        m.arena_bytes as f64 / 1048576.0,
        m.lower_bound_bytes as f64 / 1048576.0,
        m.naive_bytes as f64 / 1048576.0,
        plan.weights.len() as f64 / 1048576.0,
        start.elapsed().as_secs_f64()
    );
    if args.fusion_report {
        match &report {
            Some(r) => print_report(r),
            None => crate::outln!("fusion: off"),
        }
    }
    Ok(())
}
