//! `hetc targets [--json]`: the built-in targets, their processors, figures and support tables.

use anyhow::{Context, Result};
use clap::Args;
use hetc_target::desc::{ProcessorDesc, TargetDesc};
use hetc_target::facts::Figure;
use hetc_target::{
    Catalog, CheckOptions, CodeTable, CodeTables, HETC_CPU, HETC_GPU, HostGpu, HostInfo, NodeView, OpSupport,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Args)]
pub struct TargetsArgs {
    /// Print every fact with its sources as JSON.
    #[arg(long)]
    json: bool,
}

/// The built-in targets with this build's code tables and this machine's host targets.
pub fn catalog() -> Result<Catalog> {
    catalog_probing(true)
}

/// The catalog for work on target `name`: the wgpu adapter is probed only for `host` (probing
/// starts the Vulkan loader and its drivers, which is slow and may print to stderr).
pub fn catalog_for(name: &str) -> Result<Catalog> {
    catalog_probing(name == "host")
}

fn catalog_probing(probe_gpu: bool) -> Result<Catalog> {
    // The GPU table is what the WGSL generators implement; `host` gains its GPU when the
    // runtime finds an adapter (the one a session would pick by default or by HETC_ADAPTER).
    let mut host = HostInfo::detect();
    host.gpu = if probe_gpu { host_gpu() } else { None };
    let kernels: Arc<dyn hetc_target::OpSupport> =
        Arc::new(CodeTable::new("hetc's WGSL kernels", hetc_compile::support::gpu_supports));
    // `host`'s GPU is one adapter: what it cannot bind falls back like an unsupported op.
    let gpu = match host.gpu.as_ref().and_then(|g| g.max_binding_bytes) {
        Some(limit) => Arc::new(BindingLimited::new(kernels, limit)),
        None => kernels,
    };
    let code = CodeTables::new()
        .with(HETC_CPU, Arc::new(CodeTable::new("hetc's CPU kernels", hetc_compile::support::cpu_supports)))
        .with(HETC_GPU, gpu);
    Catalog::builtin(&code, &host).context("cannot load the built-in targets")
}

/// hetc's WGSL kernel table narrowed to one adapter: what the adapter cannot bind
/// ([`hetc_compile::support::check_binding`], the check `--strategy gpu` placement makes in
/// the compiler too) falls back like an unsupported op.
struct BindingLimited {
    kernels: Arc<dyn OpSupport>,
    max_binding_bytes: u64,
    basis: String,
}

impl BindingLimited {
    fn new(kernels: Arc<dyn OpSupport>, max_binding_bytes: u64) -> Self {
        let basis = format!("{}, tensors up to {max_binding_bytes} bytes per binding", kernels.basis());
        BindingLimited { kernels, max_binding_bytes, basis }
    }
}

impl OpSupport for BindingLimited {
    fn check(&self, node: &NodeView<'_>, options: CheckOptions) -> Result<(), String> {
        self.kernels.check(node, options)?;
        hetc_compile::support::check_binding(&node.inputs, node.outputs, self.max_binding_bytes)
    }

    fn basis(&self) -> &str {
        &self.basis
    }
}

/// The adapter `host` describes: `HETC_ADAPTER`'s match if set, else the best adapter.
/// Probed once per process: the catalog and [`host_gpu_is_software`] both need it, and each
/// probe starts the Vulkan loader and its drivers.
fn host_gpu() -> Option<HostGpu> {
    static HOST_GPU: std::sync::OnceLock<Option<HostGpu>> = std::sync::OnceLock::new();
    HOST_GPU.get_or_init(probe_host_gpu).clone()
}

fn probe_host_gpu() -> Option<HostGpu> {
    let mut all = hetc_runtime::adapters();
    let rank = |t: &str| match t {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Cpu" => 3,
        _ => 4,
    };
    all.sort_by_key(|a| rank(&a.device_type));
    let want = std::env::var(hetc_runtime::ADAPTER_ENV).ok().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let a = match want {
        Some(w) => all.into_iter().find(|a| a.name.to_lowercase().contains(&w))?,
        None => all.into_iter().next()?,
    };
    Some(HostGpu {
        adapter: a.name,
        backend: a.backend,
        device_type: a.device_type,
        max_binding_bytes: Some(a.max_binding_bytes),
    })
}

