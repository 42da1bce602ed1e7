//! Winograd convolution, F(4x4, 3x3) or F(2x2, 3x3) (3x3, stride 1, undilated, one group;
//! any padding).
//!
//! The compiler transforms the weights once into `U` (layout in [`hetc_plan::winograd`]:
//! `[a², ceil(M/32), C, 32]` with `a = 6` or `4` the input tile). Per block of tile rows of
//! one image:
//!
//! 1. **input transform**: every `a x a` input patch (zero outside the image) becomes
//!    `B^T d B`, sixteen horizontally adjacent tiles at a time, read straight from the NCHW
//!    input with masked loads, into `V: [a²][C][tiles]`;
//! 2. **`a²` matrix products** `Y_e = U_e · V_e` (`[M x C] x [C x tiles]`) by a
//!    register-blocked kernel that reads the packed weights as they are (32 output channels
//!    by up to 14 tiles per step, 28 accumulators), into `Y: [M/32][tiles][a²][32]`; when the
//!    weights do not fit in L2, each (element, panel) step prefetches the next panel while it
//!    computes;
//! 3. **output transform** `A^T Y A`, sixteen output channels at a time, staged per output
//!    row, transposed to the NCHW output sixteen pixels at a time and written once with the
//!    epilogue: `out = act(conv + bias + residual)`.
//!
//! Blocks are sized so that `V` and `Y` stay in L2, unless the weights are so large that
//! streaming them once per block would cost more than letting `V` and `Y` spill to L3. With
//! several threads, whole blocks are spread over the threads when there are enough of them;
//! otherwise each phase of each block is split (over input channels, over (element, panel)
//! products, over output channels).
//!
//! The AVX-512 build does all three phases with intrinsics. Elsewhere the transforms are
//! portable loops and the products go through the `gemm` crate ([`super::gemm::gemm_raw`]).

use hetc_plan::Activation;
use hetc_plan::winograd::{M_BLOCK, Variant, m_blocks};
use rayon::prelude::*;

use super::activation;
use super::conv::Conv2d;
use super::gemm::gemm_raw;
use crate::cpu::introspect;

/// Lanes of the transforms: sixteen tiles (input) or output channels (output) at a time.
const L: usize = 16;
/// Bytes of `V` and `Y` per block that should stay in (a core's share of) L2.
const BLOCK_BYTES: usize = 1536 * 1024;
/// Fewest tiles per block when the image has them: each block streams all the weights.
const MIN_BLOCK_TILES: usize = 32;
/// Transformed weights larger than this are prefetched panel by panel (they do not stay in
/// L2 from one block to the next).
const PREFETCH_WEIGHT_BYTES: usize = 1 << 20;
/// Most tiles per step of the AVX-512 product kernel (2 x 14 accumulators).
const NT_MAX: usize = 14;

/// Whether the Winograd kernel computes this convolution (3x3, stride 1, dilation 1, group 1).
pub fn applies(p: &Conv2d) -> bool {
    p.kh == 3 && p.kw == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 && p.group == 1
}

/// Instruction sets the kernel is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2,
    Plain,
}

