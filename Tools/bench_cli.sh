#!/usr/bin/env bash
# CLI benchmark: `radb ingest` images/s and peak memory, `radb search` wall time (process start to
# printed results), warm and with a cold page cache. Prints a Markdown table for BENCHMARKS.md.
#   bash Tools/bench_cli.sh            (needs: swift build -c release; bash Tools/unpack-datasets.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
radb=$PWD/.build/release/radb
work=$PWD/.data/bench-cli
rm -rf "$work" && mkdir -p "$work"
tiny=$PWD/.data/tiny-imagenet-200-mini/val
[ -d "$tiny" ] || { echo "run bash Tools/unpack-datasets.sh first" >&2; exit 1; }

measure() {  # measure NAME CMD... -> prints "seconds maxrss_kb"
  local log="$work/$1.time"; shift
  /usr/bin/time -f "%e %M" -o "$log" "$@" > "$work/last.out" 2> "$work/last.err" || true
  cat "$log"
}
cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches: not root?)" >&2; }

echo "| what | items | wall s | items/s | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|"
n=$(find "$tiny" -type f -printf x | wc -c)
read -r s kb < <(measure ingest_tiny "$radb" ingest "$tiny" --db "$work/tiny.db" --json)
printf "| ingest Tiny ImageNet val (64×64 JPEG) | %d | %.1f | %.1f | %.0f |\n" "$n" "$s" "$(echo "$n / $s" | bc -l)" "$(echo "$kb / 1024" | bc -l)"

photos=$work/photos; mkdir -p "$photos"
python3 - "$photos" <<'PY'
import sys, glob, os
from PIL import Image
out = sys.argv[1]
src = sorted(glob.glob('Fixtures/photos/*.jpg') + glob.glob('Fixtures/photos/*.png'))
for i in range(40):   # 40 distinct 12-megapixel JPEGs (4000×3000) made from the sample photos
    im = Image.open(src[i % len(src)]).convert('RGB').resize((4000, 3000), Image.BICUBIC)
    im = im.rotate(i * 0.5)
    im.save(os.path.join(out, f'photo{i:02d}.jpg'), quality=90)
PY
read -r s kb < <(measure ingest_photos "$radb" ingest "$photos" --db "$work/photos.db" --json)
printf "| ingest 12-MP JPEG photos | 40 | %.1f | %.2f | %.0f |\n" "$s" "$(echo "40 / $s" | bc -l)" "$(echo "$kb / 1024" | bc -l)"

q=$(find "$tiny" -type f -print -quit)
"$radb" search "$q" --db "$work/tiny.db" -k 10 > /dev/null
read -r s kb < <(measure search_warm "$radb" search "$q" --db "$work/tiny.db" -k 10)
printf "| search by image, %d-item db, warm | 1 | %.3f | | %.0f |\n" "$n" "$s" "$(echo "$kb / 1024" | bc -l)"
cold
read -r s kb < <(measure search_cold "$radb" search "$q" --db "$work/tiny.db" -k 10)
printf "| search by image, %d-item db, cold cache | 1 | %.3f | | %.0f |\n" "$n" "$s" "$(echo "$kb / 1024" | bc -l)"

# 100,000-item database: the model's own vectors of the Tiny ImageNet val images, jittered ×10,
# imported (no image decoding needed for the database), searched by vector.
"$radb" export "$work/tiny.npy" --db "$work/tiny.db" > /dev/null
python3 - "$work" <<'PY'
import sys, numpy as np
w = sys.argv[1]
x = np.load(f'{w}/tiny.npy')
rng = np.random.default_rng(0)
big = np.concatenate([x + rng.normal(0, 0.05 * x.std(), x.shape).astype(np.float32) for _ in range(10)])[:100000]
np.save(f'{w}/big.npy', big.astype(np.float32))
np.save(f'{w}/q.npy', x[:1])
PY
"$radb" import "$work/big.npy" --db "$work/big.db" > /dev/null
"$radb" search --vectors "$work/q.npy" --db "$work/big.db" -k 10 > /dev/null
read -r s kb < <(measure big_warm "$radb" search --vectors "$work/q.npy" --db "$work/big.db" -k 10)
printf "| search by vector, 100,000-item db, warm | 1 | %.3f | | %.0f |\n" "$s" "$(echo "$kb / 1024" | bc -l)"
cold
read -r s kb < <(measure big_cold "$radb" search --vectors "$work/q.npy" --db "$work/big.db" -k 10)
printf "| search by vector, 100,000-item db, cold cache | 1 | %.3f | | %.0f |\n" "$s" "$(echo "$kb / 1024" | bc -l)"
