//! The `hetc` command line.
//!
//! Every failure prints one line, `error: <cause>`, and exits with status 2.

mod inspect;

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
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
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
            // One line: the context chain joined, outermost first.
            let cause: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", cause.join(": "));
            ExitCode::from(2)
        }
    }
}
