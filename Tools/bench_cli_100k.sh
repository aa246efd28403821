#!/usr/bin/env bash
# `radb search IMAGE` wall time on a real 100,000-image database: ingests CIFAR-10 (60,000) and the
# Tiny ImageNet train + val images (40,000) with the default model, then times searches by image
# (process start to printed results), median of 5 warm runs and of 3 runs with a cold page cache.
# Prints Markdown rows for BENCHMARKS.md.
#   bash Tools/bench_cli_100k.sh                 (needs: swift build -c release; bash Tools/unpack-datasets.sh)
#   SKIP_INGEST=1 bash Tools/bench_cli_100k.sh   (reuse the database of an earlier run)
set -euo pipefail
cd "$(dirname "$0")/.."
radb=$PWD/.build/release/radb
work=$PWD/.data/bench-100k
mkdir -p "$work"
db=$work/radb.db
if [ -z "${SKIP_INGEST:-}" ]; then
  start=$(date +%s)
  "$radb" ingest .data/cifar10 .data/tiny-imagenet-200-mini --db "$db" --json > "$work/ingest.json" || true
  end=$(date +%s)
fi
items=$("$radb" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])')
if [ -z "${SKIP_INGEST:-}" ]; then
  printf "| ingest CIFAR-10 + Tiny ImageNet (32–64 px JPEG) | %d | %d | %.1f | |\n" "$items" "$((end - start))" "$(echo "$items / ($end - $start)" | bc -l)"
fi
q=$(find .data/tiny-imagenet-200-mini/val -type f -print -quit)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timed_searches NAME RUNS [cold]: times RUNS searches into $work/NAME.all ("seconds KB" lines),
# dropping the page cache before each when "cold" is given.
timed_searches() {
  for i in $(seq "$2"); do
    if [ "${3:-}" = cold ]; then sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches)" >&2; fi
    /usr/bin/time -f "%e %M" -o "$work/$1.time" "$radb" search "$q" --db "$db" -k 10 > /dev/null
    cat "$work/$1.time"
  done > "$work/$1.all"
}
# report_row LABEL NAME: one table row with the median time and memory of $work/NAME.all.
report_row() {
  printf "| search by image, %d-item db, %s (median of %d; all: %s) | 1 | %s | | %.0f |\n" "$items" "$1" \
    "$(wc -l < "$work/$2.all")" "$(cut -d' ' -f1 "$work/$2.all" | tr '\n' ' ' | sed 's/ $//')" \
    "$(cut -d' ' -f1 "$work/$2.all" | median)" "$(echo "$(cut -d' ' -f2 "$work/$2.all" | median) / 1024" | bc -l)"
}
"$radb" search "$q" --db "$db" -k 10 > /dev/null
timed_searches warm 5
report_row warm warm
timed_searches cold 3 cold
report_row "cold cache" cold
