//! What a plan step asks of its kernel: which implementation runs it (the kernel key) and
//! the sizes its analytical form needs.
//!
//! The convolution implementation comes from the runtime's own dispatch function
//! ([`hetc_runtime::cpu::introspect::conv_impl`]), so the predictor models the kernel that
//! really runs.

use crate::PredictError;
use hetc_plan::{Activation, ConvAlgo, ElementwiseOp, Kernel, PlanMeta, ResizeMode, Step, UnaryFn, winograd::Variant};
use hetc_runtime::cpu::introspect::{ConvImpl, CpuIsa, conv_impl, conv_threads};
use hetc_runtime::cpu::kernels::conv::Conv2d;

/// The families of analytical forms (see [`crate::features`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Matrix products (convolutions as GEMM, Gemm, MatMul, ConvTranspose): blocked compute.
    Gemm,
    /// Winograd convolutions: tile transforms and a blocked product per tile.
    Winograd,
    /// Sliding windows over planes (depthwise convolution, pooling).
    Window,
    /// Memory-bound streaming kernels: bytes moved plus cheap and transcendental operations.
    Stream,
    /// A copy between processors' memories (data sharing for co-execution).
    Transfer,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Gemm => "gemm",
            Family::Winograd => "winograd",
            Family::Window => "window",
            Family::Stream => "stream",
            Family::Transfer => "transfer",
        }
    }
}

/// The sizes of one step that its family's form reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizes {
    /// `batch` independent products `[m, k] x [k, n]`; `unfold` elements written by im2col
    /// (0 without unfolding); `in_bytes` of inputs and weights read, `out_bytes` written.
    Gemm { batch: f64, m: f64, n: f64, k: f64, unfold: f64, in_bytes: f64, out_bytes: f64 },
    /// `tiles` output tiles of `alpha` points each, `c` input and `m` output channels.
    Winograd { tiles: f64, alpha: f64, c: f64, m: f64 },
    /// `planes` (image x channel) of `out_px` outputs in rows of `out_w`, with `window` taps,
    /// reading `in_px`.
    Window { planes: f64, out_px: f64, out_w: f64, in_px: f64, window: f64 },
    /// `elems` output elements, `bytes` read and written, `cheap` simple and `heavy`
    /// transcendental operations per output element.
    Stream { elems: f64, bytes: f64, cheap: f64, heavy: f64 },
    /// `bytes` moved.
    Transfer { bytes: f64 },
}

/// One step as the predictor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The kernel implementation, e.g. `conv_im2col_gemm`, `conv_winograd_f4`, `binary`.
    pub key: String,
    pub family: Family,
    pub sizes: Sizes,
    /// Worker threads the kernel may use (the session's, or fewer where the runtime says so).
    pub threads: usize,
    /// FLOPs as `hetc inspect` counts them (2 per multiply-add; elements for the rest), for the
    /// FLOPs-linear baseline.
    pub flops: f64,
}

fn shape(meta: &PlanMeta, id: u32) -> Result<Vec<usize>, PredictError> {
    let t = meta.tensors.get(id as usize).ok_or_else(|| PredictError::BadStep(format!("tensor {id} out of range")))?;
    Ok(t.shape.iter().map(|&d| d as usize).collect())
}

fn numel(s: &[usize]) -> f64 {
    s.iter().product::<usize>() as f64
}

fn dims4(s: &[usize], what: &str) -> Result<[usize; 4], PredictError> {
    match s {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        _ => Err(PredictError::BadStep(format!("{what} is not 4-D: {s:?}"))),
    }
}

/// Cost of an activation in (cheap, heavy) operations per element.
fn activation_ops(a: Activation) -> (f64, f64) {
    match a {
        Activation::Identity => (0.0, 0.0),
        Activation::Sigmoid
        | Activation::Tanh
        | Activation::Elu { .. }
        | Activation::Selu { .. }
        | Activation::Celu { .. }
        | Activation::Softplus
        | Activation::Mish => (1.0, 1.0),
        _ => (2.0, 0.0),
    }
}

