//! 2-D convolution and transposed convolution (NCHW, f32).
//!
//! Three ways to compute a convolution:
//!
//! * **pointwise** (1x1, stride 1, no padding): the input already is the `[C, H*W]` matrix, so
//!   each image and group is one matrix product straight from the input;
//! * **depthwise** (one input channel per group, any channel multiplier): a direct sliding
//!   window per output plane over a zero-padded copy of its input plane, eight output columns
//!   at a time with all taps accumulated in registers (unrolled for 3x3 and 5x5);
//! * **im2col + GEMM** (everything else): the patches of a tile of output pixels are unfolded
//!   into a `[C/group * kh * kw, tile]` buffer that stays in cache and multiplied by the
//!   weights.
//!
//! The GEMM-based forms work on column tiles of output pixels. With several threads, tiles
//! are spread over the threads (each with its own unfolding buffer and a single-threaded
//! product); when there are too few tiles to go round, tiles run one after another and the
//! product itself is parallel. The epilogue (bias, activation) runs on each tile while it is
//! still in cache; a residual is added by accumulating the product into the output.

use hetc_plan::{Activation, ConvAlgo, ConvParams, ConvTransposeParams};
use rayon::prelude::*;

use super::activation;
use super::gemm::{gemm_raw, matmul_strided};
use crate::cpu::introspect::{self, ConvImpl, CpuIsa};

/// Geometry of a 2-D convolution over `x: [n, c, h, w]` producing `y: [n, m, oh, ow]`.
///
/// For [`conv_transpose2d`] the same fields describe the transposed convolution: `c` input
/// channels, `m` output channels, `(h, w)` the input size, `(oh, ow)` the output size
/// (including any `output_padding`), and the pads crop the full output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conv2d {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub m: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dil_h: usize,
    pub dil_w: usize,
    pub pad_t: usize,
    pub pad_l: usize,
    pub group: usize,
}

impl Conv2d {
    /// The geometry of a plan's `Conv` step with input shape `x` (`[N, C, H, W]`) and output
    /// shape `y` (`[N, M, OH, OW]`).
    pub fn from_params(p: &ConvParams, x: [usize; 4], y: [usize; 4]) -> Self {
        Self::from_parts(p.kernel, p.strides, p.dilations, p.pads, p.group, x, y)
    }

    /// The geometry of a plan's `ConvTranspose` step (`x: [N, C, H, W]`, `y: [N, M, OH, OW]`).
    pub fn from_transpose_params(p: &ConvTransposeParams, x: [usize; 4], y: [usize; 4]) -> Self {
        Self::from_parts(p.kernel, p.strides, p.dilations, p.pads, p.group, x, y)
    }

    fn from_parts(
        kernel: [u32; 2],
        strides: [u32; 2],
        dilations: [u32; 2],
        pads: [u32; 4],
        group: u32,
        x: [usize; 4],
        y: [usize; 4],
    ) -> Self {
        Conv2d {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            m: y[1],
            oh: y[2],
            ow: y[3],
            kh: kernel[0] as usize,
            kw: kernel[1] as usize,
            stride_h: strides[0] as usize,
            stride_w: strides[1] as usize,
            dil_h: dilations[0] as usize,
            dil_w: dilations[1] as usize,
            pad_t: pads[0] as usize,
            pad_l: pads[1] as usize,
            group: group as usize,
        }
    }

    /// Multiply-adds times two of [`conv2d`] (also of [`conv_transpose2d`], where the roles
    /// of input and output swap).
    pub fn flops(&self) -> u64 {
        2 * (self.n * self.m * self.oh * self.ow) as u64 * (self.c / self.group * self.kh * self.kw) as u64
    }

    pub(crate) fn cg(&self) -> usize {
        self.c / self.group
    }

    fn mg(&self) -> usize {
        self.m / self.group
    }

    pub(crate) fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_t == 0
            && self.pad_l == 0
            && self.oh == self.h
            && self.ow == self.w
    }

    pub(crate) fn is_depthwise(&self) -> bool {
        self.cg() == 1
    }

    fn check(&self) {
        assert!(
            self.group > 0 && self.c.is_multiple_of(self.group) && self.m.is_multiple_of(self.group),
            "conv: bad group in {self:?}"
        );
        assert!(
            self.stride_h > 0 && self.stride_w > 0 && self.dil_h > 0 && self.dil_w > 0,
            "conv: zero stride or dilation in {self:?}"
        );
    }
}

