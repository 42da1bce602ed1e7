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
    /// order. Since a download waits for all the GPU work issued before it, a second policy
    /// runs a CPU op that needs a download before issuing more GPU work; plain execution order
    /// is a third candidate; the order predicted fastest is kept. Transfers come just before
    /// their first reader and graph outputs end on the CPU, as the compiler inserts them.
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
        // The list schedule is a heuristic: of its two policies and plain execution order,
        // keep the order predicted fastest (the first of equals).
        let mut best = self.list_schedule(loc, &times, Policy::GpuFirst);
        let plain: Vec<usize> = (0..n).collect();
        let others =
            [self.list_schedule(loc, &times, Policy::DownloadsFirst), (plain.clone(), self.run_in_order(loc, &plain))];
        for c in others {
            if c.1.latency_us < best.1.latency_us - 1e-9 {
                best = c;
            }
        }
        Schedule { order: best.0, timeline: best.1, transfers: self.transfer_count(loc) }
    }

    /// How many transfers placement `loc` needs, whatever the order.
    fn transfer_count(&self, loc: &[usize]) -> usize {
        let cpu = dev(Device::Cpu);
        let mut count = 0;
        for (k, v) in self.values.iter().enumerate() {
            let from = self.value_device(k, loc);
            let mut needed = [false; 2];
            v.consumers.iter().for_each(|&c| needed[loc[c]] = true);
            needed[cpu] |= v.is_output;
            count += (0..2).filter(|&d| needed[d] && d != from).count();
        }
        count
    }

    /// The list schedule of `loc` under `policy`: the order, and its run.
    fn list_schedule(&self, loc: &[usize], times: &[f64], policy: Policy) -> (Vec<usize>, Timeline) {
        let n = self.len();
        let (cpu, gpu) = (dev(Device::Cpu), dev(Device::Gpu));
        let mut clocks = Clocks::new();
        // Whether each value has been copied to each device.
        let mut moved = vec![[false; 2]; self.values.len()];
        // Computed inputs each op still waits for; ready ops by device, in execution order.
        let mut waiting: Vec<usize> =
            self.reads.iter().map(|r| r.iter().filter(|&&k| self.op_source(k).is_some()).count()).collect();
        let mut ready: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for i in (0..n).filter(|&i| waiting[i] == 0) {
            ready[loc[i]].push(i);
        }
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            // The ready CPU op to run next: one that needs no download first, since a
            // download waits for the GPU.
            let needs_download =
                |i: usize| self.reads[i].iter().any(|&k| self.value_device(k, loc) == gpu && !moved[k][cpu]);
            let next_cpu = ready[cpu].iter().enumerate().min_by_key(|&(_, &i)| (needs_download(i), i));
            let cpu_first = match (policy, next_cpu) {
                (_, None) => false,
                (_, Some(_)) if ready[gpu].is_empty() => true,
                (Policy::GpuFirst, _) => false,
                // Download before the GPU is given more work, which the download would wait for.
                (Policy::DownloadsFirst, Some((_, &i))) => needs_download(i),
            };
            let i = match next_cpu {
                Some((pos, _)) if cpu_first => ready[cpu].remove(pos),
                _ => ready[gpu].remove(0),
            };
            for &k in &self.reads[i] {
                self.move_value(&mut clocks, &mut moved, loc, k, loc[i]);
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
                self.move_value(&mut clocks, &mut moved, loc, k, cpu);
            }
        }
        (order, clocks.finish())
    }
}

/// What the list schedule does when GPU work and CPU work are both ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Issue the GPU work: it costs the host nothing and keeps the GPU busy.
    GpuFirst,
    /// Run a CPU op that needs a download first, so that the download does not wait for GPU
    /// work issued meanwhile; GPU work still goes before CPU work that needs no download.
    DownloadsFirst,
}

const DEVICE_OF: [Device; 2] = crate::problem::DEVICES;
