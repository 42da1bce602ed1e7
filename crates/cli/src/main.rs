//! The `hetc` command line.
//!
//! Every failure prints one line, `error: <cause>`, and exits with status 2.

mod autotune;
mod bench;
mod compile;
mod device;
mod inspect;
mod inspect_plan;
mod npy;
mod partition;
mod placing;
mod predict;
mod profile;
mod run;
mod support;
mod targets;
mod tensor_io;

/// `println!` that ends the program quietly when stdout is closed (`hetc inspect | head`)
/// instead of panicking on the broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write output: {e}");
            std::process::exit(2);
        }
    }};
}
pub(crate) use outln;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "hetc", version, about = "Ahead-of-time compiler of ONNX models for heterogeneous CPU+GPU processors")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's inputs, outputs, op histogram, parameters, MACs/FLOPs and activation memory.
    Inspect(inspect::InspectArgs),
    /// Compile an ONNX model into a plan file for a target.
    Compile(compile::CompileArgs),
    /// Run a plan on inputs and write its outputs as .npy files.
    Run(run::RunArgs),
    /// Time a plan on synthetic inputs: median and spread.
    Bench(bench::BenchArgs),
    /// List the built-in targets: processors, memory, peak figures and support tables.
    Targets(targets::TargetsArgs),
    /// Which ops each processor of a target runs, why not, and the CPU-fallback segments.
    Support(support::SupportArgs),
    /// Where each op would run: single processor, layers, or CoDL splits and chains, predicted.
    Partition(partition::PartitionArgs),
    /// Measure the CPU kernels (`--processors cpu,gpu`: and CPU<->GPU copies), fit the latency predictor.
    Profile(profile::ProfileArgs),
    /// Predicted time per op and in total for a model on a target.
    Predict(predict::PredictArgs),
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Targets(args) => targets::run(&args),
        Command::Support(args) => support::run(&args),
        Command::Partition(args) => partition::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Predict(args) => predict::run(&args),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors exit 2 like every error.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined, outermost first. A cause that its parent's
            // message already ends with (`cannot read X: <io error>`) is not repeated.
            let mut cause: Vec<String> = Vec::new();
            for c in e.chain().map(|c| c.to_string()) {
                if !cause.last().is_some_and(|parent| parent.ends_with(&c)) {
                    cause.push(c);
                }
            }
            eprintln!("error: {}", cause.join(": "));
            ExitCode::from(2)
        }
    }
}
