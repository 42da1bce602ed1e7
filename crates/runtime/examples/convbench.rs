//! Times single convolutions of the shared models' shapes on the kernel
//! [`conv_impl`] picks,
//! best of many runs (so that a loaded machine matters less):
//! `cargo run --release -p hetc-runtime --example convbench [THREADS [NAME-FILTER | wino]]`;
//! `wino` compares Winograd F(4x4), F(2x2) and im2col on the 3x3 layers.

use hetc_plan::{Activation, ConvAlgo};
use hetc_runtime::cpu::introspect::{CpuIsa, conv_impl};
use hetc_runtime::cpu::kernels::conv::{Conv2d, conv2d};
use std::time::Instant;

#[allow(clippy::too_many_arguments)]
fn geom(c: usize, hw: usize, m: usize, k: usize, s: usize) -> Conv2d {
    let pad = k / 2;
    let o = (hw + 2 * pad - k) / s + 1;
    Conv2d {
        n: 1,
        c,
        h: hw,
        w: hw,
        m,
        oh: o,
        ow: o,
        kh: k,
        kw: k,
        stride_h: s,
        stride_w: s,
        dil_h: 1,
        dil_w: 1,
        pad_t: pad,
        pad_l: pad,
        group: 1,
    }
}

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(1, |t| t.parse().unwrap());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let cases = [
        ("r50 l1 1x1 64->256 56", geom(64, 56, 256, 1, 1)),
        ("r50 l1 1x1 256->64 56", geom(256, 56, 64, 1, 1)),
        ("r50 l2 1x1 512->128 28", geom(512, 28, 128, 1, 1)),
        ("r50 l2 1x1 128->512 28", geom(128, 28, 512, 1, 1)),
        ("r50 l3 1x1 1024->256 14", geom(1024, 14, 256, 1, 1)),
        ("r50 l3 1x1 256->1024 14", geom(256, 14, 1024, 1, 1)),
        ("r50 l4 1x1 2048->512 7", geom(2048, 7, 512, 1, 1)),
        ("r50 l4 1x1 512->2048 7", geom(512, 7, 2048, 1, 1)),
        ("r50 ds 1x1/2 256->512 56", geom(256, 56, 512, 1, 2)),
        ("r50 3x3/2 128 56", geom(128, 56, 128, 3, 2)),
        ("digits 3x3 128 4", geom(128, 4, 128, 3, 1)),
        ("digits 3x3 64 8", geom(64, 8, 64, 3, 1)),
        ("digits 3x3/2 32->64 16", geom(32, 16, 64, 3, 2)),
        ("digits 3x3 16 32", geom(16, 32, 16, 3, 1)),
        ("tiny stem 1->16 32", geom(1, 32, 16, 3, 1)),
        ("tiny 1x1/2 16->32 32", geom(16, 32, 32, 1, 2)),
        ("tiny 1x1/2 64->128 8", geom(64, 8, 128, 1, 2)),
        ("tiny 1x1 64->64 8", geom(64, 8, 64, 1, 1)),
        ("tiny 1x1 32->32 16", geom(32, 16, 32, 1, 1)),
        ("tiny 1x1 128->128 4", geom(128, 4, 128, 1, 1)),
        ("tiny 3x3 8->8 40", geom(8, 40, 8, 3, 1)),
        ("tiny 3x3/2 3->16 64", geom(3, 64, 16, 3, 2)),
        ("tiny 1x1 256->64 20", geom(256, 20, 64, 1, 1)),
        ("mb 1x1 32->16 112", geom(32, 112, 16, 1, 1)),
        ("mb 1x1 16->96 112", geom(16, 112, 96, 1, 1)),
        ("mb 1x1 96->24 56", geom(96, 56, 24, 1, 1)),
        ("mb 1x1 144->24 56", geom(144, 56, 24, 1, 1)),
        ("mb 1x1 24->144 56", geom(24, 56, 144, 1, 1)),
        ("mb 1x1 192->32 28", geom(192, 28, 32, 1, 1)),
        ("mb 1x1 384->64 14", geom(384, 14, 64, 1, 1)),
        ("mb 1x1 576->96 14", geom(576, 14, 96, 1, 1)),
        ("mb 1x1 960->160 7", geom(960, 7, 160, 1, 1)),
        ("mb 1x1 320->1280 7", geom(320, 7, 1280, 1, 1)),
        ("pose 1x1 512->512 14", geom(512, 14, 512, 1, 1)),
        ("pose 1x1 256->256 28", geom(256, 28, 256, 1, 1)),
        ("pose 1x1 128->128 56", geom(128, 56, 128, 1, 1)),
        ("rg g 168/7 28", Conv2d { group: 7, ..geom(168, 28, 168, 3, 1) }),
        ("rg g 408/17 14", Conv2d { group: 17, ..geom(408, 14, 408, 3, 1) }),
        ("rg g 912/38 7", Conv2d { group: 38, ..geom(912, 7, 912, 3, 1) }),
    ];
    let filter = std::env::args().nth(2);
    if filter.as_deref() == Some("wino") {
        return winograd_vs_im2col(threads, &pool);
    }
    for (name, p) in cases {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let x: Vec<f32> = (0..p.n * p.c * p.h * p.w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> =
            (0..p.m * p.c / p.group * p.kh * p.kw).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let b = vec![0.1f32; p.m];
        let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
        let mut scratch = Vec::new();
        let flops = p.flops() as f64;
        let reps = ((2e9 / flops) as usize).clamp(5, 2000);
        let best = pool.install(|| {
            (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    conv2d(
                        &p,
                        ConvAlgo::Im2colGemm,
                        &x,
                        &w,
                        Some(&b),
                        &mut out,
                        false,
                        Activation::Relu,
                        &mut scratch,
                        threads,
                    );
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::MAX, f64::min)
        });
        let path = conv_impl(&p, ConvAlgo::Im2colGemm, CpuIsa::host());
        println!("{name:<28} {path:<16?} {:>9.1} us {:>6.1} GF/s", best * 1e6, flops / best / 1e9);
    }
}

