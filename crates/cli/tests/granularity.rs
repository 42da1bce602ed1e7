//! `hetc compile --granularity` end to end on a phone target: every granularity compiles, the
//! predicted critical path of a plan never exceeds its steps one after another, `subgraph` is
//! never predicted slower than `layer` or `single`, `auto` takes the fastest, and
//! `--granularity` and `--strategy` exclude each other.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hetc")).args(args).output().expect("cannot run hetc")
}

fn ok(args: &[&str]) -> String {
    let out = hetc(args);
    assert!(out.status.success(), "hetc {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn shared_model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models").join(name).join("model.onnx")
}

/// `(critical path, one after another)` in ms from `hetc inspect PLAN`.
fn predicted(inspect: &str) -> (f64, f64) {
    let line = inspect.lines().find(|l| l.starts_with("predicted ") && l.contains("critical path ("));
    let line = line.unwrap_or_else(|| panic!("no predicted line in:\n{inspect}"));
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|s| s.contains('.'))
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1])
}

/// Compiles `model` for `target` at `granularity`; returns compile's and inspect's output.
fn compile(model: &str, target: &str, granularity: &str) -> (String, String) {
    let path = shared_model(model);
    assert!(path.exists(), "{} is missing: the tests read ../shared beside the repo", path.display());
    let plan =
        std::env::temp_dir().join(format!("hetc-gran-{model}-{target}-{granularity}-{}.hplan", std::process::id()));
    let p = plan.to_str().unwrap();
    let report = ok(&["compile", path.to_str().unwrap(), "--target", target, "--granularity", granularity, "-o", p]);
    let inspect = ok(&["inspect", p]);
    std::fs::remove_file(&plan).ok();
    (report, inspect)
}

#[test]
fn granularities_compile_and_compare() {
    // The residual stages' downsampling shortcut is a branch beside the main path.
    for (model, target) in [("resnet18", "sd855"), ("retinaface_mnet025", "kirin990")] {
        let mut critical = std::collections::HashMap::new();
        for g in ["single", "layer", "subgraph", "op", "chain"] {
            let (report, inspect) = compile(model, target, g);
            assert!(report.contains("predicted latency: "), "{model} {g}: {report}");
            let (path, sum) = predicted(&inspect);
            assert!(path <= sum + 1e-3, "{model} {g}: critical path {path} ms over the sum {sum} ms");
            eprintln!("{model}@{target} {g}: {path:.3} ms critical path, {sum:.3} ms one after another");
            critical.insert(g, path);
        }
        // Step times come from the lowered plan (a node may become several steps), so allow
        // the rounding of the printed figures.
        assert!(critical["subgraph"] <= critical["layer"] + 2e-3, "{model}: {critical:?}");
        assert!(critical["subgraph"] <= critical["single"] + 2e-3, "{model}: {critical:?}");
        let (report, inspect) = compile(model, target, "auto");
        let chose = report.lines().find(|l| l.starts_with("granularity: chose ")).expect("auto names its choice");
        let best = critical.values().copied().fold(f64::INFINITY, f64::min);
        let (path, _) = predicted(&inspect);
        assert!(path <= best + 2e-3, "{model}: auto {path} ms, best {best} ms ({chose})");
    }
}

#[test]
fn granularity_and_strategy_exclude_each_other() {
    let path = shared_model("resnet18");
    let out = hetc(&[
        "compile",
        path.to_str().unwrap(),
        "--target",
        "sd855",
        "--granularity",
        "subgraph",
        "--strategy",
        "layer",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--granularity") && stderr.contains("--strategy"), "{stderr}");
}
