//! Tiled matrix multiplication with workgroup memory, shared by Gemm, MatMul and convolution
//! (as an implicit GEMM: the im2col matrix is never materialised, its tile is gathered straight
//! from the input), and a matrix-vector kernel for one-row products (fully connected layers
//! at batch 1).
//!
//! The tiled kernel computes `C[z][m][n] = sum_k A(z, m, k) * B(z, k, n)` over a grid of
//! `BM x BN` output tiles per batch `z`. Each step of `BK` along k stages an A and a B tile in
//! workgroup memory; each thread accumulates `TM x TN` outputs strided by the workgroup's
//! extent (so that stores and workgroup-memory reads of neighbouring threads are adjacent).
//! The caller supplies WGSL functions `load_a(z, m, k)`, `load_b(z, k, n)` (called only in
//! bounds) and `store(z, m, n, acc)`, the place for epilogues.

use super::Pass;
use super::StepIo;
use super::wgsl::{self, LINEAR_WG};
use hetc_plan::Activation;

/// Tile shape of the tiled kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub bm: usize,
    pub bn: usize,
    pub bk: usize,
    pub tm: usize,
    pub tn: usize,
}

pub const LARGE: Tile = Tile { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };
pub const SMALL: Tile = Tile { bm: 32, bn: 32, bk: 16, tm: 2, tn: 2 };
pub const TINY: Tile = Tile { bm: 16, bn: 16, bk: 16, tm: 1, tn: 1 };

/// A tile is used only if the problem has at least this many of it (else the next smaller
/// one), to keep enough workgroups in flight on a large GPU (132 SMs on an H200).
const MIN_TILES: usize = 128;

/// The tile for an `m x n` product over `batches`.
pub fn choose_tile(m: usize, n: usize, batches: usize) -> Tile {
    let tiles = |t: Tile| m.div_ceil(t.bm) * n.div_ceil(t.bn) * batches;
    if tiles(LARGE) >= 2 * MIN_TILES {
        LARGE
    } else if tiles(SMALL) >= MIN_TILES {
        SMALL
    } else {
        TINY
    }
}

/// A tiled product's shapes and its three WGSL functions.
pub struct TiledGemm {
    pub name: String,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batches: usize,
    pub bindings: usize,
    /// WGSL functions `load_a`, `load_b`, `store` and anything they call.
    pub functions: String,
}

impl TiledGemm {
    pub fn pass(&self, tile: Tile, ids: Vec<hetc_plan::TensorId>) -> Result<Pass, String> {
        let Tile { bm, bn, bk, tm, tn } = tile;
        let (wgx, wgy) = (bn / tn, bm / tm);
        let threads = wgx * wgy;
        let (m, n, k) = (self.m, self.n, self.k);
        if (bm * bk) % threads != 0 || (bn * bk) % threads != 0 {
            return Err(format!("tile {tile:?} does not split evenly over {threads} threads"));
        }
        if m == 0 || n == 0 || k == 0 || self.batches == 0 {
            return Err(format!("empty product {m}x{k} by {k}x{n}"));
        }
        let gx = n.div_ceil(bn);
        let gy = m.div_ceil(bm);
        if gx > wgsl::MAX_GROUPS_PER_DIM as usize
            || gy > wgsl::MAX_GROUPS_PER_DIM as usize
            || self.batches > wgsl::MAX_GROUPS_PER_DIM as usize
        {
            return Err(format!("{m}x{n} x {} batches needs more than 65535 workgroups on an axis", self.batches));
        }
        let check_a = if m % bm == 0 && k % bk == 0 { "true" } else { "gm < M && gk < K" };
        let check_b = if n % bn == 0 && k % bk == 0 { "true" } else { "gk < K && gn < N" };
        let unrolled = Unrolled::new(tile, threads, check_a, check_b);
        let wgsl = format!(
            "{bindings}\
const M = {m}u;
const N = {n}u;
const K = {k}u;
const BM = {bm}u;
const BN = {bn}u;
const BK = {bk}u;
const TM = {tm}u;
const TN = {tn}u;
const WGX = {wgx}u;
const WGY = {wgy}u;
var<workgroup> As: array<f32, {a_len}>;
var<workgroup> Bs: array<f32, {b_len}>;
{functions}
@compute @workgroup_size({wgx}, {wgy}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let z = wid.z;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
{acc_decl}
    for (var k0 = 0u; k0 < K; k0 += BK) {{
{load_a}
{load_b}
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {{
{inner}
        }}
        workgroupBarrier();
    }}
{stores}
}}
",
            bindings = wgsl::bindings(self.bindings),
            functions = self.functions,
            acc_decl = unrolled.acc_decl,
            load_a = unrolled.load_a,
            load_b = unrolled.load_b,
            inner = unrolled.inner,
            stores = unrolled.stores,
            a_len = bm * bk,
            b_len = bn * bk,
        );
        Ok(Pass {
            name: format!("{}_tiled{bm}x{bn}", self.name),
            wgsl,
            workgroup_size: [wgx as u32, wgy as u32, 1],
            workgroup_memory_bytes: ((bm + bn) * bk * 4) as u32,
            workgroups: [gx as u32, gy as u32, self.batches as u32],
            bindings: ids,
        })
    }
}

