//! Import of every model in `../shared/models`: FLOPs against the published figures, output
//! shapes against the reference outputs, and a reviewed summary per model.

mod common;

use hetc_ir::stats::model_stats;
use hetc_onnx::{ImportOptions, import_file};
use std::fmt::Write;

/// Static shapes to give inputs: (input, dims).
type Shapes = &'static [(&'static str, &'static [usize])];

/// (model, expected GFLOP = 2 x MACs of Conv/ConvTranspose/Gemm/MatMul, input shapes to give).
const MODELS: &[(&str, f64, Shapes)] = &[
    ("resnet18", 3.628, &[]),
    ("resnet50", 8.178, &[]),
    ("vgg16", 30.94, &[]),
    ("yolov2", 29.46, &[]),
    ("tiny_yolov2", 6.971, &[]),
    ("regnet_x_1_6gf", 3.206, &[]),
    ("fast_style_transfer", 15.43, &[]),
    ("retinaface_mnet025", 1.962, &[]),
    ("posenet_mnv1", 2.384, &[]),
    ("mobilenet_v2_imagenet", 0.6015, &[]),
    ("ppocrv4_det", 4.604, &[("x", &[1, 3, 640, 640])]),
    ("digits_resnet", 0.0695, &[]),
];

fn options(shapes: &[(&str, &[usize])]) -> ImportOptions {
    let mut o = ImportOptions::default();
    for (name, dims) in shapes {
        o.input_shapes.insert(name.to_string(), dims.to_vec());
    }
    o
}

#[test]
fn every_shared_model_imports_with_expected_flops_and_output_shapes() {
    let mut summary = String::new();
    for &(name, gflop, shapes) in MODELS {
        let dir = common::shared("models").join(name);
        let path = dir.join("model.onnx");
        let model = import_file(&path, &options(shapes)).unwrap_or_else(|e| {
            panic!("{name}: {e} (large weights are written by `python3 ../shared/models/materialize.py`)")
        });
        let stats = model_stats(&model.graph).unwrap();
        let got = stats.flops as f64 / 1e9;
        assert!((got - gflop).abs() / gflop <= 0.005, "{name}: {got:.4} GFLOP, expected {gflop} within 0.5%");

        // Every graph output has the reference output's shape.
        let set = dir.join("test_data_set_0");
        for (k, out) in model.graph.outputs.iter().enumerate() {
            let reference = common::read_tensor_proto(&set.join(format!("output_{k}.pb")));
            let dims: Vec<usize> = reference.dims.iter().map(|&d| d as usize).collect();
            assert_eq!(model.graph.value_type(out.value).shape, dims, "{name}: output {k} `{}`", out.name);
        }
        // Shape computations must be folded: no integer-typed values remain in the graph.
        for id in model.graph.node_ids() {
            let node = model.graph.node(id);
            assert!(
                node.outputs.iter().all(|t| t.dtype.is_float()),
                "{name}: node `{}` ({}) computes a non-float value at run time",
                node.name,
                node.op.name()
            );
        }
        let _ = writeln!(
            summary,
            "{name}: {} nodes, {} params, {:.4} GFLOP, activation peak {} B",
            stats.nodes, stats.parameters, got, stats.activation_bytes_peak
        );
        let ops: Vec<String> = stats.ops.iter().map(|(op, s)| format!("{op} {}", s.count)).collect();
        let _ = writeln!(summary, "  {}", ops.join(", "));
    }
    insta::assert_snapshot!("shared_models_summary", summary);
}

/// A symbolic input dimension without `--input-shape` is an error naming the input.
#[test]
fn ppocr_needs_an_input_shape() {
    let path = common::shared("models").join("ppocrv4_det/model.onnx");
    let err = import_file(&path, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("input `x`") && err.contains("--input-shape"), "{err}");
}
