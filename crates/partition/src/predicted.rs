//! Placement priced by the latency predictor (`hetc-predictor`): ops from a measured (or
//! derived) profile's per-kernel models, CPU and GPU, and transfers from its data-sharing
//! terms; the target's stand-in model answers where the profile has nothing to say.
//!
//! The predictor prices plan steps, not IR nodes, because a node's cost depends on the kernel
//! it becomes (im2col or Winograd, which Winograd variant, an epilogue folded in, which WGSL
//! shader). So a node is first lowered alone by the compiler ([`hetc_compile::cpu_steps`],
//! [`hetc_compile::gpu_steps`]) and its steps are priced one by one. Each answer records its basis; [`PredictorCost::bases`] counts them, so
//! that a report can say which model placed which ops.

use crate::cost::{CostModel, SplitTime, TargetCost};
use hetc_ir::{Graph, NodeId};
use hetc_plan::Device;
use hetc_predictor::{Basis, Predictor};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Where one processor's answers came from, counted over the ops priced so far (each op
/// once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bases {
    /// Ops whose every step had its kernel's own fitted model.
    pub kernel: BTreeSet<String>,
    /// Ops with at least one step priced by its family's pooled model (kernel not in the
    /// profile's sweep).
    pub family: BTreeSet<String>,
    /// Ops the predictor could not price (no model for the kernel nor its family, a step it
    /// cannot describe, or no models for the processor at all): priced by the target's model,
    /// with the reason.
    pub target: BTreeSet<String>,
    /// Ops that lower to no step (views such as Reshape): free.
    pub free: BTreeSet<String>,
}

/// A [`CostModel`] that asks the latency predictor for op and transfer times.
///
/// - CPU ops: the sum of the predictor's times of the node's CPU steps, at `threads` threads.
///   The split form's fixed part is the steps' constant terms (what a part pays whatever its
///   share).
/// - GPU ops: likewise from the profile's GPU kernel models (`hetc profile --processors
///   gpu`), each node lowered alone with its shaders ([`hetc_compile::gpu_steps`]); the
///   target's model where the profile has none.
/// - Transfers and synchronisation: the profile's transfer term when it holds numbers
///   (measured by `hetc profile --processors cpu,gpu`, or derived from a phone's link
///   figures), else the target's link figures.
///
/// Which processor may run an op is still the target's support tables' answer (the fallback
/// model checks them).
pub struct PredictorCost<'a> {
    predictor: &'a Predictor,
    threads: usize,
    fallback: TargetCost<'a>,
    /// Where the profile came from, for the label (e.g. its path).
    source: String,
    bases: RefCell<[Bases; 2]>,
}

impl<'a> PredictorCost<'a> {
    /// `threads`: the CPU threads the predictions assume (at least 1).
    pub fn new(predictor: &'a Predictor, threads: usize, fallback: TargetCost<'a>, source: &str) -> Self {
        PredictorCost {
            predictor,
            threads: threads.max(1),
            fallback,
            source: source.to_string(),
            bases: RefCell::new(Default::default()),
        }
    }

    pub fn has_gpu(&self) -> bool {
        self.fallback.has_gpu()
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The bases of the answers given so far for `device`'s ops.
    pub fn bases(&self, device: Device) -> Bases {
        self.bases.borrow()[crate::problem::dev(device)].clone()
    }

    /// Whether GPU ops come from the profile's GPU models.
    pub fn gpu_from_profile(&self) -> bool {
        self.predictor.has_gpu_models()
    }

    /// Whether transfers come from the profile (else from the target's link figures).
    pub fn transfers_from_profile(&self) -> bool {
        self.predictor.has_transfer_model()
    }

    /// The predictor's time of node `id` on `device` as `(fixed, total)`, or why it cannot
    /// price it. The basis is `None` for a node that lowers to no step.
    fn predicted(&self, graph: &Graph, id: NodeId, device: Device) -> Result<(f64, f64, Option<Basis>), String> {
        let meta = match device {
            Device::Cpu => hetc_compile::cpu_steps(graph, id),
            Device::Gpu => hetc_compile::gpu_steps(graph, id),
        }
        .map_err(|e| e.to_string())?;
        let (mut fixed, mut total) = (0.0, 0.0);
        let mut basis = (!meta.steps.is_empty()).then_some(Basis::Kernel);
        for step in &meta.steps {
            let p = self.predictor.predict_step(&meta, step, self.threads).map_err(|e| e.to_string())?;
            fixed += p.fixed_us;
            total += p.us;
            if p.basis == Basis::Fallback {
                basis = Some(Basis::Fallback);
            }
        }
        Ok((fixed, total, basis))
    }

    /// Time of `id` on `device` as a split time: the support tables decide whether it runs
    /// there (through the target's model, whose answer stands where the predictor has none).
    fn split(&self, graph: &Graph, id: NodeId, device: Device) -> Result<SplitTime, String> {
        let target = self.fallback.node_split_us(graph, id, device)?;
        let name = graph.node(id).name.clone();
        let priced = match device {
            Device::Gpu if !self.predictor.has_gpu_models() => Err("the profile has no GPU models".to_string()),
            _ => self.predicted(graph, id, device),
        };
        let mut all = self.bases.borrow_mut();
        let bases = &mut all[crate::problem::dev(device)];
        match priced {
            Ok((fixed, total, basis)) => {
                match basis {
                    Some(Basis::Kernel) => bases.kernel.insert(name),
                    Some(Basis::Fallback) => bases.family.insert(name),
                    None => bases.free.insert(name),
                };
                Ok(SplitTime { fixed_us: fixed, scaled_us: (total - fixed).max(0.0) })
            }
            Err(why) => {
                bases.target.insert(format!("{name} ({why})"));
                Ok(target)
            }
        }
    }
}

impl CostModel for PredictorCost<'_> {
    fn node_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<f64, String> {
        self.split(graph, id, device).map(|t| t.fixed_us + t.scaled_us)
    }

    fn node_split_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<SplitTime, String> {
        self.split(graph, id, device)
    }

    fn transfer_us(&self, bytes: u64, from: Device, to: Device) -> f64 {
        if from == to {
            0.0
        } else if self.predictor.has_transfer_model() && self.fallback.has_gpu() {
            match to {
                Device::Cpu => self.predictor.download_us(bytes as f64),
                Device::Gpu => self.predictor.transfer_us(bytes as f64),
            }
        } else {
            self.fallback.transfer_us(bytes, from, to)
        }
    }

    fn sync_us(&self) -> f64 {
        if self.predictor.has_transfer_model() { self.predictor.sync_us() } else { self.fallback.sync_us() }
    }

    fn label(&self) -> String {
        let p = self.predictor.profile();
        const STAND_IN: &str = "the target's stand-in roofline model";
        let transfers = if self.predictor.has_transfer_model() {
            format!("the profile's {} transfer model", format!("{:?}", p.transfer.status).to_lowercase())
        } else {
            format!("{STAND_IN} (the profile's transfer term is unfitted)")
        };
        let gpu = match &p.gpu {
            Some(g) => format!("the profile's GPU models ({})", g.adapter),
            None => format!("{STAND_IN} (the profile has no GPU models)"),
        };
        format!(
            "latency predictor: CPU ops from profile {} ({} {}, {} threads); GPU ops from {gpu}; transfers from {}",
            self.source,
            p.target,
            match p.source {
                hetc_predictor::ProfileSource::Measured => "measured",
                hetc_predictor::ProfileSource::Derived => "derived, not measured",
            },
            self.threads,
            transfers
        )
    }
}
