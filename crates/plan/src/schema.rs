//! The plan's metadata: tensors, steps and their kernels.
//!
//! This is the compiler/runtime contract. It is deliberately independent of the compiler's IR:
//! the runtime must not depend on prost, petgraph or egg. Changing a type here changes the
//! encoding, so [`crate::FORMAT_VERSION`] must be bumped with it.

use serde::{Deserialize, Serialize};

/// Index into [`PlanMeta::tensors`].
pub type TensorId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    F32,
    F16,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    BF16,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Storage {
    /// In the CPU's activation arena, at this byte offset. Tensors whose lifetimes do not
    /// overlap share bytes; a reshape's output shares its input's bytes.
    Arena { offset: u64 },
    /// In the plan's weight section, at this byte offset (64-byte aligned), read in place.
    /// A weight that GPU steps read is uploaded to GPU memory once, when a session starts.
    Weight { offset: u64 },
    /// In the GPU's activation arena ([`PlanMeta::gpu_arena_bytes`]), at this byte offset
    /// ([`GPU_ARENA_ALIGN`]-aligned, so that any tensor can be bound on its own).
    GpuArena { offset: u64 },
}

impl Storage {
    /// The memory space the tensor lives in, `None` for weights (readable by every processor).
    pub fn device(&self) -> Option<Device> {
        match self {
            Storage::Arena { .. } => Some(Device::Cpu),
            Storage::GpuArena { .. } => Some(Device::Gpu),
            Storage::Weight { .. } => None,
        }
    }
}

/// Alignment of every GPU-arena offset: WebGPU's largest `minStorageBufferOffsetAlignment`.
pub const GPU_ARENA_ALIGN: u64 = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub storage: Storage,
}

impl TensorDesc {
    /// Element count, `None` on overflow (only possible in a corrupt plan).
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    pub fn byte_size(&self) -> Option<u64> {
        self.numel()?.checked_mul(self.dtype.size() as u64)
    }
}

/// A named model input or output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub name: String,
    pub tensor: TensorId,
}

/// Which processor runs a step, and which memory space an activation lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Device {
    Cpu,
    /// The GPU, through WebGPU (wgpu): steps carry compute-shader dispatches ([`GpuWork`]).
    Gpu,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        }
    }
}

/// An activation applied in a kernel's epilogue or on its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu { alpha: f32 },
    Clip { min: f32, max: f32 },
    Sigmoid,
    HardSigmoid { alpha: f32, beta: f32 },
    HardSwish,
    Tanh,
    Elu { alpha: f32 },
    Selu { alpha: f32, gamma: f32 },
    Celu { alpha: f32 },
    ThresholdedRelu { alpha: f32 },
    Softplus,
    Softsign,
    Mish,
}

/// Elementwise functions with one input that are not activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryFn {
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Neg,
    Abs,
    Floor,
    Ceil,
    Round,
    Sign,
    Erf,
    Sin,
    Cos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryFn {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    PRelu,
}

/// How a convolution is computed; chosen at compile time so that the predictor can model it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConvAlgo {
    /// 1x1, stride 1, no padding: one matrix product per image and group.
    Pointwise,
    /// One channel per group: a direct sliding-window kernel.
    Depthwise,
    /// Unfold patches (im2col) and multiply.
    Im2colGemm,
    /// Winograd F(4x4, 3x3) or F(2x2, 3x3) for 3x3, stride 1, undilated, ungrouped
    /// convolutions. The weight input holds the transformed weights in the layout of
    /// [`crate::winograd`] (`[36 or 16, ceil(M/32), C, 32]`, the first dimension telling the
    /// variants apart) instead of `[M, C, 3, 3]`.
    Winograd,
}

/// 2-D convolution. Inputs: X, W `[M, C/group, kh, kw]` (transformed for
/// [`ConvAlgo::Winograd`]), then bias `[M]` if `has_bias`, then
/// the residual `[N, M, oh, ow]` added before the activation if `has_residual`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvParams {
    pub algo: ConvAlgo,
    pub kernel: [u32; 2],
    pub strides: [u32; 2],
    pub dilations: [u32; 2],
    /// top, left, bottom, right
    pub pads: [u32; 4],
    pub group: u32,
    pub has_bias: bool,
    pub has_residual: bool,
    pub activation: Activation,
}

/// 2-D transposed convolution. Inputs: X, W `[C, M/group, kh, kw]`, optional bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvTransposeParams {
    pub kernel: [u32; 2],
    pub strides: [u32; 2],
    pub dilations: [u32; 2],
    /// top, left, bottom, right
    pub pads: [u32; 4],
    pub group: u32,
    pub has_bias: bool,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolKind {
    Max,
    Average { count_include_pad: bool },
}

