//! `PredictorCost`: placement priced by the latency predictor, from a hand-written profile.

use hetc_compile::{CompileOptions, Fusion, Strategy, compile};
use hetc_ir::ops::{Conv, Unary, UnaryKind};
use hetc_ir::{DType, Graph, GraphOutput, Node, NodeId, Op, Tensor, TensorType, ValueRef};
use hetc_partition::{CostModel, PredictorCost, TargetCost};
use hetc_plan::{Device, Kernel};
use hetc_predictor::{Predictor, Profile};
use hetc_target::{Catalog, CheckOptions, CodeTable, CodeTables, HETC_CPU, HETC_GPU, HostInfo};
use std::sync::Arc;

/// One model of im2col convolutions: a constant of 5 us, and per million of the busiest
/// thread's block multiply-adds 10 us, of unfolded elements per thread 2 us, of bytes read
/// 1 us and of bytes written 3 us. No fallback models: other kernels cannot be priced.
const PROFILE: &str = r#"
format = 1
target = "test"
processor = "cpu"
source = "measured"
note = "hand-written for the test"
avx512 = false
avx2 = false
threads = [2]

[kernels.conv_im2col_gemm]
family = "gemm"
hyper = [64, 8]
coef = [10.0, 2.0, 1.0, 3.0, 5.0]
samples = 10
fit_pm10 = 1.0
"#;

fn catalog() -> Catalog {
    let code = CodeTables::new()
        .with(HETC_CPU, Arc::new(CodeTable::new("hetc's CPU kernels", hetc_compile::support::cpu_supports)));
    let mut host = HostInfo::detect();
    host.gpu = None;
    Catalog::builtin(&code, &host).unwrap()
}

/// `x [1,3,16,16]` -> 3x3 convolution to 8 channels, pad 1 -> ReLU.
fn conv_relu() -> (Graph, NodeId, NodeId) {
    let mut g = Graph::new("conv");
    let x = g.add_input("x", TensorType::new(DType::F32, vec![1, 3, 16, 16]));
    let w = g.add_constant("w", Tensor::from_f32(vec![8, 3, 3, 3], &[0.1; 8 * 27]));
    let y_ty = TensorType::new(DType::F32, vec![1, 8, 16, 16]);
    let conv = g.add_node(Node {
        name: "conv".into(),
        op: Op::Conv(Conv {
            kernel: vec![3, 3],
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads: vec![1; 4],
            group: 1,
        }),
        num_inputs: 2,
        outputs: vec![y_ty.clone()],
        output_names: vec!["y".into()],
    });
    g.connect(ValueRef { node: x, slot: 0 }, conv, 0);
    g.connect(ValueRef { node: w, slot: 0 }, conv, 1);
    let relu = g.add_node(Node {
        name: "relu".into(),
        op: Op::Unary(Unary { kind: UnaryKind::Relu }),
        num_inputs: 1,
        outputs: vec![y_ty],
        output_names: vec!["z".into()],
    });
    g.connect(ValueRef { node: conv, slot: 0 }, relu, 0);
    g.outputs.push(GraphOutput { name: "z".into(), value: ValueRef { node: relu, slot: 0 } });
    (g, conv, relu)
}

