#!/usr/bin/env python3
"""Side-by-side insert benchmark: radb's VectorStore vs FAISS IndexIVFFlat on the same data.

Runs .build/release/radb-bench-store (build it first with
`swift build -c release --product radb-bench-store`) with --export, then adds the very same
vectors to a FAISS IndexIVFFlat with the same number of lists, in the same batch size:

  * add():       FAISS assigns each vector to its nearest of the centroids, then appends;
  * add_core():  FAISS appends with the partition ids radb was given (no assignment), the
                 like-for-like comparison with radb's insert, which receives its anchor.

FAISS keeps everything in memory (no durability, no metadata); radb writes LMDB + SQLite.
Usage: python3 Tools/bench_store_faiss.py [--n 1000000] [--dim 128] [--batch 10000] [--partitions 1000]
"""
import argparse
import os
import subprocess
import sys
import time

import faiss
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1_000_000)
ap.add_argument("--dim", type=int, default=128)
ap.add_argument("--batch", type=int, default=10_000)
ap.add_argument("--partitions", type=int, default=1000)
ap.add_argument("--export", default="/tmp/radb-store-bench.f32")
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bench = os.path.join(root, ".build", "release", "radb-bench-store")
if not os.path.exists(bench):
    sys.exit(f"{bench} not found: run `swift build -c release --product radb-bench-store` first")

cmd = [bench, "--n", str(args.n), "--dim", str(args.dim), "--batch", str(args.batch),
       "--partitions", str(args.partitions), "--export", args.export]
print("$", " ".join(cmd), flush=True)
radb = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
print(radb, flush=True)


def radb_rate(label):
    for line in radb.splitlines():
        if line.startswith(f"| insert (durable: false), {label}"):
            return float(line.split("→")[1].split("vectors/s")[0].replace("*", "").strip())
    return float("nan")


x = np.fromfile(args.export, dtype=np.float32).reshape(args.n, args.dim)
assign = np.fromfile(args.export + ".assign", dtype=np.int64)
os.remove(args.export)
os.remove(args.export + ".assign")


def cpu():
    return time.process_time()


def run(kind):
    quantizer = faiss.IndexFlatL2(args.dim)
    index = faiss.IndexIVFFlat(quantizer, args.dim, args.partitions)
    # Centroids: the first vector of each partition (training is not what is measured).
    centroids = np.stack([x[np.argmax(assign == p)] for p in range(args.partitions)]).astype(np.float32)
    quantizer.add(centroids)
    index.is_trained = True
    wall = proc = 0.0
    for start in range(0, args.n, args.batch):
        xb = np.ascontiguousarray(x[start:start + args.batch])
        t, c = time.perf_counter(), cpu()
        if kind == "add":
            index.add(xb)
        else:
            ids = np.arange(start, start + len(xb), dtype=np.int64)
            index.add_core(len(xb), faiss.swig_ptr(xb), faiss.swig_ptr(ids),
                           faiss.swig_ptr(np.ascontiguousarray(assign[start:start + len(xb)])))
        wall += time.perf_counter() - t
        proc += cpu() - c
    assert index.ntotal == args.n
    return args.n / wall, args.n / proc


load = os.getloadavg()[0]
add_wall, add_cpu = run("add")
core_wall, core_cpu = run("add_core")
radb_wall, radb_cpu = radb_rate("wall clock"), radb_rate("CPU time")
print(f"FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads, load average {load:.1f}")
print()
print("| insert of the same vectors | wall vectors/s | CPU vectors/s | radb/peer (wall) | radb/peer (CPU) |")
print("|---|---|---|---|---|")
print(f"| radb VectorStore.insert (LMDB + SQLite, durable: false) | {radb_wall:,.0f} | {radb_cpu:,.0f} | 1 | 1 |")
print(f"| FAISS IndexIVFFlat.add (assigns to centroids) | {add_wall:,.0f} | {add_cpu:,.0f} | {radb_wall / add_wall:.2f} | {radb_cpu / add_cpu:.2f} |")
print(f"| FAISS IndexIVFFlat.add_core (given partition ids) | {core_wall:,.0f} | {core_cpu:,.0f} | {radb_wall / core_wall:.2f} | {radb_cpu / core_cpu:.2f} |")
