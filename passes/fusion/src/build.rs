//! The IR graph as an e-graph, and the extracted e-graph back as an IR graph.

use crate::analysis::{EG, FusionAnalysis};
use crate::lang::{ENode, FOp};
use egg::{Id, Language};
use hetc_ir::{Graph, Node, Op, Tensor, ValueRef};
use std::collections::HashMap;

/// An e-graph holding one e-node per node of a graph.
pub struct Built {
    pub egraph: EG,
    /// The class of each graph output, in order.
    pub roots: Vec<Id>,
}

fn add_named(eg: &mut EG, node: ENode, name: &str, value: &str, pos: usize) -> Id {
    eg.analysis.pending_name = Some((name.to_string(), value.to_string(), Some(pos as u32)));
    let id = eg.add(node.clone());
    eg.analysis.pending_name = None;
    eg.analysis.node_names.entry(node).or_insert_with(|| name.to_string());
    id
}

/// Adds every node of `graph`: inputs, constants (by reference: tensors share their bytes),
/// ops over their input slots (unconnected optional slots get the `Absent` class), and one
/// `Proj` per output of multi-output ops.
pub fn build(graph: &Graph) -> Result<Built, String> {
    let mut analysis = FusionAnalysis::default();
    analysis.input_types = graph.inputs.iter().map(|&i| graph.node(i).outputs[0].clone()).collect();
    let mut eg = EG::new(analysis);
    let absent = eg.add(ENode::leaf(FOp::Absent));
    let mut class_of: HashMap<ValueRef, Id> = HashMap::new();
    for (pos, id) in graph.topo_order().map_err(|e| e.to_string())?.into_iter().enumerate() {
        let node = graph.node(id);
        let value_name = |slot: usize| node.output_names.get(slot).cloned().unwrap_or_else(|| node.name.clone());
        let at = |slot| ValueRef { node: id, slot };
        match &node.op {
            Op::Input => {
                let pos =
                    graph.inputs.iter().position(|&i| i == id).ok_or("an input node that is not a graph input")?;
                let c = add_named(&mut eg, ENode::leaf(FOp::Input(pos as u32)), &node.name, &value_name(0), pos);
                class_of.insert(at(0), c);
            }
            Op::Constant(t) => {
                let i = eg.analysis.add_const(t.clone());
                let c = add_named(&mut eg, ENode::leaf(FOp::Const(i)), &node.name, &value_name(0), pos);
                class_of.insert(at(0), c);
            }
            op => {
                let children: Vec<Id> =
                    graph.inputs_of(id).into_iter().map(|v| v.map_or(absent, |v| class_of[&v])).collect();
                let i = eg.analysis.intern_op(op.clone());
                let c = add_named(&mut eg, ENode::new(FOp::Op(i), children), &node.name, &value_name(0), pos);
                if node.outputs.len() == 1 {
                    class_of.insert(at(0), c);
                } else {
                    for slot in 0..node.outputs.len() {
                        let p = ENode::new(FOp::Proj(slot as u32), vec![c]);
                        let pc = add_named(&mut eg, p, &node.name, &value_name(slot), pos);
                        class_of.insert(at(slot), pc);
                    }
                }
            }
        }
    }
    eg.rebuild();
    let roots = graph.outputs.iter().map(|o| class_of[&o.value]).collect();
    Ok(Built { egraph: eg, roots })
}

/// Materialises extracted classes as graph nodes.
struct Rebuild<'a> {
    eg: &'a EG,
    choice: &'a HashMap<Id, ENode>,
    graph: Graph,
    inputs: Vec<hetc_ir::NodeId>,
    names: HashMap<ENode, String>,
    values: HashMap<Id, ValueRef>,
    multi: HashMap<Id, hetc_ir::NodeId>,
    tensors: HashMap<Id, Tensor>,
}

