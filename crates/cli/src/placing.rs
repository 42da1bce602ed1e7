//! Placement for `hetc compile --strategy cpu|gpu|single|layer|subgraph|op|chain|auto` (or
//! `--granularity`) on any target: which processor runs each node of the fused graph, decided
//! from the target's support tables and, from `single` on, the target's cost model
//! (hetc-partition). `op`, `chain` and `auto` may split ops between the processors (CoDL's
//! co-execution): the graph is then rewritten into parts ([`hetc_partition::materialize`]).
//! Every placement is predicted with the runtime's two queues
//! ([`hetc_partition::schedule`]); when it uses both processors, its list order becomes the
//! plan's step order, so that GPU work is issued before the CPU work it overlaps. Steps get
//! the cost model's predicted times.
//!
//! The cost model is the target's stand-in roofline model, or, with `--profile`, the latency
//! predictor ([`Costs`]).

use anyhow::{Context, Result, bail};
use hetc_compile::Placement;
use hetc_ir::{Graph, NodeId, Op};
use hetc_partition::{
    CoexecOptions, CoexecPlan, CostModel, LayerPlacement, Objective, PredictorCost, SplitPart, TargetCost, Timeline,
    force_coexec, materialize, place_coexec, place_layers, place_layers_with, schedule_placed,
};
use hetc_plan::{Device, Kernel, PlanMeta};
use hetc_predictor::Predictor;
use std::collections::HashMap;

