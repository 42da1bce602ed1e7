//! The compiler's error type; every message is one line.

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{count} node{} not supported on {processor}: {list}", if *.count == 1 { " is" } else { "s are" })]
    Unsupported { processor: String, count: usize, list: String },
    #[error("node `{node}`: {reason}")]
    Node { node: String, reason: String },
    /// The caller's placement (a cost model's search) failed.
    #[error("placement: {0}")]
    Placement(String),
    #[error("internal compiler error: {0}")]
    Internal(String),
    #[error(transparent)]
    Graph(#[from] hetc_ir::GraphError),
    #[error(transparent)]
    Pass(#[from] hetc_ir::pass::PassError),
}
