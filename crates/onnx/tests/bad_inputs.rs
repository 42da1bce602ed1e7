//! Malformed and invalid models must give a clear one-line error, never a panic: replays of
//! `testdata/bad/` (including the fuzzer's finds, `fuzz-*.onnx`) and of the invalid flat
//! models in `testdata/models/`, plus a proptest that mangles the valid models.

mod common;

use hetc_ir::GraphError;
use hetc_onnx::{ImportError, ImportOptions, Model, import_bytes, import_file};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Files of `testdata/bad/` that are valid models: flips that landed in weight bytes, fuzzer
/// finds that only took too long or too much memory or overflowed, and a Conv whose MACs
/// overflowed the statistics.
const STILL_VALID: &[&str] = &[
    "bitflip_2.onnx",
    "bitflip_3.onnx",
    "bitflip_4.onnx",
    "bitflip_5.onnx",
    "bitflip_6.onnx",
    "fuzz-bf16-negative-nan.onnx",
    "fuzz-constant-of-shape-16m.onnx",
    "fuzz-slice-step-extremes.onnx",
    "overflow_conv_macs.onnx",
];

/// Runs `f`, failing the test with `what` if it panics. A model that imports must also
/// survive the statistics and the IR dump.
fn no_panic(what: &str, f: impl FnOnce() -> Result<Model, ImportError>) -> Result<Model, ImportError> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let result = f();
        if let Ok(model) = &result {
            let _ = hetc_ir::stats::model_stats(&model.graph);
            let _ = hetc_ir::text::dump(&model.graph);
        }
        result
    }));
    result.unwrap_or_else(|_| panic!("{what}: the importer panicked"))
}

fn assert_one_line(what: &str, err: &ImportError) {
    let msg = err.to_string();
    assert!(!msg.is_empty() && !msg.contains(['\n', '\r']), "{what}: error is not a single line: {msg:?}");
}

/// Imports `path` both from memory and from the file; both must agree and neither may panic.
fn replay(path: &Path, options: &ImportOptions) -> Result<Model, ImportError> {
    let what = path.display().to_string();
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {what}: {e}"));
    let base = path.parent().unwrap();
    let from_bytes = no_panic(&what, || import_bytes(data, base, options));
    let from_file = no_panic(&what, || import_file(path, options));
    match (&from_bytes, &from_file) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => {
            assert_one_line(&what, a);
            assert_one_line(&what, b);
        }
        (a, b) => {
            panic!("{what}: import_bytes gave {:?} but import_file gave {:?}", a.as_ref().err(), b.as_ref().err())
        }
    }
    from_file
}

fn sorted_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_file_fails_cleanly() {
    let files = sorted_files(&common::workspace().join("testdata/bad"), "onnx");
    assert!(files.len() >= 18, "testdata/bad has only {} files", files.len());
    for path in files {
        let file = path.file_name().unwrap().to_str().unwrap();
        let result = replay(&path, &ImportOptions::default());
        if !STILL_VALID.contains(&file) {
            assert!(result.is_err(), "{file} imported, but it is malformed");
        }
    }
}

/// Every flat file in `testdata/models/` is invalid or unsupported, and fails cleanly.
#[test]
fn every_invalid_model_fails_cleanly() {
    let files = sorted_files(&common::workspace().join("testdata/models"), "onnx");
    assert!(files.len() >= 7, "testdata/models has only {} flat models", files.len());
    for path in files {
        assert!(replay(&path, &ImportOptions::default()).is_err(), "{} imported, but it is invalid", path.display());
    }
}

fn import_err(rel: &str) -> ImportError {
    let path = common::workspace().join("testdata/models").join(rel);
    match replay(&path, &ImportOptions::default()) {
        Ok(_) => panic!("{rel} imported, but it is invalid"),
        Err(e) => e,
    }
}

#[test]
fn unsupported_ops_are_all_reported_at_once() {
    let err = import_err("unsupported_ops.onnx");
    let ImportError::UnsupportedOps(nodes) = &err else { panic!("expected UnsupportedOps, got {err:?}") };
    let got: Vec<(&str, &str, &str)> =
        nodes.iter().map(|n| (n.domain.as_str(), n.op_type.as_str(), n.node.as_str())).collect();
    assert_eq!(
        got,
        [("", "Einsum", "mix"), ("", "TopK", "pick"), ("", "Einsum", "mix2"), ("com.example", "FancyOp", "fancy")]
    );
    let msg = err.to_string();
    for part in ["Einsum (nodes `mix`, `mix2`)", "TopK (node `pick`)", "com.example::FancyOp (node `fancy`)"] {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }
}