/// The cost model placement searches with.
pub enum Costs<'a> {
    /// The target's stand-in roofline model (no `--profile`).
    Target(TargetCost<'a>),
    /// The latency predictor's profile, the target's model where it has no numbers (boxed:
    /// it is twice the other's size).
    Predicted(Box<PredictorCost<'a>>),
}

impl<'a> Costs<'a> {
    /// The predictor's model when a profile is given, else the target's.
    pub fn new(target: TargetCost<'a>, predictor: Option<(&'a Predictor, usize, String)>) -> Self {
        match predictor {
            Some((p, threads, source)) => Costs::Predicted(Box::new(PredictorCost::new(p, threads, target, &source))),
            None => Costs::Target(target),
        }
    }

    pub fn model(&self) -> &dyn CostModel {
        match self {
            Costs::Target(c) => c,
            Costs::Predicted(c) => c.as_ref(),
        }
    }

    pub fn has_gpu(&self) -> bool {
        match self {
            Costs::Target(c) => c.has_gpu(),
            Costs::Predicted(c) => c.has_gpu(),
        }
    }

    /// A note when the profile describes another target than the one placed for (its CPU
    /// times are then another machine's); `host` and `host-cpu` share one CPU.
    pub fn target_note(&self, target: &str, predictor: Option<&Predictor>) -> Option<String> {
        let profiled = &predictor?.profile().target;
        let base = |t: &str| if t == "host-cpu" { "host".to_string() } else { t.to_string() };
        (base(profiled) != base(target)).then(|| {
            format!("note: the profile describes target `{profiled}`, not `{target}`: its CPU times are that machine's")
        })
    }

    /// Lines on where the latency predictor's times came from, per processor: ops by their
    /// kernel's model, by a family's, or by the target's model where the predictor had none.
    pub fn basis_lines(&self) -> Vec<String> {
        let Costs::Predicted(c) = self else { return Vec::new() };
        let mut lines = Vec::new();
        for device in [Device::Cpu, Device::Gpu] {
            let b = c.bases(device);
            let n = b.kernel.len() + b.family.len() + b.target.len() + b.free.len();
            if n == 0 || (device == Device::Gpu && !c.gpu_from_profile()) {
                continue;
            }
            let mut line = format!(
                "{} ops priced: {} by their kernel's model, {} by a family's fallback model, {} by the target's model, {} view ops (no step)",
                device.name().to_uppercase(),
                b.kernel.len(),
                b.family.len(),
                b.target.len(),
                b.free.len()
            );
            if !b.target.is_empty() {
                let list: Vec<&str> = b.target.iter().map(String::as_str).take(3).collect();
                line += &format!(" ({}{})", list.join("; "), if b.target.len() > 3 { "; ..." } else { "" });
            }
            lines.push(line);
        }
        lines
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyArg {
    /// Everything on the CPU.
    Cpu,
    /// Every op the target's GPU runs (its table and hetc's WGSL kernels agree) on the GPU, the
    /// rest on the CPU, with the transfers this needs.
    Gpu,
    /// The faster single processor by the cost model: the CPU alone, or the GPU with what it
    /// lacks on the CPU.
    Single,
    /// Each op whole on the processor the cost model prefers, ops run one after another,
    /// transfers counted; never predicted slower than `single`.
    Layer,
    /// Each op whole on one processor, predicted with the runtime's two queues, so that
    /// parallel branches placed on different processors overlap (NN-Stretch, Band); never
    /// predicted slower than `single`.
    Subgraph,
    /// `layer`, then single ops split between the CPU and the GPU where the cost model
    /// predicts it pays (CoDL's hybrid-dimension partitioning).
    Op,
    /// `layer`, then chains of split ops that share data only at their ends (CoDL's operator
    /// chains); single splits are chains of one.
    Chain,
    /// The fastest of `single`, `layer`, `subgraph`, `op` and `chain` as the two-queue
    /// simulation predicts their plans (ties to the simpler). On `host`, measured instead
    /// (`--measure-runs`).
    Auto,
}

impl StrategyArg {
    /// Longest chain the co-execution search may build (`None`: no splits).
    pub fn max_chain(self) -> Option<usize> {
        match self {
            StrategyArg::Op => Some(1),
            StrategyArg::Chain | StrategyArg::Auto => Some(hetc_partition::coexec::MAX_CHAIN),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StrategyArg::Cpu => "cpu",
            StrategyArg::Gpu => "gpu",
            StrategyArg::Single => "single",
            StrategyArg::Layer => "layer",
            StrategyArg::Subgraph => "subgraph",
            StrategyArg::Op => "op",
            StrategyArg::Chain => "chain",
            StrategyArg::Auto => "auto",
        }
    }
}

/// The co-execution granularities (hetc's issue 7, after CoDL): `--granularity` of `hetc
/// compile` and `hetc partition`, the same placements as the matching `--strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GranularityArg {
    /// The fastest of the others, as the two-queue simulation predicts them.
    Auto,
    /// Ops split between the processors one at a time (CoDL).
    Op,
    /// Ops split in chains that share data only at their ends (CoDL).
    Chain,
    /// Each op whole on one processor, ops run one after another.
    Layer,
    /// Each op whole on one processor, parallel branches on different processors overlapping.
    Subgraph,
    /// The faster single processor by prediction (what it cannot run on the other).
    Single,
}

impl From<GranularityArg> for StrategyArg {
    fn from(g: GranularityArg) -> Self {
        match g {
            GranularityArg::Auto => StrategyArg::Auto,
            GranularityArg::Op => StrategyArg::Op,
            GranularityArg::Chain => StrategyArg::Chain,
            GranularityArg::Layer => StrategyArg::Layer,
            GranularityArg::Subgraph => StrategyArg::Subgraph,
            GranularityArg::Single => StrategyArg::Single,
        }
    }
}

/// Co-execution options of `hetc compile`.
#[derive(Debug, Clone, Default)]
pub struct SplitOptions {
    /// Largest GPU share of a split (1 when unset).
    pub gpu_share_max: Option<f64>,
    /// Split every op that can be split, with these GPU shares in turn, whatever the cost model
    /// predicts (testing and measurement).
    pub force: Option<Vec<f64>>,
    /// Replace the GPU share of every chosen split by this one (ratio sweeps).
    pub share: Option<f64>,
    /// The GPU is a software adapter (lavapipe) on the CPU's own cores: its work never overlaps
    /// the CPU's, so the searches that count on overlap (split ops, overlapping branches) have
    /// nothing to gain and `op`, `chain` and `subgraph` place whole ops one after another.
    pub gpu_shares_cpu: bool,
}

/// A placement with what the cost model predicts for it.
pub struct Placed {
    /// The graph with split ops rewritten into parts, when the placement splits any.
    pub graph: Option<Graph>,
    /// The devices, and the order to issue steps in when both processors take part.
    pub placement: Placement,
    /// Predicted time of each placed node on its device, microseconds, by node name.
    pub node_us: HashMap<String, f64>,
    /// The whole-op search's result (`--strategy layer` and finer; `subgraph`'s own).
    pub layer: Option<LayerPlacement>,
    /// The co-execution plan and the ops it split (`--strategy op|chain|auto`).
    pub coexec: Option<(CoexecPlan, Vec<SplitPart>)>,
    /// The two-queue simulation of the graph as lowered, in the order the plan issues it.
    pub timeline: Timeline,
    /// The strategy that placed it (what `auto` chose).
    pub chosen: StrategyArg,
    /// `auto`: every granularity it compared, with its simulated latency (`None`: impossible).
    pub candidates: Vec<(StrategyArg, Option<f64>)>,
}

/// The granularities `auto` compares, simplest first: ties go to the simpler.
const AUTO: [StrategyArg; 5] =
    [StrategyArg::Single, StrategyArg::Layer, StrategyArg::Subgraph, StrategyArg::Op, StrategyArg::Chain];

/// Places every compute node of `graph` by `strategy`.
pub fn place(graph: &Graph, costs: &Costs<'_>, strategy: StrategyArg, split: &SplitOptions) -> Result<Placed> {
    let cost = costs.model();
    if strategy != StrategyArg::Cpu && !costs.has_gpu() {
        bail!("the target has no GPU that hetc's WGSL kernels can drive; use --strategy cpu");
    }
    let forced = split.force.is_some() || split.share.is_some();
    match strategy {
        StrategyArg::Cpu => finish(graph, None, HashMap::new(), cost, strategy, None, None),
        StrategyArg::Gpu => {
            let mut devices = HashMap::new();
            for id in graph.node_ids() {
                let node = graph.node(id);
                // Reshapes are views: they live where their input does.
                if !node.op.is_compute() || matches!(node.op, Op::Reshape(_)) {
                    continue;
                }
                if cost.node_us(graph, id, Device::Gpu).is_ok() {
                    devices.insert(id, Device::Gpu);
                }
            }
            finish(graph, None, devices, cost, strategy, None, None)
        }
        StrategyArg::Op | StrategyArg::Chain | StrategyArg::Subgraph | StrategyArg::Auto
            if split.gpu_shares_cpu && !forced =>
        {
            whole_ops(graph, cost, StrategyArg::Layer, place_layers(graph, cost)?)
        }
        StrategyArg::Subgraph => {
            let overlap = place_layers_with(graph, cost, Objective::Overlap)?;
            whole_ops(graph, cost, strategy, overlap)
        }
        // Forced splits are for testing the chain search's plans, not for choosing.
        StrategyArg::Auto if !forced => {
            let layer = place_layers(graph, cost)?;
            let overlap = place_layers_with(graph, cost, Objective::Overlap)?;
            let mut best: Option<Placed> = None;
            let mut candidates = Vec::new();
            for s in AUTO {
                let p = match s {
                    StrategyArg::Subgraph => whole_ops(graph, cost, s, overlap.clone())?,
                    StrategyArg::Single | StrategyArg::Layer => whole_ops(graph, cost, s, layer.clone())?,
                    _ => split_ops(graph, cost, s, split, layer.clone())?,
                };
                let t = p.timeline.latency_us;
                candidates.push((s, t.is_finite().then_some(t)));
                if t.is_finite() && best.as_ref().is_none_or(|b| t < b.timeline.latency_us - 1e-6) {
                    best = Some(p);
                }
            }
            let mut best = best.context("no granularity gives a plan the cost model can time")?;
            best.candidates = candidates;
            Ok(best)
        }
        StrategyArg::Single | StrategyArg::Layer => whole_ops(graph, cost, strategy, place_layers(graph, cost)?),
        StrategyArg::Op | StrategyArg::Chain | StrategyArg::Auto => {
            split_ops(graph, cost, strategy, split, place_layers(graph, cost)?)
        }
    }
}

/// GPU devices of a whole-op placement: reshapes are views, which live where their input does.
fn gpu_devices(graph: &Graph, devices: impl IntoIterator<Item = (NodeId, Device)>) -> HashMap<NodeId, Device> {
    devices.into_iter().filter(|&(id, d)| d == Device::Gpu && !matches!(graph.node(id).op, Op::Reshape(_))).collect()
}

/// `single`, `layer` or `subgraph` from the whole-op search `l`.
fn whole_ops(graph: &Graph, cost: &dyn CostModel, strategy: StrategyArg, l: LayerPlacement) -> Result<Placed> {
    let devices = if strategy == StrategyArg::Single {
        gpu_devices(graph, l.devices.iter().map(|x| x.0).zip(l.single.iter().copied()))
    } else {
        gpu_devices(graph, l.devices.iter().copied())
    };
    finish(graph, None, devices, cost, strategy, Some(l), None)
}

/// `op` or `chain` (or `auto` with forced splits): the co-execution search from the layer
/// placement `l`, materialized.
fn split_ops(
    graph: &Graph,
    cost: &dyn CostModel,
    strategy: StrategyArg,
    split: &SplitOptions,
    l: LayerPlacement,
) -> Result<Placed> {
    let max_chain = strategy.max_chain().context("not a co-execution strategy")?;
    let share_max = split.gpu_share_max.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&share_max) {
        bail!("--gpu-share-max must be between 0 and 1, got {share_max}");
    }
    let mut plan = match &split.force {
        Some(shares) => force_coexec(graph, cost, &l, shares, max_chain)?,
        None => place_coexec(graph, cost, &l, CoexecOptions { max_chain, gpu_share_max: share_max })?,
    };
    if let Some(s) = split.share {
        if !(s > 0.0 && s < 1.0) {
            bail!("--split-share must be strictly between 0 and 1, got {s}");
        }
        plan.chains.iter_mut().for_each(|c| c.gpu_share = s);
    }
    if plan.chains.is_empty() {
        let devices = gpu_devices(graph, l.devices.iter().copied());
        return finish(graph, None, devices, cost, strategy, Some(l), None);
    }
    let g = materialize(graph, &plan, cost)?;
    let devices = g.devices.iter().filter(|(_, d)| **d == Device::Gpu).map(|(&id, &d)| (id, d)).collect();
    finish(graph, Some(g.graph), devices, cost, strategy, Some(l), Some((plan, g.parts)))
}

