//! The node-test harness shared by `cpu_node_tests` and `gpu_node_tests`; see their docs.

use hetc_compile::{CompileError, CompileOptions, Processor, Strategy, compile};
use hetc_ir::{Graph, Op};
use hetc_onnx::proto::{ModelProto, TensorProto, ValueInfoProto, tensor_proto, type_proto};
use hetc_onnx::{ImportError, ImportOptions, Model};
use hetc_plan::{Device, Kernel};
use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
use prost::Message;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/onnx-node-tests");

/// Reasons are cut to this many characters to keep one line per test.
const MAX_REASON: usize = 160;

thread_local! {
    /// The processor under test.
    static PROCESSOR: Cell<Processor> = const { Cell::new(Processor::Cpu) };
    /// Set while a test runs under `catch_unwind`: its panics are reported per test, so the
    /// panic hook keeps quiet about them (and only them).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Pass,
    /// Every output folds to a constant at import, so there is nothing to run.
    AllConstant,
    /// The importer refuses the model (an op or attribute hetc does not implement, a shape it
    /// needs constant, ...): not the CPU's business.
    ImportRefused,
    /// The processor's support table does not claim a node.
    Unsupported,
    /// Any other compile error for a graph the CPU claims.
    CompileError,
    /// The plan does not load, or a run fails.
    RuntimeError,
    /// An output's shape or values differ from the reference.
    Wrong,
    Panic,
}

