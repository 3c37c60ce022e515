#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang (ASan + UBSan) and run each for FUZZ_SECONDS
# (default 60). Seeds are cut from tests/fixtures at run time (fuzz/seeds.py); the growing
# corpus lives in the build folder, never in git. Inputs in fuzz/regressions/<harness>/ are
# replayed first. Exits non-zero when any harness crashes, leaks, times out or breaks an
# invariant; the input is left in <build>/artifacts/<harness>/.
#
# usage: fuzz/run.sh [fuzz_report_parse ...]      (no names: every fuzz/fuzz_*.c)
# env:   FUZZ_SECONDS, FUZZ_BUILD (default build-fuzz), PINWATCH_FIXTURES_DIR, JOBS
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-$root/build-fuzz}
fixtures=${PINWATCH_FIXTURES_DIR:-$root/tests/fixtures}

command -v clang >/dev/null || { echo "fuzz: clang is not installed (make fuzz installs it)" >&2; exit 2; }
mkdir -p "$build"
if ! { cmake -S "$root/fuzz" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug &&
       cmake --build "$build" -j "${JOBS:-2}"; } >"$build/build.log" 2>&1; then
    cat "$build/build.log" >&2
    echo "fuzz: build failed" >&2
    exit 2
fi

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
if [ -d "$fixtures" ]; then
    python3 "$root/fuzz/seeds.py" "$fixtures" "$seeds"
else
    echo "fuzz: no fixtures at $fixtures; starting from empty corpora" >&2
fi

if [ $# -gt 0 ]; then
    harnesses=("$@")
else
    harnesses=()
    for src in "$root"/fuzz/fuzz_*.c; do
        harnesses+=("$(basename "$src" .c)")
    done
fi

failed=()
for h in "${harnesses[@]}"; do
    corpus=$build/corpus/$h
    artifacts=$build/artifacts/$h
    mkdir -p "$corpus" "$artifacts" "$seeds/$h"
    dirs=("$corpus" "$seeds/$h")
    [ -d "$root/fuzz/regressions/$h" ] && dirs+=("$root/fuzz/regressions/$h")
    opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$artifacts/")
    case $h in
        fuzz_report_parse | fuzz_rawbody) opts+=(-max_len=20000 -dict="$root/fuzz/report.dict") ;;
        fuzz_cert_pem) opts+=(-max_len=8192) ;;
        *) opts+=(-max_len=2048) ;;
    esac
    log=$build/$h.log
    echo "fuzz: $h for ${seconds}s (log $log)"
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/$h" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" | tr '\n' ' ' || true
        echo
    else
        failed+=("$h")
        echo "fuzz: $h FAILED; input saved under $artifacts/" >&2
        grep -E -A30 '==ERROR|invariant broken|runtime error|ALARM|out-of-memory' "$log" | head -60 >&2 || tail -40 "$log" >&2
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failures in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#harnesses[@]} harness(es) ran ${seconds}s each without a finding"
