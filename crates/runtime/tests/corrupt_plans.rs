//! Plans are untrusted input. Corrupted plan files, and well-formed files whose metadata is
//! hostile, must be rejected with a one-line error by `hetc_plan::decode` / `Plan::from_bytes`
//! or by `Session::new`; the few that are accepted must run without panicking.
//!
//! The plan under test is compiled here from `testdata/models/tiny_cnn` (hetc-onnx and
//! hetc-compile are dev-dependencies only: the runtime library depends on neither). Hostile
//! metadata is written by [`raw_plan`], which builds the header and checksums itself and so
//! bypasses `hetc_plan::encode`'s validation. Reproductions of `cargo fuzz run plan` finds are
//! at the end (see `fuzz/README.md`).

use hetc_compile::{CompileOptions, compile};
use hetc_plan::{
    Activation, BinaryFn, ConvAlgo, CoordTransform, DType, Device, Dispatch, ElementwiseInstr, ElementwiseOp,
    FORMAT_VERSION, GpuWork, HEADER_LEN, Kernel, MAGIC, MAX_TENSOR_BYTES, NearestMode, PadMode, PlanError, PlanMeta,
    PoolKind, ReduceKind, ResizeMode, ResizeParams, SliceAxis, Storage, UnaryFn, WEIGHT_ALIGN,
};
use hetc_runtime::{Plan, RuntimeError, Session, SessionOptions, Tensor};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/tiny_cnn");

/// Arenas above this are only given to `Session::new` by the tests written for them: an
/// accepted plan with a multi-GiB arena would really be allocated and zeroed.
const ARENA_CAP: u64 = 256 << 20;

struct Good {
    bytes: Vec<u8>,
    meta: PlanMeta,
    /// The weight section.
    weights: Vec<u8>,
    input: Tensor,
    reference: Tensor,
}

fn read_pb(path: &Path) -> Tensor {
    use prost::Message;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let proto = hetc_onnx::proto::TensorProto::decode(bytes.as_slice()).expect("a TensorProto");
    let t = hetc_onnx::tensor_from_proto(&proto, path.parent().unwrap()).expect("a valid tensor");
    Tensor { shape: t.shape().to_vec(), data: t.to_f32_vec() }
}

fn good() -> &'static Good {
    static GOOD: OnceLock<Good> = OnceLock::new();
    GOOD.get_or_init(|| {
        let dir = PathBuf::from(MODEL);
        let model = hetc_onnx::import_file(dir.join("model.onnx"), &Default::default()).expect("tiny_cnn imports");
        let plan = compile(&model.graph, &CompileOptions::default()).expect("tiny_cnn compiles");
        let bytes = plan.encode().expect("tiny_cnn encodes");
        // The test's own writer must produce exactly what `encode` does.
        assert_eq!(raw_plan(&plan.meta, &plan.weights), bytes, "raw_plan differs from hetc_plan::encode");
        Good {
            bytes,
            meta: plan.meta,
            weights: plan.weights,
            input: read_pb(&dir.join("test_data_set_0/input_0.pb")),
            reference: read_pb(&dir.join("test_data_set_0/output_0.pb")),
        }
    })
}

/// A plan file around raw metadata bytes and a weight section, with a well-formed header and
/// correct checksums, whatever the metadata says.
fn raw_file(meta: &[u8], weights: &[u8]) -> Vec<u8> {
    let weights_offset = (HEADER_LEN + meta.len()).next_multiple_of(WEIGHT_ALIGN);
    let mut out = Vec::with_capacity(weights_offset + weights.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u64).to_le_bytes());
    out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    out.extend_from_slice(&(weights_offset as u64).to_le_bytes());
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(meta).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(weights).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(meta);
    out.resize(weights_offset, 0);
    out.extend_from_slice(weights);
    out
}

/// Like `hetc_plan::encode`, without its validation.
fn raw_plan(meta: &PlanMeta, weights: &[u8]) -> Vec<u8> {
    raw_file(&postcard::to_stdvec(meta).expect("metadata serializes"), weights)
}

fn field(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Byte ranges of the metadata and weights in a well-formed file.
fn sections(bytes: &[u8]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (mo, ml, wo, wl) = (field(bytes, 16), field(bytes, 24), field(bytes, 32), field(bytes, 40));
    (mo as usize..(mo + ml) as usize, wo as usize..(wo + wl) as usize)
}

/// Recomputes both checksums after an edit.
fn fix_crcs(bytes: &mut [u8]) {
    let (m, w) = sections(bytes);
    let (mc, wc) = (crc32fast::hash(&bytes[m]), crc32fast::hash(&bytes[w]));
    bytes[48..52].copy_from_slice(&mc.to_le_bytes());
    bytes[52..56].copy_from_slice(&wc.to_le_bytes());
}

#[derive(Debug)]
enum Outcome {
    /// `decode` / `Plan::from_bytes` refused it.
    Invalid(RuntimeError),
    /// It loaded, but `Session::new` refused it.
    Unprepared(RuntimeError),
    /// It prepared, but the run failed cleanly.
    RunFailed(RuntimeError),
    /// It ran; the outputs.
    Ran(Vec<(String, Tensor)>),
    /// It loaded, but its arena is above [`ARENA_CAP`] and could really be allocated, so no
    /// session was made.
    TooBig,
}

impl Outcome {
    /// The error, if the plan was refused.
    fn error(&self) -> Option<&RuntimeError> {
        match self {
            Outcome::Invalid(e) | Outcome::Unprepared(e) | Outcome::RunFailed(e) => Some(e),
            Outcome::Ran(_) | Outcome::TooBig => None,
        }
    }

    fn rejected(&self) -> bool {
        self.error().is_some()
    }
}

fn one_line(what: &str, e: RuntimeError) -> RuntimeError {
    let msg = e.to_string();
    assert!(!msg.contains(['\n', '\r']), "{what}: error is not one line: {msg:?}");
    e
}

/// Loads, prepares (one thread) and runs `bytes` on zero inputs (or `input` if it fits),
/// failing the test on any panic.
fn exercise(what: &str, bytes: &[u8], input: Option<&Tensor>) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let decoded = hetc_plan::decode(bytes);
        let plan = match Plan::from_bytes(bytes) {
            Ok(plan) => plan,
            Err(e) => {
                assert!(decoded.is_err(), "{what}: decode accepts what Plan::from_bytes rejects");
                return Outcome::Invalid(one_line(what, e));
            }
        };
        assert!(decoded.is_ok(), "{what}: Plan::from_bytes accepts what decode rejects");
        // Larger arenas are only tried where the allocation is sure to be refused.
        let arena = plan.meta().arena_bytes;
        if arena > ARENA_CAP && refused_above().is_none_or(|limit| arena <= 2 * limit) {
            return Outcome::TooBig;
        }
        let mut session = match Session::new(&plan, SessionOptions { threads: 1, ..Default::default() }) {
            Ok(s) => s,
            Err(e) => return Outcome::Unprepared(one_line(what, e)),
        };
        let inputs: Vec<(String, Tensor)> = session
            .inputs()
            .iter()
            .map(|(name, shape)| {
                let t = match input {
                    Some(t) if t.shape == *shape => t.clone(),
                    _ => Tensor::new(shape.to_vec(), vec![0.0; shape.iter().product()]).unwrap(),
                };
                (name.to_string(), t)
            })
            .collect();
        let refs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
        match session.run(&refs) {
            Ok(out) => Outcome::Ran(out),
            Err(e) => Outcome::RunFailed(one_line(what, e)),
        }
    }));
    match result {
        Ok(outcome) => outcome,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what}: panicked: {msg}")
        }
    }
}

