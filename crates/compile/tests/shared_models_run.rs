//! End to end on every shared model: import, compile for host-cpu, encode, load, run on the
//! model-zoo test sets and compare with the reference outputs
//! (max |out - ref| <= 1e-4 x max(1, max |ref|)). The fused plan (the default) runs every
//! test set; the unfused plan (`Fusion::None`) runs the first, against the same references
//! and against the fused plan's outputs.

use hetc_compile::{CompileOptions, Fusion, compile};
use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
use std::path::PathBuf;

mod models_common;

use models_common::{MODELS, check, import, read_pb, shared_models};

/// The tolerance: max |out - ref| <= TOLERANCE x max(1, max |ref|).
const TOLERANCE: f32 = 1e-4;

fn run_model(name: &str, shapes: &[(&str, &[usize])]) {
    let dir = shared_models().join(name);
    let model = import(name, shapes);
    let plan = compile(&model.graph, &CompileOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let bytes = plan.encode().unwrap();
    let unfused = compile(&model.graph, &CompileOptions { fusion: Fusion::None, ..Default::default() })
        .unwrap_or_else(|e| panic!("{name} unfused: {e}"));
    assert!(plan.meta.steps.len() <= unfused.meta.steps.len(), "{name}: fusion added kernels");
    let unfused_bytes = unfused.encode().unwrap();
    let unfused_plan = Plan::from_bytes(&unfused_bytes).unwrap();
    let mut unfused_session = Session::new(&unfused_plan, SessionOptions { threads: 2, ..Default::default() }).unwrap();
    let m = plan.meta.memory;
    assert!(
        m.arena_bytes as f64 <= 1.05 * m.lower_bound_bytes as f64,
        "{name}: arena {} > 1.05 x lower bound {}",
        m.arena_bytes,
        m.lower_bound_bytes
    );
    let plan = Plan::from_bytes(&bytes).unwrap();
    let mut session = Session::new(&plan, SessionOptions { threads: 2, ..Default::default() }).unwrap();
    let input_names: Vec<String> = session.inputs().iter().map(|(n, _)| n.to_string()).collect();
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("test_data_set_")))
        .collect();
    sets.sort();
    assert!(!sets.is_empty(), "{name} has no test set");
    for set in sets {
        let label = set.file_name().unwrap().to_string_lossy().into_owned();
        let inputs: Vec<Tensor> = (0..input_names.len()).map(|k| read_pb(&set.join(format!("input_{k}.pb")))).collect();
        let feeds: Vec<(&str, &Tensor)> = input_names.iter().map(String::as_str).zip(&inputs).collect();
        let outputs = session.run(&feeds).unwrap_or_else(|e| panic!("{name}: {e}"));
        let unfused_outputs = (label == "test_data_set_0")
            .then(|| unfused_session.run(&feeds).unwrap_or_else(|e| panic!("{name} unfused: {e}")));
        for (k, (_, out)) in outputs.iter().enumerate() {
            let reference = read_pb(&set.join(format!("output_{k}.pb")));
            let worst = check(name, &label, out, &reference, TOLERANCE);
            eprintln!("{name} {label} output {k}: max error {worst:.2e} of max(1, max|ref|)");
            if let Some(unfused) = &unfused_outputs {
                let (_, u) = &unfused[k];
                let worst = check(&format!("{name} unfused"), &label, u, &reference, TOLERANCE);
                let vs_fused = check(&format!("{name} fused vs unfused"), &label, out, u, TOLERANCE);
                eprintln!("{name} unfused {label} output {k}: max error {worst:.2e}, vs fused {vs_fused:.2e}");
            }
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
    vgg16 => 4,
    yolov2 => 5,
    tiny_yolov2 => 6,
    regnet_x_1_6gf => 7,
    fast_style_transfer => 8,
    retinaface_mnet025 => 9,
    posenet_mnv1 => 10,
    ppocrv4_det => 11,
}
