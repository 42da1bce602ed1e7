//! The shapes `hetc profile` measures: single-op graphs drawn from grids that cover the shared
//! models' ranges (channels 3 to 2048, feature maps 7x7 to 320x320, the kernel sizes, strides
//! and groups they use, and their elementwise, pooling, normalisation and data-movement ops).
//!
//! Draws are deterministic per seed: the fit set uses [`FIT_SEED`], the held-out set of
//! `--evaluate` [`HOLDOUT_SEED`], with every case whose description is in the fit set
//! removed, so held-out shapes are never ones the coefficients saw.

use hetc_compile::Fusion;
use hetc_ir::ops::{
    BatchNorm, Binary, BinaryKind, Concat, Conv, CoordTransform, Gemm, GlobalPool, InstanceNorm, NearestMode, Pad,
    PadMode, Pool, PoolKind, Resize, ResizeMode, Softmax, Transpose, Unary, UnaryKind,
};
use hetc_ir::{DType, Graph, GraphOutput, Node, Op, Tensor, TensorType, ValueRef};

pub const FIT_SEED: u64 = 0x5eed_0001;
pub const HOLDOUT_SEED: u64 = 0x5eed_0002;

/// One graph to measure.
pub struct Case {
    /// What it is, e.g. `conv k3 s1 g1 64->128 @56`; unique per shape.
    pub label: String,
    pub graph: Graph,
    pub fusion: Fusion,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Builds a graph node by node.
struct G {
    g: Graph,
    n: usize,
    rng: Rng,
}

impl G {
    fn new(seed: u64) -> G {
        G { g: Graph::new("profile"), n: 0, rng: Rng(seed | 1) }
    }
    fn input(&mut self, shape: &[usize]) -> ValueRef {
        self.n += 1;
        let name = format!("x{}", self.n);
        ValueRef { node: self.g.add_input(name, TensorType::new(DType::F32, shape.to_vec())), slot: 0 }
    }
    fn constant(&mut self, shape: &[usize], positive: bool) -> ValueRef {
        let n: usize = shape.iter().product();
        let v: Vec<f32> =
            (0..n).map(|_| if positive { self.rng.f32().abs() + 0.5 } else { self.rng.f32() * 0.1 }).collect();
        self.n += 1;
        ValueRef { node: self.g.add_constant(format!("w{}", self.n), Tensor::from_f32(shape.to_vec(), &v)), slot: 0 }
    }
    fn op(&mut self, op: Op, inputs: &[ValueRef]) -> Option<ValueRef> {
        let types: Vec<TensorType> = inputs.iter().map(|v| self.g.value_type(*v).clone()).collect();
        let refs: Vec<Option<&TensorType>> = types.iter().map(Some).collect();
        let outputs = op.infer(&refs).ok()?;
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
            self.g.connect(*v, id, slot);
        }
        Some(ValueRef { node: id, slot: 0 })
    }
    /// The graph built so far, with `out` as its output.
    fn take(&mut self, out: ValueRef) -> Graph {
        let mut graph = std::mem::replace(&mut self.g, Graph::new("profile"));
        graph.outputs.push(GraphOutput { name: "y".into(), value: out });
        graph
    }
}

const CH: &[usize] = &[8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 576, 768, 960, 1024];
const HW: &[usize] = &[7, 10, 14, 20, 28, 40, 56, 80, 112, 160, 208, 320];

/// The most FLOPs one measured convolution may have (a few tens of milliseconds on 2 cores):
/// larger layers are predicted by the same forms, which are linear in the work.
const MAX_CONV_FLOPS: f64 = 1.2e9;
/// The most elements of one streaming op's output.
const MAX_STREAM_ELEMS: usize = 6_000_000;

