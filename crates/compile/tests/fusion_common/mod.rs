//! Small IR graphs built by hand for the fusion tests, and running them fused and unfused.
#![allow(dead_code)]

use hetc_compile::{CompileOptions, Fusion, compile_with_report};
use hetc_ir::ops::{
    Binary, BinaryKind, Concat, Conv, Gemm, Pad, PadMode, Pool, PoolKind, Reshape, Transpose, Unary, UnaryKind,
};
use hetc_ir::{DType, Graph, GraphOutput, Node, Op, Tensor, TensorType, ValueRef};
use hetc_runtime::{Plan, Session, SessionOptions};

/// Deterministic values in [-1, 1).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Builds a graph node by node, inferring each node's output types.
pub struct G {
    pub g: Graph,
    pub rng: Rng,
    n: usize,
}

impl G {
    pub fn new(name: &str, seed: u64) -> Self {
        G { g: Graph::new(name), rng: Rng(seed | 1), n: 0 }
    }

    pub fn input(&mut self, name: &str, shape: &[usize]) -> ValueRef {
        ValueRef { node: self.g.add_input(name, TensorType::new(DType::F32, shape.to_vec())), slot: 0 }
    }

    /// A constant of random values (`positive`: in [0.5, 1.5), for variances).
    pub fn constant(&mut self, shape: &[usize], positive: bool) -> ValueRef {
        let n: usize = shape.iter().product();
        let mut v = self.rng.vec(n);
        if positive {
            v.iter_mut().for_each(|x| *x = x.abs() + 0.5);
        }
        self.n += 1;
        let name = format!("w{}", self.n);
        ValueRef { node: self.g.add_constant(name, Tensor::from_f32(shape.to_vec(), &v)), slot: 0 }
    }

    pub fn scalar(&mut self, v: f32) -> ValueRef {
        self.n += 1;
        let name = format!("s{}", self.n);
        ValueRef { node: self.g.add_constant(name, Tensor::from_f32(vec![], &[v])), slot: 0 }
    }

    pub fn ty(&self, v: ValueRef) -> TensorType {
        self.g.value_type(v).clone()
    }

    pub fn op(&mut self, op: Op, inputs: &[Option<ValueRef>]) -> ValueRef {
        let types: Vec<Option<TensorType>> = inputs.iter().map(|v| v.map(|v| self.ty(v))).collect();
        let refs: Vec<Option<&TensorType>> = types.iter().map(Option::as_ref).collect();
        let outputs = op.infer(&refs).unwrap_or_else(|e| panic!("{op}: {e}"));
        self.n += 1;
        let name = format!("{}_{}", op.name().to_lowercase(), self.n);
        let id = self.g.add_node(Node {
            name: name.clone(),
            op,
            num_inputs: inputs.len(),
            outputs,
            output_names: vec![name],
        });
        for (slot, v) in inputs.iter().enumerate() {
            if let Some(v) = v {
                self.g.connect(*v, id, slot);
            }
        }
        ValueRef { node: id, slot: 0 }
    }

    pub fn output(&mut self, name: &str, v: ValueRef) {
        self.g.outputs.push(GraphOutput { name: name.into(), value: v });
    }

    pub fn conv(&mut self, x: ValueRef, m: usize, k: usize, pad: usize, bias: bool) -> ValueRef {
        self.conv_g(x, m, k, pad, 1, 1, bias)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn conv_g(
        &mut self,
        x: ValueRef,
        m: usize,
        k: usize,
        pad: usize,
        stride: usize,
        group: usize,
        bias: bool,
    ) -> ValueRef {
        let c = self.ty(x).shape[1];
        let w = self.constant(&[m, c / group, k, k], false);
        let b = bias.then(|| self.constant(&[m], false));
        let conv =
            Conv { kernel: vec![k, k], strides: vec![stride; 2], dilations: vec![1, 1], pads: vec![pad; 4], group };
        let inputs = if bias { vec![Some(x), Some(w), b] } else { vec![Some(x), Some(w)] };
        self.op(Op::Conv(conv), &inputs)
    }

    pub fn bn(&mut self, x: ValueRef) -> ValueRef {
        let c = self.ty(x).shape[1];
        let (g, b, m) = (self.constant(&[c], false), self.constant(&[c], false), self.constant(&[c], false));
        let v = self.constant(&[c], true);
        self.op(
            Op::BatchNorm(hetc_ir::ops::BatchNorm { epsilon: 1e-5 }),
            &[Some(x), Some(g), Some(b), Some(m), Some(v)],
        )
    }

    pub fn instance_norm(&mut self, x: ValueRef) -> ValueRef {
        let c = self.ty(x).shape[1];
        let (s, b) = (self.constant(&[c], false), self.constant(&[c], false));
        self.op(Op::InstanceNorm(hetc_ir::ops::InstanceNorm { epsilon: 1e-5 }), &[Some(x), Some(s), Some(b)])
    }

    pub fn unary(&mut self, x: ValueRef, kind: UnaryKind) -> ValueRef {
        self.op(Op::Unary(Unary { kind }), &[Some(x)])
    }

    pub fn binary(&mut self, a: ValueRef, b: ValueRef, kind: BinaryKind) -> ValueRef {
        self.op(Op::Binary(Binary { kind }), &[Some(a), Some(b)])
    }

    pub fn pad(&mut self, x: ValueRef, p: usize, value: f64) -> ValueRef {
        let r = self.ty(x).rank();
        let mut pads = vec![0i64; 2 * r];
        for d in 2..r {
            pads[d] = p as i64;
            pads[d + r] = p as i64;
        }
        self.op(Op::Pad(Pad { mode: PadMode::Constant, pads, value }), &[Some(x)])
    }

    pub fn pool(&mut self, x: ValueRef, kind: PoolKind, k: usize, stride: usize, pad: usize) -> ValueRef {
        let pool = Pool {
            kind,
            kernel: vec![k, k],
            strides: vec![stride; 2],
            dilations: vec![1, 1],
            pads: vec![pad; 4],
            ceil_mode: false,
        };
        self.op(Op::Pool(pool), &[Some(x)])
    }

    pub fn transpose(&mut self, x: ValueRef, perm: &[usize]) -> ValueRef {
        self.op(Op::Transpose(Transpose { perm: perm.to_vec() }), &[Some(x)])
    }

    pub fn reshape(&mut self, x: ValueRef, shape: &[usize]) -> ValueRef {
        self.op(Op::Reshape(Reshape { shape: shape.to_vec() }), &[Some(x)])
    }

    pub fn concat(&mut self, xs: &[ValueRef], axis: usize) -> ValueRef {
        let inputs: Vec<Option<ValueRef>> = xs.iter().map(|&v| Some(v)).collect();
        self.op(Op::Concat(Concat { axis }), &inputs)
    }

    pub fn gemm(&mut self, a: ValueRef, n: usize, bias: bool) -> ValueRef {
        let k = self.ty(a).shape[1];
        let b = self.constant(&[n, k], false);
        let c = bias.then(|| self.constant(&[n], false));
        let gemm = Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true };
        self.op(Op::Gemm(gemm), &[Some(a), Some(b), c])
    }
}

