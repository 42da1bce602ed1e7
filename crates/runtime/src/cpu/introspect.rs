//! Which kernel implementation the CPU runtime runs for a step, for the latency predictor.
//!
//! The predictor models each implementation separately (an im2col product and a Winograd
//! transform scale differently with shape). Its answer must be the runtime's: the convolution
//! dispatch in [`super::kernels::conv::conv2d`] calls [`conv_impl`] itself, so the two cannot
//! drift apart. Everything here is a pure function of the geometry, the compiler's choice and
//! the instruction set, so a predictor can ask it for a CPU other than the one it runs on.

use super::kernels::conv::Conv2d;
use super::kernels::{depthwise, depthwise_flat, pointwise, simd256, simd512};
use hetc_plan::ConvAlgo;

/// The instruction-set extensions that change which convolution kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuIsa {
    /// AVX-512F: the register-blocked depthwise, pointwise and grouped kernels.
    pub avx512: bool,
    /// AVX2 and FMA: the 8-lane depthwise kernel (used where AVX-512 is missing).
    pub avx2: bool,
}

impl CpuIsa {
    /// A CPU without the x86 SIMD kernels (Arm phones, old x86).
    pub const PORTABLE: CpuIsa = CpuIsa { avx512: false, avx2: false };
    /// An x86 CPU with AVX2 and FMA but no AVX-512 (AMD Zen 1-3, most client Intel parts).
    pub const AVX2: CpuIsa = CpuIsa { avx512: false, avx2: true };
    /// An x86 CPU with AVX-512F (and AVX2 and FMA).
    pub const AVX512: CpuIsa = CpuIsa { avx512: true, avx2: true };

    /// This machine's.
    pub fn host() -> CpuIsa {
        CpuIsa { avx512: simd512::available(), avx2: simd256::available() }
    }

    /// Whether the AVX-512 kernels run (x86 only).
    fn x86_avx512(self) -> bool {
        self.avx512 && cfg!(target_arch = "x86_64")
    }

    /// Whether the AVX2 kernels run: AVX2 and FMA, no AVX-512 (whose kernels take precedence).
    fn x86_avx2(self) -> bool {
        self.avx2 && !self.avx512 && cfg!(target_arch = "x86_64")
    }
}

/// A convolution kernel implementation of the CPU runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConvImpl {
    /// No reduction (zero input channels or an empty window) or no output: only the epilogue.
    Empty,
    /// Winograd F(4x4, 3x3) or F(2x2, 3x3) (`winograd::conv2d_winograd`); the weights'
    /// layout tells the variant.
    Winograd,
    /// The AVX-512 depthwise kernel (3x3 and 5x5 windows, strides 1 and 2).
    DepthwiseAvx512,
    /// The AVX-512 depthwise kernel over flattened planes (narrow 3x3 stride-1 planes).
    DepthwiseFlatAvx512,
    /// The AVX2+FMA depthwise kernel (the same windows and strides as AVX-512).
    DepthwiseAvx2,
    /// The portable direct depthwise kernel (any window).
    DepthwiseDirect,
    /// The AVX-512 register-blocked pointwise product.
    PointwiseAvx512,
    /// The AVX-512 grouped convolution (im2col tiles and the pointwise product kernel).
    GroupedAvx512,
    /// A 1x1/stride 1/unpadded convolution as one `gemm` product per tile, no unfolding.
    PointwiseGemm,
    /// im2col tiles and the `gemm` crate's product.
    Im2colGemm,
}

impl ConvImpl {
    /// Stable name, used as the predictor's kernel key.
    pub fn name(self) -> &'static str {
        match self {
            ConvImpl::Empty => "conv_empty",
            ConvImpl::Winograd => "conv_winograd",
            ConvImpl::DepthwiseAvx512 => "conv_depthwise_avx512",
            ConvImpl::DepthwiseFlatAvx512 => "conv_depthwise_flat_avx512",
            ConvImpl::DepthwiseAvx2 => "conv_depthwise_avx2",
            ConvImpl::DepthwiseDirect => "conv_depthwise_direct",
            ConvImpl::PointwiseAvx512 => "conv_pointwise_avx512",
            ConvImpl::GroupedAvx512 => "conv_grouped_avx512",
            ConvImpl::PointwiseGemm => "conv_pointwise_gemm",
            ConvImpl::Im2colGemm => "conv_im2col_gemm",
        }
    }
}