/// Winograd (both variants) against im2col + `gemm` on the 3x3 stride-1 shapes of the models.
fn winograd_vs_im2col(threads: usize, pool: &rayon::ThreadPool) {
    use hetc_plan::winograd::Variant;
    use hetc_runtime::cpu::kernels::winograd::conv2d_winograd;
    let cases = [
        ("r50 64@56", geom(64, 56, 64, 3, 1)),
        ("r50 128@28", geom(128, 28, 128, 3, 1)),
        ("r50 256@14", geom(256, 14, 256, 3, 1)),
        ("r50 512@7", geom(512, 7, 512, 3, 1)),
        ("vgg 64@224", geom(64, 224, 64, 3, 1)),
        ("vgg 256@56", geom(256, 56, 256, 3, 1)),
        ("vgg 512@28", geom(512, 28, 512, 3, 1)),
        ("digits 16@32", geom(16, 32, 16, 3, 1)),
        ("digits 32@16", geom(32, 16, 32, 3, 1)),
        ("digits 64@8", geom(64, 8, 64, 3, 1)),
        ("digits 128@4", geom(128, 4, 128, 3, 1)),
        ("yolo 32@208", geom(32, 208, 64, 3, 1)),
        ("yolo 256@26", geom(256, 26, 512, 3, 1)),
        ("yolo 512@13", geom(512, 13, 1024, 3, 1)),
    ];
    for (name, p) in cases {
        let x: Vec<f32> = (0..p.n * p.c * p.h * p.w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..p.m * p.c * 9).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let u4 = Variant::F4x4.transform_weights(&w, p.m, p.c);
        let u2 = Variant::F2x2.transform_weights(&w, p.m, p.c);
        let b = vec![0.1f32; p.m];
        let mut out = vec![0f32; p.n * p.m * p.oh * p.ow];
        let mut scratch = Vec::new();
        let flops = p.flops() as f64;
        let reps = ((1e9 / flops) as usize).clamp(5, 1000);
        let mut best = [f64::MAX; 3];
        for r in 0..3 * reps {
            let v = r % 3;
            pool.install(|| {
                let t = Instant::now();
                match v {
                    0 => conv2d(
                        &p,
                        ConvAlgo::Im2colGemm,
                        &x,
                        &w,
                        Some(&b),
                        &mut out,
                        false,
                        Activation::Relu,
                        &mut scratch,
                        threads,
                    ),
                    1 => conv2d_winograd(
                        &p,
                        Variant::F4x4,
                        &x,
                        &u4,
                        Some(&b),
                        &mut out,
                        false,
                        Activation::Relu,
                        &mut scratch,
                        threads,
                    ),
                    _ => conv2d_winograd(
                        &p,
                        Variant::F2x2,
                        &x,
                        &u2,
                        Some(&b),
                        &mut out,
                        false,
                        Activation::Relu,
                        &mut scratch,
                        threads,
                    ),
                }
                best[v] = best[v].min(t.elapsed().as_secs_f64());
            });
        }
        println!(
            "{name:<16} im2col {:>9.1} us {:>6.1} GF/s  F4 {:>9.1} us {:>6.1}  F2 {:>9.1} us {:>6.1}",
            best[0] * 1e6,
            flops / best[0] / 1e9,
            best[1] * 1e6,
            flops / best[1] / 1e9,
            best[2] * 1e6,
            flops / best[2] / 1e9
        );
    }
}
