//! `hetc run PLAN --input NAME=FILE ... | --inputs DIR [--output-dir DIR]`.

use crate::tensor_io::{read_tensor, test_set_inputs};
use anyhow::{Context, Result, bail};
use clap::Args;
use hetc_runtime::{Plan, Session, Tensor};
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// The plan file.
    plan: PathBuf,
    /// An input as NAME=FILE (`.npy` or ONNX TensorProto `.pb`); repeatable.
    #[arg(long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// A model-zoo test set folder: `input_K.pb` feeds the K-th input.
    #[arg(long = "inputs", value_name = "DIR", conflicts_with = "inputs")]
    inputs_dir: Option<PathBuf>,
    /// Where to write each output as `<name>.npy`.
    #[arg(long, default_value = ".")]
    output_dir: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also print the indices and values of the N largest elements of each output
    /// (classification scores).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    #[command(flatten)]
    device: crate::device::DeviceArgs,
}

/// Sanitises an output name into a file name.
fn file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

pub fn run(args: &RunArgs) -> Result<()> {
    let plan = Plan::from_file(&args.plan).with_context(|| format!("cannot load {}", args.plan.display()))?;
    let mut session = Session::new(&plan, args.device.options(args.threads))?;
    crate::device::report(&session);
    let names: Vec<String> = session.inputs().iter().map(|(n, _)| n.to_string()).collect();
    let mut given: Vec<(String, Tensor)> = Vec::new();
    if let Some(dir) = &args.inputs_dir {
        let tensors = test_set_inputs(dir)?;
        if tensors.len() != names.len() {
            bail!("{} holds {} inputs, the plan takes {}", dir.display(), tensors.len(), names.len());
        }
        given = names.iter().cloned().zip(tensors).collect();
    }
    for spec in &args.inputs {
        let (name, file) = spec.split_once('=').with_context(|| format!("`{spec}` is not NAME=FILE"))?;
        given.push((name.to_string(), read_tensor(&PathBuf::from(file))?));
    }
    let refs: Vec<(&str, &Tensor)> = given.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let outputs = session.run(&refs)?;
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    for (name, t) in &outputs {
        let path = args.output_dir.join(format!("{}.npy", file_name(name)));
        crate::npy::write(&path, &t.shape, &t.data)?;
        crate::outln!("{name}: {:?} -> {}", t.shape, path.display());
        if let Some(n) = args.top {
            let mut order: Vec<usize> = (0..t.data.len()).collect();
            order.sort_by(|&a, &b| t.data[b].total_cmp(&t.data[a]));
            let best: Vec<String> = order.iter().take(n).map(|&i| format!("{i} ({:.3})", t.data[i])).collect();
            crate::outln!("  top {n}: {}", best.join(", "));
        }
    }
    Ok(())
}
