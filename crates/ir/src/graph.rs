//! The computation graph: a petgraph `StableDiGraph` of operations.
//!
//! Edges carry the producer's output slot and the consumer's input slot, because petgraph's
//! edge order is not insertion order and ops such as Conv or Concat care which input is which.
//! Graph inputs and constants are nodes too (`Op::Input`, `Op::Constant`), so a weight shared
//! by several consumers is stored once.

use crate::{Op, Tensor, TensorType};
use petgraph::Direction;
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use std::collections::{BTreeSet, BinaryHeap};

pub use petgraph::stable_graph::NodeIndex as NodeId;

/// One operation with its output types.
#[derive(Debug, Clone)]
pub struct Node {
    /// The ONNX node name (or the tensor name for inputs and constants); for messages.
    pub name: String,
    pub op: Op,
    /// Number of input slots, including optional ones left unconnected.
    pub num_inputs: usize,
    /// Type of each output slot.
    pub outputs: Vec<TensorType>,
    /// Name of each output value, as in the source model.
    pub output_names: Vec<String>,
}

/// A data dependency: output `src_slot` of the source feeds input `dst_slot` of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub src_slot: usize,
    pub dst_slot: usize,
}

/// A value produced in the graph: output `slot` of `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueRef {
    pub node: NodeIndex,
    pub slot: usize,
}

/// A named graph output.
#[derive(Debug, Clone)]
pub struct GraphOutput {
    pub name: String,
    pub value: ValueRef,
}

