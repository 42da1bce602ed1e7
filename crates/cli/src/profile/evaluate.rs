//! `hetc profile --evaluate --profile P`: how well a profile predicts what it was not fitted
//! on. Measures held-out sweep shapes and every step of every shared model on the real
//! kernels, and prints per kernel the share of predictions within ±10% (PM10ACC) beside the
//! FLOPs-linear baseline fitted on the same sweep and the noise ceiling (the share of
//! measurements whose two half-minima agree within 10%: no predictor can be judged finer
//! than the machine repeats itself), then whole-model predicted vs measured latency.

use super::measure::{Repeats, StepTime, Steps, compile_bytes, compile_gpu_bytes, time_plan};
use super::{MAX_FIT_CASES, progress, sweep};
use anyhow::{Context, Result};
use hetc_compile::Fusion;
use hetc_onnx::{ImportOptions, import_file};
use hetc_predictor::fit::within;
use hetc_predictor::{Basis, Predictor, Profile};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Input shapes of shared models with symbolic dimensions (the shapes of their test sets).
const INPUT_SHAPES: &[(&str, &str, &[usize])] = &[("ppocrv4_det", "x", &[1, 3, 640, 640])];

#[derive(Default)]
struct Tally {
    n: usize,
    ours: usize,
    base: usize,
    noise: usize,
    fallback: usize,
    /// predicted / measured of every prediction, for the median bias.
    ratios: Vec<f64>,
}

impl Tally {
    fn add(&mut self, s: &StepTime, pred: f64, base: Option<f64>, basis: Basis) {
        self.n += 1;
        self.ours += within(pred, s.us, 0.10) as usize;
        self.base += base.is_some_and(|b| within(b, s.us, 0.10)) as usize;
        self.noise += s.halves_agree() as usize;
        self.fallback += (basis == Basis::Fallback) as usize;
        self.ratios.push(pred / s.us.max(1e-9));
    }
    fn bias(&self) -> f64 {
        let mut r = self.ratios.clone();
        super::measure::median(&mut r)
    }
    fn pct(a: usize, n: usize) -> f64 {
        if n == 0 { 0.0 } else { 100.0 * a as f64 / n as f64 }
    }
}

fn print_table(title: &str, rows: &BTreeMap<String, Tally>) {
    crate::outln!("\n{title}");
    crate::outln!(
        "{:<24} {:>5} {:>9} {:>13} {:>13} {:>10}",
        "kernel",
        "n",
        "PM10ACC",
        "FLOPs-linear",
        "noise ceiling",
        "pred/meas"
    );
    let mut all = Tally::default();
    for (k, t) in rows {
        let fb = if t.fallback > 0 { format!("  ({} by family fallback)", t.fallback) } else { String::new() };
        crate::outln!(
            "{:<24} {:>5} {:>8.1}% {:>12.1}% {:>12.1}% {:>10.2}{fb}",
            k,
            t.n,
            Tally::pct(t.ours, t.n),
            Tally::pct(t.base, t.n),
            Tally::pct(t.noise, t.n),
            t.bias()
        );
        all.n += t.n;
        all.ours += t.ours;
        all.base += t.base;
        all.noise += t.noise;
        all.ratios.extend(&t.ratios);
    }
    crate::outln!(
        "{:<24} {:>5} {:>8.1}% {:>12.1}% {:>12.1}% {:>10.2}",
        "overall",
        all.n,
        Tally::pct(all.ours, all.n),
        Tally::pct(all.base, all.n),
        Tally::pct(all.noise, all.n),
        all.bias()
    );
}

fn tally(p: &Predictor, steps: &[StepTime], rows: &mut BTreeMap<String, Tally>, which: Steps) -> Result<f64> {
    let mut total = 0.0;
    for s in steps {
        let (pred, base) = match which {
            Steps::Cpu => (p.predict(&s.workload), p.baseline(&s.workload)),
            Steps::Gpu => (p.predict_gpu(&s.workload), p.gpu_baseline(&s.workload)),
        };
        let pred = pred.with_context(|| format!("predicting {}", s.name))?;
        total += pred.us;
        rows.entry(s.workload.key.clone()).or_default().add(s, pred.us, base, pred.basis);
    }
    Ok(total)
}