/// Whether `host`'s GPU is a software adapter (lavapipe, SwiftShader): it runs on the CPU's
/// cores, so it never runs alongside the CPU.
pub fn host_gpu_is_software() -> bool {
    host_gpu().is_some_and(|g| g.device_type == "Cpu")
}

/// The table of hetc's GPU kernels (what the WGSL generators implement), for placement on any
/// target's GPU: a node runs there only if the target's own table accepts it too.
pub fn gpu_kernels() -> Option<Arc<dyn hetc_target::OpSupport>> {
    Some(Arc::new(CodeTable::new("hetc's WGSL kernels", hetc_compile::support::gpu_supports)))
}

#[derive(Serialize)]
struct Listing<'a> {
    targets: Vec<&'a TargetDesc>,
    /// What each processor's table reproduces, by target and processor.
    support_basis: BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>,
    tables: Vec<&'a hetc_target::table::SupportTable>,
    sources: &'a hetc_target::facts::Sources,
}

pub fn run(args: &TargetsArgs) -> Result<()> {
    let catalog = catalog()?;
    if args.json {
        let listing = Listing {
            targets: catalog.targets().iter().map(|t| &t.desc).collect(),
            support_basis: catalog
                .targets()
                .iter()
                .map(|t| (t.name(), t.processors().map(|(p, s)| (p.name.as_str(), s.basis())).collect()))
                .collect(),
            tables: catalog.tables.values().map(|t| t.as_ref()).collect(),
            sources: &catalog.sources,
        };
        crate::outln!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    for (i, t) in catalog.targets().iter().enumerate() {
        if i > 0 {
            crate::outln!();
        }
        let d = &t.desc;
        crate::outln!("{:<10} {} ({})", d.name, d.device, d.soc);
        let mut memory = Vec::new();
        if let Some(r) = &d.ram {
            let v: Vec<String> = r.variants_gib.iter().map(|g| format!("{g}")).collect();
            memory.push(format!("RAM {} GiB [{}]", v.join("/"), r.quality));
        }
        if let Some(m) = &d.memory {
            memory.push(format!("{}, {}", m.kind, figure(&m.bandwidth_gbps, "GB/s")));
        }
        if !memory.is_empty() {
            crate::outln!("{:<10} {}", "", memory.join("; "));
        }
        for (p, support) in t.processors() {
            crate::outln!("  {:<5} {}", p.name, describe(p));
            crate::outln!("  {:<5} table: {}", "", support.basis());
        }
        for note in &d.notes {
            crate::outln!("  note  {note}");
        }
    }
    crate::outln!();
    crate::outln!(
        "Figures in [brackets] give their quality; estimate and guess are placeholders until measured. \
         `hetc targets --json` lists every fact with its sources; docs/targets.md explains them."
    );
    Ok(())
}

fn figure(f: &Figure, unit: &str) -> String {
    format!("{} {unit} [{}]", f.value, f.quality)
}

/// One line about a processor: model, cores, GPU data type, peaks.
fn describe(p: &ProcessorDesc) -> String {
    let mut parts = vec![p.model.clone()];
    if !p.clusters.is_empty() {
        let c: Vec<String> = p.clusters.iter().map(|c| format!("{}x {} {:.2} GHz", c.count, c.core, c.ghz)).collect();
        parts.push(c.join(", "));
    }
    if !p.features.is_empty() {
        parts.push(p.features.join(" "));
    }
    if let Some(d) = p.gpu.as_ref().and_then(|g| g.preferred_data.as_ref()) {
        parts.push(format!("prefers {:?} [{}]", d.kind, d.quality).to_lowercase());
    }
    match p.peak_gflops() {
        Some(f) => parts.push(format!("peak {}", figure(&f, "GFLOP/s"))),
        None if p.peak_int8_tops.is_none() => parts.push("no peak figure".to_string()),
        None => {}
    }
    if let Some(f) = &p.peak_int8_tops {
        parts.push(format!("peak {}", figure(f, "TOPS int8")));
    }
    parts.join("; ")
}
