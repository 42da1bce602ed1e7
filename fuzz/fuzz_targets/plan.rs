//! Feeds arbitrary bytes to the plan loader and the runtime, two ways:
//!
//! (a) as a raw plan file;
//! (b) as postcard metadata (the longest prefix that decodes as `PlanMeta`, else all of it)
//!     wrapped into a well-formed header with correct checksums, the remaining bytes being the
//!     weight section. This gets past the CRCs, so the fuzzer explores the metadata itself.
//!
//! Whatever decodes goes through `Plan::from_bytes` and `Session::new` (one thread), and a
//! session that prepares runs once on zero-filled inputs. Errors are fine if they are one
//! line; any panic, overflow (the build has debug assertions), sanitizer report, OOM or
//! timeout is a bug.
//!
//! Plans whose arena or inputs exceed 64 MiB, or whose estimated work is large, are not run
//! (they are still decoded and validated): the runtime would honour them, but the fuzzer
//! cannot afford them.

#![no_main]

use hetc_plan::{FORMAT_VERSION, HEADER_LEN, Kernel, MAGIC, PlanMeta, ResizeMode, WEIGHT_ALIGN};
use hetc_runtime::{Plan, RuntimeError, Session, SessionOptions, Tensor};
use libfuzzer_sys::fuzz_target;

const MAX_BYTES: u128 = 64 << 20;
/// Rough multiply-adds (or element visits) a run may cost: ~0.1 s under ASan.
const MAX_WORK: u128 = 1 << 26;

fuzz_target!(|data: &[u8]| {
    exercise(data);
    let (meta_len, weights) = match postcard::take_from_bytes::<PlanMeta>(data) {
        Ok((_, rest)) => (data.len() - rest.len(), rest),
        Err(_) => (data.len(), &[0u8; 256][..]),
    };
    exercise(&wrap(&data[..meta_len], weights));
});

/// A plan file around `meta` (postcard bytes, not checked) and `weights`, with correct CRCs.
fn wrap(meta: &[u8], weights: &[u8]) -> Vec<u8> {
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
    out.extend_from_slice(meta);
    out.resize(weights_offset, 0);
    out.extend_from_slice(weights);
    out
}

/// Every error must be one line.
fn one_line(e: RuntimeError) {
    let msg = e.to_string();
    assert!(!msg.contains(['\n', '\r']), "error is not one line: {msg:?}");
}

fn exercise(bytes: &[u8]) {
    let plan = match Plan::from_bytes(bytes) {
        Ok(plan) => plan,
        Err(e) => return one_line(e),
    };
    let meta = plan.meta();
    if !affordable(meta) {
        return;
    }
    let mut session = match Session::new(&plan, SessionOptions { threads: 1, ..Default::default() }) {
        Ok(session) => session,
        Err(e) => return one_line(e),
    };
    let inputs: Vec<(String, Tensor)> = session
        .inputs()
        .iter()
        .map(|(name, shape)| {
            let data = vec![0.0; shape.iter().product()];
            (name.to_string(), Tensor::new(shape.to_vec(), data).expect("sizes agree"))
        })
        .collect();
    let refs: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    match session.run(&refs) {
        Ok(outputs) => {
            for ((name, t), (want, shape)) in outputs.iter().zip(session.outputs()) {
                assert!(name == want && t.shape == shape && t.data.len() == shape.iter().product::<usize>());
            }
        }
        Err(e) => one_line(e),
    }
}

/// Whether the fuzzer can afford to prepare and run `meta`: memory and a rough cost bound.
fn affordable(meta: &PlanMeta) -> bool {
    let numel = |id: u32| -> u128 { meta.tensors[id as usize].shape.iter().map(|&d| d as u128).product() };
    let dims = |id: u32| -> &[u64] { &meta.tensors[id as usize].shape };
    let input_bytes: u128 = meta.inputs.iter().map(|b| numel(b.tensor) * 4).sum();
    if meta.arena_bytes as u128 > MAX_BYTES || input_bytes > MAX_BYTES {
        return false;
    }
    let mut work: u128 = 0;
    for s in &meta.steps {
        let io: u128 = s.inputs.iter().chain(&s.outputs).map(|&t| numel(t)).sum();
        let out = numel(s.outputs[0]);
        // Per output element: the reduction length (an upper bound where shapes are odd).
        let per_out: u128 = match &s.kernel {
            Kernel::Conv(_) | Kernel::ConvTranspose(_) if s.inputs.len() >= 2 => {
                let w = dims(s.inputs[1]);
                let per_filter = numel(s.inputs[1]) / (*w.first().unwrap_or(&1)).max(1) as u128;
                match s.kernel {
                    Kernel::ConvTranspose(_) => per_filter.max(1) * numel(s.inputs[0]).max(1) / out.max(1) + 1,
                    _ => per_filter,
                }
            }
            Kernel::Gemm { .. } | Kernel::MatMul if !s.inputs.is_empty() => {
                dims(s.inputs[0]).iter().map(|&d| d as u128).max().unwrap_or(1)
            }
            Kernel::Pool(p) if !s.inputs.is_empty() => {
                let x = dims(s.inputs[0]);
                (0..2)
                    .map(|a| {
                        let pads = p.pads[a] as u128 + p.pads[a + 2] as u128;
                        let span = x.get(2 + a).map_or(1, |&d| d as u128 + pads);
                        (p.kernel[a] as u128).min(span).max(1)
                    })
                    .product()
            }
            Kernel::Resize(r) => match r.mode {
                ResizeMode::Nearest => 1,
                ResizeMode::Linear => 1 << dims(s.outputs[0]).len(),
                ResizeMode::Cubic => 1 << (2 * dims(s.outputs[0]).len()),
            },
            _ => 1,
        };
        work = work.saturating_add(io).saturating_add(out.saturating_mul(per_out));
    }
    work <= MAX_WORK
}
