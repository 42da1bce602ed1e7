//! `hetc inspect PLAN`: the plan's steps, memory plan, weights and predicted run (the two-queue
//! simulation of `hetc_partition::schedule` over the steps' predicted times).

use anyhow::{Context, Result};
use hetc_partition::Timeline;
use hetc_partition::schedule::plan_timeline;
use hetc_plan::{Kernel, Storage};
use std::collections::BTreeMap;
use std::path::Path;

pub fn run(path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan = hetc_plan::decode(&bytes).with_context(|| format!("cannot load {}", path.display()))?;
    let meta = &plan.meta;
    if json {
        let mut kernels: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &meta.steps {
            *kernels.entry(s.kernel.name()).or_default() += 1;
        }
        let v = serde_json_value(meta, &kernels, plan.weights.len());
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    crate::outln!(
        "plan       {} (format v{}, {} for {})",
        path.display(),
        hetc_plan::FORMAT_VERSION,
        meta.producer,
        meta.target
    );
    crate::outln!("model      {}", meta.name);
    let m = &meta.memory;
    crate::outln!(
        "arena      {:.2} MiB (lower bound {:.2} MiB, {:.3}x; naive {:.2} MiB)",
        mib(m.arena_bytes),
        mib(m.lower_bound_bytes),
        m.arena_bytes as f64 / m.lower_bound_bytes.max(1) as f64,
        mib(m.naive_bytes)
    );
    if meta.steps.iter().any(|s| s.device == hetc_plan::Device::Gpu) {
        let g = &meta.gpu_memory;
        crate::outln!(
            "gpu arena  {:.2} MiB (lower bound {:.2} MiB; naive {:.2} MiB)",
            mib(g.arena_bytes),
            mib(g.lower_bound_bytes),
            mib(g.naive_bytes)
        );
        let count = |d: hetc_plan::Device| {
            meta.steps.iter().filter(|s| s.device == d && s.gpu.is_some() == (d == hetc_plan::Device::Gpu)).count()
        };
        let transfers: Vec<&hetc_plan::Step> =
            meta.steps.iter().filter(|s| matches!(s.kernel, Kernel::Upload | Kernel::Download)).collect();
        let bytes: u64 = transfers.iter().map(|s| meta.tensors[s.inputs[0] as usize].byte_size().unwrap_or(0)).sum();
        crate::outln!(
            "devices    {} steps on the gpu, {} on the cpu; {} transfers ({:.2} MiB per run); {} shaders",
            count(hetc_plan::Device::Gpu),
            count(hetc_plan::Device::Cpu),
            transfers.len(),
            mib(bytes),
            meta.shaders.len()
        );
    }
    crate::outln!("weights    {:.2} MiB", mib(plan.weights.len() as u64));
    let timeline = plan_timeline(meta);
    if timeline.sum_us > 0.0 {
        print_timeline(&timeline);
    }
    let shape = |id: u32| format!("{:?}", meta.tensors[id as usize].shape);
    for b in &meta.inputs {
        crate::outln!("input      {}: f32{}", b.name, shape(b.tensor));
    }
    for b in &meta.outputs {
        crate::outln!("output     {}: f32{}", b.name, shape(b.tensor));
    }
    crate::outln!();
    crate::outln!("{:>4}  {:<6} {:<18} {:<22} {:<28} name", "step", "device", "kernel", "epilogue", "output");
    for (i, s) in meta.steps.iter().enumerate() {
        let epilogue = match &s.kernel {
            Kernel::Conv(c) => format!("{:?}{}", c.activation, if c.has_residual { "+residual" } else { "" }),
            Kernel::ConvTranspose(c) => format!("{:?}", c.activation),
            Kernel::Gemm { activation, .. }
            | Kernel::ChannelAffine { activation }
            | Kernel::Binary { activation, .. } => {
                format!("{activation:?}")
            }
            Kernel::Elementwise { program } => elementwise_program(program, s.inputs.len()),
            Kernel::FusedInstanceNorm { has_residual, activation, .. } => {
                format!("{activation:?}{}", if *has_residual { "+residual" } else { "" })
            }
            Kernel::Upload => "cpu -> gpu".into(),
            Kernel::Download => "gpu -> cpu".into(),
            _ => String::new(),
        };
        let inplace = s.outputs.first().is_some_and(|&o| {
            let out = meta.tensors[o as usize].storage;
            s.inputs.iter().any(|&i| {
                matches!(meta.tensors[i as usize].storage, Storage::Arena { .. } | Storage::GpuArena { .. })
                    && meta.tensors[i as usize].storage == out
            })
        });
        // Plans compiled with `--profile` carry each step's predicted time.
        let predicted =
            if s.predicted_us > 0.0 { format!(" [predicted {:.1} us]", s.predicted_us) } else { String::new() };
        crate::outln!(
            "{:>4}  {:<6} {:<18} {:<22} {:<28} {}{}{}",
            i,
            format!("{:?}", s.device).to_lowercase(),
            s.kernel.name(),
            epilogue,
            shape(s.outputs[0]),
            s.name,
            if inplace { " (in place)" } else { "" },
            predicted
        );
        if let Some(work) = &s.gpu {
            let d: Vec<String> = work
                .dispatches
                .iter()
                .map(|d| {
                    let sh = meta.shaders.get(d.shader as usize).map_or("?", |s| s.name.as_str());
                    format!("{sh} {:?}", d.workgroups)
                })
                .collect();
            crate::outln!("{:>4}  {:<6} dispatch {}", "", "", d.join(", "));
        }
    }
    if timeline.sum_us > 0.0 {
        crate::outln!("predicted  {:.3} ms in total (critical path)", timeline.latency_us / 1e3);
    }
    Ok(())
}

/// The predicted run: CPU and GPU steps overlap where the runtime lets them (GPU work issued
/// before a CPU step runs during it), so the total is the critical path of the two queues,
/// not the sum of the steps; a plan on one processor gets the same either way.
fn print_timeline(t: &Timeline) {
    crate::outln!(
        "predicted  {:.3} ms critical path (CPU and GPU steps overlapping as the runtime issues them; {:.3} ms one after another)",
        t.latency_us / 1e3,
        t.sum_us / 1e3
    );
    if t.busy_us[1] > 0.0 || t.transfer_us > 0.0 {
        crate::outln!(
            "busy       cpu {:.3} ms, gpu {:.3} ms, transfers {:.3} ms",
            t.busy_us[0] / 1e3,
            t.busy_us[1] / 1e3,
            t.transfer_us / 1e3
        );
    }
}

fn serde_json_value(
    meta: &hetc_plan::PlanMeta,
    kernels: &BTreeMap<&str, usize>,
    weight_bytes: usize,
) -> serde_json::Value {
    serde_json::json!({
        "name": meta.name,
        "target": meta.target,
        "producer": meta.producer,
        "format_version": hetc_plan::FORMAT_VERSION,
        "steps": meta.steps.len(),
        "kernels": kernels,
        "arena_bytes": meta.memory.arena_bytes,
        "lower_bound_bytes": meta.memory.lower_bound_bytes,
        "naive_bytes": meta.memory.naive_bytes,
        "weight_bytes": weight_bytes,
        "gpu_arena_bytes": meta.gpu_arena_bytes,
        "shaders": meta.shaders.len(),
        "devices": meta.steps.iter().map(|s| s.device.name()).collect::<Vec<_>>(),
        "transfers": meta.steps.iter().filter(|s| matches!(s.kernel, Kernel::Upload | Kernel::Download)).count(),
        "predicted_us": predicted_json(meta),
    })
}

/// The predicted run (zeros when the plan carries no predicted times).
fn predicted_json(meta: &hetc_plan::PlanMeta) -> serde_json::Value {
    let t = plan_timeline(meta);
    serde_json::json!({
        "critical_path": t.latency_us,
        "sum": t.sum_us,
        "cpu_busy": t.busy_us[0],
        "gpu_busy": t.busy_us[1],
        "transfers": t.transfer_us,
    })
}

/// A fused elementwise program in one line: `r2=Mul(r0,r1); r3=Relu(r2)` (registers `r0..` are
/// the step's inputs).
fn elementwise_program(program: &[hetc_plan::ElementwiseInstr], n_inputs: usize) -> String {
    use hetc_plan::ElementwiseOp;
    let parts: Vec<String> = program
        .iter()
        .enumerate()
        .map(|(k, i)| {
            let [a, b] = i.args;
            let rhs = match i.op {
                ElementwiseOp::Activation(act) => format!("{act:?}(r{a})"),
                ElementwiseOp::Unary(f) => format!("{f:?}(r{a})"),
                ElementwiseOp::Binary(op) => format!("{op:?}(r{a},r{b})"),
            };
            format!("r{}={rhs}", n_inputs + k)
        })
        .collect();
    parts.join("; ")
}
