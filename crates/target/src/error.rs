//! The target crate's error type; every message is one line.

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A built-in data file does not parse or is inconsistent (a bug in hetc's data).
    #[error("built-in target data {file}: {message}")]
    Data { file: String, message: String },
    #[error("unknown target `{name}` (known: {known})")]
    UnknownTarget { name: String, known: String },
    #[error("target {target} has no processor `{name}` (it has: {known})")]
    UnknownProcessor { target: String, name: String, known: String },
    #[error(
        "target {target}: processor `{processor}` needs the code table `{table}`, which this build does not provide"
    )]
    MissingCodeTable { target: String, processor: String, table: String },
    #[error("no processors selected")]
    NoProcessors,
    #[error(transparent)]
    Graph(#[from] hetc_ir::GraphError),
}
