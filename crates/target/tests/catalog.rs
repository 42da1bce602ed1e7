//! The built-in target data: every file embedded, every fact sourced or marked, and the
//! facts the issue names (processors, GPU data types, the NPU-less Kirin 960).

mod common;

use common::{catalog, code_tables, host};
use hetc_target::catalog::{SOURCES_FILE, TABLE_FILES, TARGET_FILES, load_tables};
use hetc_target::desc::{GpuDataType, ProcessorKind, SupportRef, TargetDesc};
use hetc_target::facts::Quality;
use hetc_target::table::SupportTable;
use hetc_target::{Catalog, CodeTables, HostGpu, TargetError};
use std::path::Path;

fn listed(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_data_file_is_embedded_and_matches_the_disk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (dir, embedded) in [("targets", TARGET_FILES), ("tables", TABLE_FILES)] {
        let mut names: Vec<String> = embedded.iter().map(|(f, _)| f.to_string()).collect();
        names.sort();
        assert_eq!(names, listed(dir), "{dir}/ and the embedded list differ");
    }
    for (file, text) in TARGET_FILES.iter().chain(TABLE_FILES).chain([&SOURCES_FILE]) {
        assert_eq!(std::fs::read_to_string(root.join(file)).unwrap(), *text, "{file}");
    }
}

#[test]
fn the_catalog_has_the_studys_devices_and_the_host() {
    let c = catalog();
    let names: Vec<&str> = c.targets().iter().map(|t| t.name()).collect();
    assert_eq!(
        names,
        ["sd855", "kirin985", "sd865", "sd888", "kirin990", "kirin960", "sd870", "tensor", "host-cpu", "host"]
    );
    let processors = |t: &str| c.get(t).unwrap().processor_names().join(",");
    for t in ["sd855", "sd865", "sd870", "sd888"] {
        assert_eq!(processors(t), "cpu,gpu,dsp", "{t}");
    }
    for t in ["kirin985", "kirin990", "tensor"] {
        assert_eq!(processors(t), "cpu,gpu,npu", "{t}");
    }
    assert_eq!(processors("kirin960"), "cpu,gpu", "the Kirin 960 has no NPU");
    assert_eq!(processors("host-cpu"), "cpu");
    // No GPU backend in this build: `host` is its CPU, and says why.
    assert_eq!(processors("host"), "cpu");
    assert!(c.get("host").unwrap().desc.notes.iter().any(|n| n.contains("GPU backend")));

    let gpu_model = |t: &str| c.get(t).unwrap().processor("gpu").unwrap().0.model.clone();
    assert_eq!(gpu_model("sd855"), "Adreno 640");
    assert_eq!(gpu_model("kirin990"), "Mali-G76 MP16");
    assert_eq!(gpu_model("tensor"), "Mali-G78 MP20");
    let data = |t: &str| {
        let (p, _) = c.get(t).unwrap().processor("gpu").unwrap();
        let d = p.gpu.as_ref().unwrap().preferred_data.clone().unwrap();
        (d.kind, d.quality)
    };
    // CoDL's finding: images on Adreno, buffers on Mali.
    assert_eq!(data("sd855"), (GpuDataType::Image, Quality::Paper));
    assert_eq!(data("kirin990"), (GpuDataType::Buffer, Quality::Paper));
    // Not measured by CoDL: assumed, and marked so.
    assert_eq!(data("kirin960"), (GpuDataType::Buffer, Quality::Estimate));

    let err = c.get("sd999").unwrap_err();
    assert!(err.to_string().starts_with("unknown target `sd999` (known: sd855, kirin985"), "{err}");
}

#[test]
fn phone_cpus_run_hetcs_kernels_and_accelerators_use_tables() {
    let c = catalog();
    for t in c.targets() {
        for (p, _) in t.processors() {
            match p.kind {
                ProcessorKind::Cpu => assert_eq!(p.support, SupportRef::Code("hetc-cpu".into()), "{}", t.name()),
                _ => assert!(matches!(p.support, SupportRef::Table(_)), "{} {}", t.name(), p.name),
            }
        }
    }
    let table = |t: &str, p: &str| c.get(t).unwrap().processor(p).unwrap().0.support.clone();
    assert_eq!(table("sd888", "dsp"), SupportRef::Table("hexagon-nn".into()));
    assert_eq!(table("kirin990", "npu"), SupportRef::Table("kirin-npu".into()));
    assert_eq!(table("tensor", "npu"), SupportRef::Table("edgetpu-guess".into()));
    assert_eq!(c.tables["edgetpu-guess"].quality, Quality::Guess);
}

