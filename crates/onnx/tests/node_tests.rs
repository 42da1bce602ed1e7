//! The ONNX backend conformance suite (`../shared/onnx-node-tests`: 1,884 small models, each
//! with reference inputs and outputs) run through the importer.
//!
//! hetc compiles ahead of time, so this checks import and shape inference rather than numerics:
//! every model must either import with each graph output's dtype and shape equal to the
//! reference output, or be refused with a clear error. A panic or a wrong type is a bug. Outputs
//! that import folds to constants are also compared value by value, since a wrong fold would
//! be silently wrong.
//!
//! Many node tests feed at run time what hetc needs constant (Reshape's shape, Slice's starts,
//! Resize's scales, ...), which import rightly rejects. To still exercise those ops, each model
//! is imported up to three times: as it is; with its integer inputs turned into initializers
//! holding the test's input data (shape-like inputs are integers); and with every input turned
//! into an initializer, which also runs each op's constant-folding evaluator against the
//! reference values.
//!
//! The non-passing tests of supported ops are kept in an insta snapshot, so that any change in
//! what hetc accepts or how it explains a refusal shows up in review.

use hetc_ir::{Op, Tensor};
use hetc_onnx::proto::{ModelProto, TensorProto, ValueInfoProto, tensor_proto, type_proto};
use hetc_onnx::{ImportError, ImportOptions, Model};
use prost::Message;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/onnx-node-tests");

/// Reasons in the snapshot are cut to this many characters to keep one line per test.
const MAX_REASON: usize = 140;

thread_local! {
    /// Set while an import runs under `catch_unwind`: its panics are reported per test, so the
    /// panic hook keeps quiet about them (and only them).
    static IMPORTING: Cell<bool> = const { Cell::new(false) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Pass,
    /// The test uses an op hetc does not implement (`ImportError::UnsupportedOps`).
    Unsupported,
    /// A clear error for a supported op: a dynamic shape, an unsupported attribute value, ...
    Rejected,
    /// Imported, but an output's dtype, shape or folded value differs from the reference.
    Mismatch,
    Panic,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Pass => "pass",
            Category::Unsupported => "unsupported",
            Category::Rejected => "rejected",
            Category::Mismatch => "mismatch",
            Category::Panic => "panic",
        })
    }
}

#[derive(Debug, Clone)]
struct Outcome {
    category: Category,
    reason: String,
}

impl Outcome {
    fn new(category: Category, reason: impl Into<String>) -> Self {
        Outcome { category, reason: reason.into() }
    }
}

/// One test folder, loaded.
struct NodeTest {
    name: String,
    dir: PathBuf,
    model: ModelProto,
    /// `output_K.pb` in order.
    outputs: Vec<Vec<u8>>,
}

struct Case {
    name: String,
    /// The test's distinct op types (one for single-node tests).
    ops: Vec<String>,
    outcome: Outcome,
}

