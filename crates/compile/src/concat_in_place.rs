//! Concat written in place by its producers.
//!
//! A Concat along an axis whose outer dimensions are all 1 (`[1, C, H, W]` along C, the common
//! case) lays its inputs out one after the other in its output. Each input's producer can then
//! write straight into its slice of the output and the Concat step disappears, along with a
//! read and a write of every byte. Here each such input's memory becomes a
//! [`ValKind::SliceOf`] the Concat's output; the memory planner (`layout`) then gives the
//! output one buffer whose lifetime covers every producer, and places each input at its
//! offset in it.
//!
//! An input qualifies when its memory is computed by a step (not a graph input or output,
//! not a constant), is not already placed elsewhere, and appears once in the Concat.

use crate::lower::{Program, ValKind};
use hetc_plan::Kernel;
use std::collections::HashSet;

/// Places the inputs of every qualifying Concat in its output and removes the Concat steps.
/// Returns how many Concat steps were removed.
pub(crate) fn place(p: &mut Program) -> usize {
    let pinned: HashSet<usize> = p.inputs.iter().chain(&p.outputs).map(|&(_, v)| p.root(v)).collect();
    let mut removed = vec![false; p.steps.len()];
    for s in 0..p.steps.len() {
        let Kernel::Concat { axis } = p.steps[s].kernel else { continue };
        // GPU tensors must start at 256-byte aligned offsets, which slices would break.
        if p.steps[s].device != hetc_plan::Device::Cpu {
            continue;
        }
        let [out] = p.steps[s].outputs[..] else { continue };
        let axis = axis as usize;
        let shape = p.values[out].ty.shape.clone();
        if axis >= shape.len() || shape[..axis].iter().product::<usize>() != 1 {
            continue;
        }
        let out_root = p.root(out);
        if !matches!(p.values[out_root].kind, ValKind::Computed) || p.offset_in_root(out) != 0 {
            continue;
        }
        let inputs = p.steps[s].inputs.clone();
        let roots: Vec<usize> = inputs.iter().map(|&v| p.root(v)).collect();
        let distinct = roots.iter().collect::<HashSet<_>>().len() == roots.len();
        let qualifies = |v: usize, r: usize| {
            matches!(p.values[r].kind, ValKind::Computed)
                && r != out_root
                && !pinned.contains(&r)
                && p.values[r].ty.byte_size() == p.values[v].ty.byte_size()
                && p.steps.iter().zip(&removed).any(|(st, &gone)| !gone && st.outputs.contains(&r))
        };
        if !distinct || !inputs.iter().zip(&roots).all(|(&v, &r)| qualifies(v, r)) {
            continue;
        }
        let mut offset = 0u64;
        for (&v, &r) in inputs.iter().zip(&roots) {
            p.values[r].kind = ValKind::SliceOf { base: out_root, offset };
            offset += p.values[v].ty.byte_size();
        }
        removed[s] = true;
    }
    let count = removed.iter().filter(|&&r| r).count();
    let steps = std::mem::take(&mut p.steps);
    p.steps = steps.into_iter().zip(removed).filter(|(_, r)| !r).map(|(s, _)| s).collect();
    count
}
