#!/usr/bin/env bash
# qint8's main job on the bundled Fashion-MNIST models: convert the committed ONNX files (the FP32
# model, and the quantization-aware-trained one for INT8), evaluate both on the 10 000 test images
# of Debian's dataset-fashion-mnist, benchmark both, and print one table.
#
#   bash scripts/quickstart.sh [--models=mobilenet_v2,resnet50|all] [--images=N] [--threads=N]
#                              [--build=DIR] [--out=DIR]
#
#   --models   committed models under models/fashion_mnist/ (default: all six)
#   --images   evaluate on the first N test images (default: all 10000; env QINT8_QUICKSTART_IMAGES)
#   --threads  threads for evaluation and benchmark (default: 1)
#   --build    the build directory holding bin/ (default: build/ of this checkout, wherever it is run from)
#   --out      where converted models, data and results go (default: quickstart-out in the current directory)
# Exit status: 0 done, 1 usage, 2 a step failed (its output is shown).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
models=all images=${QINT8_QUICKSTART_IMAGES:-10000} threads=1 build=$root/build out=quickstart-out
while [ $# -gt 0 ]; do
  a=$1; shift
  case "$a" in  # --flag=v and --flag v, as the tools take them
    --models|--images|--threads|--build|--out)
      [ $# -gt 0 ] || { echo "quickstart: $a needs a value (see --help)" >&2; exit 1; }
      a="$a=$1"; shift ;;
  esac
  case "$a" in
    --models=*) models=${a#*=} ;;
    --images=*) images=${a#*=} ;;
    --threads=*) threads=${a#*=} ;;
    --build=*) build=${a#*=} ;;
    --out=*) out=${a#*=} ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "quickstart: unknown option '$a' (see --help)" >&2; exit 1 ;;
  esac
done
[[ $images =~ ^[1-9][0-9]*$ ]] || { echo "quickstart: --images: expected a positive integer, found '$images'" >&2; exit 1; }
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "quickstart: --threads: expected a positive integer, found '$threads'" >&2; exit 1; }
[ "$models" = all ] && models=mobilenet_v1,mobilenet_v2,resnet50,resnet101,vgg16,vgg19
for m in ${models//,/ }; do  # every name checked before the first minute of work
  [ -f "$root/models/fashion_mnist/$m/${m}_fp32.onnx" ] ||
    { echo "quickstart: --models: no committed model '$m' (models/fashion_mnist/ has mobilenet_v1, mobilenet_v2, resnet50, resnet101, vgg16, vgg19)" >&2; exit 1; }
done
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
bin=$build/bin
[ -x "$bin/qint8-eval" ] || { echo "quickstart: $bin/qint8-eval not found: build first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }
fm=/usr/share/datasets/fashion-mnist
[ -f "$fm/t10k-images-idx3-ubyte.gz" ] || { echo "quickstart: $fm not found: install the dataset-fashion-mnist package (bash scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$out"

log=$out/quickstart.log; : > "$log"
step() {  # step "what" cmd...: runs a tool, its output to the log; on failure shows it and stops
  echo "  $1" >&2; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "quickstart: failed: $*" >&2; tail -20 "$log" >&2; exit 2
  fi
}
num() { grep -o "\"$2\": *[-0-9.e+]*" "$1" | head -1 | sed 's/.*: *//'; }   # a number from a tool's JSON
bench_ips() {  # images/s of one precision in a bench_models JSON file (one key per line; a result's keys are sorted)
  awk -v want="$2" '/"images_per_s":/ { gsub(/[",]/, ""); ips = $2 }
                    /"precision":/ { gsub(/[",]/, ""); if ($2 == want) { print ips; exit } }' "$1"
}

echo "quickstart: preparing $images Fashion-MNIST test images" >&2
# The models were trained on 28x28 images padded to 32x32 and normalized with the training set's
# mean and standard deviation (models/fashion_mnist/data.py); the same is done here.
step "qint8-preprocess -> $out/fmnist_test.bin" "$bin/qint8-preprocess" \
  --idx-images "$fm/t10k-images-idx3-ubyte.gz" --idx-labels "$fm/t10k-labels-idx1-ubyte.gz" --limit "$images" \
  --pad 2 --mean 0.2860,0.2860,0.2860 --std 0.3530,0.3530,0.3530 --output "$out/fmnist_test.bin"

rows=()
for m in ${models//,/ }; do
  src=$root/models/fashion_mnist/$m/$m
  echo "quickstart: $m" >&2
  d=$out/$m
  # --mean/--std are recorded in the manifests, so that classify prepares photos the same way.
  pp=(--mean 0.2860 --std 0.3530 --labels "$root/models/fashion_mnist/labels.txt")
  step "convert the FP32 model" "$bin/qint8-convert" --input "${src}_fp32.onnx" --output "$d/fp32/model.json" --precision fp32 "${pp[@]}"
  step "convert the QAT model to INT8" "$bin/qint8-convert" --input "${src}_qat.onnx" --output "$d/int8/model.json" "${pp[@]}"
  step "evaluate FP32" "$bin/qint8-eval" --model "$d/fp32/model.json" --data "$out/fmnist_test.bin" --precision fp32 \
    --batch-size 100 --threads "$threads" --json "$d/eval_fp32.json"
  step "evaluate INT8" "$bin/qint8-eval" --model "$d/int8/model.json" --data "$out/fmnist_test.bin" \
    --batch-size 100 --threads "$threads" --json "$d/eval_int8.json"
  step "benchmark FP32 and INT8 (batch 1)" "$bin/bench_models" --manifest="$d/int8/model.json" --threads="$threads" \
    --batch=1 --iterations=200 --tune --tuning-cache="$out/tuning.json" --json="$d/bench.json"
  f1=$(num "$d/eval_fp32.json" top1) i1=$(num "$d/eval_int8.json" top1)
  fs=$(bench_ips "$d/bench.json" fp32) is=$(bench_ips "$d/bench.json" int8)
  [ -n "$fs" ] && [ -n "$is" ] || { echo "quickstart: no images/s for both precisions in $d/bench.json" >&2; exit 2; }
  isa=$(grep -o '"isa": *"[a-z0-9_]*"' "$d/bench.json" | head -1 | sed 's/.*"\([a-z0-9_]*\)"$/\1/')
  rows+=("$(awk -v m="$m" -v f1="$f1" -v i1="$i1" -v fs="$fs" -v is="$is" 'BEGIN {
    printf "| %-12s | %9.2f%% | %9.2f%% | %+8.2f | %10.0f | %10.0f | %8.2fx |", m, 100*f1, 100*i1, 100*(i1-f1), fs, is, is/fs }')")
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs || echo unknown)
echo
echo "qint8 on Fashion-MNIST: $images test images; $cpu, $isa path, $threads thread(s)"
echo "top-1 from qint8-eval (batch 100); images/s from bench_models (batch 1, median of 200 runs, each layer's"
echo "implementation timed on this CPU first: bench_models --tune, cached in $out/tuning.json)"
echo
echo "| model        | FP32 top-1 | INT8 top-1 | delta pt | FP32 img/s | INT8 img/s | INT8/FP32 |"
echo "|--------------|------------|------------|----------|------------|------------|-----------|"
printf '%s\n' "${rows[@]}"
echo
echo "converted models, data and JSON results: $out/ (log: $log)"