/// The kernel that runs a plan's `Conv` step with geometry `p` and compiler choice `algo`
/// on a CPU with `isa`. The session runs `ConvAlgo::Winograd` steps with the Winograd kernel
/// (`exec`); every other one goes through `conv2d`, which dispatches on this function.
pub fn conv_impl(p: &Conv2d, algo: ConvAlgo, isa: CpuIsa) -> ConvImpl {
    if algo == ConvAlgo::Winograd {
        return ConvImpl::Winograd;
    }
    if p.group == 0 || p.cg() == 0 || p.kh == 0 || p.kw == 0 || p.n * p.m * p.oh * p.ow == 0 {
        return ConvImpl::Empty;
    }
    if p.is_depthwise() {
        if isa.x86_avx512() && depthwise_flat::flat_preferred(p) {
            ConvImpl::DepthwiseFlatAvx512
        } else if isa.x86_avx512() && depthwise::applies(p) {
            ConvImpl::DepthwiseAvx512
        } else if isa.x86_avx2() && depthwise::applies(p) {
            ConvImpl::DepthwiseAvx2
        } else {
            ConvImpl::DepthwiseDirect
        }
    } else if p.is_pointwise() && isa.x86_avx512() && pointwise::pointwise_geometry_covers(p) {
        ConvImpl::PointwiseAvx512
    } else if isa.x86_avx512() && pointwise::grouped_geometry_applies(p) {
        ConvImpl::GroupedAvx512
    } else if p.is_pointwise() {
        ConvImpl::PointwiseGemm
    } else {
        ConvImpl::Im2colGemm
    }
}

/// Worker threads the convolution actually uses out of the session's `threads` (the
/// session runs the step on exactly these, `exec::step_threads`). Splitting a step costs a
/// hand-over of a few microseconds and a barrier at its end, so small steps run on one
/// thread. Products (Winograd, im2col, pointwise, grouped) are sized by their FLOPs: 4.7
/// MFLOP (64 channels at 8x8) measured slower on two threads, 19 MFLOP (128 at 8x8) faster.
/// Depthwise kernels are bound by memory and per-plane work, not FLOPs, and are sized by
/// their output: MobileNet's 7x7 to 28x28 depthwise layers (1.7-7 MFLOP, 47K-150K outputs)
/// ran 1.3-2.5x faster on two threads than on one (`bench_dw_flat`).
pub fn conv_threads(p: &Conv2d, imp: ConvImpl, threads: usize) -> usize {
    let split = match imp {
        ConvImpl::DepthwiseAvx512
        | ConvImpl::DepthwiseFlatAvx512
        | ConvImpl::DepthwiseAvx2
        | ConvImpl::DepthwiseDirect => p.n * p.m * p.oh * p.ow >= PARALLEL_MIN_OUTPUTS,
        _ => p.flops() >= PARALLEL_MIN_FLOPS,
    };
    if split { threads.max(1) } else { 1 }
}

