//! CoDL's intra-operator co-execution, predicted: an op (or a chain of ops) split between the
//! CPU and the GPU along output rows (height) or output channels, with a GPU share.
//!
//! - **Splits.** Convolutions, pools, fully connected layers and elementwise ops split along
//!   channels; spatial ops along height too. A dense convolution's channel part needs the
//!   whole input; a depthwise convolution's, a pool's or an elementwise op's needs only its
//!   channels. A height part needs its rows plus the halo its window reads.
//! - **Chains** (CoDL's Algorithm 1). Consecutive ops linked one to the next keep their
//!   partition, so the processors exchange data only at the chain's ends. Along height, each
//!   earlier op computes the extra rows (the halo) the later ones read, so the halo grows
//!   towards the chain's start and costs redundant work, which the search counts. Along
//!   channels only the first op may need the whole input.
//! - **Objective.** The same sequential latency as layer placement: ops and chains run one
//!   after another; a co-executed op or chain costs the slower processor's part plus one
//!   synchronisation; data moves only where a processor lacks the part it reads, so a value
//!   split between the processors moves only its missing share.
//! - **Search.** Greedy and bounded, from the layer placement: at each op, the best chain
//!   starting there (each valid dimension, length up to [`MAX_CHAIN`], GPU share on a grid of
//!   tenths up to the cap) replaces the ops' placement when it lowers the objective. Since
//!   the layer placement is never worse than the single processors and every accepted change
//!   lowers the objective, neither is the result.

use crate::cost::{CostModel, SplitTime};
use crate::error::PartitionError;
use crate::layer::LayerPlacement;
use crate::problem::{DEVICES, Problem, Source, dev};
use hetc_ir::{Graph, NodeId, Op};
use hetc_plan::Device;
use serde::Serialize;

/// Longest chain the search builds.
pub const MAX_CHAIN: usize = 16;
/// GPU shares tried: tenths.
const SHARES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const EPSILON_US: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dim {
    Height,
    Channels,
}

impl Dim {
    pub fn name(self) -> &'static str {
        match self {
            Dim::Height => "height",
            Dim::Channels => "channels",
        }
    }
}

/// What a channel part of an op reads of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelInput {
    /// Only its own channels (depthwise, pools, elementwise).
    Own,
    /// Every input channel (dense convolutions, fully connected layers).
    All,
}

/// How an op may be split.
#[derive(Debug, Clone, Copy, Default)]
struct Splittable {
    /// Along height: the window's extent and stride along it, and the output height.
    height: Option<Window>,
    channels: Option<ChannelInput>,
    /// Output channels (the extent of a channel split).
    out_channels: usize,
}

/// Where a split of `extent` rows or channels with GPU share `share` cuts: the GPU takes
/// `0..cut`, the CPU `cut..extent`. Shared by the search and [`crate::materialize`], so that
/// what is predicted is what is built.
pub fn split_point(extent: usize, share: f64) -> usize {
    (share * extent as f64).round().clamp(0.0, extent as f64) as usize
}

#[derive(Debug, Clone, Copy)]
struct Window {
    extent: usize,
    stride: usize,
    /// Padding rows at the top and bottom: a part at that edge reads them from nowhere.
    pad_top: usize,
    pad_bottom: usize,
    out_rows: usize,
    in_rows: usize,
}

/// Number of spatial axes of an ONNX pads list (begins, then ends).
fn k_len(pads: &[usize]) -> usize {
    pads.len() / 2
}

