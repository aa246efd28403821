#!/usr/bin/env bash
# A/B of two radb release builds on the same data, alternating runs: what a change of build
# settings or code costs end to end. Used for the removal of `-enforce-exclusivity=unchecked`
# (issue 14): OLD = a build of the commit before, NEW = this tree.
#
#   bash Tools/bench_ab_binaries.sh OLD_BUILD_DIR NEW_BUILD_DIR [ROUNDS]
#   e.g. git worktree add /tmp/radb-old a216fd8 && (cd /tmp/radb-old && swift build -c release)
#        bash Tools/bench_ab_binaries.sh /tmp/radb-old/.build/release .build/release 5
#
# Measures CPU time (user + system) of whole commands, each round running OLD then NEW or NEW then
# OLD alternately:
#   ingest   radb ingest of 1,000 Tiny ImageNet JPEGs into a fresh database: images per CPU-second
#   embed    radb embed of 500 of them to a .npy: images per CPU-second
#   routed   radb search --vectors (200 queries, k 10, nprobe 8) on 100,000 × 128 in 300
#            partitions: CPU milliseconds of the command (open included)
#   exact    the same with --exact
#   resize   radb-bench-vision: decode + resize to 224² of the 1,000 JPEGs, 1 thread: images per CPU-s
# Prints each round and the medians, and NEW/OLD of each median.
set -euo pipefail
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); rounds=${3:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/.data/bench-ab
rm -rf "$work"; mkdir -p "$work/images"
tiny=$root/.data/tiny-imagenet-200-mini/train
[ -d "$tiny" ] || { echo "run bash Tools/unpack-datasets.sh first" >&2; exit 1; }
find "$tiny" -type f \( -name '*.JPEG' -o -name '*.jpg' -o -name '*.png' \) | sort > "$work/all.txt"
sed -n '1,1000p' "$work/all.txt" > "$work/list.txt"
i=0; while read -r f; do ln -s "$f" "$work/images/$(printf %05d $i).jpg"; i=$((i + 1)); done < "$work/list.txt"
sed -n '1,500p' "$work/list.txt" > "$work/embed.txt"
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

# CPU seconds (user + system) of one command: on a shared machine wall time swings with the other
# jobs, CPU time much less (it still counts cache and memory contention).
cpu() { /usr/bin/time -f "%U %S" -o "$work/t" "$@" > "$work/out" 2> /dev/null; awk '{print $1 + $2}' "$work/t"; }
run_round() {  # run_round SIDE BIN -> appends "metric value" lines to $work/SIDE.txt
    local side=$1 bin=$2 s
    rm -rf "$work/$side-img.db"
    s=$(cpu "$bin/radb" ingest "$work/images" --db "$work/$side-img.db")
    echo "ingest $(echo "1000 / $s" | bc -l)" >> "$work/$side.txt"
    s=$(cpu xargs "$bin/radb" embed --out "$work/$side-e.npy" < "$work/embed.txt")
    echo "embed $(echo "500 / $s" | bc -l)" >> "$work/$side.txt"
    s=$(cpu "$bin/radb" search --db "$work/$side-vec.db" --vectors "$work/q.npy" -k 10 --nprobe 8 --json)
    echo "routed $(echo "$s * 1000" | bc -l)" >> "$work/$side.txt"
    s=$(cpu "$bin/radb" search --db "$work/$side-vec.db" --vectors "$work/q.npy" -k 10 --exact --json)
    echo "exact $(echo "$s * 1000" | bc -l)" >> "$work/$side.txt"
    if [ -x "$bin/radb-bench-vision" ]; then
        s=$(cpu "$bin/radb-bench-vision" --list "$work/list.txt" --threads 1 --size 224 --repeat 1)
        echo "resize $(echo "1000 / $s" | bc -l)" >> "$work/$side.txt"
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
unit = {"ingest": "images per CPU-s", "embed": "images per CPU-s", "routed": "CPU-ms, 200 queries + open", "exact": "CPU-ms, 200 queries + open", "resize": "images per CPU-s"}
print("| measurement | old (median) | new (median) | new/old | rounds old · new |")
print("|---|---:|---:|---:|---|")
for k in ["ingest", "embed", "routed", "exact", "resize"]:
    if k not in old or k not in new: continue
    a, b = statistics.median(old[k]), statistics.median(new[k])
    rows = " · ".join(f"{v:.1f}" for v in old[k]) + " / " + " · ".join(f"{v:.1f}" for v in new[k])
    print(f"| {k} ({unit[k]}) | {a:.1f} | {b:.1f} | {b / a:.3f} | {rows} |")
PY
