//! Operator support analysis (`hetc support`): for a model and a target, which compute nodes
//! each processor and each combination of processors runs, why the others are refused, and how
//! fragmented the model becomes when the accelerators run what they can and the rest falls back
//! to the CPU (the study's Figure 3).
//!
//! Definitions (docs/targets.md repeats them):
//!
//! - **Compute nodes** are all nodes except graph inputs and constants, taken in **execution
//!   order**: the IR's deterministic topological order (Kahn's algorithm, ties broken by node
//!   index, i.e. model order), which is the order hetc's plans run steps in.
//! - A node is **supported by a combination** of processors when at least one of them supports
//!   it.
//! - **Placement** of a combination: each node goes to the most preferred processor of the
//!   combination that supports it (NPU, then DSP, then GPU, then CPU; ties in target order);
//!   a node none of them supports **falls back** to the target's CPU, as TFLite delegates and
//!   NNAPI do, even when the CPU is not in the combination. A node the CPU cannot run either is
//!   **unrunnable**; it is counted on the CPU and listed.
//! - A **fallback segment** is a maximal run of consecutive nodes (in execution order) placed on
//!   the CPU, counted only for combinations with at least one accelerator (with the CPU alone
//!   nothing falls back).
//! - **Crossing edges** are data edges whose producer and consumer are on different
//!   processors; weights (constants) are loaded once and never cross, graph inputs start on the
//!   CPU and graph outputs must end there. **Transfers** count what a runtime moves: distinct
//!   (value, destination processor) pairs among the crossing edges, so a value read by three
//!   GPU nodes crosses once.

use crate::catalog::Target;
use crate::desc::ProcessorKind;
use crate::error::TargetError;
use crate::support::{CheckOptions, NodeView};
use hetc_ir::{Graph, NodeId, Op, ValueRef};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A node a combination cannot run, with each member's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    pub node: String,
    pub op: String,
    /// `(processor, reason)` for every processor of the combination.
    pub reasons: Vec<(String, String)>,
}

