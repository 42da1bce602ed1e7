//! `--device` and `--fallback` for `hetc run` and `hetc bench`.

use clap::Args;
use hetc_runtime::{Fallback, GpuMode, Session, SessionOptions};

#[derive(Args, Clone, Debug, Default)]
pub struct DeviceArgs {
    /// GPU adapter for the plan's GPU steps: a case-insensitive substring of its name
    /// (`HETC_ADAPTER` overrides it). Default: the first discrete GPU, else the best other.
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    /// Without a GPU adapter: `none` refuses plans with GPU steps, `cpu` runs those steps on the CPU.
    #[arg(long, value_enum, default_value_t = FallbackArg::None)]
    pub fallback: FallbackArg,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FallbackArg {
    #[default]
    None,
    Cpu,
}

impl DeviceArgs {
    pub fn options(&self, threads: usize) -> SessionOptions {
        SessionOptions {
            threads,
            adapter: self.device.clone(),
            fallback: match self.fallback {
                FallbackArg::None => Fallback::None,
                FallbackArg::Cpu => Fallback::Cpu,
            },
        }
    }
}

/// Warns on stderr when GPU steps fall back to the CPU; returns a short description of where
/// the GPU steps run (`None` for CPU plans).
pub fn report(session: &Session<'_>) -> Option<String> {
    match session.gpu_mode() {
        GpuMode::None => None,
        GpuMode::Adapter(a) => Some(a.label()),
        GpuMode::CpuFallback(reason) => {
            eprintln!("warning: {reason}; running the plan's GPU steps on the CPU (--fallback cpu)");
            Some("cpu fallback".into())
        }
    }
}
