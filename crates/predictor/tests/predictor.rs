//! The predictor: fitting recovers known coefficients, profiles round-trip and reject bad
//! input, models stay small and predictions fast, and the kernel keys mirror the runtime's
//! dispatch.

use hetc_plan::{
    Activation, ConvAlgo, ConvParams, DType, Device, Kernel, MemoryReport, PlanMeta, Step, Storage, TensorDesc,
};
use hetc_predictor::features::{features, n_features};
use hetc_predictor::fit::{Sample, fit_kernel, nnls, pm10};
use hetc_predictor::workload::cpu_workload;
use hetc_predictor::{
    Family, KernelModel, MAX_MODEL_BYTES, PROFILE_FORMAT, PredictError, Predictor, Profile, ProfileSource, Sizes,
    TransferModel, Workload,
};
use hetc_runtime::cpu::introspect::{ConvImpl, CpuIsa, conv_impl};
use hetc_runtime::cpu::kernels::conv::Conv2d;
use std::collections::BTreeMap;

fn gemm_workload(batch: f64, m: f64, n: f64, k: f64, threads: usize) -> Workload {
    Workload {
        key: "conv_im2col_gemm".into(),
        family: Family::Gemm,
        sizes: Sizes::Gemm {
            batch,
            m,
            n,
            k,
            unfold: batch * n * k,
            in_bytes: 4.0 * (batch * n * k + m * k),
            out_bytes: 4.0 * batch * m * n,
        },
        threads,
        flops: 2.0 * batch * m * n * k,
    }
}

fn dot(f: &[f64], c: &[f64]) -> f64 {
    f.iter().zip(c).map(|(a, b)| a * b).sum()
}

/// Shapes that exercise every feature: channel and pixel counts off the block sizes, 1 and
/// 2 threads, small and large reductions.
fn gemm_shapes() -> Vec<Workload> {
    let mut out = Vec::new();
    for (i, &(m, n, k)) in [
        (8.0, 49.0, 72.0),
        (24.0, 196.0, 144.0),
        (64.0, 3136.0, 27.0),
        (100.0, 784.0, 576.0),
        (256.0, 49.0, 2304.0),
        (33.0, 1000.0, 300.0),
        (512.0, 196.0, 4608.0),
        (17.0, 12544.0, 9.0),
        (128.0, 400.0, 1152.0),
        (48.0, 6400.0, 81.0),
    ]
    .iter()
    .enumerate()
    {
        for t in [1, 2] {
            out.push(gemm_workload(1.0 + (i % 2) as f64, m, n, k, t));
        }
    }
    out
}

#[test]
fn fitting_recovers_known_coefficients() {
    let truth_hyper = vec![64, 8];
    let truth = [9.5, 2.0, 30.0, 55.0, 4.0];
    let samples: Vec<Sample> = gemm_shapes()
        .into_iter()
        .map(|w| {
            let us = dot(&features(&w, &truth_hyper).unwrap(), &truth);
            Sample { workload: w, us }
        })
        .collect();
    let model = fit_kernel(&samples).unwrap();
    assert_eq!(model.family, Family::Gemm);
    assert_eq!(model.hyper, truth_hyper, "the search finds the blocking the data was made with");
    for (got, want) in model.coef.iter().zip(truth) {
        assert!((got - want).abs() <= 1e-4 * want, "coefficients {:?} vs {truth:?}", model.coef);
    }
    assert_eq!(model.fit_pm10, 1.0);
}