/// See [`conv_threads`]; the session sizes other products (`Gemm`, `MatMul`,
/// `ConvTranspose`) by the same threshold.
pub(crate) const PARALLEL_MIN_FLOPS: u64 = 8_000_000;
/// See [`conv_threads`]: outputs of a depthwise convolution worth two threads.
const PARALLEL_MIN_OUTPUTS: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(c: usize, m: usize, k: usize, stride: usize, pad: usize, group: usize, hw: usize) -> Conv2d {
        let o = (hw + 2 * pad - k) / stride + 1;
        Conv2d {
            n: 1,
            c,
            h: hw,
            w: hw,
            m,
            oh: o,
            ow: o,
            kh: k,
            kw: k,
            stride_h: stride,
            stride_w: stride,
            dil_h: 1,
            dil_w: 1,
            pad_t: pad,
            pad_l: pad,
            group,
        }
    }

    #[test]
    fn portable_paths_follow_the_geometry() {
        let isa = CpuIsa::PORTABLE;
        assert_eq!(conv_impl(&geom(32, 32, 3, 1, 1, 32, 28), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseDirect);
        assert_eq!(conv_impl(&geom(32, 64, 1, 1, 0, 1, 28), ConvAlgo::Pointwise, isa), ConvImpl::PointwiseGemm);
        assert_eq!(conv_impl(&geom(32, 64, 3, 2, 1, 1, 28), ConvAlgo::Im2colGemm, isa), ConvImpl::Im2colGemm);
        assert_eq!(conv_impl(&geom(32, 64, 3, 1, 1, 4, 28), ConvAlgo::Im2colGemm, isa), ConvImpl::Im2colGemm);
        assert_eq!(conv_impl(&geom(32, 64, 3, 1, 1, 1, 28), ConvAlgo::Winograd, isa), ConvImpl::Winograd);
        assert_eq!(conv_impl(&geom(0, 0, 3, 1, 1, 1, 28), ConvAlgo::Im2colGemm, isa), ConvImpl::Empty);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_paths_follow_the_geometry() {
        let isa = CpuIsa::AVX512;
        assert_eq!(conv_impl(&geom(32, 32, 3, 1, 1, 32, 28), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseAvx512);
        assert_eq!(conv_impl(&geom(32, 32, 7, 1, 3, 32, 28), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseDirect);
        assert_eq!(conv_impl(&geom(32, 32, 3, 1, 1, 32, 17), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseFlatAvx512);
        assert_eq!(conv_impl(&geom(32, 32, 3, 2, 1, 32, 34), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseAvx512);
        assert_eq!(conv_impl(&geom(32, 64, 1, 1, 0, 1, 28), ConvAlgo::Pointwise, isa), ConvImpl::PointwiseAvx512);
        assert_eq!(conv_impl(&geom(512, 512, 1, 1, 0, 1, 28), ConvAlgo::Pointwise, isa), ConvImpl::PointwiseGemm);
        assert_eq!(conv_impl(&geom(32, 64, 3, 1, 1, 4, 28), ConvAlgo::Im2colGemm, isa), ConvImpl::GroupedAvx512);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_paths_follow_the_geometry() {
        let isa = CpuIsa::AVX2;
        assert_eq!(conv_impl(&geom(32, 32, 3, 1, 1, 32, 28), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseAvx2);
        assert_eq!(conv_impl(&geom(32, 32, 5, 2, 2, 32, 28), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseAvx2);
        assert_eq!(conv_impl(&geom(32, 32, 7, 1, 3, 32, 28), ConvAlgo::Depthwise, isa), ConvImpl::DepthwiseDirect);
        // Pointwise and grouped convolutions stay with the `gemm` crate: AVX2 ports of the
        // AVX-512 product kernels measured ~5% slower on Zen 3 (commit 3812c55).
        assert_eq!(conv_impl(&geom(32, 64, 1, 1, 0, 1, 28), ConvAlgo::Pointwise, isa), ConvImpl::PointwiseGemm);
        assert_eq!(conv_impl(&geom(32, 64, 3, 1, 1, 4, 28), ConvAlgo::Im2colGemm, isa), ConvImpl::Im2colGemm);
        assert_eq!(conv_impl(&geom(32, 64, 3, 2, 1, 1, 28), ConvAlgo::Im2colGemm, isa), ConvImpl::Im2colGemm);
        // AVX-512 kernels take precedence where both extensions are there.
        let both = CpuIsa::AVX512;
        assert_eq!(conv_impl(&geom(32, 32, 3, 1, 1, 32, 28), ConvAlgo::Depthwise, both), ConvImpl::DepthwiseAvx512);
    }
}