fn conv_case(g: &mut G, c: usize, m: usize, hw: usize, k: usize, stride: usize, group: usize) -> Option<Case> {
    let pad = k / 2;
    let x = g.input(&[1, c, hw, hw]);
    let w = g.constant(&[m, c / group, k, k], false);
    let b = g.constant(&[m], false);
    let conv = Conv { kernel: vec![k, k], strides: vec![stride; 2], dilations: vec![1, 1], pads: vec![pad; 4], group };
    let y = g.op(Op::Conv(conv), &[x, w, b])?;
    // A ReLU epilogue, as in the models (fusion puts it in the convolution's epilogue).
    let y = g.op(Op::Unary(Unary { kind: UnaryKind::Relu }), &[y])?;
    Some(Case { label: format!("conv k{k} s{stride} g{group} {c}->{m} @{hw}"), graph: g.take(y), fusion: Fusion::Egg })
}

fn conv_flops(c: usize, m: usize, hw: usize, k: usize, stride: usize, group: usize) -> f64 {
    let o = hw.div_ceil(stride) as f64;
    2.0 * (m * (c / group) * k * k) as f64 * o * o
}

/// Draws one convolution; `None` when the draw is out of bounds (the caller draws again).
fn draw_conv(r: &mut Rng) -> Option<(usize, usize, usize, usize, usize, usize)> {
    let kind = r.next() % 6;
    let hw = r.pick(HW);
    let (c, m, k, s, g) = match kind {
        // Pointwise (1x1 GEMM).
        0 | 1 => (r.pick(CH), r.pick(CH), 1, 1, 1),
        // 3x3 stride 1 (Winograd where the compiler picks it, im2col otherwise).
        2 => (r.pick(&CH[..14]), r.pick(&CH[..14]), 3, 1, 1),
        // Strided and large windows (im2col): stems, downsampling, style transfer's 9x9.
        3 => {
            let k = r.pick(&[3, 3, 5, 7, 9]);
            let c = r.pick(&[3, 8, 16, 32, 64, 128, 256]);
            (c, r.pick(&CH[..12]), k, r.pick(&[1, 2, 2]), 1)
        }
        // Depthwise.
        4 => {
            let c = r.pick(&CH[..17]);
            (c, c, r.pick(&[3, 3, 5]), r.pick(&[1, 1, 2]), c)
        }
        // Grouped (RegNet's group width 24, and others).
        _ => {
            let cg = r.pick(&[8, 16, 24, 48]);
            let groups = r.pick(&[2, 3, 4, 7, 8, 17, 38]);
            (cg * groups, cg * groups, 3, r.pick(&[1, 1, 2]), groups)
        }
    };
    (hw >= k && conv_flops(c, m, hw, k, s, g) <= MAX_CONV_FLOPS && c * hw * hw <= 8_000_000)
        .then_some((c, m, hw, k, s, g))
}