/// 2-D pooling; the output size comes from the output tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolParams {
    pub kind: PoolKind,
    pub kernel: [u32; 2],
    pub strides: [u32; 2],
    pub dilations: [u32; 2],
    /// top, left, bottom, right
    pub pads: [u32; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordTransform {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResizeParams {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub nearest: NearestMode,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    pub scales: Vec<f32>,
    pub roi: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSumExp,
}

/// One sliced axis: `start, start+step, ...`; the count comes from the output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceAxis {
    pub axis: u32,
    pub start: i64,
    pub step: i64,
}

/// What a step computes. Shapes come from the step's tensors; the runtime checks that they
/// agree with these parameters before running anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    Conv(ConvParams),
    ConvTranspose(ConvTransposeParams),
    /// `Y = alpha * op(A) op(B) + beta * C`, then the activation. Inputs: A, B, optional C.
    Gemm {
        trans_a: bool,
        trans_b: bool,
        alpha: f32,
        beta: f32,
        has_c: bool,
        activation: Activation,
    },
    /// Numpy matmul with batch broadcasting.
    MatMul,
    Pool(PoolParams),
    GlobalPool {
        kind: PoolKind,
    },
    /// `y = x * scale[c] + shift[c]` per channel (inference BatchNormalization, folded at
    /// compile time), then the activation. Inputs: X, scale, shift.
    ChannelAffine {
        activation: Activation,
    },
    /// Inputs: X, scale, B.
    InstanceNorm {
        epsilon: f32,
    },
    Activation(Activation),
    Unary(UnaryFn),
    /// Broadcasting binary op, then the activation.
    Binary {
        op: BinaryFn,
        activation: Activation,
    },
    Softmax {
        axis: u32,
        coerce_2d: bool,
        log: bool,
    },
    Concat {
        axis: u32,
    },
    Split {
        axis: u32,
    },
    Slice {
        axes: Vec<SliceAxis>,
    },
    Transpose {
        perm: Vec<u32>,
    },
    Pad {
        mode: PadMode,
        pads: Vec<i64>,
        value: f32,
    },
    Resize(ResizeParams),
    Reduce {
        kind: ReduceKind,
        axes: Vec<u32>,
        keepdims: bool,
    },
    /// Broadcast the input to the output's shape.
    Expand,
    /// Copy bytes unchanged (a reshape whose output cannot share its input's memory).
    Copy,
    /// Copy a CPU-arena tensor into a GPU-arena tensor of the same dtype and shape. Runs on
    /// the GPU's queue (`device: Gpu`). Layout changes are separate steps, never hidden here.
    Upload,
    /// Copy a GPU-arena tensor into a CPU-arena tensor of the same dtype and shape (`device:
    /// Gpu`); CPU steps that read the result wait for it.
    Download,
    /// A fused chain of elementwise ops: `program` evaluated at every element of the output,
    /// whose shape is the broadcast (numpy rules) of all the inputs'. Registers `0..n` are the
    /// step's `n` inputs, broadcast to the output; instruction `i` writes register `n + i`
    /// from registers before it; the last instruction's register is the output.
    Elementwise {
        program: Vec<ElementwiseInstr>,
    },
    /// [`Kernel::InstanceNorm`] with an epilogue: `act(norm(X) + residual)`. Inputs: X,
    /// scale, B, then the residual (the output's shape) if `has_residual`.
    FusedInstanceNorm {
        epsilon: f32,
        has_residual: bool,
        activation: Activation,
    },
}

/// What one [`ElementwiseInstr`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ElementwiseOp {
    /// `act(r[args[0]])`.
    Activation(Activation),
    /// `f(r[args[0]])`.
    Unary(UnaryFn),
    /// `r[args[0]] op r[args[1]]` (`PRelu`: x, slope).
    Binary(BinaryFn),
}

/// One instruction of a [`Kernel::Elementwise`] program. A unary instruction's second
/// argument is unused and must be 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ElementwiseInstr {
    pub op: ElementwiseOp,
    pub args: [u32; 2],
}

/// Longest [`Kernel::Elementwise`] program and most inputs the runtime accepts.
pub const MAX_ELEMENTWISE_INSTRS: usize = 32;
pub const MAX_ELEMENTWISE_INPUTS: usize = 16;

