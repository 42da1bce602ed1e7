//! The target description format (`targets/*.toml`): a device, its SoC, RAM and memory, and
//! its processors, each with the facts the placement and the cost model need and the support
//! table that says what it runs. Every fact carries its quality and sources
//! ([`crate::facts`]).

use crate::facts::{Figure, Quality, Sources, check_sources};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessorKind {
    Cpu,
    Gpu,
    Dsp,
    Npu,
}

impl ProcessorKind {
    pub fn name(self) -> &'static str {
        match self {
            ProcessorKind::Cpu => "cpu",
            ProcessorKind::Gpu => "gpu",
            ProcessorKind::Dsp => "dsp",
            ProcessorKind::Npu => "npu",
        }
    }

    /// Placement preference when several processors could run an op, most preferred first:
    /// the more specialised the processor, the earlier (as vendor delegates and NNAPI drivers
    /// claim ops for their dedicated accelerators first), the CPU last as the fallback.
    pub fn preference(self) -> u8 {
        match self {
            ProcessorKind::Npu => 0,
            ProcessorKind::Dsp => 1,
            ProcessorKind::Gpu => 2,
            ProcessorKind::Cpu => 3,
        }
    }
}

impl fmt::Display for ProcessorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a processor's support table is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupportRef {
    /// A declarative table in `tables/`.
    Table(String),
    /// A code table the build provides ([`crate::CodeTables`]), e.g. `hetc-cpu`.
    Code(String),
}

impl fmt::Display for SupportRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupportRef::Table(t) => write!(f, "table {t}"),
            SupportRef::Code(c) => write!(f, "code {c}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRole {
    Prime,
    Performance,
    Efficiency,
}

/// Identical cores of one CPU cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuCluster {
    pub role: ClusterRole,
    /// Core design, e.g. `Cortex-A76 (Kryo 485 Gold)`.
    pub core: String,
    pub count: usize,
    pub ghz: f64,
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    /// Peak FP32 FLOPs per cycle of one core (NEON/AVX FMA width x pipes x 2).
    pub fp32_flops_per_cycle: Figure,
}

/// How a GPU prefers its tensors: OpenCL images (texture path) or buffers. CoDL found Adreno
/// fastest with images and Mali with buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuDataType {
    Image,
    Buffer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferredData {
    pub kind: GpuDataType,
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuDesc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shader_cores: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_mhz: Option<Figure>,
    /// Compute APIs the driver offers (`OpenCL 2.0`, `Vulkan 1.1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_data: Option<PreferredData>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorDesc {
    /// Unique within the target; what `--processors` names (`cpu`, `gpu`, `dsp`, `npu`).
    pub name: String,
    pub kind: ProcessorKind,
    /// `Kryo 485 (1+3+4)`, `Adreno 640`, `Hexagon 690 with HTA`, ...
    pub model: String,
    /// Provenance of `model` (and of the processor's existence).
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<CpuCluster>,
    /// ISA features (detected on the host: `avx2`, `fma`, `avx512f`, `neon`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuDesc>,
    /// Peak FP32 GFLOP/s; for CPUs without it, derived from the non-efficiency clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_gflops: Option<Figure>,
    /// Peak INT8 TOPS (DSPs and NPUs, as vendors quote them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_int8_tops: Option<Figure>,
    /// Fixed cost of launching one op (kernel enqueue, RPC), microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_us: Option<Figure>,
    pub support: SupportRef,
}

impl ProcessorDesc {
    /// Peak FP32 GFLOP/s: the stated figure, or for a CPU the sum over its prime and
    /// performance clusters of cores x GHz x FLOPs per cycle (efficiency cores are left out,
    /// as MACE and CoDL run inference on the big cores).
    pub fn peak_gflops(&self) -> Option<Figure> {
        if let Some(f) = &self.peak_gflops {
            return Some(f.clone());
        }
        let big: Vec<&CpuCluster> = self.clusters.iter().filter(|c| c.role != ClusterRole::Efficiency).collect();
        if big.is_empty() {
            return None;
        }
        let value: f64 = big.iter().map(|c| c.count as f64 * c.ghz * c.fp32_flops_per_cycle.value).sum();
        let quality = big
            .iter()
            .flat_map(|c| [c.quality, c.fp32_flops_per_cycle.quality])
            .fold(Quality::Derived, Quality::weaker);
        let terms: Vec<String> = big
            .iter()
            .map(|c| format!("{} x {} GHz x {} FLOP/cycle", c.count, c.ghz, c.fp32_flops_per_cycle.value))
            .collect();
        let mut source: Vec<String> =
            big.iter().flat_map(|c| c.source.iter().chain(&c.fp32_flops_per_cycle.source)).cloned().collect();
        source.sort();
        source.dedup();
        Some(Figure {
            value: (value * 10.0).round() / 10.0,
            quality,
            source,
            derivation: Some(format!("big cores: {}", terms.join(" + "))),
        })
    }

