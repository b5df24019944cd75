#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang into build-fuzz/ and runs each
# for SECONDS (default 60), as many at once as there are cores, on a copy of
# its committed corpus, so that what the fuzzer adds never lands in
# tests/fuzz/corpus/.
#
#     scripts/fuzz.sh [SECONDS] [HARNESS...]      harnesses: msg topology onnx npy keras
#
# Fails on any crash, leak, sanitizer report, timeout or out-of-memory; the
# input that caused it is kept in build-fuzz/artifacts/HARNESS/ and can be
# replayed with build-fuzz/fuzz_HARNESS FILE (or zi_fuzz_replay HARNESS FILE
# on a normal build). Set ZI_FUZZ_BUILD_DIR to build elsewhere, and
# ZI_FUZZ_FLAGS to pass more libFuzzer options. To keep fuzzing past huge
# allocations that the engine would survive (they fail cleanly), e.g.
#     ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=1024 \
#     ZI_FUZZ_FLAGS=-malloc_limit_mb=1000000 scripts/fuzz.sh 600
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "fuzz: SECONDS must be a positive whole number, got '$seconds'" >&2
    echo "usage: scripts/fuzz.sh [SECONDS] [HARNESS...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(msg topology onnx npy keras)
for name in "${harnesses[@]}"; do
    if [ ! -d "tests/fuzz/corpus/$name" ]; then
        echo "fuzz: unknown harness '$name' (harnesses: msg topology onnx npy keras)" >&2
        exit 2
    fi
done

# libFuzzer comes with clang's runtime libraries, which Debian packages
# apart from the compiler; a one-line program shows whether both are there
if ! command -v clang > /dev/null; then
    echo "fuzz: clang not found; install it with: apt-get install clang libclang-rt-14-dev" >&2
    exit 2
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput (const char *d, unsigned long n) { return 0; }' > "$probe/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2> "$probe/log"; then
    echo "fuzz: clang cannot link libFuzzer programs; install: apt-get install libclang-rt-14-dev" >&2
    sed 's/^/    /' "$probe/log" >&2
    exit 2
fi

build_dir=${ZI_FUZZ_BUILD_DIR:-build-fuzz}
if ! CC=clang cmake -S . -B "$build_dir" -DZI_FUZZ=ON > "$probe/configure.log" 2>&1; then
    cat "$probe/configure.log" >&2
    echo "fuzz: configuring $build_dir failed" >&2
    exit 2
fi
targets=()
for name in "${harnesses[@]}"; do
    targets+=("fuzz_$name")
done
if ! cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}" > "$probe/build.log" 2>&1; then
    tail -40 "$probe/build.log" >&2
    echo "fuzz: building the harnesses failed" >&2
    exit 2
fi

# UBSan reports must come with a stack trace; leaks are checked after
# every input by libFuzzer itself
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
#  Leaks that are a library's own, not zinfer's, are suppressed in tests/fuzz/lsan.supp
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp}

# One harness's run; its report goes to $probe/report-NAME and its verdict
# to $probe/verdict-NAME, so that harnesses can run side by side
run_harness () {
    local name=$1
    local corpus="$probe/corpus-$name"
    local artifacts="$root/$build_dir/artifacts/$name"
    local log="$root/$build_dir/fuzz_$name.log"
    local report="$probe/report-$name"
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    cp "tests/fuzz/corpus/$name"/* "$corpus"/
    local seeds rc runs speed coverage found reason
    seeds=$(ls "$corpus" | wc -l)
    "$build_dir/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" ${ZI_FUZZ_FLAGS:-} "$corpus" \
        > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    found=$(ls "$corpus" | wc -l)
    # A sanitizer that reports without stopping the run still fails it
    if ((rc == 0)) && grep -qE '^==[0-9]+==ERROR|runtime error:|^SUMMARY: ' "$log"; then
        rc=1
    fi
    if ((rc == 0)); then
        echo "fuzz_$name: passed, ${runs:-0} runs in ${seconds} s (${speed:-0}/s), ${coverage:-cov: ?}," \
             "corpus $seeds -> $found" > "$report"
        echo passed > "$probe/verdict-$name"
    else
        reason=$(grep -m1 -E 'ERROR: |runtime error:|Assertion|expected ' "$log" | sed 's/^==[0-9]*== *//')
        {
            echo "fuzz_$name: FAILED after ${runs:-?} runs: ${reason:-exit code $rc}"
            grep -E '^ *#[0-9]+ 0x[0-9a-f]+ in ' "$log" \
                | grep -v -E ' in (fuzzer::|__sanitizer|__asan|__ubsan|main |_start|__libc)' \
                | head -12 | sed 's/^/    /'
            for artifact in "$artifacts"/*; do
                [ -e "$artifact" ] && echo "    input: $artifact"
            done
            echo "    log: $log"
        } > "$report"
        echo failed > "$probe/verdict-$name"
    fi
}

# Each harness is one thread: as many run at once as there are cores, each
# for the whole SECONDS, so the stage takes a share of the time it took
# one after another with nothing fuzzed less
jobs_max=$(nproc)
running=0
for name in "${harnesses[@]}"; do
    if ((running >= jobs_max)); then
        wait -n
        running=$((running - 1))
    fi
    run_harness "$name" &
    running=$((running + 1))
done
wait

passed=0
failed=0
for name in "${harnesses[@]}"; do
    cat "$probe/report-$name" 2> /dev/null || echo "fuzz_$name: FAILED: no report (the run did not finish)"
    if [ "$(cat "$probe/verdict-$name" 2> /dev/null)" = passed ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
