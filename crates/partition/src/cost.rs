//! What placement asks a cost model, and the answer from a target's description.

use hetc_ir::{Graph, NodeId};
use hetc_plan::Device;
use hetc_target::catalog::Target;
use hetc_target::cost::{LinkFigures, ProcessorFigures, node_cost, node_time_us, transfer_time_us};
use hetc_target::desc::ProcessorKind;
use hetc_target::support::{CheckOptions, NodeView, OpSupport};

/// An op's time as a function of the share of its output a processor computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitTime {
    /// Paid whatever the share: dispatch, synchronisation inside the kernel.
    pub fixed_us: f64,
    /// Paid in proportion to the share.
    pub scaled_us: f64,
}

impl SplitTime {
    pub fn at(&self, share: f64) -> f64 {
        if share <= 0.0 { 0.0 } else { self.fixed_us + share * self.scaled_us }
    }
}

/// Predicted times for placement.
pub trait CostModel {
    /// Time of compute node `id` on `device`, microseconds; `Err` with the reason when the
    /// device cannot run it.
    fn node_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<f64, String>;
    /// Time of node `id` on `device` as `fixed + share x scaled`, for a part of the op that
    /// computes `share` of its output (rows or channels, halo included). The default treats
    /// the whole time as scaling, which ignores fixed costs; models that know them override it.
    fn node_split_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<SplitTime, String> {
        self.node_us(graph, id, device).map(|t| SplitTime { fixed_us: 0.0, scaled_us: t })
    }
    /// Time to move `bytes` from `from` to `to`, microseconds.
    fn transfer_us(&self, bytes: u64, from: Device, to: Device) -> f64;
    /// Cost of synchronising the processors once (both finish a co-executed part before its
    /// result is used), microseconds.
    fn sync_us(&self) -> f64 {
        0.0
    }
    /// What the numbers come from, printed beside them.
    fn label(&self) -> String;
}

/// One processor as placement sees it.
struct Side<'a> {
    name: String,
    figures: ProcessorFigures,
    /// The processor's support table (for a phone's GPU, what its vendor's runtime runs).
    table: &'a dyn OpSupport,
    /// hetc's own kernels for the processor, when they are not the table itself: a node runs
    /// only if both accept it (a phone GPU runs hetc's WGSL kernels, not its vendor's).
    kernels: Option<&'a dyn OpSupport>,
}

impl Side<'_> {
    fn check(&self, view: &NodeView<'_>, options: CheckOptions) -> Result<(), String> {
        self.table.check(view, options).map_err(|r| format!("{}: {r}", self.name))?;
        if let Some(k) = self.kernels {
            k.check(view, options).map_err(|r| format!("hetc's {} kernels: {r}", self.name))?;
        }
        Ok(())
    }
}

/// The stand-in roofline model of `hetc_target::cost` over a target's CPU and GPU.
pub struct TargetCost<'a> {
    cpu: Side<'a>,
    gpu: Option<Side<'a>>,
    link: Option<LinkFigures>,
    options: CheckOptions,
}

impl<'a> TargetCost<'a> {
    /// `gpu_kernels`: the table of hetc's GPU kernels. Without it nothing is placed on the GPU
    /// (hetc has no code to run there). When the target's GPU table is that same table (the
    /// `host` target), pass it anyway: checking twice is harmless.
    pub fn new(
        target: &'a Target,
        gpu_kernels: Option<&'a dyn OpSupport>,
        options: CheckOptions,
    ) -> Result<Self, hetc_target::cost::CostError> {
        let (cpu_desc, cpu_table) = target.cpu();
        let cpu = Side {
            name: cpu_desc.name.clone(),
            figures: target.figures(&cpu_desc.name)?,
            table: cpu_table,
            kernels: None,
        };
        let gpu_proc = target.processors().find(|(p, _)| p.kind == ProcessorKind::Gpu);
        let (gpu, link) = match (gpu_proc, gpu_kernels) {
            (Some((desc, table)), Some(kernels)) => {
                let side = Side {
                    name: desc.name.clone(),
                    figures: target.figures(&desc.name)?,
                    table,
                    kernels: Some(kernels),
                };
                (Some(side), Some(target.link(&cpu_desc.name, &desc.name)?))
            }
            _ => (None, None),
        };
        Ok(TargetCost { cpu, gpu, link, options })
    }

    /// Whether a GPU takes part.
    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    fn side(&self, device: Device) -> Option<&Side<'a>> {
        match device {
            Device::Cpu => Some(&self.cpu),
            Device::Gpu => self.gpu.as_ref(),
        }
    }
}

impl CostModel for TargetCost<'_> {
    fn node_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<f64, String> {
        let side = self.side(device).ok_or_else(|| format!("no {} kernels for this target", device.name()))?;
        let view = NodeView::of(graph, id);
        side.check(&view, self.options)?;
        Ok(node_time_us(node_cost(&view), &side.figures))
    }

    fn node_split_us(&self, graph: &Graph, id: NodeId, device: Device) -> Result<SplitTime, String> {
        let side = self.side(device).ok_or_else(|| format!("no {} kernels for this target", device.name()))?;
        let view = NodeView::of(graph, id);
        side.check(&view, self.options)?;
        // The roofline's compute and memory terms both scale with the part's share of the
        // output; the dispatch cost does not, which is what makes thin splits lose.
        let whole = node_time_us(node_cost(&view), &side.figures);
        let fixed_us = if node_cost(&view).free { 0.0 } else { side.figures.dispatch_us };
        Ok(SplitTime { fixed_us, scaled_us: (whole - fixed_us).max(0.0) })
    }

    fn sync_us(&self) -> f64 {
        self.link.as_ref().map_or(0.0, |l| l.latency_us)
    }

    fn transfer_us(&self, bytes: u64, from: Device, to: Device) -> f64 {
        match (&self.link, from == to) {
            (_, true) => 0.0,
            (Some(link), false) => transfer_time_us(bytes, link),
            // Without a GPU nothing is ever placed there, so no transfer is ever asked for.
            (None, false) => f64::INFINITY,
        }
    }

    fn label(&self) -> String {
        hetc_target::cost::COST_MODEL_LABEL.to_string()
    }
}
