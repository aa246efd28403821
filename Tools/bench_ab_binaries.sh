#!/usr/bin/env bash
# A/B of two radb release builds on the same data, alternating runs: what a change of build
# settings or code costs end to end. Used for the removal of `-enforce-exclusivity=unchecked`
# (issue 14): OLD = a build of the commit before, NEW = this tree.
#
#   bash Tools/bench_ab_binaries.sh OLD_BUILD_DIR NEW_BUILD_DIR [ROUNDS]
#   e.g. git worktree add /tmp/radb-old a216fd8 && (cd /tmp/radb-old && swift build -c release)
#        bash Tools/bench_ab_binaries.sh /tmp/radb-old/.build/release .build/release 5
#
# Measures (each round runs OLD then NEW, or NEW then OLD, alternately):
#   ingest   radb ingest of 2,000 Tiny ImageNet JPEGs into a fresh database: images/s
#   embed    radb embed of 500 of them to a .npy: images/s
#   routed   radb search --vectors (200 queries, k 10, nprobe 8) on 100,000 × 128 in 300
#            partitions: the command's query_ms
#   exact    the same with --exact
#   resize   radb-bench-vision: decode + resize to 224² of the 2,000 JPEGs, 1 thread: images/s
# Prints each round and the medians, and NEW/OLD of each median.
set -euo pipefail
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); rounds=${3:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/.data/bench-ab
rm -rf "$work"; mkdir -p "$work/images"
tiny=$root/.data/tiny-imagenet-200-mini/train
[ -d "$tiny" ] || { echo "run bash Tools/unpack-datasets.sh first" >&2; exit 1; }
find "$tiny" -type f \( -name '*.JPEG' -o -name '*.jpg' -o -name '*.png' \) | sort | head -n 2000 > "$work/list.txt"
i=0; while read -r f; do ln -s "$f" "$work/images/$(printf %05d $i).jpg"; i=$((i + 1)); done < "$work/list.txt"
head -n 500 "$work/list.txt" > "$work/embed.txt"
python3 - "$work" <<'PY'
import sys, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(7)
centres = rng.normal(0, 0.6, (300, 128)).astype(np.float32)
x = centres[rng.integers(0, 300, 100_000)] + rng.normal(0, 1, (100_000, 128)).astype(np.float32)
np.save(f"{w}/x.npy", x.astype(np.float32))
np.save(f"{w}/q.npy", x[rng.integers(0, 100_000, 200)] + rng.normal(0, 0.1, (200, 128)).astype(np.float32))
PY
for side in old new; do
    bin=$([ $side = old ] && echo "$old" || echo "$new")
    "$bin/radb" import --db "$work/$side-vec.db" "$work/x.npy" --anchors 300 > /dev/null
done

now() { date +%s.%N; }
run_round() {  # run_round SIDE BIN -> appends "metric value" lines to $work/SIDE.txt
    local side=$1 bin=$2 t0 t1
    rm -rf "$work/$side-img.db"
    t0=$(now); "$bin/radb" ingest "$work/images" --db "$work/$side-img.db" > /dev/null; t1=$(now)
    echo "ingest $(echo "2000 / ($t1 - $t0)" | bc -l)" >> "$work/$side.txt"
    t0=$(now); xargs "$bin/radb" embed --output "$work/$side-e.npy" < "$work/embed.txt" > /dev/null; t1=$(now)
    echo "embed $(echo "500 / ($t1 - $t0)" | bc -l)" >> "$work/$side.txt"
    for mode in routed exact; do
        flags=$([ $mode = routed ] && echo "--nprobe 8" || echo "--exact")
        ms=$("$bin/radb" search --db "$work/$side-vec.db" --vectors "$work/q.npy" -k 10 $flags --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["query_ms"])')
        echo "$mode $ms" >> "$work/$side.txt"
    done
    if [ -x "$bin/radb-bench-vision" ]; then
        out=$("$bin/radb-bench-vision" --list "$work/list.txt" --threads 1 --size 224 --repeat 1 2>&1 | grep -Eo 'images_per_s=[0-9.]+' | head -n 1 | cut -d= -f2 || true)
        [ -n "$out" ] && echo "resize $out" >> "$work/$side.txt"
    fi
}
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then run_round old "$old"; run_round new "$new"; else run_round new "$new"; run_round old "$old"; fi
    echo "round $r done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
python3 - "$work" <<'PY'
import sys, statistics, collections
w = sys.argv[1]
def load(side):
    d = collections.defaultdict(list)
    for line in open(f"{w}/{side}.txt"):
        k, v = line.split(); d[k].append(float(v))
    return d
old, new = load("old"), load("new")
unit = {"ingest": "images/s", "embed": "images/s", "routed": "ms", "exact": "ms", "resize": "images/s"}
print("| measurement | old (median) | new (median) | new/old | rounds old · new |")
print("|---|---:|---:|---:|---|")
for k in ["ingest", "embed", "routed", "exact", "resize"]:
    if k not in old or k not in new: continue
    a, b = statistics.median(old[k]), statistics.median(new[k])
    rows = " · ".join(f"{v:.1f}" for v in old[k]) + " / " + " · ".join(f"{v:.1f}" for v in new[k])
    print(f"| {k} ({unit[k]}) | {a:.1f} | {b:.1f} | {b / a:.3f} | {rows} |")
PY
