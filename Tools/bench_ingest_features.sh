#!/usr/bin/env bash
# Ingest throughput before and after learning in place (issue 13: at most 5 % slower), BENCHMARKS.md
# "Ingest throughput and the feature store". Three binaries/settings on the same folder, alternating
# (the order rotates every round), each run a fresh database:
#   old        radb of the commit before learning in place (argument 1; build it in a worktree:
#              git worktree add ../wt-old ed84d9a && (cd ../wt-old && swift build -c release --product radb))
#   features   this tree's radb, default database (keeps the F16 backbone features for `radb learn`)
#   nofeat     this tree's radb, `radb init --no-features`
# The folder: the first N/200 training JPEGs (64×64) of each of Tiny ImageNet's 200 classes, copied
# (not linked) to .data/bench-ingest/images. Timed: `radb ingest FOLDER --db DB`, process start to
# exit (model load included), wall clock. Prints one line per run and a Markdown table of medians.
#
# Usage: bash Tools/bench_ingest_features.sh OLD_RADB [ROUNDS=5] [N=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bash Tools/bench_ingest_features.sh OLD_RADB [ROUNDS] [N]}
rounds=${2:-5}
n=${3:-2000}
new=$PWD/.build/release/radb
work=$PWD/.data/bench-ingest
images=$work/images-$n
tin=$PWD/.data/tiny-imagenet-200-mini/train
[ -d "$tin" ] || { echo "run bash Tools/unpack-datasets.sh first" >&2; exit 1; }
if [ ! -d "$images" ]; then
  per=$((n / 200))
  for c in $(ls "$tin" | sort); do
    mkdir -p "$images/$c"
    # `find | sort | head` would end the script under pipefail (SIGPIPE): read the sorted list whole.
    mapfile -t files < <(find "$tin/$c" -type f -name '*.JPEG' | sort)
    cp "${files[@]:0:$per}" "$images/$c/"
  done
fi
count=$(find "$images" -type f | wc -l)
echo "folder: $images ($count files, $(du -sh "$images" | cut -f1)); old: $old ($("$old" --version 2>/dev/null || echo '?'))" >&2
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%H:%M) UTC" >&2

one() {  # one VARIANT -> prints images/s
  local v=$1 db=$work/$1.db bin=$new flags=()
  rm -rf "$db"
  case $v in old) bin=$old ;; nofeat) flags=(--no-features) ;; esac
  "$bin" init --db "$db" "${flags[@]}" > /dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" ingest "$images" --db "$db" > "$work/$v.out" 2> "$work/$v.err"
  t1=$(date +%s.%N)
  grep -q "added $count," "$work/$v.out" || { echo "$v: unexpected ingest output: $(cat "$work/$v.out")" >&2; exit 1; }
  echo "$count / ($t1 - $t0)" | bc -l
}

declare -A runs=([old]="" [features]="" [nofeat]="")
order=(old features nofeat)
for r in $(seq 1 "$rounds"); do
  for v in "${order[@]}"; do
    ips=$(one "$v")
    runs[$v]="${runs[$v]} $ips"
    printf "round %d %-8s %7.1f images/s (load %s)\n" "$r" "$v" "$ips" "$(cut -d' ' -f1 /proc/loadavg)" >&2
  done
  order=("${order[@]:1}" "${order[0]}")   # rotate: every variant runs first, second and third
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(echo "${runs[old]}" | median)
echo "| variant | images/s, $rounds alternating runs, sorted | median | vs old |"
echo "|---|---|---:|---:|"
for v in old features nofeat; do
  sorted=$(echo "${runs[$v]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{printf "%s%.1f", (NR > 1 ? " · " : ""), $1}')
  m=$(echo "${runs[$v]}" | median)
  printf "| %s | %s | %.1f | %.3f × |\n" "$v" "$sorted" "$m" "$(echo "$m / $mo" | bc -l)"
done