impl Isa {
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if super::simd512::available() {
                return Isa::Avx512;
            }
            if activation::has_avx2_fma() {
                return Isa::Avx2;
            }
        }
        Isa::Plain
    }
}

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))` for a convolution that [`applies`],
/// with `u` the weights transformed for `variant` (`[a², ceil(m/32), c, 32]`, see
/// [`hetc_plan::winograd`]).
///
/// `x: [n, c, h, w]`, `bias: [m]`, `out: [n, m, oh, ow]` with `oh = h + pad_t + pad_b - 2`
/// and `ow = w + pad_l + pad_r - 2`; when `accumulate`, `out` holds the residual on entry.
/// `scratch` is reused between calls and grown as needed.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_winograd(
    p: &Conv2d,
    variant: Variant,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
) {
    let threads = threads_for(p, threads);
    conv2d_winograd_with(p, variant, x, u, bias, out, accumulate, act, scratch, threads, None, Isa::detect());
}

/// Threads worth using: small convolutions take longer to split than to compute (the rule
/// every convolution kernel follows, [`introspect::conv_threads`]).
pub(crate) fn threads_for(p: &Conv2d, threads: usize) -> usize {
    introspect::conv_threads(p, introspect::ConvImpl::Winograd, threads)
}

/// Scratch elements [`conv2d_winograd`] will use for this geometry (it grows `scratch` itself;
/// this is for callers that want to allocate up front).
pub fn scratch_len(p: &Conv2d, variant: Variant, threads: usize) -> usize {
    if !applies(p) || p.n * p.m * p.oh * p.ow == 0 {
        return 0;
    }
    let threads = threads_for(p, threads);
    let plan = BlockPlan::choose(p, variant, threads);
    let g = Geom::new(p, variant);
    let rows = plan.rows.clamp(1, g.ty);
    let per = g.v_len(rows * g.tx, p.c).saturating_add((rows * g.tx).saturating_mul(g.elems).saturating_mul(g.mp));
    let items = p.n * g.ty.div_ceil(rows);
    if plan.parallel_blocks && threads > 1 && items > 1 { per.saturating_mul(threads.min(items)) } else { per }
}

/// How the tiles are split into blocks and the blocks over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockPlan {
    /// Tile rows per block.
    pub rows: usize,
    /// Blocks spread over threads (true), or run in turn with each phase split (false).
    pub parallel_blocks: bool,
}

impl BlockPlan {
    pub(crate) fn choose(p: &Conv2d, variant: Variant, threads: usize) -> BlockPlan {
        let g = Geom::new(p, variant);
        // Rows whose `V` and `Y` fit the L2 budget...
        let per_row = (g.elems * 4 * g.tx).saturating_mul(p.c.saturating_add(g.mp));
        let fit = BLOCK_BYTES / per_row.max(1);
        // ...but enough tiles that streaming the weights (`a² * mp * c`) costs no more than
        // the block's own `V` and `Y` (`a² * nt * (c + mp)`).
        let tiles = (g.mp.saturating_mul(p.c) / p.c.saturating_add(g.mp).max(1)).max(MIN_BLOCK_TILES);
        let rows = fit.max(tiles.div_ceil(g.tx)).clamp(1, g.ty);
        // Equal blocks.
        let blocks = g.ty.div_ceil(rows);
        let rows = g.ty.div_ceil(blocks);
        let parallel_blocks = threads > 1 && p.n * blocks >= 2 * threads;
        BlockPlan { rows, parallel_blocks }
    }
}

/// Padding after each element's `c x nt` plane of `V`, so that the input transform's `a²`
/// stores per tile do not all map to one L1 set when `c * nt` is a multiple of 1024.
const V_PAD: usize = 16;

/// `V` for a block of `nt` tiles of `c` input channels holds element `e` of tile `t` of
/// channel `ci` at `e * v_es(nt, c) + ci * nt + t`: the products read each element's `c x nt`
/// matrix row by row.
fn v_es(nt: usize, c: usize) -> usize {
    c.saturating_mul(nt).saturating_add(V_PAD)
}

/// Derived sizes.
#[derive(Debug, Clone, Copy)]
struct Geom {
    variant: Variant,
    /// Output and input tile sides, elements of a transformed tile.
    mo: usize,
    a: usize,
    elems: usize,
    /// Tile rows and columns.
    ty: usize,
    tx: usize,
    /// Output-channel panels and padded output channels.
    mb: usize,
    mp: usize,
    /// Chunks of sixteen tiles per tile row.
    chunks: usize,
    /// Length of a zero-padded input row: input column `ix` at `ix + pad_l`, with room for
    /// every chunk's loads.
    wrow: usize,
    /// Pixels per staged output row (a multiple of sixteen).
    spix: usize,
    /// Elements from one staged output row to the next: `spix` pixels of sixteen channels,
    /// plus one vector so that the rows are not 4 KiB apart (stores to them would alias).
    sstride: usize,
}

impl Geom {
    fn new(p: &Conv2d, variant: Variant) -> Geom {
        let mo = variant.out_tile();
        let mb = m_blocks(p.m);
        let tx = p.ow.div_ceil(mo);
        let chunks = tx.div_ceil(L);
        Geom {
            variant,
            mo,
            a: variant.in_tile(),
            elems: variant.elems(),
            ty: p.oh.div_ceil(mo),
            tx,
            mb,
            mp: mb * M_BLOCK,
            chunks,
            wrow: mo * L * chunks + 2 * L,
            spix: (mo * tx).next_multiple_of(L),
            sstride: (mo * tx).next_multiple_of(L) * L + L,
        }
    }

    /// Elements of `V` for `nt` tiles of `c` channels.
    fn v_len(&self, nt: usize, c: usize) -> usize {
        self.elems.saturating_mul(v_es(nt, c))
    }
}

/// [`conv2d_winograd`] with a given block plan (tests and tuning) and instruction set.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_winograd_with(
    p: &Conv2d,
    variant: Variant,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
    plan: Option<BlockPlan>,
    isa: Isa,
) {
    assert!(applies(p), "winograd: not a 3x3/s1/d1/g1 convolution: {p:?}");
    let threads = threads.max(1);
    let g = Geom::new(p, variant);
    assert!(x.len() >= p.n * p.c * p.h * p.w, "winograd: x too short");
    assert!(u.len() >= variant.weight_shape(p.m, p.c).iter().product(), "winograd: u too short");
    assert!(out.len() >= p.n * p.m * p.oh * p.ow, "winograd: out too short");
    if let Some(b) = bias {
        assert!(b.len() >= p.m, "winograd: bias too short");
    }
    // Every input column lands inside the padded row buffer.
    assert!(p.pad_l + p.w <= p.ow + 2, "winograd: output narrower than the padded input: {p:?}");
    let out = &mut out[..p.n * p.m * p.oh * p.ow];
    if out.is_empty() {
        return;
    }
    let plan = plan.unwrap_or_else(|| BlockPlan::choose(p, variant, threads));
    let rows = plan.rows.clamp(1, g.ty);
    let nt_max = rows * g.tx;
    let (vn, yn) = (g.v_len(nt_max, p.c), g.elems * g.mp * nt_max);
    let ctx = Ctx { p, g, x, u, bias, accumulate, act, out: SendPtr(out.as_mut_ptr()), isa };
    let blocks = g.ty.div_ceil(rows);
    let items = p.n * blocks;
    let block = |item: usize| {
        let (b, k) = (item / blocks, item % blocks);
        (b, k * rows, ((k + 1) * rows).min(g.ty))
    };
    if plan.parallel_blocks && threads > 1 && items > 1 {
        let workers = threads.min(items);
        let per = vn + yn;
        if scratch.len() < workers * per {
            scratch.resize(workers * per, 0.0);
        }
        scratch[..workers * per].par_chunks_mut(per).enumerate().for_each(|(t, buf)| {
            let (v, y) = buf.split_at_mut(vn);
            let mut bufs = Bufs::default();
            for item in items * t / workers..items * (t + 1) / workers {
                let (b, ty0, ty1) = block(item);
                let nt = (ty1 - ty0) * g.tx;
                let (v, y) = (&mut v[..g.v_len(nt, p.c)], &mut y[..g.elems * g.mp * nt]);
                // SAFETY: `v` is this worker's own buffer of `v_len(nt, c)` elements.
                unsafe { ctx.input_transform(b, ty0, ty1, 0..p.c, SendPtr(v.as_mut_ptr()), &mut bufs) };
                // SAFETY: `y` is this worker's own buffer of `a² * mp * nt` elements.
                unsafe { ctx.products(nt, 0..g.elems * g.mb, v, SendPtr(y.as_mut_ptr())) };
                // SAFETY: blocks own disjoint output rows (tile rows `ty0..ty1` of image
                // `b`), and each block runs on exactly one worker.
                unsafe { ctx.output_transform(b, ty0, ty1, 0..g.mp / L, y, &mut bufs) };
            }
        });
    } else {
        if scratch.len() < vn + yn {
            scratch.resize(vn + yn, 0.0);
        }
        let (v, y) = scratch[..vn + yn].split_at_mut(vn);
        for item in 0..items {
            let (b, ty0, ty1) = block(item);
            let nt = (ty1 - ty0) * g.tx;
            let (v, y) = (&mut v[..g.v_len(nt, p.c)], &mut y[..g.elems * g.mp * nt]);
            ctx.run_block_split(b, ty0, ty1, v, y, threads);
        }
    }
}

/// A raw pointer that may cross threads; users guarantee disjoint access.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);

// SAFETY: the pointer is only dereferenced by code whose callers write disjoint regions from
// different threads (documented at each use).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Per-worker staging buffers.
#[derive(Default)]
struct Bufs {
    /// `a` zero-padded input rows of `wrow` elements (portable builds).
    rows: Vec<f32>,
    /// `mo` output rows of `spix` pixels of sixteen channels each, pixel-major, `sstride`
    /// apart.
    stage: Vec<f32>,
}

struct Ctx<'a> {
    p: &'a Conv2d,
    g: Geom,
    x: &'a [f32],
    u: &'a [f32],
    bias: Option<&'a [f32]>,
    accumulate: bool,
    act: Activation,
    /// Start of the whole output `[n, m, oh, ow]`.
    out: SendPtr,
    isa: Isa,
}

impl Ctx<'_> {
    /// One block with each phase split over `threads`.
    fn run_block_split(&self, b: usize, ty0: usize, ty1: usize, v: &mut [f32], y: &mut [f32], threads: usize) {
        let (p, g) = (self.p, self.g);
        let nt = (ty1 - ty0) * g.tx;
        let groups = g.mp / L;
        let units = g.elems * g.mb;
        let vp = SendPtr(v.as_mut_ptr());
        if threads <= 1 {
            let mut bufs = Bufs::default();
            // SAFETY: `v` holds `v_len(nt, c)` elements and nothing else uses it meanwhile.
            unsafe { self.input_transform(b, ty0, ty1, 0..p.c, vp, &mut bufs) };
            // SAFETY: `y` holds `a² * mp * nt` elements and nothing else uses it meanwhile.
            unsafe { self.products(nt, 0..units, v, SendPtr(y.as_mut_ptr())) };
            // SAFETY: one block at a time, on this thread only.
            unsafe { self.output_transform(b, ty0, ty1, 0..groups, y, &mut bufs) };
            return;
        }
        // Input channels, a few chunks per thread.
        let per_c = p.c.div_ceil(threads * 2).max(1);
        (0..p.c.div_ceil(per_c)).into_par_iter().for_each(|i| {
            // SAFETY: the chunks write disjoint input channels of `v` (`v_len(nt, c)`
            // elements), which nothing else reads or writes meanwhile.
            unsafe {
                self.input_transform(b, ty0, ty1, i * per_c..((i + 1) * per_c).min(p.c), vp, &mut Bufs::default())
            };
        });
        let per_u = units.div_ceil(threads * 4).max(1);
        let v = &*v;
        let yp = SendPtr(y.as_mut_ptr());
        (0..units.div_ceil(per_u)).into_par_iter().for_each(|i| {
            // SAFETY: the chunks write the disjoint elements of disjoint units of `y` (`a² * mp *
            // nt` elements), which nothing else accesses meanwhile.
            unsafe { self.products(nt, i * per_u..((i + 1) * per_u).min(units), v, yp) };
        });
        let y = &*y;
        let per_g = groups.div_ceil(threads * 2).max(1);
        (0..groups.div_ceil(per_g)).into_par_iter().for_each(|i| {
            let range = i * per_g..((i + 1) * per_g).min(groups);
            // SAFETY: chunks own disjoint output channels (planes) of image `b`; this block's
            // tile rows are written only here while the chunks run.
            unsafe { self.output_transform(b, ty0, ty1, range, y, &mut Bufs::default()) };
        });
    }

    /// `V` for input channels `cs` of tile rows `ty0..ty1` of image `b` (layout at [`v_es`]),
    /// tiles `t` row-major within the block.
    ///
    /// # Safety
    ///
    /// `v` points at `v_len(nt, c)` elements whose channels `cs` no other thread accesses
    /// during the call.
    unsafe fn input_transform(
        &self,
        b: usize,
        ty0: usize,
        ty1: usize,
        cs: std::ops::Range<usize>,
        v: SendPtr,
        bufs: &mut Bufs,
    ) {
        let (p, g) = (self.p, self.g);
        // The portable builds read zero-padded copies of the rows.
        let rows = &mut bufs.rows;
        if self.isa != Isa::Avx512 {
            rows.clear();
            rows.resize(g.a * g.wrow, 0.0);
        }
        let plane = p.h * p.w;
        let nt = (ty1 - ty0) * g.tx;
        let es = v_es(nt, p.c);
        for c in cs {
            let xp = &self.x[(b * p.c + c) * plane..][..plane];
            for ty in ty0..ty1 {
                // SAFETY: tiles `t0..t0 + tx` (`t0 = (ty - ty0) * tx`) of channel `c` of every
                // element lie inside the block's `V`, which the caller lets this call write.
                let dst = unsafe { v.0.add(c * nt + (ty - ty0) * g.tx) };
                #[cfg(target_arch = "x86_64")]
                if self.isa == Isa::Avx512 {
                    // SAFETY: AVX-512 was detected; `dst` as above.
                    unsafe {
                        match g.variant {
                            Variant::F4x4 => x86::input_row(self, xp, ty, dst, es),
                            Variant::F2x2 => x86::input_row2(self, xp, ty, dst, es),
                        }
                    };
                    continue;
                }
                for (r, row) in rows.chunks_exact_mut(g.wrow).enumerate() {
                    let iy = (ty * g.mo + r) as isize - p.pad_t as isize;
                    let dst = &mut row[p.pad_l..p.pad_l + p.w];
                    if iy >= 0 && (iy as usize) < p.h {
                        dst.copy_from_slice(&xp[iy as usize * p.w..][..p.w]);
                    } else {
                        dst.fill(0.0);
                    }
                }
                // SAFETY: `dst` as above.
                unsafe {
                    match self.isa {
                        #[cfg(target_arch = "x86_64")]
                        Isa::Avx2 => input_row_avx2(self, rows, dst, es),
                        _ => input_row_any(self, rows, dst, es),
                    }
                }
            }
        }
    }

    /// The products of `units` (unit = element `e` x panel `mb`, `u = e * mb_count + mb`) into
    /// `Y`: channel `mb * 32 + j` of tile `t` for element `e` at `((mb * nt + t) * a² + e) * 32
    /// + j`, so that the output transform reads each tile's elements together.
    ///
    /// # Safety
    ///
    /// `y` points at `a² * mp * nt` elements, of which no other thread accesses those of these
    /// units during the call.
    unsafe fn products(&self, nt: usize, units: std::ops::Range<usize>, v: &[f32], y: SendPtr) {
        let (c, g) = (self.p.c, self.g);
        let ys = g.elems * M_BLOCK;
        // Weights too large to stay in L2 between blocks: prefetch each next panel.
        let prefetch = self.u.len() * 4 > PREFETCH_WEIGHT_BYTES;
        for unit in units.clone() {
            let (e, mb) = (unit / g.mb, unit % g.mb);
            assert!(e < g.elems);
            // SAFETY: tile `t < nt` of this unit is at `yu + t * ys + 0..32`, inside `y`'s
            // `a² * mp * nt` elements, and owned by this call (caller's contract).
            let yu = unsafe { y.0.add((mb * nt * g.elems + e) * M_BLOCK) };
            if c == 0 {
                for t in 0..nt {
                    // SAFETY: as above.
                    unsafe { std::ptr::write_bytes(yu.add(t * ys), 0, M_BLOCK) };
                }
                continue;
            }
            let panel = &self.u[unit * c * M_BLOCK..][..c * M_BLOCK];
            let ve = &v[e * v_es(nt, c)..][..(c - 1) * nt + nt];
            match self.isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX-512 was detected; `panel` is `c x 32`, `ve` is `c x nt` (row
                // stride `nt`), and `yu` as above.
                Isa::Avx512 => unsafe {
                    // Units are panels in memory order: the next one follows this one.
                    let next = (prefetch && unit + 1 < units.end).then(|| &self.u[(unit + 1) * c * M_BLOCK..]);
                    x86::products_panel(c, nt, nt, panel, ve, yu, ys, next)
                },
                // yu[t * ys + j] = sum_ci ve[ci * cs + t] * panel[ci * 32 + j]
                // SAFETY: the operands lie inside `ve` and `panel` (sliced above) and the
                // destination as above; it overlaps neither.
                _ => unsafe {
                    gemm_raw(nt, M_BLOCK, c, yu, ys, 1, false, ve.as_ptr(), 1, nt, panel.as_ptr(), M_BLOCK, 1, 1.0, 1)
                },
            }
        }
    }

    /// Output channels `16 * groups` of tile rows `ty0..ty1` of image `b`, epilogue included.
    ///
    /// # Safety
    ///
    /// No other thread accesses these output rows of these channels during the call.
    unsafe fn output_transform(
        &self,
        b: usize,
        ty0: usize,
        ty1: usize,
        groups: std::ops::Range<usize>,
        y: &[f32],
        bufs: &mut Bufs,
    ) {
        let (p, g) = (self.p, self.g);
        let nt = (ty1 - ty0) * g.tx;
        assert!(y.len() >= g.elems * g.mp * nt);
        let stage = &mut bufs.stage;
        stage.clear();
        stage.resize(g.mo * g.sstride, 0.0);
        for grp in groups {
            let oc0 = grp * L;
            if oc0 >= p.m {
                break;
            }
            // Channel `oc0 + j` of tile `t` for element `e` is `yg[(t * a² + e) * 32 + j]`.
            let yg = &y[(grp * L / M_BLOCK) * nt * g.elems * M_BLOCK + grp * L % M_BLOCK..];
            for ty in ty0..ty1 {
                let yr = &yg[(ty - ty0) * g.tx * g.elems * M_BLOCK..];
                match (self.isa, g.variant) {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: AVX-512 was detected.
                    (Isa::Avx512, Variant::F4x4) => unsafe { x86::output_row(self, yr, stage) },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: AVX-512 was detected.
                    (Isa::Avx512, Variant::F2x2) => unsafe { x86::output_row2(self, yr, stage) },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: AVX2 and FMA were detected.
                    (Isa::Avx2, _) => unsafe { output_row_avx2(self, yr, stage) },
                    _ => output_row_any(self, yr, stage),
                }
                // SAFETY: the caller owns these rows of channels `oc0..oc0 + 16`.
                unsafe { self.store_rows(b, ty, oc0, stage) };
            }
        }
    }

    /// Writes the staged output rows of tile row `ty` for channels `oc0..oc0 + 16` (those
    /// below `m`), with the epilogue.
    ///
    /// # Safety
    ///
    /// No other thread accesses these output rows of these channels during the call.
    unsafe fn store_rows(&self, b: usize, ty: usize, oc0: usize, stage: &[f32]) {
        let p = self.p;
        let plane = p.oh * p.ow;
        let mcount = L.min(p.m - oc0);
        for bq in 0..self.g.mo {
            let oy = ty * self.g.mo + bq;
            if oy >= p.oh {
                break;
            }
            let srow = &stage[bq * self.g.sstride..][..self.g.spix * L];
            // SAFETY: rows `oy` of planes `(b, oc0..oc0 + mcount)` lie inside the output; the
            // caller guarantees no other thread accesses them.
            let orow = unsafe { self.out.0.add((b * p.m + oc0) * plane + oy * p.ow) };
            #[cfg(target_arch = "x86_64")]
            if self.isa == Isa::Avx512 {
                // SAFETY: AVX-512 was detected; as above for the rows.
                unsafe { x86::store_row(self, srow, orow, plane, oc0, mcount) };
                continue;
            }
            for m in 0..mcount {
                // SAFETY: as above.
                let o = unsafe { std::slice::from_raw_parts_mut(orow.add(m * plane), p.ow) };
                if self.accumulate {
                    for (ox, o) in o.iter_mut().enumerate() {
                        *o += srow[ox * L + m];
                    }
                } else {
                    for (ox, o) in o.iter_mut().enumerate() {
                        *o = srow[ox * L + m];
                    }
                }
                activation::apply_with_bias(self.act, o, self.bias.map_or(0.0, |bs| bs[oc0 + m]));
            }
        }
    }
}

