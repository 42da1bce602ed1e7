#!/usr/bin/env python3
"""Compile each shared model for the GPU (`--target host --strategy gpu`, or the placement
`--compile-args` gives, such as forced co-execution), run it with `hetc run`
on every test set and compare with the reference outputs (max |out - ref| <= 1e-3 x max(1,
max |ref|)), printing the error, the adapter and the wall time of the run command. For machines
where the Rust tests cannot be built (the device machine): needs numpy and onnx.

    python3 scripts/check_gpu_models.py --hetc target/release/hetc --models ../shared/models [MODEL ...]
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper

SHAPES = {"ppocrv4_det": ["--input-shape", "x=1x3x640x640"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hetc", default="target/release/hetc")
    ap.add_argument("--models", default="../shared/models")
    ap.add_argument("--device", default=None)
    ap.add_argument(
        "--compile-args",
        default="--strategy gpu",
        help="placement arguments of `hetc compile` (default `--strategy gpu`; for forced co-execution "
        "for example `--strategy chain --force-split 0.3,0.6`)",
    )
    ap.add_argument("models_to_run", nargs="*")
    args = ap.parse_args()
    names = args.models_to_run or sorted(
        d for d in os.listdir(args.models) if os.path.isfile(os.path.join(args.models, d, "model.onnx"))
    )
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            d = os.path.join(args.models, name)
            plan = os.path.join(tmp, name + ".hplan")
            r = subprocess.run(
                [args.hetc, "compile", os.path.join(d, "model.onnx"), "--target", "host", "-o", plan]
                + args.compile_args.split()
                + SHAPES.get(name, []),
                capture_output=True, text=True,
            )
            if r.returncode != 0:
                print(f"{name}: FAIL compile: {r.stderr.strip()}", flush=True)
                failures += 1
                continue
            gpu_line = [l for l in r.stdout.splitlines() if l.startswith(("gpu:", "co-execution:"))]
            for s in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
                out = os.path.join(tmp, name + "_out")
                cmd = [args.hetc, "run", plan, "--inputs", s, "--output-dir", out]
                if args.device:
                    cmd += ["--device", args.device]
                t = time.perf_counter()
                r = subprocess.run(cmd, capture_output=True, text=True)
                wall = time.perf_counter() - t
                if r.returncode != 0:
                    print(f"{name} {os.path.basename(s)}: FAIL run: {r.stderr.strip()}", flush=True)
                    failures += 1
                    continue
                m = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
                worst = 0.0
                ok = True
                for k, o in enumerate(m.graph.output):
                    ref = numpy_helper.to_array(onnx.load_tensor(os.path.join(s, f"output_{k}.pb")))
                    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in o.name)
                    got = np.load(os.path.join(out, safe + ".npy"))
                    scale = max(1.0, float(np.abs(ref).max()))
                    err = float(np.abs(got.astype(np.float64) - ref).max()) / scale if got.shape == ref.shape else float("inf")
                    worst = max(worst, err)
                    ok &= err <= 1e-3
                failures += not ok
                print(f"{name} {os.path.basename(s)}: {'ok' if ok else 'FAIL'} max error {worst:.2e} of max(1,max|ref|), "
                      f"run command {wall:.2f} s; {'; '.join(gpu_line)}", flush=True)
    print(f"{len(names)} models, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
