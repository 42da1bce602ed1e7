//! Co-executed plans of every shared model are correct: `hetc compile --target host
//! --strategy chain|op --force-split SHARES` splits every op that can be split between the CPU
//! and the GPU (lavapipe in CI), along height and channels in turn, with the GPU shares given,
//! whatever the cost model predicts; the plan then runs (CPU parts and GPU parts at once) on
//! the first model-zoo test set and must match the reference outputs (max |out - ref| <= 1e-3
//! x max(1, max |ref|), the GPU tolerance). Without a GPU adapter every test fails.
//!
//! Shares vary from model to model; the heaviest models give lavapipe small shares, since it
//! computes on the same two cores as the CPU parts. Run in release (`scripts/test.sh` does).

use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[path = "../../compile/tests/models_common/mod.rs"]
mod models_common;

use models_common::{MODELS, check, read_pb, shared_models};

const TOLERANCE: f32 = 1e-3;

fn hetc(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hetc"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()))
        .output()
        .expect("cannot run hetc");
    assert!(out.status.success(), "hetc {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Compiles model `index` of [`MODELS`] split by `strategy` with `shares`, runs it and checks
/// its outputs.
fn run_split(index: usize, strategy: &str, shares: &str) {
    let (name, shapes) = MODELS[index];
    let dir = shared_models().join(name);
    let plan_path = std::env::temp_dir().join(format!("hetc-coexec-{name}-{}.hplan", std::process::id()));
    let mut args: Vec<String> = ["compile", dir.join("model.onnx").to_str().unwrap(), "--target", "host"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--strategy".into(), strategy.into(), "--force-split".into(), shares.into()]);
    args.extend(["-o".into(), plan_path.to_str().unwrap().into()]);
    for (input, dims) in shapes {
        let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        args.extend(["--input-shape".into(), format!("{input}={}", dims.join("x"))]);
    }
    let report = hetc(&args);
    let line = report
        .lines()
        .find(|l| l.starts_with("co-execution:"))
        .unwrap_or_else(|| panic!("{name}: nothing split:\n{report}"));
    eprintln!("{name}: {line}");
    let split: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a count of split ops");
    assert!(split > 0, "{name}: no op split");
    if strategy == "chain" {
        assert!(!line.contains(" 0 ops chained"), "{name}: no chain: {line}");
    }

    let bytes = std::fs::read(&plan_path).unwrap();
    let _ = std::fs::remove_file(&plan_path);
    let plan = Plan::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut session = Session::new(&plan, SessionOptions { threads: 2, ..Default::default() })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(matches!(session.gpu_mode(), hetc_runtime::GpuMode::Adapter(_)), "{name}: no GPU adapter");
    let input_names: Vec<String> = session.inputs().iter().map(|(n, _)| n.to_string()).collect();
    let set: PathBuf = dir.join("test_data_set_0");
    let inputs: Vec<Tensor> = (0..input_names.len()).map(|k| read_pb(&set.join(format!("input_{k}.pb")))).collect();
    let feeds: Vec<(&str, &Tensor)> = input_names.iter().map(String::as_str).zip(&inputs).collect();
    let start = Instant::now();
    let outputs = session.run(&feeds).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("{name}: run in {:.2} s", start.elapsed().as_secs_f64());
    for (k, (_, out)) in outputs.iter().enumerate() {
        let reference = read_pb(&set.join(format!("output_{k}.pb")));
        let worst = check(name, "test_data_set_0", out, &reference, TOLERANCE);
        eprintln!("{name} output {k}: max error {worst:.2e} of max(1, max|ref|)");
    }
}

macro_rules! split_tests {
    ($($(#[$attr:meta])* $test:ident => ($idx:expr, $strategy:expr, $shares:expr)),* $(,)?) => {
        $($(#[$attr])* #[test] fn $test() { run_split($idx, $strategy, $shares); })*
    };
}

// Indices into MODELS; chains for most, single-op splits for some, shares varied.
split_tests! {
    digits_resnet => (0, "chain", "0.3,0.6,0.5"),
    mobilenet_v2_imagenet => (1, "chain", "0.5,0.2,0.7"),
    resnet18 => (2, "op", "0.4,0.1,0.6"),
    resnet50 => (3, "chain", "0.2,0.4"),
    #[ignore = "heavy in a debug build: scripts/test.sh runs it in release with --ignored"]
    vgg16 => (4, "chain", "0.1,0.2"),
    #[ignore = "heavy in a debug build: scripts/test.sh runs it in release with --ignored"]
    yolov2 => (5, "chain", "0.1,0.2"),
    #[ignore = "heavy in a debug build: scripts/test.sh runs it in release with --ignored"]
    tiny_yolov2 => (6, "op", "0.3,0.5,0.8"),
    regnet_x_1_6gf => (7, "chain", "0.3,0.6"),
    // InstanceNormalization reads whole planes after every convolution, so no two of its
    // ops chain: single-op splits.
    #[ignore = "heavy in a debug build: scripts/test.sh runs it in release with --ignored"]
    fast_style_transfer => (8, "op", "0.2,0.3"),
    retinaface_mnet025 => (9, "chain", "0.4,0.8,0.3"),
    posenet_mnv1 => (10, "op", "0.6,0.3"),
    ppocrv4_det => (11, "chain", "0.2,0.5"),
}