#[test]
fn a_conv_is_priced_as_the_predictor_prices_its_compiled_step() {
    let predictor = Predictor::new(Profile::from_toml(PROFILE).unwrap()).unwrap();
    let catalog = catalog();
    let target = catalog.get("host-cpu").unwrap();
    let fallback = TargetCost::new(target, None, CheckOptions::default()).unwrap();
    let cost = PredictorCost::new(&predictor, 2, fallback, "test.toml");
    let (g, conv, relu) = conv_relu();

    // By hand: batch 1, M 8 output channels, N 256 pixels, K 27. The convolution (0.1 MFLOP)
    // is too small to split, so the runtime runs it on one of the session's 2 threads
    // (`introspect::conv_threads`): blocks ceil(256/64) x ceil(8/8) = 4, all on that thread,
    // so 4 x 64 x 8 x 27 block multiply-adds; 27 x 256 unfolded elements on one thread;
    // 4 x (768 + 216) bytes read, 4 x 2048 written.
    let by_hand = 10.0 * (4.0 * 64.0 * 8.0 * 27.0) * 1e-6
        + 2.0 * (27.0 * 256.0) * 1e-6
        + 1.0 * (4.0 * (768.0 + 216.0)) * 1e-6
        + 3.0 * (4.0 * 2048.0) * 1e-6
        + 5.0;
    let us = cost.node_us(&g, conv, Device::Cpu).unwrap();
    assert!((us - by_hand).abs() < 1e-9, "{us} vs {by_hand}");

    // The same number as the predictor gives the convolution's step of the compiled plan.
    let plan = compile(&g, &CompileOptions { fusion: Fusion::None, ..Default::default() }).unwrap();
    let step = plan.meta.steps.iter().find(|s| matches!(s.kernel, Kernel::Conv(_))).unwrap();
    let from_plan = predictor.predict_step(&plan.meta, step, 2).unwrap().us;
    assert!((us - from_plan).abs() < 1e-9, "{us} vs the plan step's {from_plan}");

    // A split part pays the constant whatever its share.
    let split = cost.node_split_us(&g, conv, Device::Cpu).unwrap();
    assert!((split.fixed_us - 5.0).abs() < 1e-12, "{split:?}");
    assert!((split.fixed_us + split.scaled_us - us).abs() < 1e-9, "{split:?}");

    // The ReLU has no model in this profile: the target's model prices it, and says so.
    let target_only = TargetCost::new(target, None, CheckOptions::default()).unwrap();
    let relu_us = cost.node_us(&g, relu, Device::Cpu).unwrap();
    assert_eq!(relu_us, target_only.node_us(&g, relu, Device::Cpu).unwrap());
    let bases = cost.bases(Device::Cpu);
    assert_eq!(bases.kernel.iter().collect::<Vec<_>>(), ["conv"]);
    assert!(bases.family.is_empty());
    assert_eq!(bases.target.len(), 1);
    assert!(bases.target.iter().next().unwrap().starts_with("relu (no model for kernel `activation`"), "{bases:?}");

    // No GPU in this target: the GPU cannot run anything, and the label names the basis.
    assert!(cost.node_us(&g, conv, Device::Gpu).is_err());
    assert!(cost.label().starts_with("latency predictor: CPU ops from profile test.toml"), "{}", cost.label());
}

#[test]
fn winograd_convolutions_are_priced_by_their_variant() {
    // 16 channels at 28x28: the compiler picks Winograd F(4x4) (its transformed weights'
    // shape tells the predictor the variant), priced by the profile's conv_winograd_f4 model.
    let text = PROFILE.replace("conv_im2col_gemm", "conv_winograd_f4").replace(
        "family = \"gemm\"\nhyper = [64, 8]\ncoef = [10.0, 2.0, 1.0, 3.0, 5.0]",
        "family = \"winograd\"\nhyper = [8]\ncoef = [1.0, 1.0, 7.0]",
    );
    let predictor = Predictor::new(Profile::from_toml(&text).unwrap()).unwrap();
    let catalog = catalog();
    let fallback = TargetCost::new(catalog.get("host-cpu").unwrap(), None, CheckOptions::default()).unwrap();
    let cost = PredictorCost::new(&predictor, 1, fallback, "w.toml");
    let mut g = Graph::new("w");
    let ty = TensorType::new(DType::F32, vec![1, 16, 28, 28]);
    let x = g.add_input("x", ty.clone());
    let w = g.add_constant("w", Tensor::from_f32(vec![16, 16, 3, 3], &[0.01; 16 * 16 * 9]));
    let conv = g.add_node(Node {
        name: "conv".into(),
        op: Op::Conv(Conv {
            kernel: vec![3, 3],
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads: vec![1; 4],
            group: 1,
        }),
        num_inputs: 2,
        outputs: vec![ty],
        output_names: vec!["y".into()],
    });
    g.connect(ValueRef { node: x, slot: 0 }, conv, 0);
    g.connect(ValueRef { node: w, slot: 0 }, conv, 1);
    g.outputs.push(GraphOutput { name: "y".into(), value: ValueRef { node: conv, slot: 0 } });

    let us = cost.node_us(&g, conv, Device::Cpu).unwrap();
    let plan = compile(&g, &CompileOptions { fusion: Fusion::None, ..Default::default() }).unwrap();
    let step = plan.meta.steps.iter().find(|s| matches!(s.kernel, Kernel::Conv(_))).unwrap();
    let from_plan = predictor.predict_step(&plan.meta, step, 1).unwrap().us;
    assert!((us - from_plan).abs() < 1e-9, "{us} vs {from_plan}");
    assert_eq!(cost.bases(Device::Cpu).kernel.len(), 1, "{:?}", cost.bases(Device::Cpu));
}

