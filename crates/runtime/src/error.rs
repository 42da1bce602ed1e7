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
    #[error("{0}")]
    NoAdapter(String),
    #[error(
        "the plan runs {steps} steps on the GPU, but {reason}; run with fallback to the CPU (`--fallback cpu`) to use the CPU instead"
    )]
    NoGpu { steps: usize, reason: String },
    #[error("GPU error: {0}")]
    Gpu(String),
    #[error("the plan exceeds the limits of GPU adapter {adapter}: {reason}")]
    GpuLimits { adapter: String, reason: String },
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
}
