//! `hetc compile MODEL.onnx --target T [--strategy S | --granularity G] -o MODEL.hplan`, for
//! every target of `hetc targets`.

use crate::inspect::import_options;
use crate::placing::{self, Costs, GranularityArg, Placed, SplitOptions, StrategyArg};
use anyhow::{Context, Result, bail};
use clap::Args;
use hetc_compile::{CompileError, CompileOptions, CompiledPlan, Fusion, FusionReport, compile_placed};
use hetc_ir::Graph;
use hetc_onnx::import_file;
use hetc_partition::schedule::plan_timeline;
use hetc_partition::{TargetCost, Timeline};
use hetc_target::CheckOptions;
use std::path::PathBuf;
use std::time::Instant;

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
    /// A profile from `hetc profile`: the latency predictor then prices placement (`layer`
    /// and finer search with its op times; GPU ops without GPU models in the profile, and
    /// transfers while its transfer term is unfitted, come from the target's model) and every
    /// step's predicted time.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Threads the predicted times assume (default: the profile's largest measured count).
    #[arg(long, requires = "profile")]
    threads: Option<usize>,
    /// Placement: `cpu` (everything on the CPU), `gpu` (every op the target's GPU runs on the
    /// GPU, the rest on the CPU, with transfers between them), or one of the granularities of
    /// `--granularity`, placed by the cost model: the latency predictor with `--profile`, else
    /// the target's stand-in model.
    #[arg(long, value_enum, default_value_t = StrategyArg::Cpu)]
    strategy: StrategyArg,
    /// Co-execution granularity, placed by the target's cost model (instead of `--strategy`):
    /// `single` (the faster processor by prediction), `layer` (whole ops, run one after
    /// another), `subgraph` (whole ops, parallel branches on different processors
    /// overlapping), `op` and `chain` (CoDL's split ops and chains of them), `auto` (the
    /// fastest of those as the two-queue simulation predicts them).
    #[arg(long, value_enum, conflicts_with = "strategy")]
    granularity: Option<GranularityArg>,
    /// Largest share of a split op the GPU may take (`op`, `chain`, `auto`): headroom for the
    /// user interface.
    #[arg(long, value_name = "SHARE")]
    gpu_share_max: Option<f64>,
    /// Split every op that can be split (`op`: one at a time, `chain`/`auto`: in chains), with
    /// these GPU shares in turn, whatever the cost model predicts: for tests and measurement.
    #[arg(long, value_name = "SHARES", value_delimiter = ',')]
    force_split: Option<Vec<f64>>,
    /// Give every split this GPU share instead of the chosen one (ratio sweeps).
    #[arg(long, value_name = "SHARE")]
    split_share: Option<f64>,
    /// `auto` on `host`: timed runs of each candidate plan (CPU only, GPU, layer, subgraph,
    /// chain); the fastest median is kept. 0 keeps the predicted choice without measuring.
    #[arg(long, default_value_t = 7, value_name = "RUNS")]
    measure_runs: usize,
    /// Worker threads of the measured runs (default: all cores).
    #[arg(long, default_value_t = 0, value_name = "N")]
    measure_threads: usize,
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
    let strategy = args.granularity.map_or(args.strategy, StrategyArg::from);
    let catalog = crate::targets::catalog_for(&args.target)?;
    let target = catalog.get(&args.target)?;
    let kernels = crate::targets::gpu_kernels();
    let target_cost = TargetCost::new(target, kernels.as_deref(), CheckOptions::default())
        .with_context(|| format!("target {} lacks figures for the cost model", args.target))?;
    let predictor = args.profile.as_deref().map(crate::predict::load_profile).transpose()?;
    let threads = match (&predictor, args.threads) {
        (_, Some(0)) => bail!("--threads must be at least 1"),
        (Some(p), t) => t.unwrap_or_else(|| p.default_threads()).max(1),
        (None, _) => 0,
    };
    let costs = Costs::new(
        target_cost,
        predictor.as_ref().zip(args.profile.as_ref()).map(|(p, path)| (p, threads, path.display().to_string())),
    );
    if strategy != StrategyArg::Cpu && !costs.has_gpu() {
        bail!("target `{}` has no GPU that hetc can drive; use --strategy cpu", args.target);
    }
    let start = Instant::now();
    let options = import_options(&args.input_shapes)?;
    let model =
        import_file(&args.model, &options).with_context(|| format!("cannot import {}", args.model.display()))?;
    let fusion = match args.fusion {
        FusionArg::None => Fusion::None,
        FusionArg::Egg => Fusion::Egg,
    };
    if strategy.max_chain().is_none()
        && (args.force_split.is_some() || args.split_share.is_some() || args.gpu_share_max.is_some())
    {
        bail!("--gpu-share-max, --force-split and --split-share need granularity op, chain or auto");
    }
    let gpu_shares_cpu =
        args.target == "host" && strategy != StrategyArg::Cpu && crate::targets::host_gpu_is_software();
    let forced = args.force_split.is_some() || args.split_share.is_some();
    if gpu_shares_cpu && !forced && !matches!(strategy, StrategyArg::Gpu | StrategyArg::Single | StrategyArg::Layer) {
        crate::outln!(
            "co-execution off: the GPU adapter is software on the CPU's cores, so CPU and GPU work cannot overlap; \
             ops are placed whole, one after another (--force-split and --split-share still split)"
        );
    }
    let split = SplitOptions {
        gpu_share_max: args.gpu_share_max,
        force: args.force_split.clone(),
        share: args.split_share,
        gpu_shares_cpu,
    };
    let compile_with = |strategy: StrategyArg| compile_once(args, &model.graph, fusion, &costs, strategy, &split);
    let measure = strategy == StrategyArg::Auto && args.target == "host" && args.measure_runs > 0;
    let (mut plan, report, placed) = if measure {
        crate::autotune::fastest(&compile_with, args.measure_runs, args.measure_threads)?
    } else {
        compile_with(strategy)?
    };
    let cost = costs.model();
    // Which model placed the plan (and priced it): the predictor with `--profile`.
    let placement = match strategy {
        StrategyArg::Cpu => "everything on the CPU (--strategy cpu)",
        StrategyArg::Gpu => "every op the GPU runs on the GPU (--strategy gpu)",
        _ => "searched with the cost model",
    };
    if predictor.is_some() || !matches!(strategy, StrategyArg::Cpu | StrategyArg::Gpu) {
        crate::outln!("cost model: {}", cost.label());
    }
    crate::outln!("placement: {placement}");
    for line in costs.basis_lines() {
        crate::outln!("{line}");
    }
    if let Some(note) = costs.target_note(&args.target, predictor.as_ref()) {
        crate::outln!("{note}");
    }
    // The stand-in model's host figures are read off this machine and are no predictor; host
    // plans get measured predictions from `--profile` instead.
    let fill = predictor.is_some() || !args.target.starts_with("host");
    if let Some(p) = placed.as_ref().filter(|_| fill) {
        placing::fill_predictions(&mut plan.meta, p, cost, predictor.as_ref().map(|p| (p, threads)))?;
        let basis = match &predictor {
            Some(p) => format!(
                "{} steps by the latency predictor at {threads} threads",
                if p.has_gpu_models() { "CPU and GPU" } else { "CPU" }
            ),
            None => cost.label(),
        };
        print_timeline(&plan_timeline(&plan.meta), &basis);
        if !p.candidates.is_empty() {
            let c: Vec<String> = p
                .candidates
                .iter()
                .map(|(s, t)| {
                    format!("{} {}", s.name(), t.map_or("impossible".into(), |t| format!("{:.3} ms", t / 1e3)))
                })
                .collect();
            crate::outln!("granularity: chose {} ({})", p.chosen.name(), c.join(", "));
        }
        if let Some(l) = &p.layer {
            let c: Vec<String> = l
                .candidates
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        c.name,
                        c.predicted_us.map_or("impossible".into(), |t| format!("{:.3} ms", t / 1e3))
                    )
                })
                .collect();
            crate::outln!("layer placement: chose {} ({})", l.chosen, c.join(", "));
        }
    }
    if let Some((c, parts)) = placed.as_ref().and_then(|p| p.coexec.as_ref()) {
        let s = c.stats();
        crate::outln!(
            "co-execution: {} ops split ({} by height, {} by channels) in {} splits, {} ops chained; layer placement alone {:.3} ms",
            parts.len(),
            s.split_height,
            s.split_channels,
            c.chains.len(),
            s.chained,
            c.layer_us / 1e3
        );
    }
    let bytes = plan.encode()?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.hplan", crate::partition::model_name(&args.model))));
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
    if plan.meta.steps.iter().any(|s| s.device == hetc_plan::Device::Gpu) {
        let g = &plan.meta.gpu_memory;
        let on_gpu = plan.meta.steps.iter().filter(|s| s.device == hetc_plan::Device::Gpu && s.gpu.is_some()).count();
        let transfers =
            plan.meta.steps.iter().filter(|s| s.gpu.is_none() && s.device == hetc_plan::Device::Gpu).count();
        crate::outln!(
            "gpu: {on_gpu} steps, {transfers} transfers, {} shaders, GPU arena {:.2} MiB (lower bound {:.2} MiB)",
            plan.meta.shaders.len(),
            g.arena_bytes as f64 / 1048576.0,
            g.lower_bound_bytes as f64 / 1048576.0
        );
    }
    if args.fusion_report {
        match &report {
            Some(r) => print_report(r),
            None => crate::outln!("fusion: off"),
        }
    }
    Ok(())
}

