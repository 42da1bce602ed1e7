//! Layer-level placement: each op runs whole on one processor.
//!
//! Under either objective of [`Objective`]: `Sequential` (granularity `layer`: ops one after
//! another) or `Overlap` (granularity `subgraph`: the two-queue simulation, so that parallel
//! branches placed on different processors overlap). Under `Overlap` the windows run along a
//! depth-first execution order, which keeps each branch's ops consecutive, so that a whole
//! branch can move at once, and the sequential search's result is one more start.
//!
//! The search starts from the single-processor candidates (the CPU alone, and the GPU with
//! every op it cannot run on the CPU) and from the greedy choice of each op's faster
//! processor, then improves each by local search: flip one op, or a window of consecutive ops
//! (2 to 16, so that moving a run of ops pays off even when moving any one of them would add
//! two transfers), to the other processor, whenever the predicted latency drops. Every step
//! strictly lowers the objective, and the number of passes is bounded, so the search ends
//! quickly (milliseconds on the shared models). The result is never predicted slower than the
//! best single-processor candidate, since the search starts from it.

use crate::cost::CostModel;
use crate::error::PartitionError;
use crate::problem::{DEVICES, Objective, Problem, Source, dev};
use hetc_ir::{Graph, NodeId};
use hetc_plan::Device;
use serde::Serialize;
use std::collections::BTreeMap;

/// Window lengths the local search flips.
const WINDOWS: [usize; 5] = [1, 2, 4, 8, 16];
/// Under the overlapping objective, also whole branches of up to 32 ops.
const BRANCH_WINDOWS: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// Upper bound on improving passes over all windows.
const MAX_PASSES: usize = 32;
/// Improvements smaller than this (microseconds) do not count: they would only chase
/// rounding.
const EPSILON_US: f64 = 1e-6;

/// A placement the search considered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub name: &'static str,
    /// `None` when the candidate is impossible (an op its processor cannot run).
    pub predicted_us: Option<f64>,
    pub transfers: usize,
}

/// The chosen placement.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlacement {
    /// Device of every compute op, in execution order.
    pub devices: Vec<(NodeId, Device)>,
    pub predicted_us: f64,
    pub transfers: usize,
    /// Which candidate won (`cpu`, `gpu+fallback`, or the search: `layer` under the
    /// sequential objective, `subgraph` under the overlapping one).
    pub chosen: &'static str,
    /// The objective every latency here is predicted with.
    pub objective: Objective,
    /// Every candidate, in the order above.
    pub candidates: Vec<Candidate>,
    /// What the predictions come from.
    pub cost_model: String,
    /// Device of every op in the faster single-processor candidate (the CPU alone, or the
    /// GPU with what it lacks on the CPU), and its predicted latency.
    pub single: Vec<Device>,
    pub single_us: f64,
}

impl LayerPlacement {
    pub fn device_map(&self) -> BTreeMap<NodeId, Device> {
        self.devices.iter().copied().collect()
    }
}

/// Places every compute op of `graph` on the CPU or the GPU, ops run one after another.
pub fn place_layers(graph: &Graph, cost: &dyn CostModel) -> Result<LayerPlacement, PartitionError> {
    place_layers_with(graph, cost, Objective::Sequential)
}