/// Tile bounds of the im2col path: (bytes of unfolded patches per thread, fewest pixels,
/// most pixels). Tiles of a few hundred pixels keep the product efficient while the
/// unfolded patches stay in L2 between the unfolding and the product.
const COL_TILE: (usize, usize, usize) = (2 * 1024 * 1024, 128, 384);
/// Tile bounds of the pointwise path (bytes of input read per tile, fewest, most pixels).
const DIRECT_TILE: (usize, usize, usize) = (1024 * 1024, 256, 1024);
/// Column buffer of a transposed convolution, in bytes.
const TRANSPOSE_TILE_BYTES: usize = 2 * 1024 * 1024;
/// Narrowest tile worth spreading over threads; below it the product is split instead.
const MIN_TILE: usize = 48;

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))`.
///
/// `x: [n, c, h, w]`, `w: [m, c/group, kh, kw]`, `bias: [m]`, `out: [n, m, oh, ow]`; when
/// `accumulate`, `out` holds the residual on entry. `scratch` is reused between calls and
/// grown as needed.
///
/// `algo` is the compiler's choice; the geometry decides the path actually taken: any
/// convolution with one input channel per group runs the depthwise kernel, any 1x1/stride
/// 1/unpadded one the pointwise kernel, everything else im2col + GEMM.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    p: &Conv2d,
    algo: ConvAlgo,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
) {
    p.check();
    let threads = threads.max(1);
    assert!(x.len() >= p.n * p.c * p.h * p.w, "conv: x too short");
    assert!(w.len() >= p.m * p.cg() * p.kh * p.kw, "conv: w too short");
    assert!(out.len() >= p.n * p.m * p.oh * p.ow, "conv: out too short");
    if let Some(b) = bias {
        assert!(b.len() >= p.m, "conv: bias too short");
    }
    let out = &mut out[..p.n * p.m * p.oh * p.ow];
    if out.is_empty() {
        return;
    }
    // The path comes from the one function the latency predictor also asks
    // (`crate::cpu::introspect`), so that its model of this dispatch cannot drift.
    let path = introspect::conv_impl(p, algo, CpuIsa::host());
    debug_assert!(path != ConvImpl::Winograd, "conv2d: Winograd convolutions go to winograd::conv2d_winograd");
    match path {
        // Empty reduction: only bias, residual and activation.
        ConvImpl::Empty => epilogue_planes(p, bias, out, accumulate, act, threads),
        ConvImpl::DepthwiseAvx512
        | ConvImpl::DepthwiseFlatAvx512
        | ConvImpl::DepthwiseAvx2
        | ConvImpl::DepthwiseDirect => {
            let done = match path {
                ConvImpl::DepthwiseAvx512 => super::depthwise::depthwise(p, x, w, bias, out, accumulate, act, threads),
                ConvImpl::DepthwiseFlatAvx512 => {
                    super::depthwise_flat::depthwise_flat(p, x, w, bias, out, accumulate, act, threads)
                }
                ConvImpl::DepthwiseAvx2 => {
                    super::depthwise::depthwise_avx2(p, x, w, bias, out, accumulate, act, threads)
                }
                _ => false,
            };
            if !done {
                depthwise(p, x, w, bias, out, accumulate, act, threads);
            }
        }
        ConvImpl::PointwiseAvx512
            if super::pointwise::pointwise(p, x, w, bias, out, accumulate, act, scratch, threads) =>
        {
            // Done by the AVX-512 kernel.
        }
        ConvImpl::GroupedAvx512 if super::pointwise::grouped(p, x, w, bias, out, accumulate, act, scratch, threads) => {
            // Grouped (not depthwise): im2col tiles and the AVX-512 product kernel.
        }
        _ => {
            let direct = p.is_pointwise();
            let plan = TilePlan::choose(p, direct, threads);
            conv_gemm(p, direct, plan, x, w, bias, out, accumulate, act, scratch, threads);
        }
    }
}

/// Scratch elements [`conv2d`] will use for this geometry (it grows `scratch` itself; this is
/// for callers that want to allocate up front).
pub fn conv2d_scratch_len(p: &Conv2d, threads: usize) -> usize {
    let threads = threads.max(1);
    // The cases where `conv2d` returns early or takes a path without scratch.
    if p.group == 0 || p.n * p.m * p.oh * p.ow == 0 || p.cg() * p.kh * p.kw == 0 {
        return 0;
    }
    if p.is_depthwise() {
        return 0;
    }
    if p.is_pointwise() {
        return super::pointwise::pointwise_scratch_len(p, threads);
    }
    if super::pointwise::grouped_applies(p) {
        return super::pointwise::grouped_scratch_len(p, threads);
    }
    let plan = TilePlan::choose(p, false, threads);
    plan.scratch_len(p.cg() * p.kh * p.kw, threads)
}

/// Scratch elements [`conv_transpose2d`] will use for this geometry (it grows `scratch`
/// itself; this is for callers that want to allocate up front).
pub fn conv_transpose2d_scratch_len(p: &Conv2d) -> usize {
    if p.group == 0 {
        return 0;
    }
    let kdim = p.mg() * p.kh * p.kw;
    let pix_in = p.h * p.w;
    if p.cg() == 0 || kdim == 0 || pix_in == 0 || p.n * p.m * p.oh * p.ow == 0 {
        return 0;
    }
    kdim * (TRANSPOSE_TILE_BYTES / 4 / kdim).max(MIN_TILE).min(pix_in)
}

/// `out[plane] = act((accumulate ? out : 0) + bias[channel])` for every output plane.
fn epilogue_planes(
    p: &Conv2d,
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    threads: usize,
) {
    let plane = p.oh * p.ow;
    for_each_plane_chunk(out, plane, threads, |first, chunk| {
        for (k, o) in chunk.chunks_exact_mut(plane).enumerate() {
            let oc = (first + k) % p.m;
            if !accumulate {
                o.fill(0.0);
            }
            activation::apply_with_bias(act, o, bias.map_or(0.0, |b| b[oc]));
        }
    });
}

/// Runs `f(first_plane, planes)` over chunks of whole planes, in parallel when `threads > 1`.
pub(crate) fn for_each_plane_chunk(
    data: &mut [f32],
    plane: usize,
    threads: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    if plane == 0 || data.is_empty() {
        return;
    }
    let planes = data.len() / plane;
    if threads <= 1 || planes == 1 {
        f(0, data);
        return;
    }
    // A few chunks per thread for balance, but no tiny ones.
    let per = planes.div_ceil(threads * 4).max((4096 / plane).max(1)).min(planes.div_ceil(threads));
    data.par_chunks_mut(per * plane).enumerate().for_each(|(i, chunk)| f(i * per, chunk));
}

/// Runs `f(xp, oc, o)` for every output plane `o` of a depthwise convolution (one input
/// channel per group, any channel multiplier): `oc` is its output channel and `xp` the input
/// plane it reads. Planes are spread over threads as [`for_each_plane_chunk`] spreads them;
/// the SIMD depthwise kernels share this walk and differ only in `f`.
#[cfg(target_arch = "x86_64")]
pub(crate) fn for_each_depthwise_plane(
    p: &Conv2d,
    x: &[f32],
    out: &mut [f32],
    threads: usize,
    f: impl Fn(&[f32], usize, &mut [f32]) + Sync + Send,
) {
    let (plane_i, plane_o) = (p.h * p.w, p.oh * p.ow);
    let mult = p.mg();
    assert!(x.len() >= p.n * p.c * plane_i && out.len() == p.n * p.m * plane_o);
    for_each_plane_chunk(out, plane_o, threads, |first, chunk| {
        // (image, output channel) of the chunk's first plane, then stepped.
        let (mut b, mut oc) = (first / p.m, first % p.m);
        for o in chunk.chunks_exact_mut(plane_o) {
            f(&x[(b * p.c + oc / mult) * plane_i..][..plane_i], oc, o);
            oc += 1;
            if oc == p.m {
                (b, oc) = (b + 1, 0);
            }
        }
    });
}

/// A raw pointer that may cross threads; users guarantee disjoint access.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);

// SAFETY: the pointer is only dereferenced by code whose callers write disjoint regions from
// different threads (documented at each use).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// How the GEMM-based paths split the output pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TilePlan {
    /// Output pixels per tile.
    tile: usize,
    /// Tiles spread over threads (true) or run in turn with a parallel product (false).
    parallel_tiles: bool,
}

impl TilePlan {
    fn choose(p: &Conv2d, direct: bool, threads: usize) -> Self {
        let pix = p.oh * p.ow;
        let kdim = p.cg() * p.kh * p.kw;
        let (bytes, lo, hi) = if direct { DIRECT_TILE } else { COL_TILE };
        // `gemm`'s f32 microkernels cover 64 pixels (AVX-512) or 16 (AVX2) at a time.
        let target = (bytes / 4 / kdim.max(1)).clamp(lo, hi) / 64 * 64;
        let mut ntiles = pix.div_ceil(target);
        let ng = p.n * p.group;
        let mut parallel_tiles = false;
        // Expanding products whose weights outweigh the pixels are better split by `gemm`
        // over output channels: spread tiles would each stream all the weights.
        let weight_bound = p.mg() > kdim && 2 * p.mg() >= pix;
        if threads > 1 && !weight_bound {
            // Make the number of tiles a multiple of the thread count if the tiles stay wide
            // enough; otherwise spread them only if there are plenty.
            let step = threads / gcd(threads, ng);
            let balanced = ntiles.next_multiple_of(step);
            if pix / balanced >= MIN_TILE {
                ntiles = balanced;
                parallel_tiles = true;
            } else if ng * ntiles >= 4 * threads {
                parallel_tiles = true;
            }
        }
        // Equal tiles when they are spread over threads, else whole microkernel multiples.
        let tile = if parallel_tiles { pix.div_ceil(ntiles).next_multiple_of(16) } else { target };
        TilePlan { tile: tile.min(pix).max(1), parallel_tiles }
    }

    fn scratch_len(&self, kdim: usize, threads: usize) -> usize {
        kdim * self.tile * if self.parallel_tiles { threads } else { 1 }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The GEMM-based convolution: pointwise (`direct`) or im2col.
#[allow(clippy::too_many_arguments)]
fn conv_gemm(
    p: &Conv2d,
    direct: bool,
    plan: TilePlan,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
) {
    let pix = p.oh * p.ow;
    let kdim = p.cg() * p.kh * p.kw;
    let tile = plan.tile;
    let ntiles = pix.div_ceil(tile);
    let items = p.n * p.group * ntiles;
    let col_len = if direct { 0 } else { kdim * tile };
    let need = if direct { 0 } else { plan.scratch_len(kdim, threads) };
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    debug_assert!(out.len() == p.n * p.m * pix);
    let dst = SendPtr(out.as_mut_ptr());
    let ctx = TileCtx { p, direct, tile, ntiles, x, w, bias, accumulate, act, dst };

    if plan.parallel_tiles && threads > 1 {
        let workers = threads.min(items);
        let run = |t: usize, col: &mut [f32]| {
            // Contiguous ranges of items per worker keep neighbouring tiles together.
            let lo = items * t / workers;
            let hi = items * (t + 1) / workers;
            for item in lo..hi {
                // SAFETY: items partition the output into disjoint (image, group, tile)
                // blocks and each item runs on exactly one worker.
                unsafe { ctx.run(item, col, 1, 1) };
            }
        };
        if direct {
            (0..workers).into_par_iter().for_each(|t| run(t, &mut []));
        } else {
            scratch[..workers * col_len].par_chunks_mut(col_len).enumerate().for_each(|(t, col)| run(t, col));
        }
    } else {
        let col = &mut scratch[..col_len];
        for item in 0..items {
            // SAFETY: items run one after another; within one, the product and the epilogue
            // split the item's block disjointly among threads.
            unsafe { ctx.run(item, col, threads, threads) };
        }
    }
}

struct TileCtx<'a> {
    p: &'a Conv2d,
    direct: bool,
    tile: usize,
    ntiles: usize,
    x: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    accumulate: bool,
    act: Activation,
    /// Start of the whole output `[n, m, oh, ow]`.
    dst: SendPtr,
}

impl TileCtx<'_> {
    /// Computes one (image, group, pixel tile) block of the output, epilogue included.
    ///
    /// # Safety
    ///
    /// `dst` points at the whole output; no other thread accesses this item's block during
    /// the call.
    unsafe fn run(&self, item: usize, col: &mut [f32], gemm_threads: usize, threads: usize) {
        let p = self.p;
        let (cg, mg) = (p.cg(), p.mg());
        let pix = p.oh * p.ow;
        let kdim = cg * p.kh * p.kw;
        let t = item % self.ntiles;
        let ng = item / self.ntiles;
        let (b, g) = (ng / p.group, ng % p.group);
        let p0 = t * self.tile;
        let len = self.tile.min(pix - p0);
        let xg = &self.x[(b * p.c + g * cg) * p.h * p.w..][..cg * p.h * p.w];
        let (rhs, rhs_rs): (&[f32], usize) = if self.direct {
            (&xg[p0..], pix)
        } else {
            let col = &mut col[..kdim * len];
            im2col_tile(p, xg, p0, len, col, threads);
            (col, len)
        };
        let wg = &self.w[g * mg * kdim..][..mg * kdim];
        let oc0 = g * mg;
        let block = (b * p.m + oc0) * pix + p0;
        // SAFETY: `block + i*pix + j` for `i < mg`, `j < len` stays inside image `b`'s planes
        // `oc0..oc0+mg` (`p0 + len <= pix`), which this item owns (caller's contract). `rhs`
        // spans `kdim` rows of stride `rhs_rs` holding `len` columns: `xg` has `cg*h*w =
        // kdim*pix` elements from which `p0 + (kdim-1)*pix + len <= kdim*pix`, and the
        // column tile has exactly `kdim*len`. `wg` has `mg*kdim` elements. The output is a
        // separate buffer from `x`, `w` and `scratch`.
        unsafe {
            let dst = self.dst.get().add(block);
            gemm_raw(
                mg,
                len,
                kdim,
                dst,
                pix,
                1,
                self.accumulate,
                wg.as_ptr(),
                kdim,
                1,
                rhs.as_ptr(),
                rhs_rs,
                1,
                1.0,
                gemm_threads,
            );
        }
        if self.bias.is_none() && matches!(self.act, Activation::Identity) {
            return;
        }
        let dst = self.dst;
        let epi = |mo: usize| {
            // SAFETY: row `mo` of this item's block, inside the output as shown above; rows
            // are disjoint, each handled once.
            let row = unsafe { std::slice::from_raw_parts_mut(dst.get().add(block + mo * pix), len) };
            activation::apply_with_bias(self.act, row, self.bias.map_or(0.0, |bs| bs[oc0 + mo]));
        };
        if threads > 1 && mg * len >= 1 << 15 {
            (0..mg).into_par_iter().with_min_len(mg.div_ceil(threads * 2)).for_each(epi);
        } else {
            (0..mg).for_each(epi);
        }
    }
}