impl Category {
    /// A claimed test that does not pass.
    fn is_bug(self) -> bool {
        matches!(self, Category::CompileError | Category::RuntimeError | Category::Wrong | Category::Panic)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Pass => "pass",
            Category::AllConstant => "all-constant",
            Category::ImportRefused => "import-refused",
            Category::Unsupported => "unsupported",
            Category::CompileError => "compile-error",
            Category::RuntimeError => "runtime-error",
            Category::Wrong => "wrong",
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

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn data_path(dir: &Path, prefix: &str, k: usize) -> PathBuf {
    dir.join(format!("test_data_set_0/{prefix}_{k}.pb"))
}

fn read_proto(path: &Path) -> Result<TensorProto, String> {
    TensorProto::decode(read(path)?.as_slice()).map_err(|e| format!("{} does not decode: {e}", path.display()))
}

fn load(dir: PathBuf) -> NodeTest {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bytes = read(&dir.join("model.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let model =
        ModelProto::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{name}: model.onnx does not decode: {e}"));
    NodeTest { name, dir, model }
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

fn elem_type(info: &ValueInfoProto) -> Option<i32> {
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => Some(t.elem_type.unwrap_or(0)),
        _ => None,
    }
}

fn is_float(info: &ValueInfoProto) -> bool {
    use tensor_proto::DataType as D;
    matches!(elem_type(info), Some(e) if [D::Float, D::Float16, D::Double, D::Bfloat16].iter().any(|&d| d as i32 == e))
}

/// The ways to import a test, in order: as it is, then with more and more graph inputs turned
/// into initializers holding the test's data. Each entry lists the inputs (by position) made
/// constant: first the non-float ones (shapes, axes, pads, ...) from the last backwards, then
/// also the float ones from the last backwards, so data inputs stay inputs wherever the op
/// allows.
fn constant_input_ladder(t: &NodeTest) -> Vec<Vec<usize>> {
    let inputs = t.model.graph.as_ref().map_or(&[][..], |g| &g.input[..]);
    let with_data = |k: &usize| data_path(&t.dir, "input", *k).exists() && elem_type(&inputs[*k]).is_some();
    let non_float = (0..inputs.len()).rev().filter(|k| !is_float(&inputs[*k]));
    let float = (0..inputs.len()).rev().filter(|k| is_float(&inputs[*k]));
    let mut set = Vec::new();
    let mut ladder = vec![vec![]];
    for k in non_float.chain(float).filter(with_data) {
        set.push(k);
        set.sort_unstable();
        ladder.push(set.clone());
    }
    ladder
}

/// The model with the graph inputs at `positions` turned into initializers.
fn with_constant_inputs(t: &NodeTest, positions: &[usize]) -> Result<Vec<u8>, String> {
    let mut model = t.model.clone();
    let graph = model.graph.as_mut().ok_or("the model has no graph")?;
    let inputs = std::mem::take(&mut graph.input);
    for (k, info) in inputs.into_iter().enumerate() {
        if positions.contains(&k) {
            let mut tensor = read_proto(&data_path(&t.dir, "input", k))?;
            tensor.name = info.name.clone();
            graph.initializer.push(tensor);
        } else {
            graph.input.push(info);
        }
    }
    Ok(model.encode_to_vec())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

/// One line, without the node name (the table already names the op).
fn import_reason(e: &ImportError) -> String {
    match e {
        ImportError::Node { op, reason, .. } => format!("{op}: {reason}"),
        other => other.to_string(),
    }
}

/// Imports as given or, while import needs an input constant, with the next rung of
/// [`constant_input_ladder`]. Returns the model and the positions of the inputs made constant.
fn import(t: &NodeTest) -> Result<(Model, Vec<usize>), Outcome> {
    let options = ImportOptions::default();
    let mut last = None;
    for constants in constant_input_ladder(t) {
        let result = if constants.is_empty() {
            hetc_onnx::import_file(t.dir.join("model.onnx"), &options)
        } else {
            let bytes = with_constant_inputs(t, &constants).map_err(|e| Outcome::new(Category::RuntimeError, e))?;
            hetc_onnx::import_bytes(bytes, &t.dir, &options)
        };
        match result {
            Ok(model) => return Ok((model, constants)),
            Err(e) => {
                let needs_constant = e.to_string().contains("computed at run time");
                let reason = match constants.is_empty() {
                    true => import_reason(&e),
                    false => format!("(inputs {constants:?} as constants) {}", import_reason(&e)),
                };
                last = Some(Outcome::new(Category::ImportRefused, reason));
                if !needs_constant {
                    break;
                }
            }
        }
    }
    Err(last.expect("the ladder has at least one rung"))
}

/// Per node the CPU refuses, `Op: reason` (deduplicated, without node names, so the snapshot
/// stays readable). Refused graph inputs are named only when no op is refused: a non-f32 input
/// usually feeds an op that is refused for the same type.
fn unsupported_reason(graph: &Graph, error: &CompileError) -> String {
    let mut ops: Vec<String> = Vec::new();
    let mut inputs: Vec<String> = Vec::new();
    for id in graph.topo_order().unwrap_or_default() {
        let node = graph.node(id);
        let verdict = match PROCESSOR.get() {
            Processor::Cpu => hetc_compile::support::cpu_supports(&node.op, &graph.input_types(id), &node.outputs),
            Processor::Gpu => hetc_compile::support::gpu_supports(&node.op, &graph.input_types(id), &node.outputs),
        };
        if let Err(why) = verdict {
            let (list, line) = match node.op {
                Op::Input => (&mut inputs, format!("input `{}`: {why}", node.name)),
                _ => (&mut ops, format!("{}: {why}", node.op.name())),
            };
            if !list.contains(&line) {
                list.push(line);
            }
        }
    }
    match (ops.is_empty(), inputs.is_empty()) {
        (false, _) => ops.join("; "),
        (true, false) => inputs.join("; "),
        (true, true) => match error {
            CompileError::Unsupported { list, .. } => list.clone(),
            other => other.to_string(),
        },
    }
}

/// Whether import folded every graph output to a constant, leaving nothing to compute.
fn all_constant(graph: &Graph) -> bool {
    graph.outputs.iter().all(|o| matches!(graph.node(o.value.node).op, Op::Constant(_)))
}

fn to_runtime(t: &hetc_ir::Tensor) -> Tensor {
    Tensor { shape: t.shape().to_vec(), data: t.to_f32_vec() }
}

/// Element-wise check of one output against its reference.
fn compare(got: &Tensor, want: &hetc_ir::Tensor) -> Result<(), String> {
    if got.shape != want.shape() {
        return Err(format!("shape {:?}, want {:?}", got.shape, want.shape()));
    }
    let want = want.to_f64_vec();
    let scale = want.iter().filter(|w| w.is_finite()).fold(1.0f64, |m, w| m.max(w.abs()));
    let tolerance = 1e-4 * scale;
    for (i, (&g, &w)) in got.data.iter().zip(&want).enumerate() {
        let g = g as f64;
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tolerance
        };
        if !ok {
            return Err(format!("element {i} is {g}, want {w} (tolerance {tolerance:.1e})"));
        }
    }
    Ok(())
}

/// Import, compile, run and compare; panics are caught by the caller.
fn run_test(t: &NodeTest) -> Outcome {
    let (model, constants) = match import(t) {
        Ok(m) => m,
        Err(o) => return o,
    };
    let processor = PROCESSOR.get();
    let options = match processor {
        Processor::Cpu => CompileOptions::default(),
        Processor::Gpu => CompileOptions { target: "host".into(), strategy: Strategy::Gpu, ..Default::default() },
    };
    let plan = match compile(&model.graph, &options) {
        Ok(p) => p,
        Err(e @ CompileError::Unsupported { .. }) => {
            return Outcome::new(Category::Unsupported, unsupported_reason(&model.graph, &e));
        }
        Err(e) if all_constant(&model.graph) => return Outcome::new(Category::AllConstant, e.to_string()),
        Err(e) => return Outcome::new(Category::CompileError, e.to_string()),
    };
    // On the GPU, a test counts only if every computing step runs there (the GPU strategy
    // leaves what it does not support on the CPU).
    if processor == Processor::Gpu {
        let on_cpu = plan.meta.steps.iter().any(|s| s.device == Device::Cpu && !matches!(s.kernel, Kernel::Copy));
        let unclaimed = unsupported_reason(&model.graph, &CompileError::Internal(String::new()));
        if on_cpu || plan.meta.steps.iter().all(|s| s.device == Device::Cpu) {
            let why = if unclaimed.is_empty() { "lowered to CPU steps".to_string() } else { unclaimed };
            return Outcome::new(Category::Unsupported, why);
        }
    }
    let bytes = match plan.encode() {
        Ok(b) => b,
        Err(e) => return Outcome::new(Category::CompileError, e.to_string()),
    };
    let plan = match Plan::from_bytes(&bytes) {
        Ok(p) => p,
        Err(e) => return Outcome::new(Category::RuntimeError, format!("plan does not load: {e}")),
    };
    // The test's inputs, by the graph input names they feed.
    let graph_inputs = t.model.graph.as_ref().map_or(&[][..], |g| &g.input[..]);
    let mut feeds: Vec<(String, Tensor)> = Vec::new();
    for b in &plan.meta().inputs {
        let name = b.name.as_str();
        let Some(k) = graph_inputs.iter().position(|i| i.name.as_deref() == Some(name)) else {
            return Outcome::new(Category::RuntimeError, format!("plan input `{name}` is not a graph input"));
        };
        if constants.contains(&k) {
            return Outcome::new(Category::RuntimeError, format!("plan input `{name}` was made a constant"));
        }
        let tensor = read_proto(&data_path(&t.dir, "input", k))
            .and_then(|p| hetc_onnx::tensor_from_proto(&p, &t.dir).map_err(|e| format!("input_{k}.pb: {e}")));
        match tensor {
            Ok(x) => feeds.push((name.to_string(), to_runtime(&x))),
            Err(e) => return Outcome::new(Category::RuntimeError, e),
        }
    }
    let feeds: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, x)| (n.as_str(), x)).collect();
    let mut references = Vec::new();
    for k in (0..).take_while(|&k| data_path(&t.dir, "output", k).exists()) {
        let want = read_proto(&data_path(&t.dir, "output", k))
            .and_then(|p| hetc_onnx::tensor_from_proto(&p, &t.dir).map_err(|e| format!("output_{k}.pb: {e}")));
        match want {
            Ok(w) => references.push(w),
            Err(e) => return Outcome::new(Category::RuntimeError, e),
        }
    }
    // One thread, twice on the same session (a kernel must not depend on what its output
    // memory held before), then two threads.
    // A GPU session costs a device: one session, run twice.
    let runs: &[(usize, usize)] = if processor == Processor::Gpu { &[(1, 1)] } else { &[(1, 0), (1, 1), (2, 0)] };
    for &(threads, run) in runs {
        let label = format!("threads {threads}, run {}", run + 1);
        let mut session = match Session::new(&plan, SessionOptions { threads, ..Default::default() }) {
            Ok(s) => s,
            Err(e) => return Outcome::new(Category::RuntimeError, format!("session: {e}")),
        };
        let mut outputs = Vec::new();
        for _ in 0..=run {
            outputs = match session.run(&feeds) {
                Ok(o) => o,
                Err(e) => return Outcome::new(Category::RuntimeError, format!("run ({label}): {e}")),
            };
        }
        if outputs.len() != references.len() {
            let why = format!("{} outputs, the reference has {}", outputs.len(), references.len());
            return Outcome::new(Category::Wrong, why);
        }
        for (k, ((name, got), want)) in outputs.iter().zip(&references).enumerate() {
            if let Err(e) = compare(got, want) {
                return Outcome::new(Category::Wrong, format!("output {k} `{name}` ({label}): {e}"));
            }
        }
    }
    Outcome::new(Category::Pass, "")
}

fn run_caught(t: &NodeTest, processor: Processor) -> Outcome {
    PROCESSOR.set(processor);
    RUNNING.set(true);
    let result = catch_unwind(AssertUnwindSafe(|| run_test(t)));
    RUNNING.set(false);
    result.unwrap_or_else(|payload| Outcome::new(Category::Panic, panic_message(payload.as_ref())))
}

fn shorten(reason: &str) -> String {
    let line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_REASON {
        return line;
    }
    let cut: String = line.chars().take(MAX_REASON - 1).collect();
    format!("{cut}…")
}

/// Runs every test, spread over the available cores.
fn run_suite(tests: &[NodeTest], processor: Processor) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let mut results: Vec<Option<Outcome>> = vec![None; tests.len()];
    let chunks: Vec<Vec<(usize, Outcome)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = tests.get(i) else { break done };
                        done.push((i, run_caught(t, processor)));
                    }
                })
            })
            .collect();
        // Tests' panics are caught per test; any other is the harness's own, passed on as is.
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    for (i, o) in chunks.into_iter().flatten() {
        results[i] = Some(o);
    }
    results.into_iter().map(|o| o.expect("every test ran")).collect()
}

