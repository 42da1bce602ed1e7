//! AVX-512 products with a fused epilogue for pointwise and grouped convolutions.
//!
//! A pointwise (1x1, stride 1, unpadded) convolution is, per image and group, the product
//! `out[M, N] = W[M, K] · X[K, N]` of the weights with the input planes (`N` pixels). A
//! grouped convolution unfolds the patches of a tile of output pixels of one image and group
//! (im2col, [`super::conv::im2col_tile`]) and multiplies the weights by that.
//!
//! A register-blocked kernel computes 6 output channels by 64 pixels (24 accumulators) per
//! step, broadcasting the weights from their rows; narrower edges use smaller instances of
//! the same kernel and masked loads and stores. The epilogue (bias, residual, activation) is
//! applied to the accumulators before they are stored, so the output is written once.
//!
//! Pixels go in chunks whose input stays in cache while every block of output channels runs
//! over the chunk. With many output channels and a long reduction, each 64-pixel tile is
//! first copied to a contiguous buffer (strided rows defeat the prefetchers and the TLB), in
//! parts of 128 reduction steps that stay in L1; the partial sums go through the output. A
//! few pixels past a multiple of 16 (7x7 = 48 + 1, 14x14 = 192 + 4) are computed as dot
//! products over the reduction instead of mostly-masked vectors. Large products (many output
//! channels and a long reduction over many pixels, whose weights outgrow L2) are left to the
//! `gemm` crate, whose packed, cache-blocked loops run them faster. With several threads,
//! (image, group, channel block, pixel block) items are split statically over the threads,
//! each with its own part of the scratch buffer.

use hetc_plan::Activation;