#[test]
fn gpu_ops_are_priced_by_the_profiles_gpu_models_when_it_has_them() {
    // A GPU gemm-family model only: the convolution's tiled shader is priced by it (as a
    // family fallback), the ReLU (stream family) by the target's model.
    let text = format!(
        "{PROFILE}\n[gpu]\nadapter = \"test adapter\"\nkernels = {{}}\n\n[gpu.fallback.gemm]\nfamily = \"gemm\"\nhyper = [16, 16]\ncoef = [50.0, 0.0, 0.0, 0.0, 30.0]\nsamples = 10\nfit_pm10 = 1.0\n"
    );
    let predictor = Predictor::new(Profile::from_toml(&text).unwrap()).unwrap();
    assert!(predictor.has_gpu_models());
    let code = CodeTables::new()
        .with(HETC_CPU, Arc::new(CodeTable::new("hetc's CPU kernels", hetc_compile::support::cpu_supports)))
        .with(HETC_GPU, Arc::new(CodeTable::new("hetc's WGSL kernels", hetc_compile::support::gpu_supports)));
    let mut host = HostInfo::detect();
    host.gpu = None;
    let catalog = Catalog::builtin(&code, &host).unwrap();
    let gpu_kernels = CodeTable::new("hetc's WGSL kernels", hetc_compile::support::gpu_supports);
    let fallback = TargetCost::new(catalog.get("sd855").unwrap(), Some(&gpu_kernels), CheckOptions::default()).unwrap();
    let stand_in = TargetCost::new(catalog.get("sd855").unwrap(), Some(&gpu_kernels), CheckOptions::default()).unwrap();
    let cost = PredictorCost::new(&predictor, 2, fallback, "gpu.toml");
    let (g, conv, relu) = conv_relu();

    let us = cost.node_us(&g, conv, Device::Gpu).unwrap();
    // The same as the predictor's price of the convolution step of the GPU plan.
    let plan =
        compile(&g, &CompileOptions { fusion: Fusion::None, strategy: Strategy::Gpu, ..Default::default() }).unwrap();
    let step = plan.meta.steps.iter().find(|s| s.device == Device::Gpu && matches!(s.kernel, Kernel::Conv(_))).unwrap();
    let from_plan = predictor.predict_step(&plan.meta, step, 2).unwrap();
    assert!((us - from_plan.us).abs() < 1e-9, "{us} vs the plan step's {}", from_plan.us);
    assert!(us > 30.0, "the constant is paid: {us}");
    let split = cost.node_split_us(&g, conv, Device::Gpu).unwrap();
    assert!((split.fixed_us - 30.0).abs() < 1e-12, "{split:?}");

    assert_eq!(cost.node_us(&g, relu, Device::Gpu).unwrap(), stand_in.node_us(&g, relu, Device::Gpu).unwrap());
    let bases = cost.bases(Device::Gpu);
    assert_eq!(bases.family.iter().collect::<Vec<_>>(), ["conv"], "{bases:?}");
    assert_eq!(bases.target.len(), 1, "{bases:?}");
    assert!(cost.label().contains("GPU ops from the profile's GPU models (test adapter)"), "{}", cost.label());
}
