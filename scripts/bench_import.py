#!/usr/bin/env python3
"""Measures `hetc inspect` import time and peak memory on the shared models.

Each model is imported RUNS times in a fresh process; the script prints the median wall time,
the importer's own timing (`import_seconds`), and the peak resident memory next to the size of
the model's weights. Build first: `cargo build --release -p hetc`.

Usage: python3 scripts/bench_import.py [MODEL ...]   (default: vgg16 resnet50 resnet18)
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HETC = os.path.join(ROOT, "target", "release", "hetc")
MODELS = os.path.join(ROOT, "..", "shared", "models")
RUNS = int(os.environ.get("RUNS", "7"))


def peak_rss_of(cmd):
    """Runs cmd in a child and returns (wall seconds, stdout, peak RSS bytes of that child)."""
    pid_start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - pid_start
    out = proc.stdout.read()
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
    return wall, out, usage.ru_maxrss * 1024


def main():
    names = sys.argv[1:] or ["vgg16", "resnet50", "resnet18"]
    print(f"{'model':<24}{'weights MB':>12}{'wall ms':>10}{'import ms':>11}{'peak RSS MB':>13}{'RSS/weights':>13}")
    for name in names:
        path = os.path.join(MODELS, name, "model.onnx")
        walls, imports, peaks = [], [], []
        stats = None
        for _ in range(RUNS):
            wall, out, peak = peak_rss_of([HETC, "inspect", "--json", path])
            stats = json.loads(out)
            walls.append(wall)
            imports.append(stats["import_seconds"])
            peaks.append(peak)
        weights = stats["parameter_bytes"]
        peak = statistics.median(peaks)
        print(
            f"{name:<24}{weights / 1e6:>12.1f}{statistics.median(walls) * 1e3:>10.1f}"
            f"{statistics.median(imports) * 1e3:>11.1f}{peak / 1e6:>13.1f}{peak / weights:>13.3f}"
        )


if __name__ == "__main__":
    main()
