//! Explicit transfers between the CPU and GPU memories.
//!
//! After lowering, each step runs on its node's device. Wherever a step reads a value that
//! lives in the other device's memory, an `Upload` (CPU to GPU) or `Download` (GPU to CPU) step
//! is inserted just before it, copying the value into a new value on the reader's device; a
//! value read on the other device by several steps crosses once. Graph inputs live on the CPU,
//! and graph outputs computed on the GPU are downloaded. Constants (weights) are readable
//! everywhere and never cross.

use crate::lower::{Program, Step, ValId, ValKind};
use hetc_plan::{Device, Kernel};
use std::collections::HashMap;

/// The device whose memory holds each value's bytes, by root value.
pub(crate) fn homes(p: &Program) -> HashMap<ValId, Device> {
    let mut home: HashMap<ValId, Device> = p.inputs.iter().map(|&(_, v)| (p.root(v), Device::Cpu)).collect();
    for step in &p.steps {
        let written = match step.kernel {
            Kernel::Upload => Device::Gpu,
            Kernel::Download => Device::Cpu,
            _ => step.device,
        };
        for &o in &step.outputs {
            home.entry(p.root(o)).or_insert(written);
        }
    }
    home
}

/// Inserts the transfer steps; returns how many.
pub(crate) fn insert(p: &mut Program) -> usize {
    let mut home: HashMap<ValId, Device> = p.inputs.iter().map(|&(_, v)| (p.root(v), Device::Cpu)).collect();
    let mut copies: HashMap<(ValId, Device), ValId> = HashMap::new();
    let old = std::mem::take(&mut p.steps);
    let mut steps = Vec::with_capacity(old.len());
    let mut count = 0;
    let mut cross =
        |p: &mut Program, steps: &mut Vec<Step>, home: &mut HashMap<ValId, Device>, v: ValId, to: Device| {
            *copies.entry((v, to)).or_insert_with(|| {
                let value = &p.values[v];
                let (suffix, kernel) = match to {
                    Device::Gpu => ("upload", Kernel::Upload),
                    Device::Cpu => ("download", Kernel::Download),
                };
                let name = format!("{}/{suffix}", value.name);
                let copy = p.add(name.clone(), value.ty.clone(), ValKind::Computed);
                steps.push(Step { name, device: Device::Gpu, kernel, inputs: vec![v], outputs: vec![copy] });
                home.insert(copy, to);
                count += 1;
                copy
            })
        };
    for mut step in old {
        for j in 0..step.inputs.len() {
            let v = step.inputs[j];
            if matches!(p.values[p.root(v)].kind, ValKind::Constant(_)) {
                continue;
            }
            let at = home.get(&p.root(v)).copied().unwrap_or(Device::Cpu);
            if at != step.device {
                step.inputs[j] = cross(p, &mut steps, &mut home, v, step.device);
            }
        }
        for &o in &step.outputs {
            home.insert(p.root(o), step.device);
        }
        steps.push(step);
    }
    for k in 0..p.outputs.len() {
        let v = p.outputs[k].1;
        if home.get(&p.root(v)).copied() == Some(Device::Gpu) {
            p.outputs[k].1 = cross(p, &mut steps, &mut home, v, Device::Cpu);
        }
    }
    p.steps = steps;
    count
}
