//! `hetc inspect MODEL.onnx [--json] [--ir]`.

use anyhow::{Context, Result};
use clap::Args;
use hetc_ir::stats::{ModelStats, model_stats};
use hetc_onnx::{ImportOptions, import_file, parse_input_shape};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct InspectArgs {
    /// The ONNX model or plan file.
    model: PathBuf,
    /// Static shape for an input with symbolic dimensions, e.g. `x=1x3x640x640`; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<String>,
    /// Print machine-readable JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also print the imported IR.
    #[arg(long)]
    ir: bool,
}

#[derive(Serialize)]
struct Report {
    model: String,
    opset: i64,
    ir_version: i64,
    producer: String,
    import_seconds: f64,
    #[serde(flatten)]
    stats: ModelStats,
}

pub fn import_options(specs: &[String]) -> Result<ImportOptions> {
    let mut options = ImportOptions::default();
    for spec in specs {
        let (name, dims) = parse_input_shape(spec).map_err(anyhow::Error::msg).context("bad --input-shape")?;
        options.input_shapes.insert(name, dims);
    }
    Ok(options)
}

pub fn run(args: &InspectArgs) -> Result<()> {
    if is_plan(&args.model) {
        return crate::inspect_plan::run(&args.model, args.json);
    }
    let options = import_options(&args.input_shapes)?;
    let start = Instant::now();
    let model =
        import_file(&args.model, &options).with_context(|| format!("cannot import {}", args.model.display()))?;
    let import_seconds = start.elapsed().as_secs_f64();
    let stats = model_stats(&model.graph).context("cannot analyse the imported graph")?;
    let report = Report {
        model: args.model.display().to_string(),
        opset: model.opset,
        ir_version: model.ir_version,
        producer: model.producer.clone(),
        import_seconds,
        stats,
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if args.ir {
        crate::outln!("{}", hetc_ir::text::dump(&model.graph)?.trim_end());
    }
    Ok(())
}

/// Whether `path` starts with the plan file's magic bytes.
fn is_plan(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == hetc_plan::MAGIC
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.3} G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.3} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.3} K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

fn print_table(r: &Report) {
    let s = &r.stats;
    crate::outln!(
        "model      {}  (opset {}, IR v{}, {})",
        r.model,
        r.opset,
        r.ir_version,
        if r.producer.is_empty() { "unknown producer" } else { &r.producer }
    );
    for i in &s.inputs {
        crate::outln!("input      {}: {}{:?}", i.name, i.dtype, i.shape);
    }
    for o in &s.outputs {
        crate::outln!("output     {}: {}{:?}", o.name, o.dtype, o.shape);
    }
    crate::outln!("nodes      {}", s.nodes);
    crate::outln!("parameters {} ({})", human(s.parameters), mib(s.parameter_bytes));
    crate::outln!("MACs       {}", human(s.macs));
    crate::outln!("FLOPs      {} (2 x MACs of Conv, ConvTranspose, Gemm, MatMul)", human(s.flops));
    crate::outln!(
        "activation {} peak live, {} summed over all values",
        mib(s.activation_bytes_peak),
        mib(s.activation_bytes_total)
    );
    crate::outln!("import     {:.3} s", r.import_seconds);
    crate::outln!();
    crate::outln!("{:<24} {:>6} {:>14} {:>14} {:>12}", "op", "count", "MACs", "FLOPs", "output");
    for (name, o) in &s.ops {
        crate::outln!(
            "{:<24} {:>6} {:>14} {:>14} {:>12}",
            name,
            o.count,
            human(o.macs),
            human(o.flops),
            mib(o.output_bytes)
        );
    }
}
