//! hetc's runtime: loads a plan file and executes it.
//!
//! It depends on nothing of the compiler (no prost, petgraph or egg): only the plan schema.
//!
//! ```no_run
//! use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
//! let plan = Plan::from_file("model.hplan")?;
//! let mut session = Session::new(&plan, SessionOptions::default())?;
//! let x = Tensor::new(vec![1, 3, 224, 224], vec![0.0; 3 * 224 * 224]).unwrap();
//! let outputs = session.run(&[("input", &x)])?;
//! # Ok::<(), hetc_runtime::RuntimeError>(())
//! ```

pub mod cpu;
mod device;
mod error;
#[cfg(feature = "gpu")]
mod gpu;
mod plan;
mod session;
mod tensor;

pub use device::{AdapterDesc, Fallback, GPU_BUILD, adapters};
pub use error::RuntimeError;
#[cfg(feature = "gpu")]
pub use gpu::adapter::ADAPTER_ENV;
pub use plan::Plan;
pub use session::{GpuMode, Outputs, Session, SessionOptions, StepTiming};
pub use tensor::Tensor;