/// Counts per op type; a multi-node test counts under each of its op types. "errors" are
/// compile errors, runtime errors and panics; "unsupported" are tests the CPU does not claim.
fn print_table(cases: &[Case]) {
    // pass, wrong, errors, unsupported, import-refused, all-constant
    let mut rows: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
    let mut totals: BTreeMap<Category, usize> = BTreeMap::new();
    for c in cases {
        *totals.entry(c.outcome.category).or_default() += 1;
        let col = match c.outcome.category {
            Category::Pass => 0,
            Category::Wrong => 1,
            Category::CompileError | Category::RuntimeError | Category::Panic => 2,
            Category::Unsupported => 3,
            Category::ImportRefused => 4,
            Category::AllConstant => 5,
        };
        for op in &c.ops {
            rows.entry(op).or_default()[col] += 1;
        }
    }
    let width = rows.keys().map(|k| k.chars().count()).max().unwrap_or(2).max(2);
    println!(
        "{:<width$}  {:>4}  {:>5}  {:>6}  {:>11}  {:>14}  {:>12}",
        "op", "pass", "wrong", "errors", "unsupported", "import-refused", "all-constant"
    );
    for (op, [p, w, e, u, i, a]) in &rows {
        println!("{op:<width$}  {p:>4}  {w:>5}  {e:>6}  {u:>11}  {i:>14}  {a:>12}");
    }
    let total: Vec<String> = totals.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("\n{} tests: {}", cases.len(), total.join(", "));
}