/// The placement with its predictions: node times, and the two-queue simulation of the graph
/// as lowered, whose list order becomes the plan's step order when both processors take part.
fn finish(
    graph: &Graph,
    rewritten: Option<Graph>,
    devices: HashMap<NodeId, Device>,
    cost: &dyn CostModel,
    chosen: StrategyArg,
    layer: Option<LayerPlacement>,
    coexec: Option<(CoexecPlan, Vec<SplitPart>)>,
) -> Result<Placed> {
    let lowered = rewritten.as_ref().unwrap_or(graph);
    let mut placement = Placement { devices, order: None };
    let mut node_us = HashMap::new();
    for id in lowered.node_ids().filter(|&id| lowered.node(id).op.is_compute()) {
        if let Ok(t) = cost.node_us(lowered, id, placement.device(id)) {
            node_us.insert(lowered.node(id).name.clone(), t);
        }
    }
    let (timeline, order) = simulate(lowered, cost, &placement)?;
    placement.order = order;
    Ok(Placed { graph: rewritten, placement, node_us, layer, coexec, timeline, chosen, candidates: Vec::new() })
}

/// The two-queue simulation of `graph` lowered with `placement`, and the list order of its
/// compute nodes when both processors take part (on one processor, the order changes
/// nothing, so plans keep the topological one).
fn simulate(graph: &Graph, cost: &dyn CostModel, placement: &Placement) -> Result<(Timeline, Option<Vec<NodeId>>)> {
    let placed = schedule_placed(graph, cost, &|id| placement.device(id))?;
    let order = placed.mixed.then_some(placed.order);
    Ok((placed.timeline, order))
}

