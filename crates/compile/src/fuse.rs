//! Epilogue fusion on the lowered program.
//!
//! - A per-channel affine (inference BatchNormalization) after a convolution is folded into
//!   the convolution's weights and bias.
//! - A residual `Add` whose operand is a convolution's output becomes that convolution's
//!   residual input (added before the activation).
//! - An activation after a convolution, Gemm, affine or binary op becomes its epilogue.
//!
//! A producer is fused only when its output has exactly one use and is not a graph output,
//! so no intermediate value that something else needs disappears. The egg-based fusion pass
//! (`passes/`) will generalise this; these are the rewrites the kernels need to avoid a pass
//! over memory per op.

use crate::lower::{Program, Step, ValId, ValKind};
use hetc_ir::Tensor;
use hetc_plan::{Activation, BinaryFn, Kernel};

/// Uses of each value's memory: step inputs and graph outputs, through views.
fn use_counts(p: &Program, live: &[bool]) -> Vec<usize> {
    let mut uses = vec![0; p.values.len()];
    for (s, step) in p.steps.iter().enumerate() {
        if live[s] {
            for &v in &step.inputs {
                uses[p.root(v)] += 1;
            }
        }
    }
    for &(_, v) in &p.outputs {
        uses[p.root(v)] += 1;
    }
    uses
}

fn activation_slot(k: &mut Kernel) -> Option<&mut Activation> {
    match k {
        Kernel::Conv(c) => Some(&mut c.activation),
        Kernel::ConvTranspose(c) => Some(&mut c.activation),
        Kernel::Gemm { activation, .. } | Kernel::ChannelAffine { activation } | Kernel::Binary { activation, .. } => {
            Some(activation)
        }
        _ => None,
    }
}

/// The step producing `v` directly (not through a view), if live.
fn producer(p: &Program, live: &[bool], v: ValId) -> Option<usize> {
    p.steps.iter().enumerate().position(|(s, st)| live[s] && st.outputs == [v])
}

/// Whether `v` (or the memory it views) is available before step `at` runs.
fn defined_before(p: &Program, live: &[bool], v: ValId, at: usize) -> bool {
    let root = p.root(v);
    match p.steps.iter().enumerate().position(|(s, st)| live[s] && st.outputs.iter().any(|&o| p.root(o) == root)) {
        Some(s) => s < at,
        None => true, // a graph input or a constant
    }
}

pub(crate) fn fuse(p: &mut Program) {
    let mut live = vec![true; p.steps.len()];
    for c in 0..p.steps.len() {
        let uses = use_counts(p, &live);
        let consumer = p.steps[c].clone();
        // The single-use operand produced directly by a fusable step.
        let candidate = |v: ValId| -> Option<usize> {
            (uses[v] == 1 && matches!(p.values[v].kind, ValKind::Computed)).then(|| producer(p, &live, v)).flatten()
        };
        match &consumer.kernel {
            Kernel::ChannelAffine { activation: Activation::Identity } => {
                let Some(prod) = candidate(consumer.inputs[0]) else { continue };
                if fold_affine_into_conv(p, prod, &consumer) {
                    p.steps[prod].outputs = consumer.outputs.clone();
                    live[c] = false;
                }
            }
            Kernel::Binary { op: BinaryFn::Add, activation: Activation::Identity } => {
                let fusable = (0..2).find_map(|i| {
                    let (v, other) = (consumer.inputs[i], consumer.inputs[1 - i]);
                    let prod = candidate(v)?;
                    let same_shape = p.values[p.root(other)].ty.shape == p.values[v].ty.shape;
                    // The fused convolution runs at the producer's place, so the residual must
                    // already exist there.
                    if !defined_before(p, &live, other, prod) {
                        return None;
                    }
                    match &p.steps[prod].kernel {
                        Kernel::Conv(conv)
                            if same_shape
                                && !conv.has_residual
                                && conv.activation == Activation::Identity
                                && other != v =>
                        {
                            Some((prod, v, other))
                        }
                        _ => None,
                    }
                });
                if let Some((prod, v, other)) = fusable {
                    let residual = p.view(p.root(other), p.values[v].ty.shape.clone());
                    if let Kernel::Conv(conv) = &mut p.steps[prod].kernel {
                        conv.has_residual = true;
                    }
                    p.steps[prod].inputs.push(residual);
                    p.steps[prod].outputs = consumer.outputs.clone();
                    live[c] = false;
                }
            }
            Kernel::Activation(a) => {
                let Some(prod) = candidate(consumer.inputs[0]) else { continue };
                if let Some(slot) = activation_slot(&mut p.steps[prod].kernel)
                    && *slot == Activation::Identity
                {
                    *slot = *a;
                    p.steps[prod].outputs = consumer.outputs.clone();
                    live[c] = false;
                }
            }
            _ => {}
        }
    }
    let steps: Vec<Step> = p.steps.drain(..).zip(live).filter(|(_, l)| *l).map(|(s, _)| s).collect();
    p.steps = steps;
}

/// `conv(x) * scale + shift` = conv with weights scaled per output channel and a new bias.
fn fold_affine_into_conv(p: &mut Program, prod: usize, affine: &Step) -> bool {
    let step = &p.steps[prod];
    let Kernel::Conv(conv) = &step.kernel else { return false };
    if conv.has_residual || conv.activation != Activation::Identity {
        return false;
    }
    let (Some(w), Some(scale), Some(shift)) =
        (p.constant(step.inputs[1]), p.constant(affine.inputs[1]), p.constant(affine.inputs[2]))
    else {
        return false;
    };
    let m = w.shape()[0];
    let per = w.numel() / m.max(1);
    let (scale, shift) = (scale.to_f32_vec(), shift.to_f32_vec());
    let mut wv = w.to_f32_vec();
    for (i, x) in wv.iter_mut().enumerate() {
        *x *= scale[i / per];
    }
    let bias: Vec<f32> = match conv.has_bias.then(|| p.constant(step.inputs[2])).flatten() {
        Some(b) => b.to_f32_vec().iter().zip(&scale).zip(&shift).map(|((b, s), t)| b * s + t).collect(),
        None if conv.has_bias => return false,
        None => shift.clone(),
    };
    let name = step.name.clone();
    let w_ty = w.ty().clone();
    let new_w = Tensor::from_f32(w_ty.shape.clone(), &wv);
    let new_b = Tensor::from_f32(vec![m], &bias);
    let wid = p.add(format!("{name}/weight_bn"), w_ty, ValKind::Constant(new_w));
    let bid = p.add(format!("{name}/bias_bn"), new_b.ty().clone(), ValKind::Constant(new_b));
    let step = &mut p.steps[prod];
    step.inputs[1] = wid;
    if let Kernel::Conv(conv) = &mut step.kernel {
        if conv.has_bias {
            step.inputs[2] = bid;
        } else {
            conv.has_bias = true;
            step.inputs.insert(2, bid);
        }
    }
    true
}