/// Runs the suite on `processor`, prints the table and fails on any claimed test that does not
/// pass. Returns the unclaimed tests with their reasons, for the caller's snapshot.
pub fn run_node_suite(processor: Processor) -> String {
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
        if !RUNNING.get() {
            hook(info);
        }
    }));
    let outcomes = run_suite(&tests, processor);
    let _ = std::panic::take_hook();

    let cases: Vec<Case> = tests
        .iter()
        .zip(outcomes)
        .map(|(t, outcome)| Case { name: t.name.clone(), ops: op_types(&t.model), outcome })
        .collect();
    print_table(&cases);

    let line = |c: &Case| format!("{} [{}] {}", c.name, c.outcome.category, shorten(&c.outcome.reason));
    // `HETC_NODE_TESTS_LIST=1` lists every test that does not pass, with its reason.
    if std::env::var_os("HETC_NODE_TESTS_LIST").is_some() {
        for c in cases.iter().filter(|c| c.outcome.category != Category::Pass) {
            println!("{}", line(c));
        }
    }
    let bugs: Vec<String> = cases.iter().filter(|c| c.outcome.category.is_bug()).map(line).collect();
    assert!(
        bugs.is_empty(),
        "{} tests the {processor} claims do not pass (panic, wrong, runtime-error or compile-error):\n{}",
        bugs.len(),
        bugs.join("\n")
    );

    let unsupported: Vec<String> = cases
        .iter()
        .filter(|c| c.outcome.category == Category::Unsupported)
        .map(|c| format!("{} {}", c.name, shorten(&c.outcome.reason)))
        .collect();
    unsupported.join("\n")
}
