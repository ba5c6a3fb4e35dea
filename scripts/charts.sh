#!/usr/bin/env bash
# Redraws the charts embedded in the docs (qint8-chart), from committed results and the main job:
#   docs/charts/speed.svg        <- docs/results/RUN/qint8.json + peers.json (bench/run_all.sh)
#                                   + docs/results/limits-avx2-1thread.json (hardware limits)
#   docs/charts/accuracy.svg     <- models/fashion_mnist/*/accuracy.json (PyTorch, from training)
#                                   + QUICKSTART/MODEL/eval_*.json (qint8-eval, scripts/quickstart.sh)
#
#   bash scripts/charts.sh [--results=docs/results/2026-11-25-avx2] [--quickstart=quickstart-out]
#                          [--limits=docs/results/limits-avx2-1thread.json] [--build=build]
# Runs scripts/quickstart.sh first when QUICKSTART has no results. Exit status: 0 done, 1 usage,
# 2 a step failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
results=$root/docs/results/2026-11-25-avx2 quickstart=quickstart-out limits=$root/docs/results/limits-avx2-1thread.json build=build
for a in "$@"; do
  case "$a" in
    --results=*) results=${a#*=} ;;
    --quickstart=*) quickstart=${a#*=} ;;
    --limits=*) limits=${a#*=} ;;
    --build=*) build=${a#*=} ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "charts.sh: unknown option '$a' (see --help)" >&2; exit 1 ;;
  esac
done
chart=$build/bin/qint8-chart
[ -x "$chart" ] || { echo "charts.sh: $chart not found: build first (cmake --build build -j2)" >&2; exit 1; }
if [ ! -f "$quickstart/resnet50/eval_int8.json" ]; then
  bash "$root/scripts/quickstart.sh" --build="$build" --out="$quickstart" || exit 2
fi
"$chart" speed --qint8 "$results/qint8.json" --peers "$results/peers.json" --limits "$limits" \
  --title "Images/s of the $(basename "$results") run: qint8 FP32 vs INT8, and its peers" --output "$root/docs/charts/speed.svg" || exit 2
"$chart" accuracy --eval-dir "$quickstart" "$root"/models/fashion_mnist/{mobilenet_v1,mobilenet_v2,resnet50,resnet101,vgg16,vgg19}/accuracy.json \
  --output "$root/docs/charts/accuracy.svg" || exit 2
echo "wrote docs/charts/speed.svg and docs/charts/accuracy.svg" >&2