fn splittable(graph: &Graph, id: NodeId) -> Splittable {
    let node = graph.node(id);
    let out = match node.outputs.first() {
        Some(t) => t,
        None => return Splittable::default(),
    };
    let input = graph.inputs_of(id).first().copied().flatten().map(|v| graph.value_type(v).clone());
    let rank4 = out.rank() == 4 && input.as_ref().is_some_and(|t| t.rank() == 4);
    let window = |k: &[usize], s: &[usize], d: &[usize], pads: &[usize]| -> Option<Window> {
        let (k, s, d) = (*k.first()?, *s.first()?, *d.first()?);
        let spatial = k_len(pads);
        Some(Window {
            extent: d * (k.max(1) - 1) + 1,
            stride: s.max(1),
            pad_top: pads.first().copied().unwrap_or(0),
            pad_bottom: pads.get(spatial).copied().unwrap_or(0),
            out_rows: out.shape[2],
            in_rows: input.as_ref()?.shape[2],
        })
    };
    let pointwise =
        || Window { extent: 1, stride: 1, pad_top: 0, pad_bottom: 0, out_rows: out.shape[2], in_rows: out.shape[2] };
    let out_channels = out.shape.get(1).copied().unwrap_or(0);
    let conv = |c: &hetc_ir::ops::Conv| {
        let in_c = input.as_ref().map_or(0, |t| t.shape[1]);
        Splittable {
            out_channels,
            height: if rank4 { window(&c.kernel, &c.strides, &c.dilations, &c.pads) } else { None },
            channels: if c.group == 1 {
                Some(ChannelInput::All)
            } else if c.group == in_c && c.group == out.shape[1] {
                Some(ChannelInput::Own)
            } else {
                None
            },
        }
    };
    match &node.op {
        Op::Conv(c) => conv(c),
        // A residual is a second input, read part by part like the output is written.
        Op::FusedConv(f) => conv(&f.conv),
        Op::Pool(p) if rank4 => Splittable {
            // With `ceil_mode` a bottom part's last window may overhang the padding, which an
            // average pool counting padding would count; such pools split along channels only.
            height: if p.ceil_mode { None } else { window(&p.kernel, &p.strides, &p.dilations, &p.pads) },
            channels: Some(ChannelInput::Own),
            out_channels,
        },
        Op::GlobalPool(_) if rank4 => Splittable { height: None, channels: Some(ChannelInput::Own), out_channels },
        // Only a constant weight matrix is cut along its outputs.
        Op::Gemm(_) | Op::FusedGemm(_)
            if out.rank() == 2
                && graph
                    .inputs_of(id)
                    .get(1)
                    .copied()
                    .flatten()
                    .is_some_and(|b| matches!(graph.node(b.node).op, Op::Constant(_))) =>
        {
            Splittable { height: None, channels: Some(ChannelInput::All), out_channels }
        }
        Op::Unary(_) | Op::ElementwiseChain(_) | Op::Binary(_) if rank4 => {
            // Every operand must be the output's shape or constant along the split axes.
            let ok = graph.inputs_of(id).iter().flatten().all(|&v| {
                let t = graph.value_type(v);
                t.shape == out.shape || matches!(graph.node(v.node).op, Op::Constant(_))
            });
            if ok {
                Splittable { height: Some(pointwise()), channels: Some(ChannelInput::Own), out_channels }
            } else {
                Splittable::default()
            }
        }
        _ => Splittable::default(),
    }
}

/// One co-executed op or chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// Indices into the problem's ops: `start..end`.
    pub start: usize,
    pub end: usize,
    pub dim: Dim,
    /// Share of the last op's output the GPU computes.
    pub gpu_share: f64,
    /// Each processor's time for its parts of the chain's ops.
    pub cpu_us: f64,
    pub gpu_us: f64,
    /// Share of each op's output each processor computes, halo included: `[cpu, gpu]`.
    pub op_shares: Vec<[f64; 2]>,
    /// Share of the chain's input each processor reads.
    pub input_need: [f64; 2],
}

/// The co-execution plan.
#[derive(Debug, Clone)]
pub struct CoexecPlan {
    pub ops: Vec<NodeId>,
    /// Device of every op outside chains (ops inside chains keep their layer device here,
    /// unused).
    pub devices: Vec<Device>,
    pub chains: Vec<Chain>,
    pub predicted_us: f64,
    /// What the layer placement alone predicted.
    pub layer_us: f64,
    pub cost_model: String,
}

impl CoexecPlan {
    /// Ops inside chains of at least two ops, and ops split by height and by channels.
    pub fn stats(&self) -> CoexecStats {
        let mut s = CoexecStats { ops: self.ops.len(), ..Default::default() };
        for c in &self.chains {
            let n = c.end - c.start;
            match c.dim {
                Dim::Height => s.split_height += n,
                Dim::Channels => s.split_channels += n,
            }
            if n >= 2 {
                s.chained += n;
                s.chains += 1;
            }
        }
        s
    }

    /// The chain op `i` belongs to.
    pub fn chain_of(&self, i: usize) -> Option<&Chain> {
        self.chains.iter().find(|c| (c.start..c.end).contains(&i))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CoexecStats {
    pub ops: usize,
    pub split_height: usize,
    pub split_channels: usize,
    /// Ops in chains of two or more.
    pub chained: usize,
    pub chains: usize,
}

/// Search options.
#[derive(Debug, Clone, Copy)]
pub struct CoexecOptions {
    /// Longest chain: 1 splits single ops only (granularity `op`).
    pub max_chain: usize,
    /// Largest GPU share of a split.
    pub gpu_share_max: f64,
}

impl Default for CoexecOptions {
    fn default() -> Self {
        CoexecOptions { max_chain: MAX_CHAIN, gpu_share_max: 1.0 }
    }
}

/// Everything the objective needs, precomputed once.
struct Model<'a> {
    problem: Problem,
    cost: &'a dyn CostModel,
    split: Vec<Splittable>,
    /// `[cpu, gpu]` split times per op (`None` where the device cannot run it).
    times: Vec<[Option<SplitTime>; 2]>,
    /// Index of the op whose output op `i` reads when it is op `i-1`'s only reader and that
    /// is op `i`'s only computed input: the chain link.
    linked: Vec<bool>,
    sync_us: f64,
}

impl<'a> Model<'a> {
    fn new(graph: &Graph, cost: &'a dyn CostModel) -> Result<Self, PartitionError> {
        let problem = Problem::new(graph, cost)?;
        let split = problem.ops.iter().map(|&id| splittable(graph, id)).collect();
        let times = problem.ops.iter().map(|&id| DEVICES.map(|d| cost.node_split_us(graph, id, d).ok())).collect();
        let n = problem.len();
        let mut linked = vec![false; n];
        for (i, l) in linked.iter_mut().enumerate().skip(1) {
            // Op i reads exactly one computed value, op i-1's, which nothing else reads.
            let reads: Vec<usize> =
                (0..problem.values.len()).filter(|&k| problem.values[k].consumers.contains(&i)).collect();
            if let [k] = reads[..] {
                let v = &problem.values[k];
                *l = v.source == Source::Op(i - 1) && v.consumers == [i] && !v.is_output;
            }
        }
        Ok(Model { problem, cost, split, times, linked, sync_us: cost.sync_us() })
    }

