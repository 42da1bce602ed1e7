//! Winograd F(4x4, 3x3) convolution: the transformed-weight layout that the compiler writes
//! and the runtime reads ([`crate::ConvAlgo::Winograd`]).
//!
//! A 3x3, stride-1, undilated, ungrouped convolution computes each 4x4 tile of output pixels
//! from the 6x6 input patch under it as `A^T [(G g G^T) ⊙ (B^T d B)] A` (Lavin & Gray,
//! interpolation points 0, ±1, ±2, ∞), which takes 36 multiplications per tile, input and
//! output channel instead of 144. The weight transform `U = G g G^T` is done once, at compile
//! time, and stored as the convolution's weight tensor in this layout:
//!
//! ```text
//! shape [36, ceil(M / 32), C, 32]
//! [e, mb, ci, j] = U[e / 6][e % 6] of output channel mb*32 + j and input channel ci
//!                  (0 for the padding channels mb*32 + j >= M)
//! ```
//!
//! that is, for each of the 36 transform elements, the `M x C` matrix `U_e` stored column
//! panel by column panel: blocks of 32 output channels, each `C` rows of 32 contiguous values,
//! which is the order in which the runtime's matrix kernel reads them.

/// Output pixels per tile side.
pub const OUT_TILE: usize = 4;
/// Input pixels per tile side (`OUT_TILE + 3 - 1`).
pub const IN_TILE: usize = 6;
/// Elements of a transformed tile.
pub const ELEMS: usize = IN_TILE * IN_TILE;
/// Output channels per packed weight panel.
pub const M_BLOCK: usize = 32;

/// `G` (6x3): the weight transform.
pub const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `B^T` (6x6): the input transform.
pub const BT: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `A^T` (4x6): the output transform.
pub const AT: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Output-channel panels of `m` channels.
pub fn m_blocks(m: usize) -> usize {
    m.div_ceil(M_BLOCK)
}

/// Shape of the transformed weights of a convolution with `m` output and `c` input channels.
pub fn weight_shape(m: usize, c: usize) -> [usize; 4] {
    [ELEMS, m_blocks(m), c, M_BLOCK]
}

/// Transforms ONNX weights `w: [m, c, 3, 3]` into the layout above (in `f64`, rounded once).
///
/// Panics if `w` does not hold `m * c * 9` values.
pub fn transform_weights(w: &[f32], m: usize, c: usize) -> Vec<f32> {
    assert_eq!(w.len(), m * c * 9, "winograd weights must be [m, c, 3, 3]");
    let mb = m_blocks(m);
    let mut out = vec![0f32; ELEMS * mb * c * M_BLOCK];
    for oc in 0..m {
        for ci in 0..c {
            let g = &w[(oc * c + ci) * 9..][..9];
            // t = G g (6x3), u = t G^T (6x6).
            let mut t = [[0f64; 3]; 6];
            for (i, row) in t.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (0..3).map(|k| G[i][k] * g[k * 3 + j] as f64).sum();
                }
            }
            for i in 0..IN_TILE {
                for j in 0..IN_TILE {
                    let u: f64 = (0..3).map(|k| t[i][k] * G[j][k]).sum();
                    let e = i * IN_TILE + j;
                    out[((e * mb + oc / M_BLOCK) * c + ci) * M_BLOCK + oc % M_BLOCK] = u as f32;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tile through the three transforms equals the direct 3x3 correlation.
    #[test]
    fn one_tile_matches_direct() {
        let g: Vec<f32> = (0..9).map(|i| (i as f32 * 0.37).sin()).collect();
        let d: Vec<f64> = (0..36).map(|i| (i as f64 * 0.71).cos()).collect();
        let u = transform_weights(&g, 1, 1);
        // v = B^T d B
        let mut v = [[0f64; 6]; 6];
        for i in 0..6 {
            for j in 0..6 {
                v[i][j] = (0..6)
                    .flat_map(|a| (0..6).map(move |b| (a, b)))
                    .map(|(a, b)| BT[i][a] * d[a * 6 + b] * BT[j][b])
                    .sum();
            }
        }
        for y in 0..4 {
            for x in 0..4 {
                let mut got = 0.0;
                for i in 0..6 {
                    for j in 0..6 {
                        got += AT[y][i] * (u[(i * 6 + j) * M_BLOCK] as f64 * v[i][j]) * AT[x][j];
                    }
                }
                let want: f64 = (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| g[a * 3 + b] as f64 * d[(y + a) * 6 + x + b])
                    .sum();
                assert!((got - want).abs() < 1e-5, "({y}, {x}): {got} vs {want}");
            }
        }
        assert_eq!(weight_shape(33, 5), [36, 2, 5, 32]);
    }
}
