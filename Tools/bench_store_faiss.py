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
                                         [--rounds 1]

With --rounds R > 1, R − 1 more radb inserts (`radb-bench-store --insert-only`, same data: the
vectors are a pure function of the seed) alternate with R − 1 more FAISS add() runs, and the
table reports each side's median and all rounds: this VM's speed drifts by ±20 % from minute to
minute, so a single pair can land on different sides of a drift.
"""
import statistics
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
ap.add_argument("--rounds", type=int, default=1)
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


def radb_insert_only():
    """One more radb insert of the same data; (wall, CPU) vectors/s from its one-line report."""
    out = subprocess.run([bench, "--n", str(args.n), "--dim", str(args.dim), "--batch", str(args.batch),
                          "--partitions", str(args.partitions), "--insert-only"],
                         check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("insert:"))
    print(line, flush=True)
    wall = float(line.split("wall → ")[1].split(" ")[0])
    proc = float(line.split("CPU ")[1].split("→ ")[1].split(" ")[0])
    return wall, proc


load = os.getloadavg()[0]
radb_rounds = [(radb_rate("wall clock"), radb_rate("CPU time"))]
add_rounds = [run("add")]
core_wall, core_cpu = run("add_core")
for _ in range(args.rounds - 1):
    radb_rounds.append(radb_insert_only())
    add_rounds.append(run("add"))
radb_wall, radb_cpu = (statistics.median(r[i] for r in radb_rounds) for i in (0, 1))
add_wall, add_cpu = (statistics.median(r[i] for r in add_rounds) for i in (0, 1))
print(f"FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads, load average {load:.1f} → {os.getloadavg()[0]:.1f}")
print()
median = "median of " + str(args.rounds) + " " if args.rounds > 1 else ""
print(f"| insert of the same vectors | {median}wall vectors/s | {median}CPU vectors/s | radb/peer (wall) | radb/peer (CPU) |")
print("|---|---|---|---|---|")
print(f"| radb VectorStore.insert (LMDB + SQLite, durable: false) | {radb_wall:,.0f} | {radb_cpu:,.0f} | 1 | 1 |")
print(f"| FAISS IndexIVFFlat.add (assigns to centroids) | {add_wall:,.0f} | {add_cpu:,.0f} | {radb_wall / add_wall:.2f} | {radb_cpu / add_cpu:.2f} |")
print(f"| FAISS IndexIVFFlat.add_core (given partition ids, one round) | {core_wall:,.0f} | {core_cpu:,.0f} | {radb_wall / core_wall:.2f} | {radb_cpu / core_cpu:.2f} |")
if args.rounds > 1:
    print()
    print("radb wall rounds:  " + ", ".join(f"{w:,.0f}" for w, _ in radb_rounds))
    print("FAISS add rounds:  " + ", ".join(f"{w:,.0f}" for w, _ in add_rounds))
