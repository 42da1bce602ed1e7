#!/usr/bin/env bash
# The main job on a shipped model: build hetc, inspect MobileNetV2 (real ImageNet weights),
# compile it for this machine's CPU, classify the test photo (a tabby cat, ImageNet classes
# 281-285) and benchmark the plan.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=../shared/models/mobilenet_v2_imagenet
cargo build --release -p hetc
HETC=target/release/hetc
OUT=$(mktemp -d)
$HETC inspect $MODEL/model.onnx
$HETC compile $MODEL/model.onnx --target host-cpu -o "$OUT/mobilenet_v2.hplan"
$HETC inspect "$OUT/mobilenet_v2.hplan" | head -8
$HETC run "$OUT/mobilenet_v2.hplan" --inputs $MODEL/test_data_set_0 --output-dir "$OUT" --top 5
$HETC bench "$OUT/mobilenet_v2.hplan" --runs 20
