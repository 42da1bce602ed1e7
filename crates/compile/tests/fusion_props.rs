//! Property: random small graphs (chains of conv, batch norm, activations, residual adds,
//! constant muls and adds, pads before convs and pools, transpose and reshape pairs, concats)
//! give the same outputs compiled fused and unfused, through the CPU runtime.

mod fusion_common;

use fusion_common::{G, assert_fusion_keeps_outputs};
use hetc_ir::ValueRef;
use hetc_ir::ops::{BinaryKind, PoolKind, UnaryKind};
use proptest::prelude::*;

const ACTIVATIONS: [UnaryKind; 7] = [
    UnaryKind::Relu,
    UnaryKind::LeakyRelu { alpha: 0.1 },
    UnaryKind::Clip { min: 0.0, max: 6.0 },
    UnaryKind::Sigmoid,
    UnaryKind::HardSigmoid { alpha: 0.2, beta: 0.5 },
    UnaryKind::HardSwish,
    UnaryKind::Tanh,
];

/// Builds a graph from a recipe: each `(op, param)` extends the current value.
fn build(seed: u64, c: usize, h: usize, w: usize, recipe: &[(u8, u8)], second_output: bool) -> hetc_ir::Graph {
    let mut g = G::new("random", seed);
    let x = g.input("x", &[1, c, h, w]);
    let mut values: Vec<ValueRef> = vec![x];
    let mut cur = x;
    for &(op, p) in recipe {
        let shape = g.ty(cur).shape;
        let next = match op % 10 {
            0 => {
                let k = if p % 2 == 0 { 1 } else { 3 };
                g.conv(cur, 1 + (p as usize / 2) % 6, k, k / 2, p % 3 != 0)
            }
            1 if p % 2 == 0 => g.bn(cur),
            1 => g.instance_norm(cur),
            2 => g.unary(cur, ACTIVATIONS[p as usize % ACTIVATIONS.len()]),
            3 => match values.iter().rev().find(|&&v| v != cur && g.ty(v).shape == shape) {
                Some(&r) => g.binary(cur, r, BinaryKind::Add),
                None => {
                    let k = g.constant(&[shape[1], 1, 1], false);
                    g.binary(k, cur, BinaryKind::Add)
                }
            },
            4 => {
                let k = if p % 2 == 0 { g.constant(&[1, shape[1], 1, 1], false) } else { g.scalar(0.75) };
                g.binary(cur, k, BinaryKind::Mul)
            }
            5 => {
                let padded = g.pad(cur, 1, 0.0);
                g.conv(padded, 1 + p as usize % 4, 3, 0, true)
            }
            6 => {
                let (value, kind) = match p % 3 {
                    0 => (f64::NEG_INFINITY, PoolKind::Max),
                    1 => (0.0, PoolKind::Max),
                    _ => (0.0, PoolKind::Average { count_include_pad: false }),
                };
                let padded = g.pad(cur, 1, value);
                g.pool(padded, kind, 2, 1, 0)
            }
            7 => {
                let t = g.transpose(cur, &[0, 2, 3, 1]);
                let t = if p % 2 == 0 { g.unary(t, UnaryKind::Abs) } else { t };
                g.transpose(t, &[0, 3, 1, 2])
            }
            8 => {
                let r = g.reshape(cur, &[shape[1], shape[2] * shape[3]]);
                g.reshape(r, &shape)
            }
            _ => match values.iter().rev().find(|&&v| v != cur && g.ty(v).shape[2..] == shape[2..]) {
                Some(&other) => g.concat(&[cur, other], 1),
                None => {
                    let other = g.conv(cur, 2, 1, 0, true);
                    g.concat(&[other, cur], 1)
                }
            },
        };
        values.push(next);
        cur = next;
    }
    g.output("y", cur);
    if second_output && values.len() > 2 {
        let mid = values[values.len() / 2];
        if mid != cur {
            g.output("mid", mid);
        }
    }
    g.g
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn fusion_keeps_outputs(
        seed in any::<u64>(),
        c in 1usize..6,
        h in 3usize..8,
        w in 3usize..8,
        recipe in proptest::collection::vec((any::<u8>(), any::<u8>()), 1..9),
        second_output in any::<bool>(),
    ) {
        let g = build(seed, c, h, w, &recipe, second_output);
        assert_fusion_keeps_outputs(&g);
    }
}
