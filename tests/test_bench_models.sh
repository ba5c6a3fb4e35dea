#!/usr/bin/env bash
# bench_models' reports on a small synthetic model (32 x 32, 10 classes): --threads above the
# processor count warns and runs with the processor count; --roofline prints the probe and each
# model's share of its limit; --profile prints one row per step with its implementation; --json
# holds the same, with load time and peak resident memory. Speeds are not checked here (they
# belong to benchmarks); what is checked is that every report is there and consistent.
#
#   tests/test_bench_models.sh BIN_DIR
set -uo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0 checks=0
# check DESCRIPTION COMMAND...: COMMAND succeeds.
check() {
  local what=$1; shift
  checks=$((checks + 1))
  "$@" || { fails=$((fails + 1)); echo "FAIL: $what"; }
}

procs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc honours those; OpenMP counts processors
small=(--model=mobilenet_v2 --input-size=32 --classes=10 --iterations=2 --warmup=1 -q)

"$bin/bench_models" "${small[@]}" --precision=int8 --threads=$((procs + 7)) >"$work/t.out" 2>"$work/t.err"
check "bench_models --threads above the processors exits 0" test $? -eq 0
check "it warns that it runs with the processor count" grep -q "exceeds the $procs processors.*running with $procs threads" "$work/t.err"
check "the table row shows $procs threads" awk -v p="$procs" '$1 == "mobilenet_v2" && $3 == p { found = 1 } END { exit !found }' "$work/t.out"

"$bin/bench_models" "${small[@]}" --precision=both --threads=1 --roofline --profile --json="$work/r.json" >"$work/r.out" 2>"$work/r.err"
check "bench_models --roofline --profile exits 0" test $? -eq 0
check "the probe's rates are printed" grep -Eq "^roofline \(one core, [0-9]+ ms probe\): INT8 [0-9.]+ GMAC/s .* FP32 [0-9.]+ GMAC/s" "$work/r.out"
check "the table has the limit columns" grep -Eq "GMAC/img +fp32 limit +int8 limit +load\+1st +peak MiB" "$work/r.out"
check "the model row has both shares of the limit" grep -Eq "^mobilenet_v2 .* [0-9.]+ +[0-9]+% +[0-9]+% +[0-9.]+x +[0-9]+$" "$work/r.out"
check "an int8 profile with qint8's depthwise kernel or oneDNN's" grep -Eq "^features\.1\.conv\.0 +[0-9.]+ +[0-9.]+ +[0-9]+% +depthwise_conv2d int8" "$work/r.out"
check "an fp32 profile" grep -q "^mobilenet_v2 fp32 (.*), per step:" "$work/r.out"
check "profiles end with a total" test "$(grep -c '^total ' "$work/r.out")" -eq 2
for key in '"roofline"' '"int8_gmacs_per_core"' '"share_of_limit"' '"limit_images_per_s"' '"macs_per_image"' '"profile"' \
           '"implementation"' '"first_run_ms"' '"compile_ms"' '"peak_resident_mib"'; do
  check "the JSON holds $key" grep -q "$key" "$work/r.json"
done

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