/// `hetc profile --evaluate --processors gpu`: the GPU's kernel models on held-out shapes
/// (placed on the GPU as `--strategy gpu` does), PM10ACC per kernel beside the FLOPs-linear
/// baseline and the noise ceiling. Whole models are not run: on a software GPU they take
/// minutes each.
pub fn run_gpu(profile: &Path, held_out: usize) -> Result<()> {
    let start = Instant::now();
    let text = std::fs::read_to_string(profile).with_context(|| format!("cannot read {}", profile.display()))?;
    let p = Predictor::new(Profile::from_toml(&text).with_context(|| profile.display().to_string())?)?;
    let adapter = match &p.profile().gpu {
        Some(g) => g.adapter.clone(),
        None => anyhow::bail!("{} has no GPU models: profile with --processors gpu first", profile.display()),
    };
    crate::outln!("evaluating the GPU models of {} (measured on {adapter})", profile.display());
    let exclude = sweep::fit_labels(MAX_FIT_CASES);
    let cases = sweep::cases(sweep::HOLDOUT_SEED, held_out, &exclude);
    let rep = Repeats { target_s: 0.03, min_runs: 6, max_runs: 30 };
    let mut held: BTreeMap<String, Tally> = BTreeMap::new();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for (i, case) in cases.iter().enumerate() {
        progress(&format!("held-out gpu [{:>3}/{}] {}", i + 1, cases.len(), case.label));
        let Ok(bytes) = compile_gpu_bytes(&case.graph, case.fusion) else { continue };
        let (steps, _) = time_plan(&bytes, threads, &rep, Steps::Gpu)?;
        tally(&p, &steps, &mut held, Steps::Gpu)?;
    }
    progress("");
    print_table("GPU kernels, held-out shapes (not in the fit set)", &held);
    crate::outln!("\nshared models: not run on the GPU (held-out shapes only)");
    crate::outln!("evaluation took {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

pub fn run(profile: &Path, models: Option<&Path>, threads: Option<usize>, held_out: usize) -> Result<()> {
    let start = Instant::now();
    let text = std::fs::read_to_string(profile).with_context(|| format!("cannot read {}", profile.display()))?;
    let p = Predictor::new(Profile::from_toml(&text).with_context(|| profile.display().to_string())?)?;
    let threads = threads.unwrap_or_else(|| p.default_threads());
    crate::outln!("evaluating {} ({}) with {threads} threads", profile.display(), p.profile().note);

    // Held-out shapes: drawn like the fit set, with every fit-set shape removed.
    let exclude = sweep::fit_labels(MAX_FIT_CASES);
    let cases = sweep::cases(sweep::HOLDOUT_SEED, held_out, &exclude);
    let rep = Repeats { target_s: 0.03, min_runs: 6, max_runs: 30 };
    let mut held: BTreeMap<String, Tally> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        progress(&format!("held-out [{:>3}/{}] {}", i + 1, cases.len(), case.label));
        let Ok(bytes) = compile_bytes(&case.graph, case.fusion) else { continue };
        let (steps, _) = time_plan(&bytes, threads, &rep, Steps::Cpu)?;
        tally(&p, &steps, &mut held, Steps::Cpu)?;
    }
    progress("");
    print_table("held-out shapes (not in the fit set)", &held);

    // Every op of every shared model, and whole-model latency.
    let Some(models) = models else {
        crate::outln!("\nshared models: skipped (--skip-models)");
        crate::outln!("evaluation took {:.0} s", start.elapsed().as_secs_f64());
        return Ok(());
    };
    let mut dirs: Vec<_> = std::fs::read_dir(models)
        .with_context(|| format!("cannot read {}", models.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("model.onnx").exists())
        .collect();
    dirs.sort();
    let rep = Repeats { target_s: 2.0, min_runs: 6, max_runs: 20 };
    let mut ops: BTreeMap<String, Tally> = BTreeMap::new();
    let mut whole = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        progress(&format!("model {name}"));
        let mut options = ImportOptions::default();
        for (m, input, dims) in INPUT_SHAPES {
            if *m == name {
                options.input_shapes.insert(input.to_string(), dims.to_vec());
            }
        }
        let model = import_file(dir.join("model.onnx"), &options).with_context(|| format!("cannot import {name}"))?;
        let bytes = compile_bytes(&model.graph, Fusion::Egg).with_context(|| format!("cannot compile {name}"))?;
        drop(model);
        let (steps, measured) =
            time_plan(&bytes, threads, &rep, Steps::Cpu).with_context(|| format!("timing {name}"))?;
        let predicted = tally(&p, &steps, &mut ops, Steps::Cpu)?;
        whole.push((name, predicted, measured));
    }
    progress("");
    print_table("shared models' ops", &ops);

    crate::outln!("\nwhole models on host-cpu, {threads} threads (measured: median of runs)");
    crate::outln!("{:<24} {:>13} {:>13} {:>8}", "model", "predicted ms", "measured ms", "error");
    let mut ok = 0;
    for (name, pred, meas) in &whole {
        let err = (pred - meas) / meas * 100.0;
        ok += (err.abs() <= 15.0) as usize;
        crate::outln!("{:<24} {:>13.2} {:>13.2} {:>+7.1}%", name, pred / 1e3, meas / 1e3, err);
    }
    crate::outln!("{ok} of {} models within 15%", whole.len());
    crate::outln!("evaluation took {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}
