//! Placement for `hetc compile --strategy cpu|gpu|layer|op|chain|auto` on any target: which
//! processor runs each node of the fused graph, decided from the target's support tables and,
//! from `layer` on, the target's cost model (hetc-partition). `op`, `chain` and `auto` may
//! split ops between the processors (CoDL's co-execution): the graph is then rewritten into
//! parts ([`hetc_partition::materialize`]). Steps get the cost model's predicted times.
//!
//! The cost model is the target's stand-in roofline model, or, with `--profile`, the latency
//! predictor ([`Costs`]).

use anyhow::{Result, bail};
use hetc_compile::Placement;
use hetc_ir::{Graph, Op};
use hetc_partition::{
    CoexecOptions, CoexecPlan, CostModel, LayerPlacement, PredictorCost, SplitPart, TargetCost, force_coexec,
    materialize, place_coexec, place_layers,
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
    /// Each op on the processor the cost model prefers, counting transfers; never predicted
    /// slower than the CPU alone or the GPU with fallback.
    Layer,
    /// `layer`, then single ops split between the CPU and the GPU where the cost model
    /// predicts it pays (CoDL's hybrid-dimension partitioning).
    Op,
    /// `layer`, then chains of split ops that share data only at their ends (CoDL's operator
    /// chains); single splits are chains of one.
    Chain,
    /// The fastest predicted granularity. The chain search starts from the layer placement,
    /// which starts from the best single processor, and accepts only predicted gains, so this
    /// is `chain`.
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
}

/// A placement with what the cost model predicts for it.
pub struct Placed {
    /// The graph with split ops rewritten into parts, when the placement splits any.
    pub graph: Option<Graph>,
    pub placement: Placement,
    /// Predicted time of each placed node on its device, microseconds, by node name.
    pub node_us: HashMap<String, f64>,
    /// The layer search's result (`--strategy layer` and finer).
    pub layer: Option<LayerPlacement>,
    /// The co-execution plan and the ops it split (`--strategy op|chain|auto`).
    pub coexec: Option<(CoexecPlan, Vec<SplitPart>)>,
}

/// Places every compute node of `graph` by `strategy`.
pub fn place(graph: &Graph, costs: &Costs<'_>, strategy: StrategyArg, split: &SplitOptions) -> Result<Placed> {
    let cost = costs.model();
    if strategy != StrategyArg::Cpu && !costs.has_gpu() {
        bail!("the target has no GPU that hetc's WGSL kernels can drive; use --strategy cpu");
    }
    let mut devices = HashMap::new();
    let mut layer = None;
    match strategy {
        StrategyArg::Cpu => {}
        StrategyArg::Gpu => {
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
        }
        StrategyArg::Layer | StrategyArg::Op | StrategyArg::Chain | StrategyArg::Auto => {
            let l = place_layers(graph, cost)?;
            for &(id, d) in &l.devices {
                if d == Device::Gpu && !matches!(graph.node(id).op, Op::Reshape(_)) {
                    devices.insert(id, d);
                }
            }
            layer = Some(l);
        }
    }
    let mut coexec = None;
    let mut rewritten = None;
    if let (Some(max_chain), Some(l)) = (strategy.max_chain(), layer.as_ref()) {
        let share_max = split.gpu_share_max.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&share_max) {
            bail!("--gpu-share-max must be between 0 and 1, got {share_max}");
        }
        let mut plan = match &split.force {
            Some(shares) => force_coexec(graph, cost, l, shares, max_chain)?,
            None => place_coexec(graph, cost, l, CoexecOptions { max_chain, gpu_share_max: share_max })?,
        };
        if let Some(s) = split.share {
            if !(s > 0.0 && s < 1.0) {
                bail!("--split-share must be strictly between 0 and 1, got {s}");
            }
            plan.chains.iter_mut().for_each(|c| c.gpu_share = s);
        }
        if !plan.chains.is_empty() {
            let g = materialize(graph, &plan, cost)?;
            devices = g.devices.iter().filter(|(_, d)| **d == Device::Gpu).map(|(&id, &d)| (id, d)).collect();
            coexec = Some((plan, g.parts));
            rewritten = Some(g.graph);
        }
    }
    let placement = Placement { devices };
    let lowered = rewritten.as_ref().unwrap_or(graph);
    let mut node_us = HashMap::new();
    for id in lowered.node_ids().filter(|&id| lowered.node(id).op.is_compute()) {
        if let Ok(t) = cost.node_us(lowered, id, placement.device(id)) {
            node_us.insert(lowered.node(id).name.clone(), t);
        }
    }
    Ok(Placed { graph: rewritten, placement, node_us, layer, coexec })
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
