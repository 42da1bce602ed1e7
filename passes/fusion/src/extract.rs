//! Extraction: one e-node per needed e-class, minimising the cost of the whole DAG.
//!
//! egg's greedy [`egg::Extractor`] minimises each class's *tree* cost: a sub-graph used by two
//! consumers is paid twice, so it happily computes a convolution twice to fuse an activation
//! into one copy of it. egg's LP extractor gets this right but needs a system CBC library.
//! This extractor works in two steps instead, both counting each class once:
//!
//! 1. **Greedy DAG** (extraction-gym's "faster greedy DAG"): each class's cost is the set of
//!    classes its best sub-DAG needs, each with its chosen node's cost; a node's candidate set
//!    is the union of its children's sets plus itself (a node whose children's sets already
//!    contain its own class would close a cycle and is skipped). Costs propagate bottom-up to
//!    a fixed point, taking strict improvements only, so it terminates.
//! 2. **Local search** over the whole DAG ([`improve`]): one class's node is switched whenever
//!    that lowers the cost of everything the roots need and closes no cycle. Step 1 alone is
//!    still greedy per class: it prefers a node that is cheap on its own over one that reuses
//!    a sub-graph other consumers need anyway (the test below); step 2 sees the sharing.
//!
//! If step 1's choice closes a cycle (a class's choice changed after a parent's set was
//! built), step 2 starts from egg's tree-greedy choice instead, which is always acyclic. The
//! result is not proven optimal (that is the LP's job) but never pays a shared sub-graph twice.

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
    // Every class's greedy choice; then improve the choice of the whole DAG locally.
    let mut full: HashMap<Id, ENode> = HashMap::new();
    for (i, b) in best.iter().enumerate() {
        if let Some((k, _, _)) = b {
            full.insert(class_ids[i], nodes[*k].1.clone());
        }
    }
    let mut fell_back_to_tree = false;
    if dag_cost_checked(egraph, roots, &full, &node_cost).is_none() {
        // The greedy choice closed a cycle: start from the tree choice, always acyclic.
        let extractor = egg::Extractor::new(egraph, TreeCost(|n: &ENode| node_cost(n)));
        full = class_ids
            .iter()
            .map(|&c| (c, extractor.find_best_node(c).clone().map_children(|x| egraph.find(x))))
            .collect();
        fell_back_to_tree = true;
    }
    improve(egraph, roots, &mut full, &node_cost);
    let choice = reachable(egraph, roots, &full);
    let cost = Extraction::dag_cost(egraph, roots, &choice, &node_cost);
    Extraction { choice, cost, fell_back_to_tree }
}

/// The classes reachable from the roots under `full`, with their nodes.
fn reachable<N: egg::Analysis<ENode>>(
    egraph: &EGraph<ENode, N>,
    roots: &[Id],
    full: &HashMap<Id, ENode>,
) -> HashMap<Id, ENode> {
    let mut choice = HashMap::new();
    let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    while let Some(c) = stack.pop() {
        if choice.contains_key(&c) {
            continue;
        }
        let n = full[&c].clone();
        stack.extend(n.children.iter().map(|&x| egraph.find(x)));
        choice.insert(c, n);
    }
    choice
}

/// The DAG cost of `full` from the roots, `None` if it has a cycle or a class without choice.
fn dag_cost_checked<N: egg::Analysis<ENode>>(
    egraph: &EGraph<ENode, N>,
    roots: &[Id],
    full: &HashMap<Id, ENode>,
    node_cost: &impl Fn(&ENode) -> f64,
) -> Option<f64> {
    // 1: on the current path, 2: done.
    let mut state: HashMap<Id, u8> = HashMap::new();
    let mut total = 0.0;
    let mut stack: Vec<(Id, bool)> = roots.iter().map(|&r| (egraph.find(r), false)).collect();
    while let Some((c, leaving)) = stack.pop() {
        if leaving {
            state.insert(c, 2);
            continue;
        }
        match state.get(&c) {
            Some(2) => continue,
            Some(_) => return None,
            None => {}
        }
        state.insert(c, 1);
        let n = full.get(&c)?;
        total += node_cost(n);
        stack.push((c, true));
        for &ch in &n.children {
            let ch = egraph.find(ch);
            match state.get(&ch) {
                Some(2) => {}
                Some(_) => return None,
                None => stack.push((ch, false)),
            }
        }
    }
    Some(total)
}

