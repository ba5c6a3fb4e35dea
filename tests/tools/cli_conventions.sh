#!/usr/bin/env bash
# The command-line conventions of every tool, and each command-line bug once found in them:
# --help (with an example and the exit codes), --version, unknown options, `--flag v` and
# `--flag=v`, output directories created, wrong files named as such, documented exit codes
# (tools/common/exit_codes.hpp: 0 ok, 1 usage, 2 bad input, 3 unsupported model, 4 output).
# Inputs are made here (a synthetic model, a tiny IDX set, a PPM image), so no data is needed.
#
#   tests/tools/cli_conventions.sh BIN_DIR SOURCE_DIR
set -uo pipefail
bin=$1 src=$2
. "$(dirname "$0")/expect.sh"

# expect_file PATH: PATH exists and is not empty.
expect_file() {
  checks=$((checks + 1))
  [ -s "$1" ] || { fails=$((fails + 1)); echo "FAIL: $1 was not written"; }
}

# --- inputs -------------------------------------------------------------------------------
make_model_and_data
{ printf 'P6\n40 48\n255\n'; head -c $((40 * 48 * 3)) /dev/urandom; } > photo.ppm
printf '\xff\xd8\xff\xe0 not really a JPEG' > photo.jpg
echo "photo.ppm 3" > list.txt
seq 0 9 | sed 's/^/label /' > labels10.txt
onnx=$src/models/fashion_mnist/resnet50/resnet50_fp32.onnx

# --- every tool: --help, --version, an unknown option --------------------------------------
for t in qint8-convert qint8-eval qint8-preprocess qint8-synth bench_models classify run_manifest qint8-chart; do
  expect 0 "Example:" "$bin/$t" --help
  expect 0 "Exit status: 0 ok, 1 usage error, 2 bad input file, 3 unsupported model" "$bin/$t" --help
  expect 0 "^$t [0-9]+\.[0-9]+\.[0-9]+ \(qint8\)$" "$bin/$t" --version
  expect 1 "not expected: --no-such-option" "$bin/$t" --no-such-option
  expect 1 "not expected: --bogus=1" "$bin/$t" --bogus=1
done

# --- qint8-convert -------------------------------------------------------------------------
fm=$src/models/fashion_mnist/mobilenet_v1/mobilenet_v1_fp32.onnx
expect 1 "--input is required" "$bin/qint8-convert" --output conv/model.json
expect 1 "--precision: expected one of int8, fp32, found \"fp16\"" "$bin/qint8-convert" --input "$fm" --output conv/model.json --precision fp16
expect 1 "--calib-method: expected abs_max, mse, kl or percentile" "$bin/qint8-convert" --input "$fm" --output conv/model.json --calib-method nope
expect 1 "--output: expected a path ending in .json" "$bin/qint8-convert" --input "$fm" --output conv/model.bin --precision fp32
expect 2 "labels.idx: --input: expected an ONNX .* found an IDX file" "$bin/qint8-convert" --input labels.idx --output conv/model.json --precision fp32
expect 2 "cannot open" "$bin/qint8-convert" --input no-such.onnx --output conv/model.json --precision fp32
checks=$((checks + 1)); [ ! -e conv ] || { fails=$((fails + 1)); echo "FAIL: a failed conversion left conv/ behind"; }
# An ONNX model says nothing about its preprocessing: recorded as unknown, and classify asks
# for it instead of guessing (it once labelled a pullover "Bag" with ImageNet numbers).
expect 0 "preprocess: +unknown" "$bin/qint8-convert" --input "$fm" --output=conv/fm.json --precision=fp32 --labels labels10.txt -q
expect_file conv/fm.labels.txt
expect 1 "input.preprocess is unknown" "$bin/classify" --model conv/fm.json photo.ppm
expect 0 "label [0-9]" "$bin/classify" --model conv/fm.json --mean 0.2860 --std 0.3530 photo.ppm
expect 0 "preprocess: +recorded" "$bin/qint8-convert" --input "$fm" --output conv/fm2.json --precision fp32 --mean 0.2860 --std 0.3530 -q
expect 0 "label [0-9]" "$bin/classify" --model conv/fm2.json --labels labels10.txt photo.ppm