/// The tiled kernel's per-thread work written out statement by statement: accumulators and
/// operands are scalars (`acc_r_c`, `a_r`, `b_c`), so that no driver keeps them in indexed
/// (spilled) memory, and each thread's tile loads are straight-line code.
struct Unrolled {
    acc_decl: String,
    load_a: String,
    load_b: String,
    inner: String,
    stores: String,
}

impl Unrolled {
    fn new(t: Tile, threads: usize, check_a: &str, check_b: &str) -> Unrolled {
        use std::fmt::Write;
        let Tile { bm, bn, bk, tm, tn } = t;
        let mut acc_decl = String::new();
        for r in 0..tm {
            for c in 0..tn {
                writeln!(acc_decl, "    var acc_{r}_{c} = 0.0f;").unwrap();
            }
        }
        // Every thread loads the same number of elements (the tiles are multiples of the
        // thread count), so the loads need no loop.
        let mut load_a = String::new();
        for j in 0..(bm * bk).div_ceil(threads) {
            writeln!(
                load_a,
                "        {{ let e = li + {}u; let mm = e / BK; let kk = e % BK; let gm = m0 + mm; let gk = k0 + kk;
                 var v = 0.0f; if ({check_a}) {{ v = load_a(z, gm, gk); }} As[kk * BM + mm] = v; }}",
                j * threads
            )
            .unwrap();
        }
        let mut load_b = String::new();
        for j in 0..(bn * bk).div_ceil(threads) {
            writeln!(
                load_b,
                "        {{ let e = li + {}u; let kk = e / BN; let nn = e % BN; let gk = k0 + kk; let gn = n0 + nn;
                 var v = 0.0f; if ({check_b}) {{ v = load_b(z, gk, gn); }} Bs[kk * BN + nn] = v; }}",
                j * threads
            )
            .unwrap();
        }
        let mut inner = String::new();
        for r in 0..tm {
            writeln!(inner, "            let a_{r} = As[kk * BM + lid.y + {}u];", r * (bm / tm)).unwrap();
        }
        for c in 0..tn {
            writeln!(inner, "            let b_{c} = Bs[kk * BN + lid.x + {}u];", c * (bn / tn)).unwrap();
        }
        for r in 0..tm {
            for c in 0..tn {
                writeln!(inner, "            acc_{r}_{c} = fma(a_{r}, b_{c}, acc_{r}_{c});").unwrap();
            }
        }
        let mut stores = String::new();
        for r in 0..tm {
            for c in 0..tn {
                writeln!(
                    stores,
                    "    {{ let gm = m0 + lid.y + {}u; let gn = n0 + lid.x + {}u; if (gm < M && gn < N) {{ store(z, gm, gn, acc_{r}_{c}); }} }}",
                    r * (bm / tm),
                    c * (bn / tn)
                )
                .unwrap();
            }
        }
        Unrolled { acc_decl, load_a, load_b, inner, stores }
    }
}

