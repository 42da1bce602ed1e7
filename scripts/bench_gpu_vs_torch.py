#!/usr/bin/env python3
"""hetc GPU plans next to PyTorch fp32 eager on the same GPU, in one run.

For each model: compile the shared ONNX model with `--target host --strategy gpu`, time it
with `hetc bench` (median of the timed runs, synthetic inputs), and time the torchvision
build of the same architecture in PyTorch eager on CUDA (fp32, TF32 off, random weights,
median of as many runs, after warm-ups, each run synchronised). The two are interleaved:
hetc, torch, hetc, torch, and each side's best median is kept. Prints latency, achieved
GFLOP/s (FLOPs from `hetc inspect`: 2 x MACs of Conv/Gemm/MatMul) and the hetc/torch ratio.

    python3 scripts/bench_gpu_vs_torch.py --hetc target/release/hetc --models ../shared/models \
        [--device NVIDIA] [--runs 30] [--only resnet18,vgg16] [--json out.json]

Without torch (or without CUDA) the torch columns say so and hetc's numbers are still printed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# shared model folder -> torchvision constructor name
MODELS = [
    ("resnet18", "resnet18"),
    ("resnet50", "resnet50"),
    ("vgg16", "vgg16"),
    ("mobilenet_v2_imagenet", "mobilenet_v2"),
    ("regnet_x_1_6gf", "regnet_x_1_6gf"),
]


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def flops_of(hetc, model):
    out = json.loads(sh([hetc, "inspect", model, "--json"]))
    for key in ("flops", "total_flops"):
        if key in out:
            return float(out[key])
    stats = out.get("stats") or out.get("totals") or {}
    return float(stats.get("flops", 0.0))


def hetc_bench(hetc, plan, runs, warmup, device):
    cmd = [hetc, "bench", plan, "--json", "--runs", str(runs), "--warmup", str(warmup)]
    if device:
        cmd += ["--device", device]
    r = json.loads(sh(cmd))
    return r["median_ms"], r.get("gpu")


class Torch:
    def __init__(self):
        self.error = None
        try:
            import torch
            import torchvision

            if not torch.cuda.is_available():
                raise RuntimeError("torch sees no CUDA device")
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.benchmark = False
            self.torch = torch
            self.tv = torchvision
            self.name = torch.cuda.get_device_name(0)
            self.version = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
        except Exception as e:  # noqa: BLE001 - any import or CUDA failure is reported, not hidden
            self.error = str(e)

    def build(self, arch):
        m = getattr(self.tv.models, arch)(weights=None).eval().cuda().float()
        x = self.torch.randn(1, 3, 224, 224, device="cuda")
        return m, x

    def time(self, model, x, runs, warmup):
        torch = self.torch
        with torch.inference_mode():
            for _ in range(warmup):
                model(x)
            torch.cuda.synchronize()
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                model(x)
                torch.cuda.synchronize()
                times.append((time.perf_counter() - t) * 1e3)
        return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hetc", default="target/release/hetc")
    ap.add_argument("--models", default="../shared/models")
    ap.add_argument("--device", default=None, help="hetc --device (adapter name substring)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved hetc/torch rounds")
    ap.add_argument("--only", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    torch = Torch()
    print(f"torch: {torch.name + ' (' + torch.version + ')' if torch.error is None else 'unavailable: ' + torch.error}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder, arch in MODELS:
            if only and folder not in only:
                continue
            onnx = os.path.join(args.models, folder, "model.onnx")
            plan = os.path.join(tmp, folder + ".hplan")
            sh([args.hetc, "compile", onnx, "--target", "host", "--strategy", "gpu", "-o", plan])
            flops = flops_of(args.hetc, onnx)
            tm = tx = None
            if torch.error is None:
                tm, tx = torch.build(arch)
            h_best, t_best, adapter = float("inf"), float("inf"), None
            for _ in range(args.rounds):
                h, adapter = hetc_bench(args.hetc, plan, args.runs, args.warmup, args.device)
                h_best = min(h_best, h)
                if tm is not None:
                    t_best = min(t_best, torch.time(tm, tx, args.runs, args.warmup))
            row = {
                "model": folder,
                "gflop": flops / 1e9,
                "hetc_ms": h_best,
                "hetc_gflops": flops / 1e9 / (h_best / 1e3),
                "adapter": adapter,
                "torch_ms": None if tm is None else t_best,
                "torch_gflops": None if tm is None else flops / 1e9 / (t_best / 1e3),
            }
            row["ratio"] = None if tm is None else h_best / t_best
            rows.append(row)
            print(json.dumps(row), flush=True)
            del tm, tx
    print()
    print(f"{'model':<24} {'GFLOP':>7} {'hetc ms':>9} {'GFLOP/s':>9} {'torch ms':>9} {'GFLOP/s':>9} {'hetc/torch':>10}")
    for r in rows:
        t = "-" if r["torch_ms"] is None else f"{r['torch_ms']:.3f}"
        tg = "-" if r["torch_gflops"] is None else f"{r['torch_gflops']:.0f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['model']:<24} {r['gflop']:>7.2f} {r['hetc_ms']:>9.3f} {r['hetc_gflops']:>9.0f} {t:>9} {tg:>9} {ratio:>10}")
    if rows and rows[0]["adapter"]:
        print(f"hetc adapter: {rows[0]['adapter']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.error or torch.name, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
