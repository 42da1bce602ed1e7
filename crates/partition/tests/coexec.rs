//! Co-execution search on small convolution chains with a scripted cost model.

use hetc_ir::ops::Conv;
use hetc_ir::{DType, Graph, GraphOutput, Node, NodeId, Op, Tensor, TensorType, ValueRef};
use hetc_partition::problem::dev;
use hetc_partition::{CoexecOptions, CostModel, Dim, SplitTime, place_coexec, place_layers};
use hetc_plan::Device;

/// Every op takes `op_us` on either processor, all of it proportional to the share; a
/// transfer costs `transfer_latency` plus 1 us per KiB; a synchronisation `sync`.
struct Even {
    op_us: f64,
    transfer_latency: f64,
    sync: f64,
}

impl CostModel for Even {
    fn node_us(&self, _: &Graph, _: NodeId, _: Device) -> Result<f64, String> {
        Ok(self.op_us)
    }
    fn node_split_us(&self, _: &Graph, _: NodeId, _: Device) -> Result<SplitTime, String> {
        Ok(SplitTime { fixed_us: 0.0, scaled_us: self.op_us })
    }
    fn transfer_us(&self, bytes: u64, from: Device, to: Device) -> f64 {
        if from == to { 0.0 } else { self.transfer_latency + bytes as f64 / 1024.0 }
    }
    fn sync_us(&self) -> f64 {
        self.sync
    }
    fn label(&self) -> String {
        "even".into()
    }
}

/// `n` 3x3 convolutions, stride 1, pad 1, on 1x4x32x32 (dense, or depthwise).
fn conv_chain(n: usize, depthwise: bool) -> Graph {
    let mut g = Graph::new("convs");
    let ty = TensorType::new(DType::F32, vec![1, 4, 32, 32]);
    let mut v = ValueRef { node: g.add_input("x", ty.clone()), slot: 0 };
    for i in 0..n {
        let group = if depthwise { 4 } else { 1 };
        let w = g.add_constant(format!("w{i}"), Tensor::from_f32(vec![4, 4 / group, 3, 3], &vec![0.1; 16 / group * 9]));
        let conv = Conv { kernel: vec![3, 3], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![1; 4], group };
        let id = g.add_node(Node {
            name: format!("conv{i}"),
            op: Op::Conv(conv),
            num_inputs: 2,
            outputs: vec![ty.clone()],
            output_names: vec![format!("y{i}")],
        });
        g.connect(v, id, 0);
        g.connect(ValueRef { node: w, slot: 0 }, id, 1);
        v = ValueRef { node: id, slot: 0 };
    }
    g.outputs.push(GraphOutput { name: "y".into(), value: v });
    g
}

#[test]
fn equal_processors_split_a_long_chain_in_half_along_height() {
    let g = conv_chain(4, false);
    let cost = Even { op_us: 1000.0, transfer_latency: 5.0, sync: 5.0 };
    let layer = place_layers(&g, &cost).unwrap();
    assert!((layer.predicted_us - 4000.0).abs() < 1e-6, "all on one processor: {}", layer.predicted_us);
    let plan = place_coexec(&g, &cost, &layer, CoexecOptions::default()).unwrap();
    assert_eq!(plan.chains.len(), 1, "{:?}", plan.chains);
    let c = &plan.chains[0];
    assert_eq!((c.start, c.end, c.dim), (0, 4, Dim::Height));
    assert!((c.gpu_share - 0.5).abs() < 1e-9);
    // The halo grows towards the chain's start: each earlier op computes more rows.
    for k in 1..c.op_shares.len() {
        assert!(c.op_shares[k - 1][1] > c.op_shares[k][1], "{:?}", c.op_shares);
    }
    assert!(plan.predicted_us < 0.6 * layer.predicted_us, "{} vs {}", plan.predicted_us, layer.predicted_us);
    let stats = plan.stats();
    assert_eq!((stats.chained, stats.split_height, stats.split_channels), (4, 4, 0));
}

#[test]
fn dear_synchronisation_keeps_single_processor_placement() {
    let g = conv_chain(3, false);
    let cost = Even { op_us: 100.0, transfer_latency: 5.0, sync: 1000.0 };
    let layer = place_layers(&g, &cost).unwrap();
    let plan = place_coexec(&g, &cost, &layer, CoexecOptions::default()).unwrap();
    assert!(plan.chains.is_empty());
    assert!((plan.predicted_us - layer.predicted_us).abs() < 1e-9);
}

#[test]
fn dense_convolutions_do_not_chain_along_channels() {
    // Whatever the search picks, a channel part of a dense convolution needs every input
    // channel, so a channel chain of dense convolutions is never more than one op long.
    let g = conv_chain(3, false);
    let cost = Even { op_us: 1000.0, transfer_latency: 5.0, sync: 5.0 };
    let layer = place_layers(&g, &cost).unwrap();
    let plan = place_coexec(&g, &cost, &layer, CoexecOptions::default()).unwrap();
    for c in plan.chains.iter().filter(|c| c.dim == Dim::Channels) {
        assert_eq!(c.end - c.start, 1, "a dense convolution needs every input channel: {c:?}");
    }
}

#[test]
fn depthwise_convolutions_chain_along_channels_without_halo() {
    let g = conv_chain(3, true);
    let cost = Even { op_us: 1000.0, transfer_latency: 5.0, sync: 5.0 };
    let layer = place_layers(&g, &cost).unwrap();
    let plan = place_coexec(&g, &cost, &layer, CoexecOptions::default()).unwrap();
    assert_eq!(plan.chains.len(), 1);
    let c = &plan.chains[0];
    // Along channels there is no redundant work, so it beats the height chain.
    assert_eq!((c.end - c.start, c.dim), (3, Dim::Channels), "{c:?}");
    assert!(c.op_shares.iter().all(|s| (s[0] + s[1] - 1.0).abs() < 1e-9));
}

#[test]
fn op_granularity_and_gpu_share_cap_are_honoured() {
    let g = conv_chain(4, false);
    let cost = Even { op_us: 1000.0, transfer_latency: 5.0, sync: 5.0 };
    let layer = place_layers(&g, &cost).unwrap();
    let options = CoexecOptions { max_chain: 1, gpu_share_max: 0.3 };
    let plan = place_coexec(&g, &cost, &layer, options).unwrap();
    assert!(!plan.chains.is_empty());
    assert!(plan.chains.iter().all(|c| c.end - c.start == 1 && c.gpu_share <= 0.3 + 1e-9), "{:?}", plan.chains);
    let chained = place_coexec(&g, &cost, &layer, CoexecOptions::default()).unwrap();
    assert!(chained.predicted_us < plan.predicted_us);
    let _ = dev(Device::Cpu);
}