fn assert_matches_reference(what: &str, outputs: &[(String, Tensor)]) {
    let g = good();
    assert_eq!(outputs.len(), 1, "{what}: one output");
    let (out, reference) = (&outputs[0].1, &g.reference);
    assert_eq!(out.shape, reference.shape, "{what}: output shape");
    for (i, (a, b)) in out.data.iter().zip(&reference.data).enumerate() {
        assert!((a - b).abs() <= 1e-4, "{what}: element {i} is {a}, reference {b}");
    }
}

fn run_good(what: &str, bytes: &[u8]) {
    match exercise(what, bytes, Some(&good().input)) {
        Outcome::Ran(out) => assert_matches_reference(what, &out),
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn good_plan_loads_runs_and_matches_reference() {
    let g = good();
    run_good("from_bytes", &g.bytes);
    // A slice that is not 8-byte aligned is copied once into aligned memory.
    let mut shifted = vec![0u8; g.bytes.len() + 1];
    shifted[1..].copy_from_slice(&g.bytes);
    run_good("misaligned slice", &shifted[1..]);
    // From a file, through the memory map.
    let path = std::env::temp_dir().join(format!("hetc-corrupt-plans-{}.hplan", std::process::id()));
    std::fs::write(&path, &g.bytes).unwrap();
    let plan = Plan::from_file(&path).expect("the plan loads from a file");
    let mut session = Session::new(&plan, SessionOptions { threads: 2, ..Default::default() }).unwrap();
    let (name, _) = session.inputs()[0];
    let name = name.to_string();
    let out = session.run(&[(&name, &g.input)]).unwrap();
    assert_matches_reference("from_file", &out);
    // The same file, truncated and emptied, through the memory map.
    std::fs::write(&path, &g.bytes[..g.bytes.len() - 1]).unwrap();
    assert!(matches!(Plan::from_file(&path), Err(RuntimeError::Plan(PlanError::Truncated(_)))));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(Plan::from_file(&path), Err(RuntimeError::Plan(PlanError::Truncated(_)))));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(Plan::from_file(&path), Err(RuntimeError::Io { .. })));
}

#[test]
fn every_truncation_is_rejected() {
    let g = good();
    let (_, weights) = sections(&g.bytes);
    // Every length through the header, metadata and padding; the weights are sampled (every
    // 7th length, and the last 64).
    let lengths = (0..weights.start)
        .chain((weights.start..g.bytes.len()).step_by(7))
        .chain(g.bytes.len().saturating_sub(64)..g.bytes.len());
    for len in lengths {
        let what = format!("truncated to {len} bytes");
        let outcome = exercise(&what, &g.bytes[..len], None);
        assert!(matches!(outcome, Outcome::Invalid(_)), "{what}: {outcome:?}");
    }
}

#[test]
fn bit_flips_are_rejected_or_harmless() {
    let g = good();
    let (meta, weights) = sections(&g.bytes);
    // Every bit of the header, metadata and padding; every bit of every 13th weight byte.
    let bytes = (0..weights.start).chain(weights.clone().step_by(13)).chain([g.bytes.len() - 1]);
    let mut accepted = 0;
    for at in bytes {
        for bit in 0..8 {
            let mut b = g.bytes.clone();
            b[at] ^= 1 << bit;
            let what = format!("bit {bit} of byte {at} flipped");
            match exercise(&what, &b, Some(&g.input)) {
                Outcome::Invalid(_) => {}
                // The padding between the sections is not covered by a checksum and is
                // never read.
                Outcome::Ran(out) if (meta.end..weights.start).contains(&at) => {
                    assert_matches_reference(&what, &out);
                    accepted += 1;
                }
                other => panic!("{what}: accepted: {other:?}"),
            }
        }
    }
    assert!(accepted <= 8 * (weights.start - meta.end));
}

#[test]
fn bit_flips_behind_valid_checksums_do_not_panic() {
    // What the checksums hide: flip every bit of the metadata, fix the CRCs, and load, prepare
    // and run whatever is still accepted.
    let g = good();
    let (meta, _) = sections(&g.bytes);
    let (mut rejected, mut ran) = (0, 0);
    for at in meta {
        for bit in 0..8 {
            let mut b = g.bytes.clone();
            b[at] ^= 1 << bit;
            fix_crcs(&mut b);
            match exercise(&format!("bit {bit} of byte {at} flipped, checksums fixed"), &b, Some(&g.input)) {
                o if o.rejected() => rejected += 1,
                _ => ran += 1,
            }
        }
    }
    assert!(rejected > 0 && ran > 0, "rejected {rejected}, ran {ran}");
}

fn expect_plan_error(what: &str, bytes: &[u8], want: impl Fn(&PlanError) -> bool) {
    match exercise(what, bytes, None) {
        Outcome::Invalid(RuntimeError::Plan(e)) if want(&e) => {}
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn malformed_headers_are_rejected() {
    let g = good();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = g.bytes.clone();
        f(&mut b);
        b
    };
    let set = |at: usize, v: u64| move |b: &mut Vec<u8>| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    let set32 = |at: usize, v: u32| move |b: &mut Vec<u8>| b[at..at + 4].copy_from_slice(&v.to_le_bytes());

    for magic in [*b"HETCPLAM", *b"hetcplan", [0; 8], *b"\x89PNG\r\n\x1a\n"] {
        expect_plan_error("bad magic", &edit(&|b| b[..8].copy_from_slice(&magic)), |e| *e == PlanError::BadMagic);
    }
    expect_plan_error("bad magic, short file", b"NOTAPLAN", |e| *e == PlanError::BadMagic);
    expect_plan_error("magic alone", &MAGIC, |e| matches!(e, PlanError::Truncated(_)));
    for version in [0, FORMAT_VERSION + 1, u32::MAX] {
        expect_plan_error(&format!("version {version}"), &edit(&set32(8, version)), |e| {
            *e == PlanError::UnsupportedVersion { found: version, supported: FORMAT_VERSION }
        });
    }
    let invalid = |e: &PlanError| matches!(e, PlanError::Invalid(_));
    let out_of_file = |e: &PlanError| matches!(e, PlanError::Truncated(_) | PlanError::Invalid(_));
    expect_plan_error("header length 63", &edit(&set32(12, 63)), invalid);
    expect_plan_error("reserved bytes set", &edit(&|b| b[63] = 1), invalid);
    expect_plan_error("metadata inside the header", &edit(&set(16, 8)), invalid);
    expect_plan_error("metadata offset past the end", &edit(&set(16, u64::MAX - 4)), out_of_file);
    expect_plan_error("metadata length past the end", &edit(&set(24, u64::MAX)), out_of_file);
    expect_plan_error("weights offset past the end", &edit(&set(32, 1 << 40)), out_of_file);
    expect_plan_error("weights length past the end", &edit(&set(40, u64::MAX)), out_of_file);
    let (meta, weights) = sections(&g.bytes);
    expect_plan_error("weights overlap the metadata", &edit(&set(32, 64)), invalid);
    expect_plan_error("metadata checksum", &edit(&|b| b[48] ^= 1), |e| *e == PlanError::Checksum("metadata"));
    expect_plan_error("weights checksum", &edit(&|b| b[52] ^= 1), |e| *e == PlanError::Checksum("weights"));

    // A weight section moved off its 64-byte alignment (checksums correct).
    for shift in [1, 4, 8, 32] {
        let mut b = g.bytes[..weights.start].to_vec();
        b.resize(weights.start + shift, 0);
        b.extend_from_slice(&g.bytes[weights.clone()]);
        b[32..40].copy_from_slice(&((weights.start + shift) as u64).to_le_bytes());
        fix_crcs(&mut b);
        expect_plan_error(&format!("weights misaligned by {shift}"), &b, invalid);
    }
    // Metadata that does not decode, or has trailing bytes.
    let decode = |e: &PlanError| matches!(e, PlanError::Decode(_));
    expect_plan_error("empty metadata", &raw_file(&[], &g.weights), decode);
    expect_plan_error("garbage metadata", &raw_file(&[0xff; 100], &g.weights), decode);
    let mut trailing = g.bytes[meta.clone()].to_vec();
    trailing.push(0);
    expect_plan_error("trailing metadata byte", &raw_file(&trailing, &g.weights), decode);
    expect_plan_error("metadata cut short", &raw_file(&g.bytes[meta.start..meta.end - 1], &g.weights), decode);
    // A weight section one byte short of a weight.
    expect_plan_error("weights cut short", &raw_plan(&g.meta, &g.weights[..g.weights.len() - 1]), invalid);
}

/// What a hostile plan must get.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// `decode` or `Session::new` refuses it.
    Reject,
    /// May be accepted (possibly computing nonsense); must not panic.
    NoPanic,
}
use Expect::{NoPanic, Reject};

