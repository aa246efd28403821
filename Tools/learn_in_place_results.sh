#!/usr/bin/env bash
# Learning in place, measured: for each collection, ingest labelled training images, measure the
# database with `radb eval --db` before learning, then `radb learn --loss L` for every loss and
# measure again (each learn trains on the same stored features, so the losses are compared on
# equal terms). Prints one row per (collection, model) for RESULTS.md.
#
#   bash Tools/learn_in_place_results.sh [SCRATCH]        (default SCRATCH: .data/learn-results)
#
# Subsets (the first N files of each class folder, sorted by name):
#   CIFAR-10:       500 train images per class (5,000), 50 test images per class (500 queries)
#   Tiny ImageNet:  50 train images per class (10,000), 5 val images per class (1,000 queries)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
radb=${RADB:-.build/release/radb}
scratch=${1:-.data/learn-results}
mkdir -p "$scratch"

subset() {  # subset SRC DEST PER_CLASS
  local src=$1 dest=$2 n=$3
  [ -d "$dest" ] && return
  for c in "$src"/*/; do
    c=$(basename "$c"); mkdir -p "$dest/$c"
    local files=("$src/$c"/*)   # sorted by name (LC_ALL=C below); no `ls | head` under pipefail
    for f in "${files[@]:0:$n}"; do ln -s "$(realpath "$f")" "$dest/$c/$(basename "$f")"; done
  done
}

row() {  # row COLLECTION MODEL JSON
  python3 -c 'import json,sys; r=json.loads(sys.argv[3]); f=lambda k: "-" if r.get(k) is None else "%.3f" % r[k]
print("| %s | %s | %s | %s | %s | %s |" % (sys.argv[1], sys.argv[2], f("mAP"), f("P@10"), f("P@100"), f("two_stage_mAP")))' "$@"
}

echo "| collection | model | mAP | P@10 | P@100 | two-stage mAP |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "cifar10 .data/cifar10/train .data/cifar10/test 500 50" \
            "tiny-imagenet .data/tiny-imagenet-200-mini/train .data/tiny-imagenet-200-mini/val 50 5"; do
  read -r name train test ntrain ntest <<<"$spec"
  subset "$train" "$scratch/$name-train" "$ntrain"
  subset "$test" "$scratch/$name-test" "$ntest"
  db="$scratch/$name.db"
  rm -rf "$db"
  start=$(date +%s.%N)
  "$radb" ingest --db "$db" --label-from-folder "$scratch/$name-train" --json > "$scratch/$name-ingest.json"
  end=$(date +%s.%N)
  echo "ingest $name: $(python3 -c "print('%.1f s' % ($end - $start))")" >&2
  row "$name" "built-in (before learn)" "$("$radb" eval --db "$db" --queries "$scratch/$name-test" --json)"
  for loss in cam ce center triplet contrastive; do
    "$radb" learn --db "$db" --loss "$loss" --json > "$scratch/$name-learn-$loss.json"
    echo "learn $name $loss: $(cat "$scratch/$name-learn-$loss.json")" >&2
    row "$name" "learn --loss $loss" "$("$radb" eval --db "$db" --queries "$scratch/$name-test" --json)"
  done
  "$radb" stats --db "$db" --json >&2
done

# The expert path it replaces: `radb train` on the same training images (features computed from
# the files), then the trained model measured on the same queries (= init --model + re-ingest).
echo "| collection | model | mAP | P@10 | P@100 | two-stage mAP |"
for name in cifar10 tiny-imagenet; do
  split="$scratch/$name-split"; mkdir -p "$split"
  ln -sfn "$(realpath "$scratch/$name-train")" "$split/train"; ln -sfn "$(realpath "$scratch/$name-test")" "$split/test"
  "$radb" train "$split" --out "$scratch/$name-trained.safetensors" --json > /dev/null
  row "$name" "radb train + re-ingest (cam)" "$("$radb" eval --model "$scratch/$name-trained.safetensors" --database "$split/train" --queries "$split/test" --json)"
done
