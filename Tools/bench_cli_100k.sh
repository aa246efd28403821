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
"$radb" search "$q" --db "$db" -k 10 > /dev/null
for i in 1 2 3 4 5; do
  /usr/bin/time -f "%e %M" -o "$work/warm.time" "$radb" search "$q" --db "$db" -k 10 > /dev/null
  cat "$work/warm.time"
done > "$work/warm.all"
printf "| search by image, %d-item db, warm (median of 5; all: %s) | 1 | %s | | %.0f |\n" "$items" \
  "$(cut -d' ' -f1 "$work/warm.all" | tr '\n' ' ' | sed 's/ $//')" "$(cut -d' ' -f1 "$work/warm.all" | median)" \
  "$(echo "$(cut -d' ' -f2 "$work/warm.all" | median) / 1024" | bc -l)"
for i in 1 2 3; do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches)" >&2
  /usr/bin/time -f "%e %M" -o "$work/cold.time" "$radb" search "$q" --db "$db" -k 10 > /dev/null
  cat "$work/cold.time"
done > "$work/cold.all"
printf "| search by image, %d-item db, cold cache (median of 3; all: %s) | 1 | %s | | %.0f |\n" "$items" \
  "$(cut -d' ' -f1 "$work/cold.all" | tr '\n' ' ' | sed 's/ $//')" "$(cut -d' ' -f1 "$work/cold.all" | median)" \
  "$(echo "$(cut -d' ' -f2 "$work/cold.all" | median) / 1024" | bc -l)"
