//! Layer-level placement: each op runs whole on one processor.
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
use crate::problem::{DEVICES, Problem, dev};
use hetc_ir::{Graph, NodeId};
use hetc_plan::Device;
use serde::Serialize;
use std::collections::BTreeMap;

/// Window lengths the local search flips.
const WINDOWS: [usize; 5] = [1, 2, 4, 8, 16];
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
    /// Which candidate won (`cpu`, `gpu+fallback` or `layer`).
    pub chosen: &'static str,
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

/// Places every compute op of `graph` on the CPU or the GPU.
pub fn place_layers(graph: &Graph, cost: &dyn CostModel) -> Result<LayerPlacement, PartitionError> {
    let problem = Problem::new(graph, cost)?;
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
        candidate("cpu", &problem, cpu_feasible.then_some(&all_cpu)),
        candidate("gpu+fallback", &problem, Some(&gpu_fallback)),
    ];
    let mut best: Option<(f64, usize, Vec<usize>, &'static str)> = None;
    let mut consider = |loc: Vec<usize>, name: &'static str| {
        let (t, n) = problem.evaluate(&loc);
        if t.is_finite() && best.as_ref().is_none_or(|b| t < b.0 - EPSILON_US) {
            best = Some((t, n, loc, name));
        }
    };
    if cpu_feasible {
        consider(all_cpu.clone(), "cpu");
    }
    consider(gpu_fallback.clone(), "gpu+fallback");
    let (single_loc, single_us) = {
        let gpu_t = problem.evaluate(&gpu_fallback).0;
        let cpu_t = if cpu_feasible { problem.evaluate(&all_cpu).0 } else { f64::INFINITY };
        if cpu_t <= gpu_t { (all_cpu.clone(), cpu_t) } else { (gpu_fallback.clone(), gpu_t) }
    };
    let starts = [all_cpu, gpu_fallback, greedy];
    let searched = starts
        .into_iter()
        .map(|start| local_search(&problem, start))
        .min_by(|a, b| problem.evaluate(a).0.total_cmp(&problem.evaluate(b).0))
        .expect("three starts");
    candidates.push(candidate("layer", &problem, Some(&searched)));
    consider(searched, "layer");

    let (predicted_us, transfers, loc, chosen) = best.expect("gpu+fallback is always finite");
    Ok(LayerPlacement {
        devices: problem.ops.iter().zip(&loc).map(|(&id, &d)| (id, DEVICES[d])).collect(),
        predicted_us,
        transfers,
        chosen,
        candidates,
        cost_model: cost.label(),
        single: single_loc.iter().map(|&d| DEVICES[d]).collect(),
        single_us,
    })
}

fn candidate(name: &'static str, problem: &Problem, loc: Option<&Vec<usize>>) -> Candidate {
    let (t, n) = loc.map_or((f64::INFINITY, 0), |l| problem.evaluate(l));
    Candidate { name, predicted_us: t.is_finite().then_some(t), transfers: n }
}

/// Flips ops and windows of ops while that lowers the predicted latency.
fn local_search(problem: &Problem, mut loc: Vec<usize>) -> Vec<usize> {
    let n = problem.len();
    let mut current = problem.evaluate(&loc).0;
    for _ in 0..MAX_PASSES {
        let mut improved = false;
        for &w in &WINDOWS {
            if w > n {
                break;
            }
            for start in 0..=n - w {
                for target in 0..DEVICES.len() {
                    let window = start..start + w;
                    if window.clone().all(|i| loc[i] == target) || !window.clone().all(|i| problem.runs(i, target)) {
                        continue;
                    }
                    let saved: Vec<usize> = loc[window.clone()].to_vec();
                    loc[window.clone()].fill(target);
                    let t = problem.evaluate(&loc).0;
                    if t < current - EPSILON_US {
                        current = t;
                        improved = true;
                    } else {
                        loc[window].copy_from_slice(&saved);
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
