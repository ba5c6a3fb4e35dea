#!/usr/bin/env bash
# Command-line errors, wherever they are found, exit with 1 (usage) as the README's table says,
# in the tools' own words: option values the converter library refuses (errc::invalid_argument),
# numbers CLI11 would describe with DBL_MAX or "not in range", NaN, sizes the machine cannot
# hold. And the options that were refused or silent before: one --mean value for
# qint8-preprocess, --threads above the processors in qint8-eval.
#
#   tests/tools/option_errors.sh BIN_DIR SOURCE_DIR
bin=$1 src=$2
. "$(dirname "$0")/expect.sh"
make_model_and_data
fm=$src/models/fashion_mnist/mobilenet_v1/mobilenet_v1

# --- option errors the converter library finds: usage (1), not bad input (2) ----------------
expect 1 "--fp32-layers: no layer named 'nope'" "$bin/qint8-convert" --input "${fm}_fp32.onnx" --output c/m.json --calib-data data.bin --fp32-layers nope -q
expect 1 "--quantized-ops: expected a list of conv2d" "$bin/qint8-convert" --input "${fm}_fp32.onnx" --output c/m.json --calib-data data.bin --quantized-ops conv2d,foo -q
expect 1 "--bias-correction is for calibrated models" "$bin/qint8-convert" --input "${fm}_qat.onnx" --output c/m.json --calib-data data.bin --bias-correction -q
expect 1 "--report needs images" "$bin/qint8-convert" --input "${fm}_qat.onnx" --output c/m.json --report -q
expect 1 "--mean and --std: both are needed" "$bin/qint8-convert" --input "${fm}_fp32.onnx" --output c/m.json --precision fp32 --mean 0.5 -q
expect 1 "--mean: expected a finite number, found \"nan\"" "$bin/qint8-convert" --input "${fm}_fp32.onnx" --output c/m.json --precision fp32 --mean nan --std 1 -q
checks=$((checks + 1)); [ ! -e c ] || { fails=$((fails + 1)); echo "FAIL: a refused conversion left c/ behind"; }

# --- numbers: the tools' words, not CLI11's ------------------------------------------------
expect 1 "--width: expected a number from 0.001 to 4, found \"nan\"" "$bin/qint8-synth" --model resnet50 --width nan --output x/m.json
expect 1 "--width: expected a number from 0.001 to 4, found \"inf\"" "$bin/qint8-synth" --model resnet50 --width inf --output x/m.json
expect 1 "--iterations: expected a whole number from 1 to 1000000, found \"-1\"" "$bin/bench_models" --iterations -1
expect_not "[0-9]{40}" "$bin/qint8-eval" --model model/model.json --data data.bin --iterations -1
expect 1 "--iterations: expected a whole number >= 0, found \"-1\"" "$bin/qint8-eval" --model model/model.json --data data.bin --iterations -1
expect 1 "--batch-size: expected a whole number from 1 to 65536, found \"abc\"" "$bin/qint8-eval" --model model/model.json --data data.bin --batch-size abc
expect 1 "--label-offset: expected auto or a whole number from -1000000 to 1000000, found \"abc\"" "$bin/qint8-eval" --model model/model.json --data data.bin --label-offset abc
expect 1 "--batch: expected a whole number from 1 to 4096, found \"2.5\"" "$bin/bench_models" --batch 2.5
expect 1 "--precision: expected one of fp32, int8, both, found \"int4\"" "$bin/bench_models" --precision int4
expect 0 "--precision TEXT:fp32\|int8\|both" "$bin/bench_models" --help
expect_not "Value .* not in range|NONNEGATIVE|1797693134862315" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --skip -1 --output p.bin

# --- a model larger than the machine: refused before allocating ------------------------------
expect 1 "needs about [0-9.]+ GiB .* more than this machine's [0-9.]+ GiB of memory" \
  timeout 20 "$bin/qint8-synth" --model vgg16 --input-size 8192 --hidden 1048576 --classes 1048576 --output big/m.json -q
checks=$((checks + 1)); [ ! -e big ] || { fails=$((fails + 1)); echo "FAIL: a refused synthesis left big/ behind"; }

# --- qint8-preprocess --mean/--std: one value or three, as the other tools ---------------------
expect 0 "1 image of 3x32x32" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --skip 5 --mean 0.5 --std 0.25 --output one.bin
expect 0 "" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --skip 5 --mean 0.5,0.5,0.5 --std 0.25,0.25,0.25 --output three.bin -q
check "--mean 0.5 is --mean 0.5,0.5,0.5" cmp one.bin three.bin
expect 1 "--mean: expected one number or three comma-separated numbers, found \"0.5,0.5\"" \
  "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --mean 0.5,0.5 --output x.bin

# --- qint8-eval --threads above the processors: said, and the count used is reported ---------
procs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
expect 0 "exceeds the $procs processors.*running with $procs threads" "$bin/qint8-eval" --model model/model.json --data data.bin --threads $((procs + 5)) -q
expect 0 "path, $procs thread" "$bin/qint8-eval" --model model/model.json --data data.bin --threads $((procs + 5)) -q
expect 0 "\(6 batches\)" "$bin/qint8-eval" --model model/model.json --data data.bin --batch-size 1 -q

finish
