//! `host-cpu` and `host`: targets built from the machine hetc runs on. Their support tables are
//! code: exactly what hetc's runtime kernels implement (`hetc-cpu`, and `hetc-gpu` for the
//! wgpu backend once it exists).

use crate::desc::{
    ClusterRole, CpuCluster, GpuDesc, Memory, ProcessorDesc, ProcessorKind, Ram, SupportRef, TargetDesc, Transfer,
};
use crate::facts::{Figure, Quality};
use crate::support::{CodeTables, HETC_CPU, HETC_GPU};
use serde::Serialize;

/// The GPU adapter hetc's runtime would use.
///
/// INTEGRATION POINT (gpu branch): the runtime's `gpu` feature enumerates the wgpu adapter;
/// the CLI fills [`HostInfo::gpu`] from it and registers `hetc_compile::support::gpu_supports`
/// as the `hetc-gpu` code table. Until then no build has a GPU here and `host` has only its
/// CPU (no table is invented for a backend that does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostGpu {
    /// Adapter name as wgpu reports it.
    pub adapter: String,
    /// Graphics API backend (`Vulkan`, `Metal`, ...).
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (software, e.g. lavapipe), ...
    pub device_type: String,
    /// The largest tensor one kernel binding can address, when the adapter was queried.
    pub max_binding_bytes: Option<u64>,
}

/// What was detected about this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostInfo {
    pub arch: String,
    pub cpu_model: String,
    /// Logical CPUs available to this process.
    pub logical_cores: usize,
    /// SIMD features the CPU kernels can use.
    pub features: Vec<String>,
    /// Nominal clock, when the OS reports one.
    pub mhz: Option<f64>,
    pub ram_bytes: Option<u64>,
    pub gpu: Option<HostGpu>,
}

