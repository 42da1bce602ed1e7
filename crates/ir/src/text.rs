//! Human-readable IR dumps for snapshots and `hetc inspect --ir`.
//!
//! Values are renumbered in topological order so the text does not depend on petgraph's node
//! indices, and weights are shown by type only (redacted), so dumps stay small and stable.

use crate::{Graph, GraphError, Op, ValueRef};
use std::collections::HashMap;
use std::fmt::Write;

/// Renders `graph` as text.
pub fn dump(graph: &Graph) -> Result<String, GraphError> {
    let order = graph.topo_order()?;
    let number: HashMap<_, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let value = |v: ValueRef| {
        let n = number[&v.node];
        if graph.node(v.node).outputs.len() > 1 { format!("%{n}.{}", v.slot) } else { format!("%{n}") }
    };
    let mut out = String::new();
    let _ = writeln!(out, "graph {:?}", graph.name);
    for &id in &order {
        let node = graph.node(id);
        let n = number[&id];
        match &node.op {
            Op::Input => {
                let _ = writeln!(out, "  %{n} = input {:?} : {}", node.name, node.outputs[0]);
            }
            Op::Constant(_) => {
                let _ = writeln!(out, "  %{n} = const {:?} : {} <redacted>", node.name, node.outputs[0]);
            }
            op => {
                let args: Vec<String> =
                    graph.inputs_of(id).into_iter().map(|v| v.map_or_else(|| "_".to_string(), value)).collect();
                let types: Vec<String> = node.outputs.iter().map(|t| t.to_string()).collect();
                let _ = writeln!(out, "  %{n} = {op}({}) : {}  # {}", args.join(", "), types.join(", "), node.name);
            }
        }
    }
    for o in &graph.outputs {
        let _ = writeln!(out, "  output {:?} = {}", o.name, value(o.value));
    }
    Ok(out)
}
