//! Layer-level placement on small graphs with a scripted cost model.

mod common;

use common::{Scripted, add, chain, relu, ty};
use hetc_ir::{Graph, GraphOutput, ValueRef};
use hetc_partition::problem::{DEVICES, dev};
use hetc_partition::{PartitionError, Problem, place_layers};

/// Times of `op0`, `op1`, ... in order.
fn scripted(times: &[[Option<f64>; 2]], latency: f64) -> Scripted {
    let named: Vec<(String, [Option<f64>; 2])> =
        times.iter().enumerate().map(|(i, t)| (format!("op{i}"), *t)).collect();
    Scripted::named(&named, latency)
}

fn devices(g: &Graph, p: &hetc_partition::LayerPlacement) -> Vec<&'static str> {
    let _ = g;
    p.devices.iter().map(|(_, d)| d.name()).collect()
}

#[test]
fn fast_gpu_and_cheap_transfers_put_everything_on_the_gpu() {
    let g = chain(3);
    let cost = scripted(&[[Some(10.0), Some(1.0)]; 3], 1.0);
    let p = place_layers(&g, &cost).unwrap();
    assert_eq!(devices(&g, &p), ["gpu", "gpu", "gpu"]);
    assert_eq!(p.transfers, 2, "input up, output down");
    assert!((p.predicted_us - 5.0).abs() < 1e-9);
}

#[test]
fn expensive_transfers_keep_everything_on_the_cpu() {
    let g = chain(3);
    let cost = scripted(&[[Some(10.0), Some(1.0)]; 3], 100.0);
    let p = place_layers(&g, &cost).unwrap();
    assert_eq!(devices(&g, &p), ["cpu", "cpu", "cpu"]);
    assert_eq!(p.chosen, "cpu");
    assert_eq!(p.transfers, 0);
}

#[test]
fn an_op_the_gpu_lacks_falls_back_and_pays_its_transfers() {
    let g = chain(5);
    let mut times = [[Some(10.0), Some(1.0)]; 5];
    times[2] = [Some(10.0), None];
    let p = place_layers(&g, &scripted(&times, 2.0)).unwrap();
    assert_eq!(devices(&g, &p), ["gpu", "gpu", "cpu", "gpu", "gpu"]);
    assert_eq!(p.transfers, 4);
    assert!((p.predicted_us - (4.0 + 10.0 + 8.0)).abs() < 1e-9);
    // With transfers dearer than the GPU's gain, the CPU alone wins.
    let p = place_layers(&g, &scripted(&times, 30.0)).unwrap();
    assert_eq!(p.chosen, "cpu");
}

#[test]
fn a_run_of_ops_moves_when_no_single_op_would() {
    // Each op saves 2 us on the GPU; a transfer costs 3. Moving one op of the CPU chain adds
    // two transfers (6 > 2); moving the middle four adds two transfers for 8 saved.
    let g = chain(6);
    let mut times = [[Some(5.0), Some(100.0)]; 6];
    for t in times.iter_mut().take(5).skip(1) {
        *t = [Some(5.0), Some(3.0)];
    }
    let p = place_layers(&g, &scripted(&times, 3.0)).unwrap();
    assert_eq!(devices(&g, &p), ["cpu", "gpu", "gpu", "gpu", "gpu", "cpu"]);
    assert_eq!(p.chosen, "layer");
    assert!((p.predicted_us - (10.0 + 12.0 + 6.0)).abs() < 1e-9);
}

