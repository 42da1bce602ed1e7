//! The `hetc` binary end to end: exit codes and the one-line `error: ...` contract.

use std::path::PathBuf;
use std::process::{Command, Output};

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(rel)
}

fn hetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hetc")).args(args).output().expect("cannot run hetc")
}

/// Asserts that `hetc args` failed with status 2 and printed exactly one `error: ` line.
fn assert_fails(args: &[&str]) -> String {
    let out = hetc(args);
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(out.status.code(), Some(2), "hetc {args:?}: status {:?}, stderr {stderr:?}", out.status);
    let line = stderr.strip_suffix('\n').unwrap_or_else(|| panic!("hetc {args:?}: stderr {stderr:?} lacks a newline"));
    assert!(
        line.starts_with("error: ") && !line.contains('\n'),
        "hetc {args:?}: stderr is not one error line: {stderr:?}"
    );
    line.to_string()
}

#[test]
fn good_model_json() {
    let model = testdata("models/tiny_cnn/model.onnx");
    let out = hetc(&["inspect", "--json", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert!(json["flops"].as_u64().is_some_and(|f| f > 0), "no flops in {json}");
    assert_eq!(json["opset"], 17);
}

#[test]
fn good_model_table_and_ir() {
    let model = testdata("models/symbolic_dims/model.onnx");
    let out = hetc(&["inspect", "--ir", "--input-shape", "x=2x3x8x8", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("FLOPs") && stdout.contains("f32[2,3,8,8]"), "{stdout}");
}

#[test]
fn invalid_models_exit_2_with_one_error_line() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "only {} invalid models", files.len());
    files.push(testdata("models/symbolic_dims/model.onnx"));
    for name in ["empty", "garbage", "truncated_middle", "huge_dims", "huge_pads", "zero_group_conv"] {
        files.push(testdata(&format!("bad/{name}.onnx")));
    }
    for path in &files {
        let line = assert_fails(&["inspect", path.to_str().unwrap()]);
        assert!(line.contains("cannot import"), "{line}");
    }
}

#[test]
fn error_names_the_problem() {
    let line = assert_fails(&["inspect", testdata("models/dangling_input.onnx").to_str().unwrap()]);
    assert!(line.contains("`ghost`"), "{line}");
    let line = assert_fails(&["inspect", testdata("models/symbolic_dims/model.onnx").to_str().unwrap()]);
    assert!(line.contains("--input-shape x=1x3x8x8"), "{line}");
}

#[test]
fn missing_file_exits_2() {
    let line = assert_fails(&["inspect", "/nonexistent-hetc-test/model.onnx"]);
    assert!(line.contains("/nonexistent-hetc-test/model.onnx"), "{line}");
    // The I/O error is told once, not again as the cause's cause.
    assert_eq!(line.matches("os error").count(), 1, "{line}");
}

#[test]
fn bad_input_shape_syntax_exits_2() {
    let model = testdata("models/symbolic_dims/model.onnx");
    for spec in ["x", "x=1xfoo", "=1x3x8x8", "x=1x-3x8x8", "x="] {
        let line = assert_fails(&["inspect", "--input-shape", spec, model.to_str().unwrap()]);
        assert!(line.contains("--input-shape"), "{spec}: {line}");
    }
    // Well-formed, but naming no input of the model.
    let line = assert_fails(&["inspect", "--input-shape", "y=1x3x8x8", model.to_str().unwrap()]);
    assert!(line.contains("`y`"), "{line}");
}

#[test]
fn usage_errors_exit_2() {
    let out = hetc(&["inspect"]);
    assert_eq!(out.status.code(), Some(2));
    let out = hetc(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