fn suite_dir() -> PathBuf {
    let dir = PathBuf::from(SUITE);
    assert!(
        dir.is_dir(),
        "the ONNX node-test suite is missing: expected it at {} (the shared test assets live in \
         ../shared beside the workspace; see shared/README.md)",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `prefix_0.pb`, `prefix_1.pb`, ... of the first test set, until one is missing.
fn test_data(dir: &Path, prefix: &str) -> Vec<Vec<u8>> {
    (0..)
        .map(|k| dir.join(format!("test_data_set_0/{prefix}_{k}.pb")))
        .take_while(|p| p.exists())
        .map(|p| read(&p))
        .collect()
}

fn load(dir: PathBuf) -> NodeTest {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let model = ModelProto::decode(read(&dir.join("model.onnx")).as_slice())
        .unwrap_or_else(|e| panic!("{name}: model.onnx does not decode: {e}"));
    let outputs = test_data(&dir, "output");
    NodeTest { name, dir, model, outputs }
}

/// The distinct op types of a test's nodes, `domain::Op` outside the default domain.
fn op_types(model: &ModelProto) -> Vec<String> {
    let mut ops: Vec<String> = Vec::new();
    for n in model.graph.iter().flat_map(|g| &g.node) {
        let op = n.op_type.clone().unwrap_or_default();
        let op = match n.domain.as_deref() {
            None | Some("") | Some("ai.onnx") => op,
            Some(d) => format!("{d}::{op}"),
        };
        if !ops.contains(&op) {
            ops.push(op);
        }
    }
    ops.sort();
    ops
}

fn is_integer_tensor(info: &ValueInfoProto) -> bool {
    use tensor_proto::DataType;
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => {
            matches!(t.elem_type, Some(e) if e == DataType::Int64 as i32 || e == DataType::Int32 as i32)
        }
        _ => false,
    }
}

fn is_tensor(info: &ValueInfoProto) -> bool {
    matches!(info.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(type_proto::Value::TensorType(_)))
}

/// The model with every graph input that `pick` selects and that has test data turned into an
/// initializer holding that data, or `None` if no input was picked.
fn with_constant_inputs(t: &NodeTest, pick: fn(&ValueInfoProto) -> bool) -> Option<Vec<u8>> {
    let mut model = t.model.clone();
    let graph = model.graph.as_mut()?;
    let inputs = std::mem::take(&mut graph.input);
    let mut moved = false;
    for (k, info) in inputs.into_iter().enumerate() {
        let path = t.dir.join(format!("test_data_set_0/input_{k}.pb"));
        if pick(&info) && path.exists() {
            let mut tensor = TensorProto::decode(read(&path).as_slice())
                .unwrap_or_else(|e| panic!("{}: input_{k}.pb does not decode: {e}", t.name));
            tensor.name = info.name.clone();
            graph.initializer.push(tensor);
            moved = true;
        } else {
            graph.input.push(info);
        }
    }
    moved.then(|| model.encode_to_vec())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

/// One line, without the node name (the table already names the op).
fn error_reason(e: &ImportError) -> String {
    match e {
        ImportError::Node { op, reason, .. } => format!("{op}: {reason}"),
        other => other.to_string(),
    }
}

/// Runs one import, catching panics, and compares what it produced with the reference outputs.
fn classify(t: &NodeTest, import: impl FnOnce() -> Result<Model, ImportError>) -> Outcome {
    IMPORTING.set(true);
    let result = catch_unwind(AssertUnwindSafe(import));
    IMPORTING.set(false);
    match result {
        Err(payload) => Outcome::new(Category::Panic, panic_message(payload.as_ref())),
        Ok(Err(e @ ImportError::UnsupportedOps(_))) => Outcome::new(Category::Unsupported, e.to_string()),
        // The model declares the reference type, so disagreeing with it is a shape-inference bug.
        Ok(Err(e @ ImportError::InconsistentType { .. })) => Outcome::new(Category::Mismatch, e.to_string()),
        Ok(Err(e)) => Outcome::new(Category::Rejected, error_reason(&e)),
        Ok(Ok(model)) => match compare_outputs(t, &model) {
            Ok(()) => Outcome::new(Category::Pass, ""),
            Err(why) => Outcome::new(Category::Mismatch, why),
        },
    }
}

/// Checks every graph output against `output_K.pb`, by position.
fn compare_outputs(t: &NodeTest, model: &Model) -> Result<(), String> {
    let g = &model.graph;
    if g.outputs.len() != t.outputs.len() {
        return Err(format!("{} outputs, the reference has {}", g.outputs.len(), t.outputs.len()));
    }
    for (k, (out, bytes)) in g.outputs.iter().zip(&t.outputs).enumerate() {
        let proto = TensorProto::decode(bytes.as_slice()).map_err(|e| format!("output_{k}.pb does not decode: {e}"))?;
        let want_dtype = hetc_onnx::dtype_from_onnx(proto.data_type.unwrap_or(0))
            .map_err(|e| format!("output {k}: the reference's {e}"))?;
        let want_shape: Vec<usize> = proto.dims.iter().map(|&d| d as usize).collect();
        let got = g.value_type(out.value);
        if got.dtype != want_dtype || got.shape != want_shape {
            return Err(format!("output {k} `{}`: got {got}, want {want_dtype}{want_shape:?}", out.name));
        }
        if let Op::Constant(folded) = &g.node(out.value.node).op {
            let want = hetc_onnx::tensor_from_proto(&proto, &t.dir).map_err(|e| format!("output_{k}.pb: {e}"))?;
            compare_values(folded, &want).map_err(|e| format!("output {k} `{}` folded wrongly: {e}", out.name))?;
        }
    }
    Ok(())
}

/// Element-wise equality; floats within the ONNX backend tests' tolerance, NaN equal to NaN.
fn compare_values(got: &Tensor, want: &Tensor) -> Result<(), String> {
    for i in 0..want.numel() {
        let same = if want.dtype().is_float() {
            let (g, w) = (got.get_f64(i), want.get_f64(i));
            (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-5 + 1e-3 * w.abs()
        } else {
            got.get_i64(i) == want.get_i64(i)
        };
        if !same {
            let show =
                |t: &Tensor| if t.dtype().is_float() { t.get_f64(i).to_string() } else { t.get_i64(i).to_string() };
            return Err(format!("element {i} is {}, want {}", show(got), show(want)));
        }
    }
    Ok(())
}

/// Every import mode of one test, merged: a bug in any mode is a bug; otherwise the test passes
/// if any mode passes, and a refusal is explained by the model as it is.
fn run_test(t: &NodeTest) -> Outcome {
    let plain = classify(t, || hetc_onnx::import_file(t.dir.join("model.onnx"), &ImportOptions::default()));
    if plain.category == Category::Unsupported {
        return plain;
    }
    let mut outcomes = vec![plain];
    let int_inputs = with_constant_inputs(t, is_integer_tensor);
    let all_inputs = with_constant_inputs(t, is_tensor).filter(|all| Some(all) != int_inputs.as_ref());
    for (mode, bytes) in [("int inputs as constants", int_inputs), ("all inputs as constants", all_inputs)] {
        let Some(bytes) = bytes else { continue };
        let o = classify(t, || hetc_onnx::import_bytes(bytes, &t.dir, &ImportOptions::default()));
        outcomes.push(Outcome::new(o.category, format!("({mode}) {}", o.reason)));
    }
    for bug in [Category::Panic, Category::Mismatch] {
        if let Some(o) = outcomes.iter().find(|o| o.category == bug) {
            return o.clone();
        }
    }
    if let Some(o) = inconsistency(&outcomes) {
        return o;
    }
    if outcomes.iter().any(|o| o.category == Category::Pass) {
        return Outcome::new(Category::Pass, "");
    }
    outcomes.swap_remove(0)
}

/// Making inputs constant may only turn a refusal for needing a constant into a pass. Any
/// other difference between the modes means one of them checks something the other skips
/// (say, an evaluator that folds what shape inference refuses).
fn inconsistency(outcomes: &[Outcome]) -> Option<Outcome> {
    let (plain, constant) = outcomes.split_first()?;
    let needs_constant = |o: &Outcome| o.reason.contains("computed at run time");
    constant.iter().find_map(|o| match (plain.category, o.category) {
        (Category::Pass, Category::Rejected) => {
            Some(Outcome::new(Category::Mismatch, format!("imports as given, but not {}", o.reason)))
        }
        (Category::Rejected, Category::Pass) if !needs_constant(plain) => Some(Outcome::new(
            Category::Mismatch,
            format!("imports with constant inputs, but as given: {}", plain.reason),
        )),
        _ => None,
    })
}

fn shorten(reason: &str) -> String {
    let line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_REASON {
        return line;
    }
    let cut: String = line.chars().take(MAX_REASON - 1).collect();
    format!("{cut}…")
}

/// Imports every test, spread over the available cores.
fn run_suite(tests: &[NodeTest]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get()).min(16);
    let mut results: Vec<Option<Outcome>> = vec![None; tests.len()];
    let chunks: Vec<Vec<(usize, Outcome)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = tests.get(i) else { break done };
                        done.push((i, run_test(t)));
                    }
                })
            })
            .collect();
        // Imports' panics are caught per test; any other is the harness's own, passed on as is.
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    for (i, o) in chunks.into_iter().flatten() {
        results[i] = Some(o);
    }
    results.into_iter().map(|o| o.expect("every test ran")).collect()
}

