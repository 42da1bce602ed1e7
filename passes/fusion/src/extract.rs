//! Extraction: one e-node per needed e-class, minimising the cost of the whole DAG.
//!
//! egg's greedy [`egg::Extractor`] minimises each class's *tree* cost: a sub-graph used by two
//! consumers is paid twice, so it happily computes a convolution twice to fuse an activation
//! into one copy of it. egg's LP extractor gets this right but needs a system CBC library.
//! This is the "faster greedy DAG" extractor of extraction-gym instead: each class's cost is
//! the set of classes its best sub-DAG needs, each counted once, with that class's own node
//! cost; a node's candidate set is the union of its children's sets plus itself (a node whose
//! children's sets already contain its own class would close a cycle and is skipped). Costs
//! are propagated bottom-up to a fixed point; only strict improvements are taken, so it
//! terminates. The result is greedy (not optimal across every combination) but never counts a
//! shared sub-graph twice. If the final choice still closed a cycle (a class's choice changed
//! after a parent's set was built), the tree-greedy choice, which is always acyclic, is used
//! instead.

use crate::lang::ENode;
use egg::{CostFunction, EGraph, Id, Language};
use std::collections::{HashMap, VecDeque};

/// Classes an extraction needs, each with the cost of its chosen node, sorted by class.
type CostSet = Vec<(u32, f64)>;

fn merge(a: &CostSet, b: &CostSet) -> CostSet {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The chosen node of every class reachable from the roots, and the DAG's total cost.
#[derive(Debug, Clone)]
pub struct Extraction {
    pub choice: HashMap<Id, ENode>,
    pub cost: f64,
    /// Whether the DAG choice closed a cycle and the tree-greedy choice was used.
    pub fell_back_to_tree: bool,
}

impl Extraction {
    /// The cost of the DAG the choice describes, each class once.
    fn dag_cost<N: egg::Analysis<ENode>>(
        egraph: &EGraph<ENode, N>,
        roots: &[Id],
        choice: &HashMap<Id, ENode>,
        node_cost: &impl Fn(&ENode) -> f64,
    ) -> f64 {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
        let mut total = 0.0;
        while let Some(c) = stack.pop() {
            if seen.insert(c) {
                let n = &choice[&c];
                total += node_cost(n);
                stack.extend(n.children.iter().map(|&x| egraph.find(x)));
            }
        }
        total
    }
}

/// Nodes whose cost is below this count as this: every node costs something, so tree costs
/// strictly grow towards the roots and the greedy choice cannot close a cycle.
pub const MIN_NODE_COST: f64 = 1e-6;

/// Extracts the cheapest DAG (see the module docs). `node_cost` is each node's own cost.
pub fn extract_dag<N: egg::Analysis<ENode>>(
    egraph: &EGraph<ENode, N>,
    roots: &[Id],
    node_cost: impl Fn(&ENode) -> f64,
) -> Extraction {
    let node_cost = |n: &ENode| node_cost(n).max(MIN_NODE_COST);
    let mut class_ids: Vec<Id> = egraph.classes().map(|c| c.id).collect();
    class_ids.sort();
    let index: HashMap<Id, u32> = class_ids.iter().enumerate().map(|(i, &c)| (c, i as u32)).collect();
    // Every node, canonical, with its class and cost.
    let mut nodes: Vec<(u32, ENode, f64)> = Vec::new();
    for &c in &class_ids {
        for n in egraph[c].iter() {
            let n = n.clone().map_children(|x| egraph.find(x));
            let cost = node_cost(&n);
            nodes.push((index[&c], n, cost));
        }
    }
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); class_ids.len()];
    for (k, (_, n, _)) in nodes.iter().enumerate() {
        for &ch in &n.children {
            parents[index[&ch] as usize].push(k);
        }
    }
    let mut best: Vec<Option<(usize, CostSet, f64)>> = vec![None; class_ids.len()];
    let mut queued = vec![false; nodes.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for (k, (_, n, _)) in nodes.iter().enumerate() {
        if n.children.is_empty() {
            queue.push_back(k);
            queued[k] = true;
        }
    }
    while let Some(k) = queue.pop_front() {
        queued[k] = false;
        let (class, node, cost) = &nodes[k];
        let mut set: CostSet = Vec::new();
        let mut complete = true;
        for ch in &node.children {
            match &best[index[ch] as usize] {
                Some((_, s, _)) => set = if set.is_empty() { s.clone() } else { merge(&set, s) },
                None => {
                    complete = false;
                    break;
                }
            }
        }
        if !complete || set.binary_search_by_key(class, |e| e.0).is_ok() {
            continue;
        }
        set = merge(&set, &vec![(*class, *cost)]);
        let total: f64 = set.iter().map(|e| e.1).sum();
        let improves = match &best[*class as usize] {
            None => true,
            Some((_, _, old)) => total < *old - 1e-9 * old.abs().max(1.0),
        };
        if improves {
            best[*class as usize] = Some((k, set, total));
            for &p in &parents[*class as usize] {
                if !queued[p] {
                    queued[p] = true;
                    queue.push_back(p);
                }
            }
        }
    }
    let choice_of = |c: Id| best[index[&egraph.find(c)] as usize].as_ref().map(|(k, _, _)| nodes[*k].1.clone());
    // Walk the choice from the roots, watching for cycles.
    let mut choice: HashMap<Id, ENode> = HashMap::new();
    let mut cyclic = false;
    let mut state: HashMap<Id, bool> = HashMap::new(); // false: on the stack, true: done
    fn visit(
        c: Id,
        choice_of: &dyn Fn(Id) -> Option<ENode>,
        choice: &mut HashMap<Id, ENode>,
        state: &mut HashMap<Id, bool>,
        cyclic: &mut bool,
    ) {
        match state.get(&c) {
            Some(true) => return,
            Some(false) => {
                *cyclic = true;
                return;
            }
            None => {}
        }
        state.insert(c, false);
        let Some(n) = choice_of(c) else {
            *cyclic = true;
            return;
        };
        for &ch in &n.children {
            visit(ch, choice_of, choice, state, cyclic);
        }
        choice.insert(c, n);
        state.insert(c, true);
    }
    for &r in roots {
        visit(egraph.find(r), &choice_of, &mut choice, &mut state, &mut cyclic);
    }
    if cyclic {
        let choice = tree_choice(egraph, roots, &node_cost);
        let cost = Extraction::dag_cost(egraph, roots, &choice, &node_cost);
        return Extraction { choice, cost, fell_back_to_tree: true };
    }
    let cost = Extraction::dag_cost(egraph, roots, &choice, &node_cost);
    Extraction { choice, cost, fell_back_to_tree: false }
}

