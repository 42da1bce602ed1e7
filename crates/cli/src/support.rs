//! `hetc support MODEL --target T [--processors cpu,gpu] [--assume-quantized] [--json]`: which
//! ops each processor and each combination of processors runs, why the others are refused,
//! and how many CPU-fallback segments and transfers the model would have (the study's
//! Figure 3, for any model and target). Definitions: `hetc_target::analysis`.

use crate::inspect::import_options;
use anyhow::{Context, Result};
use clap::Args;
use hetc_onnx::import_file;
use hetc_target::CheckOptions;
use hetc_target::analysis::{Combination, SupportReport, analyse};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct SupportArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Target to analyse for (`hetc targets` lists them).
    #[arg(long)]
    target: String,
    /// Processors to consider, comma-separated (default: all of the target's).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    processors: Option<Vec<String>>,
    /// Ask about the model as if post-training quantized to 8 bits (for DSPs and NPUs that run
    /// only quantized ops).
    #[arg(long)]
    assume_quantized: bool,
    /// Static shape for an input with symbolic dimensions, e.g. `x=1x3x640x640`; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SupportArgs) -> Result<()> {
    let catalog = crate::targets::catalog_for(&args.target)?;
    let target = catalog.get(&args.target)?;
    // Name errors before the (possibly slow) import.
    for name in args.processors.iter().flatten().filter(|s| !s.is_empty()) {
        target.processor(name)?;
    }
    let options = import_options(&args.input_shapes)?;
    let model =
        import_file(&args.model, &options).with_context(|| format!("cannot import {}", args.model.display()))?;
    let check = CheckOptions { assume_quantized: args.assume_quantized };
    // `--processors ""` selects nothing, which the analysis refuses with its own message.
    let selected: Option<Vec<String>> =
        args.processors.as_ref().map(|v| v.iter().filter(|s| !s.is_empty()).cloned().collect());
    let mut report = analyse(&model.graph, target, selected.as_deref(), check)?;
    report.model = args.model.display().to_string();
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

fn print(r: &SupportReport) {
    crate::outln!("model      {} ({} compute nodes, in execution order)", r.model, r.compute_nodes);
    crate::outln!("target     {} ({})", r.target, r.device);
    for p in &r.processors {
        crate::outln!("  {:<5} {:<44} {}", p.name, p.model, p.basis);
    }
    crate::outln!(
        "quantized  {}",
        if r.assume_quantized {
            "assumed (8-bit tensors for quantized-only processors)"
        } else {
            "no (--assume-quantized to ask)"
        }
    );
    crate::outln!();
    crate::outln!(
        "{:<14} {:>9} {:>7} {:>11} {:>7} {:>8} {:>8} {:>9}",
        "processors",
        "supported",
        "ratio",
        "unsupported",
        "on cpu",
        "segments",
        "crossing",
        "transfers"
    );
    for c in &r.combinations {
        let p = &c.placement;
        let on_cpu = p.nodes.iter().find(|(k, _)| k.as_str() == cpu_name(r)).map_or(0, |(_, &n)| n);
        let segments = if c.processors.iter().all(|n| n == cpu_name(r)) {
            "-".to_string()
        } else {
            p.fallback_segments.to_string()
        };
        crate::outln!(
            "{:<14} {:>9} {:>6.1}% {:>11} {:>7} {:>8} {:>8} {:>9}",
            c.processors.join("+"),
            format!("{}/{}", c.supported, r.compute_nodes),
            100.0 * c.ratio,
            c.unsupported,
            on_cpu,
            segments,
            p.crossing_edges,
            p.transfers
        );
    }
    crate::outln!();
    crate::outln!(
        "Placement: each node on the most specialised selected processor that runs it (npu, dsp, gpu, cpu), \
         the rest falling back to the cpu; segments are runs of consecutive cpu nodes; crossing counts data \
         edges between processors (graph inputs and outputs live on the cpu), transfers the distinct values moved."
    );
    for c in r.combinations.iter().filter(|c| c.unsupported > 0) {
        crate::outln!();
        crate::outln!("unsupported on {} ({} node{}):", c.processors.join("+"), c.unsupported, plural(c.unsupported));
        for ((op, reason), nodes) in grouped(c) {
            crate::outln!("  {op} x{}: {reason}", nodes.len());
            crate::outln!("    {}", nodes.join(", "));
        }
        if !c.placement.unrunnable.is_empty() {
            crate::outln!("  no processor of the target runs: {}", c.placement.unrunnable.join(", "));
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn cpu_name(r: &SupportReport) -> &str {
    r.processors.iter().find(|p| p.kind == hetc_target::desc::ProcessorKind::Cpu).map_or("cpu", |p| p.name.as_str())
}

/// Unsupported nodes grouped by op and reason (with several processors, the reasons joined),
/// in order of first appearance.
fn grouped(c: &Combination) -> Vec<((String, String), Vec<String>)> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut nodes: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for u in &c.unsupported_nodes {
        let reason = if u.reasons.len() == 1 {
            u.reasons[0].1.clone()
        } else {
            u.reasons.iter().map(|(p, r)| format!("{p}: {r}")).collect::<Vec<_>>().join("; ")
        };
        let key = (u.op.clone(), reason);
        if !nodes.contains_key(&key) {
            order.push(key.clone());
        }
        nodes.entry(key).or_default().push(u.node.clone());
    }
    order
        .into_iter()
        .map(|k| {
            let v = nodes.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
}
