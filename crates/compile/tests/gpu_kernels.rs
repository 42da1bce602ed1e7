//! Kernel-level GPU tests (lavapipe in CI): the generated WGSL kernels against the CPU kernels
//! on edge shapes (tiles that do not divide the problem, one-row products, odd channels,
//! strides, padding, groups), the CPU fallback, and GPU plans that must be refused: corrupt
//! shaders, limits beyond the adapter, missing adapters. Without a GPU adapter every test that
//! needs one fails with the runtime's error, by design: nothing is skipped.

mod fusion_common;

use fusion_common::{G, Rng, max_error};
use hetc_compile::{CompileOptions, Fusion, Strategy, compile};
use hetc_ir::Graph;
use hetc_ir::ops::{MatMul, PoolKind, UnaryKind};
use hetc_plan::{Device, Kernel};
use hetc_runtime::{Fallback, Plan, RuntimeError, Session, SessionOptions, Tensor};

fn options(strategy: Strategy) -> CompileOptions {
    CompileOptions { target: "host".into(), fusion: Fusion::Egg, strategy, ..Default::default() }
}

fn inputs(graph: &Graph) -> Vec<(String, Tensor)> {
    let mut rng = Rng(7);
    graph
        .inputs
        .iter()
        .map(|&i| {
            let n = graph.node(i);
            let shape = n.outputs[0].shape.clone();
            let data = rng.vec(shape.iter().product());
            (n.name.clone(), Tensor::new(shape, data).unwrap())
        })
        .collect()
}

fn run_bytes(bytes: &[u8], graph: &Graph, session: SessionOptions) -> Result<Vec<Tensor>, RuntimeError> {
    let plan = Plan::from_bytes(bytes)?;
    let mut s = Session::new(&plan, session)?;
    let feeds = inputs(graph);
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Ok(s.run(&refs)?.into_iter().map(|(_, t)| t).collect())
}

/// Compiles `graph` for the CPU and the GPU, checks that every computing step of the GPU plan
/// is on the GPU, runs both (the GPU plan twice on one session) and compares.
fn gpu_matches_cpu(graph: &Graph) {
    let cpu = compile(graph, &options(Strategy::Cpu)).unwrap().encode().unwrap();
    let gpu_plan = compile(graph, &options(Strategy::Gpu)).unwrap_or_else(|e| panic!("{}: {e}", graph.name));
    let on_cpu: Vec<&str> =
        gpu_plan.meta.steps.iter().filter(|s| s.device == Device::Cpu).map(|s| s.kernel.name()).collect();
    assert!(on_cpu.is_empty(), "{}: steps left on the CPU: {on_cpu:?}", graph.name);
    let gpu = gpu_plan.encode().unwrap();
    let want = run_bytes(&cpu, graph, SessionOptions { threads: 1, ..Default::default() }).unwrap();
    let plan = Plan::from_bytes(&gpu).unwrap();
    let mut session = Session::new(&plan, SessionOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", graph.name));
    let feeds = inputs(graph);
    let refs: Vec<(&str, &Tensor)> = feeds.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for run in 0..2 {
        let got: Vec<Tensor> = session.run(&refs).unwrap().into_iter().map(|(_, t)| t).collect();
        let e = max_error(&got, &want);
        assert!(e <= 1e-4, "{} run {run}: GPU and CPU differ by {e} of max(1, max|cpu|)", graph.name);
    }
}

#[test]
fn tiled_conv_edge_shapes() {
    // (channels in, out, size, kernel, pad, stride, group)
    let cases: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        (3, 1, 7, 3, 1, 1, 1),     // one output channel: a 32- or 64-row tile with one row
        (5, 13, 9, 3, 0, 1, 1),    // nothing divides a tile
        (16, 65, 8, 1, 0, 1, 1),   // pointwise, M one past a tile
        (17, 33, 11, 3, 1, 2, 1),  // stride 2, odd k
        (8, 130, 5, 5, 2, 1, 1),   // 5x5, K = 200
        (12, 24, 10, 3, 1, 1, 3),  // grouped
        (24, 24, 13, 3, 1, 2, 24), // depthwise, stride 2
        (32, 32, 7, 3, 1, 1, 32),  // depthwise
        (64, 96, 14, 1, 0, 1, 1),  // pointwise, several tiles
        (3, 64, 33, 7, 3, 2, 1),   // stem-like
    ];
    for (i, &(c, m, s, k, p, st, g)) in cases.iter().enumerate() {
        let mut b = G::new(&format!("conv{i}_{c}x{m}x{s}_k{k}p{p}s{st}g{g}"), 11 + i as u64);
        let x = b.input("x", &[1, c, s, s]);
        let y = b.conv_g(x, m, k, p, st, g, true);
        let y = b.unary(y, UnaryKind::Relu);
        b.output("y", y);
        gpu_matches_cpu(&b.g);
    }
}

