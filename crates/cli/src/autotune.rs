//! `hetc compile --strategy auto --target host`: the predicted choice, checked by measuring.
//!
//! On the machine it compiles for, hetc can do better than trust its predictions (offline
//! profiles drift with heat and load, as the "Potentials and Pitfalls" study found): it
//! compiles the candidate plans — CPU only, GPU (unsupported ops on the CPU), layer placement,
//! subgraph placement (parallel branches overlapping) and the co-execution chain search —
//! runs them in turn on synthetic inputs and keeps the fastest median. So the chosen plan is never measurably slower than the best
//! single-processor plan. A candidate whose first run already takes three times the best
//! median so far is dropped without further runs (a software GPU can be very slow).

use crate::compile::Compiled;
use crate::placing::StrategyArg;
use anyhow::{Context, Result};
use hetc_runtime::{Plan, Session, SessionOptions, Tensor};
use std::time::Instant;

/// The candidates, simplest first: ties go to the simpler plan.
const CANDIDATES: [(StrategyArg, &str); 5] = [
    (StrategyArg::Cpu, "cpu"),
    (StrategyArg::Gpu, "gpu"),
    (StrategyArg::Layer, "layer"),
    (StrategyArg::Subgraph, "subgraph"),
    (StrategyArg::Chain, "chain"),
];

/// A candidate's measurement.
enum Timing {
    Median(f64),
    /// Dropped after one run of this many ms.
    Dropped(f64),
    /// The same plan as an earlier candidate.
    SameAs(&'static str),
}

fn time_run(session: &mut Session<'_>, feeds: &[(&str, &Tensor)]) -> Result<f64> {
    let start = Instant::now();
    session.run(feeds)?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// Median ms of `runs` runs after one warm-up, or `Dropped` when the warm-up exceeds `limit_ms`.
fn measure(bytes: &[u8], runs: usize, threads: usize, limit_ms: f64) -> Result<Timing> {
    let plan = Plan::from_bytes(bytes).context("cannot load a candidate plan")?;
    let mut session = Session::new(&plan, SessionOptions { threads, ..Default::default() })?;
    let inputs: Vec<(String, Tensor)> = session
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, (n, s))| (n.to_string(), crate::bench::synthetic(s, i as u64)))
        .collect();
    let feeds: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let first = time_run(&mut session, &feeds)?;
    if first > limit_ms {
        return Ok(Timing::Dropped(first));
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        times.push(time_run(&mut session, &feeds)?);
    }
    times.sort_by(f64::total_cmp);
    Ok(Timing::Median(times[times.len() / 2]))
}

/// Compiles every candidate with `compile`, measures each and returns the fastest.
pub fn fastest(compile: &dyn Fn(StrategyArg) -> Result<Compiled>, runs: usize, threads: usize) -> Result<Compiled> {
    let mut best: Option<(f64, &'static str, Compiled)> = None;
    let mut seen: Vec<(Vec<u8>, &'static str)> = Vec::new();
    let mut rows: Vec<(&'static str, Timing)> = Vec::new();
    for (strategy, name) in CANDIDATES {
        let candidate = compile(strategy)?;
        let bytes = candidate.0.encode()?;
        if let Some((_, earlier)) = seen.iter().find(|(b, _)| *b == bytes) {
            rows.push((name, Timing::SameAs(earlier)));
            continue;
        }
        let limit = best.as_ref().map_or(f64::INFINITY, |b| 3.0 * b.0);
        let timing = measure(&bytes, runs, threads, limit).with_context(|| format!("measuring the {name} plan"))?;
        if let Timing::Median(ms) = timing
            && best.as_ref().is_none_or(|b| ms < b.0)
        {
            best = Some((ms, name, candidate));
        }
        seen.push((bytes, name));
        rows.push((name, timing));
    }
    let (ms, chosen, compiled) = best.context("no candidate plan could be measured")?;
    let table: Vec<String> = rows
        .iter()
        .map(|(n, t)| match t {
            Timing::Median(m) => format!("{n} {m:.3} ms"),
            Timing::Dropped(m) => format!("{n} dropped after one {m:.1} ms run"),
            Timing::SameAs(e) => format!("{n} = {e}"),
        })
        .collect();
    crate::outln!("auto: measured medians of {runs} runs ({}): chose {chosen} at {ms:.3} ms", table.join(", "));
    Ok(compiled)
}
