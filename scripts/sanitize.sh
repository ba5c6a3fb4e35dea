#!/usr/bin/env bash
# Builds the test suite with sanitizers in its own build directory and runs it.
#
#   bash scripts/sanitize.sh            # ASan + UBSan (build-asan/): the fast suite, -LE "slow|imagenet|packaging"
#   bash scripts/sanitize.sh thread     # TSan (build-tsan/): the concurrency suite
#
# clang (scripts/install-deps.sh --sanitizers) at -O1 with line tables; one code path registered
# (best/) since the instrumented suite is several times slower. Any ASan, LeakSanitizer or UBSan
# report stops the test with a stack trace and fails it. TSan runs with the suppressions in
# tests/sanitizers/tsan.supp (the OpenMP runtimes and oneDNN, which are not instrumented; see
# docs/reliability.md). Extra arguments after the mode go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-address}
[ $# -gt 0 ] && shift
CXX=${CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "sanitize.sh: $CXX not found (bash scripts/install-deps.sh --sanitizers)" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
jobs=${JOBS:-2}
start=$SECONDS
case "$mode" in
  address|asan)
    dir=build-asan
    # The flags of scripts/fuzz.sh, which builds its libFuzzer programs in this directory too.
    # They are not built here: the committed corpora (every crash input found and fixed) run
    # through the same input functions in the converter suite (tests/fuzz/test_fuzz_corpora.cpp),
    # one translation unit instead of five that each compiled the whole library.
    cmake -S . -B $dir -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1" \
      -DQINT8_SANITIZE=address,undefined -DQINT8_FUZZ=OFF -DQINT8_TEST_PATHS=best -DQINT8_BUILD_TOOLS=OFF -DQINT8_INSTALL=OFF \
      -DQINT8_WARNINGS_AS_ERRORS=ON >/dev/null
    # Everything this configuration builds by default: the two suites. One "all" rather than a
    # list of targets: CMake's makefiles build listed targets one after another.
    cmake --build $dir -j"$jobs"
    echo "sanitize.sh: built in $((SECONDS - start)) s" >&2
    # detect_leaks: every allocation of a failed load must be freed. oneDNN's JIT keeps its code
    # buffers for the process's lifetime (a global cache): not reported as long as it stays reachable.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}
    # packaging checks the main build's configure step, not this one.
    # A failed test runs once more (until-pass:2); a report of qint8's own code is deterministic
    # and fails both tries, and ctest prints the first try's output, so nothing is hidden.
    # On AMX machines the two test cases that compile ResNet-101 on AMX run on the VNNI path
    # instead: in CI's fresh roots, under ASan only, each crashed inside libdnnl's AMX kernel
    # generation as ResNet-101 began (uninstrumented, so ASan cannot say why) where local reruns
    # passed; the regular suite runs them on AMX (docs/reliability.md).
    amx_cases=("INT8: session::read gives every intermediate tensor of the six topologies as the reference computes it"
               "INT8: the six synthetic topologies equal the naive reference bit for bit")
    exclude=()
    grep -qw amx_int8 /proc/cpuinfo 2>/dev/null && exclude=(-E "best/(${amx_cases[0]}|${amx_cases[1]})")
    ctest --test-dir $dir -LE "slow|imagenet|packaging" -j"$jobs" --output-on-failure --repeat until-pass:2 "${exclude[@]}" "$@"
    if [ ${#exclude[@]} -gt 0 ]; then
      for c in "${amx_cases[@]}"; do (cd $dir/tests && ../bin/qint8_runtime_tests "--test-case=$c" --qint8-isa=avx512_core_vnni); done
    fi
    ;;
  thread|tsan)
    dir=build-tsan
    cmake -S . -B $dir -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1" \
      -DQINT8_SANITIZE=thread -DQINT8_TEST_PATHS=best -DQINT8_BUILD_TOOLS=OFF -DQINT8_INSTALL=OFF \
      -DQINT8_WARNINGS_AS_ERRORS=ON >/dev/null
    cmake --build $dir -j"$jobs" --target qint8_thread_tests
    echo "sanitize.sh: built in $((SECONDS - start)) s" >&2
    ctest --test-dir $dir -L tsan --output-on-failure "$@"
    ;;
  *) echo "sanitize.sh: unknown mode '$mode' (address or thread)" >&2; exit 1 ;;
esac
echo "sanitize.sh: $mode: done in $((SECONDS - start)) s" >&2
