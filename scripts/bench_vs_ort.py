#!/usr/bin/env python3
"""hetc vs onnxruntime on the shared models, side by side, interleaved, same machine.

For each model and thread count, ROUNDS rounds alternate a hetc child (`hetc bench`) and an
onnxruntime child (all graph optimisations on), each timing RUNS runs after warm-up. The
script prints per-model medians over all timed runs, the hetc/ORT latency ratio, achieved
GFLOP/s and each child's peak resident memory (whole process, and above the process's
baseline before the model was loaded).

Needs: a release build (`cargo build --release -p hetc`), `pip install onnxruntime numpy`,
and the shared models' weights (`python3 ../shared/models/materialize.py`).

Usage: python3 scripts/bench_vs_ort.py [--threads 1,2] [--rounds 5] [--runs 10] [MODEL ...]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# HETC_BIN: a copy of the binary, so that rebuilding during a long run does not change it.
HETC = os.environ.get("HETC_BIN") or os.path.join(ROOT, "target", "release", "hetc")
MODELS = os.path.join(ROOT, "..", "shared", "models")
DEFAULT = ["resnet18", "resnet50", "vgg16", "mobilenet_v2_imagenet", "regnet_x_1_6gf", "yolov2", "tiny_yolov2",
           "fast_style_transfer", "retinaface_mnet025", "posenet_mnv1", "ppocrv4_det", "digits_resnet"]
SHAPES = {"ppocrv4_det": ["x=1x3x640x640"]}

ORT_CHILD = r"""
import json, resource, sys, time
import numpy as np
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import onnxruntime as ort
model, threads, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
shapes = json.loads(sys.argv[5])
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
feeds = {}
for i in sess.get_inputs():
    shape = shapes.get(i.name) or [d if isinstance(d, int) else 1 for d in i.shape]
    feeds[i.name] = rng.uniform(-1, 1, size=shape).astype(np.float32)
for _ in range(warmup):
    sess.run(None, feeds)
times = []
for _ in range(runs):
    t = time.perf_counter(); sess.run(None, feeds); times.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"times": times, "baseline_kb": base}))
"""


def child(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        sys.exit(f"{cmd[0]} failed: {err.decode()[-2000:]}")
    return json.loads(out), usage.ru_maxrss * 1024


def gflop(model_path, shapes):
    out = subprocess.run([HETC, "inspect", "--json", model_path] + sum((["--input-shape", s] for s in shapes), []),
                         check=True, capture_output=True).stdout
    return json.loads(out)["flops"] / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("models", nargs="*")
    args = ap.parse_args()
    names = args.models or DEFAULT
    tmp = tempfile.mkdtemp(prefix="hetc-bench-")
    rows = []
    for name in names:
        path = os.path.join(MODELS, name, "model.onnx")
        shapes = SHAPES.get(name, [])
        plan = os.path.join(tmp, name + ".hplan")
        subprocess.run([HETC, "compile", path, "-o", plan] + sum((["--input-shape", s] for s in shapes), []),
                       check=True, capture_output=True)
        flops = gflop(path, shapes)
        ort_shapes = json.dumps({s.split("=")[0]: [int(d) for d in s.split("=")[1].split("x")] for s in shapes})
        for threads in [int(t) for t in args.threads.split(",")]:
            hetc_times, ort_times, hetc_rss, ort_rss, ort_base = [], [], [], [], []
            for _ in range(args.rounds):
                h, rss = child([HETC, "bench", plan, "--threads", str(threads), "--runs", str(args.runs),
                                "--warmup", "2", "--json", "--all-times"])
                hetc_times += h["times_ms"]
                hetc_rss.append(rss)
                o, rss = child([sys.executable, "-c", ORT_CHILD, path, str(threads), str(args.runs), "2", ort_shapes])
                ort_times += o["times"]
                ort_rss.append(rss)
                ort_base.append(o["baseline_kb"] * 1024)
            hm, om = statistics.median(hetc_times), statistics.median(ort_times)
            rows.append((name, threads, hm, om, hm / om, flops / hm * 1e3, flops / om * 1e3,
                         max(hetc_rss), max(ort_rss), max(ort_rss) - min(ort_base)))
            r = rows[-1]
            print(f"{r[0]:<22}{r[1]:>3}{r[2]:>10.2f}{r[3]:>10.2f}{r[4]:>8.3f}{r[5]:>9.1f}{r[6]:>9.1f}"
                  f"{r[7] / 1e6:>10.1f}{r[8] / 1e6:>10.1f}{r[9] / 1e6:>10.1f}", flush=True)
    print()
    print(f"{'model':<22}{'thr':>3}{'hetc ms':>10}{'ORT ms':>10}{'ratio':>8}{'hetc GF/s':>10}{'ORT GF/s':>9}"
          f"{'hetc MB':>10}{'ORT MB':>10}{'ORT-base':>10}")
    for r in rows:
        print(f"{r[0]:<22}{r[1]:>3}{r[2]:>10.2f}{r[3]:>10.2f}{r[4]:>8.3f}{r[5]:>10.1f}{r[6]:>9.1f}"
              f"{r[7] / 1e6:>10.1f}{r[8] / 1e6:>10.1f}{r[9] / 1e6:>10.1f}")


if __name__ == "__main__":
    main()
