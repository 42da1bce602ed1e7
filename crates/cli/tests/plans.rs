//! The reviewed plan summaries in `plans/`: every shared model compiled for every phone target
//! (`--strategy layer`: placement by the target's cost model) and for `host-cpu`, summarised
//! by `hetc inspect PLAN` (placement per step, transfers, arenas, predicted times; no weights).
//! Any compiler change that alters a plan fails here until its diff in `plans/` is reviewed
//! (`cargo insta review`).
//!
//! `host` is left out: its GPU is whatever adapter the machine has, so its plans differ from
//! machine to machine. `host-cpu` plans carry no predicted times for the same reason (its
//! figures are measured from the machine); the rest of their summary is machine-independent.

use std::path::{Path, PathBuf};
use std::process::Command;

const MODELS: [&str; 12] = [
    "digits_resnet",
    "fast_style_transfer",
    "mobilenet_v2_imagenet",
    "posenet_mnv1",
    "ppocrv4_det",
    "regnet_x_1_6gf",
    "resnet18",
    "resnet50",
    "retinaface_mnet025",
    "tiny_yolov2",
    "vgg16",
    "yolov2",
];

fn shared_model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models").join(name).join("model.onnx")
}

fn hetc(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hetc")).args(args).output().expect("cannot run hetc");
    assert!(out.status.success(), "hetc {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn summarise(target: &str, strategy: &str) {
    let dir = std::env::temp_dir().join(format!("hetc-plans-{target}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for model in MODELS {
        let path = shared_model(model);
        assert!(path.exists(), "{} is missing: the tests read ../shared beside the repo", path.display());
        let plan = dir.join(format!("{model}.hplan"));
        let mut args = vec!["compile", path.to_str().unwrap(), "--target", target, "--strategy", strategy];
        args.extend(["-o", plan.to_str().unwrap()]);
        if model == "ppocrv4_det" {
            args.extend(["--input-shape", "x=1x3x640x640"]);
        }
        hetc(&args);
        let text = hetc(&["inspect", plan.to_str().unwrap()]);
        // The plan's path is the only machine-specific line.
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("plan ") {
                    format!("plan       {model}.hplan{}", &l[l.find(" (").unwrap_or(l.len())..])
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        insta::with_settings!({
            snapshot_path => "../../../plans",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("hetc compile {model} --target {target} --strategy {strategy}; hetc inspect"),
        }, {
            insta::assert_snapshot!(format!("{model}@{target}"), text);
        });
        std::fs::remove_file(&plan).ok();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn host_cpu() {
    summarise("host-cpu", "cpu");
}

macro_rules! phone {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            summarise(stringify!($name), "layer");
        }
    )*};
}

phone!(sd855, sd865, sd888, sd870, kirin985, kirin990, kirin960, tensor);