#[test]
fn fitting_tolerates_noise_and_keeps_coefficients_non_negative() {
    let hyper = vec![32, 4];
    let truth = [12.0, 0.0, 40.0, 0.0, 3.0];
    let mut state = 7u64;
    let samples: Vec<Sample> = gemm_shapes()
        .into_iter()
        .map(|w| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = 1.0 + 0.04 * (((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5);
            let us = dot(&features(&w, &hyper).unwrap(), &truth) * noise;
            Sample { workload: w, us }
        })
        .collect();
    let model = fit_kernel(&samples).unwrap();
    assert!(model.coef.iter().all(|c| *c >= 0.0), "{:?}", model.coef);
    // ±2% noise: every fitted point stays within 10%.
    assert_eq!(model.fit_pm10, 1.0, "{model:?}");
}

#[test]
fn nnls_drops_features_that_would_go_negative() {
    // y = 2 x0 exactly, with a second feature anti-correlated with the residual-free fit.
    let rows: Vec<[f64; 5]> = (1..20).map(|i| [i as f64, (i as f64).sqrt(), 0.0, 0.0, 1.0]).collect();
    let y: Vec<f64> = rows.iter().map(|r| 2.0 * r[0] - 0.5 * r[1] + 1.0).collect();
    let w: Vec<f64> = y.iter().map(|v| 1.0 / v).collect();
    let c = nnls(&rows, &y, &w, 5);
    assert!(c.iter().all(|v| *v >= 0.0), "{c:?}");
    assert_eq!(c[2], 0.0);
    let pred: Vec<f64> = rows.iter().map(|r| dot(r, &c)).collect();
    assert!(pm10(&pred, &y) > 0.8, "{c:?}");
}

#[test]
fn fit_rejects_bad_samples() {
    let w = gemm_workload(1.0, 8.0, 8.0, 8.0, 1);
    assert!(matches!(fit_kernel(&[]), Err(PredictError::Fit(_))));
    let bad = vec![Sample { workload: w.clone(), us: f64::NAN }, Sample { workload: w, us: 1.0 }];
    assert!(matches!(fit_kernel(&bad), Err(PredictError::Fit(_))));
}

fn sample_profile() -> Profile {
    let model = |family: Family| KernelModel {
        family,
        hyper: match family {
            Family::Gemm => vec![64, 8],
            Family::Winograd => vec![8],
            Family::Window => vec![4, 16, 8192],
            Family::Stream => vec![16384],
            Family::Transfer => vec![],
        },
        coef: vec![1.5; n_features(family)],
        samples: 12,
        fit_pm10: 0.75,
    };
    let mut kernels = BTreeMap::new();
    kernels.insert("conv_im2col_gemm".to_string(), model(Family::Gemm));
    kernels.insert("conv_winograd_f4".to_string(), model(Family::Winograd));
    let mut fallback = BTreeMap::new();
    for f in [Family::Gemm, Family::Winograd, Family::Window, Family::Stream] {
        fallback.insert(f.name().to_string(), model(f));
    }
    let mut baseline = BTreeMap::new();
    baseline.insert("conv_im2col_gemm".to_string(), [0.01, 2.0]);
    Profile {
        format: PROFILE_FORMAT,
        target: "host".into(),
        processor: "cpu".into(),
        source: ProfileSource::Measured,
        note: "test".into(),
        avx512: false,
        avx2: false,
        threads: vec![1, 2],
        kernels,
        fallback,
        baseline,
        transfer: TransferModel::default(),
        gpu: None,
    }
}

#[test]
fn profile_round_trips_through_toml() {
    let p = sample_profile();
    let text = p.to_toml().unwrap();
    assert_eq!(Profile::from_toml(&text).unwrap(), p);
}

#[test]
fn malformed_profiles_are_rejected_with_a_reason() {
    let good = sample_profile().to_toml().unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("this is not toml = = =".into(), "invalid profile"),
        (good.replace("format = 1", "format = 99"), "format 99"),
        (good.replace("threads = [1, 2]", "threads = []"), "threads"),
        (good.replacen("coef = [1.5, 1.5, 1.5, 1.5, 1.5]", "coef = [1.5, 1.5]", 1), "takes 5 coefficients"),
        (good.replacen("coef = [1.5, 1.5, 1.5, 1.5, 1.5]", "coef = [1.5, -1.0, 1.5, 1.5, 1.5]", 1), "non-negative"),
        (good.replacen("hyper = [64, 8]", "hyper = [64]", 1), "hyper-parameters"),
        (good.replacen("family = \"gemm\"", "family = \"quantum\"", 1), "invalid profile"),
        (good.replacen("fit_pm10 = 0.75", "fit_pm10 = 7.5", 1), "fit_pm10"),
        (format!("{good}\nsurprise = 1\n"), "surprise"),
    ];
    for (text, want) in cases {
        assert_ne!(text, good, "the case must change the profile ({want})");
        let err = Profile::from_toml(&text).expect_err(want).to_string();
        assert!(err.contains(want), "error {err:?} should mention {want:?}");
    }
}

