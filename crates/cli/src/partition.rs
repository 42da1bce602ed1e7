//! `hetc partition MODEL --target T [--granularity G] [--gpu-share-max F] [--profile P] [--json]`:
//! where each op of the fused model would run, predicted with the target's cost model or, with
//! `--profile`, the latency predictor (the target's model where the profile has no numbers):
//! single processor, layer-level placement (ops one after another), subgraph placement
//! (parallel branches on different processors overlapping), CoDL's intra-operator splits
//! (`op`) and operator chains (`chain`). Every candidate is predicted both ways: with the
//! runtime's two queues (the critical path, what `auto` compares) and one op after another
//! (what the layer and co-execution searches minimise). For the models CoDL measured on the
//! Snapdragon 855, its published latency is printed beside the prediction.
//!
//! This command plans; `hetc compile` turns a placement into a plan the runtime executes.

use crate::inspect::import_options;
use crate::placing::{Costs, GranularityArg, StrategyArg};
use anyhow::{Context, Result, bail};
use clap::Args;
use hetc_ir::{Graph, NodeId};
use hetc_onnx::import_file;
use hetc_partition::{
    CoexecOptions, CoexecPlan, Objective, TargetCost, materialize, place_coexec, place_layers, place_layers_with,
    schedule_placed,
};
use hetc_plan::Device;
use hetc_target::CheckOptions;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct PartitionArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Target (`hetc targets` lists them).
    #[arg(long)]
    target: String,
    #[arg(long, value_enum, default_value = "auto")]
    granularity: GranularityArg,
    /// Largest share of a split op the GPU may take (leaves the GPU headroom for the user
    /// interface).
    #[arg(long, default_value_t = 1.0, value_name = "SHARE")]
    gpu_share_max: f64,
    /// Static shape for an input with symbolic dimensions, e.g. `x=1x3x640x640`; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// A profile from `hetc profile`: the latency predictor prices ops (GPU ops without GPU
    /// models in the profile, and transfers while its transfer term is unfitted, come from the
    /// target's model).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Threads the predictor assumes (default: the profile's largest measured count).
    #[arg(long, requires = "profile")]
    threads: Option<usize>,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

/// CoDL's measured latency on the Snapdragon 855 (Xiaomi 9), ms: CoDL (MobiSys'22), Table 4.
const CODL_SD855_MS: [(&str, f64); 5] = [
    ("yolov2", 140.0),
    ("vgg16", 137.0),
    ("posenet_mnv1", 244.0),
    ("fast_style_transfer", 267.0),
    ("retinaface_mnet025", 680.0),
];

#[derive(Serialize)]
struct Report {
    model: String,
    target: String,
    cost_model: String,
    /// With `--profile`: how many ops of each processor the predictor priced by their
    /// kernel's model, by a family's, and by the target's model (it had none).
    bases: Vec<String>,
    /// With `--profile` for another target than `--target`: says so.
    profile_note: Option<String>,
    granularity: GranularityArg,
    chosen: &'static str,
    predicted_ms: f64,
    /// Predicted latency of each granularity with CPU and GPU work overlapping as the runtime
    /// issues it (the critical path), ms (`null`: impossible).
    candidates: Vec<(&'static str, Option<f64>)>,
    /// The same, ops one after another.
    sequential: Vec<(&'static str, Option<f64>)>,
    ops: usize,
    split_height: usize,
    split_channels: usize,
    chained: usize,
    chains: usize,
    gpu_ops: usize,
    codl_sd855_ms: Option<f64>,
    search_ms: f64,
    placement: Vec<OpRow>,
}

#[derive(Serialize)]
struct OpRow {
    node: String,
    op: String,
    /// `cpu`, `gpu`, or `split`.
    place: String,
    dim: Option<&'static str>,
    gpu_share: Option<f64>,
    chain: Option<usize>,
}

/// The model's name: its folder for the model-zoo layout (`resnet18/model.onnx`), else the
/// file stem (`model` when the path has none). `hetc compile` names its default output by it.
pub fn model_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    if stem == "model"
        && let Some(dir) = path.parent().and_then(Path::file_name)
    {
        return dir.to_string_lossy().into_owned();
    }
    stem
}

pub fn run(args: &PartitionArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.gpu_share_max) {
        bail!("--gpu-share-max must be between 0 and 1, got {}", args.gpu_share_max);
    }
    let catalog = crate::targets::catalog_for(&args.target)?;
    let target = catalog.get(&args.target)?;
    let options = import_options(&args.input_shapes)?;
    let model =
        import_file(&args.model, &options).with_context(|| format!("cannot import {}", args.model.display()))?;
    let (fused, _) = hetc_compile::fuse(&model.graph).context("fusion failed")?;
    let kernels = crate::targets::gpu_kernels();
    let target_cost = TargetCost::new(target, kernels.as_deref(), CheckOptions::default())
        .with_context(|| format!("target {} lacks figures for the cost model", args.target))?;
    let predictor = args.profile.as_deref().map(crate::predict::load_profile).transpose()?;
    let predicted = match (&predictor, &args.profile) {
        (Some(p), Some(path)) => {
            let threads = args.threads.unwrap_or_else(|| p.default_threads());
            if threads == 0 {
                bail!("--threads must be at least 1");
            }
            Some((p, threads, path.display().to_string()))
        }
        _ => None,
    };
    let costs = Costs::new(target_cost, predicted);
    let cost = costs.model();
    let start = Instant::now();
    let layer = place_layers(&fused, cost)?;
    let subgraph = place_layers_with(&fused, cost, Objective::Overlap)?;
    let share = args.gpu_share_max;
    let op = place_coexec(&fused, cost, &layer, CoexecOptions { max_chain: 1, gpu_share_max: share })?;
    let chain = place_coexec(
        &fused,
        cost,
        &layer,
        CoexecOptions { max_chain: hetc_partition::coexec::MAX_CHAIN, gpu_share_max: share },
    )?;
    let search_ms = start.elapsed().as_secs_f64() * 1e3;

