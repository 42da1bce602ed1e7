//! Placement for `hetc compile --strategy cpu|gpu|layer` on any target: which processor runs
//! each node of the fused graph, decided from the target's support tables and, for `layer`,
//! the target's cost model (hetc-partition). Steps get the cost model's predicted times.

use anyhow::{Result, bail};
use hetc_compile::Placement;
use hetc_ir::{Graph, Op};
use hetc_partition::{CostModel, LayerPlacement, TargetCost, place_layers};
use hetc_plan::{Device, Kernel, PlanMeta};
use std::collections::HashMap;

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
}

/// A placement with what the cost model predicts for it.
pub struct Placed {
    pub placement: Placement,
    /// Predicted time of each placed node on its device, microseconds, by node name.
    pub node_us: HashMap<String, f64>,
    /// The layer search's result (`--strategy layer`).
    pub layer: Option<LayerPlacement>,
}

/// Places every compute node of `graph` by `strategy`.
pub fn place(graph: &Graph, cost: &TargetCost<'_>, strategy: StrategyArg) -> Result<Placed> {
    if strategy != StrategyArg::Cpu && !cost.has_gpu() {
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
        StrategyArg::Layer => {
            let l = place_layers(graph, cost)?;
            for &(id, d) in &l.devices {
                if d == Device::Gpu && !matches!(graph.node(id).op, Op::Reshape(_)) {
                    devices.insert(id, d);
                }
            }
            layer = Some(l);
        }
    }
    let placement = Placement { devices };
    let mut node_us = HashMap::new();
    for id in graph.node_ids().filter(|&id| graph.node(id).op.is_compute()) {
        if let Ok(t) = cost.node_us(graph, id, placement.device(id)) {
            node_us.insert(graph.node(id).name.clone(), t);
        }
    }
    Ok(Placed { placement, node_us, layer })
}

/// Fills each step's predicted time from the cost model: a compute step takes its node's
/// time (a node lowered to several steps gives its time to the first), a transfer the link's
/// time for its bytes.
pub fn fill_predictions(meta: &mut PlanMeta, placed: &Placed, cost: &TargetCost<'_>) {
    let mut seen = std::collections::HashSet::new();
    let PlanMeta { steps, tensors, .. } = meta;
    for step in steps {
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
}
