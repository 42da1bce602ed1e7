//! The placement problem as flat arrays, and its objectives.
//!
//! Two objectives ([`Objective`]): `Sequential` runs ops one after another in execution order,
//! so a placement's predicted latency is the sum of its ops' times plus the time of the
//! transfers it needs (granularity `layer`); `Overlap` simulates the runtime's two queues, so
//! that independent branches placed on different processors overlap (granularity `subgraph`,
//! [`crate::schedule`]). Transfers follow `hetc support`'s definition: a value moves once to each other processor that reads it; graph inputs start on
//! the CPU and graph outputs must end there; constants (weights) are loaded once per processor
//! and never move.

use crate::cost::CostModel;
use crate::error::PartitionError;
use hetc_ir::{Graph, NodeId, Op};
use hetc_plan::Device;
use std::collections::HashMap;

/// The devices placement chooses between, indexed by [`dev`].
pub const DEVICES: [Device; 2] = [Device::Cpu, Device::Gpu];

/// Index of `d` in [`DEVICES`].
pub fn dev(d: Device) -> usize {
    match d {
        Device::Cpu => 0,
        Device::Gpu => 1,
    }
}

/// How a placement's latency is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objective {
    /// Ops one after another: the sum of op and transfer times.
    #[default]
    Sequential,
    /// The runtime's host thread and GPU queue: GPU work overlaps CPU work it does not depend
    /// on ([`Problem::schedule`]).
    Overlap,
}

/// Where a value is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A graph input: on the CPU.
    Input,
    /// The op at this index of [`Problem::ops`].
    Op(usize),
}

/// A value that may have to move.
#[derive(Debug, Clone)]
pub struct Value {
    pub source: Source,
    pub bytes: u64,
    /// Indices of the ops that read it (each once).
    pub consumers: Vec<usize>,
    /// Whether it is a graph output (must end on the CPU).
    pub is_output: bool,
}

#[derive(Debug, Clone)]
pub struct Problem {
    /// Compute ops in execution order.
    pub ops: Vec<NodeId>,
    /// `times[i][dev(d)]`: op `i`'s time on `d`, or why `d` cannot run it.
    pub times: Vec<[Result<f64, String>; 2]>,
    pub values: Vec<Value>,
    /// `transfer[v][from][to]` for value `v`, precomputed.
    pub(crate) transfer: Vec<[[f64; 2]; 2]>,
    /// Values each op reads (each once) and writes, as indices into `values`.
    pub(crate) reads: Vec<Vec<usize>>,
    pub(crate) writes: Vec<Vec<usize>>,
}

impl Problem {
    pub fn new(graph: &Graph, cost: &dyn CostModel) -> Result<Self, PartitionError> {
        let ops: Vec<NodeId> = graph.topo_order()?.into_iter().filter(|&id| graph.node(id).op.is_compute()).collect();
        let index: HashMap<NodeId, usize> = ops.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let times = ops.iter().map(|&id| DEVICES.map(|d| cost.node_us(graph, id, d))).collect::<Vec<_>>();

        // Every non-constant value read by an op or returned by the graph, in first-use order.
        let mut values: Vec<Value> = Vec::new();
        let mut slot: HashMap<hetc_ir::ValueRef, usize> = HashMap::new();
        let mut value_of = |v: hetc_ir::ValueRef, values: &mut Vec<Value>| -> Option<usize> {
            let source = match graph.node(v.node).op {
                Op::Constant(_) => return None,
                Op::Input => Source::Input,
                _ => Source::Op(*index.get(&v.node)?),
            };
            Some(*slot.entry(v).or_insert_with(|| {
                values.push(Value {
                    source,
                    bytes: graph.value_type(v).byte_size(),
                    consumers: Vec::new(),
                    is_output: false,
                });
                values.len() - 1
            }))
        };
        for (i, &id) in ops.iter().enumerate() {
            for v in graph.inputs_of(id).into_iter().flatten() {
                if let Some(k) = value_of(v, &mut values)
                    && !values[k].consumers.contains(&i)
                {
                    values[k].consumers.push(i);
                }
            }
        }
        for o in &graph.outputs {
            if let Some(k) = value_of(o.value, &mut values) {
                values[k].is_output = true;
            }
        }
        let transfer =
            values.iter().map(|v| DEVICES.map(|from| DEVICES.map(|to| cost.transfer_us(v.bytes, from, to)))).collect();
        let (mut reads, mut writes) = (vec![Vec::new(); ops.len()], vec![Vec::new(); ops.len()]);
        for (k, v) in values.iter().enumerate() {
            v.consumers.iter().for_each(|&c| reads[c].push(k));
            if let Source::Op(i) = v.source {
                writes[i].push(k);
            }
        }
        Ok(Problem { ops, times, values, transfer, reads, writes })
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether op `i` can run on device index `d`.
    pub fn runs(&self, i: usize, d: usize) -> bool {
        self.times[i][d].is_ok()
    }

    fn source_device(&self, v: &Value, loc: &[usize]) -> usize {
        match v.source {
            Source::Input => dev(Device::Cpu),
            Source::Op(i) => loc[i],
        }
    }

    /// Device index where value `k` is produced under `loc`.
    pub(crate) fn value_device(&self, k: usize, loc: &[usize]) -> usize {
        self.source_device(&self.values[k], loc)
    }

    /// The op that produces value `k` (`None` for a graph input).
    pub(crate) fn op_source(&self, k: usize) -> Option<usize> {
        match self.values[k].source {
            Source::Input => None,
            Source::Op(i) => Some(i),
        }
    }

    /// Predicted latency of placement `loc` under `objective`, and its transfer count;
    /// infinite when an op is placed where it cannot run.
    pub fn predict(&self, loc: &[usize], objective: Objective) -> (f64, usize) {
        match objective {
            Objective::Sequential => self.evaluate(loc),
            Objective::Overlap => {
                let s = self.schedule(loc);
                (s.timeline.latency_us, s.transfers)
            }
        }
    }

    /// Predicted latency of placement `loc` (device index per op) with ops run one after
    /// another, and its transfer count; infinite when an op is placed where it cannot run.
    pub fn evaluate(&self, loc: &[usize]) -> (f64, usize) {
        let mut total = 0.0;
        for (i, &d) in loc.iter().enumerate() {
            match &self.times[i][d] {
                Ok(t) => total += t,
                Err(_) => return (f64::INFINITY, 0),
            }
        }
        let mut count = 0;
        for (k, v) in self.values.iter().enumerate() {
            let from = self.source_device(v, loc);
            let mut needed = [false; 2];
            for &c in &v.consumers {
                needed[loc[c]] = true;
            }
            if v.is_output {
                needed[dev(Device::Cpu)] = true;
            }
            for (to, &need) in needed.iter().enumerate() {
                if need && to != from {
                    total += self.transfer[k][from][to];
                    count += 1;
                }
            }
        }
        (total, count)
    }
}