    let whole = |devices: Vec<(NodeId, Device)>| -> Result<Option<f64>> {
        let map: HashMap<NodeId, Device> = devices.into_iter().collect();
        overlapped(&fused, cost, &map)
    };
    let ids = || layer.devices.iter().map(|d| d.0);
    let split = |plan: &CoexecPlan| -> Result<Option<f64>> {
        if plan.chains.is_empty() {
            return whole(plan.ops.iter().copied().zip(plan.devices.iter().copied()).collect());
        }
        let g = materialize(&fused, plan, cost)?;
        overlapped(&g.graph, cost, &g.devices)
    };
    let ms = |t: Option<f64>| t.map(|t| t / 1e3);
    let candidates: Vec<(&'static str, Option<f64>)> = vec![
        ("single", ms(whole(ids().zip(layer.single.iter().copied()).collect())?)),
        ("layer", ms(whole(layer.devices.clone())?)),
        ("subgraph", ms(whole(subgraph.devices.clone())?)),
        ("op", ms(split(&op)?)),
        ("chain", ms(split(&chain)?)),
    ];
    let problem = hetc_partition::Problem::new(&fused, cost)?;
    let sequential_of = |devices: &[(NodeId, Device)]| {
        let loc: Vec<usize> = devices.iter().map(|d| hetc_partition::problem::dev(d.1)).collect();
        Some(problem.evaluate(&loc).0 / 1e3).filter(|t| t.is_finite())
    };
    let sequential: Vec<(&'static str, Option<f64>)> = vec![
        ("single", Some(layer.single_us / 1e3)),
        ("layer", Some(layer.predicted_us / 1e3)),
        ("subgraph", sequential_of(&subgraph.devices)),
        ("op", Some(op.predicted_us / 1e3)),
        ("chain", Some(chain.predicted_us / 1e3)),
    ];
    let chosen = match args.granularity {
        // Ties go to the simpler plan: candidates are listed simplest first.
        GranularityArg::Auto => {
            candidates
                .iter()
                .fold(("single", f64::INFINITY), |best, &(n, t)| match t {
                    Some(t) if t < best.1 - 1e-9 => (n, t),
                    _ => best,
                })
                .0
        }
        g => StrategyArg::from(g).name(),
    };
    let empty = CoexecPlan { chains: Vec::new(), ..op.clone() };
    let (plan, devices): (&CoexecPlan, Vec<Device>) = match chosen {
        "single" => (&empty, layer.single.clone()),
        "layer" => (&empty, layer.devices.iter().map(|d| d.1).collect()),
        "subgraph" => (&empty, subgraph.devices.iter().map(|d| d.1).collect()),
        "op" => (&op, op.devices.clone()),
        _ => (&chain, chain.devices.clone()),
    };
    let stats = plan.stats();
    let placement: Vec<OpRow> = plan
        .ops
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let node = fused.node(id);
            let c = plan.chain_of(i);
            OpRow {
                node: node.name.clone(),
                op: node.op.name().to_string(),
                place: c.map_or_else(|| devices[i].name().to_string(), |_| "split".to_string()),
                dim: c.map(|c| c.dim.name()),
                gpu_share: c.map(|c| c.gpu_share),
                chain: c.and_then(|c| plan.chains.iter().position(|x| x == c)),
            }
        })
        .collect();
    let name = model_name(&args.model);
    let report = Report {
        target: args.target.clone(),
        cost_model: layer.cost_model.clone(),
        bases: costs.basis_lines(),
        profile_note: costs.target_note(&args.target, predictor.as_ref()),
        granularity: args.granularity,
        chosen,
        predicted_ms: candidates.iter().find(|c| c.0 == chosen).and_then(|c| c.1).unwrap_or(f64::NAN),
        candidates,
        sequential,
        ops: stats.ops,
        split_height: stats.split_height,
        split_channels: stats.split_channels,
        chained: stats.chained,
        chains: stats.chains,
        gpu_ops: placement.iter().filter(|r| r.place == "gpu").count(),
        codl_sd855_ms: (args.target == "sd855")
            .then(|| CODL_SD855_MS.iter().find(|(m, _)| *m == name).map(|m| m.1))
            .flatten(),
        search_ms,
        placement,
        model: name,
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report, kernels.is_none());
    }
    Ok(())
}