/// The predicted latency: the critical path of the two queues, what each processor computes,
/// and what the steps add up to one after another.
fn print_timeline(t: &Timeline, source: &str) {
    crate::outln!(
        "predicted latency: {:.3} ms ({source}); cpu busy {:.3} ms, gpu busy {:.3} ms, transfers {:.3} ms, {:.3} ms one step after another",
        t.latency_us / 1e3,
        t.busy_us[0] / 1e3,
        t.busy_us[1] / 1e3,
        t.transfer_us / 1e3,
        t.sum_us / 1e3
    );
}

/// One compiled candidate: the plan, the fusion report and the placement behind it.
pub type Compiled = (CompiledPlan, Option<FusionReport>, Option<Placed>);

/// Compiles `graph` placed by `strategy`.
fn compile_once(
    args: &CompileArgs,
    graph: &Graph,
    fusion: Fusion,
    costs: &Costs<'_>,
    strategy: StrategyArg,
    split: &SplitOptions,
) -> Result<Compiled> {
    // Placement happens on the graph as lowered (fused), inside the compiler.
    let mut placed: Option<Placed> = None;
    let mut place = |g: &Graph| -> Result<hetc_compile::Placed, CompileError> {
        let p = placing::place(g, costs, strategy, split).map_err(|e| {
            CompileError::Placement(format!("cannot place {} on {}: {e:#}", args.model.display(), args.target))
        })?;
        let out = hetc_compile::Placed { graph: p.graph.clone(), placement: p.placement.clone() };
        placed = Some(p);
        Ok(out)
    };
    let (plan, report) = compile_placed(
        graph,
        &CompileOptions { target: args.target.clone(), fusion, ..Default::default() },
        &mut place,
    )
    .with_context(|| format!("cannot compile {} for {}", args.model.display(), args.target))?;
    Ok((plan, report, placed))
}
