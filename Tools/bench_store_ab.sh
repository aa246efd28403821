#!/bin/bash
# Alternates two radb-bench-store binaries (e.g. a build of the previous commit and of this
# one) N times with --insert-only, then prints each one's wall-clock insert rates, sorted.
# Alternating runs share the machine's moods (this VM's speed drifts by ±20 % from minute to
# minute), so a median over alternating runs is the fair comparison.
#
#   bash Tools/bench_store_ab.sh BEFORE_BINARY AFTER_BINARY [N=8] [extra radb-bench-store args…]
set -euo pipefail
a=$1; b=$2; n=${3:-8}; shift $(( $# < 3 ? $# : 3 ))
dir=${RADB_BENCH_DIR:-/tmp/radb-bench-store-ab}
rates_a=(); rates_b=()
rate() { "$1" --insert-only --dir "$dir" "${@:2}" | grep -o "wall → [0-9]*" | grep -o "[0-9]*$"; }
for _ in $(seq 1 "$n"); do
  rates_a+=("$(rate "$a" "$@")")
  rates_b+=("$(rate "$b" "$@")")
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A $a: $(printf '%s\n' "${rates_a[@]}" | sort -n | tr '\n' ' ')"
echo "B $b: $(printf '%s\n' "${rates_b[@]}" | sort -n | tr '\n' ' ')"