/// `B^T d` for six vectors of sixteen lanes.
#[inline(always)]
fn bt6(d: &[[f32; L]; 6]) -> [[f32; L]; 6] {
    let mut t = [[0f32; L]; 6];
    for l in 0..L {
        let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
        let (s12, m12) = (d1 + d2, d1 - d2);
        let (s34, m43) = (d3 + d4, d4 - d3);
        let (m42, m31) = (d4 - d2, d3 - d1);
        t[0][l] = (d4 - 5.0 * d2) + 4.0 * d0;
        t[1][l] = s34 - 4.0 * s12;
        t[2][l] = m43 + 4.0 * m12;
        t[3][l] = m42 + 2.0 * m31;
        t[4][l] = m42 - 2.0 * m31;
        t[5][l] = (d5 - 5.0 * d3) + 4.0 * d1;
    }
    t
}

/// `A^T s` for six vectors of sixteen lanes.
#[inline(always)]
fn at6(s: &[[f32; L]; 6]) -> [[f32; L]; 4] {
    let mut o = [[0f32; L]; 4];
    for l in 0..L {
        let [s0, s1, s2, s3, s4, s5] = [s[0][l], s[1][l], s[2][l], s[3][l], s[4][l], s[5][l]];
        let (a, bb, c, d) = (s1 + s2, s1 - s2, s3 + s4, s3 - s4);
        o[0][l] = s0 + a + c;
        o[1][l] = bb + 2.0 * d;
        o[2][l] = a + 4.0 * c;
        o[3][l] = (bb + 8.0 * d) + s5;
    }
    o
}

/// `B^T d` for four vectors of sixteen lanes (F(2x2, 3x3)).
#[inline(always)]
fn bt4(d: &[[f32; L]; 4]) -> [[f32; L]; 4] {
    let mut t = [[0f32; L]; 4];
    for l in 0..L {
        let [d0, d1, d2, d3] = [d[0][l], d[1][l], d[2][l], d[3][l]];
        t[0][l] = d0 - d2;
        t[1][l] = d1 + d2;
        t[2][l] = d2 - d1;
        t[3][l] = d1 - d3;
    }
    t
}

/// `A^T s` for four vectors of sixteen lanes (F(2x2, 3x3)).
#[inline(always)]
fn at4(s: &[[f32; L]; 4]) -> [[f32; L]; 2] {
    let mut o = [[0f32; L]; 2];
    for l in 0..L {
        let [s0, s1, s2, s3] = [s[0][l], s[1][l], s[2][l], s[3][l]];
        o[0][l] = s0 + s1 + s2;
        o[1][l] = (s1 - s2) - s3;
    }
    o
}

/// The input transform of one tile row from its `a` padded input rows (`rows`, `wrow` apart),
/// portable build: `dst[e * es + t] = V_e` of tile `t` of the row.
///
/// # Safety
///
/// `dst[e * es + t]` is valid for writes for `e < a²`, `t < tx`.
#[inline(always)]
unsafe fn input_row_any(ctx: &Ctx, rows: &[f32], dst: *mut f32, es: usize) {
    // SAFETY: forwarded.
    unsafe {
        match ctx.g.variant {
            Variant::F4x4 => input_row_gen::<6, 4>(ctx, rows, dst, es, bt6),
            Variant::F2x2 => input_row_gen::<4, 2>(ctx, rows, dst, es, bt4),
        }
    }
}