impl HostInfo {
    /// Reads this machine: `/proc/cpuinfo`, `/proc/meminfo`, the cpufreq sysfs files, and the
    /// CPU feature flags through the standard library's runtime detection.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |key: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let cpu_model = field("model name")
            .or_else(|| field("Hardware"))
            .or_else(|| field("CPU part").map(|p| format!("Arm CPU part {p}")))
            .unwrap_or_else(|| "unknown CPU".to_string());
        let mhz = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|khz| khz / 1000.0)
            .or_else(|| field("cpu MHz").and_then(|s| s.parse().ok()));
        let ram_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        });
        HostInfo {
            arch: std::env::consts::ARCH.to_string(),
            cpu_model,
            logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            features: detect_features(),
            mhz,
            ram_bytes: ram_bytes.map(|kb| kb * 1024),
            gpu: None,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect_features() -> Vec<String> {
    let mut f = Vec::new();
    macro_rules! probe {
        ($($name:tt),*) => {$(
            if std::arch::is_x86_feature_detected!($name) {
                f.push($name.to_string());
            }
        )*};
    }
    probe!("sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vnni");
    f
}

#[cfg(target_arch = "aarch64")]
fn detect_features() -> Vec<String> {
    let mut f = Vec::new();
    macro_rules! probe {
        ($($name:tt),*) => {$(
            if std::arch::is_aarch64_feature_detected!($name) {
                f.push($name.to_string());
            }
        )*};
    }
    probe!("neon", "fp16", "dotprod", "i8mm", "sve");
    f
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect_features() -> Vec<String> {
    Vec::new()
}

/// Peak FP32 FLOPs per cycle of one core from its widest FMA path, assuming two FMA pipes
/// (true of the Intel and AMD cores with AVX2/AVX-512 and of Arm's big cores; an estimate).
fn flops_per_cycle(features: &[String]) -> Figure {
    let has = |f: &str| features.iter().any(|x| x == f);
    let (value, why) = if has("avx512f") {
        (64.0, "2 FMA pipes x 16 f32 lanes (AVX-512) x 2")
    } else if has("avx2") && has("fma") {
        (32.0, "2 FMA pipes x 8 f32 lanes (AVX2) x 2")
    } else if has("neon") {
        (16.0, "2 FMA pipes x 4 f32 lanes (NEON) x 2")
    } else {
        (8.0, "no FMA detected: 2 pipes x 4 lanes, multiply and add separately")
    };
    Figure::estimate(value, format!("{why}; two FMA pipes per core assumed"))
}

/// The stand-in cost model's peak for the host's GPU. wgpu does not report one, so it is an
/// estimate from the adapter's kind until `hetc profile` measures the kernels: a software
/// adapter (lavapipe) computes on the CPU's cores, so it gets the CPU's peak; a hardware GPU a
/// labelled guess of its class.
fn gpu_peak(device_type: &str, cpu_peak: Option<&Figure>) -> Figure {
    match (device_type, cpu_peak) {
        ("Cpu", Some(cpu)) => Figure {
            value: cpu.value,
            quality: Quality::Estimate,
            source: Vec::new(),
            derivation: Some(
                "a software adapter (e.g. lavapipe) runs shaders on the CPU's cores: the CPU's peak".into(),
            ),
        },
        ("DiscreteGpu", _) => Figure::guess(
            10000.0,
            "guess: a discrete GPU's FP32 peak is of the order of 10 TFLOP/s; run `hetc profile` to measure",
        ),
        ("IntegratedGpu", _) => Figure::guess(
            1000.0,
            "guess: an integrated GPU's FP32 peak is of the order of 1 TFLOP/s; run `hetc profile` to measure",
        ),
        _ => Figure::guess(100.0, "guess: unknown adapter kind; run `hetc profile` to measure"),
    }
}

/// `host-cpu` (the CPU only) or `host` (the CPU and, when the build has one, the GPU).
pub fn host_target(name: &str, info: &HostInfo, code: &CodeTables) -> TargetDesc {
    let ghz = info.mhz.unwrap_or(0.0) / 1000.0;
    let per_cycle = flops_per_cycle(&info.features);
    let peak = info.mhz.map(|_| Figure {
        value: ((info.logical_cores as f64 * ghz * per_cycle.value) * 10.0).round() / 10.0,
        quality: Quality::Estimate,
        source: Vec::new(),
        derivation: Some(format!(
            "{} logical cores x {ghz:.2} GHz (detected) x {} FLOP/cycle ({})",
            info.logical_cores,
            per_cycle.value,
            per_cycle.derivation.as_deref().unwrap_or("")
        )),
    });
    let cpu = ProcessorDesc {
        name: "cpu".into(),
        kind: ProcessorKind::Cpu,
        model: info.cpu_model.clone(),
        quality: Quality::Detected,
        source: Vec::new(),
        note: Some(format!("{} ({}), features: {}", info.cpu_model, info.arch, info.features.join(" "))),
        clusters: vec![CpuCluster {
            role: ClusterRole::Performance,
            core: "logical CPUs".into(),
            count: info.logical_cores,
            ghz,
            quality: Quality::Detected,
            source: Vec::new(),
            fp32_flops_per_cycle: per_cycle,
        }],
        features: info.features.clone(),
        gpu: None,
        peak_gflops: peak.clone(),
        peak_int8_tops: None,
        dispatch_us: Some(Figure::guess(1.0, "guess: one step of hetc's CPU runtime, no measurement yet")),
        support: SupportRef::Code(HETC_CPU.into()),
    };
    let mut processors = vec![cpu];
    let mut transfers = Vec::new();
    let mut notes = vec!["built from this machine when hetc runs; its support table is hetc's CPU kernels".to_string()];
    if name == "host" {
        match (&info.gpu, code.get(HETC_GPU)) {
            (Some(gpu), Some(_)) => {
                processors.push(ProcessorDesc {
                    name: "gpu".into(),
                    kind: ProcessorKind::Gpu,
                    model: gpu.adapter.clone(),
                    quality: Quality::Detected,
                    source: Vec::new(),
                    note: Some(format!("wgpu adapter, {} backend, {}", gpu.backend, gpu.device_type)),
                    clusters: Vec::new(),
                    features: Vec::new(),
                    gpu: Some(GpuDesc {
                        shader_cores: None,
                        clock_mhz: None,
                        api: vec![gpu.backend.clone()],
                        preferred_data: None,
                    }),
                    peak_gflops: Some(gpu_peak(&gpu.device_type, peak.as_ref())),
                    peak_int8_tops: None,
                    dispatch_us: Some(Figure::estimate(
                        50.0,
                        "shared/README.md: about 50 us per wgpu dispatch round trip measured on the device machine",
                    )),
                    support: SupportRef::Code(HETC_GPU.into()),
                });
                transfers.push(Transfer {
                    between: ["cpu".into(), "gpu".into()],
                    latency_us: Figure::guess(50.0, "guess: one queue submission and map, like a dispatch"),
                    gbps: Figure::guess(10.0, "guess: not measured; PCIe or shared memory"),
                });
            }
            _ => notes.push(
                "no GPU processor: hetc's GPU backend (wgpu) is not in this build, so `host` equals `host-cpu`"
                    .to_string(),
            ),
        }
    }
    TargetDesc {
        name: name.to_string(),
        device: "this machine".into(),
        soc: info.cpu_model.clone(),
        origin: vec!["detected when hetc runs".into()],
        quality: Quality::Detected,
        source: Vec::new(),
        ram: info.ram_bytes.map(|b| Ram {
            variants_gib: vec![((b as f64 / (1u64 << 30) as f64) * 10.0).round() / 10.0],
            quality: Quality::Detected,
            source: Vec::new(),
            note: Some("MemTotal from /proc/meminfo".into()),
        }),
        memory: Some(Memory {
            kind: "host DRAM (not detected)".into(),
            quality: Quality::Guess,
            source: Vec::new(),
            bandwidth_gbps: Figure::guess(20.0, "guess: not detected; replace by a STREAM-like measurement"),
        }),
        processors,
        transfers,
        notes,
    }
}
