#!/usr/bin/env python3
"""MobileNetV2 1.0 224 forward throughput, side by side on this machine (issue 4):

  radb     — radb-bench-neural (RADBNeural, float32, converted weights; engine lanes, BLAS 1 thread)
  xnnpack  — ai-edge-litert with the XNNPACK delegate on the original uint8 TFLite file
             (batch B = B invokes: the file's constant Reshape pins the batch to 1)
  pytorch  — torchvision mobilenet_v2 (random weights), float32, eval, no_grad; run twice, with
             the default OpenMP wait policy and with OMP_WAIT_POLICY=PASSIVE (spinning OpenMP
             workers collapse when other processes share the cores); the better one is the ratio's base

for batch 1 and 32 at 1 and 2 threads. Each (batch, threads) cell runs the three back to back so
they see the same machine load. Reports images/s (median per-call time) and ratios.

Usage:  swift build -c release --product radb-bench-neural
        python3 Tools/bench_inference.py [--seconds 5] [--batches 1,32] [--threads 1,2]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFLITE = os.path.join(ROOT, "..", "shared", "models", "imagenet-mobilenet", "mobilenet_v2_1.0_224_quant.tflite")


def median_seconds(fn, seconds):
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def bench_radb(batch, threads, seconds):
    exe = os.path.join(ROOT, ".build", "release", "radb-bench-neural")
    out = subprocess.run([exe, "--batches", str(batch), "--threads", str(threads), "--modes", "engine",
                          "--seconds", str(seconds), "--json"], capture_output=True, text=True, check=True).stdout
    rows = json.loads(out.strip().splitlines()[-1])
    return rows[0]["images_per_s"], rows[0]["sgemm_peak_gflops"]


def bench_torch(batch, threads, seconds, passive=False):
    """In a fresh interpreter, so OMP_WAIT_POLICY takes effect (it is read when torch loads)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE") if passive else dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None) if not passive else None
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-only", str(batch), str(threads), str(seconds)],
                         capture_output=True, text=True, check=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


def torch_only(batch, threads, seconds):
    import torch
    import torchvision
    torch.set_num_threads(threads)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        t = median_seconds(lambda: model(x), seconds)
    return batch / t


def bench_xnnpack(batch, threads, seconds):
    from ai_edge_litert.interpreter import Interpreter
    # The file's final RESHAPE has a constant [1, 1001] shape, so the interpreter cannot be resized
    # to a larger batch: batch B is B back-to-back invokes, which is how this model is served.
    it = Interpreter(model_path=TFLITE, num_threads=threads)
    inp = it.get_input_details()[0]["index"]
    it.allocate_tensors()
    images = np.random.randint(0, 256, (batch, 1, 224, 224, 3), dtype=np.uint8)

    def run():
        for image in images:
            it.set_tensor(inp, image)
            it.invoke()
    t = median_seconds(run, seconds)
    return batch / t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--torch-only", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_only:
        b, t, sec = args.torch_only
        print(torch_only(int(b), int(t), float(sec)))
        return
    print(f"load average at start: {os.getloadavg()}")
    print("| batch | threads | radb img/s | PyTorch fp32 img/s | PyTorch, OMP passive | XNNPACK uint8 img/s | radb / best PyTorch | radb / XNNPACK | radb GFLOP/s | sgemm peak GFLOP/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in [int(b) for b in args.batches.split(",")]:
        for threads in [int(t) for t in args.threads.split(",")]:
            radb, peak = bench_radb(batch, threads, args.seconds)
            torch_ips = bench_torch(batch, threads, args.seconds)
            torch_passive = bench_torch(batch, threads, args.seconds, passive=True)
            xnn = bench_xnnpack(batch, threads, args.seconds)
            gflops = radb * 0.6016  # 2 × 300.8 M multiply-adds per image (radb-bench-neural prints the count)
            print(f"| {batch} | {threads} | {radb:.1f} | {torch_ips:.1f} | {torch_passive:.1f} | {xnn:.1f} | "
                  f"{radb / max(torch_ips, torch_passive):.2f}× | {radb / xnn:.2f}× | {gflops:.1f} | {peak:.1f} |", flush=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
