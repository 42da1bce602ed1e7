#!/usr/bin/env python3
"""What operator fusion does to each shared model: unfused and fused plans side by side.

For each model the script compiles two plans with the release `hetc` (`--fusion none` and
`--fusion egg`), reads their step counts and memory plans (`hetc inspect --json`), then times
both in one run, interleaved: ROUNDS rounds, each running `hetc bench` on the unfused and then
the fused plan (alternating which goes first), RUNS timed runs each after warm-up. It prints
per model:

- IR compute nodes before and after the fusion pass, and plan steps (kernels) before and after;
- bytes of intermediate tensors (every activation in its own buffer: the plan's naive sum),
  before and after; and the arena actually allocated;
- median latency before and after (median over rounds of each round's median), the reduction,
  and the best run of each;
- CPU time per run (user + system of the bench process, over its warm-up and timed runs): with
  `--threads 1` the measure least disturbed by other processes on a loaded machine;
- the fusion pass's own time (median of the compiles).

Timings on a shared machine are noisy: the load average is printed before and after.

Needs a release build (`cargo build --release -p hetc`) and the shared models' weights
(`python3 ../shared/models/materialize.py`).

Usage: python3 scripts/fusion_report.py [--threads 2] [--rounds 5] [--runs 10] [MODEL ...]
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HETC = os.path.join(ROOT, "target", "release", "hetc")
MODELS = os.path.join(ROOT, "..", "shared", "models")
DEFAULT = ["resnet18", "mobilenet_v2_imagenet", "fast_style_transfer", "yolov2"]
ALL = ["digits_resnet", "mobilenet_v2_imagenet", "resnet18", "resnet50", "vgg16", "yolov2", "tiny_yolov2",
       "regnet_x_1_6gf", "fast_style_transfer", "retinaface_mnet025", "posenet_mnv1", "ppocrv4_det"]
SHAPES = {"ppocrv4_det": ["x=1x3x640x640"]}


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)}: {out.stderr.strip()}")
    return out.stdout


def compile_plan(model, fusion, path):
    cmd = [HETC, "compile", os.path.join(MODELS, model, "model.onnx"), "-o", path, "--fusion", fusion,
           "--fusion-report"]
    for s in SHAPES.get(model, []):
        cmd += ["--input-shape", s]
    text = run(cmd)
    report = {}
    m = re.search(r"fusion: (\d+) -> (\d+) nodes", text)
    if m:
        report["nodes_before"], report["nodes_after"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"fusion pass: ([\d.]+) ms", text)
    if m:
        report["pass_ms"] = float(m.group(1))
    return report


def inspect(path):
    return json.loads(run([HETC, "inspect", path, "--json"]))


def bench(path, threads, runs, warmup):
    """Median and best wall time of the timed runs, and the child's CPU time per run (user +
    system over warm-up and timed runs, plan loading included): with one thread that is the
    figure least disturbed by other processes competing for the cores."""
    cmd = [HETC, "bench", path, "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup), "--json"]
    before = children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)}: {err.strip()}")
    per_run = (children_cpu() - before) * 1e3 / (runs + warmup)
    out = json.loads(out)
    return out["median_ms"], out["min_ms"], per_run


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--all", action="store_true", help="every shared model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compiles", type=int, default=3, help="compiles per plan (pass time: their median)")
    ap.add_argument("--no-bench", action="store_true", help="counts and pass times only")
    args = ap.parse_args()
    if not os.path.exists(HETC):
        sys.exit(f"error: {HETC} is missing: run `cargo build --release -p hetc` first")
    models = ALL if args.all else (args.models or DEFAULT)
    print(f"load average before: {loadavg()} ({os.cpu_count()} cores); threads {args.threads}, "
          f"{args.rounds} rounds x {args.runs} runs, interleaved")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            plans = {f: os.path.join(tmp, f"{model}.{f}.hplan") for f in ("none", "egg")}
            compile_plan(model, "none", plans["none"])
            reports = [compile_plan(model, "egg", plans["egg"]) for _ in range(max(1, args.compiles))]
            info = {f: inspect(p) for f, p in plans.items()}
            times = {"none": [], "egg": []}
            if not args.no_bench:
                for r in range(args.rounds):
                    order = ("none", "egg") if r % 2 == 0 else ("egg", "none")
                    for f in order:
                        times[f].append(bench(plans[f], args.threads, args.runs, args.warmup))
            rows.append((model, reports, info, times))
            print(f"  {model} done (load {loadavg()})", file=sys.stderr)
    print()
    print("| model | IR nodes before -> after | kernels before -> after | intermediate MiB before -> after "
          "| arena MiB before -> after | median ms before -> after | reduction | best ms before -> after "
          "| CPU ms/run before -> after | reduction | pass ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    mib = lambda b: b / 1048576
    for model, reports, info, times in rows:
        r = reports[0]
        pass_ms = statistics.median(x["pass_ms"] for x in reports)
        n, e = info["none"], info["egg"]
        if times["none"]:
            tn, te = (statistics.median(t[0] for t in times[f]) for f in ("none", "egg"))
            bn, be = (min(t[1] for t in times[f]) for f in ("none", "egg"))
            cn, ce = (statistics.median(t[2] for t in times[f]) for f in ("none", "egg"))
            lat, red, best = f"{tn:.2f} -> {te:.2f}", f"{(1 - te / tn) * 100:.1f}%", f"{bn:.2f} -> {be:.2f}"
            cpu, cred = f"{cn:.2f} -> {ce:.2f}", f"{(1 - ce / cn) * 100:.1f}%"
        else:
            lat, red, best, cpu, cred = "-", "-", "-", "-", "-"
        print(f"| {model} | {r['nodes_before']} -> {r['nodes_after']} | {n['steps']} -> {e['steps']} "
              f"| {mib(n['naive_bytes']):.2f} -> {mib(e['naive_bytes']):.2f} "
              f"| {mib(n['arena_bytes']):.2f} -> {mib(e['arena_bytes']):.2f} | {lat} | {red} | {best} | {cpu} | {cred} | {pass_ms:.1f} |")
    print()
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