/// Unfolds the patches of output pixels `p0..p0+len` of one image and group: `col[r * len +
/// j]` is input element `(ci, oy*sh + ky*dh - pad_t, ox*sw + kx*dw - pad_l)` (0 outside the
/// image) for row `r = (ci*kh + ky)*kw + kx` and pixel `p0 + j = oy*ow + ox`.
///
/// When the tile's windows reach into the padding, each input plane's rows that the tile
/// reads are first copied into a zero-padded buffer, so that every row segment of `col` is a
/// plain (strided) copy without bounds logic.
pub(crate) fn im2col_tile(p: &Conv2d, xg: &[f32], p0: usize, len: usize, col: &mut [f32], threads: usize) {
    let taps = p.kh * p.kw;
    let plane = p.h * p.w;
    let (sh, sw, dh, dw) = (p.stride_h, p.stride_w, p.dil_h, p.dil_w);
    let oy_first = p0 / p.ow;
    let oy_last = (p0 + len - 1) / p.ow;
    // Input rows and columns the tile reads, half-open.
    let iy_lo = (oy_first * sh) as isize - p.pad_t as isize;
    let iy_hi = (oy_last * sh + (p.kh - 1) * dh) as isize - p.pad_t as isize + 1;
    let ix_lo = -(p.pad_l as isize);
    let ix_hi = ((p.ow - 1) * sw + (p.kw - 1) * dw) as isize - p.pad_l as isize + 1;
    let inside = iy_lo >= 0 && iy_hi <= p.h as isize && ix_lo >= 0 && ix_hi <= p.w as isize;
    let (prows, pcols) = ((iy_hi - iy_lo) as usize, (ix_hi - ix_lo) as usize);
    // The overlap of the columns read with the image's columns.
    let (cx_lo, cx_hi) = (ix_lo.max(0), ix_hi.min(p.w as isize));

    let fill = |ci: usize, rows: &mut [f32], pad: &mut Vec<f32>| {
        let xp = &xg[ci * plane..][..plane];
        let (src, stride, row0, col0): (&[f32], usize, isize, isize) = if inside {
            (xp, p.w, 0, 0)
        } else {
            pad.clear();
            pad.resize(prows * pcols, 0.0);
            if cx_lo < cx_hi {
                for (r, prow) in pad.chunks_exact_mut(pcols).enumerate() {
                    let iy = iy_lo + r as isize;
                    if iy >= 0 && iy < p.h as isize {
                        let xrow = &xp[iy as usize * p.w..][..p.w];
                        prow[(cx_lo - ix_lo) as usize..(cx_hi - ix_lo) as usize]
                            .copy_from_slice(&xrow[cx_lo as usize..cx_hi as usize]);
                    }
                }
            }
            (&pad[..], pcols, iy_lo, ix_lo)
        };
        for ky in 0..p.kh {
            for kx in 0..p.kw {
                let row = &mut rows[(ky * p.kw + kx) * len..][..len];
                let mut j = 0;
                let mut oy = oy_first;
                let mut ox0 = p0 % p.ow;
                while j < len {
                    let seg = (p.ow - ox0).min(len - j);
                    let iy = (oy * sh + ky * dh) as isize - p.pad_t as isize;
                    let ix = (ox0 * sw + kx * dw) as isize - p.pad_l as isize;
                    let start = (iy - row0) as usize * stride + (ix - col0) as usize;
                    // Short unit-stride segments: copy a fixed 8 or 16 elements when both
                    // sides have room (the excess is overwritten by the next segments);
                    // cheaper than a variable-length copy.
                    if sw == 1 && seg <= 8 && j + 8 <= len && start + 8 <= src.len() {
                        row[j..j + 8].copy_from_slice(&src[start..start + 8]);
                    } else if sw == 1 && seg <= 16 && j + 16 <= len && start + 16 <= src.len() {
                        row[j..j + 16].copy_from_slice(&src[start..start + 16]);
                    } else {
                        gather(&mut row[j..j + seg], &src[start..], sw);
                    }
                    j += seg;
                    oy += 1;
                    ox0 = 0;
                }
            }
        }
    };
    let cg = p.cg();
    if threads > 1 && cg >= 2 && taps * len * cg >= 1 << 15 {
        let per = cg.div_ceil(threads * 2);
        col.par_chunks_mut(per * taps * len).enumerate().for_each(|(i, chunk)| {
            let mut pad = Vec::new();
            for (k, rows) in chunk.chunks_exact_mut(taps * len).enumerate() {
                fill(i * per + k, rows, &mut pad);
            }
        });
    } else {
        let mut pad = Vec::new();
        for (ci, rows) in col.chunks_exact_mut(taps * len).enumerate() {
            fill(ci, rows, &mut pad);
        }
    }
}

/// `d[k] = src[k * stride]`.
#[inline]
fn gather(d: &mut [f32], src: &[f32], stride: usize) {
    let n = d.len();
    if n == 0 {
        return;
    }
    match stride {
        1 => d.copy_from_slice(&src[..n]),
        2 => {
            // Pairs while the source has them, then the last element alone.
            let full = (src.len() / 2).min(n);
            for (v, pair) in d[..full].iter_mut().zip(src.chunks_exact(2)) {
                *v = pair[0];
            }
            if full < n {
                d[n - 1] = src[(n - 1) * 2];
            }
        }
        _ => {
            let src = &src[..(n - 1) * stride + 1];
            for (k, v) in d.iter_mut().enumerate() {
                *v = src[k * stride];
            }
        }
    }
}

/// Output positions `o` in `0..n_out` whose input position `o*stride + off` lies in
/// `0..n_in`, as a half-open range (empty ranges have `lo >= hi`).
#[inline]
fn valid_range(off: isize, stride: usize, n_in: usize, n_out: usize) -> (usize, usize) {
    let s = stride as isize;
    // o*s + off >= 0  <=>  o >= ceil(-off / s)
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    // o*s + off < n_in  <=>  o < ceil((n_in - off) / s)
    let lim = n_in as isize - off;
    let hi = if lim <= 0 { 0 } else { (lim + s - 1) / s };
    let lo = (lo as usize).min(n_out);
    let hi = (hi as usize).min(n_out);
    (lo, hi.max(lo))
}