/// A streaming, pooling or GEMM case; `None` when the draw is out of bounds.
fn draw_other(r: &mut Rng, g: &mut G) -> Option<Case> {
    let c = r.pick(&[3, 8, 16, 32, 64, 128, 256, 512, 1024]);
    let hw = r.pick(HW);
    let elems = c * hw * hw;
    if elems > MAX_STREAM_ELEMS {
        return None;
    }
    let shape = [1, c, hw, hw];
    let kind = r.next() % 14;
    let unary = |g: &mut G, kind: UnaryKind, label: &str| {
        let x = g.input(&shape);
        let y = g.op(Op::Unary(Unary { kind }), &[x])?;
        Some((y, format!("{label} {c}@{hw}"), Fusion::None))
    };
    let built = match kind {
        0 => unary(g, UnaryKind::Relu, "relu"),
        1 => unary(g, UnaryKind::Sigmoid, "sigmoid"),
        2 => unary(
            g,
            r.pick(&[UnaryKind::LeakyRelu { alpha: 0.1 }, UnaryKind::Clip { min: 0.0, max: 6.0 }]),
            "leakyrelu|clip",
        ),
        3 => {
            let x = g.input(&shape);
            let y = g.input(&shape);
            let z = g.op(Op::Binary(Binary { kind: BinaryKind::Add }), &[x, y])?;
            Some((z, format!("add {c}@{hw}"), Fusion::None))
        }
        4 => {
            // A fused elementwise chain (hard-swish as in PP-OCR: x * hardsigmoid(x) + y).
            let x = g.input(&shape);
            let y = g.input(&shape);
            let hs = g.op(Op::Unary(Unary { kind: UnaryKind::HardSigmoid { alpha: 0.2, beta: 0.5 } }), &[x])?;
            let m = g.op(Op::Binary(Binary { kind: BinaryKind::Mul }), &[x, hs])?;
            let z = g.op(Op::Binary(Binary { kind: BinaryKind::Add }), &[m, y])?;
            Some((z, format!("chain {c}@{hw}"), Fusion::Egg))
        }
        5 => {
            let (k, s) = r.pick(&[(2, 2), (3, 2), (2, 1), (3, 1)]);
            let kind = r.pick(&[PoolKind::Max, PoolKind::Max, PoolKind::Average { count_include_pad: false }]);
            let pad = if k == 3 { 1 } else { 0 };
            let x = g.input(&shape);
            let p = Pool {
                kind,
                kernel: vec![k, k],
                strides: vec![s, s],
                dilations: vec![1, 1],
                pads: vec![pad; 4],
                ceil_mode: false,
            };
            let y = g.op(Op::Pool(p), &[x])?;
            Some((y, format!("pool {} k{k} s{s} {c}@{hw}", kind.name()), Fusion::None))
        }
        6 => {
            let x = g.input(&shape);
            let y = g.op(Op::GlobalPool(GlobalPool { kind: PoolKind::Average { count_include_pad: false } }), &[x])?;
            Some((y, format!("gap {c}@{hw}"), Fusion::None))
        }
        7 => {
            let x = g.input(&shape);
            let (s, b) = (g.constant(&[c], true), g.constant(&[c], false));
            let y = g.op(Op::InstanceNorm(InstanceNorm { epsilon: 1e-5 }), &[x, s, b])?;
            Some((y, format!("instnorm {c}@{hw}"), Fusion::None))
        }
        8 => {
            if elems * 4 > MAX_STREAM_ELEMS {
                return None;
            }
            let mode = r.pick(&[ResizeMode::Nearest, ResizeMode::Linear]);
            let x = g.input(&shape);
            let rz = Resize {
                mode,
                coord: if mode == ResizeMode::Nearest { CoordTransform::Asymmetric } else { CoordTransform::HalfPixel },
                nearest: NearestMode::Floor,
                cubic_coeff_a: -0.75,
                exclude_outside: false,
                extrapolation_value: 0.0,
                scales: vec![1.0, 1.0, 2.0, 2.0],
                out_shape: vec![1, c, 2 * hw, 2 * hw],
                roi: vec![],
            };
            let y = g.op(Op::Resize(rz), &[x])?;
            Some((y, format!("resize {mode:?} {c}@{hw}"), Fusion::None))
        }
        9 => {
            let p = r.pick(&[1, 4]);
            let mode = r.pick(&[PadMode::Reflect, PadMode::Constant]);
            if hw <= p {
                return None;
            }
            let x = g.input(&shape);
            let q = p as i64;
            let y = g.op(Op::Pad(Pad { mode, pads: vec![0, 0, q, q, 0, 0, q, q], value: 0.0 }), &[x])?;
            Some((y, format!("pad {mode:?} {p} {c}@{hw}"), Fusion::None))
        }
        10 => {
            let x = g.input(&shape);
            let y = g.op(Op::Transpose(Transpose { perm: vec![0, 2, 3, 1] }), &[x])?;
            Some((y, format!("transpose {c}@{hw}"), Fusion::None))
        }
        11 => {
            let x = g.input(&shape);
            let (sc, b, mean) = (g.constant(&[c], true), g.constant(&[c], false), g.constant(&[c], false));
            let var = g.constant(&[c], true);
            let y = g.op(Op::BatchNorm(BatchNorm { epsilon: 1e-5 }), &[x, sc, b, mean, var])?;
            Some((y, format!("batchnorm {c}@{hw}"), Fusion::None))
        }
        12 => {
            // Softmax over the last axis of a [1, n, k] tensor (RetinaFace's class scores).
            let k = r.pick(&[2, 4, 10, 1000]);
            let n = elems / k;
            if n == 0 {
                return None;
            }
            let x = g.input(&[1, n, k]);
            let y = g.op(Op::Softmax(Softmax { axis: 2, coerce_2d: false, log: false }), &[x])?;
            Some((y, format!("softmax {n}x{k}"), Fusion::None))
        }
        _ => {
            let r2 = r.next() % 3;
            if r2 == 0 {
                // Fully connected layers (classifier heads).
                let k = r.pick(&[256, 512, 1024, 1280, 2048, 4096, 25088]);
                let n = r.pick(&[10, 100, 1000, 4096]);
                if (k * n) as f64 > 1.1e8 {
                    return None;
                }
                let x = g.input(&[1, k]);
                let w = g.constant(&[n, k], false);
                let b = g.constant(&[n], false);
                let gemm = Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true };
                let y = g.op(Op::Gemm(gemm), &[x, w, b])?;
                Some((y, format!("gemm {k}->{n}"), Fusion::None))
            } else {
                let x = g.input(&shape);
                let y = g.input(&shape);
                let z = g.op(Op::Concat(Concat { axis: 1 }), &[x, y])?;
                Some((z, format!("concat {c}@{hw}"), Fusion::None))
            }
        }
    };
    let (y, label, fusion) = built?;
    Some(Case { label, graph: g.take(y), fusion })
}

