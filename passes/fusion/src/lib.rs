//! Operator fusion by equality saturation (egg 0.11), after TENSAT.
//!
//! 1. **Build** ([`build`]): the graph becomes an e-graph, one e-node per node; constants are
//!    referenced by index, never copied.
//! 2. **Saturate**: egg's [`Runner`] applies the [`rules`] (weight folding, convolution
//!    epilogues, elementwise chains, Pad folding, transpose/reshape cancelling) until nothing
//!    changes or a limit (iterations, e-nodes, time) is hit. Every rewrite is shape-checked
//!    through the e-class analysis ([`analysis`]).
//! 3. **Extract** ([`extract`]): a DAG-aware greedy extractor picks one e-node per needed class,
//!    minimising the [`CostModel`]'s cost (per-op time plus memory traffic) with each shared
//!    sub-graph counted once.
//! 4. **Rebuild**: the extracted DAG becomes the new graph; derived weights (folded
//!    normalisations and constants) are computed now, only for what was kept.
//!
//! The pass implements [`hetc_ir::pass::Pass`]; run it through
//! [`hetc_ir::pass::run_checked`] to have the result validated.

pub mod analysis;
pub mod build;
pub mod cost;
pub mod derived;
pub mod extract;
pub mod lang;
pub mod rules;

pub use cost::{CostModel, FlopsBytesModel, OpCost};

use crate::lang::{ENode, FOp};
use analysis::EG;
use egg::{Runner, SimpleScheduler};
use hetc_ir::pass::{Pass, PassError};
use hetc_ir::{Graph, TensorType};
use std::time::{Duration, Instant};

/// Bounds on saturation: the pass must stay well under a second on every model.
#[derive(Debug, Clone)]
pub struct FusionLimits {
    pub iterations: usize,
    pub enodes: usize,
    pub time: Duration,
}

impl Default for FusionLimits {
    /// Chains of up to a dozen elementwise ops merge fully in 12 iterations; the shared models
    /// saturate in fewer.
    fn default() -> Self {
        FusionLimits { iterations: 12, enodes: 200_000, time: Duration::from_millis(600) }
    }
}

/// The fusion pass with a cost model.
#[derive(Debug, Clone, Default)]
pub struct FusionPass<C: CostModel = FlopsBytesModel> {
    pub cost: C,
    pub limits: FusionLimits,
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct FusionReport {
    /// Compute nodes (not inputs or constants) before and after.
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    pub iterations: usize,
    pub stop_reason: String,
    /// Unions made, per rule.
    pub rules: Vec<(String, usize)>,
    /// Rewrites refused because their sides' types differed (0 unless a rule has a bug).
    pub refused_unions: usize,
    /// The cost model's estimate for the graph before and after (its own units: us).
    pub cost_before: f64,
    pub cost_after: f64,
    /// The cost of egg's greedy tree extraction of the same e-graph, for comparison.
    pub cost_tree_greedy: f64,
    pub fell_back_to_tree: bool,
    pub cost_model: String,
    pub saturate: Duration,
    pub extract: Duration,
    pub total: Duration,
}

fn compute_nodes(g: &Graph) -> usize {
    g.node_ids().filter(|&n| g.node(n).op.is_compute()).count()
}

/// Each e-node's own cost under `model` (views, inputs and constants cost nothing).
fn node_cost<'a, C: CostModel>(eg: &'a EG, model: &'a C) -> impl Fn(&ENode) -> f64 + 'a {
    move |n: &ENode| {
        let FOp::Op(i) = n.op else { return 0.0 };
        let op = &eg.analysis.ops[i as usize];
        let inputs: Vec<Option<&TensorType>> = n.children.iter().map(|&c| eg[c].data.types.first()).collect();
        match eg.lookup(n.clone()) {
            Some(c) => model.total(model.op_cost(op, &inputs, &eg[c].data.types)),
            None => 0.0,
        }
    }
}

impl<C: CostModel> FusionPass<C> {
    pub fn new(cost: C) -> Self {
        FusionPass { cost, limits: FusionLimits::default() }
    }

    fn fuse(&self, graph: &Graph) -> Result<(Graph, FusionReport), String> {
        let start = Instant::now();
        let built = build::build(graph)?;
        let roots = built.roots.clone();
        let cost_before = {
            let cost = node_cost(&built.egraph, &self.cost);
            extract::extract_dag(&built.egraph, &roots, cost).cost
        };
        let sat_start = Instant::now();
        let runner = Runner::default()
            .with_egraph(built.egraph)
            .with_iter_limit(self.limits.iterations)
            .with_node_limit(self.limits.enodes)
            .with_time_limit(self.limits.time)
            .with_scheduler(SimpleScheduler)
            .run(&rules::all());
        let saturate = sat_start.elapsed();
        let stop_reason = runner.stop_reason.as_ref().map(|r| format!("{r:?}")).unwrap_or_default();
        let iterations = runner.iterations.len();
        let eg = runner.egraph;
        let ext_start = Instant::now();
        let extraction = extract::extract_dag(&eg, &roots, node_cost(&eg, &self.cost));
        let extract = ext_start.elapsed();
        let cost_tree_greedy = extract::tree_extraction(&eg, &roots, node_cost(&eg, &self.cost)).cost;
        let fused = build::rebuild(graph, &eg, &roots, &extraction.choice)?;
        let mut rules: Vec<(String, usize)> = eg.analysis.applied.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        rules.sort();
        let report = FusionReport {
            nodes_before: compute_nodes(graph),
            nodes_after: compute_nodes(&fused),
            egraph_nodes: eg.total_number_of_nodes(),
            egraph_classes: eg.number_of_classes(),
            iterations,
            stop_reason,
            rules,
            refused_unions: eg.analysis.refused_unions,
            cost_before,
            cost_after: extraction.cost,
            cost_tree_greedy,
            fell_back_to_tree: extraction.fell_back_to_tree,
            cost_model: self.cost.name().to_string(),
            saturate,
            extract,
            total: start.elapsed(),
        };
        Ok((fused, report))
    }
}

impl<C: CostModel> Pass for FusionPass<C> {
    type Report = FusionReport;

    fn name(&self) -> &'static str {
        "fusion"
    }

    fn run(&self, graph: &mut Graph) -> Result<FusionReport, PassError> {
        let (fused, report) = self.fuse(graph).map_err(|reason| PassError::Failed { pass: "fusion", reason })?;
        *graph = fused;
        Ok(report)
    }
}