#[test]
fn conv_residual_epilogue_and_batch() {
    let mut b = G::new("residual_batch2", 5);
    let x = b.input("x", &[2, 8, 9, 9]);
    let y = b.conv(x, 8, 3, 1, true);
    let z = b.binary(y, x, hetc_ir::ops::BinaryKind::Add);
    let z = b.unary(z, UnaryKind::Relu);
    b.output("z", z);
    gpu_matches_cpu(&b.g);
}

#[test]
fn gemm_and_matmul_edge_shapes() {
    // Gemm with transposed weights: one row (matrix-vector kernel) and several rows (tiled).
    for (m, k, n) in [(1, 37, 1000), (1, 512, 10), (3, 70, 65), (65, 17, 1), (128, 64, 64)] {
        let mut b = G::new(&format!("gemm_{m}x{k}x{n}"), (m * k + n) as u64);
        let a = b.input("a", &[m, k]);
        let y = b.gemm(a, n, true);
        b.output("y", y);
        gpu_matches_cpu(&b.g);
    }
    // MatMul with broadcast batch axes and a 1-D operand.
    for (sa, sb) in [
        (vec![2, 1, 5, 7], vec![3, 7, 9]),
        (vec![33, 65], vec![65, 17]),
        (vec![7], vec![2, 7, 3]),
        (vec![4, 1, 30], vec![30, 5]),
    ] {
        let mut b = G::new(&format!("matmul_{sa:?}x{sb:?}"), 3);
        let a = b.input("a", &sa);
        let w = b.input("b", &sb);
        let y = b.op(hetc_ir::Op::MatMul(MatMul), &[Some(a), Some(w)]);
        b.output("y", y);
        gpu_matches_cpu(&b.g);
    }
}

#[test]
fn pools_norms_and_movement() {
    let mut b = G::new("mixed", 9);
    let x = b.input("x", &[1, 6, 15, 15]);
    let p = b.pool(x, PoolKind::Max, 3, 2, 1);
    let q = b.pool(x, PoolKind::Average { count_include_pad: true }, 3, 2, 1);
    let r = b.pool(x, PoolKind::Average { count_include_pad: false }, 3, 2, 1);
    let s = b.concat(&[p, q, r], 1);
    let t = b.instance_norm(s);
    let t = b.transpose(t, &[0, 2, 3, 1]);
    let u = b.pad(x, 2, 0.5);
    b.output("t", t);
    b.output("u", u);
    gpu_matches_cpu(&b.g);
}

/// A small GPU plan's bytes.
fn small_gpu_plan() -> (Graph, hetc_compile::CompiledPlan) {
    let mut b = G::new("small", 1);
    let x = b.input("x", &[1, 4, 6, 6]);
    let y = b.conv(x, 8, 3, 1, true);
    let y = b.unary(y, UnaryKind::Sigmoid);
    b.output("y", y);
    let plan = compile(&b.g, &options(Strategy::Gpu)).unwrap();
    (b.g, plan)
}