/// Places every compute op of `graph` on the CPU or the GPU, predicted by `objective`.
pub fn place_layers_with(
    graph: &Graph,
    cost: &dyn CostModel,
    objective: Objective,
) -> Result<LayerPlacement, PartitionError> {
    let problem = Problem::new(graph, cost)?;
    let eval = |loc: &[usize]| problem.predict(loc, objective);
    let (cpu, gpu) = (dev(Device::Cpu), dev(Device::Gpu));

    let unrunnable: Vec<String> = (0..problem.len())
        .filter(|&i| !problem.runs(i, cpu) && !problem.runs(i, gpu))
        .map(|i| {
            let node = graph.node(problem.ops[i]);
            let reasons: Vec<&str> =
                problem.times[i].iter().filter_map(|t| t.as_ref().err().map(String::as_str)).collect();
            format!("{} `{}` ({})", node.op.name(), node.name, reasons.join("; "))
        })
        .collect();
    if !unrunnable.is_empty() {
        return Err(PartitionError::Unrunnable { count: unrunnable.len(), list: unrunnable.join("; ") });
    }

    // Single-processor candidates: every op on one device, falling back to the other only
    // where it must.
    let prefer =
        |d: usize| -> Vec<usize> { (0..problem.len()).map(|i| if problem.runs(i, d) { d } else { 1 - d }).collect() };
    let all_cpu = prefer(cpu);
    let gpu_fallback = prefer(gpu);
    let greedy: Vec<usize> = (0..problem.len())
        .map(|i| match (&problem.times[i][cpu], &problem.times[i][gpu]) {
            (Ok(c), Ok(g)) if g < c => gpu,
            (Ok(_), _) => cpu,
            _ => gpu,
        })
        .collect();

    let cpu_feasible = all_cpu.iter().all(|&d| d == cpu);
    let mut candidates = vec![
        candidate("cpu", &eval, cpu_feasible.then_some(&all_cpu)),
        candidate("gpu+fallback", &eval, Some(&gpu_fallback)),
    ];
    let mut best: Option<(f64, usize, Vec<usize>, &'static str)> = None;
    let mut consider = |loc: Vec<usize>, name: &'static str| {
        let (t, n) = eval(&loc);
        if t.is_finite() && best.as_ref().is_none_or(|b| t < b.0 - EPSILON_US) {
            best = Some((t, n, loc, name));
        }
    };
    if cpu_feasible {
        consider(all_cpu.clone(), "cpu");
    }
    consider(gpu_fallback.clone(), "gpu+fallback");
    let (single_loc, single_us) = {
        let gpu_t = eval(&gpu_fallback).0;
        let cpu_t = if cpu_feasible { eval(&all_cpu).0 } else { f64::INFINITY };
        if cpu_t <= gpu_t { (all_cpu.clone(), cpu_t) } else { (gpu_fallback.clone(), gpu_t) }
    };
    let mut starts = vec![all_cpu, gpu_fallback, greedy];
    let (sequence, windows, name) = match objective {
        Objective::Sequential => ((0..problem.len()).collect::<Vec<_>>(), &WINDOWS[..], "layer"),
        Objective::Overlap => {
            let identity: Vec<usize> = (0..problem.len()).collect();
            let sequential = |l: &[usize]| problem.evaluate(l);
            let layer = starts
                .iter()
                .map(|s| local_search(&sequential, &identity, &WINDOWS, &problem, s.clone()))
                .min_by(|a, b| problem.evaluate(a).0.total_cmp(&problem.evaluate(b).0))
                .expect("three starts");
            starts.push(layer);
            (depth_first_order(&problem), &BRANCH_WINDOWS[..], "subgraph")
        }
    };
    let searched = starts
        .into_iter()
        .map(|start| local_search(&eval, &sequence, windows, &problem, start))
        .min_by(|a, b| eval(a).0.total_cmp(&eval(b).0))
        .expect("three starts");
    candidates.push(candidate(name, &eval, Some(&searched)));
    consider(searched, name);

    let (predicted_us, transfers, loc, chosen) = best.expect("gpu+fallback is always finite");
    Ok(LayerPlacement {
        devices: problem.ops.iter().zip(&loc).map(|(&id, &d)| (id, DEVICES[d])).collect(),
        predicted_us,
        transfers,
        chosen,
        objective,
        candidates,
        cost_model: cost.label(),
        single: single_loc.iter().map(|&d| DEVICES[d]).collect(),
        single_us,
    })
}

fn candidate(name: &'static str, eval: &dyn Fn(&[usize]) -> (f64, usize), loc: Option<&Vec<usize>>) -> Candidate {
    let (t, n) = loc.map_or((f64::INFINITY, 0), |l| eval(l));
    Candidate { name, predicted_us: t.is_finite().then_some(t), transfers: n }
}

/// A topological order of the problem's ops that follows each op with its consumers as long
/// as they are ready (a stack instead of a queue), so that a branch's ops come one after
/// another until it joins another.
fn depth_first_order(problem: &Problem) -> Vec<usize> {
    let n = problem.len();
    let mut waiting = vec![0usize; n];
    for v in &problem.values {
        if let Source::Op(_) = v.source {
            v.consumers.iter().for_each(|&c| waiting[c] += 1);
        }
    }
    // Ready ops in reverse, so that the first in execution order is popped first.
    let mut stack: Vec<usize> = (0..n).rev().filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = stack.pop() {
        order.push(i);
        let mut freed = Vec::new();
        for v in problem.values.iter().filter(|v| v.source == Source::Op(i)) {
            for &c in &v.consumers {
                waiting[c] -= 1;
                if waiting[c] == 0 {
                    freed.push(c);
                }
            }
        }
        freed.sort_unstable_by(|a, b| b.cmp(a));
        stack.extend(freed);
    }
    order
}

/// Flips ops and windows of ops (consecutive in `sequence`, a permutation of the ops) while
/// that lowers the predicted latency.
fn local_search(
    eval: &dyn Fn(&[usize]) -> (f64, usize),
    sequence: &[usize],
    windows: &[usize],
    problem: &Problem,
    mut loc: Vec<usize>,
) -> Vec<usize> {
    let n = problem.len();
    let mut current = eval(&loc).0;
    for _ in 0..MAX_PASSES {
        let mut improved = false;
        for &w in windows {
            if w > n {
                break;
            }
            for start in 0..=n - w {
                for target in 0..DEVICES.len() {
                    let window = &sequence[start..start + w];
                    if window.iter().all(|&i| loc[i] == target) || !window.iter().all(|&i| problem.runs(i, target)) {
                        continue;
                    }
                    let saved: Vec<usize> = window.iter().map(|&i| loc[i]).collect();
                    window.iter().for_each(|&i| loc[i] = target);
                    let t = eval(&loc).0;
                    if t < current - EPSILON_US {
                        current = t;
                        improved = true;
                    } else {
                        window.iter().zip(&saved).for_each(|(&i, &d)| loc[i] = d);
                    }
                }
            }
        }
        if !improved {
            break;
        }
    }
    loc
}