type Mutation = (&'static str, Expect, Box<dyn Fn(&mut PlanMeta, &mut Vec<u8>)>);

fn m(name: &'static str, expect: Expect, f: impl Fn(&mut PlanMeta, &mut Vec<u8>) + 'static) -> Mutation {
    (name, expect, Box::new(f))
}

/// Index of the first step running `kernel` (by short name).
fn step_of(meta: &PlanMeta, kernel: &str) -> usize {
    meta.steps.iter().position(|s| s.kernel.name() == kernel).unwrap_or_else(|| panic!("tiny_cnn has no {kernel}"))
}

fn arena_offset(meta: &PlanMeta, id: u32) -> u64 {
    match meta.tensors[id as usize].storage {
        Storage::Arena { offset } => offset,
        Storage::Weight { .. } | Storage::GpuArena { .. } => panic!("tensor {id} is not in the CPU arena"),
    }
}

fn first_weight(meta: &PlanMeta) -> usize {
    meta.tensors.iter().position(|t| matches!(t.storage, Storage::Weight { .. })).unwrap()
}

/// Makes the step running `kernel` the plan's only one, bound to its first input and output;
/// returns it.
fn alone(meta: &mut PlanMeta, kernel: &str) -> hetc_plan::Step {
    let step = meta.steps[step_of(meta, kernel)].clone();
    meta.steps = vec![step.clone()];
    (meta.inputs[0].tensor, meta.outputs[0].tensor) = (step.inputs[0], step.outputs[0]);
    step
}

/// Replaces the kernel of the step running `kernel`.
fn replace(kernel: &'static str, with: Kernel) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    move |meta, _| {
        let s = step_of(meta, kernel);
        meta.steps[s].kernel = with.clone();
    }
}

fn act_relu(x: u32) -> ElementwiseInstr {
    ElementwiseInstr { op: ElementwiseOp::Activation(Activation::Relu), args: [x, 0] }
}

fn neg(x: u32) -> ElementwiseInstr {
    ElementwiseInstr { op: ElementwiseOp::Unary(UnaryFn::Neg), args: [x, 0] }
}

fn instr_neg_b(x: u32, b: u32) -> ElementwiseInstr {
    ElementwiseInstr { op: ElementwiseOp::Unary(UnaryFn::Neg), args: [x, b] }
}

fn add(a: u32, b: u32) -> ElementwiseInstr {
    ElementwiseInstr { op: ElementwiseOp::Binary(BinaryFn::Add), args: [a, b] }
}

/// Turns the MaxPool step into an elementwise program over its own output, in place (so
/// that shapes agree and only the program is under test).
fn elementwise_in_place(program: Vec<ElementwiseInstr>) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    move |meta, _| {
        let s = step_of(meta, "MaxPool");
        let step = &mut meta.steps[s];
        step.kernel = Kernel::Elementwise { program: program.clone() };
        step.inputs = vec![step.outputs[0]];
    }
}

/// Edits the parameters of the first step running `kernel`.
fn edit_kernel(kernel: &'static str, f: impl Fn(&mut Kernel) + 'static) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    move |meta, _| {
        let s = step_of(meta, kernel);
        f(&mut meta.steps[s].kernel)
    }
}

fn conv(f: impl Fn(&mut hetc_plan::ConvParams) + 'static) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    edit_kernel("ConvIm2col", move |k| match k {
        Kernel::Conv(c) => f(c),
        _ => unreachable!(),
    })
}

/// Turns the Conv1x1 step (x [1,8,8,8], w [8,8,1,1], residual) into a 1x1 transposed
/// convolution of x by w without the residual, then edits its parameters.
fn conv_transpose(f: impl Fn(&mut hetc_plan::ConvTransposeParams) + 'static) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    move |meta, _| {
        let s = step_of(meta, "Conv1x1");
        let step = &mut meta.steps[s];
        step.inputs.truncate(2);
        let mut p = hetc_plan::ConvTransposeParams {
            kernel: [1, 1],
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            group: 1,
            has_bias: false,
            activation: Activation::Identity,
        };
        f(&mut p);
        step.kernel = Kernel::ConvTranspose(p);
    }
}

/// Turns the Conv1x1 step (x [1,8,8,8], residual [1,8,8,8]) into a 3x3 Winograd convolution
/// with pads 1, whose transformed weights `[36, 1, 8, 32]` (the layout of
/// `hetc_plan::winograd`) are appended to the weight section, then edits its parameters and
/// the weights' shape.
fn winograd(f: impl Fn(&mut hetc_plan::ConvParams, &mut Vec<u64>) + 'static) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    move |meta, weights| {
        let offset = weights.len().next_multiple_of(WEIGHT_ALIGN);
        let mut shape = vec![36, 1, 8, 32];
        let numel = shape.iter().product::<u64>() as usize;
        weights.resize(offset, 0);
        weights.extend((0..numel).flat_map(|i| (((i % 7) as f32 - 3.0) / 16.0).to_le_bytes()));
        let s = step_of(meta, "Conv1x1");
        let Kernel::Conv(c) = &meta.steps[s].kernel else { unreachable!() };
        let mut c = c.clone();
        (c.algo, c.kernel, c.pads) = (ConvAlgo::Winograd, [3, 3], [1; 4]);
        f(&mut c, &mut shape);
        meta.steps[s].kernel = Kernel::Conv(c);
        let mut w = meta.tensors[meta.steps[s].inputs[1] as usize].clone();
        (w.name, w.shape, w.storage) = ("winograd".into(), shape, Storage::Weight { offset: offset as u64 });
        meta.tensors.push(w);
        meta.steps[s].inputs[1] = meta.tensors.len() as u32 - 1;
    }
}

