//! `hetc profile`, `hetc predict` and `hetc compile --profile` end to end, on a budget of
//! seconds.

use std::path::PathBuf;
use std::process::{Command, Output};

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(rel)
}

fn hetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hetc")).args(args).output().expect("cannot run hetc")
}

fn stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

#[test]
fn a_tiny_profile_budget_writes_a_valid_profile_that_predict_and_compile_use() {
    let dir = std::env::temp_dir().join(format!("hetc-profile-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("host.profile.toml");
    let out =
        hetc(&["profile", "--target", "host", "--out", profile.to_str().unwrap(), "--budget", "2", "--threads", "1"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("noise ceiling"), "{stdout}");
    let text = std::fs::read_to_string(&profile).unwrap();
    let parsed = hetc_predictor::Profile::from_toml(&text).expect("the written profile validates");
    assert_eq!(parsed.threads, vec![1]);
    assert!(!parsed.fallback.is_empty(), "a sweep of seconds still fits the family models");

    let model = testdata("models/tiny_cnn/model.onnx");
    let out =
        hetc(&["predict", model.to_str().unwrap(), "--target", "host-cpu", "--profile", profile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("total predicted"));

    let plan = dir.join("tiny.hplan");
    let out = hetc(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        plan.to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    let bytes = std::fs::read(&plan).unwrap();
    let plan = hetc_runtime::Plan::from_bytes(&bytes).unwrap();
    assert!(plan.meta().steps.iter().all(|s| s.predicted_us > 0.0), "every step has a prediction");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn predict_works_for_a_phone_with_derived_coefficients() {
    let model = testdata("models/tiny_cnn/model.onnx");
    let out = hetc(&["predict", model.to_str().unwrap(), "--target", "sd855"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("derived, not measured"), "{stdout}");
}

#[test]
fn bad_profiles_and_arguments_fail_with_one_line() {
    let dir = std::env::temp_dir().join(format!("hetc-profile-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.profile.toml");
    std::fs::write(&bad, "format = 1\ntarget = \"host\"\n").unwrap();
    let model = testdata("models/tiny_cnn/model.onnx");
    for args in [
        vec!["predict", model.to_str().unwrap(), "--profile", bad.to_str().unwrap()],
        vec!["predict", model.to_str().unwrap(), "--target", "host-cpu"],
        vec!["profile", "--evaluate", "--profile", bad.to_str().unwrap()],
        vec!["profile", "--evaluate"],
        vec!["profile", "--target", "sd855"],
        vec!["profile", "--processors", "gpu"],
        vec!["profile", "--budget", "0"],
    ] {
        let out = hetc(&args);
        let err = stderr_line(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && !err.contains('\n'), "{args:?}: {err:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hand-written profile with a model for every CPU family and a fitted transfer term.
const FAMILIES_PROFILE: &str = r#"
format = 1
target = "host"
processor = "cpu"
source = "measured"
note = "hand-written for the test"
avx512 = false
avx2 = false
threads = [2]
kernels = {}

[fallback.gemm]
family = "gemm"
hyper = [64, 8]
coef = [20.0, 2.0, 1.0, 3.0, 5.0]
samples = 10
fit_pm10 = 1.0

[fallback.winograd]
family = "winograd"
hyper = [8]
coef = [10.0, 1.0, 8.0]
samples = 10
fit_pm10 = 1.0

[fallback.window]
family = "window"
hyper = [1, 4, 0]
coef = [10.0, 1.0, 1.0, 4.0]
samples = 10
fit_pm10 = 1.0

[fallback.stream]
family = "stream"
hyper = [0]
coef = [1.0, 0.5, 2.0, 20.0, 3.0]
samples = 10
fit_pm10 = 1.0

[transfer]
status = "fitted"
latency_us = 40.0
us_per_mb = 300.0
sync_us = 25.0
samples = 8
note = "hand-written"
"#;

/// The number in `predicted latency: N ms` of `stdout`.
fn printed_latency_ms(stdout: &str) -> f64 {
    let line = stdout.lines().find(|l| l.starts_with("predicted latency: ")).unwrap_or_else(|| panic!("{stdout}"));
    line["predicted latency: ".len()..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn compile_with_a_profile_places_by_the_predictor_and_prints_the_sum_of_step_predictions() {
    let dir = std::env::temp_dir().join(format!("hetc-compile-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("families.profile.toml");
    std::fs::write(&profile, FAMILIES_PROFILE).unwrap();
    let model = testdata("models/tiny_cnn/model.onnx");
    // A phone target has a GPU for the search to weigh; the CPU side is the profile's.
    for (target, strategy) in [("sd855", "layer"), ("host-cpu", "cpu")] {
        let plan_path = dir.join(format!("{target}.hplan"));
        let out = hetc(&[
            "compile",
            model.to_str().unwrap(),
            "--target",
            target,
            "--strategy",
            strategy,
            "--profile",
            profile.to_str().unwrap(),
            "-o",
            plan_path.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{target}: {}", stderr_line(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("cost model: latency predictor: CPU ops from profile"), "{stdout}");
        assert!(stdout.contains("transfers from the profile's fitted transfer model"), "{stdout}");
        if strategy == "layer" {
            assert!(stdout.contains("placement: searched with the cost model"), "{stdout}");
        }
        assert!(stdout.contains("CPU ops priced: 0 by their kernel's model"), "{stdout}");
        // The profile was written for `host`: placing for a phone with it says so.
        let note = "note: the profile describes target `host`, not `sd855`";
        assert_eq!(stdout.contains(note), target == "sd855", "{stdout}");
        let bytes = std::fs::read(&plan_path).unwrap();
        let plan = hetc_runtime::Plan::from_bytes(&bytes).unwrap();
        let steps = &plan.meta().steps;
        assert!(
            steps.iter().filter(|s| s.device == hetc_plan::Device::Cpu).all(|s| s.predicted_us > 0.0),
            "every CPU step has a prediction"
        );
        let sum_ms: f64 = steps.iter().map(|s| s.predicted_us as f64).sum::<f64>() / 1e3;
        let printed = printed_latency_ms(&stdout);
        assert!((printed - sum_ms).abs() <= 0.0005 + 1e-9, "{target}: printed {printed} ms, steps sum to {sum_ms} ms");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Needs a GPU adapter (lavapipe in CI), like the co-execution model tests: without one it
/// fails.
#[test]
fn profiling_the_gpu_fits_kernel_transfer_and_sync_terms_that_placement_then_uses() {
    let dir = std::env::temp_dir().join(format!("hetc-profile-gpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cpu_only = dir.join("cpu.profile.toml");
    std::fs::write(&cpu_only, FAMILIES_PROFILE.replace("status = \"fitted\"", "status = \"unfitted\"")).unwrap();
    let with_gpu = dir.join("gpu.profile.toml");
    let out = hetc(&[
        "profile",
        "--processors",
        "gpu",
        "--profile",
        cpu_only.to_str().unwrap(),
        "--out",
        with_gpu.to_str().unwrap(),
        "--budget",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("transfer (") && stdout.contains("sync"), "{stdout}");
    assert!(stdout.contains("GPU kernels on "), "{stdout}");
    let p = hetc_predictor::Profile::from_toml(&std::fs::read_to_string(&with_gpu).unwrap()).unwrap();
    let t = &p.transfer;
    assert_eq!(t.status, hetc_predictor::TransferStatus::Fitted);
    assert!(t.latency_us + t.us_per_mb > 0.0 && t.sync_us > 0.0, "{t:?}");
    assert!(t.download_latency_us.is_some() && t.download_us_per_mb.is_some(), "{t:?}");
    let gpu = p.gpu.as_ref().expect("GPU kernel models");
    assert!(!gpu.fallback.is_empty() && !gpu.adapter.is_empty(), "{gpu:?}");
    assert!(gpu.fallback.keys().chain(gpu.kernels.keys()).count() > 0);
    // The CPU side is the input profile's, untouched.
    let before = hetc_predictor::Profile::from_toml(&std::fs::read_to_string(&cpu_only).unwrap()).unwrap();
    assert_eq!(p.fallback, before.fallback);

    let model = testdata("models/tiny_cnn/model.onnx");
    let plan = dir.join("gpu.hplan");
    let common = ["compile", model.to_str().unwrap(), "--target", "sd855", "--strategy", "gpu", "-o"];
    let mut args: Vec<&str> = common.to_vec();
    args.extend([plan.to_str().unwrap(), "--profile", cpu_only.to_str().unwrap()]);
    let out = hetc(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the profile's transfer term is unfitted"));
    let mut args: Vec<&str> = common.to_vec();
    args.extend([plan.to_str().unwrap(), "--profile", with_gpu.to_str().unwrap()]);
    let out = hetc(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("transfers from the profile's fitted transfer model"), "{stdout}");
    assert!(stdout.contains("GPU ops from the profile's GPU models"), "{stdout}");
    assert!(stdout.contains("GPU ops priced: "), "{stdout}");
    // Its transfers are priced by the measured terms: an upload by the upload line, a
    // download by the download line.
    let bytes = std::fs::read(&plan).unwrap();
    let plan = hetc_runtime::Plan::from_bytes(&bytes).unwrap();
    let meta = plan.meta();
    let predictor = hetc_predictor::Predictor::new(p.clone()).unwrap();
    let mut seen = [false; 2];
    for s in &meta.steps {
        let bytes: u64 = s.outputs.iter().map(|&o| meta.tensors[o as usize].byte_size().unwrap()).sum();
        let (want, k) = match s.kernel {
            hetc_plan::Kernel::Upload => (predictor.transfer_us(bytes as f64), 0),
            hetc_plan::Kernel::Download => (predictor.download_us(bytes as f64), 1),
            _ => continue,
        };
        seen[k] = true;
        assert!((s.predicted_us as f64 - want).abs() <= 1e-3 * want, "{}: {} vs {want}", s.name, s.predicted_us);
    }
    assert_eq!(seen, [true, true], "the GPU plan has an upload and a download");
    // GPU steps are priced by the GPU models too, and the printed total is the steps' sum.
    assert!(meta.steps.iter().all(|s| s.predicted_us > 0.0), "every step has a prediction");
    let sum_ms: f64 = meta.steps.iter().map(|s| s.predicted_us as f64).sum::<f64>() / 1e3;
    let printed = printed_latency_ms(&stdout);
    assert!((printed - sum_ms).abs() <= 0.0005 + 1e-9, "printed {printed} ms, steps sum to {sum_ms} ms");

    // The GPU models evaluated on held-out shapes: PM10ACC per kernel beside the baseline.
    let out = hetc(&[
        "profile",
        "--evaluate",
        "--processors",
        "gpu",
        "--profile",
        with_gpu.to_str().unwrap(),
        "--held-out",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr_line(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("GPU kernels, held-out shapes") && stdout.contains("FLOPs-linear"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("overall")), "{stdout}");
    // A profile without GPU models cannot be evaluated on the GPU.
    let out = hetc(&["profile", "--evaluate", "--processors", "gpu", "--profile", cpu_only.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("has no GPU models"), "{}", stderr_line(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