    /// The chain `start..end` along `dim` with GPU share `share`, if valid.
    fn chain(&self, start: usize, end: usize, dim: Dim, share: f64) -> Option<Chain> {
        if (start + 1..end).any(|i| !self.linked[i]) {
            return None;
        }
        let ops = start..end;
        for i in ops.clone() {
            let s = &self.split[i];
            let ok = match dim {
                Dim::Height => s.height.is_some(),
                Dim::Channels => match s.channels {
                    Some(ChannelInput::Own) => true,
                    Some(ChannelInput::All) => i == start,
                    None => false,
                },
            };
            if !ok || self.times[i].iter().any(Option::is_none) {
                return None;
            }
        }
        let mut op_shares = vec![[0.0; 2]; end - start];
        let mut input_need = [1.0 - share, share];
        match dim {
            Dim::Channels => {
                // Both processors must get channels (the chain keeps the channel count).
                let c = self.split[end - 1].out_channels;
                if !(1..c).contains(&split_point(c, share)) {
                    return None;
                }
                op_shares.iter_mut().for_each(|s| *s = [1.0 - share, share]);
                if self.split[start].channels == Some(ChannelInput::All) {
                    input_need = [1.0, 1.0];
                }
            }
            Dim::Height => {
                // Rows of each op's output each part computes, from the last op backwards:
                // the GPU takes the top rows, the CPU the rest.
                let last = self.split[end - 1].height.expect("checked");
                let gpu_rows = split_point(last.out_rows, share);
                let mut rows = [last.out_rows - gpu_rows, gpu_rows];
                if rows.contains(&0) {
                    return None;
                }
                for i in (start..end).rev() {
                    let w = self.split[i].height.expect("checked");
                    op_shares[i - start] = rows.map(|r| (r as f64 / w.out_rows as f64).min(1.0));
                    // Input rows this part reads: its window over its output rows, less the
                    // padding at its edge of the tensor (the CPU's part is the bottom one).
                    let pads = [w.pad_bottom, w.pad_top];
                    let mut next = [0; 2];
                    for d in 0..2 {
                        next[d] = ((rows[d] - 1) * w.stride + w.extent).saturating_sub(pads[d]).clamp(1, w.in_rows);
                    }
                    rows = next;
                    if i == start {
                        input_need = rows.map(|r| (r as f64 / w.in_rows.max(1) as f64).min(1.0));
                    }
                }
            }
        }
        let part = |d: usize| -> f64 {
            ops.clone().map(|i| self.times[i][d].expect("checked").at(op_shares[i - start][d])).sum()
        };
        Some(Chain { start, end, dim, gpu_share: share, cpu_us: part(0), gpu_us: part(1), op_shares, input_need })
    }

