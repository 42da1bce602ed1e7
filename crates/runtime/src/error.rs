//! The runtime's error type. Every message is one line.

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot read plan {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Plan(#[from] hetc_plan::PlanError),
    #[error("invalid plan: step {step} (`{name}`, {kernel}): {reason}")]
    Step { step: usize, name: String, kernel: &'static str, reason: String },
    #[error("out of memory: {0}")]
    Memory(String),
    #[error("input error: {0}")]
    Input(String),
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
}