/// The two-queue prediction of `graph` with `devices` (nodes not listed on the CPU), us;
/// `None` when a node sits where it cannot run.
fn overlapped(
    graph: &Graph,
    cost: &dyn hetc_partition::CostModel,
    devices: &HashMap<NodeId, Device>,
) -> Result<Option<f64>> {
    let s = schedule_placed(graph, cost, &|id| devices.get(&id).copied().unwrap_or(Device::Cpu))?;
    Ok(Some(s.timeline.latency_us).filter(|t| t.is_finite()))
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 }
}

fn print(r: &Report, no_gpu_kernels: bool) {
    crate::outln!("model      {} ({} ops after fusion)", r.model, r.ops);
    crate::outln!("target     {}", r.target);
    crate::outln!("times      {}", r.cost_model);
    for b in &r.bases {
        crate::outln!("           {b}");
    }
    if let Some(n) = &r.profile_note {
        crate::outln!("           {n}");
    }
    if no_gpu_kernels {
        crate::outln!("note       this build has no GPU kernels, so nothing is placed on the GPU");
    }
    crate::outln!();
    crate::outln!("{:<11} {:>14} {:>14}", "granularity", "predicted ms", "sequential ms");
    let cell = |t: &Option<f64>| t.map_or("impossible".to_string(), |t| format!("{t:.2}"));
    for ((name, t), (_, seq)) in r.candidates.iter().zip(&r.sequential) {
        let mark = if *name == r.chosen { "  <- chosen" } else { "" };
        crate::outln!("{:<11} {:>14} {:>14}{mark}", name, cell(t), cell(seq));
    }
    crate::outln!(
        "(predicted: CPU and GPU work overlapping as the runtime issues it; sequential: one op after another)"
    );
    if let Some(codl) = r.codl_sd855_ms {
        crate::outln!("{:<10} {:>14.2}  (CoDL measured on the Snapdragon 855, MobiSys'22)", "codl", codl);
    }
    crate::outln!();
    let split = r.split_height + r.split_channels;
    crate::outln!(
        "split      {} of {} ops ({:.0}% by height, {:.0}% by channels of the split ops); {} ops in {} chains ({:.0}% of split ops); {} ops whole on the GPU",
        split,
        r.ops,
        pct(r.split_height, split),
        pct(r.split_channels, split),
        r.chained,
        r.chains,
        pct(r.chained, split),
        r.gpu_ops
    );
    crate::outln!("search     {:.1} ms", r.search_ms);
    crate::outln!();
    crate::outln!("{:<24} {:<20} {:<6} {:<9} {:>6} {:>6}", "op", "node", "place", "dim", "share", "chain");
    for row in &r.placement {
        crate::outln!(
            "{:<24} {:<20} {:<6} {:<9} {:>6} {:>6}",
            row.op,
            truncate(&row.node, 20),
            row.place,
            row.dim.unwrap_or("-"),
            row.gpu_share.map_or("-".to_string(), |s| format!("{s:.1}")),
            row.chain.map_or("-".to_string(), |c| c.to_string())
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).collect::<String>() + "…" }
}
