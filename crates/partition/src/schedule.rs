//! Two-queue schedule simulation: how long a run takes when GPU work overlaps CPU work.
//!
//! The runtime (`hetc_runtime::Session`) executes a plan's steps in order on one host thread.
//! A CPU step runs on that thread. A GPU step is only recorded; recorded work is submitted
//! before the next CPU step, so the GPU works through it, in order, while the host goes on.
//! An upload is a write into the GPU queue, behind the work already in it. A download makes
//! the host wait until the GPU has finished everything issued so far (the queue is in order),
//! then copy. So with two clocks, the host's and the GPU queue's:
//!
//! - CPU compute: starts when the host is free;
//! - GPU compute, upload: start when the GPU is free and the host has issued them;
//! - download: starts when both are free, and holds both until it ends.
//!
//! Dependencies need no bookkeeping of their own: a step's inputs come from earlier steps on
//! its own queue (done in order) or through a transfer, which the rules above order. The
//! latency is when both clocks have stopped: the last graph output is on the CPU.
//!
//! [`Problem::schedule`] predicts a placement this way: it orders the ops as a list schedule
//! (GPU work issued as soon as what it reads is issued, CPU work that needs no download
//! first), inserts transfers before their first reader as the compiler does, and runs the
//! clocks over that order; the compiler lowers the nodes in that order. `hetc inspect` runs
//! the same clocks over a compiled plan's steps.

use crate::cost::CostModel;
use crate::error::PartitionError;
use crate::problem::{Problem, dev};
use hetc_ir::{Graph, NodeId, Op};
use hetc_plan::Device;
use std::collections::HashMap;

/// What a step does, as the simulation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Compute(Device),
    /// CPU memory to GPU memory.
    Upload,
    /// GPU memory to CPU memory.
    Download,
}

/// What the clocks say after a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timeline {
    /// When the last step ends: the critical path.
    pub latency_us: f64,
    /// Compute time of each processor, `[cpu, gpu]`.
    pub busy_us: [f64; 2],
    /// Time spent in transfers.
    pub transfer_us: f64,
    /// Every step's time added up: the latency if nothing overlapped.
    pub sum_us: f64,
}

/// The host's and the GPU queue's clocks.
#[derive(Debug, Clone, Default)]
pub struct Clocks {
    host: f64,
    gpu: f64,
    timeline: Timeline,
}

impl Clocks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs the next step, of `us` microseconds; returns when it starts.
    pub fn step(&mut self, kind: StepKind, us: f64) -> f64 {
        let t = &mut self.timeline;
        t.sum_us += us;
        match kind {
            StepKind::Compute(Device::Cpu) => {
                t.busy_us[0] += us;
                let start = self.host;
                self.host += us;
                start
            }
            StepKind::Compute(Device::Gpu) | StepKind::Upload => {
                if kind == StepKind::Upload {
                    t.transfer_us += us;
                } else {
                    t.busy_us[1] += us;
                }
                let start = self.gpu.max(self.host);
                self.gpu = start + us;
                start
            }
            StepKind::Download => {
                t.transfer_us += us;
                let start = self.gpu.max(self.host);
                self.host = start + us;
                self.gpu = self.host;
                start
            }
        }
    }

    pub fn finish(mut self) -> Timeline {
        self.timeline.latency_us = self.host.max(self.gpu);
        self.timeline
    }
}

/// Runs `steps` in order.
pub fn simulate(steps: impl IntoIterator<Item = (StepKind, f64)>) -> Timeline {
    let mut clocks = Clocks::new();
    for (kind, us) in steps {
        clocks.step(kind, us);
    }
    clocks.finish()
}

/// What a plan step is to the simulation: transfers by their kernel, the rest by device.
pub fn step_kind(step: &hetc_plan::Step) -> StepKind {
    match step.kernel {
        hetc_plan::Kernel::Upload => StepKind::Upload,
        hetc_plan::Kernel::Download => StepKind::Download,
        _ => StepKind::Compute(step.device),
    }
}

/// A compiled plan's predicted run: its steps' predicted times, in plan order, on the clocks.
pub fn plan_timeline(meta: &hetc_plan::PlanMeta) -> Timeline {
    simulate(meta.steps.iter().map(|s| (step_kind(s), s.predicted_us as f64)))
}

impl Problem {
    /// The clocks over the ops in `order` (a topological order) placed by `loc`, transfers
    /// just before their first reader and graph outputs downloaded at the end: what a plan
    /// issued in that order predicts. Infinite when an op is placed where it cannot run.
    pub fn run_in_order(&self, loc: &[usize], order: &[usize]) -> Timeline {
        let mut clocks = Clocks::new();
        let mut moved = vec![[false; 2]; self.values.len()];
        for &i in order {
            let Ok(t) = &self.times[i][loc[i]] else {
                return Timeline { latency_us: f64::INFINITY, ..Default::default() };
            };
            for &k in &self.reads[i] {
                self.move_value(&mut clocks, &mut moved, loc, k, loc[i]);
            }
            clocks.step(StepKind::Compute(DEVICE_OF[loc[i]]), *t);
        }
        for k in 0..self.values.len() {
            if self.values[k].is_output {
                self.move_value(&mut clocks, &mut moved, loc, k, dev(Device::Cpu));
            }
        }
        clocks.finish()
    }

    /// Copies value `k` to device `to` unless it is there; returns whether it moved.
    fn move_value(&self, clocks: &mut Clocks, moved: &mut [[bool; 2]], loc: &[usize], k: usize, to: usize) -> bool {
        let from = self.value_device(k, loc);
        if from == to || moved[k][to] {
            return false;
        }
        moved[k][to] = true;
        let kind = if to == dev(Device::Gpu) { StepKind::Upload } else { StepKind::Download };
        clocks.step(kind, self.transfer[k][from][to]);
        true
    }
}

