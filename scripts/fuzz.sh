#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, in build-asan/ with scripts/sanitize.sh) and runs one for a given time.
#
#   bash scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#   bash scripts/fuzz.sh all SECONDS          # each target in turn
#
# TARGET: manifest, onnx, tflite, datafile, image (tests/fuzz/fuzz_TARGET.cpp). The run starts from
# the committed seeds (tests/fuzz/corpus/TARGET) and keeps what it finds in build-asan/corpus/TARGET;
# a crashing input is written to build-asan/crashes/TARGET/ and the script exits non-zero. The
# last line per target ("fuzz.sh: TARGET: N runs in S s, ...") is what docs/reliability.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,11p "$0"; exit 2; }
target=$1 seconds=$2; shift 2
targets=(manifest onnx tflite datafile image)
[ "$target" = all ] && run=("${targets[@]}") || run=("$target")
for t in "${run[@]}"; do
  [[ " ${targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (${targets[*]})" >&2; exit 2; }
done
CXX=${CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (bash scripts/install-deps.sh --sanitizers)" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
dir=build-asan   # shared with scripts/sanitize.sh (same options: nothing is rebuilt twice)
cmake -S . -B $dir -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1" \
  -DQINT8_SANITIZE=address,undefined -DQINT8_FUZZ=ON -DQINT8_TEST_PATHS=best -DQINT8_BUILD_TOOLS=OFF -DQINT8_INSTALL=OFF \
  -DQINT8_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build $dir -j"${JOBS:-2}" --target $(printf 'fuzz_%s ' "${run[@]}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in "${run[@]}"; do
  mkdir -p $dir/corpus/$t $dir/crashes/$t
  log=$dir/fuzz_$t.log
  # -rss_limit_mb: loading is bounded by the input size, so 2 GB is a finding, not a budget.
  set +e
  $dir/bin/fuzz_$t -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    -artifact_prefix=$dir/crashes/$t/ "$@" $dir/corpus/$t tests/fuzz/corpus/$t >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  crashes=$(find $dir/crashes/$t -type f | wc -l)
  echo "fuzz.sh: $t: $runs runs in $seconds s, coverage $cov edges, corpus $(ls $dir/corpus/$t | wc -l) inputs, exit $rc, $crashes crash file(s)"
  if [ $rc != 0 ]; then status=1; tail -40 "$log" >&2; fi
done
exit $status
