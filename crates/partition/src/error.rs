#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("{count} op(s) run on no processor of the placement: {list}")]
    Unrunnable { count: usize, list: String },
    /// A co-execution plan that cannot be turned into a graph (a bug, reported, not hidden).
    #[error("cannot split the graph for co-execution: {0}")]
    Split(String),
    #[error(transparent)]
    Graph(#[from] hetc_ir::GraphError),
    #[error(transparent)]
    Cost(#[from] hetc_target::cost::CostError),
}
