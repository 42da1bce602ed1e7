//! What the shared-model tests (CPU plans in `shared_models_run`, GPU plans in `gpu_models`)
//! share: the models with their import shapes, the asset folder, the reference reader and the
//! tolerance check.

#![allow(dead_code)]

use hetc_onnx::{ImportOptions, Model, import_file};
use hetc_runtime::Tensor;
use std::path::{Path, PathBuf};

/// Input shapes to give on import.
pub type Shapes = &'static [(&'static str, &'static [usize])];

pub const MODELS: &[(&str, Shapes)] = &[
    ("digits_resnet", &[]),
    ("mobilenet_v2_imagenet", &[]),
    ("resnet18", &[]),
    ("resnet50", &[]),
    ("vgg16", &[]),
    ("yolov2", &[]),
    ("tiny_yolov2", &[]),
    ("regnet_x_1_6gf", &[]),
    ("fast_style_transfer", &[]),
    ("retinaface_mnet025", &[]),
    ("posenet_mnv1", &[]),
    ("ppocrv4_det", &[("x", &[1, 3, 640, 640])]),
];

pub fn shared_models() -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models"));
    assert!(p.exists(), "{} is missing: the tests need the shared assets beside the repo", p.display());
    p
}

/// Imports shared model `name` with the given input shapes.
pub fn import(name: &str, shapes: &[(&str, &[usize])]) -> Model {
    let mut options = ImportOptions::default();
    for (n, d) in shapes {
        options.input_shapes.insert(n.to_string(), d.to_vec());
    }
    import_file(shared_models().join(name).join("model.onnx"), &options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn read_pb(path: &Path) -> Tensor {
    use prost::Message;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let proto = hetc_onnx::proto::TensorProto::decode(bytes.as_slice()).expect("a TensorProto");
    let t = hetc_onnx::tensor_from_proto(&proto, path.parent().unwrap()).expect("a valid tensor");
    Tensor { shape: t.shape().to_vec(), data: t.to_f32_vec() }
}

/// Asserts max |out - ref| <= `tolerance` x max(1, max |ref|); returns the largest error
/// relative to that scale.
pub fn check(name: &str, set: &str, out: &Tensor, reference: &Tensor, tolerance: f32) -> f32 {
    assert_eq!(out.shape, reference.shape, "{name} {set}: shape");
    let scale = reference.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let mut worst = 0.0f32;
    for (i, (a, b)) in out.data.iter().zip(&reference.data).enumerate() {
        let err = (a - b).abs();
        assert!(
            err <= tolerance * scale,
            "{name} {set}: element {i} is {a}, reference {b} (tolerance {})",
            tolerance * scale
        );
        worst = worst.max(err / scale);
    }
    worst
}