#[test]
fn cpu_peaks_are_derived_from_the_big_clusters() {
    let c = catalog();
    let (cpu, _) = c.get("sd855").unwrap().cpu();
    let peak = cpu.peak_gflops().unwrap();
    // 1 x 2.84 x 16 + 3 x 2.42 x 16; the Cortex-A55s are left out.
    assert_eq!(peak.value, 161.6);
    assert_eq!(peak.quality, Quality::Estimate, "FLOPs per cycle are estimates, so is the peak");
    assert_eq!(cpu.cores(), 8);
    let (host_cpu, _) = c.get("host-cpu").unwrap().cpu();
    // 2 cores x 2 GHz x 32 (AVX2 + FMA).
    assert_eq!(host_cpu.peak_gflops().unwrap().value, 128.0);
}

#[test]
fn host_gets_a_gpu_only_with_an_adapter_and_a_gpu_table() {
    let mut info = host();
    info.gpu = Some(HostGpu {
        adapter: "llvmpipe".into(),
        backend: "Vulkan".into(),
        device_type: "Cpu".into(),
        max_binding_bytes: None,
    });
    // An adapter but no table: still CPU only.
    let c = Catalog::builtin(&code_tables(), &info).unwrap();
    assert_eq!(c.get("host").unwrap().processor_names(), ["cpu"]);
    let table = hetc_target::CodeTable::new("test GPU", common::cpu_check);
    let code = code_tables().with(hetc_target::HETC_GPU, std::sync::Arc::new(table));
    let c = Catalog::builtin(&code, &info).unwrap();
    assert_eq!(c.get("host").unwrap().processor_names(), ["cpu", "gpu"]);
    assert_eq!(c.get("host-cpu").unwrap().processor_names(), ["cpu"]);
}

#[test]
fn a_missing_cpu_table_is_an_error() {
    let err = Catalog::builtin(&CodeTables::new(), &host()).unwrap_err();
    assert!(matches!(err, TargetError::MissingCodeTable { .. }), "{err}");
    assert!(err.to_string().contains("needs the code table `hetc-cpu`"), "{err}");
}

#[test]
fn unsourced_facts_must_say_so() {
    let (sources, _) = load_tables().unwrap();
    let base = include_str!("../targets/kirin960.toml");
    let check = |text: &str| TargetDesc::parse(text).and_then(|d| d.validate(&sources));
    check(base).unwrap();
    // A vendor fact without a source, an unknown source, a guess without a derivation.
    let bad = [
        (base.replacen("source = [\"kirin960-press\", \"study\"]", "source = []", 1), "needs a source"),
        (
            base.replacen("\"kirin960-press\", \"study\"", "\"kirin960-press\", \"nowhere\"", 1),
            "unknown source `nowhere`",
        ),
        (
            base.replacen(", derivation = \"guess: LPDDR4-3733, 4x16-bit = 3733 MT/s x 8 bytes\"", "", 1),
            "needs a derivation",
        ),
    ];
    for (text, expected) in bad {
        assert_ne!(text, base, "the test's edit did not apply");
        let err = check(&text).unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn tables_refuse_misspelt_ops_and_misplaced_conditions() {
    let (sources, _) = load_tables().unwrap();
    let table = |rule: &str| {
        let text = format!(
            "name = \"t\"\nbasis = \"b\"\nquality = \"guess\"\ndtypes = [\"f32\"]\nunlisted = \"u\"\n[[rule]]\n{rule}\n"
        );
        SupportTable::parse(&text).and_then(|t| t.validate(&sources))
    };
    table("ops = [\"Conv\"]\ngroup = \"one\"").unwrap();
    let err = table("ops = [\"Convolution\"]").unwrap_err();
    assert!(err.contains("unknown op `Convolution`"), "{err}");
    let err = table("ops = [\"Relu\"]\ngroup = \"one\"").unwrap_err();
    assert!(err.contains("condition `group` does not apply to Relu"), "{err}");
    let err = table("ops = [\"Pad\"]\npad_modes = [\"mirror\"]").unwrap_err();
    assert!(err.contains("unknown pad mode `mirror`"), "{err}");
    let err = table("ops = [\"Relu\"]\nkernel = 3").unwrap_err();
    assert!(err.contains("unknown field `kernel`"), "{err}");
    let err = table("ops = [\"Relu\"]\ndtypes = [\"f33\"]").unwrap_err();
    assert!(err.contains("unknown dtype `f33`"), "{err}");
}
