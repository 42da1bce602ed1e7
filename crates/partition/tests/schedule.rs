//! The two-queue schedule simulation and subgraph placement on small hand-built graphs.

mod common;

use common::{Scripted, add, chain, relu, ty};
use hetc_ir::{Graph, GraphOutput, NodeId, ValueRef};
use hetc_partition::problem::dev;
use hetc_partition::schedule::simulate;
use hetc_partition::{Objective, Problem, StepKind, place_layers, place_layers_with};
use hetc_plan::Device;

/// x -> {a0 -> a1 -> ... , b0 -> b1 -> ...} -> join = a + b -> output: two independent
/// branches of `len` ops.
fn two_branches(len: usize) -> Graph {
    let mut g = Graph::new("branches");
    let x = g.add_input("x", ty());
    let x = ValueRef { node: x, slot: 0 };
    let (mut a, mut b) = (x, x);
    for i in 0..len {
        a = relu(&mut g, &format!("a{i}"), a);
    }
    for i in 0..len {
        b = relu(&mut g, &format!("b{i}"), b);
    }
    let y = add(&mut g, "join", a, b);
    g.outputs.push(GraphOutput { name: "y".into(), value: y });
    g
}

fn branch_times(len: usize, op_us: f64) -> Vec<(String, [Option<f64>; 2])> {
    let mut t: Vec<(String, [Option<f64>; 2])> = Vec::new();
    for i in 0..len {
        t.push((format!("a{i}"), [Some(op_us), Some(op_us)]));
        t.push((format!("b{i}"), [Some(op_us), Some(op_us)]));
    }
    t.push(("join".into(), [Some(1.0), Some(1.0)]));
    t
}

#[test]
fn clocks_overlap_gpu_work_issued_before_cpu_work() {
    let (cpu, gpu) = (StepKind::Compute(Device::Cpu), StepKind::Compute(Device::Gpu));
    assert_eq!(simulate([(gpu, 10.0), (cpu, 10.0)]).latency_us, 10.0, "issued first, the GPU runs alongside");
    assert_eq!(simulate([(cpu, 10.0), (gpu, 10.0)]).latency_us, 20.0, "issued after, it waits for the host");
    // An upload queues behind GPU work; a download waits for everything the GPU was given.
    let t = simulate([(gpu, 10.0), (cpu, 3.0), (StepKind::Download, 1.0), (cpu, 2.0)]);
    assert_eq!(t.latency_us, 13.0);
    assert_eq!(t.busy_us, [5.0, 10.0]);
    assert_eq!(t.transfer_us, 1.0);
    assert_eq!(t.sum_us, 16.0);
    let t = simulate([(gpu, 10.0), (StepKind::Upload, 2.0), (gpu, 1.0), (cpu, 4.0)]);
    assert_eq!(t.latency_us, 13.0);
}

#[test]
fn equal_parallel_branches_go_to_different_processors_and_overlap() {
    let (len, op_us, link) = (3, 100.0, 5.0);
    let g = two_branches(len);
    let cost = Scripted::named(&branch_times(len, op_us), link);

    let sequential = place_layers(&g, &cost).unwrap();
    let branch = len as f64 * op_us;
    assert!((sequential.predicted_us - (2.0 * branch + 1.0)).abs() < 1e-9, "one after another: both branches");

    let p = place_layers_with(&g, &cost, Objective::Overlap).unwrap();
    let device = |name: &str| p.devices.iter().find(|(id, _)| g.node(*id).name == name).unwrap().1;
    for i in 0..len {
        let (a, b) = (device(&format!("a{i}")), device(&format!("b{i}")));
        assert_ne!(a, b, "op {i} of each branch on its own processor");
        assert_eq!(a, device("a0"), "branch a stays on one processor");
    }
    assert_eq!(device("join"), Device::Cpu, "the join runs where the output must end");
    // One branch, the upload of x before the GPU branch, its download after, and the join.
    let expected = branch + 2.0 * link + 1.0;
    assert!((p.predicted_us - expected).abs() < 1e-9, "predicted {} us, expected {expected}", p.predicted_us);
    assert_eq!(p.chosen, "subgraph");
    assert_eq!(p.transfers, 2);

    // The issue order puts the GPU branch first, so that it runs during the CPU branch.
    let problem = Problem::new(&g, &cost).unwrap();
    let loc: Vec<usize> = p.devices.iter().map(|(_, d)| dev(*d)).collect();
    let schedule = problem.schedule(&loc);
    let first_cpu = schedule.order.iter().position(|&i| loc[i] == dev(Device::Cpu)).unwrap();
    let last_gpu = schedule.order.iter().rposition(|&i| loc[i] == dev(Device::Gpu)).unwrap();
    assert!(last_gpu < first_cpu, "order {:?} with devices {loc:?}", schedule.order);
    assert_eq!(problem.run_in_order(&loc, &schedule.order), schedule.timeline);
    // In plain execution order (all of branch a, then b) the same placement overlaps only if
    // the GPU branch comes first.
    let in_order = problem.run_in_order(&loc, &(0..problem.len()).collect::<Vec<_>>()).latency_us;
    if loc[0] == dev(Device::Cpu) {
        assert!(in_order > 2.0 * branch, "{in_order}");
    }
}