/// Structural problems found by [`Graph::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("the graph has a cycle through node `{0}`")]
    Cycle(String),
    #[error("node `{node}` has two producers for input {slot}")]
    DuplicateInput { node: String, slot: usize },
    #[error("node `{node}` input {slot} reads output {src_slot} of `{src}`, which has only {available} outputs")]
    BadSlot { node: String, slot: usize, src: String, src_slot: usize, available: usize },
    #[error("node `{node}` is missing required input {slot}")]
    MissingInput { node: String, slot: usize },
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    graph: StableDiGraph<Node, Edge>,
    /// Graph inputs in declaration order (nodes with `Op::Input`).
    pub inputs: Vec<NodeIndex>,
    pub outputs: Vec<GraphOutput>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Self {
        Graph { name: name.into(), ..Default::default() }
    }

    pub fn add_node(&mut self, node: Node) -> NodeIndex {
        self.graph.add_node(node)
    }

    /// Adds a graph input node.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> NodeIndex {
        let name = name.into();
        let id = self.add_node(Node {
            name: name.clone(),
            op: Op::Input,
            num_inputs: 0,
            outputs: vec![ty],
            output_names: vec![name],
        });
        self.inputs.push(id);
        id
    }

    /// Adds a constant node holding `tensor` (shared, never copied).
    pub fn add_constant(&mut self, name: impl Into<String>, tensor: Tensor) -> NodeIndex {
        let name = name.into();
        let ty = tensor.ty().clone();
        self.add_node(Node {
            name: name.clone(),
            op: Op::Constant(tensor),
            num_inputs: 0,
            outputs: vec![ty],
            output_names: vec![name],
        })
    }

    pub fn connect(&mut self, src: ValueRef, dst: NodeIndex, dst_slot: usize) -> EdgeIndex {
        self.graph.add_edge(src.node, dst, Edge { src_slot: src.slot, dst_slot })
    }

    pub fn node(&self, id: NodeIndex) -> &Node {
        &self.graph[id]
    }

    pub fn node_mut(&mut self, id: NodeIndex) -> &mut Node {
        &mut self.graph[id]
    }

    pub fn try_node(&self, id: NodeIndex) -> Option<&Node> {
        self.graph.node_weight(id)
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.node_indices()
    }

    /// The petgraph graph, for algorithms that want it directly.
    pub fn petgraph(&self) -> &StableDiGraph<Node, Edge> {
        &self.graph
    }

    /// The producer of each input slot of `id`, `None` for unconnected optional inputs.
    pub fn inputs_of(&self, id: NodeIndex) -> Vec<Option<ValueRef>> {
        let mut slots = vec![None; self.graph[id].num_inputs];
        for e in self.graph.edges_directed(id, Direction::Incoming) {
            let w = e.weight();
            if let Some(s) = slots.get_mut(w.dst_slot) {
                *s = Some(ValueRef { node: e.source(), slot: w.src_slot });
            }
        }
        slots
    }

    /// Types of the inputs of `id`, `None` for unconnected optional inputs.
    pub fn input_types(&self, id: NodeIndex) -> Vec<Option<&TensorType>> {
        self.inputs_of(id).into_iter().map(|v| v.map(|v| self.value_type(v))).collect()
    }

    pub fn value_type(&self, v: ValueRef) -> &TensorType {
        &self.graph[v.node].outputs[v.slot]
    }

    /// Consumers of output `slot` of `id` as (consumer, input slot), in a stable order.
    pub fn consumers_of(&self, v: ValueRef) -> Vec<(NodeIndex, usize)> {
        let mut c: Vec<_> = self
            .graph
            .edges_directed(v.node, Direction::Outgoing)
            .filter(|e| e.weight().src_slot == v.slot)
            .map(|e| (e.target(), e.weight().dst_slot))
            .collect();
        c.sort();
        c
    }

    /// Whether a value is a graph output.
    pub fn is_output(&self, v: ValueRef) -> bool {
        self.outputs.iter().any(|o| o.value == v)
    }

    /// Topological order, ties broken by node index (insertion order), so dumps and plans are
    /// deterministic. Fails on a cycle.
    pub fn topo_order(&self) -> Result<Vec<NodeIndex>, GraphError> {
        let mut indegree: Vec<usize> = vec![0; self.graph.node_bound()];
        for e in (&self.graph).edge_references() {
            indegree[e.target().index()] += 1;
        }
        let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = self
            .graph
            .node_indices()
            .filter(|n| indegree[n.index()] == 0)
            .map(|n| std::cmp::Reverse(n.index()))
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(std::cmp::Reverse(i)) = ready.pop() {
            let n = NodeIndex::new(i);
            order.push(n);
            for e in self.graph.edges_directed(n, Direction::Outgoing) {
                let t = e.target().index();
                indegree[t] -= 1;
                if indegree[t] == 0 {
                    ready.push(std::cmp::Reverse(t));
                }
            }
        }
        if order.len() != self.graph.node_count() {
            let stuck = self.graph.node_indices().find(|n| indegree[n.index()] > 0).expect("a node on the cycle");
            return Err(GraphError::Cycle(self.graph[stuck].name.clone()));
        }
        Ok(order)
    }

    /// Removes every node that no graph output depends on. Returns how many were removed.
    pub fn remove_dead_nodes(&mut self) -> usize {
        let mut live = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = self.outputs.iter().map(|o| o.value.node).collect();
        // Graph inputs stay even if unused: they are part of the model's interface.
        stack.extend(self.inputs.iter().copied());
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(self.graph.neighbors_directed(n, Direction::Incoming));
            }
        }
        let dead: Vec<_> = self.graph.node_indices().filter(|n| !live.contains(n)).collect();
        for &n in &dead {
            self.graph.remove_node(n);
        }
        dead.len()
    }

    /// Redirects every use of `old` (consumer edges and graph outputs) to `new`.
    pub fn replace_uses(&mut self, old: ValueRef, new: ValueRef) {
        let uses = self.consumers_of(old);
        let edges: Vec<EdgeIndex> = self
            .graph
            .edges_directed(old.node, Direction::Outgoing)
            .filter(|e| e.weight().src_slot == old.slot)
            .map(|e| e.id())
            .collect();
        for e in edges {
            self.graph.remove_edge(e);
        }
        for (consumer, slot) in uses {
            self.connect(new, consumer, slot);
        }
        for o in &mut self.outputs {
            if o.value == old {
                o.value = new;
            }
        }
    }

    /// Checks the structural invariants every pass must preserve: no cycle, at most one
    /// producer per input slot, slots in range, required inputs connected.
    pub fn validate(&self) -> Result<(), GraphError> {
        self.topo_order()?;
        for id in self.graph.node_indices() {
            let node = &self.graph[id];
            let mut seen = vec![false; node.num_inputs];
            for e in self.graph.edges_directed(id, Direction::Incoming) {
                let w = e.weight();
                let src = &self.graph[e.source()];
                if w.src_slot >= src.outputs.len() || w.dst_slot >= node.num_inputs {
                    return Err(GraphError::BadSlot {
                        node: node.name.clone(),
                        slot: w.dst_slot,
                        src: src.name.clone(),
                        src_slot: w.src_slot,
                        available: src.outputs.len(),
                    });
                }
                if std::mem::replace(&mut seen[w.dst_slot], true) {
                    return Err(GraphError::DuplicateInput { node: node.name.clone(), slot: w.dst_slot });
                }
            }
            for slot in node.op.required_inputs(node.num_inputs) {
                if !seen.get(slot).copied().unwrap_or(false) {
                    return Err(GraphError::MissingInput { node: node.name.clone(), slot });
                }
            }
        }
        Ok(())
    }
}