    /// Total core count of a CPU (0 for other processors).
    pub fn cores(&self) -> usize {
        self.clusters.iter().map(|c| c.count).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ram {
    /// The device's RAM variants; the smallest bounds what a plan may use.
    pub variants_gib: Vec<f64>,
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The DRAM all processors share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// `LPDDR4X-4266, 4x16-bit`.
    pub kind: String,
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    pub bandwidth_gbps: Figure,
}

/// Moving a tensor between two processors' memories (on phones: the same DRAM, but mapped,
/// copied and often converted between layouts, e.g. OpenCL image <-> buffer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Two processor names.
    pub between: [String; 2],
    pub latency_us: Figure,
    pub gbps: Figure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDesc {
    pub name: String,
    /// The phone or machine (`Xiaomi 9`).
    pub device: String,
    pub soc: String,
    /// Why this target exists: which paper evaluated on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<String>,
    /// Provenance of the device-to-SoC facts.
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram: Option<Ram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(rename = "processor")]
    pub processors: Vec<ProcessorDesc>,
    #[serde(rename = "transfer", default, skip_serializing_if = "Vec::is_empty")]
    pub transfers: Vec<Transfer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn check_figure(f: &Figure, sources: &Sources, what: &dyn Fn() -> String) -> Result<(), String> {
    check_sources(&f.source, f.quality, sources, what)?;
    if matches!(f.quality, Quality::Derived | Quality::Estimate | Quality::Guess) && f.derivation.is_none() {
        return Err(format!("{}: a {} figure needs a derivation", what(), f.quality));
    }
    if !f.value.is_finite() || f.value < 0.0 {
        return Err(format!("{}: bad value {}", what(), f.value));
    }
    Ok(())
}

impl TargetDesc {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    pub fn processor(&self, name: &str) -> Option<&ProcessorDesc> {
        self.processors.iter().find(|p| p.name == name)
    }

    /// The transfer link between two processors, in either direction.
    pub fn transfer(&self, a: &str, b: &str) -> Option<&Transfer> {
        self.transfers
            .iter()
            .find(|t| (t.between[0] == a && t.between[1] == b) || (t.between[0] == b && t.between[1] == a))
    }

    /// Structural checks: names, exactly one CPU, sources known, figures sane.
    pub fn validate(&self, sources: &Sources) -> Result<(), String> {
        let t = &self.name;
        check_sources(&self.source, self.quality, sources, &|| format!("target {t}"))?;
        if self.processors.iter().filter(|p| p.kind == ProcessorKind::Cpu).count() != 1 {
            return Err(format!("target {t}: needs exactly one cpu processor (the fallback)"));
        }
        for (i, p) in self.processors.iter().enumerate() {
            let n = &p.name;
            if self.processors[..i].iter().any(|q| q.name == *n) {
                return Err(format!("target {t}: two processors named `{n}`"));
            }
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("target {t}: bad processor name `{n}`"));
            }
            check_sources(&p.source, p.quality, sources, &|| format!("target {t}, processor {n}"))?;
            for c in &p.clusters {
                check_sources(&c.source, c.quality, sources, &|| format!("target {t}, {n} cluster {}", c.core))?;
                check_figure(&c.fp32_flops_per_cycle, sources, &|| {
                    format!("target {t}, {n} cluster {} FLOPs/cycle", c.core)
                })?;
            }
            if let Some(g) = &p.gpu {
                if let Some(f) = &g.clock_mhz {
                    check_figure(f, sources, &|| format!("target {t}, {n} clock"))?;
                }
                if let Some(d) = &g.preferred_data {
                    check_sources(&d.source, d.quality, sources, &|| format!("target {t}, {n} preferred data type"))?;
                }
            }
            for (what, f) in
                [("peak GFLOP/s", &p.peak_gflops), ("peak TOPS", &p.peak_int8_tops), ("dispatch", &p.dispatch_us)]
            {
                if let Some(f) = f {
                    check_figure(f, sources, &|| format!("target {t}, {n} {what}"))?;
                }
            }
        }
        if let Some(r) = &self.ram {
            check_sources(&r.source, r.quality, sources, &|| format!("target {t}, RAM"))?;
            if r.variants_gib.is_empty() {
                return Err(format!("target {t}: RAM lists no variant"));
            }
        }
        if let Some(m) = &self.memory {
            check_sources(&m.source, m.quality, sources, &|| format!("target {t}, memory"))?;
            check_figure(&m.bandwidth_gbps, sources, &|| format!("target {t}, memory bandwidth"))?;
        }
        for tr in &self.transfers {
            for end in &tr.between {
                if self.processor(end).is_none() {
                    return Err(format!("target {t}: transfer names unknown processor `{end}`"));
                }
            }
            check_figure(&tr.latency_us, sources, &|| format!("target {t}, transfer latency"))?;
            check_figure(&tr.gbps, sources, &|| format!("target {t}, transfer bandwidth"))?;
        }
        Ok(())
    }
}