fn pool(f: impl Fn(&mut hetc_plan::PoolParams) + 'static) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    edit_kernel("MaxPool", move |k| match k {
        Kernel::Pool(p) => f(p),
        _ => unreachable!(),
    })
}

/// Sets the shape of the output of the first step running `kernel`.
fn out_shape(kernel: &'static str, shape: &'static [u64]) -> impl Fn(&mut PlanMeta, &mut Vec<u8>) {
    move |meta, _| {
        let s = step_of(meta, kernel);
        let t = meta.steps[s].outputs[0] as usize;
        meta.tensors[t].shape = shape.to_vec();
    }
}

fn resize(mode: ResizeMode, scales: Vec<f32>) -> Kernel {
    Kernel::Resize(ResizeParams {
        mode,
        coord: CoordTransform::HalfPixel,
        nearest: NearestMode::RoundPreferFloor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        scales,
        roi: vec![],
    })
}

/// tiny_cnn's steps: ConvIm2col (3x3, bias, Relu) x[1,3,16,16] -> [1,8,16,16]; MaxPool 2x2/2
/// -> [1,8,8,8]; Conv1x1 with the residual -> [1,8,8,8]; GlobalAveragePool -> [1,8,1,1];
/// Gemm (the flattened pool, W [10,8], C [10]) -> y [1,10].
fn mutations() -> Vec<Mutation> {
    let big = 1u64 << 40;
    vec![
        // Tensors.
        m("tensor shape [u64::MAX]", Reject, |meta, _| meta.tensors[0].shape = vec![u64::MAX]),
        m("tensor shape overflows", Reject, |meta, _| meta.tensors[0].shape = vec![1 << 32, 1 << 32, 1 << 32]),
        m("tensor of rank 9", Reject, |meta, _| meta.tensors[0].shape = vec![1; 9]),
        m("tensor of 2^40 elements", Reject, |meta, _| meta.tensors[0].shape = vec![1 << 40]),
        m("input with a zero dimension", Reject, |meta, _| {
            let t = meta.inputs[0].tensor as usize;
            meta.tensors[t].shape[0] = 0;
        }),
        m("every shape emptied", NoPanic, |meta, _| {
            for t in &mut meta.tensors {
                if matches!(t.storage, Storage::Arena { .. }) && !t.shape.is_empty() {
                    t.shape[0] = 0;
                }
            }
        }),
        m("weight shape larger than its bytes", Reject, |meta, _| {
            let t = first_weight(meta);
            meta.tensors[t].shape[0] *= 1000;
        }),
        m("intermediate shape wrong", Reject, out_shape("MaxPool", &[1, 8, 4, 16])),
        m("intermediate rank changed", Reject, out_shape("MaxPool", &[8, 8, 8])),
        m("scalar intermediate", Reject, out_shape("MaxPool", &[])),
        m("output shape wrong", Reject, |meta, _| {
            let t = meta.outputs[0].tensor as usize;
            meta.tensors[t].shape = vec![1, 11];
        }),
        m("tensor dtype f16", Reject, |meta, _| meta.tensors[0].dtype = DType::F16),
        m("every tensor i64", Reject, |meta, _| meta.tensors.iter_mut().for_each(|t| t.dtype = DType::I64)),
        m("input binding dtype u8", Reject, |meta, _| {
            let t = meta.inputs[0].tensor as usize;
            meta.tensors[t].dtype = DType::U8;
        }),
        // Devices and GPU work (format version 2).
        m("CPU step moved to the GPU without dispatches", Reject, |meta, _| meta.steps[0].device = Device::Gpu),
        m("CPU step with a dispatch", Reject, |meta, _| {
            meta.steps[0].gpu = Some(GpuWork {
                scratch: vec![],
                dispatches: vec![Dispatch { shader: 0, workgroups: [1, 1, 1], bindings: vec![], params: vec![] }],
            })
        }),
        m("GPU step naming a missing shader", Reject, |meta, _| {
            let s = &mut meta.steps[0];
            s.device = Device::Gpu;
            s.gpu = Some(GpuWork {
                scratch: vec![],
                dispatches: vec![Dispatch { shader: 7, workgroups: [1, 1, 1], bindings: vec![], params: vec![] }],
            })
        }),
        m("tensor moved to a misaligned GPU arena offset", Reject, |meta, _| {
            meta.gpu_arena_bytes = 1 << 20;
            meta.tensors[meta.steps[0].outputs[0] as usize].storage = Storage::GpuArena { offset: 4 };
        }),
        m("CPU step writing GPU memory", Reject, |meta, _| {
            meta.gpu_arena_bytes = 1 << 20;
            meta.tensors[meta.steps[0].outputs[0] as usize].storage = Storage::GpuArena { offset: 0 };
        }),
        m("upload on the CPU", Reject, |meta, _| meta.steps[0].kernel = Kernel::Upload),
        m("GPU arena of 2^41 bytes", Reject, |meta, _| meta.gpu_arena_bytes = 1 << 41),
        m("negative predicted time", Reject, |meta, _| meta.steps[0].predicted_us = -1.0),
        m("NaN predicted time", Reject, |meta, _| meta.steps[0].predicted_us = f32::NAN),
        // Offsets.
        m("arena offset at the arena's end", Reject, |meta, _| {
            meta.tensors[meta.inputs[0].tensor as usize].storage = Storage::Arena { offset: meta.arena_bytes }
        }),
        m("arena offset u64::MAX", Reject, |meta, _| meta.tensors[0].storage = Storage::Arena { offset: u64::MAX }),
        m("arena offset misaligned for f32", Reject, |meta, _| {
            let t = meta.inputs[0].tensor;
            meta.tensors[t as usize].storage = Storage::Arena { offset: 2 }
        }),
        m("weight offset past the section", Reject, |meta, w| {
            let t = first_weight(meta);
            meta.tensors[t].storage = Storage::Weight { offset: (w.len() as u64).next_multiple_of(64) }
        }),
        m("weight offset u64::MAX - 63", Reject, |meta, _| {
            let t = first_weight(meta);
            meta.tensors[t].storage = Storage::Weight { offset: u64::MAX - 63 }
        }),
        m("weight offset not 64-byte aligned", Reject, |meta, _| {
            let t = first_weight(meta);
            meta.tensors[t].storage = Storage::Weight { offset: 4 }
        }),
        m("weights overlapping each other", NoPanic, |meta, _| {
            for t in &mut meta.tensors {
                if let Storage::Weight { .. } = t.storage {
                    t.storage = Storage::Weight { offset: 0 };
                }
            }
        }),
        m("every arena tensor at offset 0", Reject, |meta, _| {
            for t in &mut meta.tensors {
                if let Storage::Arena { .. } = t.storage {
                    t.storage = Storage::Arena { offset: 0 };
                }
            }
        }),
        m("step output overlaps its input by one element", Reject, |meta, _| {
            let s = step_of(meta, "MaxPool");
            let (i, o) = (meta.steps[s].inputs[0], meta.steps[s].outputs[0]);
            let offset = arena_offset(meta, i) + 4;
            meta.tensors[o as usize].storage = Storage::Arena { offset };
        }),
        m("live tensors overlapping across steps", NoPanic, |meta, _| {
            // The residual is still live when the pool's output... is the residual. Put the
            // Conv1x1 output over the network input instead: wrong, but not unsafe.
            let s = step_of(meta, "Conv1x1");
            let o = meta.steps[s].outputs[0];
            let offset = arena_offset(meta, meta.inputs[0].tensor);
            meta.tensors[o as usize].storage = Storage::Arena { offset };
        }),
        // Arena size.
        m("arena above the limit", Reject, move |meta, _| meta.arena_bytes = big + 1),
        m("arena u64::MAX", Reject, |meta, _| meta.arena_bytes = u64::MAX),
        m("arena one byte short", Reject, |meta, _| meta.arena_bytes -= 1),
        m("arena empty", Reject, |meta, _| meta.arena_bytes = 0),
        m("arena twice as large", NoPanic, |meta, _| meta.arena_bytes *= 2),
        // Steps.
        m("step input id out of range", Reject, |meta, _| meta.steps[0].inputs[0] = meta.tensors.len() as u32),
        m("step input id u32::MAX", Reject, |meta, _| meta.steps[0].inputs[0] = u32::MAX),
        m("step output id out of range", Reject, |meta, _| meta.steps[0].outputs[0] = meta.tensors.len() as u32),
        m("step without outputs", Reject, |meta, _| meta.steps[1].outputs.clear()),
        m("step without inputs", Reject, |meta, _| meta.steps[1].inputs.clear()),
        m("step with an extra input", Reject, |meta, _| {
            let i = meta.steps[1].inputs[0];
            meta.steps[1].inputs.push(i);
        }),
        m("step with an extra output", Reject, |meta, _| {
            let o = meta.steps[1].outputs[0];
            meta.steps[1].outputs.push(o);
        }),
        m("step writes a weight", Reject, |meta, _| meta.steps[1].outputs[0] = first_weight(meta) as u32),
        m("pool output aliases its input", Reject, |meta, _| {
            let s = step_of(meta, "MaxPool");
            meta.steps[s].outputs[0] = meta.steps[s].inputs[0];
        }),
        m("conv output aliases x", Reject, |meta, _| {
            let s = step_of(meta, "Conv1x1");
            let x = meta.tensors[meta.steps[s].inputs[0] as usize].clone();
            let o = meta.steps[s].outputs[0] as usize;
            meta.tensors[o].storage = x.storage;
        }),
        m("conv output aliases its residual", NoPanic, |meta, _| {
            let s = step_of(meta, "Conv1x1");
            let r = *meta.steps[s].inputs.last().unwrap();
            meta.steps[s].outputs[0] = r;
        }),
        m("steps reordered", NoPanic, |meta, _| meta.steps.reverse()),
        m("no steps", NoPanic, |meta, _| meta.steps.clear()),
        m("a step repeated 3 times", NoPanic, |meta, _| {
            let s = meta.steps[1].clone();
            meta.steps.insert(1, s.clone());
            meta.steps.insert(1, s);
        }),
        // Bindings.
        m("input bound to a weight", Reject, |meta, _| meta.inputs[0].tensor = first_weight(meta) as u32),
        m("output bound to a weight", Reject, |meta, _| meta.outputs[0].tensor = first_weight(meta) as u32),
        m("output binding out of range", Reject, |meta, _| meta.outputs[0].tensor = u32::MAX),
        m("output bound to the input", NoPanic, |meta, _| meta.outputs[0].tensor = meta.inputs[0].tensor),
        m("input bound twice", NoPanic, |meta, _| {
            let b = meta.inputs[0].clone();
            meta.inputs.push(b);
        }),
        m("no inputs, no outputs", NoPanic, |meta, _| {
            meta.inputs.clear();
            meta.outputs.clear();
        }),
        m("binding name with a line break", Reject, |meta, _| meta.inputs[0].name = "x\ny".into()),
        m("step name with an escape", Reject, |meta, _| meta.steps[0].name = "\x1b[2J".into()),
        // Conv parameters.
        m("conv group 0", Reject, conv(|c| c.group = 0)),
        m("conv group 2", Reject, conv(|c| c.group = 2)),
        m("conv group u32::MAX", Reject, conv(|c| c.group = u32::MAX)),
        m("conv kernel 5x5", Reject, conv(|c| c.kernel = [5, 5])),
        m("conv kernel 0x0", Reject, conv(|c| c.kernel = [0, 0])),
        m("conv strides 0", Reject, conv(|c| c.strides = [0, 0])),
        m("conv strides u32::MAX", Reject, conv(|c| c.strides = [u32::MAX; 2])),
        m("conv dilations 0", Reject, conv(|c| c.dilations = [0, 0])),
        m("conv dilations u32::MAX", Reject, conv(|c| c.dilations = [u32::MAX; 2])),
        // With no padding, dilation 0 makes a one-pixel window whose output size matches.
        m("conv dilations 0, no pads", Reject, conv(|c| (c.dilations, c.pads) = ([0, 0], [0; 4]))),
        m("conv group times channels overflows", Reject, |meta, _| {
            // The Conv1x1 step alone, without its residual: x [1, 2^31, 1, 1], weights
            // [0, 2^37, 1, 1] (empty), group 2^31, so `channels per group * group` overflows.
            // The arena claims 2^40 bytes, but the step is refused before any allocation.
            let s = step_of(meta, "Conv1x1");
            meta.steps = vec![meta.steps[s].clone()];
            let step = &mut meta.steps[0];
            step.inputs.truncate(2);
            if let Kernel::Conv(c) = &mut step.kernel {
                (c.group, c.has_residual) = (1 << 31, false);
            }
            let (x, w, y) = (step.inputs[0] as usize, step.inputs[1] as usize, step.outputs[0] as usize);
            meta.tensors[x].shape = vec![1, 1 << 31, 1, 1];
            meta.tensors[x].storage = Storage::Arena { offset: 0 };
            meta.tensors[w].shape = vec![0, 1 << 37, 1, 1];
            meta.tensors[w].storage = Storage::Arena { offset: 1 << 33 };
            meta.tensors[y].shape = vec![1, 0, 1, 1];
            meta.tensors[y].storage = Storage::Arena { offset: 1 << 33 };
            meta.arena_bytes = MAX_TENSOR_BYTES;
            (meta.inputs[0].tensor, meta.outputs[0].tensor) = (x as u32, y as u32);
        }),
        m("conv pads u32::MAX", Reject, conv(|c| c.pads = [u32::MAX; 4])),
        m("conv pads 2^31", Reject, conv(|c| c.pads = [1 << 31; 4])),
        m("conv pads moved to the end", NoPanic, conv(|c| c.pads = [0, 0, 2, 2])),
        m("conv pads asymmetric", Reject, conv(|c| c.pads = [0, 1, 2, 2])),
        m("conv pointwise algorithm on 3x3", Reject, conv(|c| c.algo = ConvAlgo::Pointwise)),
        m("conv depthwise algorithm", Reject, conv(|c| c.algo = ConvAlgo::Depthwise)),
        m("conv without its bias", Reject, conv(|c| c.has_bias = false)),
        m("conv with a missing residual", Reject, conv(|c| c.has_residual = true)),
        m("conv activation NaN clip", NoPanic, conv(|c| c.activation = Activation::Clip { min: f32::NAN, max: -1.0 })),
        m("conv bias is the weights", Reject, |meta, _| {
            let s = step_of(meta, "ConvIm2col");
            meta.steps[s].inputs[2] = meta.steps[s].inputs[1];
        }),
        m("conv weights are the input", Reject, |meta, _| {
            let s = step_of(meta, "ConvIm2col");
            meta.steps[s].inputs[1] = meta.steps[s].inputs[0];
        }),
        m("pointwise conv as im2col", NoPanic, |meta, _| {
            let s = step_of(meta, "Conv1x1");
            if let Kernel::Conv(c) = &mut meta.steps[s].kernel {
                c.algo = ConvAlgo::Im2colGemm;
            }
        }),
        // Pool parameters.
        m("pool kernel 0", Reject, pool(|p| p.kernel = [0, 0])),
        m("pool kernel u32::MAX", Reject, pool(|p| p.kernel = [u32::MAX; 2])),
        m("pool strides 0", Reject, pool(|p| p.strides = [0, 0])),
        m("pool dilations 0", Reject, pool(|p| p.dilations = [0, 0])),
        m("pool dilations u32::MAX", Reject, pool(|p| p.dilations = [u32::MAX; 2])),
        m("pool pads u32::MAX", Reject, pool(|p| p.pads = [u32::MAX; 4])),
        m("pool pads as large as the window", Reject, pool(|p| p.pads = [2; 4])),
        m("pool kernel 3, pads 1 (ceil mode)", NoPanic, pool(|p| (p.kernel, p.pads) = ([3, 3], [1, 1, 1, 1]))),
        m("pool average", NoPanic, pool(|p| p.kind = PoolKind::Average { count_include_pad: true })),
        // Gemm parameters.
        m(
            "gemm trans_b off",
            Reject,
            edit_kernel("Gemm", |k| {
                if let Kernel::Gemm { trans_b, .. } = k {
                    *trans_b = false;
                }
            }),
        ),
        m(
            "gemm trans_a on",
            Reject,
            edit_kernel("Gemm", |k| {
                if let Kernel::Gemm { trans_a, .. } = k {
                    *trans_a = true;
                }
            }),
        ),
        m(
            "gemm without C",
            Reject,
            edit_kernel("Gemm", |k| {
                if let Kernel::Gemm { has_c, .. } = k {
                    *has_c = false;
                }
            }),
        ),
        m(
            "gemm alpha NaN",
            NoPanic,
            edit_kernel("Gemm", |k| {
                if let Kernel::Gemm { alpha, beta, .. } = k {
                    (*alpha, *beta) = (f32::NAN, f32::INFINITY);
                }
            }),
        ),
        // Other kernels on tiny_cnn's tensors: the pool's x [1,8,16,16] -> [1,8,8,8], the
        // global pool's x [1,8,8,8] -> [1,8,1,1].
        m(
            "slice step 0",
            Reject,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![SliceAxis { axis: 2, start: 0, step: 0 }, SliceAxis { axis: 3, start: 0, step: 2 }],
                },
            ),
        ),
        m(
            "slice step i64::MIN",
            Reject,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![
                        SliceAxis { axis: 2, start: 15, step: i64::MIN },
                        SliceAxis { axis: 3, start: 0, step: 2 },
                    ],
                },
            ),
        ),
        m(
            "slice start i64::MAX",
            Reject,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![
                        SliceAxis { axis: 2, start: i64::MAX, step: 2 },
                        SliceAxis { axis: 3, start: 0, step: 2 },
                    ],
                },
            ),
        ),
        m(
            "slice start -1",
            Reject,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![SliceAxis { axis: 2, start: -1, step: 2 }, SliceAxis { axis: 3, start: 0, step: 2 }],
                },
            ),
        ),
        m(
            "slice past the end",
            Reject,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![SliceAxis { axis: 2, start: 2, step: 2 }, SliceAxis { axis: 3, start: 0, step: 2 }],
                },
            ),
        ),
        m(
            "slice axis u32::MAX",
            Reject,
            replace("MaxPool", Kernel::Slice { axes: vec![SliceAxis { axis: u32::MAX, start: 0, step: 2 }] }),
        ),
        m(
            "slice axis twice",
            Reject,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![SliceAxis { axis: 2, start: 0, step: 2 }, SliceAxis { axis: 2, start: 0, step: 2 }],
                },
            ),
        ),
        m(
            "slice, valid",
            NoPanic,
            replace(
                "MaxPool",
                Kernel::Slice {
                    axes: vec![SliceAxis { axis: 3, start: 15, step: -2 }, SliceAxis { axis: 2, start: 1, step: 2 }],
                },
            ),
        ),
        m(
            "transpose perm out of range",
            Reject,
            replace("MaxPool", Kernel::Transpose { perm: vec![0, 1, 2, u32::MAX] }),
        ),
        m("transpose perm repeated", Reject, replace("MaxPool", Kernel::Transpose { perm: vec![0, 1, 2, 2] })),
        m("transpose perm too short", Reject, replace("MaxPool", Kernel::Transpose { perm: vec![0, 1] })),
        m("transpose, wrong shape", Reject, replace("GlobalAveragePool", Kernel::Transpose { perm: vec![0, 1, 2, 3] })),
        m(
            "pad huge",
            Reject,
            replace("MaxPool", Kernel::Pad { mode: PadMode::Constant, pads: vec![i64::MAX; 8], value: 0.0 }),
        ),
        m(
            "pad i64::MIN",
            Reject,
            replace("MaxPool", Kernel::Pad { mode: PadMode::Constant, pads: vec![i64::MIN; 8], value: 0.0 }),
        ),
        m(
            "pad sums overflow i64",
            Reject,
            replace(
                "MaxPool",
                Kernel::Pad {
                    mode: PadMode::Constant,
                    pads: vec![0, 0, i64::MAX - 8, i64::MAX - 8, 0, 0, -i64::MAX, -i64::MAX],
                    value: 0.0,
                },
            ),
        ),
        m(
            "pad crop beyond the axis",
            Reject,
            replace(
                "MaxPool",
                Kernel::Pad { mode: PadMode::Edge, pads: vec![0, 0, -20, -20, 0, 0, 12, 12], value: 0.0 },
            ),
        ),
        m(
            "pad wrong length",
            Reject,
            replace("MaxPool", Kernel::Pad { mode: PadMode::Edge, pads: vec![0; 3], value: 0.0 }),
        ),
        m(
            "pad negative (crop), reflect",
            NoPanic,
            replace(
                "MaxPool",
                Kernel::Pad { mode: PadMode::Reflect, pads: vec![0, 0, -4, -4, 0, 0, -4, -4], value: 0.0 },
            ),
        ),
        m(
            "pad crop and grow, wrap",
            NoPanic,
            replace("MaxPool", Kernel::Pad { mode: PadMode::Wrap, pads: vec![0, 0, -12, 7, 0, 0, 4, -15], value: 0.0 }),
        ),
        m("concat axis out of range", Reject, replace("MaxPool", Kernel::Concat { axis: 4 })),
        m("concat sizes wrong", Reject, replace("MaxPool", Kernel::Concat { axis: 2 })),
        m("split axis u32::MAX", Reject, replace("MaxPool", Kernel::Split { axis: u32::MAX })),
        m("split sizes wrong", Reject, replace("MaxPool", Kernel::Split { axis: 2 })),
        m(
            "softmax axis out of range",
            Reject,
            replace("MaxPool", Kernel::Softmax { axis: 4, coerce_2d: false, log: false }),
        ),
        m("softmax shape change", Reject, replace("MaxPool", Kernel::Softmax { axis: 1, coerce_2d: true, log: true })),
        m(
            "reduce axis out of range",
            Reject,
            replace("GlobalAveragePool", Kernel::Reduce { kind: ReduceKind::Sum, axes: vec![2, 9], keepdims: true }),
        ),
        m(
            "reduce keepdims wrong",
            Reject,
            replace("GlobalAveragePool", Kernel::Reduce { kind: ReduceKind::Sum, axes: vec![2, 3], keepdims: false }),
        ),
        m(
            "reduce, valid",
            NoPanic,
            replace(
                "GlobalAveragePool",
                Kernel::Reduce { kind: ReduceKind::LogSumExp, axes: vec![3, 2, 3], keepdims: true },
            ),
        ),
        m("resize without scales", Reject, replace("MaxPool", resize(ResizeMode::Linear, vec![]))),
        m("resize, cubic", NoPanic, replace("MaxPool", resize(ResizeMode::Cubic, vec![1.0, 1.0, 0.5, 0.5]))),
        m(
            "resize, odd scales",
            NoPanic,
            replace("MaxPool", resize(ResizeMode::Nearest, vec![0.0, f32::NAN, -1.0, 1e30])),
        ),
        m("resize of an empty axis", Reject, |meta, w| {
            replace("MaxPool", resize(ResizeMode::Linear, vec![1.0; 4]))(meta, w);
            let s = alone(meta, "Resize");
            meta.tensors[s.inputs[0] as usize].shape[2] = 0;
        }),
        m("elementwise in place, valid", NoPanic, elementwise_in_place(vec![act_relu(0), add(1, 0)])),
        m("elementwise reads an unwritten register", Reject, elementwise_in_place(vec![neg(1)])),
        m("elementwise reads register u32::MAX", Reject, elementwise_in_place(vec![add(0, u32::MAX)])),
        m("elementwise unary with a second argument", Reject, elementwise_in_place(vec![instr_neg_b(0, 7)])),
        m("elementwise empty program", Reject, elementwise_in_place(vec![])),
        m("elementwise program too long", Reject, elementwise_in_place(vec![act_relu(0); 33])),
        m("elementwise with 17 inputs", Reject, |meta, w| {
            elementwise_in_place(vec![add(0, 16)])(meta, w);
            let s = step_of(meta, "Elementwise");
            let x = meta.steps[s].inputs[0];
            meta.steps[s].inputs = vec![x; 17];
        }),
        m(
            "elementwise output is not the inputs' broadcast",
            Reject,
            replace("MaxPool", Kernel::Elementwise { program: vec![act_relu(0)] }),
        ),
        m("elementwise without inputs", Reject, |meta, w| {
            elementwise_in_place(vec![act_relu(0)])(meta, w);
            let s = step_of(meta, "Elementwise");
            meta.steps[s].inputs.clear();
        }),
        m(
            "fused instance norm without its residual",
            Reject,
            replace(
                "MaxPool",
                Kernel::FusedInstanceNorm { epsilon: 1e-5, has_residual: true, activation: Activation::Relu },
            ),
        ),
        m(
            "fused instance norm with one input",
            Reject,
            replace(
                "MaxPool",
                Kernel::FusedInstanceNorm { epsilon: 1e-5, has_residual: false, activation: Activation::Identity },
            ),
        ),
        m("expand, not a broadcast", Reject, replace("GlobalAveragePool", Kernel::Expand)),
        m("copy, sizes differ", Reject, replace("GlobalAveragePool", Kernel::Copy)),
        m("unary, sizes differ", Reject, replace("MaxPool", Kernel::Unary(UnaryFn::Log))),
        m("matmul, inner dims differ", Reject, |meta, w| {
            replace("Gemm", Kernel::MatMul)(meta, w);
            let s = step_of(meta, "MatMul");
            meta.steps[s].inputs.truncate(2);
        }),
        m(
            "binary with three inputs",
            Reject,
            replace("Gemm", Kernel::Binary { op: BinaryFn::PRelu, activation: Activation::Identity }),
        ),
        m("binary, no broadcast", Reject, |meta, w| {
            replace("MaxPool", Kernel::Binary { op: BinaryFn::Add, activation: Activation::Identity })(meta, w);
            let s = step_of(meta, "Binary");
            let x = meta.steps[s].inputs[0];
            meta.steps[s].inputs.push(x);
        }),
        m(
            "channel affine with one input",
            Reject,
            replace("MaxPool", Kernel::ChannelAffine { activation: Activation::Identity }),
        ),
        m("instance norm with one input", Reject, replace("MaxPool", Kernel::InstanceNorm { epsilon: 0.0 })),
        m(
            "conv transpose on the conv",
            Reject,
            edit_kernel("ConvIm2col", |k| {
                if let Kernel::Conv(c) = k {
                    *k = Kernel::ConvTranspose(hetc_plan::ConvTransposeParams {
                        kernel: c.kernel,
                        strides: c.strides,
                        dilations: c.dilations,
                        pads: c.pads,
                        group: c.group,
                        has_bias: c.has_bias,
                        activation: c.activation,
                    });
                }
            }),
        ),
        m("winograd, valid", NoPanic, winograd(|_, _| {})),
        m("winograd on the 3-channel conv", Reject, conv(|c| c.algo = ConvAlgo::Winograd)),
        m("winograd weights untransformed", Reject, winograd(|_, w| *w = vec![8, 8, 3, 3])),
        m("winograd weights for 64 channels", Reject, winograd(|_, w| *w = vec![36, 2, 8, 32])),
        m("winograd weights with a zero", Reject, winograd(|_, w| *w = vec![36, 0, 8, 32])),
        m("winograd 5x5", Reject, winograd(|c, _| c.kernel = [5, 5])),
        m("winograd stride 2", Reject, winograd(|c, _| c.strides = [2, 2])),
        m("winograd stride 0", Reject, winograd(|c, _| c.strides = [0, 0])),
        m("winograd dilation 2", Reject, winograd(|c, _| c.dilations = [2, 2])),
        m("winograd group 8", Reject, winograd(|c, _| c.group = 8)),
        m("winograd group 0", Reject, winograd(|c, _| c.group = 0)),
        m("winograd pads 0", Reject, winograd(|c, _| c.pads = [0; 4])),
        m("winograd pads u32::MAX", Reject, winograd(|c, _| c.pads = [u32::MAX; 4])),
        m("winograd pads moved", NoPanic, winograd(|c, _| c.pads = [2, 0, 0, 2])),
        m("winograd without its residual", Reject, winograd(|c, _| c.has_residual = false)),
        m("winograd with a missing bias", Reject, winograd(|c, _| c.has_bias = true)),
        m("conv transpose, valid", NoPanic, conv_transpose(|_| {})),
        m("conv transpose stride 0", Reject, conv_transpose(|c| (c.strides, c.dilations) = ([0, 0], [16, 16]))),
        m("conv transpose dilation 0", Reject, conv_transpose(|c| c.dilations = [0, 0])),
        m("conv transpose pads u32::MAX", Reject, conv_transpose(|c| c.pads = [u32::MAX; 4])),
        m("conv transpose kernel 0", Reject, |meta, w| {
            conv_transpose(|c| c.kernel = [0, 0])(meta, w);
            let s = step_of(meta, "ConvTranspose");
            let wt = meta.steps[s].inputs[1] as usize;
            meta.tensors[wt].shape = vec![8, 8, 0, 0];
        }),
        m("conv transpose group 2^31", Reject, conv_transpose(|c| c.group = 1 << 31)),
        m("empty axis beside huge ones", Reject, |meta, _| meta.tensors[0].shape = vec![0, 1 << 62, 1 << 62]),
        m("resize [1, 768] -> [768, 1]", NoPanic, |meta, _| {
            // Only the first step, turned into a resize that grows one axis and shrinks the
            // other (in axis order, its intermediate would be [768, 768]).
            meta.steps.truncate(1);
            let step = &mut meta.steps[0];
            step.inputs.truncate(1);
            step.kernel = resize(ResizeMode::Linear, vec![768.0, 1.0 / 768.0]);
            meta.tensors[step.inputs[0] as usize].shape = vec![1, 768];
            meta.tensors[step.outputs[0] as usize].shape = vec![768, 1];
            meta.outputs[0].tensor = step.outputs[0];
        }),
        m(
            "global pool of a 3x3 -> 1x1 conv output",
            Reject,
            replace("Conv1x1", Kernel::GlobalPool { kind: PoolKind::Max }),
        ),
        m("activation on the global pool", Reject, replace("GlobalAveragePool", Kernel::Activation(Activation::Mish))),
    ]
}