/// The kernel names of the plan's steps.
pub fn kernels(graph: &Graph, fusion: Fusion) -> Vec<&'static str> {
    let options = CompileOptions { fusion, ..Default::default() };
    let (plan, _) = compile_with_report(graph, &options).unwrap_or_else(|e| panic!("{fusion:?}: {e}"));
    plan.meta.steps.iter().map(|s| s.kernel.name()).collect()
}

pub fn compile(graph: &Graph, fusion: Fusion) -> Vec<u8> {
    let options = CompileOptions { fusion, ..Default::default() };
    let (plan, _) = compile_with_report(graph, &options).unwrap_or_else(|e| panic!("{fusion:?}: {e}"));
    plan.encode().expect("compiled plans encode")
}

/// The graph's outputs for deterministic inputs, from a plan compiled with `fusion`.
pub fn run(graph: &Graph, fusion: Fusion, threads: usize) -> Vec<hetc_runtime::Tensor> {
    let bytes = compile(graph, fusion);
    let plan = Plan::from_bytes(&bytes).expect("plans load");
    let mut session = Session::new(&plan, SessionOptions { threads, ..Default::default() }).expect("plans prepare");
    let mut rng = Rng(7);
    let inputs: Vec<(String, hetc_runtime::Tensor)> = graph
        .inputs
        .iter()
        .map(|&i| {
            let n = graph.node(i);
            let shape = n.outputs[0].shape.clone();
            let data = rng.vec(shape.iter().product());
            (n.name.clone(), hetc_runtime::Tensor::new(shape, data).unwrap())
        })
        .collect();
    let feeds: Vec<(&str, &hetc_runtime::Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    session.run(&feeds).expect("plans run").into_iter().map(|(_, t)| t).collect()
}

/// Largest `|a - b| / max(1, max |b|)` over the outputs; panics on a shape mismatch.
pub fn max_error(a: &[hetc_runtime::Tensor], b: &[hetc_runtime::Tensor]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.shape, y.shape);
        let scale = y.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (p, q) in x.data.iter().zip(&y.data) {
            let e = if p.is_nan() && q.is_nan() { 0.0 } else { (p - q).abs() / scale };
            worst = worst.max(if e.is_nan() { f32::INFINITY } else { e });
        }
    }
    worst
}

/// Runs `graph` unfused and fused (1 and 2 threads) and checks they agree.
pub fn assert_fusion_keeps_outputs(graph: &Graph) {
    let reference = run(graph, Fusion::None, 1);
    for threads in [1, 2] {
        let fused = run(graph, Fusion::Egg, threads);
        let e = max_error(&fused, &reference);
        assert!(e <= 1e-4, "{}: fused and unfused outputs differ by {e}", graph.name);
    }
}

/// The IR dump before and after the fusion pass, for snapshots.
pub fn before_after(graph: &Graph) -> String {
    let mut fused = graph.clone();
    let pass = hetc_pass_fusion::FusionPass::<hetc_pass_fusion::FlopsBytesModel>::default();
    let report = hetc_ir::pass::run_checked(&pass, &mut fused).expect("the pass succeeds and checks");
    assert_eq!(report.refused_unions, 0, "a rule built a node of the wrong type");
    format!("before:\n{}\nafter:\n{}", hetc_ir::text::dump(graph).unwrap(), hetc_ir::text::dump(&fused).unwrap())
}