/// Where a combination's placement puts the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// Nodes per processor (fallbacks included under the CPU's name).
    pub nodes: BTreeMap<String, usize>,
    /// Nodes that are on the CPU only because nothing in the combination runs them.
    pub fallback_nodes: usize,
    pub fallback_segments: usize,
    pub crossing_edges: usize,
    pub transfers: usize,
    /// Nodes no processor of the target runs, the CPU included.
    pub unrunnable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Combination {
    /// Processor names, in target order.
    pub processors: Vec<String>,
    pub supported: usize,
    pub unsupported: usize,
    /// `supported / compute nodes` (1 for a model without compute nodes).
    pub ratio: f64,
    pub unsupported_nodes: Vec<Unsupported>,
    pub placement: Placement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessorInfo {
    pub name: String,
    pub kind: ProcessorKind,
    pub model: String,
    /// What its support table reproduces.
    pub basis: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupportReport {
    pub model: String,
    pub target: String,
    pub device: String,
    pub assume_quantized: bool,
    pub compute_nodes: usize,
    pub processors: Vec<ProcessorInfo>,
    /// Every non-empty subset of the selected processors: singletons first, then pairs, ...;
    /// within a size, in target order.
    pub combinations: Vec<Combination>,
}

/// Analyses `graph` on `target`'s processors named in `selected` (all when `None`).
pub fn analyse(
    graph: &Graph,
    target: &Target,
    selected: Option<&[String]>,
    options: CheckOptions,
) -> Result<SupportReport, TargetError> {
    // Selected processors, in target order, validated by name.
    let all: Vec<&str> = target.processor_names();
    let names: Vec<&str> = match selected {
        None => all.clone(),
        Some(list) => {
            for n in list {
                target.processor(n)?;
            }
            all.iter().copied().filter(|n| list.iter().any(|s| s == n)).collect()
        }
    };
    if names.is_empty() {
        return Err(TargetError::NoProcessors);
    }
    let order: Vec<NodeId> = graph.topo_order()?.into_iter().filter(|&id| graph.node(id).op.is_compute()).collect();

    // Every selected processor's verdict on every node, and the CPU's (the fallback).
    let (cpu, _) = target.cpu();
    let mut verdicts: HashMap<&str, Vec<Result<(), String>>> = HashMap::new();
    let views: Vec<NodeView<'_>> = order.iter().map(|&id| NodeView::of(graph, id)).collect();
    for name in names.iter().copied().chain(std::iter::once(cpu.name.as_str())) {
        if verdicts.contains_key(name) {
            continue;
        }
        let (_, support) = target.processor(name)?;
        verdicts.insert(name, views.iter().map(|v| support.check(v, options)).collect());
    }

    let mut combinations = Vec::new();
    for size in 1..=names.len() {
        for subset in subsets(names.len(), size) {
            let members: Vec<&str> = subset.iter().map(|&i| names[i]).collect();
            combinations.push(combination(graph, target, &order, &views, &verdicts, &members));
        }
    }
    Ok(SupportReport {
        model: graph.name.clone(),
        target: target.name().to_string(),
        device: target.desc.device.clone(),
        assume_quantized: options.assume_quantized,
        compute_nodes: order.len(),
        processors: names
            .iter()
            .map(|&n| {
                let (p, s) = target.processor(n).expect("validated above");
                ProcessorInfo {
                    name: p.name.clone(),
                    kind: p.kind,
                    model: p.model.clone(),
                    basis: s.basis().to_string(),
                }
            })
            .collect(),
        combinations,
    })
}

/// Index subsets of `0..n` with `size` elements, in lexicographic order.
fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
    fn rec(start: usize, n: usize, size: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == size {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            rec(i + 1, n, size, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(0, n, size, &mut Vec::new(), &mut out);
    out
}

fn combination(
    graph: &Graph,
    target: &Target,
    order: &[NodeId],
    views: &[NodeView<'_>],
    verdicts: &HashMap<&str, Vec<Result<(), String>>>,
    members: &[&str],
) -> Combination {
    let (cpu, _) = target.cpu();
    let kind = |n: &str| target.processor(n).map(|(p, _)| p.kind).expect("validated");
    // Placement preference: most specialised first; ties keep target order (members already are).
    let mut preferred: Vec<&str> = members.to_vec();
    preferred.sort_by_key(|&n| kind(n).preference());
    let has_accelerator = members.iter().any(|&n| kind(n) != ProcessorKind::Cpu);

    let mut location: HashMap<NodeId, &str> = HashMap::new();
    let mut unsupported_nodes = Vec::new();
    let mut unrunnable = Vec::new();
    let mut fallback_nodes = 0;
    for (i, &id) in order.iter().enumerate() {
        let placed = preferred.iter().copied().find(|&n| verdicts[n][i].is_ok());
        let loc = match placed {
            Some(p) => p,
            None => {
                unsupported_nodes.push(Unsupported {
                    node: views[i].name.to_string(),
                    op: views[i].op.name().to_string(),
                    reasons: members
                        .iter()
                        .map(|&n| (n.to_string(), verdicts[n][i].clone().err().unwrap_or_default()))
                        .collect(),
                });
                fallback_nodes += 1;
                if verdicts[cpu.name.as_str()][i].is_err() {
                    unrunnable.push(views[i].name.to_string());
                }
                cpu.name.as_str()
            }
        };
        location.insert(id, loc);
    }

    let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
    for &id in order {
        *nodes.entry(location[&id].to_string()).or_default() += 1;
    }
    let fallback_segments = if has_accelerator {
        let on_cpu: Vec<bool> = order.iter().map(|id| location[id] == cpu.name).collect();
        on_cpu.iter().enumerate().filter(|&(i, &c)| c && (i == 0 || !on_cpu[i - 1])).count()
    } else {
        0
    };
    let (crossing_edges, transfers) = crossings(graph, order, &location, &cpu.name);
    let supported = order.len() - unsupported_nodes.len();
    Combination {
        processors: members.iter().map(|s| s.to_string()).collect(),
        supported,
        unsupported: unsupported_nodes.len(),
        ratio: if order.is_empty() { 1.0 } else { supported as f64 / order.len() as f64 },
        unsupported_nodes,
        placement: Placement { nodes, fallback_nodes, fallback_segments, crossing_edges, transfers, unrunnable },
    }
}

/// Counts crossing edges and transfers for a placement (see the module docs).
fn crossings(graph: &Graph, order: &[NodeId], location: &HashMap<NodeId, &str>, cpu: &str) -> (usize, usize) {
    let where_is = |v: ValueRef| -> Option<&str> {
        match graph.node(v.node).op {
            Op::Constant(_) => None,
            Op::Input => Some(cpu),
            _ => location.get(&v.node).copied(),
        }
    };
    let mut edges = 0;
    let mut moved: BTreeSet<(ValueRef, &str)> = BTreeSet::new();
    for &id in order {
        let here = location[&id];
        for v in graph.inputs_of(id).into_iter().flatten() {
            if let Some(from) = where_is(v)
                && from != here
            {
                edges += 1;
                moved.insert((v, here));
            }
        }
    }
    for o in &graph.outputs {
        if let Some(from) = where_is(o.value)
            && from != cpu
        {
            edges += 1;
            moved.insert((o.value, cpu));
        }
    }
    (edges, moved.len())
}
