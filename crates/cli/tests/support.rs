//! `hetc targets` and `hetc support` end to end: counts on a model built for the purpose
//! (`testdata/models/fallback_mix`, whose expected numbers are derived below by hand), the
//! one-line errors, and a run on every shared model for every target.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn hetc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hetc")).args(args).output().expect("cannot run hetc")
}

fn json(args: &[&str]) -> Value {
    let out = hetc(args);
    assert_eq!(out.status.code(), Some(0), "hetc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("hetc {args:?} printed bad JSON: {e}"))
}

fn fallback_mix() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/fallback_mix/model.onnx").to_string()
}

/// The combination with exactly these processors.
fn combo<'a>(report: &'a Value, names: &[&str]) -> &'a Value {
    report["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["processors"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).eq(names.iter().copied()))
        .unwrap_or_else(|| panic!("no combination {names:?}"))
}

/// [supported, fallback segments, crossing edges, transfers]
fn counts(c: &Value) -> [u64; 4] {
    let p = &c["placement"];
    let n = |v: &Value| v.as_u64().unwrap();
    [n(&c["supported"]), n(&p["fallback_segments"]), n(&p["crossing_edges"]), n(&p["transfers"])]
}

fn unsupported(c: &Value) -> Vec<(String, String)> {
    c["unsupported_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["node"].as_str().unwrap().to_string(), u["reasons"][0][1].as_str().unwrap().to_string()))
        .collect()
}

// fallback_mix, in execution order: conv1, hsig (HardSigmoid), gconv (group 2), relu,
// tr (Transpose), cat (Concat of tr and conv1, axis 1), conv2.

#[test]
fn mace_gpu_falls_back_on_hardsigmoid_grouped_conv_and_transpose() {
    let model = fallback_mix();
    let r = json(&["support", "--json", "--target", "sd855", &model]);
    assert_eq!(r["compute_nodes"], 7);
    assert_eq!(r["combinations"].as_array().unwrap().len(), 7, "cpu, gpu, dsp: 2^3 - 1 combinations");
    assert_eq!(counts(combo(&r, &["cpu"])), [7, 0, 0, 0]);
    // GPU: conv1, relu, cat, conv2. CPU runs [hsig, gconv] and [tr]: two segments. Crossing:
    // x->conv1, conv1->hsig, gconv->relu, relu->tr, tr->cat, conv2->y; each a distinct value.
    let gpu = combo(&r, &["gpu"]);
    assert_eq!(counts(gpu), [4, 2, 6, 6]);
    let reasons = unsupported(gpu);
    let names: Vec<&str> = reasons.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["hsig", "gconv", "tr"]);
    assert!(reasons[0].1.contains("activation types"), "{reasons:?}");
    assert!(reasons[1].1.contains("grouped convolution (group 2 of 8 channels)"), "{reasons:?}");
    assert!(reasons[2].1.contains("Transpose on the CPU only"), "{reasons:?}");
    // The float model runs nothing on the DSP: one segment, the whole model.
    assert_eq!(counts(combo(&r, &["dsp"])), [0, 1, 0, 0]);
    // The DSP is preferred but takes nothing, so the full combination places as the GPU alone.
    assert_eq!(counts(combo(&r, &["cpu", "gpu", "dsp"]))[1..], counts(gpu)[1..]);

    // Quantized, the DSP takes what the GPU takes (conv1 is SAME-padded, conv2 VALID) and
    // refuses the same three nodes.
    let q = json(&["support", "--json", "--assume-quantized", "--target", "sd855", &model]);
    assert_eq!(q["assume_quantized"], true);
    let dsp = combo(&q, &["dsp"]);
    assert_eq!(counts(dsp), [4, 2, 6, 6]);
    assert_eq!(unsupported(dsp).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["hsig", "gconv", "tr"]);
}