/// Depthwise (one input channel per group, `m / group` output channels per input channel).
#[allow(clippy::too_many_arguments)]
fn depthwise(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    threads: usize,
) {
    let plane_o = p.oh * p.ow;
    let plane_i = p.h * p.w;
    let mult = p.mg();
    let taps = p.kh * p.kw;
    let geo = DwGeom::new(p);
    for_each_plane_chunk(out, plane_o, threads, |first, chunk| {
        let mut pad = Vec::new();
        for (k, o) in chunk.chunks_exact_mut(plane_o).enumerate() {
            let idx = first + k;
            let (b, oc) = (idx / p.m, idx % p.m);
            let ic = oc / mult;
            let xp = &x[(b * p.c + ic) * plane_i..][..plane_i];
            let wp = &w[oc * taps..][..taps];
            geo.pad_plane(p, xp, &mut pad);
            depthwise_plane(p, &geo, &pad, wp, o, accumulate);
            activation::apply_with_bias(act, o, bias.map_or(0.0, |bs| bs[oc]));
        }
    });
}

/// The zero-padded copy of an input plane that the depthwise kernel reads: every output
/// column up to `ow8` (the output width rounded up to 8) finds all its taps inside a row.
struct DwGeom {
    ow8: usize,
    /// Padded rows and columns.
    rows: usize,
    cols: usize,
}

impl DwGeom {
    fn new(p: &Conv2d) -> Self {
        let ow8 = p.ow.next_multiple_of(8);
        DwGeom {
            ow8,
            rows: (p.oh - 1) * p.stride_h + (p.kh - 1) * p.dil_h + 1,
            cols: (ow8 - 1) * p.stride_w + (p.kw - 1) * p.dil_w + 1,
        }
    }

    /// `pad[r][c]` = input `(r - pad_t, c - pad_l)`, 0 outside the image.
    fn pad_plane(&self, p: &Conv2d, xp: &[f32], pad: &mut Vec<f32>) {
        pad.clear();
        pad.resize(self.rows * self.cols, 0.0);
        // Image columns that land inside the padded row.
        let c_lo = p.pad_l;
        let c_hi = (p.pad_l + p.w).min(self.cols);
        if c_lo >= c_hi {
            return;
        }
        for (r, prow) in pad.chunks_exact_mut(self.cols).enumerate() {
            let iy = r as isize - p.pad_t as isize;
            if iy >= 0 && iy < p.h as isize {
                let xrow = &xp[iy as usize * p.w..][..p.w];
                prow[c_lo..c_hi].copy_from_slice(&xrow[..c_hi - c_lo]);
            }
        }
    }
}

/// One output plane of a depthwise convolution from its padded input plane:
/// `o = conv + (accumulate ? o : 0)`, eight output columns at a time with every tap
/// accumulated in registers, in the AVX2+FMA build where available.
fn depthwise_plane(p: &Conv2d, geo: &DwGeom, pad: &[f32], wp: &[f32], o: &mut [f32], accumulate: bool) {
    #[cfg(target_arch = "x86_64")]
    if activation::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { depthwise_plane_avx2(p, geo, pad, wp, o, accumulate) };
        return;
    }
    depthwise_plane_any(p, geo, pad, wp, o, accumulate);
}

/// The AVX2+FMA build of the generic loops.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_plane_avx2(p: &Conv2d, geo: &DwGeom, pad: &[f32], wp: &[f32], o: &mut [f32], accumulate: bool) {
    depthwise_plane_any(p, geo, pad, wp, o, accumulate);
}

#[inline(always)]
fn depthwise_plane_any(p: &Conv2d, geo: &DwGeom, pad: &[f32], wp: &[f32], o: &mut [f32], accumulate: bool) {
    // Constant geometry for the common cases: the taps unroll and the weights stay in
    // registers.
    match (p.kh, p.kw, p.stride_w, p.dil_w) {
        (3, 3, 1, 1) => dw_rows::<3, 3>(p, geo, pad, wp, o, accumulate, 1, 1),
        (3, 3, 2, 1) => dw_rows::<3, 3>(p, geo, pad, wp, o, accumulate, 2, 1),
        (3, 3, sw, dw) => dw_rows::<3, 3>(p, geo, pad, wp, o, accumulate, sw, dw),
        (5, 5, 1, 1) => dw_rows::<5, 5>(p, geo, pad, wp, o, accumulate, 1, 1),
        (5, 5, 2, 1) => dw_rows::<5, 5>(p, geo, pad, wp, o, accumulate, 2, 1),
        _ => dw_rows_any(p, geo, pad, wp, o, accumulate),
    }
}

