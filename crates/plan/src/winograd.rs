//! Winograd convolution: the transformed-weight layout that the compiler writes and the
//! runtime reads ([`crate::ConvAlgo::Winograd`]).
//!
//! A 3x3, stride-1, undilated, ungrouped convolution computes each `m x m` tile of output
//! pixels from the `a x a` input patch under it (`a = m + 2`) as
//! `A^T [(G g G^T) ⊙ (B^T d B)] A` (Lavin & Gray), which takes `a²` multiplications per tile,
//! input and output channel instead of `9 m²`. Two variants:
//!
//! * [`Variant::F4x4`], F(4x4, 3x3): `a = 6`, interpolation points 0, ±1, ±2, ∞; 36
//!   multiplications for 16 outputs (4x fewer than direct);
//! * [`Variant::F2x2`], F(2x2, 3x3): `a = 4`, points 0, ±1, ∞; 16 for 4 (2.25x fewer), with
//!   transformed weights less than half as large, which matters where streaming the weights
//!   dominates (few pixels, many channels).
//!
//! The weight transform `U = G g G^T` is done once, at compile time, and stored as the
//! convolution's weight tensor in this layout:
//!
//! ```text
//! shape [a², ceil(M / 32), C, 32]
//! [e, mb, ci, j] = U[e / a][e % a] of output channel mb*32 + j and input channel ci
//!                  (0 for the padding channels mb*32 + j >= M)
//! ```
//!
//! that is, for each of the `a²` transform elements, the `M x C` matrix `U_e` stored column
//! panel by column panel: blocks of 32 output channels, each `C` rows of 32 contiguous values,
//! which is the order in which the runtime's matrix kernel reads them. The first dimension
//! (36 or 16) tells the variants apart.

/// Output channels per packed weight panel.
pub const M_BLOCK: usize = 32;

/// F(4x4, 3x3): `G` (6x3), `B^T` (6x6), `A^T` (4x6).
pub const G4: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];
pub const BT4: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
pub const AT4: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// F(2x2, 3x3): `G` (4x3), `B^T` (4x4), `A^T` (2x4).
pub const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
pub const BT2: [[f64; 4]; 4] =
    [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]];
pub const AT2: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

/// The two tile sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// F(4x4, 3x3).
    F4x4,
    /// F(2x2, 3x3).
    F2x2,
}

impl Variant {
    /// Output pixels per tile side.
    pub const fn out_tile(self) -> usize {
        match self {
            Variant::F4x4 => 4,
            Variant::F2x2 => 2,
        }
    }

    /// Input pixels per tile side.
    pub const fn in_tile(self) -> usize {
        self.out_tile() + 2
    }

    /// Elements of a transformed tile.
    pub const fn elems(self) -> usize {
        self.in_tile() * self.in_tile()
    }

    /// Shape of the transformed weights of a convolution with `m` output and `c` input
    /// channels.
    pub fn weight_shape(self, m: usize, c: usize) -> [usize; 4] {
        [self.elems(), m_blocks(m), c, M_BLOCK]
    }

    /// The variant whose layout `shape` is, for `m` output and `c` input channels.
    pub fn of_weight_shape(shape: &[usize], m: usize, c: usize) -> Option<Variant> {
        [Variant::F4x4, Variant::F2x2].into_iter().find(|v| shape == v.weight_shape(m, c))
    }

    /// `G` as rows of three.
    fn g(self) -> &'static [[f64; 3]] {
        match self {
            Variant::F4x4 => &G4,
            Variant::F2x2 => &G2,
        }
    }

    /// Transforms ONNX weights `w: [m, c, 3, 3]` into the layout above (in `f64`, rounded
    /// once).
    ///
    /// Panics if `w` does not hold `m * c * 9` values.
    pub fn transform_weights(self, w: &[f32], m: usize, c: usize) -> Vec<f32> {
        assert_eq!(w.len(), m * c * 9, "winograd weights must be [m, c, 3, 3]");
        let (a, g) = (self.in_tile(), self.g());
        let mb = m_blocks(m);
        let mut out = vec![0f32; self.elems() * mb * c * M_BLOCK];
        for oc in 0..m {
            for ci in 0..c {
                let k = &w[(oc * c + ci) * 9..][..9];
                // t = G k (a x 3), u = t G^T (a x a).
                let t: Vec<[f64; 3]> = g
                    .iter()
                    .map(|gi| std::array::from_fn(|j| (0..3).map(|l| gi[l] * k[l * 3 + j] as f64).sum()))
                    .collect();
                for (i, ti) in t.iter().enumerate() {
                    for (j, gj) in g.iter().enumerate() {
                        let u: f64 = (0..3).map(|l| ti[l] * gj[l]).sum();
                        let e = i * a + j;
                        out[((e * mb + oc / M_BLOCK) * c + ci) * M_BLOCK + oc % M_BLOCK] = u as f32;
                    }
                }
            }
        }
        out
    }
}

/// Output-channel panels of `m` channels.
pub fn m_blocks(m: usize) -> usize {
    m.div_ceil(M_BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y = A^T [(U) ⊙ (B^T d B)] A` for one tile of one channel pair.
    fn one_tile(v: Variant, bt: &[&[f64]], at: &[&[f64]]) {
        let (a, m) = (v.in_tile(), v.out_tile());
        let g: Vec<f32> = (0..9).map(|i| (i as f32 * 0.37).sin()).collect();
        let d: Vec<f64> = (0..a * a).map(|i| (i as f64 * 0.71).cos()).collect();
        let u = v.transform_weights(&g, 1, 1);
        let bd = |i: usize, j: usize| -> f64 {
            (0..a).flat_map(|p| (0..a).map(move |q| (p, q))).map(|(p, q)| bt[i][p] * d[p * a + q] * bt[j][q]).sum()
        };
        for y in 0..m {
            for x in 0..m {
                let mut got = 0.0;
                for i in 0..a {
                    for j in 0..a {
                        got += at[y][i] * (u[(i * a + j) * M_BLOCK] as f64 * bd(i, j)) * at[x][j];
                    }
                }
                let want: f64 = (0..3)
                    .flat_map(|p| (0..3).map(move |q| (p, q)))
                    .map(|(p, q)| g[p * 3 + q] as f64 * d[(y + p) * a + x + q])
                    .sum();
                assert!((got - want).abs() < 1e-5, "{v:?} ({y}, {x}): {got} vs {want}");
            }
        }
    }

    /// One tile through the three transforms equals the direct 3x3 correlation.
    #[test]
    fn one_tile_matches_direct() {
        one_tile(Variant::F4x4, &BT4.each_ref().map(|r| &r[..]), &AT4.each_ref().map(|r| &r[..]));
        one_tile(Variant::F2x2, &BT2.each_ref().map(|r| &r[..]), &AT2.each_ref().map(|r| &r[..]));
        assert_eq!(Variant::F4x4.weight_shape(33, 5), [36, 2, 5, 32]);
        assert_eq!(Variant::F2x2.weight_shape(33, 5), [16, 2, 5, 32]);
        assert_eq!(Variant::of_weight_shape(&[16, 2, 5, 32], 33, 5), Some(Variant::F2x2));
        assert_eq!(Variant::of_weight_shape(&[36, 1, 5, 32], 33, 5), None);
    }
}