# --- qint8-synth ---------------------------------------------------------------------------
expect 0 "" "$bin/qint8-synth" --model resnet50 --width=0.3 --input-size=32 --classes=4 --output=new1/deeper/model.json -q
expect_file new1/deeper/model.json
expect_file new1/deeper/model.q8w
expect 0 "" "$bin/qint8-synth" --model vgg16 --width 0.125 --hidden 16 --input-size 32 --classes 4 --output new2/model.json -q
expect_file new2/model.json
expect 1 "--model: expected one of mobilenet_v1, .*, found \"resnet5\"" "$bin/qint8-synth" --model resnet5 --output no/such/dir/model.json
[ ! -e no ] || { fails=$((fails + 1)); echo "FAIL: a refused command line created no/"; }
expect 1 "--hidden does not apply to resnet50" "$bin/qint8-synth" --model resnet50 --hidden 8 --output x/model.json
expect 1 "--width: expected a number from 0.001 to 4, found \"0\"" "$bin/qint8-synth" --model resnet50 --width 0 --output x/model.json
expect 1 "--output: expected a path ending in .json" "$bin/qint8-synth" --model resnet50 --output x/model.txt
expect 1 "--model is required" "$bin/qint8-synth" --output x/model.json
touch blocker
expect 4 "cannot create directory blocker" "$bin/qint8-synth" --model mobilenet_v1 --width 0.25 --input-size 32 --output blocker/model.json -q

# --- qint8-preprocess ----------------------------------------------------------------------
expect 0 "" "$bin/qint8-preprocess" --idx-images=images.idx --idx-labels labels.idx --skip 2 --limit 3 --pad 2 --output pp/a/data.bin -q
expect_file pp/a/data.bin
# 8 + 3 images * (3*36*36 floats * 4 + 8) bytes: --skip 2 --limit 3 took three images
checks=$((checks + 1)); [ "$(stat -c %s pp/a/data.bin)" = $((8 + 3 * (3 * 36 * 36 * 4 + 8))) ] ||
  { fails=$((fails + 1)); echo "FAIL: --skip 2 --limit 3 --pad 2 wrote $(stat -c %s pp/a/data.bin) bytes"; }
expect 0 "wrote pp/one.bin: 1 image of 3x32x32" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --skip 5 --output pp/one.bin
expect 1 "--skip 6: images.idx has only 6 images" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --skip 6 --output pp/x.bin
expect 1 "--crop does not apply to IDX input" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --crop 28 --output pp/x.bin
expect 1 "--pad does not apply to image files" "$bin/qint8-preprocess" --data-dir . --label-list list.txt --pad 2 --crop 32 --output pp/x.bin
expect 1 "--mean: expected one number or three comma-separated numbers" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --mean 0.5,x,1 --output pp/x.bin
expect 0 "wrote pp/img/d.bin: 1 image of 3x32x32" "$bin/qint8-preprocess" --data_dir . --label_list list.txt --crop 32 --resize-short 36 --output_file pp/img/d.bin
expect 2 "cannot open" "$bin/qint8-preprocess" --idx-images missing.idx --idx-labels labels.idx --output pp/x.bin

