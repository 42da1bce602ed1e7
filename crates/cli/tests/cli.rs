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

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hetc-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads a little-endian f32 `.npy` written by `hetc run` (header length at bytes 8..10).
fn read_npy(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// The main job: compile a model, run the plan on its test set, compare with the reference,
/// inspect the plan and benchmark it.
#[test]
fn compile_run_inspect_bench() {
    let dir = temp_dir("e2e");
    let plan = dir.join("tiny_cnn.hplan");
    let model = testdata("models/tiny_cnn/model.onnx");
    let out = hetc(&["compile", model.to_str().unwrap(), "--target", "host-cpu", "-o", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "compile: {}", String::from_utf8_lossy(&out.stderr));

    let outputs = dir.join("out");
    let set = testdata("models/tiny_cnn/test_data_set_0");
    let out = hetc(&[
        "run",
        plan.to_str().unwrap(),
        "--inputs",
        set.to_str().unwrap(),
        "--output-dir",
        outputs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "run: {}", String::from_utf8_lossy(&out.stderr));
    let got = read_npy(&outputs.join("y.npy"));
    // The reference, decoded by a second route: through `hetc run --input y=...pb` would be
    // circular, so compare against onnx's own bytes.
    let reference = {
        use prost::Message;
        let bytes = std::fs::read(set.join("output_0.pb")).unwrap();
        let t = hetc_onnx::proto::TensorProto::decode(bytes.as_slice()).unwrap();
        hetc_onnx::tensor_from_proto(&t, &set).unwrap().to_f32_vec()
    };
    assert_eq!(got.len(), reference.len());
    let scale = reference.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (a, b) in got.iter().zip(&reference) {
        assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
    }

    let out = hetc(&["inspect", plan.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("arena") && text.contains("ConvIm2col"), "{text}");

    let out = hetc(&["bench", plan.to_str().unwrap(), "--runs", "3", "--warmup", "1", "--threads", "1", "--json"]);
    assert!(out.status.success(), "bench: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["median_ms"].as_f64().is_some_and(|m| m > 0.0), "{json}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn run_rejects_bad_plans_and_inputs() {
    let dir = temp_dir("bad");
    let plan = dir.join("p.hplan");
    let model = testdata("models/tiny_cnn/model.onnx");
    assert!(hetc(&["compile", model.to_str().unwrap(), "-o", plan.to_str().unwrap()]).status.success());
    let bytes = std::fs::read(&plan).unwrap();

    // Truncated, bit-flipped and wrong-version plans.
    let truncated = dir.join("truncated.hplan");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(assert_fails(&["run", truncated.to_str().unwrap()]).contains("truncated"));
    let mut flipped = bytes.clone();
    flipped[100] ^= 0x10;
    let flipped_path = dir.join("flipped.hplan");
    std::fs::write(&flipped_path, &flipped).unwrap();
    assert!(assert_fails(&["bench", flipped_path.to_str().unwrap()]).contains("checksum"));
    let mut version = bytes.clone();
    version[8] = 99;
    let version_path = dir.join("version.hplan");
    std::fs::write(&version_path, &version).unwrap();
    assert!(assert_fails(&["run", version_path.to_str().unwrap()]).contains("version"));

    // A wrong input shape and an unknown input name.
    let npy = dir.join("x.npy");
    let mut data = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 8), }\n";
    data.extend_from_slice(&(header.len() as u16).to_le_bytes());
    data.extend_from_slice(header.as_bytes());
    data.extend(std::iter::repeat_n(0u8, 3 * 64 * 4));
    std::fs::write(&npy, data).unwrap();
    let line = assert_fails(&["run", plan.to_str().unwrap(), "--input", &format!("x={}", npy.display())]);
    assert!(line.contains("shape"), "{line}");
    let line = assert_fails(&["run", plan.to_str().unwrap(), "--input", &format!("nope={}", npy.display())]);
    assert!(line.contains("nope"), "{line}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn compile_reports_unknown_targets_and_unsupported_models() {
    let model = testdata("models/tiny_cnn/model.onnx");
    let line = assert_fails(&["compile", model.to_str().unwrap(), "--target", "nokia3310"]);
    assert!(line.contains("nokia3310"), "{line}");
    let line = assert_fails(&["compile", testdata("models/unsupported_ops.onnx").to_str().unwrap()]);
    assert!(line.contains("Einsum") && line.contains("fancy"), "{line}");
}
