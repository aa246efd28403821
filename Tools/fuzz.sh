#!/usr/bin/env bash
# Builds radb's libFuzzer targets and runs each for a while, keeping the corpus and any crash.
#
#   Tools/fuzz.sh [--minutes N | --seconds N] [--debug] [--no-build] [target…]
#
# Targets (default: all): image safetensors npy filter jsonl — see RELIABILITY.md for what each
# one drives. Each runs for N minutes (default 5); they run one after another. --debug builds
# without optimisation: it compiles in about half the time (the CI smoke, .ci/run) and checks
# unsafe-buffer bounds, but executes several times slower.
#
# Build: `RADB_FUZZ=1 swift build -c release --scratch-path .build/fuzz -Xswiftc
# -sanitize=fuzzer,address --product fuzz-<target>`. The fuzz targets exist in Package.swift only
# when RADB_FUZZ is set, and the sanitizer flags are given here, so the normal build is untouched.
# RADB_FUZZ_SANITIZERS overrides the sanitizer list (e.g. `fuzzer` alone builds faster).
#
# Files (RADB_FUZZ_DIR, default .fuzz/ in the repository, ignored by git):
#   corpus/<target>/   inputs libFuzzer found interesting (grows run after run)
#   seeds/<target>/    seeds, refreshed from Fixtures on every run (read-only to libFuzzer)
#   crashes/<target>/  crash-*, timeout-*, oom-*, slow-unit-* inputs (replay: .build/fuzz/release/fuzz-<target> FILE)
#   logs/<target>.log  the last run's libFuzzer output
# Seeds: Fixtures/images/* for the image decoders; Fixtures/fuzz/<target>/* for the others; plus
# every committed regression input in Fixtures/fuzz/regressions/<target>/.
#
# Prints one table row per target (executions, exec/s, seconds, findings) and exits 1 if any
# target found a crash, a timeout or an out-of-memory input.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(image safetensors npy filter jsonl)
seconds=300
build=1
config=release
targets=()
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) seconds=$(awk "BEGIN { printf \"%d\", $2 * 60 }"); shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --debug) config=debug; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *)
            case " ${ALL_TARGETS[*]} " in
                *" $1 "*) targets+=("$1") ;;
                *) echo "fuzz.sh: unknown target '$1' (targets: ${ALL_TARGETS[*]})" >&2; exit 2 ;;
            esac
            shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

root=$(pwd)
dir=${RADB_FUZZ_DIR:-$root/.fuzz}
scratch=$root/.build/fuzz
sanitizers=${RADB_FUZZ_SANITIZERS:-fuzzer,address}

if [ "$build" = 1 ]; then
    for t in "${targets[@]}"; do
        echo "== building fuzz-$t ($config, -sanitize=$sanitizers)" >&2
        start=$(date +%s)
        RADB_FUZZ=1 swift build -c "$config" --scratch-path "$scratch" -Xswiftc "-sanitize=$sanitizers" \
            --product "fuzz-$t" >&2
        echo "   built in $(( $(date +%s) - start )) s" >&2
    done
fi

# Swift's runtime and Foundation keep caches for the life of the process: not leaks worth a report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0}
# libFuzzer reports the crash and saves the input; Swift's backtracer would race it (and trip ASan).
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

found=0
printf '| target | executions | exec/s | seconds | findings | corpus | date |\n|---|---:|---:|---:|---|---:|---|\n'
for t in "${targets[@]}"; do
    bin=$scratch/$config/fuzz-$t
    [ -x "$bin" ] || { echo "fuzz.sh: $bin is missing; run without --no-build" >&2; exit 2; }
    mkdir -p "$dir/corpus/$t" "$dir/crashes/$t" "$dir/logs"
    rm -rf "$dir/seeds/$t"; mkdir -p "$dir/seeds/$t"
    case "$t" in
        image) cp Fixtures/images/* "$dir/seeds/$t/" ;;
        *) cp Fixtures/fuzz/"$t"/* "$dir/seeds/$t/" ;;
    esac
    if [ -d "Fixtures/fuzz/regressions/$t" ]; then cp Fixtures/fuzz/regressions/"$t"/* "$dir/seeds/$t/"; fi
    options=(-max_total_time="$seconds" -print_final_stats=1 -close_fd_mask=1
             -artifact_prefix="$dir/crashes/$t/")
    case "$t" in
        # One picture may legitimately decode to 1 GiB (the ingest budget) and take seconds under ASan.
        image) options+=(-max_len=65536 -rss_limit_mb=4096 -timeout=30) ;;
        safetensors) options+=(-max_len=16384 -timeout=10) ;;
        *) options+=(-max_len=4096 -timeout=10) ;;
    esac
    [ -f "Fixtures/fuzz/$t.dict" ] && options+=(-dict="Fixtures/fuzz/$t.dict")
    before=$(ls "$dir/crashes/$t" | wc -l)
    log=$dir/logs/$t.log
    status=0
    started=$(date +%s)
    "$bin" "${options[@]}" "$dir/corpus/$t" "$dir/seeds/$t" > "$log" 2>&1 || status=$?
    after=$(ls "$dir/crashes/$t" | wc -l)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    took=$(( $(date +%s) - started ))
    if [ "$status" != 0 ] || [ "$after" -gt "$before" ]; then
        found=1
        what=$(grep -m1 -E '^==[0-9]+==ERROR|Fatal error|deadly signal|ALARM|out-of-memory|Test unit written' "$log" | cut -c1-90 || true)
        findings="exit $status, $(( after - before )) new input(s): ${what:-see $log}"
    else
        findings="none"
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "${runs:-?}" "${rate:-?}" "$took" "$findings" \
        "$(ls "$dir/corpus/$t" | wc -l)" "$(date -u +%Y-%m-%d)"
done
[ "$found" = 0 ] || { echo "fuzz.sh: findings above; inputs in $dir/crashes, logs in $dir/logs" >&2; exit 1; }
