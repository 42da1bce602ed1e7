//! Graph-to-graph passes, checked after every rewrite (as tract's passes are).
//!
//! A [`Pass`] rewrites a [`Graph`]; [`run_checked`] runs it and then proves the result is still
//! a well-formed graph computing the same interface: structural invariants hold
//! ([`Graph::validate`]), every node's stored output types are what its op infers from its
//! inputs now, and the graph's inputs and outputs keep their names and types. A pass that
//! breaks any of these is a bug, reported as [`PassError::Inconsistent`] rather than left for
//! lowering to trip over.

use crate::{Graph, GraphError, TensorType};

/// Why a pass failed or left an inconsistent graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("pass `{pass}` failed: {reason}")]
    Failed { pass: &'static str, reason: String },
    #[error("pass `{pass}` left an invalid graph: {source}")]
    Invalid {
        pass: &'static str,
        #[source]
        source: GraphError,
    },
    #[error("pass `{pass}` left an inconsistent graph: {reason}")]
    Inconsistent { pass: &'static str, reason: String },
}

/// A rewrite of the whole graph.
pub trait Pass {
    /// What the pass reports about its run (counts, timings).
    type Report;

    fn name(&self) -> &'static str;

    /// Rewrites `graph` in place. On error the graph may be partly rewritten; callers keep a
    /// copy if they need the original (graphs share their weights, so copies are cheap).
    fn run(&self, graph: &mut Graph) -> Result<Self::Report, PassError>;
}

/// Named values with their types.
type Named = Vec<(String, TensorType)>;

/// The graph's interface: input names and types, output names and types.
fn interface(graph: &Graph) -> (Named, Named) {
    let inputs = graph.inputs.iter().map(|&i| (graph.node(i).name.clone(), graph.node(i).outputs[0].clone())).collect();
    let outputs = graph.outputs.iter().map(|o| (o.name.clone(), graph.value_type(o.value).clone())).collect();
    (inputs, outputs)
}

/// Checks that every node's output types are those its op infers from its current inputs.
pub fn check_types(graph: &Graph) -> Result<(), String> {
    for id in graph.topo_order().map_err(|e| e.to_string())? {
        let node = graph.node(id);
        if !node.op.is_compute() {
            continue;
        }
        let inferred =
            node.op.infer(&graph.input_types(id)).map_err(|e| format!("{} `{}`: {e}", node.op, node.name))?;
        if inferred != node.outputs {
            let show = |t: &[TensorType]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
            return Err(format!(
                "{} `{}` stores outputs {} but infers {}",
                node.op.name(),
                node.name,
                show(&node.outputs),
                show(&inferred)
            ));
        }
    }
    Ok(())
}

/// Runs `pass` on `graph` and checks the result (see the module docs).
pub fn run_checked<P: Pass>(pass: &P, graph: &mut Graph) -> Result<P::Report, PassError> {
    let before = interface(graph);
    let report = pass.run(graph)?;
    let name = pass.name();
    graph.validate().map_err(|source| PassError::Invalid { pass: name, source })?;
    check_types(graph).map_err(|reason| PassError::Inconsistent { pass: name, reason })?;
    let after = interface(graph);
    if after != before {
        return Err(PassError::Inconsistent {
            pass: name,
            reason: format!("the interface changed from {before:?} to {after:?}"),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Unary, UnaryKind};
    use crate::{DType, Node, Op, ValueRef};

    fn relu_graph() -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::new(DType::F32, vec![2, 3]));
        let r = g.add_node(Node {
            name: "relu".into(),
            op: Op::Unary(Unary { kind: UnaryKind::Relu }),
            num_inputs: 1,
            outputs: vec![TensorType::new(DType::F32, vec![2, 3])],
            output_names: vec!["y".into()],
        });
        g.connect(ValueRef { node: x, slot: 0 }, r, 0);
        g.outputs.push(crate::GraphOutput { name: "y".into(), value: ValueRef { node: r, slot: 0 } });
        g
    }

    struct Noop;
    impl Pass for Noop {
        type Report = ();
        fn name(&self) -> &'static str {
            "noop"
        }
        fn run(&self, _: &mut Graph) -> Result<(), PassError> {
            Ok(())
        }
    }

    /// Stores a wrong output type on the first compute node.
    struct Corrupt;
    impl Pass for Corrupt {
        type Report = ();
        fn name(&self) -> &'static str {
            "corrupt"
        }
        fn run(&self, g: &mut Graph) -> Result<(), PassError> {
            let id = g.node_ids().find(|&n| g.node(n).op.is_compute()).unwrap();
            g.node_mut(id).outputs[0].shape = vec![6];
            Ok(())
        }
    }

    #[test]
    fn checks_types_after_the_pass() {
        let mut g = relu_graph();
        run_checked(&Noop, &mut g).unwrap();
        let err = run_checked(&Corrupt, &mut relu_graph()).unwrap_err();
        assert!(matches!(err, PassError::Inconsistent { pass: "corrupt", .. }), "{err}");
    }
}
