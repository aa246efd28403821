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
# exit (model load included), by /usr/bin/time: wall clock (images/s) and CPU time (user + system,
# all threads: CPU ms per image), the second being far less sensitive to other jobs on a shared
# machine. Prints one line per run and a Markdown table of medians.
#
#   oldmodel   (only with OLD_MODEL=FILE set) this tree's radb with `radb init --model FILE`, e.g. the
#              old commit's built-in model (the 256-d CAM head), to separate the model's cost from
#              the ingest path's
#
# Usage: [OLD_MODEL=FILE] bash Tools/bench_ingest_features.sh OLD_RADB [ROUNDS=5] [N=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bash Tools/bench_ingest_features.sh OLD_RADB [ROUNDS] [N]}
rounds=${2:-5}
n=${3:-2000}
new=${NEW_RADB:-$PWD/.build/release/radb}   # NEW_RADB: a copy, immune to rebuilds meanwhile
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

one() {  # one VARIANT -> prints "images/s cpu-ms-per-image"
  local v=$1 db=$work/$1.db bin=$new flags=()
  rm -rf "$db"
  case $v in old) bin=$old ;; nofeat) flags=(--no-features) ;; oldmodel) flags=(--model "$OLD_MODEL") ;; esac
  "$bin" init --db "$db" "${flags[@]}" > /dev/null
  /usr/bin/time -f "%e %U %S" -o "$work/$v.time" "$bin" ingest "$images" --db "$db" > "$work/$v.out" 2> "$work/$v.err"
  grep -q "added $count," "$work/$v.out" || { echo "$v: unexpected ingest output: $(cat "$work/$v.out")" >&2; exit 1; }
  read -r wall user sys < "$work/$v.time"
  echo "$(echo "$count / $wall" | bc -l) $(echo "1000 * ($user + $sys) / $count" | bc -l)"
}

declare -A ips=() cpu=()
order=(old features nofeat)
[ -n "${OLD_MODEL:-}" ] && order+=(oldmodel)
variants=("${order[@]}")
for r in $(seq 1 "$rounds"); do
  for v in "${order[@]}"; do
    read -r w c < <(one "$v")
    ips[$v]="${ips[$v]:-} $w"
    cpu[$v]="${cpu[$v]:-} $c"
    printf "round %d %-8s %7.1f images/s %7.1f CPU ms/image (load %s)\n" "$r" "$v" "$w" "$c" "$(cut -d' ' -f1 /proc/loadavg)" >&2
  done
  order=("${order[@]:1}" "${order[0]}")   # rotate: every variant runs first, second and third
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
sorted() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{printf "%s%.1f", (NR > 1 ? " · " : ""), $1}'; }
mo=$(echo "${ips[old]}" | median)
co=$(echo "${cpu[old]}" | median)
echo "| variant | images/s (wall), $rounds alternating runs, sorted | median | vs old | CPU ms per image, sorted | median | vs old |"
echo "|---|---|---:|---:|---|---:|---:|"
for v in "${variants[@]}"; do
  m=$(echo "${ips[$v]}" | median)
  c=$(echo "${cpu[$v]}" | median)
  printf "| %s | %s | %.1f | %.3f × | %s | %.1f | %.3f × |\n" "$v" "$(echo "${ips[$v]}" | sorted)" "$m" "$(echo "$m / $mo" | bc -l)" \
    "$(echo "${cpu[$v]}" | sorted)" "$c" "$(echo "$c / $co" | bc -l)"
done