#[test]
fn every_kernel_model_fits_in_a_kilobyte() {
    let p = sample_profile();
    for m in p.kernels.values().chain(p.fallback.values()) {
        let text = toml::to_string(m).unwrap();
        assert!(text.len() <= MAX_MODEL_BYTES, "{} bytes: {text}", text.len());
    }
    // A fitted model (full-precision coefficients) too.
    let samples: Vec<Sample> =
        gemm_shapes().into_iter().map(|w| Sample { us: 1.0 + w.flops * 1e-5, workload: w }).collect();
    let fitted = toml::to_string(&fit_kernel(&samples).unwrap()).unwrap();
    assert!(fitted.len() <= MAX_MODEL_BYTES, "{} bytes", fitted.len());
}

/// A plan with one 3x3 convolution `[1, c, hw, hw] -> [1, m, hw, hw]` of `algo` and `group`.
fn conv_plan(c: u64, m: u64, hw: u64, k: u32, group: u32, algo: ConvAlgo) -> PlanMeta {
    let t = |name: &str, shape: Vec<u64>, storage| TensorDesc { name: name.into(), dtype: DType::F32, shape, storage };
    let w_shape = if algo == ConvAlgo::Winograd {
        hetc_plan::winograd::Variant::F4x4.weight_shape(m as usize, c as usize).iter().map(|&d| d as u64).collect()
    } else {
        vec![m, c / group as u64, k as u64, k as u64]
    };
    let pad = k / 2;
    PlanMeta {
        name: "conv".into(),
        target: "host-cpu".into(),
        producer: "test".into(),
        tensors: vec![
            t("x", vec![1, c, hw, hw], Storage::Arena { offset: 0 }),
            t("w", w_shape, Storage::Weight { offset: 0 }),
            t("y", vec![1, m, hw, hw], Storage::Arena { offset: 0 }),
        ],
        inputs: vec![],
        outputs: vec![],
        steps: vec![Step {
            name: "conv".into(),
            device: Device::Cpu,
            kernel: Kernel::Conv(ConvParams {
                algo,
                kernel: [k, k],
                strides: [1, 1],
                dilations: [1, 1],
                pads: [pad; 4],
                group,
                has_bias: false,
                has_residual: false,
                activation: Activation::Relu,
            }),
            inputs: vec![0, 1],
            outputs: vec![2],
            gpu: None,
            predicted_us: 0.0,
        }],
        arena_bytes: 0,
        memory: MemoryReport::default(),
        gpu_arena_bytes: 0,
        gpu_memory: MemoryReport::default(),
        shaders: vec![],
    }
}

#[test]
fn kernel_keys_mirror_the_runtime_dispatch() {
    let cases = [
        (32, 64, 28, 1, 1, ConvAlgo::Pointwise),
        (32, 64, 28, 3, 1, ConvAlgo::Im2colGemm),
        (32, 64, 28, 3, 1, ConvAlgo::Winograd),
        (32, 32, 28, 3, 32, ConvAlgo::Depthwise),
        (32, 32, 28, 7, 32, ConvAlgo::Depthwise),
        (48, 48, 14, 3, 2, ConvAlgo::Im2colGemm),
        (1024, 1024, 14, 1, 1, ConvAlgo::Pointwise),
    ];
    for isa in [CpuIsa::PORTABLE, CpuIsa::AVX2, CpuIsa::AVX512, CpuIsa::host()] {
        for &(c, m, hw, k, group, algo) in &cases {
            let meta = conv_plan(c, m, hw, k, group, algo);
            let w = cpu_workload(&meta, &meta.steps[0], isa, 2).unwrap();
            let Kernel::Conv(p) = &meta.steps[0].kernel else { unreachable!() };
            let geom = Conv2d::from_params(
                p,
                [1, c as usize, hw as usize, hw as usize],
                [1, m as usize, hw as usize, hw as usize],
            );
            let imp = conv_impl(&geom, algo, isa);
            let want = match imp {
                ConvImpl::Winograd => "conv_winograd_f4",
                other => other.name(),
            };
            assert_eq!(w.key, want, "{c}->{m} k{k} g{group} {algo:?} on {isa:?}");
        }
    }
}