# --- qint8-eval ----------------------------------------------------------------------------
expect 0 "images: +6" "$bin/qint8-eval" --model model/model.json --data data.bin -q
expect 0 "batch 6\).*" "$bin/qint8-eval" --model=model/model.json --data=data.bin --batch-size=1000 -q
# a batch larger than the file: not a latency of 0.000
expect 0 "p50 [0-9.]*[1-9][0-9.]*  p99" "$bin/qint8-eval" --infer_model model/model.json --infer_data data.bin --batch_size 1000 --num_threads 1 -q
expect 0 "" "$bin/qint8-eval" --model model/model.json --data data.bin --batch-size 4 --json ev/new/dir/r.json -q
expect_file ev/new/dir/r.json
checks=$((checks + 1)); grep -Eq '"latency_ms_p50": [0-9.]*[1-9]' ev/new/dir/r.json || { fails=$((fails + 1)); echo "FAIL: latency 0 in ev/new/dir/r.json"; }
expect 4 "--json blocker/r.json: cannot create directory blocker" "$bin/qint8-eval" --model model/model.json --data data.bin --json blocker/r.json -q
expect 2 "photo.jpg: --data: expected a data file from qint8-preprocess .* found a JPEG image" "$bin/qint8-eval" --model model/model.json --data photo.jpg
expect 2 "--model: expected a qint8 manifest \(model.json\), found an ONNX model; convert it first: qint8-convert --input" "$bin/qint8-eval" --model "$onnx" --data data.bin
expect 2 "found a qint8 weights file; give the .json file" "$bin/qint8-eval" --model model/model.q8w --data data.bin
expect 1 "--precision: expected one of int8, fp32, found \"int4\"" "$bin/qint8-eval" --model model/model.json --data data.bin --precision int4
expect 1 "--batch-size: expected a whole number from 1 to 65536, found \"0\"" "$bin/qint8-eval" --model model/model.json --data data.bin --batch-size 0
expect 2 "missing.json" "$bin/qint8-eval" --model missing.json --data data.bin

# --- bench_models --------------------------------------------------------------------------
b=("$bin/bench_models" --input-size 32 --classes 10 --iterations 2 --warmup 0 -q)
expect 0 "mobilenet_v1 .* [0-9.]+x " "${b[@]}" --model mobilenet_v1 --precision=both
expect 0 "mobilenet_v1 .* - +- " "${b[@]}" --model=mobilenet_v1 --precision int8 --json bm/new/r.json
expect_file bm/new/r.json
expect 1 "--model excludes --manifest" "$bin/bench_models" --model resnet50 --manifest model/model.json
expect 1 "--manifest excludes --input-size" "$bin/bench_models" --manifest model/model.json --input-size 64
expect 1 "--precision: expected one of fp32, int8, both, found \"int4\"" "$bin/bench_models" --precision int4
expect 1 "--model: expected all or a comma list" "${b[@]}" --model resnet5
expect 0 "int8/fp32" "$bin/bench_models" --manifest=model/model.json --iterations 2 --warmup 0 --threads 1 -q
expect 2 "found an ONNX model" "$bin/bench_models" --manifest "$onnx"

# --- classify ------------------------------------------------------------------------------
expect 0 "label [0-9]" "$bin/classify" --model model/model.json --labels labels10.txt --top 2 --threads 1 photo.ppm
expect 0 "label [0-9]" "$bin/classify" --model=model/model.json --labels=labels10.txt --top=2 --threads=1 photo.ppm
expect 1 "--top: expected a whole number from 1 to 100000, found \"abc\"" "$bin/classify" --model model/model.json --top abc photo.ppm
expect 1 "--top: expected a whole number from 1 to 100000, found \"-1\"" "$bin/classify" --model model/model.json --top -1 photo.ppm
expect 1 "not expected: --modelX" "$bin/classify" --modelX model/model.json photo.ppm
expect 1 "--threads: expected a whole number from 1 to 1024, found \"0\"" "$bin/classify" --model model/model.json --threads 0 photo.ppm
head -9 labels10.txt > labels9.txt
expect 2 "labels9.txt: labels: expected 10 lines, one per model output, found 9" "$bin/classify" --model model/model.json --labels labels9.txt photo.ppm
# one unreadable image: reported, the others classified, exit status 2
expect 2 "missing.png: cannot open the image for reading" "$bin/classify" --model model/model.json --labels labels10.txt missing.png photo.ppm
out=$("$bin/classify" --model model/model.json --labels labels10.txt missing.png photo.ppm 2>/dev/null)
checks=$((checks + 1)); grep -q "^photo.ppm:" <<<"$out" || { fails=$((fails + 1)); echo "FAIL: classify stopped at the unreadable image"; }
# --top larger than the outputs prints every output once
checks=$((checks + 1)); [ "$("$bin/classify" --model model/model.json --top 50 photo.ppm | grep -c '%')" = 10 ] ||
  { fails=$((fails + 1)); echo "FAIL: classify --top 50 on a 10-class model"; }
