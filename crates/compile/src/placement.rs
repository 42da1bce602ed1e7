//! Placement: the processor each IR node runs on.
//!
//! A [`Placement`] is a plain per-node device map, computed here from a [`Strategy`] and the
//! support tables, or by any other means (a cost model) by whoever calls
//! [`crate::compile_placed`]. Lowering gives every step its node's device and inserts an
//! `Upload` or `Download` step at each edge that crosses devices (`crate::transfers`); graph
//! inputs and outputs live on the CPU.

use crate::support::{check_binding, cpu_supports, gpu_supports};
use hetc_ir::{Graph, NodeId, Op};
use hetc_plan::Device;
use std::collections::HashMap;

/// How to place nodes when no cost model decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Everything on the CPU.
    #[default]
    Cpu,
    /// Every node the GPU supports on the GPU, the rest on the CPU.
    Gpu,
}

/// What a placement callback of [`crate::compile_placed`] returns: the devices, and the graph
/// to lower instead of the one it was given, if it rewrote it.
#[derive(Debug, Clone, Default)]
pub struct Placed {
    pub graph: Option<Graph>,
    pub placement: Placement,
}

impl Placed {
    pub fn new(placement: Placement) -> Placed {
        Placed { graph: None, placement }
    }
}

/// The device of every IR node; nodes not in the map run on the CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub devices: HashMap<NodeId, Device>,
    /// The order to lower the compute nodes in, when it matters: the runtime issues steps in
    /// plan order, and GPU work overlaps CPU work only if it is issued first (a list schedule,
    /// `hetc_partition::Problem::schedule`). It must hold every compute node once, each after
    /// the nodes it reads; `None`: the graph's topological order.
    pub order: Option<Vec<NodeId>>,
}

impl Placement {
    pub fn device(&self, node: NodeId) -> Device {
        self.devices.get(&node).copied().unwrap_or(Device::Cpu)
    }

    /// Whether any node runs on the GPU.
    pub fn uses_gpu(&self) -> bool {
        self.devices.values().any(|&d| d == Device::Gpu)
    }

    /// Places `graph` by `strategy`. Inputs, constants and reshapes (views) are not computed,
    /// so they stay on the CPU's default; a reshape's output lives where its input does.
    /// `max_binding_bytes`: the GPU adapter's largest storage binding, when known (see
    /// [`crate::CompileOptions::gpu_max_binding_bytes`]).
    pub fn from_strategy(graph: &Graph, strategy: Strategy, max_binding_bytes: Option<u64>) -> Placement {
        let mut devices = HashMap::new();
        if strategy == Strategy::Gpu {
            for id in graph.node_ids() {
                let node = graph.node(id);
                if matches!(node.op, Op::Input | Op::Constant(_) | Op::Reshape(_)) {
                    continue;
                }
                let inputs = graph.input_types(id);
                let fits = max_binding_bytes.is_none_or(|limit| check_binding(&inputs, &node.outputs, limit).is_ok());
                if fits && gpu_supports(&node.op, &inputs, &node.outputs).is_ok() {
                    devices.insert(id, Device::Gpu);
                }
            }
        }
        Placement { devices, order: None }
    }

    /// Nodes placed on a device whose table does not support them, with the reason: a
    /// placement from elsewhere is checked before lowering.
    pub fn unsupported(&self, graph: &Graph) -> Vec<String> {
        let mut bad = Vec::new();
        for (&id, &d) in &self.devices {
            let node = graph.node(id);
            let inputs = graph.input_types(id);
            let verdict = match d {
                Device::Cpu => cpu_supports(&node.op, &inputs, &node.outputs),
                Device::Gpu => gpu_supports(&node.op, &inputs, &node.outputs),
            };
            if let Err(reason) = verdict {
                bad.push(format!("{} `{}` on the {} ({reason})", node.op.name(), node.name, d.name()));
            }
        }
        bad.sort();
        bad
    }
}
