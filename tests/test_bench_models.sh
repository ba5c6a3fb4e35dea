#!/usr/bin/env bash
# bench_models' reports on a small synthetic model (32 x 32, 10 classes): --threads above the
# processor count warns and runs with the processor count; --roofline prints the probe and each
# model's share of its limit; --profile prints one row per step with its implementation; --json
# holds the same, with load time and peak resident memory; the run-time summary (min ... p99),
# --duration, --csv, the JSON's provenance, and the table's layout. Speeds are not checked here (they
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
check "the table has the limit columns" grep -Eq "GMAC/img +fp32 limit +int8 limit +fp32 load +int8 load +fp32 MiB +int8 MiB" "$work/r.out"
check "the model row has both shares of the limit, loads and peaks" grep -Eq "^mobilenet_v2 .* [0-9.]+ +[0-9]+% +[0-9]+% +[0-9.]+x +[0-9.]+x +[0-9]+ +[0-9]+$" "$work/r.out"
check "an int8 profile with qint8's depthwise kernel or oneDNN's" grep -Eq "^features\.1\.conv\.0 +[0-9.]+ +[0-9.]+ +[0-9]+% +depthwise_conv2d int8" "$work/r.out"
check "an fp32 profile" grep -q "^mobilenet_v2 fp32 (.*), per step:" "$work/r.out"
check "profiles end with a total" test "$(grep -c '^total ' "$work/r.out")" -eq 2
for key in '"roofline"' '"int8_gmacs_per_core"' '"share_of_limit"' '"limit_images_per_s"' '"macs_per_image"' '"profile"' \
           '"implementation"' '"first_run_ms"' '"compile_ms"' '"peak_resident_mib"'; do
  check "the JSON holds $key" grep -q "$key" "$work/r.json"
done

# The run-time summary, the CPU and the versions, after the table
check "the latency table's header" grep -Eq "^model +prec +runs +min +mean +stddev +p50 +p90 +p95 +p99 +max$" "$work/r.out"
check "one latency row per precision" test "$(grep -Ec "^mobilenet_v2 +(fp32|int8) +2( +[0-9.]+){8}$" "$work/r.out")" -eq 2
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
check "the CPU as /proc/cpuinfo names it, and the versions" grep -Fq "cpu: $cpu; qint8 " "$work/r.out"
check "the oneDNN version" grep -Eq "; qint8 [0-9]+\.[0-9]+\.[0-9]+, oneDNN [0-9]+\.[0-9]+\.[0-9]+$" "$work/r.out"
for key in '"qint8_version"' '"onednn_version"' '"command_line"' '"timestamp"' '"iteration_ms"' '"stddev"' '"p90"' '"p95"'; do
  check "the JSON holds $key" grep -q "$key" "$work/r.json"
done
check "the JSON's CPU is the same name" grep -Fq "\"cpu\": \"$cpu\"" "$work/r.json"
check "the JSON's timestamp is UTC ISO 8601" grep -Eq '"timestamp": "20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' "$work/r.json"
check "the JSON's command line is this one" grep -Fq -- "--roofline --profile --json=$work/r.json" "$work/r.json"

# With two threads the limit is their probe together (where OpenMP has two processors)
if [ "$procs" -ge 2 ]; then
  "$bin/bench_models" "${small[@]}" --precision=int8 --threads=2 --roofline --json="$work/t2.json" >"$work/t2.out" 2>"$work/t2.err"
  check "bench_models --threads=2 --roofline exits 0" test $? -eq 0
  check "the two threads' probe is printed" grep -Eq "^roofline \(2 threads at once\): INT8 [0-9.]+ GMAC/s \([0-9.]+x one thread\)" "$work/t2.out"
  check "the JSON holds the threads' limit" grep -q '"int8_gmacs_all_threads"' "$work/t2.json"
  check "the JSON names the probe's threads" grep -q '"threads": 2' "$work/t2.json"
