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