/// Cases drawn one by one with a seed, alternating convolutions and other ops (two to one,
/// as convolutions dominate the models' time), skipping excluded labels and repeats. Drawn
/// lazily: building a case makes its weights, which a sweep cut short by its budget should
/// not pay for.
pub struct Draws {
    r: Rng,
    seen: std::collections::HashSet<String>,
    made: usize,
    count: usize,
}

impl Draws {
    pub fn new(seed: u64, count: usize, exclude: &std::collections::HashSet<String>) -> Draws {
        Draws { r: Rng(seed | 1), seen: exclude.clone(), made: 0, count }
    }

    /// How many cases the draw yields at most.
    pub fn limit(&self) -> usize {
        self.count
    }
}

impl Iterator for Draws {
    type Item = Case;

    fn next(&mut self) -> Option<Case> {
        // Out-of-bounds draws and repeats are retried; the bound only guards against a grid
        // too small for `count`.
        for _ in 0..200 {
            if self.made >= self.count {
                return None;
            }
            let r = &mut self.r;
            let mut g = G::new(r.next());
            let case = if self.made % 3 != 2 {
                draw_conv(r).and_then(|(c, m, hw, k, s, grp)| conv_case(&mut g, c, m, hw, k, s, grp))
            } else {
                draw_other(r, &mut g)
            };
            if let Some(case) = case
                && self.seen.insert(case.label.clone())
            {
                self.made += 1;
                return Some(case);
            }
        }
        None
    }
}

/// The first `count` cases drawn with `seed` (see [`Draws`]).
pub fn cases(seed: u64, count: usize, exclude: &std::collections::HashSet<String>) -> Vec<Case> {
    Draws::new(seed, count, exclude).collect()
}

/// The labels of the first `count` fit-set cases (for excluding them from held-out sets).
pub fn fit_labels(count: usize) -> std::collections::HashSet<String> {
    cases(FIT_SEED, count, &Default::default()).into_iter().map(|c| c.label).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_cases_are_not_in_the_fit_set() {
        let fit = fit_labels(120);
        let held = cases(HOLDOUT_SEED, 60, &fit);
        assert!(held.len() >= 50);
        assert!(held.iter().all(|c| !fit.contains(&c.label)));
    }

    #[test]
    fn draws_are_deterministic() {
        let a: Vec<String> = cases(FIT_SEED, 30, &Default::default()).into_iter().map(|c| c.label).collect();
        let b: Vec<String> = cases(FIT_SEED, 30, &Default::default()).into_iter().map(|c| c.label).collect();
        assert_eq!(a, b);
    }
}