#[test]
fn hostile_metadata_is_rejected_or_harmless() {
    let g = good();
    let mut failures = Vec::new();
    for (name, expect, mutate) in mutations() {
        let (mut meta, mut weights) = (g.meta.clone(), g.weights.clone());
        mutate(&mut meta, &mut weights);
        assert!(meta != g.meta || weights != g.weights, "{name}: the mutation changed nothing");
        let outcome = exercise(name, &raw_plan(&meta, &weights), None);
        // For review with `--nocapture`: what each one gets.
        match outcome.error() {
            Some(e) => eprintln!("{name}: {e}"),
            None => eprintln!("{name}: accepted"),
        }
        if expect == Reject && !outcome.rejected() {
            failures.push(format!("{name}: accepted ({outcome:?})"));
        }
        if matches!(outcome, Outcome::TooBig) {
            failures.push(format!("{name}: not exercised, the arena is too big"));
        }
    }
    assert!(failures.is_empty(), "{} hostile plans not rejected:\n{}", failures.len(), failures.join("\n"));
}

/// RAM plus swap, if Linux's heuristic overcommit is on (it refuses any single allocation
/// larger than that); `None` where an allocation of any size might succeed.
fn refused_above() -> Option<u64> {
    let policy = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").ok()?;
    if policy.trim() == "1" {
        return None;
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((kib("MemTotal:")? + kib("SwapTotal:")?) * 1024)
}

/// A valid plan whose arena is as large as the format allows, or large but below that: the
/// allocation must fail with an error, never abort. Only sizes that the kernel must refuse
/// are tried (above RAM + swap under the default overcommit policy): smaller ones would
/// really be allocated and zeroed.
#[test]
fn huge_arenas_fail_cleanly() {
    let g = good();
    let Some(limit) = refused_above() else {
        eprintln!("skipped: overcommit policy may grant any allocation");
        return;
    };
    let sizes = [MAX_TENSOR_BYTES, MAX_TENSOR_BYTES - 64, MAX_TENSOR_BYTES / 2, 1 << 38, 1 << 36];
    for arena in sizes.into_iter().filter(|&a| a > 2 * limit) {
        let mut meta = g.meta.clone();
        meta.arena_bytes = arena;
        // A tensor that fills it, so that the claim is not obviously inflated.
        let mut filler = meta.tensors[meta.inputs[0].tensor as usize].clone();
        filler.name = "filler".into();
        filler.shape = vec![arena / 4];
        filler.storage = Storage::Arena { offset: 0 };
        meta.tensors.push(filler);
        let bytes = raw_plan(&meta, &g.weights);
        let plan = Plan::from_bytes(&bytes).expect("the plan is structurally valid");
        let result = catch_unwind(AssertUnwindSafe(|| {
            Session::new(&plan, SessionOptions { threads: 1, ..Default::default() }).map(|_| ())
        }));
        match result {
            Ok(Err(RuntimeError::Memory(msg))) => assert!(msg.contains(&arena.to_string()), "{msg}"),
            Ok(Err(e)) => panic!("arena of {arena} bytes: unexpected error {e}"),
            Ok(Ok(())) => panic!("arena of {arena} bytes: allocated on a machine with {limit} bytes"),
            Err(_) => panic!("arena of {arena} bytes: panicked"),
        }
    }
}

/// The two plans the `plan` fuzz target makes of one input: the input as a plan file, and
/// its longest prefix that decodes as metadata wrapped with correct checksums (the rest being
/// the weight section).
fn fuzz_plans(data: &[u8]) -> [Vec<u8>; 2] {
    let (meta_len, weights) = match postcard::take_from_bytes::<PlanMeta>(data) {
        Ok((_, rest)) => (data.len() - rest.len(), rest.to_vec()),
        Err(_) => (data.len(), vec![0; 256]),
    };
    [data.to_vec(), raw_file(&data[..meta_len], &weights)]
}

/// Minimised inputs from `cargo fuzz run plan` (`testdata/bad-plans/fuzz-*.bin`, in the
/// target's input form; see `fuzz/README.md`). Each crashed the runtime before its fix; now
/// each must be refused, or run, without a panic.
#[test]
fn fuzz_reproducers_do_not_panic() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/bad-plans"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no reproducers in {}", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let [raw, wrapped] = fuzz_plans(&data);
        let raw = exercise(&format!("{name} as a file"), &raw, None);
        let wrapped = exercise(&format!("{name} as metadata"), &wrapped, None);
        eprintln!("{name}: as a file {:?}; as metadata {:?}", raw.error(), wrapped.error());
        assert!(raw.rejected() || wrapped.rejected(), "{name}: accepted both ways");
    }
}