/// Adds (or stores) eight lanes, or the first `d.len()` of them.
#[inline(always)]
fn dw_store(d: &mut [f32], v: &[f32; 8], accumulate: bool) {
    // Fixed-size forms for whole groups: a variable-length copy would call memcpy.
    if let Ok(d) = <&mut [f32; 8]>::try_from(&mut *d) {
        if accumulate {
            for l in 0..8 {
                d[l] += v[l];
            }
        } else {
            *d = *v;
        }
    } else {
        for (d, v) in d.iter_mut().zip(v) {
            *d = if accumulate { *d + v } else { *v };
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dw_rows<const KH: usize, const KW: usize>(
    p: &Conv2d,
    geo: &DwGeom,
    pad: &[f32],
    wp: &[f32],
    o: &mut [f32],
    accumulate: bool,
    sw: usize,
    dw: usize,
) {
    let wk: [[f32; KW]; KH] = std::array::from_fn(|ky| std::array::from_fn(|kx| wp[ky * KW + kx]));
    let cols = geo.cols;
    let span = 7 * sw + (KW - 1) * dw + 1;
    let chunks = geo.ow8 / 8;
    for (oy, orow) in o.chunks_exact_mut(p.ow).enumerate() {
        let rows: [&[f32]; KH] = std::array::from_fn(|ky| &pad[(oy * p.stride_h + ky * p.dil_h) * cols..][..cols]);
        for c in 0..chunks {
            let mut v = [0f32; 8];
            for ky in 0..KH {
                let s = &rows[ky][c * 8 * sw..][..span];
                for kx in 0..KW {
                    for l in 0..8 {
                        v[l] += wk[ky][kx] * s[l * sw + kx * dw];
                    }
                }
            }
            let lo = c * 8;
            let hi = (lo + 8).min(p.ow);
            dw_store(&mut orow[lo..hi], &v, accumulate);
        }
    }
}

fn dw_rows_any(p: &Conv2d, geo: &DwGeom, pad: &[f32], wp: &[f32], o: &mut [f32], accumulate: bool) {
    let (sw, dw, kw) = (p.stride_w, p.dil_w, p.kw);
    let cols = geo.cols;
    let span = 7 * sw + (kw - 1) * dw + 1;
    for (oy, orow) in o.chunks_exact_mut(p.ow).enumerate() {
        for c in 0..geo.ow8 / 8 {
            let mut v = [0f32; 8];
            for ky in 0..p.kh {
                let s = &pad[(oy * p.stride_h + ky * p.dil_h) * cols + c * 8 * sw..][..span];
                for kx in 0..kw {
                    let wv = wp[ky * kw + kx];
                    for l in 0..8 {
                        v[l] += wv * s[l * sw + kx * dw];
                    }
                }
            }
            let lo = c * 8;
            let hi = (lo + 8).min(p.ow);
            dw_store(&mut orow[lo..hi], &v, accumulate);
        }
    }
}

/// `out = act(conv_transpose(x, w) + bias)`.
///
/// `x: [n, c, h, w]`, `w: [c, m/group, kh, kw]`, `bias: [m]`, `out: [n, m, oh, ow]`. Each
/// input pixel scatters `w * x` into the full (uncropped) output, which is then cropped by
/// `pad_t`/`pad_l` at the start and by the output size at the end; output positions nothing
/// reaches (`output_padding`) get the bias alone. `scratch` holds a column tile of about 2 MiB
/// (at least 48 input pixels' columns), grown as needed.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
) {
    p.check();
    let threads = threads.max(1);
    let (cg, mg) = (p.cg(), p.mg());
    let kdim = mg * p.kh * p.kw;
    let pix_in = p.h * p.w;
    let pix_out = p.oh * p.ow;
    assert!(x.len() >= p.n * p.c * pix_in, "conv_transpose: x too short");
    assert!(w.len() >= p.c * kdim, "conv_transpose: w too short");
    assert!(out.len() >= p.n * p.m * pix_out, "conv_transpose: out too short");
    if let Some(b) = bias {
        assert!(b.len() >= p.m, "conv_transpose: bias too short");
    }
    let out = &mut out[..p.n * p.m * pix_out];
    if out.is_empty() {
        return;
    }
    // Start from the bias.
    for_each_plane_chunk(out, pix_out, threads, |first, chunk| {
        for (k, o) in chunk.chunks_exact_mut(pix_out).enumerate() {
            o.fill(bias.map_or(0.0, |b| b[(first + k) % p.m]));
        }
    });
    if cg > 0 && kdim > 0 && pix_in > 0 {
        // Columns (input pixels) per tile, for a bounded buffer.
        let tile = (TRANSPOSE_TILE_BYTES / 4 / kdim).max(MIN_TILE).min(pix_in);
        if scratch.len() < kdim * tile {
            scratch.resize(kdim * tile, 0.0);
        }
        for b in 0..p.n {
            for g in 0..p.group {
                let xg = &x[(b * p.c + g * cg) * pix_in..][..cg * pix_in];
                let wg = &w[g * cg * kdim..][..cg * kdim];
                let og = &mut out[(b * p.m + g * mg) * pix_out..][..mg * pix_out];
                let mut j0 = 0;
                while j0 < pix_in {
                    let len = tile.min(pix_in - j0);
                    let col = &mut scratch[..kdim * len];
                    // col[kdim, len] = wg^T[kdim, cg] · xg[cg, j0..j0+len]
                    matmul_strided(kdim, cg, len, wg, 1, kdim, &xg[j0..], pix_in, 1, col, len, false, threads);
                    let col = &*col;
                    for_each_plane_chunk(og, pix_out, threads, |first, chunk| {
                        for (k, o) in chunk.chunks_exact_mut(pix_out).enumerate() {
                            let mo = first + k;
                            col2im_plane(p, &col[mo * p.kh * p.kw * len..][..p.kh * p.kw * len], j0, len, o);
                        }
                    });
                    j0 += len;
                }
            }
        }
    }
    if !matches!(act, Activation::Identity) {
        activation::apply_par(act, out, threads);
    }
}

/// Scatter-adds the `kh*kw` column rows of one output channel (input pixels `j0..j0+len`)
/// into its output plane.
fn col2im_plane(p: &Conv2d, rows: &[f32], j0: usize, len: usize, o: &mut [f32]) {
    let sw = p.stride_w;
    for ky in 0..p.kh {
        for kx in 0..p.kw {
            let row = &rows[(ky * p.kw + kx) * len..][..len];
            // Output column of input column `ix` is `ix*sw + off`.
            let off = (kx * p.dil_w) as isize - p.pad_l as isize;
            let (lo, hi) = valid_range(off, sw, p.ow, p.w);
            let mut j = 0;
            while j < len {
                let pidx = j0 + j;
                let iy = pidx / p.w;
                let ix0 = pidx % p.w;
                let seg = (p.w - ix0).min(len - j);
                let oy = (iy * p.stride_h + ky * p.dil_h) as isize - p.pad_t as isize;
                if oy >= 0 && oy < p.oh as isize {
                    let orow = &mut o[oy as usize * p.ow..][..p.ow];
                    let a = lo.clamp(ix0, ix0 + seg);
                    let bnd = hi.clamp(a, ix0 + seg);
                    if a < bnd {
                        let src = &row[j + a - ix0..j + bnd - ix0];
                        let start = (a as isize * sw as isize + off) as usize;
                        if sw == 1 {
                            for (d, &v) in orow[start..start + src.len()].iter_mut().zip(src) {
                                *d += v;
                            }
                        } else {
                            let d = &mut orow[start..start + (src.len() - 1) * sw + 1];
                            for (k, &v) in src.iter().enumerate() {
                                d[k * sw] += v;
                            }
                        }
                    }
                }
                j += seg;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::activation::test_util::*;
    use super::*;

    /// Direct definition, f64 accumulation.
    fn naive_conv(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        act: Activation,
    ) -> Vec<f32> {
        let (cg, mg) = (p.cg(), p.mg());
        let mut y = vec![0f32; p.n * p.m * p.oh * p.ow];
        for b in 0..p.n {
            for oc in 0..p.m {
                let g = oc / mg;
                for oy in 0..p.oh {
                    for ox in 0..p.ow {
                        let mut s = bias.map_or(0.0, |bs| bs[oc] as f64);
                        for ci in 0..cg {
                            let ic = g * cg + ci;
                            for ky in 0..p.kh {
                                for kx in 0..p.kw {
                                    let iy = (oy * p.stride_h + ky * p.dil_h) as isize - p.pad_t as isize;
                                    let ix = (ox * p.stride_w + kx * p.dil_w) as isize - p.pad_l as isize;
                                    if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * p.c + ic) * p.h + iy as usize) * p.w + ix as usize];
                                    let wv = w[((oc * cg + ci) * p.kh + ky) * p.kw + kx];
                                    s += xv as f64 * wv as f64;
                                }
                            }
                        }
                        let idx = ((b * p.m + oc) * p.oh + oy) * p.ow + ox;
                        if let Some(r) = residual {
                            s += r[idx] as f64;
                        }
                        y[idx] = activation::apply_scalar(act, s as f32);
                    }
                }
            }
        }
        y
    }

    fn out_size(n: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize) -> usize {
        (n + pb + pe - (d * (k - 1) + 1)) / s + 1
    }

    #[allow(clippy::too_many_arguments)]
    fn geom(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        m: usize,
        k: (usize, usize),
        s: usize,
        d: usize,
        pads: [usize; 4],
        group: usize,
    ) -> Conv2d {
        Conv2d {
            n,
            c,
            h,
            w,
            m,
            oh: out_size(h, k.0, s, d, pads[0], pads[2]),
            ow: out_size(w, k.1, s, d, pads[1], pads[3]),
            kh: k.0,
            kw: k.1,
            stride_h: s,
            stride_w: s,
            dil_h: d,
            dil_w: d,
            pad_t: pads[0],
            pad_l: pads[1],
            group,
        }
    }

    fn cases() -> Vec<Conv2d> {
        vec![
            // pointwise, with groups, odd sizes
            geom(1, 8, 7, 9, 5, (1, 1), 1, 1, [0; 4], 1),
            geom(2, 6, 5, 3, 4, (1, 1), 1, 1, [0; 4], 2),
            geom(1, 16, 33, 31, 24, (1, 1), 1, 1, [0; 4], 1),
            // 1x1 stride 2 (downsample)
            geom(1, 8, 9, 10, 16, (1, 1), 2, 1, [0; 4], 1),
            // 3x3 pad 1, stride 1 and 2
            geom(1, 5, 11, 13, 7, (3, 3), 1, 1, [1; 4], 1),
            geom(2, 4, 12, 9, 6, (3, 3), 2, 1, [1; 4], 1),
            // dilation 2, asymmetric pads, groups
            geom(1, 6, 10, 12, 4, (3, 3), 1, 2, [2, 1, 0, 2], 2),
            geom(1, 8, 15, 14, 8, (3, 2), 2, 2, [1, 0, 2, 1], 4),
            // 7x7 stride 2 pad 3 (stem)
            geom(1, 3, 20, 18, 8, (7, 7), 2, 1, [3; 4], 1),
            // kernel larger than the input
            geom(1, 2, 3, 2, 3, (5, 4), 1, 1, [2, 2, 2, 2], 1),
            // depthwise 3x3 s1/s2, pads, dilation, multiplier
            geom(2, 6, 9, 11, 6, (3, 3), 1, 1, [1; 4], 6),
            geom(1, 5, 10, 13, 5, (3, 3), 2, 1, [1; 4], 5),
            geom(1, 4, 13, 12, 4, (3, 3), 2, 1, [0, 0, 1, 1], 4),
            geom(1, 4, 10, 11, 8, (3, 3), 1, 2, [2; 4], 4),
            geom(1, 3, 9, 8, 6, (3, 3), 2, 1, [1, 0, 1, 2], 3),
            geom(1, 4, 12, 12, 8, (5, 5), 1, 1, [2; 4], 4),
            geom(1, 4, 12, 15, 4, (5, 3), 2, 1, [2, 1, 1, 0], 4),
            geom(1, 3, 4, 3, 3, (3, 3), 1, 1, [0; 4], 3),
            geom(1, 2, 2, 2, 2, (3, 3), 1, 1, [1; 4], 2),
            geom(1, 3, 15, 14, 6, (5, 5), 2, 1, [2; 4], 3),
            geom(1, 2, 13, 17, 2, (3, 3), 2, 2, [2, 1, 2, 1], 2),
            geom(2, 3, 16, 9, 3, (7, 7), 1, 1, [3; 4], 3),
            geom(1, 32, 20, 20, 32, (3, 3), 1, 1, [1; 4], 32),
            // one input channel, group 1 (depthwise path with a multiplier of m)
            geom(1, 1, 9, 9, 5, (3, 3), 1, 1, [1; 4], 1),
        ]
    }

    #[test]
    fn conv2d_matches_naive() {
        let mut rng = Rng::new(11);
        let acts = [Activation::Identity, Activation::Relu, Activation::Clip { min: -0.3, max: 0.4 }];
        for (ci, p) in cases().into_iter().enumerate() {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.cg() * p.kh * p.kw);
            let bias = rng.vec(p.m);
            let res = rng.vec(p.n * p.m * p.oh * p.ow);
            for (k, &act) in acts.iter().enumerate() {
                let use_bias = k != 1;
                let accumulate = k != 0;
                let b = use_bias.then_some(&bias[..]);
                let want = naive_conv(&p, &x, &w, b, accumulate.then_some(&res[..]), act);
                for algo in [ConvAlgo::Im2colGemm, ConvAlgo::Pointwise, ConvAlgo::Depthwise] {
                    for threads in [1, 2] {
                        let mut out = if accumulate { res.clone() } else { vec![f32::NAN; res.len()] };
                        let mut scratch = Vec::new();
                        in_pool(threads, || {
                            conv2d(&p, algo, &x, &w, b, &mut out, accumulate, act, &mut scratch, threads)
                        });
                        assert_close(&out, &want, 1e-4);
                    }
                }
            }
            // Forced tilings of the GEMM paths: narrow tiles, both modes.
            if !p.is_depthwise() {
                let want = naive_conv(&p, &x, &w, Some(&bias), Some(&res), Activation::Relu);
                let pix = p.oh * p.ow;
                for tile in [1, 5, 16, pix] {
                    for parallel_tiles in [false, true] {
                        for threads in [1, 2] {
                            for direct in [false, p.is_pointwise()] {
                                let mut out = res.clone();
                                let mut scratch = Vec::new();
                                let plan = TilePlan { tile: tile.min(pix), parallel_tiles };
                                in_pool(threads, || {
                                    conv_gemm(
                                        &p,
                                        direct,
                                        plan,
                                        &x,
                                        &w,
                                        Some(&bias),
                                        &mut out,
                                        true,
                                        Activation::Relu,
                                        &mut scratch,
                                        threads,
                                    )
                                });
                                assert_close(&out, &want, 1e-4);
                            }
                        }
                    }
                }
            }
            let _ = ci;
        }
    }

    #[test]
    fn conv2d_empty_reduction() {
        let p = Conv2d {
            n: 1,
            c: 0,
            h: 3,
            w: 3,
            m: 2,
            oh: 3,
            ow: 3,
            kh: 1,
            kw: 1,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_t: 0,
            pad_l: 0,
            group: 1,
        };
        let mut out = vec![f32::NAN; 18];
        conv2d(
            &p,
            ConvAlgo::Pointwise,
            &[],
            &[],
            Some(&[1.0, -1.0]),
            &mut out,
            false,
            Activation::Relu,
            &mut Vec::new(),
            1,
        );
        assert_eq!(out, [vec![1.0; 9], vec![0.0; 9]].concat());
    }

    fn naive_conv_transpose(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, act: Activation) -> Vec<f32> {
        let (cg, mg) = (p.cg(), p.mg());
        let mut y = vec![0f64; p.n * p.m * p.oh * p.ow];
        for b in 0..p.n {
            for ic in 0..p.c {
                let g = ic / cg;
                for iy in 0..p.h {
                    for ix in 0..p.w {
                        let xv = x[((b * p.c + ic) * p.h + iy) * p.w + ix] as f64;
                        for mo in 0..mg {
                            let oc = g * mg + mo;
                            for ky in 0..p.kh {
                                for kx in 0..p.kw {
                                    let oy = (iy * p.stride_h + ky * p.dil_h) as isize - p.pad_t as isize;
                                    let ox = (ix * p.stride_w + kx * p.dil_w) as isize - p.pad_l as isize;
                                    if oy < 0 || ox < 0 || oy >= p.oh as isize || ox >= p.ow as isize {
                                        continue;
                                    }
                                    let wv = w[((ic * mg + mo) * p.kh + ky) * p.kw + kx] as f64;
                                    y[((b * p.m + oc) * p.oh + oy as usize) * p.ow + ox as usize] += xv * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
        y.iter()
            .enumerate()
            .map(|(i, &v)| {
                let oc = (i / (p.oh * p.ow)) % p.m;
                activation::apply_scalar(act, (v + bias.map_or(0.0, |b| b[oc] as f64)) as f32)
            })
            .collect()
    }

    #[test]
    fn conv_transpose2d_matches_naive() {
        let mut rng = Rng::new(12);
        // (n, c, h, w, m, k, s, d, pads [t, l, b, r], output_padding, group)
        #[allow(clippy::type_complexity)]
        let cases: &[(
            usize,
            usize,
            usize,
            usize,
            usize,
            (usize, usize),
            usize,
            usize,
            [usize; 4],
            usize,
            usize,
        )] = &[
            (1, 3, 4, 5, 2, (3, 3), 1, 1, [0; 4], 0, 1),
            (2, 4, 5, 3, 6, (3, 3), 2, 1, [1; 4], 1, 2),
            (1, 2, 3, 3, 3, (4, 4), 2, 1, [1, 1, 1, 1], 0, 1),
            (1, 4, 6, 7, 4, (3, 2), 3, 2, [2, 0, 1, 3], 2, 4),
            (1, 6, 9, 8, 4, (2, 2), 2, 1, [0; 4], 0, 2),
            (1, 5, 1, 1, 3, (5, 5), 1, 1, [0; 4], 0, 1),
            // more input pixels than one column tile
            (1, 4, 30, 30, 64, (4, 4), 2, 1, [1; 4], 0, 1),
        ];
        for &(n, c, h, w, m, k, s, d, pads, opad, group) in cases {
            let oh = (h - 1) * s + d * (k.0 - 1) + 1 + opad - pads[0] - pads[2];
            let ow = (w - 1) * s + d * (k.1 - 1) + 1 + opad - pads[1] - pads[3];
            let p = Conv2d {
                n,
                c,
                h,
                w,
                m,
                oh,
                ow,
                kh: k.0,
                kw: k.1,
                stride_h: s,
                stride_w: s,
                dil_h: d,
                dil_w: d,
                pad_t: pads[0],
                pad_l: pads[1],
                group,
            };
            let x = rng.vec(n * c * h * w);
            let wt = rng.vec(c * (m / group) * k.0 * k.1);
            let bias = rng.vec(m);
            for (b, act) in [(None, Activation::Identity), (Some(&bias[..]), Activation::Relu)] {
                let want = naive_conv_transpose(&p, &x, &wt, b, act);
                for threads in [1, 2] {
                    let mut out = vec![f32::NAN; want.len()];
                    let mut scratch = Vec::new();
                    in_pool(threads, || conv_transpose2d(&p, &x, &wt, b, &mut out, act, &mut scratch, threads));
                    assert_close(&out, &want, 1e-4);
                }
            }
        }
    }

    /// GFLOP/s of ResNet-style convolutions: `cargo test --release -- --ignored --nocapture bench_conv`.
    #[test]
    #[ignore]
    fn bench_conv() {
        let shapes = [
            ("3x3 64->64 56x56", geom(1, 64, 56, 56, 64, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1 256->64 56x56", geom(1, 256, 56, 56, 64, (1, 1), 1, 1, [0; 4], 1)),
            ("1x1 64->256 56x56", geom(1, 64, 56, 56, 256, (1, 1), 1, 1, [0; 4], 1)),
            ("7x7/2 3->64 224", geom(1, 3, 224, 224, 64, (7, 7), 2, 1, [3; 4], 1)),
            ("3x3 128 28x28", geom(1, 128, 28, 28, 128, (3, 3), 1, 1, [1; 4], 1)),
            ("3x3 256 14x14", geom(1, 256, 14, 14, 256, (3, 3), 1, 1, [1; 4], 1)),
            ("3x3 512 7x7", geom(1, 512, 7, 7, 512, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1/2 256->512 56", geom(1, 256, 56, 56, 512, (1, 1), 2, 1, [0; 4], 1)),
            ("dw 3x3 144 56x56", geom(1, 144, 56, 56, 144, (3, 3), 1, 1, [1; 4], 144)),
        ];
        let mut rng = Rng::new(3);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for (name, p) in shapes {
                let x = rng.vec(p.n * p.c * p.h * p.w);
                let w = rng.vec(p.m * p.cg() * p.kh * p.kw);
                let bias = rng.vec(p.m);
                let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
                let mut scratch = Vec::new();
                let run = |out: &mut [f32], scratch: &mut Vec<f32>| {
                    conv2d(
                        &p,
                        ConvAlgo::Im2colGemm,
                        &x,
                        &w,
                        Some(&bias),
                        out,
                        false,
                        Activation::Relu,
                        scratch,
                        threads,
                    )
                };
                let secs = pool.install(|| time_it(|| run(&mut out, &mut scratch)));
                // The bare product for comparison: [m, kdim] x [kdim, pix].
                let kdim = p.cg() * p.kh * p.kw;
                let pix = p.oh * p.ow;
                let b = rng.vec(kdim * pix);
                let mut c = vec![0f32; p.m * pix];
                let gsecs = pool.install(|| {
                    time_it(|| {
                        super::super::gemm::matmul(p.m, kdim, pix, &w, kdim, 1, &b, pix, 1, &mut c, false, threads)
                    })
                });
                let gf = p.flops() as f64 / 1e9;
                println!(
                    "threads={threads} {name:>20}: conv {:7.3} ms {:6.1} GFLOP/s | bare gemm {:7.3} ms {:6.1} GFLOP/s",
                    secs * 1e3,
                    gf / secs,
                    gsecs * 1e3,
                    gf / gsecs
                );
            }
        }
    }

    #[test]
    #[ignore]
    fn sweep_tiles() {
        let shapes = [
            ("3x3 64->64 56x56", geom(1, 64, 56, 56, 64, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1 256->64 56x56", geom(1, 256, 56, 56, 64, (1, 1), 1, 1, [0; 4], 1)),
            ("7x7/2 3->64 224", geom(1, 3, 224, 224, 64, (7, 7), 2, 1, [3; 4], 1)),
            ("3x3 256 14x14", geom(1, 256, 14, 14, 256, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1/2 256->512 56", geom(1, 256, 56, 56, 512, (1, 1), 2, 1, [0; 4], 1)),
        ];
        let mut rng = Rng::new(3);
        for (name, p) in shapes {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.cg() * p.kh * p.kw);
            let bias = rng.vec(p.m);
            let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
            let mut scratch = Vec::new();
            let pix = p.oh * p.ow;
            for tile in [48, 96, 144, 192, 240, 288, 384, 480, 768, 1024, 1536, pix] {
                let tile = tile.min(pix);
                let plan = TilePlan { tile, parallel_tiles: false };
                let direct = p.is_pointwise();
                let secs = time_it(|| {
                    conv_gemm(&p, direct, plan, &x, &w, Some(&bias), &mut out, false, Activation::Relu, &mut scratch, 1)
                });
                println!(
                    "{name:>20} tile {tile:5}: {:7.3} ms {:6.1} GFLOP/s",
                    secs * 1e3,
                    p.flops() as f64 / 1e9 / secs
                );
            }
        }
    }

    #[test]
    #[ignore]
    fn bench_im2col() {
        let shapes = [
            ("3x3 64->64 56x56", geom(1, 64, 56, 56, 64, (3, 3), 1, 1, [1; 4], 1)),
            ("7x7/2 3->64 224", geom(1, 3, 224, 224, 64, (7, 7), 2, 1, [3; 4], 1)),
            ("3x3 256 14x14", geom(1, 256, 14, 14, 256, (3, 3), 1, 1, [1; 4], 1)),
            ("3x3 512 7x7", geom(1, 512, 7, 7, 512, (3, 3), 1, 1, [1; 4], 1)),
            ("3x3/2 128 56", geom(1, 128, 56, 56, 128, (3, 3), 2, 1, [1; 4], 1)),
            ("3x3/2 256 28", geom(1, 256, 28, 28, 256, (3, 3), 2, 1, [1; 4], 1)),
            ("3x3/2 512 14", geom(1, 512, 14, 14, 512, (3, 3), 2, 1, [1; 4], 1)),
            ("1x1/2 256 56", geom(1, 256, 56, 56, 512, (1, 1), 2, 1, [0; 4], 1)),
        ];
        let mut rng = Rng::new(3);
        for (name, p) in shapes {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let pix = p.oh * p.ow;
            let kdim = p.cg() * p.kh * p.kw;
            let mut col = vec![0f32; kdim * pix];
            let secs = time_it(|| im2col_tile(&p, &x, 0, pix, &mut col, 1));
            println!("{name:>20}: im2col {:7.3} ms, {:.2} ns/elem", secs * 1e3, secs * 1e9 / (kdim * pix) as f64);
        }
    }

    /// Thread scaling of the two tile modes: `cargo test --release -- --ignored --nocapture sweep_modes`.
    #[test]
    #[ignore]
    fn sweep_modes() {
        let shapes = [
            ("7x7/2 3->64 224", geom(1, 3, 224, 224, 64, (7, 7), 2, 1, [3; 4], 1)),
            ("1x1 64->64 56", geom(1, 64, 56, 56, 64, (1, 1), 1, 1, [0; 4], 1)),
            ("3x3 64 56", geom(1, 64, 56, 56, 64, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1 64->256 56", geom(1, 64, 56, 56, 256, (1, 1), 1, 1, [0; 4], 1)),
            ("1x1 256->64 56", geom(1, 256, 56, 56, 64, (1, 1), 1, 1, [0; 4], 1)),
            ("1x1 256->128 56", geom(1, 256, 56, 56, 128, (1, 1), 1, 1, [0; 4], 1)),
            ("3x3/2 128 56", geom(1, 128, 56, 56, 128, (3, 3), 2, 1, [1; 4], 1)),
            ("1x1/2 256->512 56", geom(1, 256, 56, 56, 512, (1, 1), 2, 1, [0; 4], 1)),
            ("3x3 128 28", geom(1, 128, 28, 28, 128, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1 512->128 28", geom(1, 512, 28, 28, 128, (1, 1), 1, 1, [0; 4], 1)),
            ("1x1 128->512 28", geom(1, 128, 28, 28, 512, (1, 1), 1, 1, [0; 4], 1)),
            ("3x3 256 14", geom(1, 256, 14, 14, 256, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1 1024->256 14", geom(1, 1024, 14, 14, 256, (1, 1), 1, 1, [0; 4], 1)),
            ("1x1 256->1024 14", geom(1, 256, 14, 14, 1024, (1, 1), 1, 1, [0; 4], 1)),
            ("3x3 512 7", geom(1, 512, 7, 7, 512, (3, 3), 1, 1, [1; 4], 1)),
            ("1x1 2048->512 7", geom(1, 2048, 7, 7, 512, (1, 1), 1, 1, [0; 4], 1)),
            ("1x1 512->2048 7", geom(1, 512, 7, 7, 2048, (1, 1), 1, 1, [0; 4], 1)),
        ];
        let mut rng = Rng::new(3);
        let pools: Vec<_> =
            [1, 2].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
        for (name, p) in shapes {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.cg() * p.kh * p.kw);
            let bias = rng.vec(p.m);
            let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
            let mut scratch = Vec::new();
            let direct = p.is_pointwise();
            let gf = p.flops() as f64 / 1e9;
            let mut line = format!("{name:>18}");
            for threads in [1, 2] {
                let pool = &pools[threads - 1];
                let chosen = TilePlan::choose(&p, direct, threads);
                let mut plans = vec![chosen];
                if threads > 1 {
                    let pix = p.oh * p.ow;
                    plans.push(TilePlan { tile: TilePlan::choose(&p, direct, 1).tile, parallel_tiles: false });
                    plans.push(TilePlan { tile: pix, parallel_tiles: false });
                    plans.push(TilePlan { tile: pix.div_ceil(2).next_multiple_of(16).min(pix), parallel_tiles: true });
                    plans.push(TilePlan { tile: pix.div_ceil(4).next_multiple_of(16).min(pix), parallel_tiles: true });
                }
                for plan in plans {
                    let secs = pool.install(|| {
                        time_it(|| {
                            conv_gemm(
                                &p,
                                direct,
                                plan,
                                &x,
                                &w,
                                Some(&bias),
                                &mut out,
                                false,
                                Activation::Relu,
                                &mut scratch,
                                threads,
                            )
                        })
                    });
                    line += &format!(
                        " | t{threads} {}{:<4} {:6.1}",
                        if plan.parallel_tiles { "P" } else { "S" },
                        plan.tile,
                        gf / secs
                    );
                }
            }
            println!("{line}");
        }
    }

    /// For profiling: `CONV_SHAPE=c,h,m,k,s,pad,group` (square), runs the conv repeatedly.
    #[test]
    #[ignore]
    fn profile_conv() {
        let spec: Vec<usize> = std::env::var("CONV_SHAPE")
            .unwrap_or_else(|_| "256,56,512,1,2,0,1".into())
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        let threads: usize = std::env::var("CONV_THREADS").map_or(1, |v| v.parse().unwrap());
        let p = geom(1, spec[0], spec[1], spec[1], spec[2], (spec[3], spec[3]), spec[4], 1, [spec[5]; 4], spec[6]);
        let mut rng = Rng::new(3);
        let x = rng.vec(p.n * p.c * p.h * p.w);
        let w = rng.vec(p.m * p.cg() * p.kh * p.kw);
        let bias = rng.vec(p.m);
        let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
        let mut scratch = Vec::new();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let secs = pool.install(|| {
            time_it(|| {
                for _ in 0..20 {
                    conv2d(
                        &p,
                        ConvAlgo::Im2colGemm,
                        &x,
                        &w,
                        Some(&bias),
                        &mut out,
                        false,
                        Activation::Relu,
                        &mut scratch,
                        threads,
                    )
                }
            })
        }) / 20.0;
        println!("{p:?}: {:.3} ms {:.1} GFLOP/s", secs * 1e3, p.flops() as f64 / 1e9 / secs);
    }

    /// The host's depthwise (AVX-512 or AVX2), pointwise and grouped kernels against the portable paths
    /// (depthwise sliding window, `gemm`-crate products), interleaved, on MobileNet, RegNet
    /// and PoseNet shapes:
    /// `cargo test --release -p hetc-runtime --lib -- --ignored --nocapture bench_dw_pw`
    /// (`BENCH_FILTER=dw` to select shapes by name).
    #[test]
    #[ignore]
    fn bench_dw_pw() {
        let shapes = [
            ("dw 32 112 s1", geom(1, 32, 112, 112, 32, (3, 3), 1, 1, [1; 4], 32)),
            ("dw 96 112 s2", geom(1, 96, 112, 112, 96, (3, 3), 2, 1, [1; 4], 96)),
            ("dw 144 56 s1", geom(1, 144, 56, 56, 144, (3, 3), 1, 1, [1; 4], 144)),
            ("dw 192 28 s1", geom(1, 192, 28, 28, 192, (3, 3), 1, 1, [1; 4], 192)),
            ("dw 576 14 s1", geom(1, 576, 14, 14, 576, (3, 3), 1, 1, [1; 4], 576)),
            ("dw 960 7 s1", geom(1, 960, 7, 7, 960, (3, 3), 1, 1, [1; 4], 960)),
            ("dw 1024 17 s1", geom(1, 1024, 17, 17, 1024, (3, 3), 1, 1, [1; 4], 1024)),
            ("dw 48 160 5x5", geom(1, 48, 160, 160, 48, (5, 5), 1, 1, [2; 4], 48)),
            ("pw 16>96 112", geom(1, 16, 112, 112, 96, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 32>16 112", geom(1, 32, 112, 112, 16, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 24>144 56", geom(1, 24, 56, 56, 144, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 144>24 56", geom(1, 144, 56, 56, 24, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 32>192 28", geom(1, 32, 28, 28, 192, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 96>576 14", geom(1, 96, 14, 14, 576, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 576>96 14", geom(1, 576, 14, 14, 96, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 384>64 14", geom(1, 384, 14, 14, 64, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 192>32 28", geom(1, 192, 28, 28, 32, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 960>160 7", geom(1, 960, 7, 7, 160, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 160>960 7", geom(1, 160, 7, 7, 960, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 960>320 7", geom(1, 960, 7, 7, 320, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 320>1280 7", geom(1, 320, 7, 7, 1280, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 408>912 14", geom(1, 408, 14, 14, 912, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 32>72 112", geom(1, 32, 112, 112, 72, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 1024 17", geom(1, 1024, 17, 17, 1024, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 512>1024 17", geom(1, 512, 17, 17, 1024, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 512 17", geom(1, 512, 17, 17, 512, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 256 33", geom(1, 256, 33, 33, 256, (1, 1), 1, 1, [0; 4], 1)),
            ("pw 128 65", geom(1, 128, 65, 65, 128, (1, 1), 1, 1, [0; 4], 1)),
            ("g3 72 112 s2", geom(1, 72, 112, 112, 72, (3, 3), 2, 1, [1; 4], 3)),
            ("g3 72 56", geom(1, 72, 56, 56, 72, (3, 3), 1, 1, [1; 4], 3)),
            ("g7 168 28", geom(1, 168, 28, 28, 168, (3, 3), 1, 1, [1; 4], 7)),
            ("g17 408 14", geom(1, 408, 14, 14, 408, (3, 3), 1, 1, [1; 4], 17)),
            ("g38 912 7", geom(1, 912, 7, 7, 912, (3, 3), 1, 1, [1; 4], 38)),
            ("d 16>32 32 s2", geom(1, 16, 32, 32, 32, (3, 3), 2, 1, [1; 4], 1)),
            ("d 32>64 16 s2", geom(1, 32, 16, 16, 64, (3, 3), 2, 1, [1; 4], 1)),
            ("d 64>128 8 s2", geom(1, 64, 8, 8, 128, (3, 3), 2, 1, [1; 4], 1)),
            ("d 128 4", geom(1, 128, 4, 4, 128, (3, 3), 1, 1, [1; 4], 1)),
            ("d 64>128 56 s2", geom(1, 64, 56, 56, 128, (3, 3), 2, 1, [1; 4], 1)),
            ("d 128>256 28 s2", geom(1, 128, 28, 28, 256, (3, 3), 2, 1, [1; 4], 1)),
            ("d 256>512 14 s2", geom(1, 256, 14, 14, 512, (3, 3), 2, 1, [1; 4], 1)),
            ("d 512 7", geom(1, 512, 7, 7, 512, (3, 3), 1, 1, [1; 4], 1)),
            ("d 3>32 224 s2", geom(1, 3, 224, 224, 32, (3, 3), 2, 1, [1; 4], 1)),
            ("d 256>128 1x1 s2", geom(1, 256, 56, 56, 128, (1, 1), 2, 1, [0; 4], 1)),
            ("d 3>32 257 s2", geom(1, 3, 257, 257, 32, (3, 3), 2, 1, [1; 4], 1)),
            ("d 3>64 224 k7 s2", geom(1, 3, 224, 224, 64, (7, 7), 2, 1, [3; 4], 1)),
            ("d 16>16 32", geom(1, 16, 32, 32, 16, (3, 3), 1, 1, [1; 4], 1)),
        ];
        let filter = std::env::var("BENCH_FILTER").unwrap_or_default();
        let act = Activation::Clip { min: 0.0, max: 6.0 };
        let mut rng = Rng::new(5);
        let pools: Vec<_> =
            [1, 2].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
        for (name, p) in shapes.into_iter().filter(|(n, _)| n.contains(filter.as_str())) {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.cg() * p.kh * p.kw);
            let bias = rng.vec(p.m);
            let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
            let mut scratch = Vec::new();
            for threads in [1, 2] {
                let pool = &pools[threads - 1];
                let mut run = |new: bool| {
                    pool.install(|| {
                        let (b, o) = (Some(&bias[..]), &mut out[..]);
                        if new {
                            conv2d(&p, ConvAlgo::Im2colGemm, &x, &w, b, o, false, act, &mut scratch, threads);
                        } else if p.is_depthwise() {
                            depthwise(&p, &x, &w, b, o, false, act, threads);
                        } else {
                            let direct = p.is_pointwise();
                            let plan = TilePlan::choose(&p, direct, threads);
                            conv_gemm(&p, direct, plan, &x, &w, b, o, false, act, &mut scratch, threads);
                        }
                    })
                };
                // Interleaved samples of a few runs each.
                let reps = (20_000_000 / p.flops().max(1) as usize).clamp(1, 200);
                let mut t = [Vec::new(), Vec::new()];
                for _ in 0..25 {
                    for (k, new) in [false, true].into_iter().enumerate() {
                        run(new);
                        let s = std::time::Instant::now();
                        for _ in 0..reps {
                            run(new);
                        }
                        t[k].push(s.elapsed().as_secs_f64() * 1e3 / reps as f64);
                    }
                }
                let stat = |v: &mut Vec<f64>| {
                    v.sort_by(f64::total_cmp);
                    (v[0], v[v.len() / 2])
                };
                let ((omin, omed), (nmin, nmed)) = (stat(&mut t[0]), stat(&mut t[1]));
                println!(
                    "t{threads} {name:>14}: old min {omin:7.4} med {omed:7.4} ms | new min {nmin:7.4} med {nmed:7.4} ms \
                     ({:5.1} GFLOP/s) | new/old {:.2}",
                    p.flops() as f64 / 1e6 / nmin,
                    nmin / omin
                );
            }
        }
    }

    /// Best of several runs, after a warm-up.
    fn time_it(mut f: impl FnMut()) -> f64 {
        f();
        let mut best = f64::MAX;
        for _ in 0..15 {
            let t = std::time::Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    }
}