#[test]
fn cycle_is_reported() {
    let err = import_err("cycle.onnx");
    assert!(matches!(err, ImportError::Graph(GraphError::Cycle(_))), "{err:?}");
    assert!(err.to_string().contains("cycle"), "{err}");
}

#[test]
fn dangling_input_is_named() {
    let err = import_err("dangling_input.onnx");
    assert!(matches!(err, ImportError::Model(_)), "{err:?}");
    assert!(err.to_string().contains("`ghost`"), "{err}");
}

#[test]
fn bad_shapes_cannot_broadcast() {
    let err = import_err("bad_shapes.onnx");
    assert!(matches!(&err, ImportError::Node { op, .. } if op == "Add"), "{err:?}");
    assert!(err.to_string().contains("broadcast"), "{err}");
}

#[test]
fn external_data_problems_are_reported() {
    for (file, reason) in [("missing_external.onnx", "cannot read"), ("short_external.onnx", "file has only 10")] {
        let err = import_err(file);
        assert!(matches!(&err, ImportError::ExternalData { tensor, .. } if tensor == "w"), "{file}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("external data") && msg.contains(reason), "{file}: {msg}");
    }
}

#[test]
fn dynamic_reshape_is_refused() {
    let err = import_err("dynamic_reshape.onnx");
    assert!(matches!(&err, ImportError::Node { op, .. } if op == "Reshape"), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("run time") && msg.contains("dynamic"), "{msg}");
}

#[test]
fn symbolic_dim_needs_an_input_shape() {
    let err = import_err("symbolic_dims/model.onnx");
    assert!(
        matches!(&err, ImportError::SymbolicDim { input, dim, axis: 0, .. } if input == "x" && dim == "N"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("`x`") && msg.contains("`N`") && msg.contains("--input-shape x=1x3x8x8"), "{msg}");
}

fn bad_err(file: &str) -> String {
    let path = common::workspace().join("testdata/bad").join(file);
    match replay(&path, &ImportOptions::default()) {
        Ok(_) => panic!("{file} imported, but it is malformed"),
        Err(e) => e.to_string(),
    }
}

/// A few bytes must not buy gigabytes: sizes are checked before allocating, and the values
/// that folding creates are limited over the whole import.
#[test]
fn resource_limits_are_errors() {
    let msg = bad_err("fuzz-typed-data-huge-dims.onnx");
    assert!(msg.contains("float_data has 0 values for 3221225472 elements"), "{msg}");
    let msg = bad_err("many_constant_of_shape.onnx");
    assert!(msg.contains("ConstantOfShape") && msg.contains("limit of 512 MiB"), "{msg}");
    // An empty tensor's other dimensions are bounded too, or Concat's sum overflows.
    let msg = bad_err("overflow_concat_empty.onnx");
    assert!(msg.contains("input `x`") && msg.contains("1 TiB limit"), "{msg}");
    let msg = bad_err("fuzz-split-num-outputs-huge.onnx");
    assert!(msg.contains("num_outputs is 67108863 but the node has 4 outputs"), "{msg}");
}

/// Folding a Cast of a negative NaN to bfloat16 gives a NaN (its rounding overflowed).
#[test]
fn bf16_nan_folds_to_nan() {
    let path = common::workspace().join("testdata/bad/fuzz-bf16-negative-nan.onnx");
    let model = import_file(&path, &ImportOptions::default()).unwrap();
    let hetc_ir::Op::Constant(t) = &model.graph.node(model.graph.outputs[0].value.node).op else {
        panic!("the Cast was not folded")
    };
    assert!(t.dtype() == hetc_ir::DType::BF16 && t.get_f64(0).is_nan(), "{t:?}");
}

/// Statistics saturate rather than overflow on absurd (but importable) shapes.
#[test]
fn huge_macs_saturate() {
    let path = common::workspace().join("testdata/bad/overflow_conv_macs.onnx");
    let model = import_file(&path, &ImportOptions::default()).unwrap();
    assert_eq!(hetc_ir::stats::model_stats(&model.graph).unwrap().macs, u64::MAX);
}

/// Names are quoted in errors, so a line break in one must not break the error's line.
#[test]
fn control_characters_in_strings_are_refused() {
    use hetc_onnx::proto::ModelProto;
    use prost::Message;
    let path = common::workspace().join("testdata/models/tiny_cnn/model.onnx");
    let tiny = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    type Edit = (&'static str, fn(&mut ModelProto));
    let edits: [Edit; 4] = [
        ("output name", |m| m.graph.as_mut().unwrap().output[0].name = Some("y\nz".into())),
        ("node name", |m| m.graph.as_mut().unwrap().node[0].name = Some("conv\r\n1".into())),
        ("op type", |m| m.graph.as_mut().unwrap().node[1].op_type = Some("Relu\n".into())),
        ("string attribute", |m| {
            let conv = &mut m.graph.as_mut().unwrap().node[0];
            conv.attribute.push(hetc_onnx::proto::AttributeProto {
                name: Some("auto_pad".into()),
                r#type: Some(hetc_onnx::proto::attribute_proto::AttributeType::String as i32),
                s: Some(bytes::Bytes::from_static(b"SAME\nUPPER")),
                ..Default::default()
            });
        }),
    ];
    for (what, edit) in edits {
        let mut model = tiny.clone();
        edit(&mut model);
        let dir = path.parent().unwrap();
        let err = no_panic(what, || import_bytes(model.encode_to_vec(), dir, &ImportOptions::default()))
            .err()
            .unwrap_or_else(|| panic!("{what}: imported"));
        assert_one_line(what, &err);
        assert!(err.to_string().contains("control character"), "{what}: {err}");
    }
}

/// The valid models with their folders (for external data), read once.
fn valid_models() -> &'static [(PathBuf, Vec<u8>)] {
    static MODELS: std::sync::OnceLock<Vec<(PathBuf, Vec<u8>)>> = std::sync::OnceLock::new();
    MODELS.get_or_init(|| {
        let root = common::workspace().join("testdata/models");
        let mut dirs: Vec<PathBuf> =
            std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        let models: Vec<_> =
            dirs.into_iter().map(|d| (d.clone(), std::fs::read(d.join("model.onnx")).unwrap())).collect();
        assert!(models.len() >= 7, "only {} valid models in {}", models.len(), root.display());
        models
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Keep this fraction (per mille) of the file.
    Truncate(u16),
    /// XOR the byte at this position (per mille of the length) with a non-zero value.
    Flip(u16, u8),
    /// Replace a range with bytes of another valid model (positions and lengths per mille).
    Splice { at: u16, remove: u16, from: usize, start: u16, len: u16 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let per_mille = || 0u16..=1000;
    prop_oneof![
        1 => per_mille().prop_map(Mutation::Truncate),
        4 => (per_mille(), 1u8..=255).prop_map(|(p, x)| Mutation::Flip(p, x)),
        2 => (per_mille(), 0u16..=50, any::<usize>(), per_mille(), 0u16..=50)
            .prop_map(|(at, remove, from, start, len)| Mutation::Splice { at, remove, from, start, len }),
    ]
}

fn scaled(len: usize, per_mille: u16) -> usize {
    len * per_mille as usize / 1000
}

fn apply(data: &mut Vec<u8>, m: &Mutation, models: &[(PathBuf, Vec<u8>)]) {
    match *m {
        Mutation::Truncate(keep) => data.truncate(scaled(data.len(), keep)),
        Mutation::Flip(at, x) => {
            if !data.is_empty() {
                let i = scaled(data.len() - 1, at);
                data[i] ^= x;
            }
        }
        Mutation::Splice { at, remove, from, start, len } => {
            let donor = &models[from % models.len()].1;
            let s = scaled(donor.len(), start);
            let piece = &donor[s..(s + scaled(donor.len(), len)).min(donor.len())];
            let a = scaled(data.len(), at);
            let b = (a + scaled(data.len(), remove)).min(data.len());
            data.splice(a..b, piece.iter().copied());
        }
    }
}

fn proptest_config() -> ProptestConfig {
    // Small by default so the suite stays fast; PROPTEST_CASES=100000 for a long soak.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000);
    // Failing cases are saved beside this file as bad_inputs.proptest-regressions.
    let failure_persistence = Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions")) as Box<_>);
    ProptestConfig { cases, failure_persistence, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn mangled_valid_models_never_panic(
        model in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let models = valid_models();
        let (dir, original) = &models[model % models.len()];
        let mut data = original.clone();
        for m in &mutations {
            apply(&mut data, m, models);
        }
        let mut options = ImportOptions::default();
        if dir.ends_with("symbolic_dims") {
            options.input_shapes.insert("x".into(), vec![1, 3, 8, 8]);
        }
        if let Err(e) = no_panic(&format!("{} after {mutations:?}", dir.display()), || import_bytes(data, dir, &options)) {
            assert_one_line(&format!("{} after {mutations:?}", dir.display()), &e);
        }
    }
}
