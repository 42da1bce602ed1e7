//! Storage for every tensor: weights in an aligned section, activations in one arena planned
//! by lifetime, with in-place reuse.

use crate::lower::{Program, ValId, ValKind};
use crate::{CompileError, CompileOptions, CompiledPlan};
use hetc_ir::{DType, Graph};
use hetc_pass_memory::{Allocation, Buffer, allocate, allocate_aligned};
use hetc_plan as plan;
use hetc_plan::Device;
use hetc_plan::{Kernel, Storage, TensorDesc};
use std::collections::HashMap;

pub(crate) fn plan_dtype(d: DType) -> plan::DType {
    match d {
        DType::F32 => plan::DType::F32,
        DType::F16 => plan::DType::F16,
        DType::BF16 => plan::DType::BF16,
        DType::F64 => plan::DType::F64,
        DType::I8 => plan::DType::I8,
        DType::U8 => plan::DType::U8,
        DType::I16 => plan::DType::I16,
        DType::U16 => plan::DType::U16,
        DType::I32 => plan::DType::I32,
        DType::U32 => plan::DType::U32,
        DType::I64 => plan::DType::I64,
        DType::U64 => plan::DType::U64,
        DType::Bool => plan::DType::Bool,
    }
}

/// Whether a step may write its output over input `i` (same shape, elementwise, reads each
/// element before writing it).
fn in_place_input(p: &Program, kernel: &Kernel, inputs: &[ValId], out: ValId) -> Option<usize> {
    let same = |v: ValId| p.values[v].ty == p.values[out].ty;
    match kernel {
        Kernel::Activation(_) | Kernel::Unary(_) | Kernel::ChannelAffine { .. } => same(inputs[0]).then_some(0),
        Kernel::Binary { .. } => (0..2).find(|&i| same(inputs[i])),
        Kernel::Elementwise { .. } => (0..inputs.len()).find(|&i| same(inputs[i])),
        Kernel::Conv(c) if c.has_residual => {
            let r = inputs.len() - 1;
            same(inputs[r]).then_some(r)
        }
        _ => None,
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
}

/// Builds the plan's tensor list and weight section, one tensor per value used.
struct TensorTable<'a> {
    program: &'a Program,
    offsets: &'a HashMap<usize, u64>,
    homes: &'a HashMap<ValId, Device>,
    uf: &'a mut UnionFind,
    tensors: Vec<TensorDesc>,
    weights: Vec<u8>,
    /// Weight offset of each constant buffer: reshaped constants share bytes and are stored once.
    weight_at: HashMap<(usize, usize), u64>,
    ids: HashMap<ValId, u32>,
}

impl TensorTable<'_> {
    fn id(&mut self, v: ValId) -> u32 {
        if let Some(&t) = self.ids.get(&v) {
            return t;
        }
        let p = self.program;
        let value = &p.values[v];
        let storage = match &value.kind {
            ValKind::Constant(t) => {
                let key = (t.bytes().as_ptr() as usize, t.bytes().len());
                let weights = &mut self.weights;
                let offset = *self.weight_at.entry(key).or_insert_with(|| {
                    let offset = plan::align_up(weights.len() as u64);
                    weights.resize(offset as usize, 0);
                    weights.extend_from_slice(t.bytes());
                    offset
                });
                Storage::Weight { offset }
            }
            _ => {
                let root = p.root(v);
                let offset = self.offsets[&self.uf.find(root)] + p.offset_in_root(v);
                match self.homes.get(&root).copied().unwrap_or(Device::Cpu) {
                    Device::Cpu => Storage::Arena { offset },
                    Device::Gpu => Storage::GpuArena { offset },
                }
            }
        };
        self.tensors.push(TensorDesc {
            name: value.name.clone(),
            dtype: plan_dtype(value.ty.dtype),
            shape: value.ty.shape.iter().map(|&d| d as u64).collect(),
            storage,
        });
        let id = (self.tensors.len() - 1) as u32;
        self.ids.insert(v, id);
        id
    }

    fn bindings(&mut self, list: &[(String, ValId)]) -> Vec<plan::Binding> {
        list.iter().map(|(name, v)| plan::Binding { name: name.clone(), tensor: self.id(*v) }).collect()
    }
}

