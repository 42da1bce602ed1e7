//! IR dumps of the small committed models, reviewed as insta snapshots. Weights are redacted
//! by the dump and values are numbered in topological order, so the text is stable.

mod common;

use hetc_onnx::{ImportOptions, import_file};

fn dump(name: &str, options: &ImportOptions) -> String {
    let path = common::workspace().join("testdata/models").join(name).join("model.onnx");
    let model = import_file(&path, options).unwrap_or_else(|e| panic!("{name}: {e}"));
    hetc_ir::text::dump(&model.graph).expect("imported graphs are acyclic")
}

#[test]
fn small_models_ir() {
    for name in ["tiny_cnn", "pad_chain", "shape_chain", "external_weights", "opset7_legacy", "multi_output_split"] {
        insta::assert_snapshot!(name, dump(name, &ImportOptions::default()));
    }
}

#[test]
fn symbolic_dims_resolved_by_input_shape() {
    let mut options = ImportOptions::default();
    options.input_shapes.insert("x".into(), vec![2, 3, 8, 8]);
    insta::assert_snapshot!("symbolic_dims_2x3x8x8", dump("symbolic_dims", &options));
}

/// The torch-style pad chain (ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast) must
/// fold away completely, leaving the reflect Pad with static pads.
#[test]
fn pad_chain_folds_to_one_pad() {
    let text = dump("pad_chain", &ImportOptions::default());
    for gone in ["ConstantOfShape", "Concat", "Slice", "Transpose", "Cast", "Reshape"] {
        assert!(!text.contains(gone), "{gone} survived folding:\n{text}");
    }
    assert!(text.contains("Pad{mode=Reflect, pads=[0,0,1,1,0,0,1,1]}"), "{text}");
}