/// egg's greedy tree-cost function over our node costs.
pub struct TreeCost<F>(pub F);

impl<F: Fn(&ENode) -> f64> CostFunction<ENode> for TreeCost<F> {
    type Cost = f64;

    fn cost<C: FnMut(Id) -> f64>(&mut self, enode: &ENode, mut costs: C) -> f64 {
        enode.children.iter().fold((self.0)(enode).max(MIN_NODE_COST), |acc, &c| acc + costs(c))
    }
}

/// egg's greedy (tree-cost) choice for every class reachable from the roots.
pub fn tree_choice<N: egg::Analysis<ENode>>(
    egraph: &EGraph<ENode, N>,
    roots: &[Id],
    node_cost: &impl Fn(&ENode) -> f64,
) -> HashMap<Id, ENode> {
    let extractor = egg::Extractor::new(egraph, TreeCost(|n: &ENode| node_cost(n)));
    let mut choice = HashMap::new();
    let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    while let Some(c) = stack.pop() {
        if choice.contains_key(&c) {
            continue;
        }
        let n = extractor.find_best_node(c).clone().map_children(|x| egraph.find(x));
        stack.extend(n.children.iter().copied());
        choice.insert(c, n);
    }
    choice
}

/// The DAG cost of egg's greedy tree choice, for comparisons.
pub fn tree_extraction<N: egg::Analysis<ENode>>(
    egraph: &EGraph<ENode, N>,
    roots: &[Id],
    node_cost: impl Fn(&ENode) -> f64,
) -> Extraction {
    let node_cost = |n: &ENode| node_cost(n).max(MIN_NODE_COST);
    let choice = tree_choice(egraph, roots, &node_cost);
    let cost = Extraction::dag_cost(egraph, roots, &choice, &node_cost);
    Extraction { choice, cost, fell_back_to_tree: true }
}