/// A placed graph's predicted run, by node.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedSchedule {
    pub timeline: Timeline,
    /// Compute nodes in the order to issue them.
    pub order: Vec<NodeId>,
    pub transfers: usize,
    /// Whether both processors compute.
    pub mixed: bool,
}

/// The two-queue simulation of `graph` with every compute node on `device(node)`, as the
/// compiler lowers it: a reshape is a view, which lives where its input does (the compiler
/// places views on neither processor).
pub fn schedule_placed(
    graph: &Graph,
    cost: &dyn CostModel,
    device: &dyn Fn(NodeId) -> Device,
) -> Result<PlacedSchedule, PartitionError> {
    let problem = Problem::new(graph, cost)?;
    let (cpu, gpu) = (dev(Device::Cpu), dev(Device::Gpu));
    let index: HashMap<NodeId, usize> = problem.ops.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut loc = vec![cpu; problem.len()];
    for (i, &id) in problem.ops.iter().enumerate() {
        loc[i] = match graph.node(id).op {
            // Ops come in execution order, so the input's device is known.
            Op::Reshape(_) => {
                let from = graph.inputs_of(id).first().copied().flatten().and_then(|v| index.get(&v.node));
                let d = from.map_or(cpu, |&j| loc[j]);
                if problem.runs(i, d) { d } else { cpu }
            }
            _ => dev(device(id)),
        };
    }
    let s = problem.schedule(&loc);
    Ok(PlacedSchedule {
        timeline: s.timeline,
        order: s.order.iter().map(|&i| problem.ops[i]).collect(),
        transfers: s.transfers,
        mixed: loc.contains(&cpu) && loc.contains(&gpu),
    })
}

/// A placement's predicted run.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Indices of the problem's ops in the order to issue them (a topological order).
    pub order: Vec<usize>,
    /// Infinite latency when an op is placed where it cannot run.
    pub timeline: Timeline,
    /// Transfers the placement needs.
    pub transfers: usize,
}

impl Problem {
    /// Predicted run of placement `loc` (device index per op) with CPU and GPU work
    /// overlapping: a list schedule on [`Clocks`].
    ///
    /// Ops are issued once everything they read is issued. A ready GPU op is issued at once:
    /// issuing costs the host nothing, and the GPU then works while the host goes on. Otherwise
    /// the host runs the ready CPU op that can start first: one that needs a download starts
    /// only when the GPU is done, so the host prefers work it already has. Ties go to execution
    /// order. Transfers come just before their first reader and graph outputs end on the CPU,
    /// as the compiler inserts them. Where execution order itself is predicted faster (the
    /// list schedule is a heuristic), that order is kept.
    pub fn schedule(&self, loc: &[usize]) -> Schedule {
        let n = self.len();
        let mut times = Vec::with_capacity(n);
        for (i, &d) in loc.iter().enumerate() {
            match &self.times[i][d] {
                Ok(t) => times.push(*t),
                Err(_) => {
                    let timeline = Timeline { latency_us: f64::INFINITY, ..Default::default() };
                    return Schedule { order: (0..n).collect(), timeline, transfers: 0 };
                }
            }
        }
        let (cpu, gpu) = (dev(Device::Cpu), dev(Device::Gpu));
        let mut clocks = Clocks::new();
        // Whether each value has been copied to each device, and how many copies.
        let mut moved = vec![[false; 2]; self.values.len()];
        let mut transfers = 0;
        // Computed inputs each op still waits for; ready ops by device, in execution order.
        let mut waiting: Vec<usize> =
            self.reads.iter().map(|r| r.iter().filter(|&&k| self.op_source(k).is_some()).count()).collect();
        let mut ready: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for i in (0..n).filter(|&i| waiting[i] == 0) {
            ready[loc[i]].push(i);
        }
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let i = if !ready[gpu].is_empty() {
                ready[gpu].remove(0)
            } else {
                // A CPU op that needs a download waits for the GPU: start it last among equals.
                let needs_download =
                    |i: usize| self.reads[i].iter().any(|&k| self.value_device(k, loc) == gpu && !moved[k][cpu]);
                let pick = ready[cpu]
                    .iter()
                    .enumerate()
                    .min_by_key(|&(_, &i)| (needs_download(i), i))
                    .map(|(pos, _)| pos)
                    .expect("a topological order: some op is always ready");
                ready[cpu].remove(pick)
            };
            for &k in &self.reads[i] {
                transfers += usize::from(self.move_value(&mut clocks, &mut moved, loc, k, loc[i]));
            }
            clocks.step(StepKind::Compute(DEVICE_OF[loc[i]]), times[i]);
            order.push(i);
            for &k in &self.writes[i] {
                for &c in &self.values[k].consumers {
                    waiting[c] -= 1;
                    if waiting[c] == 0 {
                        let list = &mut ready[loc[c]];
                        let at = list.partition_point(|&x| x < c);
                        list.insert(at, c);
                    }
                }
            }
        }
        for k in 0..self.values.len() {
            if self.values[k].is_output {
                transfers += usize::from(self.move_value(&mut clocks, &mut moved, loc, k, cpu));
            }
        }
        let timeline = clocks.finish();
        // The list schedule is a heuristic: where plain execution order does better, keep it.
        let plain: Vec<usize> = (0..n).collect();
        let in_order = self.run_in_order(loc, &plain);
        if in_order.latency_us < timeline.latency_us - 1e-9 {
            return Schedule { order: plain, timeline: in_order, transfers };
        }
        Schedule { order, timeline, transfers }
    }
}

const DEVICE_OF: [Device; 2] = crate::problem::DEVICES;