#[test]
fn dear_transfers_keep_parallel_branches_on_one_processor() {
    let g = two_branches(2);
    let cost = Scripted::named(&branch_times(2, 10.0), 100.0);
    let p = place_layers_with(&g, &cost, Objective::Overlap).unwrap();
    assert_eq!(p.chosen, "cpu");
    assert!(p.devices.iter().all(|(_, d)| *d == Device::Cpu));
    assert!((p.predicted_us - 41.0).abs() < 1e-9);
}

#[test]
fn a_chain_predicts_the_same_as_the_sum_model() {
    let n = 6;
    let g = chain(n);
    let times: Vec<(String, [Option<f64>; 2])> =
        (0..n).map(|i| (format!("op{i}"), [Some(3.0 + i as f64), Some(10.0 - i as f64)])).collect();
    let cost = Scripted::named(&times, 2.5);
    let problem = Problem::new(&g, &cost).unwrap();
    for mask in 0..(1u32 << n) {
        let loc: Vec<usize> = (0..n).map(|i| ((mask >> i) & 1) as usize).collect();
        let (sum, transfers) = problem.evaluate(&loc);
        let s = problem.schedule(&loc);
        assert!((s.timeline.latency_us - sum).abs() < 1e-9, "placement {loc:?}: {} vs {sum}", s.timeline.latency_us);
        assert_eq!(s.transfers, transfers);
        assert_eq!(s.order, (0..n).collect::<Vec<_>>());
    }
    let seq = place_layers(&g, &cost).unwrap();
    let ovl = place_layers_with(&g, &cost, Objective::Overlap).unwrap();
    assert!((seq.predicted_us - ovl.predicted_us).abs() < 1e-9);
}

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Random DAGs: the overlapping prediction never exceeds the sequential one, the subgraph
/// search never loses to the single processors or to the sequential search's placement, and
/// its issue order is topological.
#[test]
fn subgraph_search_on_random_graphs() {
    let mut rng = Lcg(11);
    let (mut overlapped, mut optimal) = (0, 0);
    for trial in 0..200 {
        let n = 2 + rng.below(10) as usize;
        let mut g = Graph::new(format!("random{trial}"));
        let x = g.add_input("x", ty());
        let mut vals = vec![ValueRef { node: x, slot: 0 }];
        let mut times = Vec::new();
        for i in 0..n {
            let name = format!("op{i}");
            let a = vals[rng.below(vals.len() as u64) as usize];
            let b = vals[rng.below(vals.len() as u64) as usize];
            let v = if rng.below(3) == 0 && a != b { add(&mut g, &name, a, b) } else { relu(&mut g, &name, a) };
            vals.push(v);
            let gpu = if rng.below(6) == 0 { None } else { Some(1.0 + rng.below(20) as f64) };
            times.push((name, [Some(1.0 + rng.below(20) as f64), gpu]));
        }
        // Every value nothing reads is an output, so that no op is dead.
        let read: Vec<NodeId> =
            g.node_ids().flat_map(|id| g.inputs_of(id).into_iter().flatten().map(|v| v.node)).collect();
        for (k, v) in vals.iter().enumerate().skip(1) {
            if !read.contains(&v.node) {
                g.outputs.push(GraphOutput { name: format!("y{k}"), value: *v });
            }
        }
        let cost = Scripted::named(&times, 1.0 + rng.below(6) as f64);
        let problem = Problem::new(&g, &cost).unwrap();
        let seq = place_layers(&g, &cost).unwrap();
        let ovl = place_layers_with(&g, &cost, Objective::Overlap).unwrap();
        let loc =
            |p: &hetc_partition::LayerPlacement| -> Vec<usize> { p.devices.iter().map(|(_, d)| dev(*d)).collect() };
        let seq_overlapped = problem.schedule(&loc(&seq)).timeline.latency_us;
        assert!(seq_overlapped <= seq.predicted_us + 1e-9, "trial {trial}: overlap slower than one after another");
        assert!(ovl.predicted_us <= seq_overlapped + 1e-9, "trial {trial}: subgraph lost to layer's placement");
        for c in &ovl.candidates {
            if let Some(t) = c.predicted_us {
                assert!(ovl.predicted_us <= t + 1e-9, "trial {trial}: worse than candidate {}", c.name);
            }
        }
        let s = problem.schedule(&loc(&ovl));
        assert!((s.timeline.latency_us - ovl.predicted_us).abs() < 1e-9);
        let mut seen = vec![false; n];
        for &i in &s.order {
            for v in g.inputs_of(problem.ops[i]).into_iter().flatten() {
                if let Some(j) = problem.ops.iter().position(|&id| id == v.node) {
                    assert!(seen[j], "trial {trial}: op {i} issued before its input {j}");
                }
            }
            seen[i] = true;
        }
        if ovl.predicted_us < seq.predicted_us - 1e-9 {
            overlapped += 1;
        }
        let best = (0..(1u32 << n))
            .map(|mask| {
                let loc: Vec<usize> = (0..n).map(|i| ((mask >> i) & 1) as usize).collect();
                problem.schedule(&loc).timeline.latency_us
            })
            .fold(f64::INFINITY, f64::min);
        assert!(ovl.predicted_us >= best - 1e-9, "trial {trial}: better than exhaustive?");
        if ovl.predicted_us <= best + 1e-9 {
            optimal += 1;
        }
    }
    println!(
        "subgraph placement predicted faster than layer on {overlapped}/200 random graphs, optimal on {optimal}/200"
    );
    assert!(overlapped > 0, "no random graph gained from overlap");
    // 177/200 when written: the windows do not reach every mix of branches.
    assert!(optimal >= 170, "subgraph search optimal on only {optimal}/200");
}