    /// Predicted latency of `devices` with `chains` (sorted, disjoint).
    fn evaluate(&self, devices: &[usize], chains: &[Chain]) -> f64 {
        let p = &self.problem;
        let n = p.len();
        let mut chain_of: Vec<Option<usize>> = vec![None; n];
        for (c, ch) in chains.iter().enumerate() {
            chain_of[ch.start..ch.end].iter_mut().for_each(|x| *x = Some(c));
        }
        let mut total = 0.0;
        for i in 0..n {
            if chain_of[i].is_none() {
                match &p.times[i][devices[i]] {
                    Ok(t) => total += t,
                    Err(_) => return f64::INFINITY,
                }
            }
        }
        for ch in chains {
            total += ch.cpu_us.max(ch.gpu_us) + self.sync_us;
        }
        for v in &p.values {
            // What each processor holds of the value.
            let have: [f64; 2] = match v.source {
                Source::Input => [1.0, 0.0],
                Source::Op(i) => match chain_of[i] {
                    Some(c) if i + 1 == chains[c].end => chains[c].op_shares[i - chains[c].start],
                    // Inside a chain: read only by the next op of the chain.
                    Some(_) => continue,
                    None => {
                        let mut h = [0.0; 2];
                        h[devices[i]] = 1.0;
                        h
                    }
                },
            };
            let mut need = [0.0f64; 2];
            if v.is_output {
                need[dev(Device::Cpu)] = 1.0;
            }
            for &c in &v.consumers {
                match chain_of[c] {
                    Some(k) if chains[k].start == c => {
                        for (n, &want) in need.iter_mut().zip(&chains[k].input_need) {
                            *n = n.max(want);
                        }
                    }
                    Some(_) => {}
                    None => need[devices[c]] = 1.0,
                }
            }
            for d in 0..2 {
                let missing = need[d] - have[d];
                if missing > 1e-9 {
                    let bytes = (v.bytes as f64 * missing).ceil() as u64;
                    total += self.cost.transfer_us(bytes, DEVICES[1 - d], DEVICES[d]);
                }
            }
        }
        total
    }
}

/// Co-execution search from a layer placement of `graph` made with the same cost model.
pub fn place_coexec(
    graph: &Graph,
    cost: &dyn CostModel,
    layer: &LayerPlacement,
    options: CoexecOptions,
) -> Result<CoexecPlan, PartitionError> {
    let model = Model::new(graph, cost)?;
    let n = model.problem.len();
    let devices: Vec<usize> = layer.devices.iter().map(|&(_, d)| dev(d)).collect();
    let mut chains: Vec<Chain> = Vec::new();
    let mut current = model.evaluate(&devices, &chains);
    let layer_us = current;
    let shares: Vec<f64> = SHARES.iter().copied().filter(|&s| s <= options.gpu_share_max + 1e-9).collect();
    let mut i = 0;
    while i < n {
        let mut best: Option<(f64, Chain)> = None;
        for end in i + 1..=(i + options.max_chain.max(1)).min(n) {
            if end > i + 1 && !model.linked[end - 1] {
                break;
            }
            for dim in [Dim::Height, Dim::Channels] {
                for &share in &shares {
                    let Some(chain) = model.chain(i, end, dim, share) else { continue };
                    chains.push(chain);
                    let t = model.evaluate(&devices, &chains);
                    let chain = chains.pop().expect("pushed");
                    if t < current - EPSILON_US && best.as_ref().is_none_or(|b| t < b.0) {
                        best = Some((t, chain));
                    }
                }
            }
        }
        match best {
            Some((t, chain)) => {
                i = chain.end;
                current = t;
                chains.push(chain);
            }
            None => i += 1,
        }
    }
    Ok(CoexecPlan {
        ops: model.problem.ops.clone(),
        devices: devices.iter().map(|&d| DEVICES[d]).collect(),
        chains,
        predicted_us: current,
        layer_us,
        cost_model: cost.label(),
    })
}

/// A co-execution plan that splits every op it can, whatever the cost model predicts: for
/// testing that split plans compute what the model does. From op to op it takes the longest
/// valid chain (up to `max_chain` ops), along height and along channels in turn where both
/// are valid, with GPU shares taken in turn from `shares`.
pub fn force_coexec(
    graph: &Graph,
    cost: &dyn CostModel,
    layer: &LayerPlacement,
    shares: &[f64],
    max_chain: usize,
) -> Result<CoexecPlan, PartitionError> {
    let model = Model::new(graph, cost)?;
    let n = model.problem.len();
    let devices: Vec<usize> = layer.devices.iter().map(|&(_, d)| dev(d)).collect();
    let layer_us = model.evaluate(&devices, &[]);
    let shares: Vec<f64> = shares.iter().copied().filter(|s| *s > 0.0 && *s < 1.0).collect();
    let mut chains: Vec<Chain> = Vec::new();
    let mut i = 0;
    while i < n && !shares.is_empty() {
        let k = chains.len();
        let share = shares[k % shares.len()];
        let dims = if k.is_multiple_of(2) { [Dim::Height, Dim::Channels] } else { [Dim::Channels, Dim::Height] };
        let found = (i + 1..=(i + max_chain.max(1)).min(n))
            .rev()
            .find_map(|end| dims.iter().find_map(|&dim| model.chain(i, end, dim, share)));
        match found {
            Some(chain) => {
                i = chain.end;
                chains.push(chain);
            }
            None => i += 1,
        }
    }
    Ok(CoexecPlan {
        ops: model.problem.ops.clone(),
        devices: devices.iter().map(|&d| DEVICES[d]).collect(),
        predicted_us: model.evaluate(&devices, &chains),
        chains,
        layer_us,
        cost_model: cost.label(),
    })
}
