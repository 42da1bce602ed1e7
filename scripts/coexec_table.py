#!/usr/bin/env python3
"""Issue 7's table: for each shared model, the measured latency of the CPU-only, GPU-only,
predicted co-execution (`chain`) and measured-auto plans for `--target host`, with the
predicted latency next to each, and, where the chain plan split ops, a sweep of the GPU share
(`--split-share`) showing how far the chosen shares are from the best measured one.

All plans of one model are timed in the same rounds, interleaved (`hetc bench --all-times`
pooled over rounds), so machine noise hits them alike; medians are quoted.

    python3 scripts/coexec_table.py --hetc target/release/hetc --models ../shared/models \
        [--rounds 3] [--runs 5] [--threads 0] [--sweep 0.1,0.3,0.5,0.7,0.9] [MODEL ...]
"""

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = {"ppocrv4_det": ["--input-shape", "x=1x3x640x640"]}
PREDICTED = re.compile(r"predicted latency: ([0-9.]+) ms")
SPLIT = re.compile(r"co-execution: (\d+) ops split \((\d+) by height, (\d+) by channels\)")
CHOSE = re.compile(r"auto: .*chose (\w+)")


def compile_plan(hetc, model, plan, strategy, extra):
    cmd = [hetc, "compile", model, "--target", "host", "--strategy", strategy, "-o", plan] + extra
    start = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    out = r.stdout
    pred = PREDICTED.findall(out)
    split = SPLIT.search(out)
    chose = CHOSE.search(out)
    return {
        "predicted_ms": float(pred[-1]) if pred else None,
        "split": split.group(0) if split else None,
        "split_ops": int(split.group(1)) if split else 0,
        "chose": chose.group(1) if chose else None,
        "compile_s": time.time() - start,
    }


def bench(hetc, plan, runs, threads, warmup=1):
    cmd = [hetc, "bench", plan, "--runs", str(runs), "--warmup", str(warmup), "--json", "--all-times"]
    if threads:
        cmd += ["--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"bench {plan}: {r.stderr.strip()}")
    d = json.loads(r.stdout)
    return d.get("times_ms") or [d["median_ms"]]


def fmt(x):
    return "-" if x is None else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hetc", default="target/release/hetc")
    ap.add_argument("--models", default="../shared/models")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--measure-runs", type=int, default=5)
    ap.add_argument("--sweep", default="0.1,0.3,0.5,0.7,0.9")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument(
        "--drop-factor",
        type=float,
        default=3.0,
        help="a plan whose single probe run takes this many times the CPU plan's is not timed further "
        "(its probe is its time): a software GPU can take minutes per run",
    )
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument(
        "--compile-args", default="", help="extra `hetc compile` arguments for every plan, e.g. `--profile P`"
    )
    ap.add_argument("models_to_run", nargs="*")
    args = ap.parse_args()
    names = args.models_to_run or sorted(
        d for d in os.listdir(args.models) if os.path.isfile(os.path.join(args.models, d, "model.onnx"))
    )
    shares = [float(s) for s in args.sweep.split(",") if s]
    rows = []
    print(
        f"{'model':<22} {'cpu ms':>8} {'gpu ms':>8} {'chain ms':>9} {'auto ms':>8} {'auto/best1':>10}"
        f"  {'pred cpu/gpu/chain':>20}  auto chose; chain split; sweep best share (chosen/best)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = os.path.join(args.models, name, "model.onnx")
            extra = SHAPES.get(name, []) + args.compile_args.split()
            plans, info = {}, {}
            try:
                for kind in ["cpu", "gpu", "chain"]:
                    plans[kind] = os.path.join(tmp, f"{name}.{kind}.hplan")
                    info[kind] = compile_plan(args.hetc, model, plans[kind], kind, extra)
                plans["auto"] = os.path.join(tmp, f"{name}.auto.hplan")
                info["auto"] = compile_plan(
                    args.hetc, model, plans["auto"], "auto", extra + ["--measure-runs", str(args.measure_runs)]
                )
                if info["chain"]["split_ops"] and not args.no_sweep:
                    for s in shares:
                        k = f"share{s}"
                        plans[k] = os.path.join(tmp, f"{name}.{k}.hplan")
                        info[k] = compile_plan(args.hetc, model, plans[k], "chain", extra + ["--split-share", str(s)])
                times = {k: [] for k in plans}
                probe = {k: bench(args.hetc, p, 1, args.threads, warmup=0)[0] for k, p in plans.items()}
                dropped = {k for k in plans if probe[k] > args.drop_factor * probe["cpu"]}
                for k in dropped:
                    times[k] = [probe[k]]
                for _ in range(args.rounds):
                    for k, p in plans.items():
                        if k not in dropped:
                            times[k] += bench(args.hetc, p, args.runs, args.threads)
            except RuntimeError as e:
                print(f"{name:<22} FAILED: {e}", flush=True)
                rows.append({"model": name, "error": str(e)})
                continue
            med = {k: statistics.median(v) for k, v in times.items()}
            # The plan auto chose is byte for byte one of the others: say which, since their
            # medians differ only by noise.
            digest = {k: hashlib.sha256(open(p, "rb").read()).hexdigest() for k, p in plans.items()}
            same = [k for k in ["cpu", "gpu", "chain"] if digest[k] == digest["auto"]]
            best1 = min(med["cpu"], med["gpu"])
            sweep = ""
            sweep_keys = [k for k in med if k.startswith("share")]
            if sweep_keys:
                best_k = min(sweep_keys + ["chain"], key=lambda k: med[k])
                best = med[best_k]
                label = "chosen" if best_k == "chain" else best_k[5:]
                sweep = f"best {label} {best:.2f} ms, chosen/best {med['chain'] / best:.3f}"
            pred = "/".join(fmt(info[k]["predicted_ms"]) for k in ["cpu", "gpu", "chain"])
            print(
                f"{name:<22} {med['cpu']:>8.2f} {med['gpu']:>8.2f} {med['chain']:>9.2f} {med['auto']:>8.2f}"
                f" {med['auto'] / best1:>10.3f}  {pred:>20}  {info['auto']['chose']}"
                f"{' (same plan as ' + '/'.join(same) + ')' if same else ''}; "
                f"{info['chain']['split'] or 'no split'}; {sweep}",
                flush=True,
            )
            if dropped:
                print(f"{'':<22} one run only (over {args.drop_factor}x the CPU plan): {', '.join(sorted(dropped))}")
            rows.append({"model": name, "median_ms": med, "info": info, "one_run": sorted(dropped), "auto_same_as": same})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
