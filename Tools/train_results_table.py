#!/usr/bin/env python3
"""Runs one column of RESULTS.md "CAM vs baseline losses": every loss with the same budget,
one `radb-bench-train` run each, and prints a markdown row per loss (with its command and
wall time) plus the raw JSON lines.

Usage: python3 Tools/train_results_table.py COLUMN-NAME -- <radb-bench-train args without --loss>
e.g.   python3 Tools/train_results_table.py fmnist -- fmnist --epochs 15 --hidden 512
"""
import json, os, subprocess, sys, time

def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    sep = sys.argv.index("--")
    column, args = sys.argv[1], sys.argv[sep + 1:]
    binary = os.environ.get("RADB_BENCH_TRAIN", ".build/release/radb-bench-train")
    losses = os.environ.get("LOSSES", "cam ce contrastive triplet centre").split()
    rows = []
    for loss in losses:
        cmd = [binary] + [a.replace("{loss}", loss) for a in args] + ["--loss", loss]
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode != 0:
            print(f"| {loss} | failed: {p.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r["column"] = column
        print("JSON " + json.dumps(r), flush=True)
        two = (f"{r['two_stage_mAP']:.3f} / {r['two_stage_recall@100']:.3f} / "
               f"{r['distance_reduction']:.0f}× fewer distances, {r['two_stage_speedup']:.1f}× faster")
        print(f"| {loss} | {r['mAP']:.3f} | {r['P@100']:.3f} | {r['anchor_accuracy']:.3f} | {two} | "
              f"{wall:.0f} s | `{' '.join(cmd).replace(binary, 'radb-bench-train')}` |", flush=True)

if __name__ == "__main__":
    main()
