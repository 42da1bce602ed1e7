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

fn add_named(eg: &mut EG, node: ENode, name: &str, value: &str) -> Id {
    eg.analysis.pending_name = Some((name.to_string(), value.to_string()));
    let id = eg.add(node.clone());
    eg.analysis.pending_name = None;
    eg.analysis.node_names.push((node, name.to_string()));
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
    for id in graph.topo_order().map_err(|e| e.to_string())? {
        let node = graph.node(id);
        let value_name = |slot: usize| node.output_names.get(slot).cloned().unwrap_or_else(|| node.name.clone());
        let at = |slot| ValueRef { node: id, slot };
        match &node.op {
            Op::Input => {
                let pos =
                    graph.inputs.iter().position(|&i| i == id).ok_or("an input node that is not a graph input")?;
                let c = add_named(&mut eg, ENode::leaf(FOp::Input(pos as u32)), &node.name, &value_name(0));
                class_of.insert(at(0), c);
            }
            Op::Constant(t) => {
                let i = eg.analysis.add_const(t.clone());
                let c = add_named(&mut eg, ENode::leaf(FOp::Const(i)), &node.name, &value_name(0));
                class_of.insert(at(0), c);
            }
            op => {
                let children: Vec<Id> =
                    graph.inputs_of(id).into_iter().map(|v| v.map_or(absent, |v| class_of[&v])).collect();
                let i = eg.analysis.intern_op(op.clone());
                let c = add_named(&mut eg, ENode::new(FOp::Op(i), children), &node.name, &value_name(0));
                if node.outputs.len() == 1 {
                    class_of.insert(at(0), c);
                } else {
                    for slot in 0..node.outputs.len() {
                        let p = ENode::new(FOp::Proj(slot as u32), vec![c]);
                        let pc = add_named(&mut eg, p, &node.name, &value_name(slot));
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
        self.eg[c].data.name.clone().unwrap_or_else(|| format!("fused_{c}"))
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
    for (n, name) in &eg.analysis.node_names {
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
    for (o, &root) in original.outputs.iter().zip(roots) {
        let v = r.value(root)?.ok_or("a graph output is an absent value")?;
        r.graph.outputs.push(hetc_ir::GraphOutput { name: o.name.clone(), value: v });
    }
    Ok(r.graph)
}