use super::conv::Conv2d;

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))` for a pointwise convolution if
/// this kernel covers it ([`pointwise_covers`]); returns `false` without touching `out`
/// otherwise. `scratch` is grown to [`pointwise_scratch_len`] if shorter.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pointwise(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !pointwise_covers(p) {
            return false;
        }
        x86::pointwise(p, x, w, bias, out, accumulate, act, scratch, threads);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, x, w, bias, out, accumulate, act, scratch, threads);
        false
    }
}

/// Whether [`pointwise`] computes this pointwise convolution: on an AVX-512 CPU, unless the
/// product is large (output channels and input channels per group both at least 512, over at
/// least 128 pixels): there the weights outgrow L2 and the `gemm` crate's cache blocking
/// runs it faster.
pub(crate) fn pointwise_covers(p: &Conv2d) -> bool {
    super::simd512::available() && pointwise_geometry_covers(p)
}

/// [`pointwise_covers`] on a CPU with AVX-512: the geometry's part of the decision.
pub(crate) fn pointwise_geometry_covers(p: &Conv2d) -> bool {
    let (cg, mg, pix) = (p.c / p.group.max(1), p.m / p.group.max(1), p.oh * p.ow);
    !(cg.min(mg) >= GEMM_MIN_MK && pix >= GEMM_MIN_PIXELS)
}

/// See [`pointwise_covers`].
const GEMM_MIN_MK: usize = 512;
const GEMM_MIN_PIXELS: usize = 128;

/// Scratch elements [`pointwise`] uses for this (pointwise) geometry.
pub(crate) fn pointwise_scratch_len(p: &Conv2d, threads: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if pointwise_covers(p) {
        return x86::pointwise_scratch_len(p, threads);
    }
    let _ = (p, threads);
    0
}

/// Whether [`grouped`] computes this convolution: several groups of more than one input
/// channel, on an AVX-512 CPU (pointwise and depthwise ones have their own kernels).
pub(crate) fn grouped_applies(p: &Conv2d) -> bool {
    grouped_geometry_applies(p) && super::simd512::available()
}

/// [`grouped_applies`] on a CPU with AVX-512: the geometry's part of the decision.
pub(crate) fn grouped_geometry_applies(p: &Conv2d) -> bool {
    p.group > 1 && p.c / p.group > 1
}

/// `out = act(conv(x, w) + bias + (accumulate ? out : 0))` for a convolution that
/// [`grouped_applies`] to; returns `false` without touching `out` otherwise. `scratch` is
/// grown to [`grouped_scratch_len`] if shorter.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grouped(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    accumulate: bool,
    act: Activation,
    scratch: &mut Vec<f32>,
    threads: usize,
) -> bool {
    if !grouped_applies(p) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        x86::grouped(p, x, w, bias, out, accumulate, act, scratch, threads);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, w, bias, out, accumulate, act, scratch, threads);
        false
    }
}

/// Scratch elements [`grouped`] uses for this geometry.
pub(crate) fn grouped_scratch_len(p: &Conv2d, threads: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if grouped_applies(p) {
        return x86::grouped_scratch_len(p, threads);
    }
    let _ = (p, threads);
    0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::activation;
    use super::super::conv::{Conv2d, im2col_tile};
    use super::super::simd512::{Epi, EpiV, act_dyn, lane_mask};
    use hetc_plan::Activation;
    use rayon::prelude::*;
    use std::arch::x86_64::*;

    /// Output channels per kernel step.
    const MR: usize = 6;
    /// Vectors of 16 pixels per kernel step.
    const NV: usize = 4;
    /// Pixels per kernel step.
    const NT: usize = NV * 16;
    /// Input elements (`k` rows by a range of pixels) that stay in cache while every block
    /// of output channels reads them.
    const CHUNK_ELEMS: usize = 1 << 17;
    /// Shortest reduction and fewest output channels for which input tiles are packed (with
    /// fewer output-channel blocks reading a tile, the copy costs more than it saves).
    const PACK_MIN_K: usize = 64;
    const PACK_MIN_M: usize = 128;
    /// Reduction steps per pass over a packed tile: a 128 x 64 tile part (32 KiB) stays in L1
    /// while every output-channel block reads it.
    const KC_MAX: usize = 128;
    /// Elements of an unfolded (im2col) tile of a grouped convolution.
    const COL_ELEMS: usize = 1 << 16;
    /// Most trailing pixels (past a multiple of 16) computed as dot products (see [`dot`]).
    const DOT_MAX: usize = 4;

    /// Whether a product copies each input tile into a contiguous buffer before the
    /// output-channel blocks read it: worth it when many blocks reuse a long tile (the strided
    /// rows of a long reduction defeat the prefetchers and the TLB).
    fn packs(m: usize, k: usize) -> bool {
        k >= PACK_MIN_K && m >= PACK_MIN_M
    }

    /// Reduction steps per pass over a packed tile (all of them when not packing).
    fn kc(pack: bool, k: usize) -> usize {
        if pack { k.div_ceil(k.div_ceil(KC_MAX)) } else { k }
    }

    /// Trailing pixels of a product of `n` pixels computed as dot products.
    fn dot_tail(n: usize) -> usize {
        let r = n % 16;
        if r <= DOT_MAX { r } else { 0 }
    }

    /// Scratch elements one worker needs: a packed tile, and the transposed input columns of
    /// the dot-product tail.
    fn worker_scratch(pack: bool, k: usize, n: usize) -> usize {
        (if pack { kc(pack, k) * NT } else { 0 }) + dot_tail(n) * k
    }

    /// One fused product `out = act(w · x + bias + (accumulate ? out : 0))` on raw strided
    /// rows: `w` is `m x k` (row stride `ldw`), `x` is `k x n` (row stride `ldx`), `out` is
    /// `m x n` (row stride `ldo`), `bias` has `m` elements.
    #[derive(Clone, Copy)]
    pub(crate) struct Product {
        pub m: usize,
        pub n: usize,
        pub k: usize,
        pub w: *const f32,
        pub ldw: usize,
        pub x: *const f32,
        pub ldx: usize,
        pub out: *mut f32,
        pub ldo: usize,
        pub bias: Option<*const f32>,
        pub accumulate: bool,
        pub epi: Epi,
        /// Copy each input tile to the worker's buffer first (see [`packs`]).
        pub pack: bool,
    }

    // SAFETY: a `Product` is only a description; whoever runs it from several threads gives
    // them disjoint parts of `out` (see `product`).
    unsafe impl Send for Product {}
    // SAFETY: as above.
    unsafe impl Sync for Product {}

    /// How `jobs` products of one shape are split over `threads`: (channel chunks, pixel
    /// chunks) per product, and the scratch each worker needs.
    fn split(jobs: usize, m: usize, n: usize, k: usize, pack: bool, threads: usize) -> (usize, usize, usize) {
        let (tiles, mblocks) = (n.div_ceil(NT), m.div_ceil(MR));
        let (mch, nch) = if threads <= 1 {
            (1, 1)
        } else {
            // Pieces per product so that there are a few items per thread.
            let want = (4 * threads).div_ceil(jobs);
            let nch = tiles.min(want).max(1);
            (want.div_ceil(nch).min(mblocks).max(1), nch)
        };
        (mch, nch, worker_scratch(pack, k, n))
    }

    fn workers(items: usize, threads: usize) -> usize {
        threads.max(1).min(items).max(1)
    }

    pub(super) fn pointwise_scratch_len(p: &Conv2d, threads: usize) -> usize {
        let (cg, mg, pix) = (p.c / p.group, p.m / p.group, p.oh * p.ow);
        let jobs = p.n * p.group;
        let (mch, nch, per) = split(jobs, mg, pix, cg, packs(mg, cg), threads);
        per * workers(jobs * mch * nch, threads)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn pointwise(
        p: &Conv2d,
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
        let (cg, mg) = (p.c / p.group, p.m / p.group);
        assert!(p.kh == 1 && p.kw == 1 && p.h * p.w == pix, "pointwise: not a 1x1 convolution: {p:?}");
        assert!(x.len() >= p.n * p.c * pix && w.len() >= p.m * cg && out.len() >= p.n * p.m * pix);
        if let Some(b) = bias {
            assert!(b.len() >= p.m);
        }
        let epi = Epi::new(act);
        let pack = packs(mg, cg);
        let jobs: Vec<Product> = (0..p.n * p.group)
            .map(|ng| {
                let (b, g) = (ng / p.group, ng % p.group);
                Product {
                    m: mg,
                    n: pix,
                    k: cg,
                    w: w[g * mg * cg..].as_ptr(),
                    ldw: cg,
                    x: x[(b * p.c + g * cg) * pix..].as_ptr(),
                    ldx: pix,
                    // SAFETY: inside `out` (asserted above: image `b`, channels of group `g`).
                    out: unsafe { out.as_mut_ptr().add((b * p.m + g * mg) * pix) },
                    ldo: pix,
                    bias: bias.map(|bs| bs[g * mg..].as_ptr()),
                    accumulate,
                    epi,
                    pack,
                }
            })
            .collect();
        let need = pointwise_scratch_len(p, threads);
        if scratch.len() < need {
            scratch.resize(need, 0.0);
        }
        // SAFETY: each job reads `cg` input planes of `pix` elements and `mg x cg` weights, and
        // writes `mg` output planes of image `b`, all inside the slices (asserted above); jobs
        // write disjoint (image, group) blocks; `out` is a unique borrow distinct from `x`, `w`
        // and `scratch`; the CPU supports AVX-512F (checked by the caller).
        unsafe { product(&jobs, threads, &mut scratch[..need]) };
    }

    /// Runs fused products of one shape and order, spread over `threads`.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F. For each job, every element of `w`, `x` and `out` that
    /// its shape and strides describe is valid (reads, and writes for `out`); the `out` blocks
    /// of distinct jobs are disjoint and overlap no input nor `scratch`, and no other thread
    /// accesses them during the call; `ldo >= n`; `scratch` has the length [`split`] asks
    /// for, per worker.
    unsafe fn product(jobs: &[Product], threads: usize, scratch: &mut [f32]) {
        let Some(j0) = jobs.first() else { return };
        let (mch, nch, per) = split(jobs.len(), j0.m, j0.n, j0.k, j0.pack, threads);
        let per_job = mch * nch;
        let items = jobs.len() * per_job;
        let workers = workers(items, threads);
        let run = |t: usize, buf: &mut [f32]| {
            for it in items * t / workers..items * (t + 1) / workers {
                let job = &jobs[it / per_job];
                let (mi, ni) = ((it % per_job) / nch, it % nch);
                let (tiles, mblocks) = (job.n.div_ceil(NT), job.m.div_ceil(MR));
                let (t0, t1) = (tiles * ni / nch, tiles * (ni + 1) / nch);
                let (b0, b1) = (mblocks * mi / mch, mblocks * (mi + 1) / mch);
                let (c0, c1) = (t0 * NT, (t1 * NT).min(job.n));
                let (r0, r1) = (b0 * MR, (b1 * MR).min(job.m));
                if r0 < r1 && c0 < c1 {
                    // SAFETY: items cover disjoint (row, column) blocks of their job's output,
                    // each run by one worker with its own buffer of `per` elements; the rest
                    // is forwarded from this function's contract.
                    unsafe { run_item(job, r0, r1, c0, c1, buf) };
                }
            }
        };
        if workers <= 1 {
            run(0, scratch);
        } else if per == 0 {
            (0..workers).into_par_iter().for_each(|t| run(t, &mut []));
        } else {
            scratch[..workers * per].par_chunks_mut(per).enumerate().for_each(|(t, buf)| run(t, buf));
        }
    }

    pub(super) fn grouped_scratch_len(p: &Conv2d, threads: usize) -> usize {
        let (kdim, pix) = (p.c / p.group * p.kh * p.kw, p.oh * p.ow);
        let tile = col_tile(kdim, pix);
        (kdim * (tile + DOT_MAX)) * workers(p.n * p.group * pix.div_ceil(tile), threads)
    }

    /// Pixels per unfolded tile of a grouped convolution.
    fn col_tile(kdim: usize, pix: usize) -> usize {
        ((COL_ELEMS / kdim.max(1)).clamp(NT, 16 * NT) / NT * NT).min(pix).max(1)
    }

    /// A pointer to the output that may cross threads; users write disjoint blocks.
    #[derive(Clone, Copy)]
    struct OutPtr(*mut f32);
    // SAFETY: see `grouped`: each (image, group, tile) block is written by one worker.
    unsafe impl Send for OutPtr {}
    // SAFETY: as above.
    unsafe impl Sync for OutPtr {}

    impl OutPtr {
        /// The pointer (a method, so that closures capture the whole `OutPtr`).
        fn get(self) -> *mut f32 {
            self.0
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn grouped(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        out: &mut [f32],
        accumulate: bool,
        act: Activation,
        scratch: &mut Vec<f32>,
        threads: usize,
    ) {
        let (cg, mg, pix, plane) = (p.c / p.group, p.m / p.group, p.oh * p.ow, p.h * p.w);
        let kdim = cg * p.kh * p.kw;
        assert!(x.len() >= p.n * p.c * plane && w.len() >= p.m * kdim && out.len() >= p.n * p.m * pix);
        if let Some(b) = bias {
            assert!(b.len() >= p.m);
        }
        let tile = col_tile(kdim, pix);
        let ntiles = pix.div_ceil(tile);
        let items = p.n * p.group * ntiles;
        let workers = workers(items, threads);
        // Per worker: the unfolded tile, then room for the dot-product tail's columns.
        let col_len = kdim * tile;
        let per = kdim * (tile + DOT_MAX);
        if scratch.len() < workers * per {
            scratch.resize(workers * per, 0.0);
        }
        let epi = Epi::new(act);
        let dst = OutPtr(out.as_mut_ptr());
        let run = |t: usize, buf: &mut [f32]| {
            let (col, tail) = buf.split_at_mut(col_len);
            for it in items * t / workers..items * (t + 1) / workers {
                let (ng, ti) = (it / ntiles, it % ntiles);
                let (b, g) = (ng / p.group, ng % p.group);
                let (p0, len) = (ti * tile, tile.min(pix - ti * tile));
                let xg = &x[(b * p.c + g * cg) * plane..][..cg * plane];
                let col = &mut col[..kdim * len];
                im2col_tile(p, xg, p0, len, col, 1);
                let job = Product {
                    m: mg,
                    n: len,
                    k: kdim,
                    w: w[g * mg * kdim..].as_ptr(),
                    ldw: kdim,
                    x: col.as_ptr(),
                    ldx: len,
                    // SAFETY: image `b`, channels of group `g`, pixel `p0`: inside `out`
                    // (asserted above).
                    out: unsafe { dst.get().add((b * p.m + g * mg) * pix + p0) },
                    ldo: pix,
                    bias: bias.map(|bs| bs[g * mg..].as_ptr()),
                    accumulate,
                    epi,
                    pack: false,
                };
                // SAFETY: the job's `mg` output rows of `len` pixels (stride `pix`) are this
                // item's block, written by this worker only; `w` rows and the unfolded tile
                // are inside their slices; the CPU supports AVX-512F (checked by the caller).
                unsafe { run_item(&job, 0, mg, 0, len, tail) };
            }
        };
        if workers <= 1 {
            run(0, &mut scratch[..per]);
        } else {
            scratch[..workers * per].par_chunks_mut(per).enumerate().for_each(|(t, buf)| run(t, buf));
        }
    }

    /// Rows `i0..i1` and columns `j0..j1` (`j0` a multiple of the tile width) of a product;
    /// `buf` has [`worker_scratch`] elements.
    ///
    /// Columns go in chunks whose input stays in cache; within a chunk each block of output
    /// channels runs over all its tiles, so that every output row is written in long runs.
    /// When tiles are packed, a chunk is one tile, and long reductions go in passes over
    /// parts of the tile (the partial sums go through the output; the last pass applies the
    /// epilogue). A few trailing pixels past a multiple of 16 are dot products instead.
    ///
    /// # Safety
    ///
    /// As [`product`], for this block, which no other thread touches.
    unsafe fn run_item(g: &Product, i0: usize, i1: usize, j0: usize, j1: usize, buf: &mut [f32]) {
        let tail = if j1 == g.n { dot_tail(j1 - j0) } else { 0 };
        let jv = j1 - tail;
        let kc = kc(g.pack, g.k);
        let (pbuf, tbuf) = buf.split_at_mut(if g.pack { kc * NT } else { 0 });
        let tail = (tail > 0).then(|| {
            let tb = &mut tbuf[..tail * g.k];
            // SAFETY: columns `jv..j1` of the `k` rows of `x` are inside it (caller's contract).
            for (t, col) in tb.chunks_exact_mut(g.k).enumerate() {
                for (kk, v) in col.iter_mut().enumerate() {
                    *v = unsafe { *g.x.add(kk * g.ldx + jv + t) };
                }
            }
            Tail { j: jv, len: tail, cols: tb.as_ptr() }
        });
        let chunk = if g.pack { NT } else { (CHUNK_ELEMS / g.k.max(1)).clamp(NT, 32 * NT) / NT * NT };
        let mut jc = j0;
        while jc < jv {
            let je = jv.min(jc + chunk);
            // The tail goes with the last chunk (its last pass), each channel block's right
            // after its tiles, while their weights are in cache.
            let t = if je == jv { tail } else { None };
            // SAFETY: rows `0..k`, columns `jc..je` of `x` are inside it (caller's contract);
            // when packing, the buffer has `kc * NT` elements.
            unsafe {
                if g.pack {
                    let mut k0 = 0;
                    while k0 < g.k {
                        let k1 = g.k.min(k0 + kc);
                        pack_tile(g.x.add(k0 * g.ldx + jc), g.ldx, k1 - k0, je - jc, pbuf.as_mut_ptr());
                        let ks = Steps { k0, k1, first: k0 == 0, last: k1 == g.k };
                        blocks(g, i0, i1, jc, je, ks, if ks.last { t } else { None }, |_| (pbuf.as_ptr(), NT));
                        k0 = k1;
                    }
                } else {
                    let src = g.x.add(jc);
                    let ks = Steps { k0: 0, k1: g.k, first: true, last: true };
                    blocks(g, i0, i1, jc, je, ks, t, |j| (src.add(j - jc), g.ldx));
                }
            }
            jc = je;
        }
        if jv == j0 {
            // Only a tail.
            let ks = Steps { k0: 0, k1: g.k, first: true, last: true };
            // SAFETY: as above; no tiles.
            unsafe { blocks(g, i0, i1, jv, jv, ks, tail, |_| (g.x, g.ldx)) };
        }
        if let Some(post) = g.epi.post {
            for r in i0..i1 {
                // SAFETY: row `r`, columns `j0..j1` of this block, written above.
                let row = unsafe { std::slice::from_raw_parts_mut(g.out.add(r * g.ldo + j0), j1 - j0) };
                activation::apply(post, row);
            }
        }
    }

    /// Trailing columns `j..j+len` computed by [`dot`] from their transposed copy `cols`.
    #[derive(Clone, Copy)]
    struct Tail {
        j: usize,
        len: usize,
        cols: *const f32,
    }

    /// The part `k0..k1` of the reduction that one kernel call adds: the first part starts
    /// from the residual (or zero), the others from the partial sums in the output, and the
    /// last one applies the epilogue.
    #[derive(Clone, Copy)]
    struct Steps {
        k0: usize,
        k1: usize,
        first: bool,
        last: bool,
    }

    /// Every (6-channel block, 64-pixel tile) of rows `i0..i1`, columns `jc..je`, channel
    /// blocks outside, reduction steps `ks`; `src(j)` gives the input rows `k0..k1` of the
    /// tile at column `j` (and their stride). Each channel block then computes `tail`, if any.
    ///
    /// # Safety
    ///
    /// As [`run_item`]; `src(j)` is valid for `k` rows (its stride) of the tile's columns.
    // The arguments are the loop bounds of one block plan; bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn blocks(
        g: &Product,
        i0: usize,
        i1: usize,
        jc: usize,
        je: usize,
        ks: Steps,
        tail: Option<Tail>,
        src: impl Fn(usize) -> (*const f32, usize),
    ) {
        let mut i = i0;
        while i < i1 {
            let mr = MR.min(i1 - i);
            let mut j = jc;
            while j < je {
                let tw = NT.min(je - j);
                let nv = tw.div_ceil(16);
                let last = lane_mask(0, tw - (nv - 1) * 16);
                let (xt, ldx) = src(j);
                // SAFETY: rows `i..i+mr`, columns `j..j+tw` of the block (caller's contract),
                // the `k` input rows at `xt` with stride `ldx`; the CPU supports AVX-512F.
                unsafe {
                    macro_rules! rows {
                        ($v:literal) => {
                            match mr {
                                6 => kernel::<6, $v>(g, i, j, last, xt, ldx, ks),
                                5 => kernel::<5, $v>(g, i, j, last, xt, ldx, ks),
                                4 => kernel::<4, $v>(g, i, j, last, xt, ldx, ks),
                                3 => kernel::<3, $v>(g, i, j, last, xt, ldx, ks),
                                2 => kernel::<2, $v>(g, i, j, last, xt, ldx, ks),
                                _ => kernel::<1, $v>(g, i, j, last, xt, ldx, ks),
                            }
                        };
                    }
                    match nv {
                        4 => rows!(4),
                        3 => rows!(3),
                        2 => rows!(2),
                        _ => rows!(1),
                    }
                }
                j += tw;
            }
            if let Some(t) = tail {
                // SAFETY: rows `i..i+mr`, columns `t.j..t.j+t.len` of the block, whose
                // transposed input columns are at `t.cols` (caller's contract).
                unsafe {
                    macro_rules! rows {
                        ($t:literal) => {
                            match mr {
                                6 => dot::<6, $t>(g, i, t.j, t.cols),
                                5 => dot::<5, $t>(g, i, t.j, t.cols),
                                4 => dot::<4, $t>(g, i, t.j, t.cols),
                                3 => dot::<3, $t>(g, i, t.j, t.cols),
                                2 => dot::<2, $t>(g, i, t.j, t.cols),
                                _ => dot::<1, $t>(g, i, t.j, t.cols),
                            }
                        };
                    }
                    match t.len {
                        1 => rows!(1),
                        2 => rows!(2),
                        3 => rows!(3),
                        _ => rows!(4),
                    }
                }
            }
            i += mr;
        }
    }

    /// Copies `rows x cols` (`cols <= NT`) from `src` (row stride `ld`) to `dst` (row stride
    /// `NT`).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F; `src` is valid for the elements described, `dst` for
    /// `rows * NT` elements, and they do not overlap.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_tile(src: *const f32, ld: usize, rows: usize, cols: usize, dst: *mut f32) {
        let nv = cols.div_ceil(16);
        let masks: [u16; NV] = std::array::from_fn(|v| lane_mask(0, cols.saturating_sub(v * 16)));
        for r in 0..rows {
            // SAFETY: row `r` has `cols` elements at `src + r*ld`; the masks keep lanes below
            // `cols`; `dst` has `NT` elements per row.
            unsafe {
                let s = src.add(r * ld);
                let d = dst.add(r * NT);
                for (v, &m) in masks.iter().enumerate().take(nv) {
                    _mm512_storeu_ps(d.add(v * 16), _mm512_maskz_loadu_ps(m, s.add(v * 16)));
                }
            }
        }
    }

    /// Rows `i..i+R` by columns `j..j+16*V` (the last vector masked by `last`), whose `k`
    /// input rows start at `x` with stride `ldx` (the product's input, or a packed copy of the
    /// tile).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F; the rows and columns are inside the product (columns
    /// past `j + 16*(V-1)` only where `last` has lanes), `x` is valid for `k` rows of those
    /// columns, and no other thread touches the output block.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel<const R: usize, const V: usize>(
        g: &Product,
        i: usize,
        j: usize,
        last: u16,
        x: *const f32,
        ldx: usize,
        ks: Steps,
    ) {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        // SAFETY: rows `i..i+R` of `w` have `k` elements each; the `k` rows at `x` have the
        // tile's columns (the masked lanes excepted); the caller guarantees both.
        unsafe {
            let w = g.w.add(i * g.ldw);
            // The next channel block's weight rows, fetched ahead (the first tile of a chunk
            // reads them from memory).
            let pf_rows = g.m.saturating_sub(i + R).min(R);
            let pf = w.wrapping_add(R * g.ldw);
            let mut xp = x;
            for kk in ks.k0..ks.k1 {
                if kk % 16 == 0 {
                    for r in 0..pf_rows {
                        _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(r * g.ldw + kk).cast());
                    }
                }
                let xv: [__m512; V] = std::array::from_fn(|v| {
                    if v + 1 == V {
                        _mm512_maskz_loadu_ps(last, xp.add(v * 16))
                    } else {
                        _mm512_loadu_ps(xp.add(v * 16))
                    }
                });
                for (r, acc) in acc.iter_mut().enumerate() {
                    let wr = _mm512_set1_ps(*w.add(r * g.ldw + kk));
                    for v in 0..V {
                        acc[v] = _mm512_fmadd_ps(wr, xv[v], acc[v]);
                    }
                }
                xp = xp.add(ldx);
            }
        }
        let ev = EpiV::new(&g.epi);
        let read = g.accumulate || !ks.first;
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: bias has `m > i + r` elements; the output row `i + r` has columns
            // `j..j+16*V` outside the masked lanes (caller's contract).
            unsafe {
                let b = match g.bias {
                    Some(b) if ks.last => _mm512_set1_ps(*b.add(i + r)),
                    _ => _mm512_setzero_ps(),
                };
                let orow = g.out.add((i + r) * g.ldo + j);
                for (v, &a) in acc.iter().enumerate() {
                    let m = if v + 1 == V { last } else { u16::MAX };
                    let mut t = _mm512_add_ps(a, b);
                    if read {
                        t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, orow.add(v * 16)));
                    }
                    if ks.last {
                        t = act_dyn(g.epi.kind, t, &ev);
                    }
                    _mm512_mask_storeu_ps(orow.add(v * 16), m, t);
                }
            }
        }
    }

    /// Rows `i..i+R`, columns `j..j+T` as dot products over the reduction, 16 steps at a
    /// time: for a few pixels this needs `1/16` of the multiply-adds of a masked vector.
    /// `tb` holds the `T` input columns transposed (`T x k`).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F; the rows and columns are inside the product, `tb` has
    /// `T * k` elements, and no other thread touches the output block.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot<const R: usize, const T: usize>(g: &Product, i: usize, j: usize, tb: *const f32) {
        let mut acc = [[_mm512_setzero_ps(); T]; R];
        let mut kk = 0;
        // SAFETY: lanes below `k - kk` of weight rows `i..i+R` and of the `T` columns of `tb`.
        unsafe {
            while kk < g.k {
                let m = lane_mask(0, (g.k - kk).min(16));
                let xv: [__m512; T] = std::array::from_fn(|t| _mm512_maskz_loadu_ps(m, tb.add(t * g.k + kk)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let wv = _mm512_maskz_loadu_ps(m, g.w.add((i + r) * g.ldw + kk));
                    for t in 0..T {
                        acc[t] = _mm512_fmadd_ps(wv, xv[t], acc[t]);
                    }
                }
                kk += 16;
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: bias has `m > i + r` elements; output row `i + r` has columns `j..j+T`.
            unsafe {
                let b = g.bias.map_or(0.0, |b| *b.add(i + r));
                let orow = g.out.add((i + r) * g.ldo + j);
                for (t, &a) in acc.iter().enumerate() {
                    let mut v = _mm512_reduce_add_ps(a) + b;
                    if g.accumulate {
                        v += *orow.add(t);
                    }
                    *orow.add(t) = activation::apply_scalar(g.epi.scalar, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::activation::{self, test_util::*};
    use super::*;

    /// Direct definition, f64 accumulation.
    fn naive(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, res: Option<&[f32]>, act: Activation) -> Vec<f32> {
        let (cg, mg, pix) = (p.c / p.group, p.m / p.group, p.h * p.w);
        let mut y = vec![0f32; p.n * p.m * pix];
        for b in 0..p.n {
            for oc in 0..p.m {
                let g = oc / mg;
                for j in 0..pix {
                    let mut s = bias.map_or(0.0, |bs| bs[oc] as f64);
                    for ci in 0..cg {
                        s += x[(b * p.c + g * cg + ci) * pix + j] as f64 * w[oc * cg + ci] as f64;
                    }
                    let idx = (b * p.m + oc) * pix + j;
                    if let Some(r) = res {
                        s += r[idx] as f64;
                    }
                    y[idx] = activation::apply_scalar(act, s as f32);
                }
            }
        }
        y
    }

    fn geom(n: usize, c: usize, h: usize, w: usize, m: usize, group: usize) -> Conv2d {
        Conv2d {
            n,
            c,
            h,
            w,
            m,
            oh: h,
            ow: w,
            kh: 1,
            kw: 1,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_t: 0,
            pad_l: 0,
            group,
        }
    }

    #[test]
    fn matches_naive() {
        if !crate::cpu::kernels::simd512::available() {
            return;
        }
        let mut rng = Rng::new(31);
        let cases = [
            geom(1, 1, 1, 1, 1, 1),
            geom(1, 3, 7, 7, 5, 1),
            geom(1, 16, 7, 7, 13, 1),
            geom(2, 24, 14, 14, 32, 1),
            geom(1, 8, 9, 15, 16, 1),
            geom(1, 7, 11, 13, 6, 1),
            geom(1, 5, 64, 33, 7, 1),
            geom(1, 33, 5, 13, 20, 1),
            geom(2, 12, 6, 11, 18, 3),
            geom(1, 16, 56, 56, 24, 1),
            geom(1, 300, 3, 5, 11, 1),
            geom(1, 1200, 2, 3, 4, 1),
            geom(2, 520, 9, 10, 14, 2),
            geom(1, 700, 17, 17, 13, 1),
            geom(1, 64, 9, 11, 24, 1),
            geom(1, 130, 17, 17, 50, 1),
            geom(2, 96, 10, 13, 62, 2),
            // many channels, few pixels (covered); many pixels too (left to `gemm`)
            geom(1, 500, 9, 9, 600, 1),
            // packed tiles in several reduction passes, with tails of every width
            geom(1, 300, 7, 7, 130, 1),
            geom(2, 200, 9, 11, 140, 1),
            geom(1, 129, 10, 13, 128, 1),
            geom(1, 257, 3, 43, 131, 1),
            geom(1, 260, 13, 11, 270, 1),
        ];
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::Clip { min: -0.3, max: 0.4 },
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::HardSigmoid { alpha: 0.2, beta: 0.5 },
            Activation::HardSwish,
            Activation::Sigmoid,
        ];
        for p in cases {
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.c / p.group);
            let bias = rng.vec(p.m);
            let res = rng.vec(p.n * p.m * p.h * p.w);
            for (k, &act) in acts.iter().enumerate() {
                let b = (k % 3 != 1).then_some(&bias[..]);
                let accumulate = k % 2 == 1;
                let want = naive(&p, &x, &w, b, accumulate.then_some(&res[..]), act);
                for threads in [1, 2, 3] {
                    let mut out = if accumulate { res.clone() } else { vec![f32::NAN; res.len()] };
                    let mut scratch = Vec::new();
                    let done =
                        in_pool(threads, || pointwise(&p, &x, &w, b, &mut out, accumulate, act, &mut scratch, threads));
                    assert_eq!(done, pointwise_covers(&p));
                    if !done {
                        continue;
                    }
                    assert!(scratch.len() <= pointwise_scratch_len(&p, threads));
                    assert_close(&out, &want, 1e-4);
                }
            }
        }
    }
}

#[cfg(test)]
mod grouped_tests {
    use super::super::activation::{self, test_util::*};
    use super::*;

    /// Direct definition, f64 accumulation.
    fn naive(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, res: Option<&[f32]>, act: Activation) -> Vec<f32> {
        let (cg, mg) = (p.c / p.group, p.m / p.group);
        let mut y = vec![0f32; p.n * p.m * p.oh * p.ow];
        for b in 0..p.n {
            for oc in 0..p.m {
                let g = oc / mg;
                for oy in 0..p.oh {
                    for ox in 0..p.ow {
                        let mut s = bias.map_or(0.0, |bs| bs[oc] as f64);
                        for ci in 0..cg {
                            for ky in 0..p.kh {
                                for kx in 0..p.kw {
                                    let iy = (oy * p.stride_h + ky * p.dil_h) as isize - p.pad_t as isize;
                                    let ix = (ox * p.stride_w + kx * p.dil_w) as isize - p.pad_l as isize;
                                    if iy < 0 || ix < 0 || iy >= p.h as isize || ix >= p.w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * p.c + g * cg + ci) * p.h + iy as usize) * p.w + ix as usize];
                                    s += xv as f64 * w[((oc * cg + ci) * p.kh + ky) * p.kw + kx] as f64;
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

    /// (n, c, h, w, m, k, stride, dilation, pads [t, l, b, r], group).
    #[allow(clippy::too_many_arguments)]
    fn geom(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        m: usize,
        k: usize,
        s: usize,
        d: usize,
        pads: [usize; 4],
        group: usize,
    ) -> Conv2d {
        let out = |len: usize, pb: usize, pe: usize| (len + pb + pe - (d * (k - 1) + 1)) / s + 1;
        Conv2d {
            n,
            c,
            h,
            w,
            m,
            oh: out(h, pads[0], pads[2]),
            ow: out(w, pads[1], pads[3]),
            kh: k,
            kw: k,
            stride_h: s,
            stride_w: s,
            dil_h: d,
            dil_w: d,
            pad_t: pads[0],
            pad_l: pads[1],
            group,
        }
    }

    #[test]
    fn matches_naive() {
        if !crate::cpu::kernels::simd512::available() {
            return;
        }
        let mut rng = Rng::new(41);
        let cases = [
            // RegNet-like: 24 channels per group, stride 1 and 2
            geom(1, 72, 14, 14, 72, 3, 1, 1, [1; 4], 3),
            geom(1, 48, 15, 17, 48, 3, 2, 1, [1; 4], 2),
            // odd sizes, channel multipliers, asymmetric pads, dilation, 1x1 stride 2
            geom(2, 6, 9, 11, 9, 3, 1, 1, [1, 0, 2, 1], 3),
            geom(1, 8, 13, 10, 4, 3, 1, 2, [2; 4], 2),
            geom(1, 12, 8, 9, 8, 1, 2, 1, [0; 4], 4),
            geom(1, 10, 21, 19, 15, 5, 2, 1, [2; 4], 5),
            // more pixels than one unfolded tile
            geom(1, 64, 40, 40, 32, 3, 1, 1, [1; 4], 2),
        ];
        let acts =
            [Activation::Identity, Activation::Relu, Activation::Clip { min: -0.3, max: 0.4 }, Activation::Sigmoid];
        for p in cases {
            assert!(grouped_applies(&p), "{p:?}");
            let x = rng.vec(p.n * p.c * p.h * p.w);
            let w = rng.vec(p.m * p.c / p.group * p.kh * p.kw);
            let bias = rng.vec(p.m);
            let res = rng.vec(p.n * p.m * p.oh * p.ow);
            for (k, &act) in acts.iter().enumerate() {
                let b = (k != 1).then_some(&bias[..]);
                let accumulate = k % 2 == 1;
                let want = naive(&p, &x, &w, b, accumulate.then_some(&res[..]), act);
                for threads in [1, 2, 3] {
                    let mut out = if accumulate { res.clone() } else { vec![f32::NAN; res.len()] };
                    let mut scratch = Vec::new();
                    let done =
                        in_pool(threads, || grouped(&p, &x, &w, b, &mut out, accumulate, act, &mut scratch, threads));
                    assert!(done);
                    assert_eq!(scratch.len(), grouped_scratch_len(&p, threads));
                    assert_close(&out, &want, 1e-4);
                }
            }
        }
    }
}