#[test]
fn a_value_read_twice_on_the_gpu_moves_once() {
    // x -> a (cpu only) -> {b, c} (gpu) -> d = b + c (gpu) -> output.
    let mut g = Graph::new("fanout");
    let x = g.add_input("x", ty());
    let a = relu(&mut g, "op0", ValueRef { node: x, slot: 0 });
    let b = relu(&mut g, "op1", a);
    let c = relu(&mut g, "op2", a);
    let d = add(&mut g, "op3", b, c);
    g.outputs.push(GraphOutput { name: "y".into(), value: d });
    let times = [[Some(1.0), None], [Some(50.0), Some(1.0)], [Some(50.0), Some(1.0)], [Some(50.0), Some(1.0)]];
    let p = place_layers(&g, &scripted(&times, 1.0)).unwrap();
    assert_eq!(devices(&g, &p), ["cpu", "gpu", "gpu", "gpu"]);
    assert_eq!(p.transfers, 2, "a moves up once for both readers; d moves down");
}

#[test]
fn ops_no_processor_runs_are_all_named() {
    let g = chain(3);
    let times = [[None, None], [Some(1.0), Some(1.0)], [None, None]];
    match place_layers(&g, &scripted(&times, 1.0)) {
        Err(PartitionError::Unrunnable { count, list }) => {
            assert_eq!(count, 2);
            assert!(list.contains("op0") && list.contains("op2"), "{list}");
        }
        other => panic!("expected Unrunnable, got {other:?}"),
    }
}

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random DAGs of up to 10 ops: the search never loses to a single-processor candidate, never
/// claims better than the exhaustive optimum, and finds that optimum on most graphs.
#[test]
fn search_against_exhaustive_optimum_on_random_graphs() {
    let mut rng = Lcg(7);
    let (mut optimal, trials) = (0, 300);
    for trial in 0..trials {
        let n = 2 + rng.below(9) as usize;
        let mut g = Graph::new(format!("random{trial}"));
        let x = g.add_input("x", ty());
        let mut vals = vec![ValueRef { node: x, slot: 0 }];
        for i in 0..n {
            let a = vals[rng.below(vals.len() as u64) as usize];
            let v = if rng.below(3) == 0 && vals.len() > 1 {
                let b = vals[rng.below(vals.len() as u64) as usize];
                if a == b { relu(&mut g, &format!("op{i}"), a) } else { add(&mut g, &format!("op{i}"), a, b) }
            } else {
                relu(&mut g, &format!("op{i}"), a)
            };
            vals.push(v);
        }
        g.outputs.push(GraphOutput { name: "y".into(), value: *vals.last().unwrap() });
        let times: Vec<[Option<f64>; 2]> = (0..n)
            .map(|_| {
                let cpu = 1.0 + rng.below(20) as f64;
                let gpu = if rng.below(6) == 0 { None } else { Some(1.0 + rng.below(20) as f64) };
                [Some(cpu), gpu]
            })
            .collect();
        let cost = scripted(&times, 1.0 + rng.below(10) as f64);
        let p = place_layers(&g, &cost).unwrap();

        let problem = Problem::new(&g, &cost).unwrap();
        let mut best = f64::INFINITY;
        for mask in 0..(1u32 << n) {
            let loc: Vec<usize> = (0..n).map(|i| ((mask >> i) & 1) as usize).collect();
            best = best.min(problem.evaluate(&loc).0);
        }
        let loc: Vec<usize> = p.devices.iter().map(|(_, d)| dev(*d)).collect();
        assert!((problem.evaluate(&loc).0 - p.predicted_us).abs() < 1e-9, "reported time is the placement's");
        assert!(p.predicted_us >= best - 1e-9, "trial {trial}: better than exhaustive?");
        for c in &p.candidates {
            if let Some(t) = c.predicted_us {
                assert!(p.predicted_us <= t + 1e-9, "trial {trial}: worse than candidate {}", c.name);
            }
        }
        if p.predicted_us <= best + 1e-9 {
            optimal += 1;
        }
        assert_eq!(p.devices.len(), n);
        assert!(p.devices.iter().all(|(_, d)| DEVICES.contains(d)));
    }
    println!("layer search optimal on {optimal}/{trials} random graphs");
    assert!(optimal * 100 >= trials * 95, "optimal on only {optimal}/{trials}");
}