else
  echo "NOT RUN: the two-thread probe (one processor)"
fi

# Without --roofline: no limit columns, no 0% shares in the profile, none in the JSON
"$bin/bench_models" "${small[@]}" --precision=int8 --threads=1 --profile --json="$work/p.json" >"$work/p.out" 2>"$work/p.err"
check "bench_models --profile exits 0" test $? -eq 0
check "no share of a limit that was not measured" bash -c "! grep -q '%' '$work/p.out'"
check "no share_of_limit in the JSON" bash -c "! grep -q share_of_limit '$work/p.json'"
check "the fp32 columns of an int8-only run are dashes" grep -Eq "^mobilenet_v2 .* - +[0-9.]+x +- +[0-9]+$" "$work/p.out"

# --duration: runs until the time is up; --csv: one line per precision
"$bin/bench_models" --model=mobilenet_v2 --input-size=32 --classes=10 --warmup=1 -q --precision=both --duration=0.5 --csv="$work/new/r.csv" \
  --json="$work/d.json" >"$work/d.out" 2>"$work/d.err"
check "bench_models --duration --csv exits 0" test $? -eq 0
check "the CSV has a header and two lines" test "$(wc -l <"$work/new/r.csv")" -eq 3
check "the CSV header" grep -q "^model,precision,isa,threads,batch,runs,images_per_s,ms_min,ms_max,ms_mean,ms_stddev,ms_p50,ms_p90,ms_p95,ms_p99," "$work/new/r.csv"
check "the CSV rows" test "$(grep -Ec "^mobilenet_v2,(fp32|int8),[a-z0-9_]+,1,1,[0-9]+," "$work/new/r.csv")" -eq 2
# From the CSV (a fresh machine has no Python): each precision made more than one run, and its
# runs fill most of the half second (the rest: the clock reads between runs, and preemption on a
# shared machine, which falls between the timed runs as well as inside them).
runs=$(awk -F, 'BEGIN { ok = 1 } NR > 1 { ok = ok && $6 > 1 && $6 * $10 >= 250; c++ } END { print (c == 2 && ok) ? "ok" : "not ok" }' "$work/new/r.csv")
check "--duration 0.5 ran for about half a second per precision ($runs)" test "$runs" = ok
check "the JSON records every run's time" grep -q '"iteration_ms"' "$work/d.json"
"$bin/bench_models" --duration=1 --iterations=5 >/dev/null 2>"$work/x.err"
check "--duration excludes --iterations" grep -Eq -- "--(duration|iterations) excludes --(iterations|duration)" "$work/x.err"

# A failure before the first model: no empty table
"$bin/bench_models" --manifest="$work/missing.json" >"$work/e.out" 2>"$work/e.err"
check "a missing manifest exits 2" test $? -eq 2
check "and prints no table header" bash -c "! grep -q 'img/s' '$work/e.out'"

# A long model name widens the column: every row's isa starts under the header's
mkdir -p "$work/m"
"$bin/qint8-synth" --model mobilenet_v1 --width 0.25 --input-size 32 --classes 10 --output "$work/m/model.json" -q
sed 's/"variant": *"[^"]*"/"variant": "a_model_name_much_longer_than_fourteen_characters"/' "$work/m/model.json" >"$work/m/long.json"
cp "$work/m/model.q8w" "$work/m/long.q8w"
"$bin/bench_models" --manifest="$work/m/long.json" --iterations=2 --warmup=0 -q >"$work/l.out" 2>"$work/l.err"
check "bench_models on a long-named manifest exits 0 ($(head -c 300 "$work/l.err"))" test $? -eq 0
check "its columns line up" awk '/^model / && !h { h = index($0, " isa ") } /^a_model_name/ && !seen { seen = 1; split($0, f, " +"); r = index($0, " " f[2] " ") } END { exit !(h > 0 && h == r) }' "$work/l.out"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
