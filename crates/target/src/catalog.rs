//! The built-in targets: the data files embedded in the binary (so `hetc` is self-contained),
//! validated and resolved at load, plus `host-cpu` and `host` built from this machine.

use crate::desc::{ProcessorDesc, ProcessorKind, SupportRef, TargetDesc};
use crate::error::TargetError;
use crate::facts::{Source, Sources};
use crate::host::{HostInfo, host_target};
use crate::support::{CodeTables, OpSupport};
use crate::table::SupportTable;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `sources.toml`: every reference the data files cite, by id.
pub const SOURCES_FILE: (&str, &str) = ("sources.toml", include_str!("../sources.toml"));

/// `tables/*.toml`.
pub const TABLE_FILES: &[(&str, &str)] = &[
    ("tables/mace-gpu.toml", include_str!("../tables/mace-gpu.toml")),
    ("tables/hexagon-nn.toml", include_str!("../tables/hexagon-nn.toml")),
    ("tables/kirin-npu.toml", include_str!("../tables/kirin-npu.toml")),
    ("tables/edgetpu-guess.toml", include_str!("../tables/edgetpu-guess.toml")),
];

/// `targets/*.toml`, in the order `hetc targets` lists them.
pub const TARGET_FILES: &[(&str, &str)] = &[
    ("targets/sd855.toml", include_str!("../targets/sd855.toml")),
    ("targets/kirin985.toml", include_str!("../targets/kirin985.toml")),
    ("targets/sd865.toml", include_str!("../targets/sd865.toml")),
    ("targets/sd888.toml", include_str!("../targets/sd888.toml")),
    ("targets/kirin990.toml", include_str!("../targets/kirin990.toml")),
    ("targets/kirin960.toml", include_str!("../targets/kirin960.toml")),
    ("targets/sd870.toml", include_str!("../targets/sd870.toml")),
    ("targets/tensor.toml", include_str!("../targets/tensor.toml")),
];

/// A target with each processor's support table resolved.
#[derive(Clone)]
pub struct Target {
    pub desc: TargetDesc,
    /// Parallel to `desc.processors`.
    supports: Vec<Arc<dyn OpSupport>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.desc.name).finish_non_exhaustive()
    }
}

impl Target {
    /// Resolves each processor's support reference against the tables and the code tables.
    pub fn resolve(
        desc: TargetDesc,
        tables: &BTreeMap<String, Arc<SupportTable>>,
        code: &CodeTables,
    ) -> Result<Self, TargetError> {
        let mut supports: Vec<Arc<dyn OpSupport>> = Vec::new();
        for p in &desc.processors {
            let s: Arc<dyn OpSupport> = match &p.support {
                SupportRef::Table(t) => tables.get(t).cloned().ok_or_else(|| TargetError::Data {
                    file: format!("targets/{}.toml", desc.name),
                    message: format!("processor {} names unknown table `{t}`", p.name),
                })?,
                SupportRef::Code(c) => code.get(c).ok_or_else(|| TargetError::MissingCodeTable {
                    target: desc.name.clone(),
                    processor: p.name.clone(),
                    table: c.clone(),
                })?,
            };
            supports.push(s);
        }
        Ok(Target { desc, supports })
    }

    pub fn name(&self) -> &str {
        &self.desc.name
    }

    /// Processors with their support tables, in file order.
    pub fn processors(&self) -> impl Iterator<Item = (&ProcessorDesc, &dyn OpSupport)> {
        self.desc.processors.iter().zip(self.supports.iter().map(|s| s.as_ref()))
    }

    pub fn processor(&self, name: &str) -> Result<(&ProcessorDesc, &dyn OpSupport), TargetError> {
        self.processors().find(|(p, _)| p.name == name).ok_or_else(|| TargetError::UnknownProcessor {
            target: self.desc.name.clone(),
            name: name.to_string(),
            known: self.processor_names().join(", "),
        })
    }

    pub fn processor_names(&self) -> Vec<&str> {
        self.desc.processors.iter().map(|p| p.name.as_str()).collect()
    }

    /// The CPU (validation guarantees exactly one): where unsupported ops fall back.
    pub fn cpu(&self) -> (&ProcessorDesc, &dyn OpSupport) {
        self.processors().find(|(p, _)| p.kind == ProcessorKind::Cpu).expect("validated: one cpu")
    }
}

/// Every built-in target, with the sources and tables they cite.
#[derive(Debug)]
pub struct Catalog {
    pub sources: Sources,
    pub tables: BTreeMap<String, Arc<SupportTable>>,
    targets: Vec<Target>,
}

fn data_err(file: &str, message: impl Into<String>) -> TargetError {
    TargetError::Data { file: file.to_string(), message: message.into() }
}

/// Parses and validates `sources.toml` and the tables.
pub fn load_tables() -> Result<(Sources, BTreeMap<String, Arc<SupportTable>>), TargetError> {
    let (file, text) = SOURCES_FILE;
    let sources: Sources = toml::from_str::<BTreeMap<String, Source>>(text).map_err(|e| data_err(file, e.message()))?;
    let mut tables = BTreeMap::new();
    for (file, text) in TABLE_FILES {
        let table = SupportTable::parse(text).map_err(|e| data_err(file, e))?;
        table.validate(&sources).map_err(|e| data_err(file, e))?;
        if tables.insert(table.name.clone(), Arc::new(table)).is_some() {
            return Err(data_err(file, "two tables with this name"));
        }
    }
    Ok((sources, tables))
}

impl Catalog {
    /// The phone targets from the embedded files, then `host-cpu` and `host` from `host`.
    /// `code` supplies the code tables (`hetc-cpu`, and `hetc-gpu` once the GPU backend
    /// exists); a target that needs a missing one is an error.
    pub fn builtin(code: &CodeTables, host: &HostInfo) -> Result<Self, TargetError> {
        let (sources, tables) = load_tables()?;
        let mut targets: Vec<Target> = Vec::new();
        for (file, text) in TARGET_FILES {
            let desc = TargetDesc::parse(text).map_err(|e| data_err(file, e))?;
            desc.validate(&sources).map_err(|e| data_err(file, e))?;
            if format!("targets/{}.toml", desc.name) != *file {
                return Err(data_err(file, format!("names itself `{}`", desc.name)));
            }
            targets.push(Target::resolve(desc, &tables, code)?);
        }
        for name in ["host-cpu", "host"] {
            let desc = host_target(name, host, code);
            desc.validate(&sources).map_err(|e| data_err(name, e))?;
            targets.push(Target::resolve(desc, &tables, code)?);
        }
        Ok(Catalog { sources, tables, targets })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn get(&self, name: &str) -> Result<&Target, TargetError> {
        self.targets.iter().find(|t| t.name() == name).ok_or_else(|| TargetError::UnknownTarget {
            name: name.to_string(),
            known: self.targets.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
        })
    }
}
