//! The importer's error type. Every message is one line: the CLI prints it as the cause.

use std::fmt;
use std::path::PathBuf;

/// One node whose op hetc does not implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedNode {
    pub domain: String,
    pub op_type: String,
    pub node: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("not a valid ONNX model (truncated or garbled protobuf): {0}")]
    Decode(String),

    #[error("{0}")]
    Model(String),

    #[error("{}", unsupported_message(.0))]
    UnsupportedOps(Vec<UnsupportedNode>),

    #[error(
        "input `{input}` has symbolic dimension `{dim}` at axis {axis}; give a static shape with --input-shape {input}={example}"
    )]
    SymbolicDim { input: String, dim: String, axis: usize, example: String },

    #[error("--input-shape names `{0}`, which is not an input of the model (inputs: {1})")]
    UnknownInputShape(String, String),

    #[error("tensor `{tensor}`: {reason}")]
    Tensor { tensor: String, reason: String },

    #[error("external data of tensor `{tensor}` ({path}): {reason}")]
    ExternalData { tensor: String, path: PathBuf, reason: String },

    #[error("node `{node}` ({op}): {reason}")]
    Node { node: String, op: String, reason: String },

    /// The model declares a type for a value (graph output or `value_info`) that differs from
    /// what hetc infers: either the model is inconsistent or hetc's shape inference is wrong.
    #[error("{what} `{name}` is declared {declared} but computes {actual} (inconsistent shapes)")]
    InconsistentType { what: &'static str, name: String, declared: hetc_ir::TensorType, actual: hetc_ir::TensorType },

    #[error(transparent)]
    Graph(#[from] hetc_ir::GraphError),
}

fn unsupported_message(nodes: &[UnsupportedNode]) -> String {
    // Group by op so that a model with 50 Einsum nodes gives one readable line.
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for n in nodes {
        let op = if n.domain.is_empty() || n.domain == "ai.onnx" {
            n.op_type.clone()
        } else {
            format!("{}::{}", n.domain, n.op_type)
        };
        match groups.iter_mut().find(|(o, _)| *o == op) {
            Some((_, v)) => v.push(&n.node),
            None => groups.push((op, vec![&n.node])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(op, names)| {
            let shown: Vec<String> = names.iter().take(8).map(|n| format!("`{n}`")).collect();
            let more = if names.len() > 8 { format!(" and {} more", names.len() - 8) } else { String::new() };
            format!("{op} (node{} {}{more})", if names.len() > 1 { "s" } else { "" }, shown.join(", "))
        })
        .collect();
    format!(
        "{} unsupported op{} in {} node{}: {}",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" },
        nodes.len(),
        if nodes.len() == 1 { "" } else { "s" },
        parts.join("; ")
    )
}

impl ImportError {
    pub(crate) fn node(node: &str, op: &str, reason: impl fmt::Display) -> Self {
        ImportError::Node { node: node.to_string(), op: op.to_string(), reason: reason.to_string() }
    }
}