fn unary_ops(f: UnaryFn) -> (f64, f64) {
    match f {
        UnaryFn::Neg
        | UnaryFn::Abs
        | UnaryFn::Floor
        | UnaryFn::Ceil
        | UnaryFn::Round
        | UnaryFn::Sign
        | UnaryFn::Sqrt
        | UnaryFn::Reciprocal => (1.0, 0.0),
        _ => (1.0, 1.0),
    }
}

/// The workload of `step` of `meta` on a CPU with `isa` and `threads` worker threads.
pub fn cpu_workload(meta: &PlanMeta, step: &Step, isa: CpuIsa, threads: usize) -> Result<Workload, PredictError> {
    let threads = threads.max(1);
    let ins: Vec<Vec<usize>> = step.inputs.iter().map(|&i| shape(meta, i)).collect::<Result<_, _>>()?;
    let outs: Vec<Vec<usize>> = step.outputs.iter().map(|&i| shape(meta, i)).collect::<Result<_, _>>()?;
    let first_in = |i: usize| ins.get(i).ok_or_else(|| PredictError::BadStep(format!("{}: no input {i}", step.name)));
    let out0 = outs.first().ok_or_else(|| PredictError::BadStep(format!("{}: no output", step.name)))?;
    let in_elems: f64 = ins.iter().map(|s| numel(s)).sum();
    let out_elems: f64 = outs.iter().map(|s| numel(s)).sum();
    let io_bytes = 4.0 * (in_elems + out_elems);
    let stream = |key: &str, cheap: f64, heavy: f64, bytes: f64| Workload {
        key: key.into(),
        family: Family::Stream,
        sizes: Sizes::Stream { elems: out_elems, bytes, cheap, heavy },
        threads,
        flops: out_elems * (cheap + heavy).max(1.0),
    };
    let w = match &step.kernel {
        Kernel::Conv(c) => {
            let x = dims4(first_in(0)?, "conv input")?;
            let y = dims4(out0, "conv output")?;
            let g = Conv2d::from_params(c, x, y);
            let imp = conv_impl(&g, c.algo, isa);
            let t = conv_threads(&g, imp, threads);
            let flops = g.flops() as f64;
            let group = g.group.max(1);
            let (cg, mg) = (g.c / group, g.m / group);
            let pix = (g.oh * g.ow) as f64;
            let k = (cg * g.kh * g.kw) as f64;
            let gemm = |key: &str, unfold: f64| Workload {
                key: key.into(),
                family: Family::Gemm,
                sizes: Sizes::Gemm {
                    batch: (g.n * group) as f64,
                    m: mg as f64,
                    n: pix,
                    k,
                    unfold,
                    in_bytes: 4.0 * in_elems,
                    out_bytes: 4.0 * out_elems,
                },
                threads: t,
                flops,
            };
            match imp {
                ConvImpl::Winograd => {
                    let variant = Variant::of_weight_shape(first_in(1)?, g.m, g.c)
                        .ok_or_else(|| PredictError::BadStep(format!("{}: weights are not Winograd's", step.name)))?;
                    let (key, tile) = match variant {
                        Variant::F4x4 => ("conv_winograd_f4", 4),
                        Variant::F2x2 => ("conv_winograd_f2", 2),
                    };
                    let tiles = (g.n * g.oh.div_ceil(tile) * g.ow.div_ceil(tile)) as f64;
                    let alpha = ((tile + 2) * (tile + 2)) as f64;
                    Workload {
                        key: key.into(),
                        family: Family::Winograd,
                        sizes: Sizes::Winograd { tiles, alpha, c: g.c as f64, m: g.m as f64 },
                        threads: t,
                        flops,
                    }
                }
                ConvImpl::DepthwiseAvx512
                | ConvImpl::DepthwiseFlatAvx512
                | ConvImpl::DepthwiseAvx2
                | ConvImpl::DepthwiseDirect => Workload {
                    key: imp.name().into(),
                    family: Family::Window,
                    sizes: Sizes::Window {
                        planes: (g.n * g.m) as f64,
                        out_px: pix,
                        out_w: g.ow as f64,
                        in_px: (g.h * g.w) as f64,
                        window: (g.kh * g.kw) as f64,
                    },
                    threads: t,
                    flops,
                },
                ConvImpl::PointwiseAvx512 | ConvImpl::PointwiseGemm => gemm(imp.name(), 0.0),
                ConvImpl::GroupedAvx512 | ConvImpl::Im2colGemm => gemm(imp.name(), (g.n * group) as f64 * k * pix),
                ConvImpl::Empty => stream(imp.name(), 1.0, 0.0, io_bytes),
            }
        }
        Kernel::ConvTranspose(c) => {
            let x = dims4(first_in(0)?, "conv transpose input")?;
            let y = dims4(out0, "conv transpose output")?;
            let g = Conv2d::from_transpose_params(c, x, y);
            let group = g.group.max(1);
            let (kdim, pix) = ((g.m / group * g.kh * g.kw) as f64, (g.h * g.w) as f64);
            Workload {
                key: "conv_transpose".into(),
                family: Family::Gemm,
                sizes: Sizes::Gemm {
                    batch: (g.n * group) as f64,
                    m: kdim,
                    n: pix,
                    k: (g.c / group) as f64,
                    unfold: (g.n * group) as f64 * kdim * pix,
                    in_bytes: 4.0 * in_elems,
                    out_bytes: 4.0 * out_elems,
                },
                threads,
                flops: g.flops() as f64,
            }
        }
        Kernel::Gemm { trans_a, .. } => {
            let a = first_in(0)?;
            if a.len() != 2 || out0.len() != 2 {
                return Err(PredictError::BadStep(format!("{}: Gemm operands are not 2-D", step.name)));
            }
            let (m, k) = if *trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
            let n = out0[1];
            Workload {
                key: "gemm".into(),
                family: Family::Gemm,
                // Written as `out^T = B^T A^T` the n outputs are the long dimension; the form
                // only needs the three sizes.
                sizes: Sizes::Gemm {
                    batch: 1.0,
                    m: n as f64,
                    n: m as f64,
                    k: k as f64,
                    unfold: 0.0,
                    in_bytes: 4.0 * in_elems,
                    out_bytes: 4.0 * out_elems,
                },
                threads,
                flops: 2.0 * (m * n * k) as f64,
            }
        }
        Kernel::MatMul => {
            let (a, b) = (first_in(0)?, first_in(1)?);
            let k = *a.last().unwrap_or(&1) as f64;
            let (m, n) = (out0.iter().rev().nth(1).copied().unwrap_or(1), *out0.last().unwrap_or(&1));
            let batch = out_elems / (m * n).max(1) as f64;
            let _ = b;
            Workload {
                key: "matmul".into(),
                family: Family::Gemm,
                sizes: Sizes::Gemm {
                    batch,
                    m: n as f64,
                    n: m as f64,
                    k,
                    unfold: 0.0,
                    in_bytes: 4.0 * in_elems,
                    out_bytes: 4.0 * out_elems,
                },
                threads,
                flops: 2.0 * out_elems * k,
            }
        }
        Kernel::Pool(p) => {
            let x = dims4(first_in(0)?, "pool input")?;
            let y = dims4(out0, "pool output")?;
            let key = match p.kind {
                hetc_plan::PoolKind::Max => "pool_max",
                hetc_plan::PoolKind::Average { .. } => "pool_avg",
            };
            let window = (p.kernel[0] * p.kernel[1]) as f64;
            Workload {
                key: key.into(),
                family: Family::Window,
                sizes: Sizes::Window {
                    planes: (y[0] * y[1]) as f64,
                    out_px: (y[2] * y[3]) as f64,
                    out_w: y[3] as f64,
                    in_px: (x[2] * x[3]) as f64,
                    window,
                },
                threads,
                flops: out_elems * window,
            }
        }
        Kernel::GlobalPool { .. } => stream("global_pool", 1.0, 0.0, io_bytes),
        Kernel::ChannelAffine { activation } => {
            let (c, h) = activation_ops(*activation);
            stream("channel_affine", 2.0 + c, h, 8.0 * out_elems)
        }
        Kernel::InstanceNorm { .. } => stream("instance_norm", 5.0, 0.0, 4.0 * (2.0 * numel(first_in(0)?) + out_elems)),
        Kernel::FusedInstanceNorm { has_residual, activation, .. } => {
            let (c, h) = activation_ops(*activation);
            let residual = if *has_residual { 1.0 } else { 0.0 };
            stream("instance_norm", 5.0 + residual + c, h, 4.0 * ((2.0 + residual) * out_elems + out_elems))
        }
        Kernel::Activation(a) => {
            let (c, h) = activation_ops(*a);
            stream("activation", c.max(1.0), h, 8.0 * out_elems)
        }
        Kernel::Unary(f) => {
            let (c, h) = unary_ops(*f);
            stream("unary", c, h, 8.0 * out_elems)
        }
        Kernel::Binary { activation, .. } => {
            let (c, h) = activation_ops(*activation);
            stream("binary", 1.0 + c, h, io_bytes)
        }
        Kernel::Elementwise { program } => {
            let (mut cheap, mut heavy) = (0.0, 0.0);
            for i in program {
                let (c, h) = match i.op {
                    ElementwiseOp::Activation(a) => activation_ops(a),
                    ElementwiseOp::Unary(f) => unary_ops(f),
                    ElementwiseOp::Binary(_) => (1.0, 0.0),
                };
                cheap += c;
                heavy += h;
            }
            stream("elementwise", cheap, heavy, io_bytes)
        }
        Kernel::Softmax { .. } => stream("softmax", 3.0, 1.0, 4.0 * (2.0 * in_elems + out_elems)),
        Kernel::Resize(r) => {
            let (key, taps) = match r.mode {
                ResizeMode::Nearest => ("resize_nearest", 1.0),
                ResizeMode::Linear => ("resize_linear", 4.0),
                ResizeMode::Cubic => ("resize_cubic", 16.0),
            };
            stream(key, taps, 0.0, io_bytes)
        }
        Kernel::Pad { .. } => stream("pad", 0.0, 0.0, io_bytes),
        Kernel::Concat { .. } => stream("concat", 0.0, 0.0, io_bytes),
        Kernel::Split { .. } => stream("split", 0.0, 0.0, io_bytes),
        Kernel::Slice { .. } => stream("slice", 0.0, 0.0, 8.0 * out_elems),
        Kernel::Transpose { .. } => stream("transpose", 0.0, 0.0, io_bytes),
        Kernel::Expand => stream("expand", 0.0, 0.0, 8.0 * out_elems),
        Kernel::Copy => stream("copy", 0.0, 0.0, io_bytes),
        Kernel::Reduce { .. } => stream("reduce", 1.0, 0.0, io_bytes),
        Kernel::Upload | Kernel::Download => Workload {
            key: "transfer".into(),
            family: Family::Transfer,
            sizes: Sizes::Transfer { bytes: 4.0 * out_elems },
            threads,
            flops: 0.0,
        },
    };
    let _ = ConvAlgo::Pointwise;
    Ok(w)
}

/// Prefix of GPU kernel keys.
pub const GPU_KEY_PREFIX: &str = "gpu_";

/// The workload of GPU compute step `step` of `meta`: the sizes its CPU counterpart has (the
/// same family and form), keyed by the shader of its first dispatch (`gpu_<shader>`: the
/// WGSL generator's choice, e.g. a tiled product or a direct depthwise kernel), one thread.
pub fn gpu_workload(meta: &PlanMeta, step: &Step) -> Result<Workload, PredictError> {
    let shader = step
        .gpu
        .as_ref()
        .and_then(|g| g.dispatches.first())
        .and_then(|d| meta.shaders.get(d.shader as usize))
        .ok_or_else(|| PredictError::BadStep(format!("{}: a GPU step without a shader", step.name)))?;
    // The CPU's convolution dispatch does not apply: key by the shader, size as im2col.
    let isa = CpuIsa { avx512: false, avx2: false };
    let mut w = cpu_workload(meta, step, isa, 1)?;
    w.key = format!("{GPU_KEY_PREFIX}{}", shader.name);
    w.threads = 1;
    Ok(w)
}