#[test]
fn one_prediction_takes_under_ten_microseconds() {
    let p = Predictor::new(sample_profile()).unwrap();
    let meta = conv_plan(64, 64, 56, 3, 1, ConvAlgo::Im2colGemm);
    let step = &meta.steps[0];
    let n = 20_000;
    let start = std::time::Instant::now();
    let mut total = 0.0;
    for _ in 0..n {
        total += p.predict_step(&meta, step, 2).unwrap().us;
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    assert!(total > 0.0);
    eprintln!("{:.3} us per prediction", per * 1e6);
    assert!(per < 10e-6, "{:.2} us per prediction", per * 1e6);
}

#[test]
fn missing_kernels_use_the_family_fallback_or_say_so() {
    let mut profile = sample_profile();
    let p = Predictor::new(profile.clone()).unwrap();
    let meta = conv_plan(32, 32, 28, 3, 32, ConvAlgo::Depthwise);
    let r = p.predict_step(&meta, &meta.steps[0], 2).unwrap();
    assert_eq!(r.basis, hetc_predictor::Basis::Fallback);
    profile.fallback.remove("window");
    let p = Predictor::new(profile).unwrap();
    let err = p.predict_step(&meta, &meta.steps[0], 2).unwrap_err();
    assert!(matches!(err, PredictError::NoModel { .. }), "{err}");
}

#[test]
fn transfer_hook_fits_latency_and_bandwidth() {
    let mut profile = sample_profile();
    let samples: Vec<(u64, f64)> =
        [1u64 << 10, 1 << 16, 1 << 20, 1 << 24].iter().map(|&b| (b, 40.0 + 80.0 * b as f64 * 1e-6)).collect();
    profile.fit_transfer(&samples, "synthetic").unwrap();
    assert!((profile.transfer.latency_us - 40.0).abs() < 1e-6);
    assert!((profile.transfer.us_per_mb - 80.0).abs() < 1e-6);
    let p = Predictor::new(profile.clone()).unwrap();
    assert!((p.transfer_us(2e6) - 200.0).abs() < 1e-6);
    assert!((p.download_us(2e6) - 200.0).abs() < 1e-6, "without download terms a download costs an upload");

    // Downloads fitted apart, the synchronisation term kept through a refit, and all of it
    // through TOML.
    let downloads: Vec<(u64, f64)> = samples.iter().map(|&(b, _)| (b, 120.0 + 700.0 * b as f64 * 1e-6)).collect();
    profile.transfer.sync_us = 90.0;
    profile.fit_transfer(&samples, "synthetic").unwrap();
    profile.fit_download(&downloads).unwrap();
    assert_eq!(profile.transfer.sync_us, 90.0);
    let p = Predictor::new(Profile::from_toml(&profile.to_toml().unwrap()).unwrap()).unwrap();
    assert!((p.download_us(2e6) - 1520.0).abs() < 1e-3, "{}", p.download_us(2e6));
    assert!((p.transfer_us(2e6) - 200.0).abs() < 1e-6);
    assert_eq!(p.sync_us(), 90.0);
    assert!(p.has_transfer_model());

    // One download term without the other is refused.
    let mut bad = profile.clone();
    bad.transfer.download_us_per_mb = None;
    let err = Profile::from_toml(&bad.to_toml().unwrap()).unwrap_err();
    assert!(err.to_string().contains("go together"), "{err}");
}

#[test]
fn derived_profiles_predict_a_plan() {
    let f = hetc_predictor::derived::CpuFigures {
        peak_gflops: 168.0,
        cores: 4,
        gbps: 34.1,
        dispatch_us: 2.0,
        link: Some((50.0, 17.05)),
        provenance: "test".into(),
    };
    let profile = hetc_predictor::derived::cpu_profile("sd855", &f);
    assert_eq!(profile.source, ProfileSource::Derived);
    let text = profile.to_toml().unwrap();
    let p = Predictor::new(Profile::from_toml(&text).unwrap()).unwrap();
    let meta = conv_plan(64, 64, 56, 3, 1, ConvAlgo::Im2colGemm);
    let us = p.predict_step(&meta, &meta.steps[0], 4).unwrap().us;
    // 115.6 MFLOP at 42 GFLOP/s per core over 4 cores is about 690 us: the roofline's order.
    assert!(us > 500.0 && us < 3000.0, "{us}");
}
