#!/usr/bin/env bash
# `radb search IMAGE` wall time on a real 100,000-image database: ingests CIFAR-10 (60,000) and the
# Tiny ImageNet train + val images (40,000) with the default model, then times searches by image,
# warm and with a cold page cache. Prints Markdown rows for BENCHMARKS.md.
#   bash Tools/bench_cli_100k.sh     (needs: swift build -c release; bash Tools/unpack-datasets.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
radb=$PWD/.build/release/radb
work=$PWD/.data/bench-100k
mkdir -p "$work"
db=$work/radb.db
start=$(date +%s)
"$radb" ingest .data/cifar10 .data/tiny-imagenet-200-mini --db "$db" --json > "$work/ingest.json" || true
end=$(date +%s)
items=$("$radb" stats --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])')
printf "| ingest CIFAR-10 + Tiny ImageNet (32–64 px JPEG) | %d | %d | %.1f | |\n" "$items" "$((end - start))" "$(echo "$items / ($end - $start)" | bc -l)"
q=$(find .data/tiny-imagenet-200-mini/val -type f -print -quit)
"$radb" search "$q" --db "$db" -k 10 > /dev/null
/usr/bin/time -f "%e %M" -o "$work/warm.time" "$radb" search "$q" --db "$db" -k 10 > /dev/null
read -r s kb < "$work/warm.time"
printf "| search by image, %d-item db, warm | 1 | %.3f | | %.0f |\n" "$items" "$s" "$(echo "$kb / 1024" | bc -l)"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches)" >&2
/usr/bin/time -f "%e %M" -o "$work/cold.time" "$radb" search "$q" --db "$db" -k 10 > /dev/null
read -r s kb < "$work/cold.time"
printf "| search by image, %d-item db, cold cache | 1 | %.3f | | %.0f |\n" "$items" "$s" "$(echo "$kb / 1024" | bc -l)"