pub(crate) fn layout(graph: &Graph, p: Program, options: &CompileOptions) -> Result<CompiledPlan, CompileError> {
    let n_steps = p.steps.len();
    // Execution time of each root buffer: inputs at 0, step s at s + 1, outputs to the end.
    let mut first: HashMap<ValId, usize> = HashMap::new();
    let mut last: HashMap<ValId, usize> = HashMap::new();
    for &(_, v) in &p.inputs {
        first.insert(p.root(v), 0);
        last.insert(p.root(v), 0);
    }
    for (s, step) in p.steps.iter().enumerate() {
        for &v in &step.inputs {
            if matches!(p.values[p.root(v)].kind, ValKind::Computed) {
                last.insert(p.root(v), s + 1);
            }
        }
        for &v in &step.outputs {
            first.entry(p.root(v)).or_insert(s + 1);
            last.entry(p.root(v)).or_insert(s + 1);
        }
    }
    let pinned: Vec<ValId> = p.inputs.iter().chain(&p.outputs).map(|&(_, v)| p.root(v)).collect();
    for &(_, v) in &p.outputs {
        last.insert(p.root(v), n_steps + 1);
    }
    let homes = crate::transfers::homes(&p);
    let home = |v: ValId| homes.get(&v).copied().unwrap_or(Device::Cpu);
    let naive = |d: Device, align: u64| -> u64 {
        first.keys().filter(|&&v| home(v) == d).map(|&v| p.values[v].ty.byte_size().div_ceil(align) * align).sum()
    };
    let naive_bytes = naive(Device::Cpu, 64);
    let gpu_naive_bytes = naive(Device::Gpu, plan::GPU_ARENA_ALIGN);

    // In-place: an elementwise step's output takes over its input's buffer when the input
    // dies at that step and is not a graph input or output.
    let mut uf = UnionFind((0..p.values.len()).collect());
    for (s, step) in p.steps.iter().enumerate() {
        let [out] = step.outputs[..] else { continue };
        let Some(i) = in_place_input(&p, &step.kernel, &step.inputs, out) else { continue };
        let src = p.root(step.inputs[i]);
        let dst = p.root(out);
        let src_set = uf.find(src);
        let dies_here = last.get(&src) == Some(&(s + 1));
        let used_once = step.inputs.iter().filter(|&&v| p.root(v) == src).count() == 1;
        // A Concat input written in place sits at an offset in the Concat's buffer: only the
        // slice at offset 0 starts where a merged buffer would.
        let at_start = p.offset_in_root(out) == 0 && p.offset_in_root(step.inputs[i]) == 0;
        if dies_here
            && at_start
            && used_once
            && matches!(p.values[src].kind, ValKind::Computed)
            && !pinned.contains(&src)
            && src != dst
            && home(src) == home(dst)
        {
            let dst_set = uf.find(dst);
            uf.0[dst_set] = src_set;
        }
    }
    // One allocation per set of merged buffers.
    let mut sets: HashMap<usize, (u64, usize, usize)> = HashMap::new();
    for (&v, &f) in &first {
        let l = last[&v];
        let size = p.values[v].ty.byte_size();
        let e = sets.entry(uf.find(v)).or_insert((0, f, l));
        e.0 = e.0.max(size);
        e.1 = e.1.min(f);
        e.2 = e.2.max(l);
    }
    // One arena per memory: merged buffers share a device (in place never crosses one).
    let mut offset_of: HashMap<usize, u64> = HashMap::new();
    let mut arena = |d: Device| -> Allocation {
        let mut set_ids: Vec<usize> = sets.keys().copied().filter(|&s| home(s) == d).collect();
        set_ids.sort_unstable();
        let buffers: Vec<Buffer> =
            set_ids.iter().map(|s| Buffer { size: sets[s].0, first: sets[s].1, last: sets[s].2 }).collect();
        let alloc = match d {
            Device::Cpu => allocate(&buffers),
            Device::Gpu => allocate_aligned(&buffers, plan::GPU_ARENA_ALIGN),
        };
        offset_of.extend(set_ids.iter().zip(&alloc.offsets).map(|(&s, &o)| (s, o)));
        alloc
    };
    let alloc = arena(Device::Cpu);
    let gpu_alloc = arena(Device::Gpu);

    // Tensors: every value a step or binding names.
    let mut table = TensorTable {
        program: &p,
        offsets: &offset_of,
        homes: &homes,
        uf: &mut uf,
        tensors: Vec::new(),
        weights: Vec::new(),
        weight_at: HashMap::new(),
        ids: HashMap::new(),
    };
    let inputs = table.bindings(&p.inputs);
    let mut steps = Vec::with_capacity(n_steps);
    for step in &p.steps {
        let ins = step.inputs.iter().map(|&v| table.id(v)).collect();
        let outs = step.outputs.iter().map(|&v| table.id(v)).collect();
        steps.push(plan::Step {
            name: step.name.clone(),
            device: step.device,
            kernel: step.kernel.clone(),
            inputs: ins,
            outputs: outs,
            gpu: None,
            predicted_us: 0.0,
        });
    }
    let outputs = table.bindings(&p.outputs);
    let TensorTable { tensors, weights, .. } = table;
    // A graph output that is a constant cannot be bound to the arena: copy it there.
    for b in &outputs {
        if matches!(tensors[b.tensor as usize].storage, Storage::Weight { .. }) {
            return Err(CompileError::Node {
                node: b.name.clone(),
                reason: "the output is a compile-time constant; hetc plans compute every output".into(),
            });
        }
    }
    let meta = plan::PlanMeta {
        name: graph.name.clone(),
        target: options.target.clone(),
        producer: format!("hetc {}", env!("CARGO_PKG_VERSION")),
        tensors,
        inputs,
        outputs,
        steps,
        arena_bytes: alloc.arena_bytes,
        memory: plan::MemoryReport {
            naive_bytes,
            lower_bound_bytes: alloc.lower_bound_bytes,
            arena_bytes: alloc.arena_bytes,
        },
        gpu_arena_bytes: gpu_alloc.arena_bytes,
        gpu_memory: plan::MemoryReport {
            naive_bytes: gpu_naive_bytes,
            lower_bound_bytes: gpu_alloc.lower_bound_bytes,
            arena_bytes: gpu_alloc.arena_bytes,
        },
        shaders: Vec::new(),
    };
    let mut meta = meta;
    crate::gpu::generate(&mut meta)?;
    Ok(CompiledPlan { meta, weights })
}
