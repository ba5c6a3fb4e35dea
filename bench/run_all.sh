#!/usr/bin/env bash
# One benchmark run: qint8 (bench_models) and the peers (PyTorch, ONNX Runtime) on the same
# models, threads and batch, one after the other, so their ratios come from the same conditions,
# then draws the chart (speed.svg; qint8-chart). Results go to bench-results/DATE-TIME/ in the
# current directory unless --out says otherwise (docs/results/ holds the runs the docs quote:
# give --out=docs/results/NAME to add one). Options take --flag=v or --flag v.
#   bench/run_all.sh [--threads=1] [--batch=1] [--iterations=20] [--models=all] [--out=DIR]
#                    [--limits=FILE]   (hardware limits for the chart; default: none)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
threads=1 batch=1 iterations=20 models=all out=bench-results/$(date +%Y-%m-%d-%H%M%S) limits=
while [ $# -gt 0 ]; do
  a=$1; shift
  case "$a" in  # --flag v as --flag=v, as the tools take them
    --threads|--batch|--iterations|--models|--out|--limits)
      [ $# -gt 0 ] || { echo "run_all.sh: $a needs a value (see --help)" >&2; exit 1; }
      a="$a=$1"; shift ;;
  esac
  case "$a" in
    --threads=*) threads=${a#*=} ;;
    --batch=*) batch=${a#*=} ;;
    --iterations=*) iterations=${a#*=} ;;
    --models=*) models=${a#*=} ;;
    --out=*) out=${a#*=} ;;
    --limits=*) limits=${a#*=} ;;
    --help|-h) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown option $a (see --help)" >&2; exit 1 ;;
  esac
done
for v in "$threads" "$batch" "$iterations"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "run_all.sh: --threads, --batch, --iterations: expected positive integers, found '$v'" >&2; exit 1; }
done
[ -x "$root/build/bin/bench_models" ] || { echo "build first: cmake -S . -B build && cmake --build build -j2" >&2; exit 1; }
if [ ! -d "$here/peers/node_modules/onnxruntime-node" ]; then
  (cd "$here/peers" && npm install --ignore-scripts --no-audit --no-fund)
fi
mkdir -p "$out"
{
  echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) hardware threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
  "$root/build/bin/bench_models" --model="$models" --threads="$threads" --batch="$batch" --iterations="$iterations" --roofline --json="$out/qint8.json"
} | tee "$out/qint8.txt"
/usr/bin/python3 "$here/peers/peers.py" --models="$models" --threads="$threads" --batch="$batch" --iterations="$iterations" \
  --qint8-json="$out/qint8.json" --json="$out/peers.json" | tee "$out/peers.txt"
"$root/build/bin/qint8-chart" speed --qint8 "$out/qint8.json" --peers "$out/peers.json" ${limits:+--limits "$limits"} --output "$out/speed.svg"
echo "results in $out (chart: $out/speed.svg)" >&2
