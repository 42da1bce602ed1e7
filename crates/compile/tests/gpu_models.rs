//! Every shared model's GPU plan (`--target host --strategy gpu`, fused) on the GPU (lavapipe in
//! CI): import, compile, encode, load, run on the first model-zoo test set and compare with the
//! reference outputs (max |out - ref| <= 1e-3 x max(1, max |ref|)). Each test prints the
//! adapter, how many steps run on the GPU and the time of a run. Without a GPU adapter every
//! test fails with the runtime's error (nothing is skipped).
//!
//! The four largest models are ignored in the debug run and run in release by
//! `scripts/test.sh`.

use hetc_compile::{CompileOptions, Strategy, compile};
use hetc_plan::Device;
use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
use std::path::PathBuf;
use std::time::Instant;

mod models_common;

use models_common::{MODELS, check, import, read_pb, shared_models};

/// The tolerance: max |out - ref| <= TOLERANCE x max(1, max |ref|).
const TOLERANCE: f32 = 1e-3;

fn run_model(name: &str, shapes: &[(&str, &[usize])]) {
    let dir = shared_models().join(name);
    let model = import(name, shapes);
    // What the adapter cannot bind (vgg16's 392 MiB FC weight on lavapipe's 128 MiB) stays on
    // the CPU, as `hetc compile --target host --strategy gpu` does.
    let limit = hetc_runtime::adapters().iter().map(|a| a.max_binding_bytes).min();
    let options = CompileOptions {
        target: "host".into(),
        strategy: Strategy::Gpu,
        gpu_max_binding_bytes: limit,
        ..Default::default()
    };
    let plan = compile(&model.graph, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
    let on_gpu = plan.meta.steps.iter().filter(|s| s.device == Device::Gpu && s.gpu.is_some()).count();
    let on_cpu: Vec<&str> =
        plan.meta.steps.iter().filter(|s| s.device == Device::Cpu).map(|s| s.kernel.name()).collect();
    let transfers = plan.meta.steps.iter().filter(|s| s.device == Device::Gpu && s.gpu.is_none()).count();
    let bytes = plan.encode().unwrap();
    let plan = Plan::from_bytes(&bytes).unwrap();
    let mut session = Session::new(&plan, SessionOptions { threads: 2, ..Default::default() })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    if let hetc_runtime::GpuMode::Adapter(a) = session.gpu_mode() {
        eprintln!(
            "{name}: {on_gpu} steps on {}, {} on the CPU {on_cpu:?}, {transfers} transfers",
            a.label(),
            on_cpu.len()
        );
    }
    let input_names: Vec<String> = session.inputs().iter().map(|(n, _)| n.to_string()).collect();
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("test_data_set_")))
        .collect();
    sets.sort();
    assert!(!sets.is_empty(), "{name} has no test set");
    // lavapipe is slow: the first test set checks every kernel of the plan (the CPU tests run
    // every set).
    sets.truncate(1);
    for set in sets {
        let label = set.file_name().unwrap().to_string_lossy().into_owned();
        let inputs: Vec<Tensor> = (0..input_names.len()).map(|k| read_pb(&set.join(format!("input_{k}.pb")))).collect();
        let feeds: Vec<(&str, &Tensor)> = input_names.iter().map(String::as_str).zip(&inputs).collect();
        let start = Instant::now();
        let outputs = session.run(&feeds).unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name} {label}: run in {:.2} s", start.elapsed().as_secs_f64());
        for (k, (_, out)) in outputs.iter().enumerate() {
            let reference = read_pb(&set.join(format!("output_{k}.pb")));
            let worst = check(name, &label, out, &reference, TOLERANCE);
            eprintln!("{name} {label} output {k}: max error {worst:.2e} of max(1, max|ref|)");
        }
    }
}

macro_rules! model_tests {
    ($($test:ident => $idx:expr),* $(,)?) => {
        $(#[test] fn $test() { let (n, s) = MODELS[$idx]; run_model(n, s); })*
    };
}

model_tests! {
    digits_resnet => 0,
    mobilenet_v2_imagenet => 1,
    resnet18 => 2,
    resnet50 => 3,
    regnet_x_1_6gf => 7,
    retinaface_mnet025 => 9,
    posenet_mnv1 => 10,
    ppocrv4_det => 11,
}

// The four largest models (82 GFLOP together) take minutes in a debug build: they are ignored
// here, visibly, and `scripts/test.sh` runs them in release (`cargo test --release --test
// gpu_models -- --ignored`, about two minutes on lavapipe on the 2-core machine).
macro_rules! heavy_model_tests {
    ($($test:ident => $idx:expr),* $(,)?) => {
        $(
            #[test]
            #[ignore = "heavy in a debug build: scripts/test.sh runs it in release with --ignored"]
            fn $test() { let (n, s) = MODELS[$idx]; run_model(n, s); }
        )*
    };
}

heavy_model_tests! {
    vgg16 => 4,
    yolov2 => 5,
    tiny_yolov2 => 6,
    fast_style_transfer => 8,
}