/// Threads of the matrix-vector kernel's workgroup, which reduces one output over k.
const GEMV_WG: u32 = 256;

/// `y[n] = store(n, sum_k a(k) * b(k, n))` for one row, one workgroup per output: each thread
/// sums a strided part of k, then the workgroup adds the partial sums. Used when the k-major
/// operand is contiguous along k (a transposed fully connected weight), so that a workgroup
/// reads one contiguous row.
fn gemv_rows(name: &str, n: usize, k: usize, bindings: usize, functions: &str, ids: Vec<hetc_plan::TensorId>) -> Pass {
    let wgsl = format!(
        "{b}\
const N = {n}u;
const K = {k}u;
var<workgroup> part: array<f32, {GEMV_WG}>;
{functions}
@compute @workgroup_size({GEMV_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
    let gn = wid.x + wid.y * nwg.x;
    var s = 0.0f;
    if (gn < N) {{
        for (var gk = li; gk < K; gk += {GEMV_WG}u) {{ s = fma(load_a(0u, 0u, gk), load_b(0u, gk, gn), s); }}
    }}
    part[li] = s;
    workgroupBarrier();
    for (var w = {half}u; w > 0u; w = w / 2u) {{
        if (li < w) {{ part[li] = part[li] + part[li + w]; }}
        workgroupBarrier();
    }}
    if (li == 0u && gn < N) {{ store(0u, 0u, gn, part[0]); }}
}}
",
        b = wgsl::bindings(bindings),
        half = GEMV_WG / 2,
    );
    Pass {
        name: format!("{name}_gemv"),
        wgsl,
        workgroup_size: [GEMV_WG, 1, 1],
        workgroup_memory_bytes: GEMV_WG * 4,
        workgroups: wgsl::linear_grid(n * GEMV_WG as usize, GEMV_WG),
        bindings: ids,
    }
}

/// One thread per output of a single-row product, looping over k: coalesced when the k-major
/// operand is contiguous along n.
fn gemv_cols(name: &str, n: usize, k: usize, bindings: usize, functions: &str, ids: Vec<hetc_plan::TensorId>) -> Pass {
    let body = format!(
        "var s = 0.0f;\nfor (var gk = 0u; gk < {k}u; gk++) {{ s = fma(load_a(0u, 0u, gk), load_b(0u, gk, i), s); }}\nstore(0u, 0u, i, s);"
    );
    let wgsl = format!("{}{functions}\n{}", wgsl::bindings(bindings), wgsl::linear_main(n, &body));
    Pass {
        name: format!("{name}_gemv_cols"),
        wgsl,
        workgroup_size: [LINEAR_WG, 1, 1],
        workgroup_memory_bytes: 0,
        workgroups: wgsl::linear_grid(n, LINEAR_WG),
        bindings: ids,
    }
}