expect 2 "found an ONNX model; convert it first" "$bin/classify" --model "$onnx" photo.ppm

# --- progress lines: no rate from the first instant, counts in words -------------------------
out=$("$bin/qint8-eval" --model model/model.json --data data.bin 2>&1 >/dev/null)
expect 0 "evaluating images: 6/6 \(100%\)" echo "$out"
checks=$((checks + 1)); ! grep -Eq "[0-9]{6,}(\.[0-9]+)?/s" <<<"$out" || { fails=$((fails + 1)); echo "FAIL: absurd rate in: $out"; }
expect 0 "1 image of 3x32x32" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --skip 5 --output pp/one2.bin
expect 0 "^$" "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --output pp/quiet.bin --quiet

# --- qint8-chart ---------------------------------------------------------------------------
cat > q.json <<'JSON'
{"machine": {"cpu": "Test CPU"}, "results": [
 {"model": "resnet50", "precision": "fp32", "images_per_s": 8.5, "isa": "avx2", "threads": 1, "batch": 1},
 {"model": "resnet50", "precision": "int8", "images_per_s": 15.5, "isa": "avx2", "threads": 1, "batch": 1}]}
JSON
cat > p.json <<'JSON'
{"results": [{"model": "resnet50", "engine": "ort", "precision": "int8", "status": "ok", "images_per_s": 13.25},
             {"model": "resnet50", "engine": "pytorch", "precision": "int8", "status": "failed: x", "images_per_s": 0}]}
JSON
echo '{"gmac_per_s": {"fp32": 58.4, "int8": 116}, "gmac_per_image": {"resnet50": 4.1}}' > l.json
expect 0 "" "$bin/qint8-chart" speed --qint8 q.json --peers=p.json --limits l.json --output ch/new/speed.svg
expect_file ch/new/speed.svg
# 15.5 / (116 / 4.1) = 55% of the INT8 limit; the failed peer is left out
expect 0 "15.5 \(55% of limit\)" cat ch/new/speed.svg
expect 0 ">13.2<|>13.3<" cat ch/new/speed.svg
expect 1 "" grep -q "PyTorch.*>0.00<" ch/new/speed.svg
expect 0 "Test CPU, qint8 avx2 path" cat ch/new/speed.svg
expect 0 "" "$bin/qint8-chart" accuracy "$src/models/fashion_mnist/resnet50/accuracy.json" --output ch/acc.svg
expect 0 ">90.53<" cat ch/acc.svg
expect 2 "q.json: expected an accuracy.json" "$bin/qint8-chart" accuracy q.json --output ch/x.svg
expect 2 "photo.jpg: --qint8: expected JSON" "$bin/qint8-chart" speed --qint8 photo.jpg --output ch/x.svg
expect 1 "A subcommand is required|requires at least 1 subcommand" "$bin/qint8-chart" --output x.svg

# --- run_manifest --------------------------------------------------------------------------
expect 0 "class +[0-9]+ " "$bin/run_manifest" model/model.json --threads 1
expect 0 "fp32" "$bin/run_manifest" --model=model/model.json --fp32
expect 1 "not expected: extra" "$bin/run_manifest" model/model.json extra
expect 2 "found an ONNX model" "$bin/run_manifest" "$onnx"

finish