impl Kernel {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Conv(c) => match c.algo {
                ConvAlgo::Pointwise => "Conv1x1",
                ConvAlgo::Depthwise => "ConvDepthwise",
                ConvAlgo::Im2colGemm => "ConvIm2col",
                ConvAlgo::Winograd => "ConvWinograd",
            },
            Kernel::ConvTranspose(_) => "ConvTranspose",
            Kernel::Gemm { .. } => "Gemm",
            Kernel::MatMul => "MatMul",
            Kernel::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Average { .. } => "AveragePool",
            },
            Kernel::GlobalPool { kind: PoolKind::Max } => "GlobalMaxPool",
            Kernel::GlobalPool { .. } => "GlobalAveragePool",
            Kernel::ChannelAffine { .. } => "ChannelAffine",
            Kernel::InstanceNorm { .. } => "InstanceNorm",
            Kernel::Activation(_) => "Activation",
            Kernel::Unary(_) => "Unary",
            Kernel::Binary { .. } => "Binary",
            Kernel::Softmax { .. } => "Softmax",
            Kernel::Concat { .. } => "Concat",
            Kernel::Split { .. } => "Split",
            Kernel::Slice { .. } => "Slice",
            Kernel::Transpose { .. } => "Transpose",
            Kernel::Pad { .. } => "Pad",
            Kernel::Resize(_) => "Resize",
            Kernel::Reduce { .. } => "Reduce",
            Kernel::Expand => "Expand",
            Kernel::Copy => "Copy",
            Kernel::Upload => "Upload",
            Kernel::Download => "Download",
            Kernel::Elementwise { .. } => "Elementwise",
            Kernel::FusedInstanceNorm { .. } => "InstanceNorm",
        }
    }
}

/// A WGSL compute shader, specialised at compile time to one op's shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shader {
    /// For messages, profiles and pipeline labels.
    pub name: String,
    pub wgsl: String,
    pub entry_point: String,
    /// `@workgroup_size` of the entry point, repeated here so that the runtime can check it
    /// against the adapter's limits without parsing WGSL.
    pub workgroup_size: [u32; 3],
    /// Bytes of `var<workgroup>` memory the shader declares, for the same check.
    pub workgroup_memory_bytes: u32,
}

/// One compute dispatch of a GPU step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// Index into [`PlanMeta::shaders`].
    pub shader: u32,
    /// Workgroups in x, y, z.
    pub workgroups: [u32; 3],
    /// Tensors bound as storage buffers at `@group(0) @binding(0..)`, in order: each is one of
    /// the step's inputs, outputs or scratch tensors.
    pub bindings: Vec<TensorId>,
    /// Words of a uniform buffer bound after the storage buffers (none when empty). Shapes are
    /// normally constants in the shader text; this carries what varies between dispatches of
    /// one shader.
    pub params: Vec<u32>,
}

/// How a GPU step computes: its dispatches, run in order, and the GPU-arena tensors only they
/// use. The step's [`Kernel`] says what is computed, so the CPU can run the step instead
/// (`--fallback cpu`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuWork {
    pub scratch: Vec<TensorId>,
    pub dispatches: Vec<Dispatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The source node(s), for messages and profiles.
    pub name: String,
    pub device: Device,
    pub kernel: Kernel,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// The shader dispatches of a GPU compute step; `None` on the CPU and for transfers.
    pub gpu: Option<GpuWork>,
    /// The compiler's predicted time for this step in microseconds, for reports (0 if none).
    pub predicted_us: f32,
}

/// The memory plan's figures, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Every intermediate tensor in its own buffer.
    pub naive_bytes: u64,
    /// The most bytes live at once: no allocation of this order can use less.
    pub lower_bound_bytes: u64,
    /// The arena actually allocated.
    pub arena_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMeta {
    pub name: String,
    /// Target the plan was compiled for (`host-cpu`, `sd855`, ...).
    pub target: String,
    /// The compiler that wrote it, e.g. `hetc 0.1.0`.
    pub producer: String,
    pub tensors: Vec<TensorDesc>,
    pub inputs: Vec<Binding>,
    pub outputs: Vec<Binding>,
    pub steps: Vec<Step>,
    /// Size of the CPU activation arena.
    pub arena_bytes: u64,
    pub memory: MemoryReport,
    /// Size of the GPU activation arena (0 when no step runs on the GPU).
    pub gpu_arena_bytes: u64,
    pub gpu_memory: MemoryReport,
    /// The WGSL shaders that GPU steps dispatch, each stored once.
    pub shaders: Vec<Shader>,
}