#[test]
fn kirin_npu_and_selected_processors() {
    let model = fallback_mix();
    let r = json(&["support", "--json", "--target", "kirin990", &model]);
    // Paddle-Lite's Kirin NPU list has grouped convolution and transpose, not HardSigmoid:
    // one segment [hsig]; crossing x->conv1, conv1->hsig, hsig->gconv, conv2->y.
    let npu = combo(&r, &["npu"]);
    assert_eq!(counts(npu), [6, 1, 4, 4]);
    assert_eq!(unsupported(npu)[0].0, "hsig");
    // The NPU is preferred over the GPU, so gpu+npu places as the NPU alone.
    assert_eq!(counts(combo(&r, &["gpu", "npu"])), [6, 1, 4, 4]);

    let only = json(&["support", "--json", "--target", "kirin990", "--processors", "cpu,gpu", &model]);
    let names: Vec<String> = only["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["processors"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join("+"))
        .collect();
    assert_eq!(names, ["cpu", "gpu", "cpu+gpu"]);

    // The Kirin 960 has no NPU: its GPU is MACE's, as on the Snapdragon.
    let r = json(&["support", "--json", "--target", "kirin960", &model]);
    assert_eq!(r["combinations"].as_array().unwrap().len(), 3);
    assert_eq!(counts(combo(&r, &["gpu"])), [4, 2, 6, 6]);
}

#[test]
fn the_text_report_lists_every_unsupported_node() {
    let out = hetc(&["support", "--target", "sd855", &fallback_mix()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("unsupported on gpu (3 nodes):"), "{text}");
    for node in ["hsig", "gconv", "tr", "conv1", "conv2", "relu", "cat"] {
        assert!(text.lines().any(|l| l.trim().split(", ").any(|n| n == node)), "{node} not listed:\n{text}");
    }
    assert!(text.contains("gpu                  4/7   57.1%"), "{text}");
}

/// Asserts that `hetc args` exits 2 with one `error: ` line containing `expected`.
fn fails(args: &[&str], expected: &str) {
    let out = hetc(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "hetc {args:?}: {stderr}");
    assert!(stderr.starts_with("error: ") && stderr.trim_end().lines().count() == 1, "{stderr:?}");
    assert!(stderr.contains(expected), "hetc {args:?}: {stderr}");
}

#[test]
fn errors_exit_2_with_one_line() {
    let model = fallback_mix();
    fails(&["support", "--target", "sd999", &model], "unknown target `sd999` (known: sd855, kirin985,");
    fails(
        &["support", "--target", "sd855", "--processors", "cpu,npu", &model],
        "target sd855 has no processor `npu` (it has: cpu, gpu, dsp)",
    );
    fails(&["support", "--target", "sd855", "--processors", "", &model], "no processors selected");
    fails(
        &["support", "--target", "sd855", "/nonexistent-hetc-test/model.onnx"],
        "cannot import /nonexistent-hetc-test/model.onnx",
    );
    let out = hetc(&["support", &model]);
    assert_eq!(out.status.code(), Some(2), "a missing --target is a usage error");
}

#[test]
fn targets_lists_the_built_in_targets() {
    let out = hetc(&["targets"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["sd855", "kirin985", "sd865", "sd888", "kirin990", "kirin960", "sd870", "tensor", "host-cpu", "host"] {
        assert!(text.lines().any(|l| l.split_whitespace().next() == Some(name)), "{name} missing:\n{text}");
    }
    assert!(text.contains("Adreno 640") && text.contains("prefers image [paper]"), "{text}");
    let j = json(&["targets", "--json"]);
    let targets = j["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 10);
    // Every cited source id resolves.
    let sources = j["sources"].as_object().unwrap();
    for t in targets {
        for id in t["source"].as_array().into_iter().flatten() {
            assert!(sources.contains_key(id.as_str().unwrap()), "{id}");
        }
    }
    assert_eq!(j["support_basis"]["sd855"]["cpu"], "hetc's CPU kernels");
}

const SHARED: &[(&str, &[&str])] = &[
    ("digits_resnet", &[]),
    ("mobilenet_v2_imagenet", &[]),
    ("resnet18", &[]),
    ("resnet50", &[]),
    ("vgg16", &[]),
    ("yolov2", &[]),
    ("tiny_yolov2", &[]),
    ("regnet_x_1_6gf", &[]),
    ("fast_style_transfer", &[]),
    ("retinaface_mnet025", &[]),
    ("posenet_mnv1", &[]),
    ("ppocrv4_det", &["--input-shape", "x=1x3x640x640"]),
];

const TARGETS: &[&str] =
    &["sd855", "kirin985", "sd865", "sd888", "kirin990", "kirin960", "sd870", "tensor", "host-cpu", "host"];

/// Consistency of one report: counts add up, combinations are monotone, and hetc's CPU runs
/// every shared model (they all compile for host-cpu).
fn check_report(r: &Value, what: &str) {
    let n = r["compute_nodes"].as_u64().unwrap();
    assert!(n > 0, "{what}");
    let combos = r["combinations"].as_array().unwrap();
    let processors = r["processors"].as_array().unwrap().len();
    assert_eq!(combos.len(), (1 << processors) - 1, "{what}");
    let members = |c: &Value| -> Vec<String> {
        c["processors"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()
    };
    for c in combos {
        let p = &c["placement"];
        let (s, u) = (c["supported"].as_u64().unwrap(), c["unsupported"].as_u64().unwrap());
        assert_eq!(s + u, n, "{what} {c}");
        assert_eq!(c["unsupported_nodes"].as_array().unwrap().len() as u64, u, "{what}");
        let placed: u64 = p["nodes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(placed, n, "{what}");
        assert!(p["transfers"].as_u64() <= p["crossing_edges"].as_u64(), "{what}");
        assert!(p["fallback_segments"].as_u64().unwrap() <= p["nodes"]["cpu"].as_u64().unwrap_or(0), "{what}");
        assert!(p["unrunnable"].as_array().unwrap().is_empty(), "{what}: hetc's CPU runs every shared model");
        if members(c) == ["cpu"] {
            assert_eq!(s, n, "{what}");
        }
        // Adding processors never loses support.
        for sub in combos {
            if members(sub).iter().all(|m| members(c).contains(m)) {
                assert!(sub["supported"].as_u64() <= c["supported"].as_u64(), "{what}: {sub} vs {c}");
            }
        }
    }
}

#[test]
fn support_runs_on_every_shared_model_for_every_target() {
    let shared = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models"));
    assert!(shared.exists(), "{} is missing: the tests need the shared assets beside the repo", shared.display());
    let jobs: Vec<(String, Vec<String>, &str)> = SHARED
        .iter()
        .flat_map(|(m, extra)| {
            let path = shared.join(m).join("model.onnx").display().to_string();
            TARGETS.iter().map(move |t| {
                let mut args = vec!["support".to_string(), "--json".into(), "--target".into(), t.to_string()];
                args.extend(extra.iter().map(|s| s.to_string()));
                args.push(path.clone());
                (m.to_string(), args, *t)
            })
        })
        .collect();
    // Two workers: the machine has two cores and each run mostly reads weights.
    let reports: Vec<(String, &str, Value)> = std::thread::scope(|s| {
        let halves: Vec<_> = jobs
            .chunks(jobs.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(m, args, t)| {
                            let args: Vec<&str> = args.iter().map(String::as_str).collect();
                            (m.clone(), *t, json(&args))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(reports.len(), SHARED.len() * TARGETS.len());
    for (m, t, r) in &reports {
        check_report(r, &format!("{m} on {t}"));
    }
    let report = |m: &str, t: &str| &reports.iter().find(|(mm, tt, _)| mm == m && *tt == t).unwrap().2;

    // resnet18 is all Conv, Relu, MaxPool, Add, GlobalAveragePool, Flatten and Gemm: MACE's
    // GPU runs all of it; the float model runs nothing on the DSP.
    let r = report("resnet18", "sd855");
    assert_eq!(counts(combo(r, &["gpu"])), [49, 0, 2, 2]);
    assert_eq!(counts(combo(r, &["dsp"])), [0, 1, 0, 0]);
    // ppocrv4_det: MACE's GPU refuses exactly its HardSigmoids, each alone between GPU nodes
    // (squeeze-excitation blocks), so each is a segment with two crossing edges, plus the
    // model's input and output.
    let r = report("ppocrv4_det", "sd855");
    let gpu = combo(r, &["gpu"]);
    let refused = unsupported(gpu);
    assert!(!refused.is_empty());
    assert!(gpu["unsupported_nodes"].as_array().unwrap().iter().all(|u| u["op"] == "HardSigmoid"), "{gpu}");
    let k = refused.len() as u64;
    assert_eq!(counts(gpu)[1..], [k, 2 * k + 2, 2 * k + 2]);
}