/// [`input_row_any`] for input tile `A` and output tile `MO`, with `bt` computing `B^T d`.
///
/// # Safety
///
/// As [`input_row_any`].
#[inline(always)]
unsafe fn input_row_gen<const A: usize, const MO: usize>(
    ctx: &Ctx,
    rows: &[f32],
    dst: *mut f32,
    es: usize,
    bt: fn(&[[f32; L]; A]) -> [[f32; L]; A],
) {
    let g = ctx.g;
    for chunk in 0..g.chunks {
        // t[j][r] = (d B)[r][j], with d[r][k][l] = rows[r][MO * (16 * chunk + l) + k].
        let mut t = [[[0f32; L]; A]; A];
        for r in 0..A {
            let row = &rows[r * g.wrow + MO * L * chunk..][..MO * L + 2];
            let mut d = [[0f32; L]; A];
            for l in 0..L {
                for (k, dk) in d.iter_mut().enumerate() {
                    dk[l] = row[MO * l + k];
                }
            }
            for (tj, v) in t.iter_mut().zip(bt(&d)) {
                tj[r] = v;
            }
        }
        let n = L.min(g.tx - chunk * L);
        for (j, tj) in t.iter().enumerate() {
            for (i, vv) in bt(tj).iter().enumerate() {
                let e = i * A + j;
                // SAFETY: tiles `16 * chunk .. 16 * chunk + n <= tx` (caller's contract).
                unsafe { std::ptr::copy_nonoverlapping(vv.as_ptr(), dst.add(e * es + chunk * L), n) };
            }
        }
    }
}

/// The output transform of one tile row, portable build: `y[(t * a² + e) * 32 + j]` is
/// channel `j < 16` of tile `t` for element `e`; writes `stage[bq * sstride + x * 16 + j]`.
#[inline(always)]
fn output_row_any(ctx: &Ctx, y: &[f32], stage: &mut [f32]) {
    match ctx.g.variant {
        Variant::F4x4 => output_row_gen::<6, 4>(ctx, y, stage, at6),
        Variant::F2x2 => output_row_gen::<4, 2>(ctx, y, stage, at4),
    }
}

/// [`output_row_any`] for input tile `A` and output tile `MO`, with `at` computing `A^T s`.
#[inline(always)]
fn output_row_gen<const A: usize, const MO: usize>(
    ctx: &Ctx,
    y: &[f32],
    stage: &mut [f32],
    at: fn(&[[f32; L]; A]) -> [[f32; L]; MO],
) {
    let g = ctx.g;
    for tx in 0..g.tx {
        let mut s = [[[0f32; L]; A]; MO]; // s[a][i] = (Y A)[i][a]
        for i in 0..A {
            let row: [[f32; L]; A] =
                std::array::from_fn(|j| y[(tx * A * A + i * A + j) * M_BLOCK..][..L].try_into().unwrap());
            for (sa, v) in s.iter_mut().zip(at(&row)) {
                sa[i] = v;
            }
        }
        for (a, sa) in s.iter().enumerate() {
            for (bq, ob) in at(sa).iter().enumerate() {
                stage[bq * g.sstride + (tx * MO + a) * L..][..L].copy_from_slice(ob);
            }
        }
    }
}

/// The AVX2+FMA builds of the portable transforms.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; otherwise as [`input_row_any`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn input_row_avx2(ctx: &Ctx, rows: &[f32], dst: *mut f32, es: usize) {
    // SAFETY: forwarded.
    unsafe {
        match ctx.g.variant {
            Variant::F4x4 => avx2::input_row_f4(ctx, rows, dst, es),
            Variant::F2x2 => input_row_any(ctx, rows, dst, es),
        }
    }
}