impl Rebuild<'_> {
    fn node(&self, c: Id) -> Result<&ENode, String> {
        self.choice.get(&self.eg.find(c)).ok_or_else(|| format!("class {c} was not extracted"))
    }

    fn class_name(&self, c: Id) -> String {
        if let Some(name) = &self.eg[c].data.name {
            return name.clone();
        }
        // A derived constant: named after the weight it was derived from.
        match self.node(c).map(|n| (n.op, n.children.first().copied())) {
            Ok((FOp::Derived(_), Some(first))) => {
                let base = self.class_name(first);
                if base.ends_with("/folded") { base } else { format!("{base}/folded") }
            }
            _ => "fused".into(),
        }
    }

    /// The value of a constant class (a weight, or a derivation evaluated now).
    fn tensor(&mut self, c: Id) -> Result<Tensor, String> {
        let c = self.eg.find(c);
        if let Some(t) = self.tensors.get(&c) {
            return Ok(t.clone());
        }
        let node = self.node(c)?.clone();
        let t = match node.op {
            FOp::Const(i) => self.eg.analysis.consts[i as usize].clone(),
            FOp::Derived(d) => {
                let inputs: Vec<Tensor> = node.children.iter().map(|&x| self.tensor(x)).collect::<Result<_, _>>()?;
                self.eg.analysis.derived[d as usize].eval(&inputs.iter().collect::<Vec<_>>())
            }
            _ => return Err(format!("class {c} is not a constant")),
        };
        self.tensors.insert(c, t.clone());
        Ok(t)
    }

    fn value(&mut self, c: Id) -> Result<Option<ValueRef>, String> {
        let c = self.eg.find(c);
        if let Some(&v) = self.values.get(&c) {
            return Ok(Some(v));
        }
        let node = self.node(c)?.clone();
        let v = match node.op {
            FOp::Absent => return Ok(None),
            FOp::Input(i) => ValueRef { node: self.inputs[i as usize], slot: 0 },
            FOp::Const(_) | FOp::Derived(_) => {
                let t = self.tensor(c)?;
                let name = self.class_name(c);
                ValueRef { node: self.graph.add_constant(name, t), slot: 0 }
            }
            FOp::Proj(slot) => {
                let owner = self.eg.find(node.children[0]);
                if !self.multi.contains_key(&owner) {
                    self.op_node(owner)?;
                }
                ValueRef { node: self.multi[&owner], slot: slot as usize }
            }
            FOp::Op(_) => ValueRef { node: self.op_node(c)?, slot: 0 },
        };
        self.values.insert(c, v);
        Ok(Some(v))
    }

    fn op_node(&mut self, c: Id) -> Result<hetc_ir::NodeId, String> {
        let node = self.node(c)?.clone();
        let FOp::Op(i) = node.op else { return Err(format!("class {c} is not an op")) };
        let mut inputs = Vec::with_capacity(node.children.len());
        for &ch in &node.children {
            inputs.push(self.value(ch)?);
        }
        let data = &self.eg[c].data;
        let name = self.names.get(&node).cloned().unwrap_or_else(|| self.class_name(c));
        let outputs = data.types.clone();
        let output_names = if outputs.len() == 1 {
            vec![data.value_name.clone().unwrap_or_else(|| name.clone())]
        } else {
            // A multi-output op's output names live on its Proj classes; dumps and plans name
            // values by those.
            (0..outputs.len()).map(|s| format!("{name}:{s}")).collect()
        };
        let id = self.graph.add_node(Node {
            name,
            op: self.eg.analysis.ops[i as usize].clone(),
            num_inputs: inputs.len(),
            outputs,
            output_names,
        });
        for (slot, v) in inputs.into_iter().enumerate() {
            if let Some(v) = v {
                self.graph.connect(v, id, slot);
            }
        }
        self.multi.insert(c, id);
        Ok(id)
    }
}