pub fn gemm(
    io: &StepIo,
    trans_a: bool,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    has_c: bool,
    activation: Activation,
) -> Result<Vec<Pass>, String> {
    let (a, y) = (&io.ins[0], &io.outs[0]);
    let (m, k) = if trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
    let n = y[1];
    let a_index = if trans_a { format!("gk * {m}u + gm") } else { format!("gm * {k}u + gk") };
    let b_index = if trans_b { format!("gn * {k}u + gk") } else { format!("gk * {n}u + gn") };
    let out = io.ins.len();
    let c_term = if has_c {
        let s = wgsl::broadcast_strides(&io.ins[2], &[m, n]);
        let idx = format!("gm * {}u + gn * {}u", s[0], s[1]);
        format!(" + {} * b2[{idx}]", wgsl::lit(beta))
    } else {
        String::new()
    };
    let functions = format!(
        "fn load_a(z: u32, gm: u32, gk: u32) -> f32 {{ return b0[{a_index}]; }}\n\
         fn load_b(z: u32, gk: u32, gn: u32) -> f32 {{ return b1[{b_index}]; }}\n\
         fn store(z: u32, gm: u32, gn: u32, acc: f32) {{\n\
             let t = {alpha} * acc{c_term};\n\
             b{out}[gm * {n}u + gn] = {act};\n\
         }}\n",
        alpha = wgsl::lit(alpha),
        act = wgsl::activation(activation, "t"),
    );
    let bindings = io.ins.len() + 1;
    if m == 1 {
        let pass = if trans_b {
            gemv_rows("gemm", n, k, bindings, &functions, io.all_ids())
        } else {
            gemv_cols("gemm", n, k, bindings, &functions, io.all_ids())
        };
        return Ok(vec![pass]);
    }
    let g = TiledGemm { name: "gemm".into(), m, n, k, batches: 1, bindings, functions };
    Ok(vec![g.pass(choose_tile(m, n, 1), io.all_ids())?])
}

/// Numpy matmul: 1-D operands are promoted (and the promoted axis dropped from the output, which
/// does not change its memory order), batch axes broadcast.
pub fn matmul(io: &StepIo) -> Result<Vec<Pass>, String> {
    let (a, b) = (&io.ins[0], &io.ins[1]);
    let a2 = if a.len() == 1 { vec![1, a[0]] } else { a.clone() };
    let b2 = if b.len() == 1 { vec![b[0], 1] } else { b.clone() };
    let (m, k, n) = (a2[a2.len() - 2], a2[a2.len() - 1], b2[b2.len() - 1]);
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let r = ab.len().max(bb.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, r - s.len()).chain(s.iter().copied()).collect() };
    let (ab, bb) = (pad(ab), pad(bb));
    let batch: Vec<usize> = ab.iter().zip(&bb).map(|(&x, &y)| x.max(y)).collect();
    let batches: usize = batch.iter().product();
    // Batch offsets in elements: each operand's own batch strides, 0 where it broadcasts.
    let offsets = |own: &[usize], mat: usize| -> Vec<usize> {
        let s = wgsl::strides(own);
        own.iter().zip(&s).map(|(&d, &st)| if d == 1 { 0 } else { st * mat }).collect()
    };
    let (ao, bo) = (offsets(&ab, m * k), offsets(&bb, k * n));
    let base = |name: &str, offs: &[usize]| -> String {
        if batch.is_empty() {
            return format!("fn {name}(z: u32) -> u32 {{ return 0u; }}\n");
        }
        format!(
            "fn {name}(z: u32) -> u32 {{\n{}return {};\n}}\n",
            wgsl::unravel("z", &batch, "q"),
            wgsl::dot("q", offs)
        )
    };
    let functions = format!(
        "{}{}\
         fn load_a(z: u32, gm: u32, gk: u32) -> f32 {{ return b0[a_base(z) + gm * {k}u + gk]; }}\n\
         fn load_b(z: u32, gk: u32, gn: u32) -> f32 {{ return b1[b_base(z) + gk * {n}u + gn]; }}\n\
         fn store(z: u32, gm: u32, gn: u32, acc: f32) {{ b2[(z * {m}u + gm) * {n}u + gn] = acc; }}\n",
        base("a_base", &ao),
        base("b_base", &bo),
    );
    if m == 1 && batches == 1 {
        return Ok(vec![gemv_cols("matmul", n, k, 3, &functions, io.all_ids())]);
    }
    let g = TiledGemm { name: "matmul".into(), m, n, k, batches, bindings: 3, functions };
    Ok(vec![g.pass(choose_tile(m, n, batches), io.all_ids())?])
}