/// Fills each step's predicted time from the cost model: a compute step takes its node's
/// time (a node lowered to several steps gives its time to the first), a transfer the link's
/// time for its bytes. With a predictor (`--profile`), CPU compute steps (and GPU ones when
/// the profile has GPU models) are priced one by one by it instead, as `hetc predict` does.
pub fn fill_predictions(
    meta: &mut PlanMeta,
    placed: &Placed,
    cost: &dyn CostModel,
    predictor: Option<(&Predictor, usize)>,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let cpu: Vec<Option<f32>> = match predictor {
        Some((p, threads)) => meta
            .steps
            .iter()
            .map(|s| {
                let compute = (s.device == Device::Cpu || p.has_gpu_models())
                    && !matches!(s.kernel, Kernel::Upload | Kernel::Download);
                compute
                    .then(|| p.predict_step(meta, s, threads).map(|r| r.us as f32))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("step {}: {e}", s.name))
            })
            .collect::<Result<_>>()?,
        None => vec![None; meta.steps.len()],
    };
    let PlanMeta { steps, tensors, .. } = meta;
    for (step, cpu_us) in steps.iter_mut().zip(cpu) {
        if let Some(us) = cpu_us {
            step.predicted_us = us;
            continue;
        }
        step.predicted_us = match step.kernel {
            Kernel::Upload | Kernel::Download => {
                let bytes: u64 = step.outputs.iter().map(|&t| tensors[t as usize].byte_size().unwrap_or(0)).sum();
                let (from, to) = if matches!(step.kernel, Kernel::Upload) {
                    (Device::Cpu, Device::Gpu)
                } else {
                    (Device::Gpu, Device::Cpu)
                };
                cost.transfer_us(bytes, from, to) as f32
            }
            _ => {
                let node = step.name.split('/').next().unwrap_or(&step.name);
                let key = if placed.node_us.contains_key(&step.name) { step.name.as_str() } else { node };
                match placed.node_us.get(key) {
                    Some(&t) if seen.insert(key.to_string()) => t as f32,
                    _ => 0.0,
                }
            }
        };
    }
    Ok(())
}