/// The graph the extraction describes: `original`'s inputs (all of them, in order), the
/// extracted nodes in dependency order, and `original`'s outputs.
pub fn rebuild(original: &Graph, eg: &EG, roots: &[Id], choice: &HashMap<Id, ENode>) -> Result<Graph, String> {
    let mut graph = Graph::new(original.name.clone());
    let inputs = original
        .inputs
        .iter()
        .map(|&i| graph.add_input(original.node(i).name.clone(), original.node(i).outputs[0].clone()))
        .collect();
    let mut names = HashMap::new();
    let mut named: Vec<(&ENode, &String)> = eg.analysis.node_names.iter().collect();
    named.sort();
    for (n, name) in named {
        names.entry(n.clone().map_children(|c| eg.find(c))).or_insert_with(|| name.clone());
    }
    let mut r = Rebuild {
        eg,
        choice,
        graph,
        inputs,
        names,
        values: HashMap::new(),
        multi: HashMap::new(),
        tensors: HashMap::new(),
    };
    for c in execution_order(eg, roots, choice)? {
        if let Some(ENode { op: FOp::Op(_), .. }) = choice.get(&c) {
            r.value(c)?;
        }
    }
    for (o, &root) in original.outputs.iter().zip(roots) {
        let v = r.value(root)?.ok_or("a graph output is an absent value")?;
        r.graph.outputs.push(hetc_ir::GraphOutput { name: o.name.clone(), value: v });
    }
    Ok(r.graph)
}

/// The extracted classes in an order to run them: dependencies first, otherwise by position
/// in the original graph. A class that no original node was in (a node a rule built) takes
/// the position of its earliest consumer, so it runs right before it.
fn execution_order(eg: &EG, roots: &[Id], choice: &HashMap<Id, ENode>) -> Result<Vec<Id>, String> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Depth-first post-order: children before parents.
    let mut post: Vec<Id> = Vec::new();
    let mut seen: HashMap<Id, bool> = HashMap::new();
    let mut stack: Vec<(Id, bool)> = roots.iter().rev().map(|&r| (eg.find(r), false)).collect();
    while let Some((c, expanded)) = stack.pop() {
        if expanded {
            post.push(c);
            continue;
        }
        if seen.contains_key(&c) {
            continue;
        }
        seen.insert(c, true);
        let node = choice.get(&c).ok_or_else(|| format!("class {c} was not extracted"))?;
        stack.push((c, true));
        for &ch in node.children.iter().rev() {
            if !seen.contains_key(&eg.find(ch)) {
                stack.push((eg.find(ch), false));
            }
        }
    }
    let mut pos: HashMap<Id, u32> = HashMap::new();
    let mut parents: HashMap<Id, Vec<Id>> = HashMap::new();
    for &c in &post {
        for &ch in &choice[&c].children {
            parents.entry(eg.find(ch)).or_default().push(c);
        }
    }
    for &c in post.iter().rev() {
        let own = eg[c].data.pos;
        let from_parents = parents.get(&c).and_then(|ps| ps.iter().filter_map(|p| pos.get(p)).min().copied());
        pos.insert(c, own.or(from_parents).unwrap_or(u32::MAX));
    }
    let mut waiting: HashMap<Id, usize> = HashMap::new();
    for &c in &post {
        let mut kids: Vec<Id> = choice[&c].children.iter().map(|&x| eg.find(x)).collect();
        kids.sort();
        kids.dedup();
        waiting.insert(c, kids.len());
    }
    let mut ready: BinaryHeap<Reverse<(u32, Id)>> =
        post.iter().filter(|c| waiting[c] == 0).map(|&c| Reverse((pos[&c], c))).collect();
    let mut order = Vec::with_capacity(post.len());
    while let Some(Reverse((_, c))) = ready.pop() {
        order.push(c);
        let mut ps = parents.get(&c).cloned().unwrap_or_default();
        ps.sort();
        ps.dedup();
        for p in ps {
            let w = waiting.get_mut(&p).expect("every parent was visited");
            *w -= 1;
            if *w == 0 {
                ready.push(Reverse((pos[&p], p)));
            }
        }
    }
    if order.len() != post.len() {
        return Err("the extracted graph has a cycle".into());
    }
    Ok(order)
}
