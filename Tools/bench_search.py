#!/usr/bin/env python3
"""radb search (RADBIndex) vs FAISS, side by side on the same data and the same centroids.

    python3 Tools/bench_search.py            # full run, writes the table into BENCHMARKS.md
    python3 Tools/bench_search.py --quick    # small data, prints the table only

Steps: generate the datasets into .data/bench-index/*.npy (seeded), train radb's k-means anchors
once (radb-bench-index train), load them into FAISS's IVF quantiser, then for threads 1 and 2 run
FAISS (IndexFlatL2, IndexIVFFlat) and radb (radb-bench-index search) on the same queries. Recall@k is
measured against FAISS IndexFlatL2 (exact) for both libraries.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import faiss

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, ".data", "bench-index")
BENCH = os.path.join(ROOT, ".build", "release", "radb-bench-index")
K = 10
NPROBES = [1, 4, 16, 64]

# name: (vectors, dimension, anchors, description)
DATASETS = {
    "a": (1_000_000, 128, 1000, "1,000,000 × 128, 1,000 overlapping Gaussian clusters"),
    "b": (200_000, 512, 256, "200,000 × 512, 100 overlapping classes on a 64-d latent space + noise"),
}
QUERIES = 10_000


def generate(name, n, d, rng):
    """Returns (base, queries) float32; queries are drawn from the same mixture, never stored."""
    total = n + QUERIES
    out = np.empty((total, d), dtype=np.float32)
    if name.startswith("a"):
        centres = rng.normal(0.0, 1.0, size=(1000, d)).astype(np.float32)
        for s in range(0, total, 100_000):
            e = min(total, s + 100_000)
            labels = rng.integers(0, 1000, size=e - s)
            out[s:e] = centres[labels] + rng.normal(0.0, 1.0, size=(e - s, d)).astype(np.float32)
    else:
        latent = 64
        centres = rng.normal(0.0, 1.0, size=(100, latent))
        mixing = rng.normal(0.0, 1.0 / np.sqrt(latent), size=(latent, d))
        for s in range(0, total, 50_000):
            e = min(total, s + 50_000)
            labels = rng.integers(0, 100, size=e - s)
            z = centres[labels] + rng.normal(0.0, 1.0, size=(e - s, latent))
            out[s:e] = (z @ mixing + rng.normal(0.0, 0.1, size=(e - s, d))).astype(np.float32)
    return out[:n], out[n:]


def ensure_data(name, n, d, anchors, quick):
    os.makedirs(DATA, exist_ok=True)
    base_path = os.path.join(DATA, f"{name}_base.npy")
    query_path = os.path.join(DATA, f"{name}_queries.npy")
    cent_path = os.path.join(DATA, f"{name}_centroids.npy")
    if not (os.path.exists(base_path) and os.path.exists(query_path)):
        t = time.time()
        base, queries = generate(name, n, d, np.random.default_rng(1234 + ord(name[0])))
        np.save(base_path, base)
        np.save(query_path, queries)
        print(f"[{name}] generated {base.shape} + {queries.shape} in {time.time() - t:.1f}s", file=sys.stderr)
    if not os.path.exists(cent_path):
        out = run_radb(["train", "--base", base_path, "--anchors", str(anchors), "--seed", "7",
                        "--out", cent_path, "--threads", "2"])
        print(f"[{name}] radb k-means: {out[0]}", file=sys.stderr)
    return base_path, query_path, cent_path


def run_radb(args):
    proc = subprocess.run([BENCH] + args, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"radb-bench-index failed: {proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def time_single(index, xq, n):
    for i in range(min(5, n)):
        index.search(xq[i:i + 1], K)
    lat, ids = [], []
    for i in range(n):
        t = time.perf_counter()
        _, I = index.search(xq[i:i + 1], K)
        lat.append(time.perf_counter() - t)
        ids.append(I[0])
    lat = np.sort(np.array(lat))
    return {"qps": n / lat.sum(), "p50_ms": np.percentile(lat, 50) * 1e3, "p99_ms": np.percentile(lat, 99) * 1e3,
            "ids": np.array(ids)}


def time_batch(index, xq, n):
    best, I = float("inf"), None
    for _ in range(3):
        t = time.perf_counter()
        _, I = index.search(xq[:n], K)
        best = min(best, time.perf_counter() - t)
    return {"qps": n / best, "seconds": best, "ids": I}


def recall(found, truth):
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth))
    return hits / (len(truth) * K)


def bench_dataset(name, quick, threads_list, modes):
    n, d, anchors, desc = DATASETS[name]
    if quick:
        n, anchors = n // 20, anchors // 4
        name = name + "-quick"
    base_path, query_path, cent_path = ensure_data(name, n, d, anchors, quick)
    xb = np.load(base_path, mmap_mode="r")
    xq = np.ascontiguousarray(np.load(query_path)[:1000])
    centroids = np.load(cent_path)
    n_single, n_exact_single, n_batch = 1000, 100, 1000

    flat = faiss.IndexFlatL2(d)
    flat.add(np.ascontiguousarray(xb))
    quantizer = faiss.IndexFlatL2(d)
    quantizer.add(centroids)
    ivf = faiss.IndexIVFFlat(quantizer, d, centroids.shape[0])
    ivf.is_trained = True  # radb's anchors are the centroids; no FAISS training
    ivf.add(np.ascontiguousarray(xb))
    truth = None
    rows = []
    for threads in threads_list:
        faiss.omp_set_num_threads(threads)
        res = {}
        res[("faiss", "exact", "single")] = time_single(flat, xq, n_exact_single)
        res[("faiss", "exact", "batch")] = time_batch(flat, xq, n_batch)
        if truth is None:
            truth = res[("faiss", "exact", "batch")]["ids"]
        for p in NPROBES:
            ivf.nprobe = p
            res[("faiss", p, "single")] = time_single(ivf, xq, n_single)
            res[("faiss", p, "batch")] = time_batch(ivf, xq, n_batch)
        active = [m for m in modes if not (threads == 1 and m == "blas")]  # identical to workers at 1 thread
        for mode in active:
            tag = f"{name}_t{threads}_{mode}"
            out = run_radb(["search", "--base", base_path, "--queries", query_path, "--centroids", cent_path,
                            "--threads", str(threads), "--mode", mode, "--k", str(K), "--single", str(n_single),
                            "--exact-single", str(n_exact_single), "--batch", str(n_batch),
                            "--nprobe", ",".join(map(str, NPROBES)), "--out-dir", DATA, "--tag", tag])
            for r in out:
                if r.get("step") != "search":
                    continue
                p = "exact" if r["nprobe"] == "all" else int(r["nprobe"])
                label = "exact" if p == "exact" else f"nprobe{p}"
                r["ids"] = np.load(os.path.join(DATA, f"radb_{tag}_{label}_{r['kind']}.npy"))
                res[(f"radb-{mode}", p, r["kind"])] = r
        for p in ["exact"] + NPROBES:
            f_single, f_batch = res[("faiss", p, "single")], res[("faiss", p, "batch")]
            for mode in active:
                r_single, r_batch = res[(f"radb-{mode}", p, "single")], res[(f"radb-{mode}", p, "batch")]
                rows.append({
                    "data": name, "threads": threads, "mode": mode,
                    "search": "exact (Flat)" if p == "exact" else f"IVF nprobe {p}",
                    "radb_recall": recall(r_batch["ids"], truth), "faiss_recall": recall(f_batch["ids"], truth),
                    "radb_single_qps": r_single["qps"], "faiss_single_qps": f_single["qps"],
                    "radb_p50": r_single["p50_ms"], "radb_p99": r_single["p99_ms"],
                    "faiss_p50": f_single["p50_ms"], "faiss_p99": f_single["p99_ms"],
                    "radb_batch_qps": r_batch["qps"], "faiss_batch_qps": f_batch["qps"],
                    "distances": r_batch.get("distances_per_query", float("nan")),
                    "single_equals_batch": r_batch.get("single_equals_batch"),
                })
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(rows):
    lines = [
        "| data | threads | search | recall@10 radb / faiss | single QPS radb / faiss (×) | "
        "p50 ms radb / faiss | p99 ms radb / faiss | batch-1000 QPS radb / faiss (×) | distances/query |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['threads']} | {r['search']} | {r['radb_recall']:.4f} / {r['faiss_recall']:.4f} | "
            f"{r['radb_single_qps']:,.0f} / {r['faiss_single_qps']:,.0f} "
            f"(**{r['radb_single_qps'] / r['faiss_single_qps']:.2f}×**) | "
            f"{r['radb_p50']:.3f} / {r['faiss_p50']:.3f} | {r['radb_p99']:.3f} / {r['faiss_p99']:.3f} | "
            f"{r['radb_batch_qps']:,.0f} / {r['faiss_batch_qps']:,.0f} "
            f"(**{r['radb_batch_qps'] / r['faiss_batch_qps']:.2f}×**) | {r['distances']:,.0f} |")
    return "\n".join(lines)


def write_section(text):
    path = os.path.join(ROOT, "BENCHMARKS.md")
    with open(path) as f:
        doc = f.read()
    head = "## Search (RADBIndex) vs FAISS\n"
    start = doc.index(head) + len(head)
    end = doc.find("\n## ", start)
    end = len(doc) if end < 0 else end + 1
    doc = doc[:start] + "\n" + text.strip() + "\n\n" + doc[end:]
    with open(path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1/20 of the data, 1/4 of the anchors; print only")
    ap.add_argument("--datasets", default="a,b")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--modes", default="workers", help="radb parallelism: workers (own threads), blas (OpenBLAS threads)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "radb-bench-index"], cwd=ROOT, check=True)
    threads = [int(t) for t in args.threads.split(",")]
    modes = args.modes.split(",")
    rows = []
    for name in args.datasets.split(","):
        rows += bench_dataset(name, args.quick, threads, modes)
    text = table(rows)
    print(text)
    with open(os.path.join(DATA, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