/// Counts per op type of the tests that use only supported ops; a multi-node test counts
/// under each of its op types. Totals count tests.
fn print_table(cases: &[Case]) {
    let cols = [Category::Pass, Category::Rejected, Category::Mismatch, Category::Panic];
    let mut rows: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut totals: BTreeMap<Category, usize> = BTreeMap::new();
    for c in cases {
        *totals.entry(c.outcome.category).or_default() += 1;
        if let Some(col) = cols.iter().position(|&k| k == c.outcome.category) {
            for op in &c.ops {
                rows.entry(op).or_default()[col] += 1;
            }
        }
    }
    let width = rows.keys().map(|k| k.chars().count()).max().unwrap_or(2).max(2);
    println!("{:<width$}  {:>4}  {:>8}  {:>8}  {:>5}", "op", "pass", "rejected", "mismatch", "panic");
    for (op, [p, r, m, x]) in &rows {
        println!("{op:<width$}  {p:>4}  {r:>8}  {m:>8}  {x:>5}");
    }
    let total: Vec<String> = totals.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("\n{} tests: {}", cases.len(), total.join(", "));
}

#[test]
fn onnx_node_tests() {
    let suite = suite_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&suite)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", suite.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() > 1000, "{} holds only {} tests; is it complete?", suite.display(), dirs.len());
    let tests: Vec<NodeTest> = dirs.into_iter().map(load).collect();

    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IMPORTING.get() {
            hook(info);
        }
    }));
    let outcomes = run_suite(&tests);

    let cases: Vec<Case> = tests
        .iter()
        .zip(outcomes)
        .map(|(t, outcome)| Case { name: t.name.clone(), ops: op_types(&t.model), outcome })
        .collect();
    print_table(&cases);

    let line = |c: &Case| format!("{} [{}] {}", c.name, c.outcome.category, shorten(&c.outcome.reason));
    let bugs: Vec<String> =
        cases.iter().filter(|c| matches!(c.outcome.category, Category::Panic | Category::Mismatch)).map(line).collect();
    assert!(bugs.is_empty(), "{} tests panic or import wrongly:\n{}", bugs.len(), bugs.join("\n"));

    let refused: Vec<String> = cases
        .iter()
        .filter(|c| !matches!(c.outcome.category, Category::Pass | Category::Unsupported))
        .map(line)
        .collect();
    insta::assert_snapshot!("not_passing", refused.join("\n"));
}
