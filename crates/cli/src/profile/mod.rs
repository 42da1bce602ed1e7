//! `hetc profile`: measures the CPU kernels over a sweep of shapes, fits the latency
//! predictor's coefficients and writes a target profile; with `--processors cpu,gpu` also
//! the CPU<->GPU data-sharing terms ([`transfer`]); `--evaluate` measures how well a profile
//! predicts shapes it was not fitted on and every op of the shared models.

mod evaluate;
pub(crate) mod measure;
pub(crate) mod sweep;
mod transfer;

use anyhow::{Context, Result, bail};
use clap::Args;
use hetc_predictor::fit::{Sample, fit_flops_linear, fit_kernel};
use hetc_predictor::{PROFILE_FORMAT, Profile, ProfileSource, TransferModel};
use measure::{Repeats, StepTime, Steps, compile_bytes, compile_gpu_bytes, time_plan};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct ProfileArgs {
    /// Target to profile: `host` or `host-cpu` (this machine).
    #[arg(long, default_value = "host")]
    target: String,
    /// Where to write the profile (TOML).
    #[arg(long, default_value = "host.profile.toml")]
    out: PathBuf,
    /// Processors to profile: `cpu` (its kernels), `gpu` (the WGSL kernels and the CPU<->GPU
    /// upload, download and synchronisation costs on the wgpu adapter; `gpu` alone adds them
    /// to `--profile`). `--budget` applies to each processor's kernel sweep.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    processors: Vec<String>,
    /// Seconds the sweep may take (measuring stops when they are spent; fitting follows).
    #[arg(long, default_value_t = 200.0)]
    budget: f64,
    /// Thread counts to measure, e.g. `2` or `1,2` (default: 1 and every core, to fit the
    /// threads term). With `--evaluate`: the one count to evaluate at.
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Evaluate `--profile` instead of profiling: held-out shapes and the shared models' ops
    /// (`--processors gpu`: the GPU's kernel models on held-out shapes).
    #[arg(long)]
    evaluate: bool,
    /// The profile to evaluate (with `--evaluate`), or to add the GPU terms to (with
    /// `--processors gpu`; the result goes to `--out`).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Folder of models to evaluate on (each `NAME/model.onnx`).
    #[arg(long, default_value = "../shared/models")]
    models: PathBuf,
    /// Held-out shapes to measure with `--evaluate`.
    #[arg(long, default_value_t = 90)]
    held_out: usize,
    /// With `--evaluate`: held-out shapes only, no shared models (says so in the output).
    #[arg(long)]
    skip_models: bool,
    /// Also write every measurement (kernel, threads, sizes, microseconds) to this file.
    #[arg(long)]
    dump: Option<PathBuf>,
}