/// The F(4x4, 3x3) input transform with AVX2 intrinsics, eight tiles per vector.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Ctx, L};
    use std::arch::x86_64::*;

    /// `B^T d` on six vectors, the same operations as the portable `bt6`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn bt6(d: [__m256; 6]) -> [__m256; 6] {
        let [d0, d1, d2, d3, d4, d5] = d;
        let (s12, m12) = (_mm256_add_ps(d1, d2), _mm256_sub_ps(d1, d2));
        let (s34, m43) = (_mm256_add_ps(d3, d4), _mm256_sub_ps(d4, d3));
        let (m42, m31) = (_mm256_sub_ps(d4, d2), _mm256_sub_ps(d3, d1));
        let (four, five, two) = (_mm256_set1_ps(4.0), _mm256_set1_ps(5.0), _mm256_set1_ps(2.0));
        [
            _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4)),
            _mm256_fnmadd_ps(four, s12, s34),
            _mm256_fmadd_ps(four, m12, m43),
            _mm256_fmadd_ps(two, m31, m42),
            _mm256_fnmadd_ps(two, m31, m42),
            _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5)),
        ]
    }

    /// Elements `k = 0..4` of eight consecutive 4-wide tiles read from `p[0..32]` (tile `l`'s
    /// element `k` is `p[4l + k]`): one vector per `k`, lane `l` for tile `l`.
    ///
    /// # Safety
    ///
    /// AVX2; `p[0..32]` is readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tiles4(p: *const f32) -> [__m256; 4] {
        // SAFETY: as the contract says.
        let (v0, v1, v2, v3) = unsafe {
            (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24)))
        };
        // Tiles (0|4), (1|5), (2|6), (3|7) in the two 128-bit halves, then a 4x4 transpose
        // within each half.
        let w0 = _mm256_permute2f128_ps::<0x20>(v0, v2);
        let w1 = _mm256_permute2f128_ps::<0x31>(v0, v2);
        let w2 = _mm256_permute2f128_ps::<0x20>(v1, v3);
        let w3 = _mm256_permute2f128_ps::<0x31>(v1, v3);
        let a0 = _mm256_unpacklo_ps(w0, w1);
        let a1 = _mm256_unpackhi_ps(w0, w1);
        let a2 = _mm256_unpacklo_ps(w2, w3);
        let a3 = _mm256_unpackhi_ps(w2, w3);
        [
            _mm256_shuffle_ps::<0x44>(a0, a2),
            _mm256_shuffle_ps::<0xEE>(a0, a2),
            _mm256_shuffle_ps::<0x44>(a1, a3),
            _mm256_shuffle_ps::<0xEE>(a1, a3),
        ]
    }

    /// As the portable `input_row_gen::<6, 4>`: `rows` holds the six zero-padded input rows
    /// (`wrow` apart) of one tile row; writes `dst[e * es + t]` for `e < 36`, `t < tx`.
    ///
    /// # Safety
    ///
    /// AVX2 and FMA; `dst[e * es + t]` is valid for writes for `e < 36`, `t < tx`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn input_row_f4(ctx: &Ctx, rows: &[f32], dst: *mut f32, es: usize) {
        let g = ctx.g;
        // The loads of a chunk's second half read up to element 68 of the chunk's 64 (its 66
        // plus two not needed): rows are padded past that.
        assert!(g.wrow >= 4 * L * g.chunks + 4 && rows.len() >= 6 * g.wrow);
        for chunk in 0..g.chunks {
            let n = L.min(g.tx - chunk * L);
            for h in 0..2 {
                let lanes = n.saturating_sub(8 * h).min(8);
                if lanes == 0 {
                    continue;
                }
                // t[j][r] = (d B)[r][j] for this half's eight tiles.
                let mut t = [[_mm256_setzero_ps(); 6]; 6];
                for r in 0..6 {
                    let base = r * g.wrow + 4 * L * chunk + 32 * h;
                    // SAFETY: the reads end at `base + 36 <= r * wrow + 64 * chunk + 68 <= (r +
                    // 1) * wrow` (asserted), inside `rows`.
                    let (k0, k4) = unsafe {
                        let p = rows.as_ptr().add(base);
                        (tiles4(p), tiles4(p.add(4)))
                    };
                    let d = bt6([k0[0], k0[1], k0[2], k0[3], k4[0], k4[1]]);
                    for (tj, v) in t.iter_mut().zip(d) {
                        tj[r] = v;
                    }
                }
                let mask =
                    _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                for (j, tj) in t.iter().enumerate() {
                    for (i, v) in bt6(*tj).into_iter().enumerate() {
                        let e = i * 6 + j;
                        // SAFETY: tiles `16 * chunk + 8 * h ..` plus `lanes <= tx - that` are
                        // below `tx` (caller's contract); masked lanes are not written.
                        unsafe {
                            let o = dst.add(e * es + chunk * L + 8 * h);
                            if lanes == 8 { _mm256_storeu_ps(o, v) } else { _mm256_maskstore_ps(o, mask, v) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn output_row_avx2(ctx: &Ctx, y: &[f32], stage: &mut [f32]) {
    output_row_any(ctx, y, stage)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::activation;
    use super::super::simd512::{Epi, EpiV, act_dyn, lane_mask};
    use super::{Ctx, L, M_BLOCK, NT_MAX};

    /// F(4x4, 3x3) tile sides and elements.
    const IN_TILE: usize = 6;
    const OUT_TILE: usize = 4;
    const ELEMS: usize = 36;
    use std::arch::x86_64::*;

    /// `B^T d` on six vectors.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn bt6(d: [__m512; 6]) -> [__m512; 6] {
        let [d0, d1, d2, d3, d4, d5] = d;
        let (s12, m12) = (_mm512_add_ps(d1, d2), _mm512_sub_ps(d1, d2));
        let (s34, m43) = (_mm512_add_ps(d3, d4), _mm512_sub_ps(d4, d3));
        let (m42, m31) = (_mm512_sub_ps(d4, d2), _mm512_sub_ps(d3, d1));
        let (four, five, two) = (_mm512_set1_ps(4.0), _mm512_set1_ps(5.0), _mm512_set1_ps(2.0));
        [
            _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4)),
            _mm512_fnmadd_ps(four, s12, s34),
            _mm512_fmadd_ps(four, m12, m43),
            _mm512_fmadd_ps(two, m31, m42),
            _mm512_fnmadd_ps(two, m31, m42),
            _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5)),
        ]
    }

    /// `A^T s` on six vectors.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn at6(s: [__m512; 6]) -> [__m512; 4] {
        let [s0, s1, s2, s3, s4, s5] = s;
        let (a, b, c, d) = (_mm512_add_ps(s1, s2), _mm512_sub_ps(s1, s2), _mm512_add_ps(s3, s4), _mm512_sub_ps(s3, s4));
        [
            _mm512_add_ps(_mm512_add_ps(s0, a), c),
            _mm512_fmadd_ps(_mm512_set1_ps(2.0), d, b),
            _mm512_fmadd_ps(_mm512_set1_ps(4.0), c, a),
            _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0), d, b), s5),
        ]
    }

    /// The input transform of tile row `ty` of one input plane `xp` (see
    /// [`super::input_row_any`]), reading the plane in place: masked loads leave out the
    /// columns outside the image, rows outside it are zero.
    ///
    /// # Safety
    ///
    /// AVX-512F; `dst[e * es + t]` is valid for writes for `e < 36`, `t < tx`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn input_row(ctx: &Ctx, xp: &[f32], ty: usize, dst: *mut f32, es: usize) {
        let (p, g) = (ctx.p, ctx.g);
        assert!(xp.len() >= p.h * p.w);
        // Lane l of `perm(z_a, idx_k, z_b)` is element 4 * (l % 8) + k of `z_a ++ z_b`.
        let idx: [__m512i; 4] = std::array::from_fn(|k| {
            let v: [i32; 16] = std::array::from_fn(|l| (4 * (l % 8) + k) as i32);
            // SAFETY: 16 i32s.
            unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
        });
        // Image rows of the tile row's six input rows (`None` outside the image).
        let rows: [Option<usize>; 6] = std::array::from_fn(|r| {
            let iy = (ty * OUT_TILE + r) as isize - p.pad_t as isize;
            (iy >= 0 && (iy as usize) < p.h).then_some(iy as usize)
        });
        // t[j][r] = (d B)[r][j]
        let mut t = [[_mm512_setzero_ps(); 6]; 6];
        for chunk in 0..g.chunks {
            // Loads at columns `o + 0..16` of a row, lanes outside `0..w` masked off: the
            // four vectors of the chunk's 64 columns, then those at 64 and 65.
            let offs: [isize; 6] = std::array::from_fn(|q| {
                (OUT_TILE * L * chunk + if q < 4 { 16 * q } else { 60 + q }) as isize - p.pad_l as isize
            });
            let masks: [u16; 6] = offs.map(|o| {
                let lo = (-o).clamp(0, 16) as usize;
                let hi = (p.w as isize - o).clamp(0, 16) as usize;
                lane_mask(lo, hi)
            });
            for (r, &iy) in rows.iter().enumerate() {
                let Some(iy) = iy else {
                    for tj in t.iter_mut() {
                        tj[r] = _mm512_setzero_ps();
                    }
                    continue;
                };
                let row = xp[iy * p.w..].as_ptr();
                // SAFETY: masked lanes `l` with `0 <= o + l < w` read inside image row `iy`;
                // the others are not accessed (the address is formed without dereferencing).
                let z: [__m512; 6] =
                    std::array::from_fn(|q| unsafe { _mm512_maskz_loadu_ps(masks[q], row.wrapping_offset(offs[q])) });
                let d4: [__m512; 4] = std::array::from_fn(|k| {
                    let lo = _mm512_permutex2var_ps(z[0], idx[k], z[1]);
                    let hi = _mm512_permutex2var_ps(z[2], idx[k], z[3]);
                    _mm512_mask_blend_ps(0xFF00, lo, hi)
                });
                // d4[l] = d0[l + 1], d5[l] = d1[l + 1]; lane 15 from columns 64 and 65.
                let e4 = _mm512_castsi512_ps(_mm512_alignr_epi32::<1>(
                    _mm512_castps_si512(z[4]),
                    _mm512_castps_si512(d4[0]),
                ));
                let e5 = _mm512_castsi512_ps(_mm512_alignr_epi32::<1>(
                    _mm512_castps_si512(z[5]),
                    _mm512_castps_si512(d4[1]),
                ));
                for (tj, v) in t.iter_mut().zip(bt6([d4[0], d4[1], d4[2], d4[3], e4, e5])) {
                    tj[r] = v;
                }
            }
            let n = L.min(g.tx - chunk * L);
            let mask = lane_mask(0, n);
            for (j, &tj) in t.iter().enumerate() {
                for (i, vv) in bt6(tj).into_iter().enumerate() {
                    // SAFETY: lanes `< n` are tiles `16 * chunk + l < tx` (caller's contract).
                    unsafe { _mm512_mask_storeu_ps(dst.add((i * IN_TILE + j) * es + chunk * L), mask, vv) };
                }
            }
        }
    }

    /// `B^T d` on four vectors (F(2x2, 3x3)).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn bt4(d: [__m512; 4]) -> [__m512; 4] {
        let [d0, d1, d2, d3] = d;
        [_mm512_sub_ps(d0, d2), _mm512_add_ps(d1, d2), _mm512_sub_ps(d2, d1), _mm512_sub_ps(d1, d3)]
    }

    /// `A^T s` on four vectors (F(2x2, 3x3)).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn at4(s: [__m512; 4]) -> [__m512; 2] {
        let [s0, s1, s2, s3] = s;
        [_mm512_add_ps(_mm512_add_ps(s0, s1), s2), _mm512_sub_ps(_mm512_sub_ps(s1, s2), s3)]
    }

    /// [`input_row`] for F(2x2, 3x3): tile `l` of a chunk reads columns `2 * l + 0..4`.
    ///
    /// # Safety
    ///
    /// AVX-512F; `dst[e * es + t]` is valid for writes for `e < 16`, `t < tx`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn input_row2(ctx: &Ctx, xp: &[f32], ty: usize, dst: *mut f32, es: usize) {
        let (p, g) = (ctx.p, ctx.g);
        assert!(xp.len() >= p.h * p.w);
        // Lane l of `perm(z0, idx_k, z1)` is element 2 * l + k of `z0 ++ z1`.
        let idx: [__m512i; 2] = std::array::from_fn(|k| {
            let v: [i32; 16] = std::array::from_fn(|l| (2 * l + k) as i32);
            // SAFETY: 16 i32s.
            unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
        });
        let rows: [Option<usize>; 4] = std::array::from_fn(|r| {
            let iy = (ty * 2 + r) as isize - p.pad_t as isize;
            (iy >= 0 && (iy as usize) < p.h).then_some(iy as usize)
        });
        // t[j][r] = (d B)[r][j]
        let mut t = [[_mm512_setzero_ps(); 4]; 4];
        for chunk in 0..g.chunks {
            // The chunk's 32 columns, then those from 32 and 33.
            let offs: [isize; 4] = std::array::from_fn(|q| {
                (2 * L * chunk + if q < 2 { 16 * q } else { 30 + q }) as isize - p.pad_l as isize
            });
            let masks: [u16; 4] = offs.map(|o| {
                let lo = (-o).clamp(0, 16) as usize;
                let hi = (p.w as isize - o).clamp(0, 16) as usize;
                lane_mask(lo, hi)
            });
            for (r, &iy) in rows.iter().enumerate() {
                let Some(iy) = iy else {
                    for tj in t.iter_mut() {
                        tj[r] = _mm512_setzero_ps();
                    }
                    continue;
                };
                let row = xp[iy * p.w..].as_ptr();
                // SAFETY: masked lanes `l` with `0 <= o + l < w` read inside image row `iy`;
                // the others are not accessed (the address is formed without dereferencing).
                let z: [__m512; 4] =
                    std::array::from_fn(|q| unsafe { _mm512_maskz_loadu_ps(masks[q], row.wrapping_offset(offs[q])) });
                let d0 = _mm512_permutex2var_ps(z[0], idx[0], z[1]);
                let d1 = _mm512_permutex2var_ps(z[0], idx[1], z[1]);
                // d2[l] = d0[l + 1], d3[l] = d1[l + 1]; lane 15 from columns 32 and 33.
                let d2 =
                    _mm512_castsi512_ps(_mm512_alignr_epi32::<1>(_mm512_castps_si512(z[2]), _mm512_castps_si512(d0)));
                let d3 =
                    _mm512_castsi512_ps(_mm512_alignr_epi32::<1>(_mm512_castps_si512(z[3]), _mm512_castps_si512(d1)));
                for (tj, v) in t.iter_mut().zip(bt4([d0, d1, d2, d3])) {
                    tj[r] = v;
                }
            }
            let n = L.min(g.tx - chunk * L);
            let mask = lane_mask(0, n);
            for (j, &tj) in t.iter().enumerate() {
                for (i, vv) in bt4(tj).into_iter().enumerate() {
                    // SAFETY: lanes `< n` are tiles `16 * chunk + l < tx` (caller's contract).
                    unsafe { _mm512_mask_storeu_ps(dst.add((i * 4 + j) * es + chunk * L), mask, vv) };
                }
            }
        }
    }

    /// [`output_row`] for F(2x2, 3x3).
    ///
    /// # Safety
    ///
    /// AVX-512F. (The slices' lengths are checked.)
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn output_row2(ctx: &Ctx, y: &[f32], stage: &mut [f32]) {
        let g = ctx.g;
        assert!(y.len() >= (g.tx * 16 - 1) * M_BLOCK + L && stage.len() >= 2 * g.sstride);
        for tx in 0..g.tx {
            // SAFETY: the bounds asserted above.
            unsafe {
                let yt = y.as_ptr().add(tx * 16 * M_BLOCK);
                // s[a][i] = (Y A)[i][a]
                let mut s = [[_mm512_setzero_ps(); 4]; 2];
                for i in 0..4 {
                    let row = at4(std::array::from_fn(|j| _mm512_loadu_ps(yt.add((i * 4 + j) * M_BLOCK))));
                    for (sa, v) in s.iter_mut().zip(row) {
                        sa[i] = v;
                    }
                }
                for (a, &sa) in s.iter().enumerate() {
                    for (bq, ob) in at4(sa).into_iter().enumerate() {
                        _mm512_storeu_ps(stage.as_mut_ptr().add(bq * g.sstride + (tx * 2 + a) * L), ob);
                    }
                }
            }
        }
    }

    /// `y[t * ys + 0..32] = sum_ci panel[ci][0..32] * v[ci * vs + t]` for `t < nt`: the products of one
    /// (element, panel) unit. With `next`, the first tile group also prefetches it (the next
    /// unit's panel, `c * 32` elements) into L2, while the rest of this panel's groups run.
    ///
    /// # Safety
    ///
    /// AVX-512F; `y[t * ys + 0..32]` is writable for `t < nt` and accessed by no other thread.
    /// (The slices' lengths are checked.)
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn products_panel(
        c: usize,
        nt: usize,
        vs: usize,
        panel: &[f32],
        v: &[f32],
        y: *mut f32,
        ys: usize,
        next: Option<&[f32]>,
    ) {
        assert!(panel.len() >= c * M_BLOCK && (c == 0 || v.len() >= (c - 1) * vs + nt));
        let pf = next.filter(|n| n.len() >= c * M_BLOCK).map(|n| n.as_ptr());
        // Near-equal groups of at most NT_MAX tiles.
        let groups = nt.div_ceil(NT_MAX);
        let mut t0 = 0;
        for gi in 0..groups {
            let t1 = nt * (gi + 1) / groups;
            // SAFETY: tile `t0` of `y` (caller's contract).
            let (u, vp, yp) = (panel.as_ptr(), v[t0..].as_ptr(), unsafe { y.add(t0 * ys) });
            macro_rules! arms {
                ($($n:literal)*) => {
                    // SAFETY: `u` has `c` rows of 32, `vp[ci * nt + j]` for `j < t1 - t0` stays
                    // inside `v` (`t0 + (c - 1) * vs + t1 - t0 <= (c - 1) * vs + nt`), `yp + j * ys +
                    // 0..32` for `j < t1 - t0` are tiles of `y` (caller's contract), and `pf` (if
                    // any) has `c` rows of 32.
                    match (t1 - t0, pf) {
                        $(($n, None) => unsafe { micro::<$n, false>(c, u, vp, vs, yp, ys, (u, 1, 0)) },)*
                        $(($n, Some(pf)) => unsafe { micro::<$n, true>(c, u, vp, vs, yp, ys, (pf, groups, gi)) },)*
                        (n, _) => unreachable!("tile group of {n}"),
                    }
                };
            }
            arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14);
            t0 = t1;
        }
    }

    /// `y[j * ys + 0..32] = sum_ci u[ci][0..32] * v[ci * vs + j]` for `j < NT`; with `PF`, also
    /// prefetches rows `ci` of `pf.0` (`k` rows of 32) with `ci % pf.1 == pf.2` into L2: the
    /// groups of a panel share the prefetching of the next one evenly.
    ///
    /// # Safety
    ///
    /// AVX-512F; `u[0..k * 32]` and `v[ci * vs + j]` (`ci < k`, `j < NT`) are readable,
    /// `y[j * ys + 0..32]` writable for `j < NT`; with `PF`, `pf.0[0..k * 32]` is inside one
    /// allocation.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn micro<const NT: usize, const PF: bool>(
        k: usize,
        u: *const f32,
        v: *const f32,
        vs: usize,
        y: *mut f32,
        ys: usize,
        pf: (*const f32, usize, usize),
    ) {
        let mut a0 = [_mm512_setzero_ps(); NT];
        let mut a1 = [_mm512_setzero_ps(); NT];
        // Iterations until the next prefetch.
        let mut wait = pf.2;
        // SAFETY: the caller's contract.
        unsafe {
            for ci in 0..k {
                if PF {
                    if wait == 0 {
                        _mm_prefetch::<_MM_HINT_T1>(pf.0.add(ci * M_BLOCK).cast());
                        _mm_prefetch::<_MM_HINT_T1>(pf.0.add(ci * M_BLOCK + 16).cast());
                        wait = pf.1;
                    }
                    wait -= 1;
                }
                let u0 = _mm512_loadu_ps(u.add(ci * M_BLOCK));
                let u1 = _mm512_loadu_ps(u.add(ci * M_BLOCK + 16));
                let vc = v.add(ci * vs);
                for j in 0..NT {
                    let b = _mm512_set1_ps(*vc.add(j));
                    a0[j] = _mm512_fmadd_ps(u0, b, a0[j]);
                    a1[j] = _mm512_fmadd_ps(u1, b, a1[j]);
                }
            }
            for j in 0..NT {
                _mm512_storeu_ps(y.add(j * ys), a0[j]);
                _mm512_storeu_ps(y.add(j * ys + 16), a1[j]);
            }
        }
    }

    /// The output transform of one tile row (see [`super::output_row_any`]).
    ///
    /// # Safety
    ///
    /// AVX-512F. (The slices' lengths are checked.)
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn output_row(ctx: &Ctx, y: &[f32], stage: &mut [f32]) {
        let g = ctx.g;
        assert!(y.len() >= (g.tx * ELEMS - 1) * M_BLOCK + L && stage.len() >= OUT_TILE * g.sstride);
        for tx in 0..g.tx {
            // SAFETY: the bounds asserted above.
            unsafe {
                let yt = y.as_ptr().add(tx * ELEMS * M_BLOCK);
                // s[a][i] = (Y A)[i][a]
                let mut s = [[_mm512_setzero_ps(); 6]; 4];
                for i in 0..IN_TILE {
                    let row = at6(std::array::from_fn(|j| _mm512_loadu_ps(yt.add((i * IN_TILE + j) * M_BLOCK))));
                    for (sa, v) in s.iter_mut().zip(row) {
                        sa[i] = v;
                    }
                }
                for (a, &sa) in s.iter().enumerate() {
                    for (bq, ob) in at6(sa).into_iter().enumerate() {
                        _mm512_storeu_ps(stage.as_mut_ptr().add(bq * g.sstride + (tx * OUT_TILE + a) * L), ob);
                    }
                }
            }
        }
    }

    /// Transposes 16 vectors: `out[j][i] = r[i][j]`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 { _mm512_unpacklo_ps(a, b) } else { _mm512_unpackhi_ps(a, b) }
        });
        // u[4q + k]: from t[4q + {0, 2}] (k = 0, 1) or t[4q + {1, 3}] (k = 2, 3).
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (q, k) = (i / 4, i % 4);
            let (a, b) = (_mm512_castps_pd(t[4 * q + k / 2]), _mm512_castps_pd(t[4 * q + k / 2 + 2]));
            _mm512_castpd_ps(if k % 2 == 0 { _mm512_unpacklo_pd(a, b) } else { _mm512_unpackhi_pd(a, b) })
        });
        // u[4q + k] holds, in 128-bit lane `h`, elements k of rows 4q..4q+4 at columns 4h + k.
        let w: [__m512; 16] = std::array::from_fn(|i| {
            let (half, k) = (i / 8, i % 8);
            let (a, b) = (u[8 * half + k % 4], u[8 * half + k % 4 + 4]);
            if k < 4 { _mm512_shuffle_f32x4::<0x88>(a, b) } else { _mm512_shuffle_f32x4::<0xdd>(a, b) }
        });
        std::array::from_fn(|i| {
            let k = i % 8;
            let (a, b) = (w[k], w[k + 8]);
            if i < 8 { _mm512_shuffle_f32x4::<0x88>(a, b) } else { _mm512_shuffle_f32x4::<0xdd>(a, b) }
        })
    }

    /// Writes one staged output row (`srow[x * 16 + j]` = pixel `x`, channel `oc0 + j`) to
    /// rows `orow + j * plane` for `j < mcount`, with the epilogue.
    ///
    /// # Safety
    ///
    /// AVX-512F; `orow + j * plane + 0..ow` is valid for reads and writes for `j < mcount`
    /// and accessed by no other thread; `srow` holds `spix` pixels.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_row(ctx: &Ctx, srow: &[f32], orow: *mut f32, plane: usize, oc0: usize, mcount: usize) {
        let (p, g) = (ctx.p, ctx.g);
        assert!(srow.len() >= g.spix * L && g.spix >= p.ow.next_multiple_of(L));
        let epi = Epi::new(ctx.act);
        let ev = EpiV::new(&epi);
        let bias: [f32; L] = std::array::from_fn(|j| match ctx.bias {
            Some(b) if j < mcount => b[oc0 + j],
            _ => 0.0,
        });
        let mut x0 = 0;
        while x0 < p.ow {
            let mask = lane_mask(0, (p.ow - x0).min(L));
            // SAFETY: pixels `x0..x0 + 16 <= spix` of the staged row.
            let r: [__m512; 16] = std::array::from_fn(|i| unsafe { _mm512_loadu_ps(srow.as_ptr().add((x0 + i) * L)) });
            let c = transpose16(r);
            for (j, &cj) in c.iter().enumerate().take(mcount) {
                // SAFETY: lanes `< ow - x0` of row `j` (the caller's contract).
                unsafe {
                    let o = orow.add(j * plane + x0);
                    let mut v = _mm512_add_ps(cj, _mm512_set1_ps(bias[j]));
                    if ctx.accumulate {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, o));
                    }
                    _mm512_mask_storeu_ps(o, mask, act_dyn(epi.kind, v, &ev));
                }
            }
            x0 += L;
        }
        if let Some(post) = epi.post {
            for j in 0..mcount {
                // SAFETY: as above.
                activation::apply(post, unsafe { std::slice::from_raw_parts_mut(orow.add(j * plane), p.ow) });
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Peak of the product kernel on cache-resident data.
        #[test]
        #[ignore]
        fn bench_micro() {
            if !super::super::super::simd512::available() {
                return;
            }
            for (c, nt) in [(64, 56), (64, 14), (64, 12), (256, 16), (512, 48)] {
                let panel = vec![0.5f32; c * M_BLOCK];
                let v = vec![0.25f32; c * nt];
                let mut y = vec![0f32; nt * M_BLOCK];
                let reps = (1 << 28) / (c * nt * M_BLOCK);
                let mut best = f64::MAX;
                for _ in 0..5 {
                    let t = std::time::Instant::now();
                    for _ in 0..reps {
                        // SAFETY: AVX-512F checked above.
                        unsafe { products_panel(c, nt, nt, &panel, &v, y.as_mut_ptr(), M_BLOCK, None) };
                    }
                    best = best.min(t.elapsed().as_secs_f64());
                }
                let gf = (2 * c * nt * M_BLOCK * reps) as f64 / 1e9;
                println!("c {c} nt {nt}: {:.1} GFLOP/s", gf / best);
            }
        }

        #[test]
        fn transpose16_transposes() {
            if !super::super::super::simd512::available() {
                return;
            }
            let m: Vec<f32> = (0..256).map(|i| i as f32).collect();
            let mut out = [0f32; 256];
            // SAFETY: AVX-512F checked above; 256 floats each side.
            unsafe {
                let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(m.as_ptr().add(16 * i)));
                for (i, v) in transpose16(r).into_iter().enumerate() {
                    _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), v);
                }
            }
            for i in 0..16 {
                for j in 0..16 {
                    assert_eq!(out[16 * j + i], m[16 * i + j], "({i}, {j})");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::activation::test_util::*;
    use super::*;

    /// Direct definition, f64 accumulation.
    fn naive(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, res: Option<&[f32]>, act: Activation) -> Vec<f32> {
        let mut y = vec![0f32; p.n * p.m * p.oh * p.ow];
        for b in 0..p.n {
            for oc in 0..p.m {
                for oy in 0..p.oh {
                    for ox in 0..p.ow {
                        let mut s = bias.map_or(0.0, |bs| bs[oc] as f64);
                        for ic in 0..p.c {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let iy = (oy + ky) as isize - p.pad_t as isize;
                                    let ix = (ox + kx) as isize - p.pad_l as isize;
                                    if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * p.c + ic) * p.h + iy as usize) * p.w + ix as usize];
                                    s += xv as f64 * w[((oc * p.c + ic) * 3 + ky) * 3 + kx] as f64;
                                }
                            }
                        }
                        let idx = ((b * p.m + oc) * p.oh + oy) * p.ow + ox;
                        if let Some(r) = res {
                            s += r[idx] as f64;
                        }
                        y[idx] = activation::apply_scalar(act, s as f32);
                    }
                }
            }
        }
        y
    }

    /// `[t, l, b, r]` pads.
    fn geom(n: usize, c: usize, h: usize, w: usize, m: usize, pads: [usize; 4]) -> Conv2d {
        Conv2d {
            n,
            c,
            h,
            w,
            m,
            oh: h + pads[0] + pads[2] - 2,
            ow: w + pads[1] + pads[3] - 2,
            kh: 3,
            kw: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_t: pads[0],
            pad_l: pads[1],
            group: 1,
        }
    }

    fn isas() -> Vec<Isa> {
        let best = Isa::detect();
        [Isa::Avx512, Isa::Avx2, Isa::Plain]
            .into_iter()
            .filter(|&i| match best {
                Isa::Avx512 => true,
                Isa::Avx2 => i != Isa::Avx512,
                Isa::Plain => i == Isa::Plain,
            })
            .collect()
    }

    #[test]
    fn matches_naive() {
        let mut rng = Rng::new(21);
        let cases = [
            geom(1, 16, 8, 8, 16, [1; 4]),
            geom(1, 3, 5, 7, 5, [1; 4]),
            geom(2, 17, 13, 11, 33, [1; 4]),
            geom(1, 8, 9, 10, 40, [0; 4]),
            geom(1, 5, 12, 17, 7, [2, 1, 0, 2]),
            geom(1, 4, 3, 3, 3, [0; 4]),
            geom(1, 6, 2, 3, 4, [2; 4]),
            geom(1, 32, 30, 70, 48, [1; 4]),
            geom(3, 20, 7, 7, 64, [1, 0, 1, 0]),
            geom(1, 9, 1, 1, 8, [1; 4]),
            geom(1, 16, 6, 40, 16, [0, 2, 1, 0]),
            // weights over 1 MB: the product kernel prefetches the next panel
            geom(1, 128, 6, 9, 64, [1; 4]),
            // more than 16 tiles per row for both variants
            geom(1, 16, 5, 70, 16, [1, 2, 1, 0]),
        ];
        let acts = [Activation::Identity, Activation::Relu, Activation::Clip { min: -0.3, max: 0.4 }];
        for (p, variant) in cases.into_iter().flat_map(|p| [(p, Variant::F4x4), (p, Variant::F2x2)]) {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.c * 9);
            let u = variant.transform_weights(&w, p.m, p.c);
            let bias = rng.vec(p.m);
            let res = rng.vec(p.n * p.m * p.oh * p.ow);
            let g = Geom::new(&p, variant);
            for (k, &act) in acts.iter().enumerate() {
                let b = (k != 1).then_some(&bias[..]);
                let accumulate = k != 0;
                let want = naive(&p, &x, &w, b, accumulate.then_some(&res[..]), act);
                // Tolerance relative to the convolution's own magnitude: a clipping activation
                // would otherwise shrink it below the transforms' rounding.
                let pre = naive(&p, &x, &w, b, accumulate.then_some(&res[..]), Activation::Identity);
                let scale = pre.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                let mut plans = vec![None];
                for rows in [1, 2, g.ty] {
                    for parallel_blocks in [false, true] {
                        plans.push(Some(BlockPlan { rows, parallel_blocks }));
                    }
                }
                for isa in isas() {
                    for &plan in &plans {
                        for threads in [1, 2] {
                            let mut out = if accumulate { res.clone() } else { vec![f32::NAN; res.len()] };
                            let mut scratch = Vec::new();
                            in_pool(threads, || {
                                conv2d_winograd_with(
                                    &p,
                                    variant,
                                    &x,
                                    &u,
                                    b,
                                    &mut out,
                                    accumulate,
                                    act,
                                    &mut scratch,
                                    threads,
                                    plan,
                                    isa,
                                )
                            });
                            for (i, (o, w)) in out.iter().zip(&want).enumerate() {
                                assert!(
                                    (o - w).abs() <= 1e-4 * scale,
                                    "{p:?} {variant:?} {isa:?} {plan:?} t{threads} {act:?}: [{i}] {o} vs {w} (scale {scale})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod bench {
    use super::super::activation::test_util::*;
    use super::super::conv;
    use super::*;
    use hetc_plan::ConvAlgo;

    fn geom(c: usize, hw: usize, m: usize) -> Conv2d {
        Conv2d {
            n: 1,
            c,
            h: hw,
            w: hw,
            m,
            oh: hw,
            ow: hw,
            kh: 3,
            kw: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_t: 1,
            pad_l: 1,
            group: 1,
        }
    }

    pub(super) fn shapes() -> Vec<(&'static str, Conv2d)> {
        let only: Option<String> = std::env::var("WINO_SHAPES").ok();
        [
            ("r18 64@56", geom(64, 56, 64)),
            ("r18 128@28", geom(128, 28, 128)),
            ("r18 256@14", geom(256, 14, 256)),
            ("r18 512@7", geom(512, 7, 512)),
            ("vgg 64@224", geom(64, 224, 64)),
            ("vgg 64>128@112", geom(64, 112, 128)),
            ("vgg 128@112", geom(128, 112, 128)),
            ("vgg 128>256@56", geom(128, 56, 256)),
            ("vgg 256@56", geom(256, 56, 256)),
            ("vgg 256>512@28", geom(256, 28, 512)),
            ("vgg 512@28", geom(512, 28, 512)),
            ("vgg 512@14", geom(512, 14, 512)),
            ("s 16@56", geom(16, 56, 16)),
            ("s 16@208", geom(16, 208, 16)),
            ("s 32@104", geom(32, 104, 32)),
            ("s 16>32@104", geom(16, 104, 32)),
            ("s 32>16@56", geom(32, 56, 16)),
            ("s 64@8", geom(64, 8, 64)),
            ("s 128@8", geom(128, 8, 128)),
            ("s 256@10", geom(256, 10, 256)),
            ("s 24@20", geom(24, 20, 24)),
        ]
        .into_iter()
        .filter(|(n, _)| only.as_ref().is_none_or(|o| o.split(',').any(|s| n.contains(s))))
        .collect()
    }

    /// `WINO_VARIANT=2` picks F(2x2, 3x3), anything else F(4x4, 3x3).
    pub(super) fn variant_from_env() -> Variant {
        if std::env::var("WINO_VARIANT").is_ok_and(|v| v == "2") { Variant::F2x2 } else { Variant::F4x4 }
    }

    fn stats(v: &mut [f64]) -> (f64, f64) {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    }

    /// Block plans, interleaved: `... sweep_winograd -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn sweep_winograd() {
        let reps: usize = std::env::var("WINO_REPS").map_or(10, |v| v.parse().unwrap());
        let mut rng = Rng::new(5);
        let pools: Vec<_> =
            [1, 2].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
        let variant = variant_from_env();
        for (name, p) in shapes() {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.c * 9);
            let u = variant.transform_weights(&w, p.m, p.c);
            let bias = rng.vec(p.m);
            let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
            let mut scratch = Vec::new();
            let ty = p.oh.div_ceil(variant.out_tile());
            let mut rows: Vec<usize> =
                [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 28, ty].into_iter().filter(|&r| r <= ty).collect();
            rows.dedup();
            for threads in [1, 2] {
                let mut variants: Vec<Option<BlockPlan>> = vec![None];
                for &r in &rows {
                    variants.push(Some(BlockPlan { rows: r, parallel_blocks: false }));
                    if threads > 1 {
                        variants.push(Some(BlockPlan { rows: r, parallel_blocks: true }));
                    }
                }
                let mut times = vec![Vec::new(); variants.len()];
                pools[threads - 1].install(|| {
                    for rep in 0..reps + 1 {
                        for (k, &plan) in variants.iter().enumerate() {
                            let t = std::time::Instant::now();
                            conv2d_winograd_with(
                                &p,
                                variant,
                                &x,
                                &u,
                                Some(&bias),
                                &mut out,
                                false,
                                Activation::Relu,
                                &mut scratch,
                                threads,
                                plan,
                                Isa::detect(),
                            );
                            if rep > 0 {
                                times[k].push(t.elapsed().as_secs_f64());
                            }
                        }
                    }
                });
                let gf = p.flops() as f64 / 1e9;
                let mut line = format!("t{threads} {name:>15}:");
                for (k, plan) in variants.iter().enumerate() {
                    let (min, med) = stats(&mut times[k]);
                    let tag = match plan {
                        None => format!("auto{:?}", BlockPlan::choose(&p, variant, threads))
                            .replace("BlockPlan { rows: ", "")
                            .replace(", parallel_blocks: ", "")
                            .replace(" }", ""),
                        Some(b) => format!("{}{}", b.rows, if b.parallel_blocks { "P" } else { "S" }),
                    };
                    line += &format!(" {tag} {:.0}/{:.0}", gf / min, gf / med);
                }
                println!("{line}");
            }
        }
    }

    /// Winograd F(4x4) and F(2x2) vs im2col, interleaved: `cargo test --release -p hetc-runtime
    /// --lib bench_winograd -- --ignored --nocapture` (`WINO_REPS`, `WINO_SHAPES=a,b` to
    /// filter).
    #[test]
    #[ignore]
    fn bench_winograd() {
        let reps: usize = std::env::var("WINO_REPS").map_or(20, |v| v.parse().unwrap());
        let mut rng = Rng::new(5);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for (name, p) in shapes() {
                let x = rng.vec(p.n * p.c * p.h * p.w);
                let w = rng.vec(p.m * p.c * 9);
                let us = [Variant::F4x4, Variant::F2x2].map(|v| v.transform_weights(&w, p.m, p.c));
                let bias = rng.vec(p.m);
                let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
                let mut scratch = Vec::new();
                let mut times = [Vec::new(), Vec::new(), Vec::new()];
                pool.install(|| {
                    for rep in 0..reps + 2 {
                        for (k, t) in times.iter_mut().enumerate() {
                            let start = std::time::Instant::now();
                            match k {
                                0 => conv::conv2d(
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
                                ),
                                _ => conv2d_winograd(
                                    &p,
                                    [Variant::F4x4, Variant::F2x2][k - 1],
                                    &x,
                                    &us[k - 1],
                                    Some(&bias),
                                    &mut out,
                                    false,
                                    Activation::Relu,
                                    &mut scratch,
                                    threads,
                                ),
                            }
                            if rep >= 2 {
                                t.push(start.elapsed().as_secs_f64());
                            }
                        }
                    }
                });
                let gf = p.flops() as f64 / 1e9;
                let [(imin, imed), (fmin, fmed), (tmin, tmed)] = times.each_mut().map(|t| stats(t));
                println!(
                    "t{threads} {name:>15}: im2col {:6.1}/{:6.1}  F4 {:6.1}/{:6.1}  F2 {:6.1}/{:6.1} GF/s (min/med)  F4 {:4.2}x F2 {:4.2}x",
                    gf / imin,
                    gf / imed,
                    gf / fmin,
                    gf / fmed,
                    gf / tmin,
                    gf / tmed,
                    imed / fmed,
                    imed / tmed,
                );
            }
        }
    }
}

#[cfg(test)]
mod profile {
    use super::super::activation::test_util::*;
    use super::*;

    /// For perf: `WINO_SHAPES=name WINO_THREADS=1 cargo test --release ... profile_winograd -- --ignored`.
    #[test]
    #[ignore]
    fn profile_winograd() {
        let threads: usize = std::env::var("WINO_THREADS").map_or(1, |v| v.parse().unwrap());
        let iters: usize = std::env::var("WINO_ITERS").map_or(50, |v| v.parse().unwrap());
        let (name, p) = super::bench::shapes()[0];
        let variant = super::bench::variant_from_env();
        let mut rng = Rng::new(5);
        let x = rng.vec(p.n * p.c * p.h * p.w);
        let w = rng.vec(p.m * p.c * 9);
        let u = variant.transform_weights(&w, p.m, p.c);
        let bias = rng.vec(p.m);
        let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
        let mut scratch = Vec::new();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let t = std::time::Instant::now();
        pool.install(|| {
            for _ in 0..iters {
                conv2d_winograd(
                    &p,
                    variant,
                    &x,
                    &u,
                    Some(&bias),
                    &mut out,
                    false,
                    Activation::Relu,
                    &mut scratch,
                    threads,
                );
            }
        });
        let s = t.elapsed().as_secs_f64() / iters as f64;
        println!("{name}: {:.3} ms {:.1} GFLOP/s", s * 1e3, p.flops() as f64 / 1e9 / s);
    }
}

#[cfg(test)]
mod phases {
    use super::super::activation::test_util::*;
    use super::*;

    /// Time per phase, one thread, one block of the auto plan.
    #[test]
    #[ignore]
    fn phase_times() {
        let variant = super::bench::variant_from_env();
        for (name, p) in super::bench::shapes() {
            let mut rng = Rng::new(5);
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.c * 9);
            let u = variant.transform_weights(&w, p.m, p.c);
            let bias = rng.vec(p.m);
            let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
            let g = Geom::new(&p, variant);
            let plan = BlockPlan::choose(&p, variant, 1);
            let (ty0, ty1) = (0, plan.rows);
            let nt = (ty1 - ty0) * g.tx;
            let mut v = vec![0f32; g.v_len(nt, p.c)];
            let mut y = vec![0f32; g.elems * g.mp * nt];
            let ctx = Ctx {
                p: &p,
                g,
                x: &x,
                u: &u,
                bias: Some(&bias),
                accumulate: false,
                act: Activation::Relu,
                out: SendPtr(out.as_mut_ptr()),
                isa: Isa::detect(),
            };
            let mut bufs = Bufs::default();
            let time = |f: &mut dyn FnMut()| {
                let mut best = f64::MAX;
                for _ in 0..30 {
                    let t = std::time::Instant::now();
                    f();
                    best = best.min(t.elapsed().as_secs_f64());
                }
                best * 1e6
            };
            let vp = SendPtr(v.as_mut_ptr());
            // SAFETY: single thread, buffers sized for the block.
            let ti = time(&mut || unsafe { ctx.input_transform(0, ty0, ty1, 0..p.c, vp, &mut bufs) });
            let yp = SendPtr(y.as_mut_ptr());
            // SAFETY: single thread, buffers sized for the block.
            let tp = time(&mut || unsafe { ctx.products(nt, 0..g.elems * g.mb, &v, yp) });
            // SAFETY: as above.
            let to = time(&mut || unsafe { ctx.output_transform(0, ty0, ty1, 0..g.mp / L, &y, &mut bufs) });
            let blocks = g.ty.div_ceil(plan.rows) as f64;
            let gemm_gf = (2 * g.elems * g.mp * p.c * nt) as f64 / 1e3 / tp;
            println!(
                "{name:>15} nt {nt:3}: input {ti:8.1} us  products {tp:8.1} us ({gemm_gf:5.1} GF/s)  output {to:8.1} us  (x{blocks} blocks)"
            );
        }
    }
}