#[test]
fn plan_has_transfers_and_gpu_arena() {
    let (_, plan) = small_gpu_plan();
    let m = &plan.meta;
    let kinds: Vec<&str> = m.steps.iter().map(|s| s.kernel.name()).collect();
    assert_eq!(kinds.first(), Some(&"Upload"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"Download"), "{kinds:?}");
    assert!(m.gpu_arena_bytes > 0 && !m.shaders.is_empty());
    for s in &m.steps {
        assert_eq!(s.device, Device::Gpu);
        assert_eq!(s.gpu.is_some(), !matches!(s.kernel, Kernel::Upload | Kernel::Download));
    }
}

#[test]
fn cpu_fallback_without_adapter_and_error_by_default() {
    let (graph, plan) = small_gpu_plan();
    let bytes = plan.encode().unwrap();
    let cpu = compile(&graph, &options(Strategy::Cpu)).unwrap().encode().unwrap();
    let want = run_bytes(&cpu, &graph, SessionOptions::default()).unwrap();
    // No adapter matches this name: the default is an error that says what to do.
    let none = || SessionOptions { adapter: Some("no such adapter, surely".into()), ..Default::default() };
    if std::env::var_os(hetc_runtime::ADAPTER_ENV).is_none() {
        let e = run_bytes(&bytes, &graph, none()).unwrap_err().to_string();
        assert!(e.contains("no GPU adapter matches") && e.contains("--fallback cpu"), "{e}");
        let got = run_bytes(&bytes, &graph, SessionOptions { fallback: Fallback::Cpu, ..none() }).unwrap();
        assert!(max_error(&got, &want) <= 1e-5);
    }
    // With an adapter, the same plan on the GPU.
    let got = run_bytes(&bytes, &graph, SessionOptions::default()).unwrap();
    assert!(max_error(&got, &want) <= 1e-4);
}

/// A GPU plan mutated by `f`, loaded into a session: the error text.
fn corrupt(f: impl Fn(&mut hetc_plan::PlanMeta)) -> String {
    let (graph, mut plan) = small_gpu_plan();
    f(&mut plan.meta);
    let bytes = match plan.encode() {
        Ok(b) => b,
        Err(e) => return e.to_string(),
    };
    match run_bytes(&bytes, &graph, SessionOptions::default()) {
        Ok(_) => panic!("a corrupt GPU plan ran"),
        Err(e) => e.to_string(),
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn corrupt_gpu_plans_are_refused() {
    let cases: Vec<(&str, Box<dyn Fn(&mut hetc_plan::PlanMeta)>, &str)> = vec![
        ("shader text garbled", Box::new(|m| m.shaders[0].wgsl = "fn main( {".into()), "invalid"),
        ("entry point missing", Box::new(|m| m.shaders[0].entry_point = "nope".into()), "invalid"),
        (
            "read-only binding",
            Box::new(|m| m.shaders[0].wgsl = m.shaders[0].wgsl.replace("read_write", "read")),
            "invalid",
        ),
        ("workgroup too large", Box::new(|m| m.shaders[0].workgroup_size = [1 << 20, 1, 1]), "limits"),
        ("workgroup memory too large", Box::new(|m| m.shaders[0].workgroup_memory_bytes = u32::MAX), "limits"),
        (
            "too many workgroups",
            Box::new(|m| {
                let s = m.steps.iter_mut().find(|s| s.gpu.is_some()).unwrap();
                s.gpu.as_mut().unwrap().dispatches[0].workgroups = [u32::MAX, 1, 1];
            }),
            "limits",
        ),
        (
            "binding count differs between dispatches of a shader",
            Box::new(|m| {
                let s = m.steps.iter_mut().find(|s| s.gpu.is_some()).unwrap();
                let d = s.gpu.as_ref().unwrap().dispatches[0].clone();
                let mut fewer = d.clone();
                fewer.bindings.pop();
                s.gpu.as_mut().unwrap().dispatches.push(fewer);
            }),
            "bindings",
        ),
        ("GPU arena larger than any buffer", Box::new(|m| m.gpu_arena_bytes = 1 << 39), "limits"),
    ];
    for (what, f, expect) in cases {
        let e = corrupt(f);
        assert!(e.contains(expect), "{what}: {e}");
        assert!(!e.contains('\n'), "{what}: multi-line error {e:?}");
    }
}