/// Local search over the whole DAG: switch one class's node whenever that lowers the cost of
/// everything the roots need (each class counted once) and closes no cycle. This catches
/// what per-class greedy choices miss: a node that is dearer on its own but reuses a
/// sub-graph that other consumers need anyway. Bounded in passes and time.
fn improve<N: egg::Analysis<ENode>>(
    egraph: &EGraph<ENode, N>,
    roots: &[Id],
    full: &mut HashMap<Id, ENode>,
    node_cost: &impl Fn(&ENode) -> f64,
) {
    const MAX_PASSES: usize = 4;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(250);
    let Some(mut current) = dag_cost_checked(egraph, roots, full, node_cost) else { return };
    for _ in 0..MAX_PASSES {
        let mut improved = false;
        let mut classes: Vec<Id> =
            reachable(egraph, roots, full).into_keys().filter(|&c| egraph[c].nodes.len() > 1).collect();
        classes.sort();
        for c in classes {
            if std::time::Instant::now() > deadline {
                return;
            }
            let alternatives: Vec<ENode> =
                egraph[c].nodes.iter().map(|n| n.clone().map_children(|x| egraph.find(x))).collect();
            for alt in alternatives {
                if full.get(&c) == Some(&alt) || alt.children.iter().any(|ch| !full.contains_key(ch)) {
                    continue;
                }
                let old = full.insert(c, alt).expect("every reachable class has a choice");
                match dag_cost_checked(egraph, roots, full, node_cost) {
                    Some(cost) if cost < current - 1e-9 * current.abs().max(1.0) => {
                        current = cost;
                        improved = true;
                    }
                    _ => {
                        full.insert(c, old);
                    }
                }
            }
        }
        if !improved {
            return;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::FOp;

    /// `root = f(a, b)`, `b = g(s)`, `s` expensive; `a` is either `h(s)` (cheap, but reuses
    /// `s`) or `k(x)` (dearer than `h`, cheaper than a second `s`).
    fn shared() -> (EGraph<ENode, ()>, Id, Id) {
        let mut eg: EGraph<ENode, ()> = EGraph::default();
        let x = eg.add(ENode::leaf(FOp::Input(0)));
        let s = eg.add(ENode::new(FOp::Op(0), vec![x]));
        let a1 = eg.add(ENode::new(FOp::Op(1), vec![s]));
        let a2 = eg.add(ENode::new(FOp::Op(2), vec![x]));
        eg.union(a1, a2);
        let b = eg.add(ENode::new(FOp::Op(3), vec![s]));
        let root = eg.add(ENode::new(FOp::Op(4), vec![a1, b]));
        eg.rebuild();
        (eg, root, a1)
    }

    fn cost(n: &ENode) -> f64 {
        match n.op {
            FOp::Op(0) => 100.0,
            FOp::Op(2) => 50.0,
            FOp::Op(_) => 1.0,
            _ => 0.0,
        }
    }

    #[test]
    fn shared_subgraphs_are_counted_once() {
        let (eg, root, a) = shared();
        let tree = tree_extraction(&eg, &[root], cost);
        let dag = extract_dag(&eg, &[root], cost);
        // egg's greedy extractor prices `h(s)` at 101 (s counted again) and picks `k(x)`:
        // the DAG costs 100 + 50 + 1 + 1. Counting `s` once, `h(s)` costs 1.
        assert_eq!(tree.choice[&eg.find(a)].op, FOp::Op(2));
        assert_eq!(dag.choice[&eg.find(a)].op, FOp::Op(1));
        assert!(!dag.fell_back_to_tree);
        assert!((tree.cost - 152.0).abs() < 1e-3, "{}", tree.cost);
        assert!((dag.cost - 103.0).abs() < 1e-3, "{}", dag.cost);
    }

    #[test]
    fn cycles_in_the_egraph_are_not_extracted() {
        // a = r(b), b = r(a) | x: a reshape pair that cancels.
        let mut eg: EGraph<ENode, ()> = EGraph::default();
        let x = eg.add(ENode::leaf(FOp::Input(0)));
        let a = eg.add(ENode::new(FOp::Op(5), vec![x]));
        let b = eg.add(ENode::new(FOp::Op(5), vec![a]));
        eg.union(b, x);
        eg.rebuild();
        let out = extract_dag(&eg, &[a], |_| 0.0);
        assert_eq!(out.choice[&eg.find(x)].op, FOp::Input(0));
        assert_eq!(out.choice.len(), 2);
    }
}