/// Most fit-set cases a sweep draws; the budget usually ends it first. `--evaluate` excludes
/// all of them from its held-out set, whatever budget the profile was made with.
pub const MAX_FIT_CASES: usize = 600;

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A progress line on stderr, rewritten in place.
pub(crate) fn progress(msg: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[2K{msg}");
    let _ = e.flush();
}

pub fn run(args: &ProfileArgs) -> Result<()> {
    if args.evaluate {
        let path = args.profile.as_ref().context("--evaluate needs --profile PROFILE.toml")?;
        let threads = match args.threads.as_slice() {
            [] => None,
            [t] if *t > 0 => Some(*t),
            _ => bail!("--evaluate takes one positive --threads count"),
        };
        let models = (!args.skip_models).then_some(args.models.as_path());
        let mut done = false;
        if args.processors.iter().any(|p| p == "cpu") {
            evaluate::run(path, models, threads, args.held_out)?;
            done = true;
        }
        if args.processors.iter().any(|p| p == "gpu") {
            evaluate::run_gpu(path, args.held_out)?;
            done = true;
        }
        if !done {
            bail!("--evaluate evaluates the `cpu` and/or `gpu` models (--processors)");
        }
        return Ok(());
    }
    if !matches!(args.target.as_str(), "host" | "host-cpu") {
        bail!("`hetc profile` measures this machine: --target must be `host` or `host-cpu`, not `{}`", args.target);
    }
    let (mut cpu, mut gpu) = (false, false);
    for p in &args.processors {
        match p.as_str() {
            "cpu" => cpu = true,
            "gpu" => gpu = true,
            other => bail!("unknown processor `{other}` (`cpu` and `gpu` can be profiled)"),
        }
    }
    if !(args.budget > 0.0 && args.budget.is_finite()) {
        bail!("--budget must be a positive number of seconds");
    }
    if !cpu {
        // The GPU terms live in a CPU profile: they are what placement adds to its CPU times.
        let path = args.profile.as_ref().context(
            "--processors gpu alone adds the GPU terms to an existing profile: pass it with --profile \
             (or profile both with --processors cpu,gpu)",
        )?;
        let start = Instant::now();
        let mut profile = crate::predict::load_profile(path)?.profile().clone();
        add_gpu_terms(&mut profile, args.budget)?;
        return write_profile(&profile, &args.out, start);
    }
    if args.threads.contains(&0) {
        bail!("--threads must be at least 1");
    }
    let mut threads = if args.threads.is_empty() { vec![1, cores()] } else { args.threads.clone() };
    threads.sort();
    threads.dedup();
    let start = Instant::now();
    let (samples, noise) = sweep(args.budget, &threads, Steps::Cpu)?;
    if let Some(path) = &args.dump {
        let lines: Vec<String> = samples
            .iter()
            .map(|s| {
                format!(
                    "{}\t{}\t{:?}\t{}\t{}\t{}",
                    s.workload.key, s.workload.threads, s.workload.sizes, s.us, s.halves.0, s.halves.1
                )
            })
            .collect();
        std::fs::write(path, lines.join("\n")).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut profile = build_profile(&args.target, &threads, &samples)?;
    print_summary(&profile.kernels, &samples, noise);
    if gpu {
        add_gpu_terms(&mut profile, args.budget)?;
    }
    write_profile(&profile, &args.out, start)
}

fn write_profile(profile: &Profile, out: &std::path::Path, start: Instant) -> Result<()> {
    let text = profile.to_toml()?;
    std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    crate::outln!(
        "wrote {} ({} bytes, {} kernels) after {:.1} s",
        out.display(),
        text.len(),
        profile.kernels.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Seconds the transfer sweep may take (it stops after the size that exceeds them).
const TRANSFER_BUDGET_S: f64 = 30.0;

/// Measures the CPU<->GPU copies and the GPU's kernels (for `budget` seconds) and fits the
/// profile's transfer and synchronisation terms and its GPU models.
fn add_gpu_terms(profile: &mut Profile, budget: f64) -> Result<()> {
    let t = transfer::sweep(TRANSFER_BUDGET_S)?;
    // The GPU's kernels: the same drawn shapes, every op the GPU runs placed there.
    let (samples, noise) = sweep(budget, &[cores()], Steps::Gpu)?;
    let (kernels, fallback, baseline) = fit_models(&samples, false)?;
    crate::outln!("GPU kernels on {} ({} step timings):", t.adapter, samples.len());
    print_summary(&kernels, &samples, noise);
    profile.gpu = Some(hetc_predictor::GpuModels { adapter: t.adapter.clone(), kernels, fallback, baseline });
    let samples = t.samples();
    let note = format!(
        "measured by hetc profile on {}: upload and download steps of {} sizes ({} to {} bytes), minimum of runs; \
         uploads and downloads fitted apart; sync_us is the smallest download's round trip",
        t.adapter,
        t.upload.len(),
        samples.iter().map(|s| s.0).min().unwrap_or(0),
        samples.iter().map(|s| s.0).max().unwrap_or(0)
    );
    profile.fit_transfer(&t.upload, &note)?;
    profile.fit_download(&t.download)?;
    profile.transfer.sync_us = t.sync_us();
    let p = hetc_predictor::Predictor::new(profile.clone())?;
    let model = |s: &(u64, f64), download: bool| {
        if download { p.download_us(s.0 as f64) } else { p.transfer_us(s.0 as f64) }
    };
    crate::outln!("{:>10} {:>10} {:>10} {:>12} {:>10}", "bytes", "upload us", "model us", "download us", "model us");
    for (u, d) in t.upload.iter().zip(&t.download) {
        crate::outln!("{:>10} {:>10.1} {:>10.1} {:>12.1} {:>10.1}", u.0, u.1, model(u, false), d.1, model(d, true));
    }
    let within = t.upload.iter().filter(|s| hetc_predictor::fit::within(model(s, false), s.1, 0.10)).count()
        + t.download.iter().filter(|s| hetc_predictor::fit::within(model(s, true), s.1, 0.10)).count();
    let tr = &profile.transfer;
    let gbps = |us_per_mb: f64| if us_per_mb > 0.0 { 1e3 / us_per_mb } else { f64::INFINITY };
    let (dl, dm) = (tr.download_latency_us.unwrap_or(0.0), tr.download_us_per_mb.unwrap_or(0.0));
    crate::outln!(
        "transfer ({}): upload {:.1} us + {:.1} us/MB ({:.2} GB/s), download {dl:.1} us + {dm:.1} us/MB ({:.2} GB/s), \
         sync {:.1} us; fit within 10% on {within} of {} samples; {} of {} samples repeatable within 10%",
        t.adapter,
        tr.latency_us,
        tr.us_per_mb,
        gbps(tr.us_per_mb),
        gbps(dm),
        tr.sync_us,
        samples.len(),
        t.repeatable,
        samples.len()
    );
    Ok(())
}

/// Measures fit-set cases until the budget is spent; returns the samples and the noise
/// ceiling (share of samples whose two half-minima agree within 10%).
fn sweep(budget: f64, threads: &[usize], which: Steps) -> Result<(Vec<StepTime>, f64)> {
    let start = Instant::now();
    let cases = sweep::Draws::new(sweep::FIT_SEED, MAX_FIT_CASES, &Default::default());
    let total = cases.limit();
    let rep = Repeats { target_s: 0.03, min_runs: 6, max_runs: 30 };
    let mut samples: Vec<StepTime> = Vec::new();
    let mut failed = 0;
    for (i, case) in cases.enumerate() {
        let elapsed = start.elapsed().as_secs_f64();
        // At least one case, however small the budget.
        if elapsed > budget && !samples.is_empty() {
            break;
        }
        let what = if which == Steps::Gpu { "profile gpu" } else { "profile" };
        progress(&format!("{what} [{:>3}/{}] {:>5.1}/{:.0} s  {}", i + 1, total, elapsed, budget, case.label));
        let compiled = match which {
            Steps::Cpu => compile_bytes(&case.graph, case.fusion),
            Steps::Gpu => compile_gpu_bytes(&case.graph, case.fusion),
        };
        let bytes = match compiled {
            Ok(b) => b,
            Err(_) => {
                failed += 1;
                continue;
            }
        };
        for &t in threads {
            let (steps, _) = time_plan(&bytes, t, &rep, which).with_context(|| format!("timing {}", case.label))?;
            samples.extend(steps);
        }
    }
    progress("");
    eprintln!();
    if failed > 0 {
        eprintln!("note: {failed} drawn shapes did not compile and were skipped");
    }
    if samples.is_empty() {
        bail!("no drawn shape could be compiled and measured");
    }
    let agree = samples.iter().filter(|s| s.halves_agree()).count() as f64 / samples.len() as f64;
    Ok((samples, agree))
}

/// One processor's fitted models: per kernel, per family (fallbacks), FLOPs-linear baselines.
pub(crate) type Models = (
    BTreeMap<String, hetc_predictor::KernelModel>,
    BTreeMap<String, hetc_predictor::KernelModel>,
    BTreeMap<String, [f64; 2]>,
);

/// Fits every kernel with enough samples, the per-family fallbacks and the baselines;
/// `per_thread`: also a model per kernel and thread count.
pub(crate) fn fit_models(samples: &[StepTime], per_thread: bool) -> Result<Models> {
    let mut by_key: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    let mut by_family: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        let sample = Sample { workload: s.workload.clone(), us: s.us.max(0.05) };
        by_family.entry(s.workload.family.name()).or_default().push(sample.clone());
        // Per thread count too: how a kernel scales from 1 to 2 threads is the threads term,
        // and a model of its own per count captures it better than one form for all.
        if per_thread {
            let per_thread = hetc_predictor::thread_key(&s.workload.key, s.workload.threads);
            by_key.entry(per_thread).or_default().push(sample.clone());
        }
        by_key.entry(s.workload.key.clone()).or_default().push(sample);
    }
    let mut kernels = BTreeMap::new();
    let mut baseline = BTreeMap::new();
    for (key, ss) in &by_key {
        baseline.insert(key.clone(), fit_flops_linear(ss));
        // Fewer samples than coefficients plus two cannot tell the form from noise; the
        // family's pooled model covers the kernel instead.
        if ss.len() >= hetc_predictor::features::n_features(ss[0].workload.family) + 2 {
            kernels.insert(key.clone(), fit_kernel(ss).with_context(|| format!("fitting {key}"))?);
        }
    }
    let mut fallback = BTreeMap::new();
    for (family, ss) in &by_family {
        fallback.insert(family.to_string(), fit_kernel(ss).with_context(|| format!("fitting family {family}"))?);
    }
    Ok((kernels, fallback, baseline))
}

/// Fits every kernel with enough samples, the per-family fallbacks and the baselines.
pub(crate) fn build_profile(target: &str, threads: &[usize], samples: &[StepTime]) -> Result<Profile> {
    let (kernels, fallback, baseline) = fit_models(samples, threads.len() > 1)?;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    Ok(Profile {
        format: PROFILE_FORMAT,
        target: target.into(),
        processor: "cpu".into(),
        source: ProfileSource::Measured,
        note: format!(
            "measured by hetc profile on {cpu} ({} cores): {} step timings, median of repeats",
            cores(),
            samples.len()
        ),
        avx512: hetc_runtime::cpu::introspect::CpuIsa::host().avx512,
        avx2: hetc_runtime::cpu::introspect::CpuIsa::host().avx2,
        threads: threads.to_vec(),
        kernels,
        fallback,
        baseline,
        transfer: TransferModel::default(),
        gpu: None,
    })
}

fn print_summary(kernels: &BTreeMap<String, hetc_predictor::KernelModel>, samples: &[StepTime], noise: f64) {
    crate::outln!("{:<24} {:>7} {:>9} {:>8}  hyper", "kernel", "samples", "fit pm10", "bytes");
    for (k, m) in kernels {
        let bytes = toml::to_string(m).map(|s| s.len()).unwrap_or(0);
        crate::outln!("{:<24} {:>7} {:>8.1}% {:>8}  {:?}", k, m.samples, m.fit_pm10 * 100.0, bytes, m.hyper);
    }
    let mut uncovered: BTreeMap<&str, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| !kernels.contains_key(&s.workload.key)) {
        *uncovered.entry(s.workload.key.as_str()).or_default() += 1;
    }
    for (k, n) in uncovered {
        crate::outln!("{k:<24} {n:>7} samples: too few for its own model, predicted by its family's fallback");
    }
    crate::outln!("noise ceiling: {:.1}% of samples' two half-minima agree within 10%", noise * 100.0);
}
