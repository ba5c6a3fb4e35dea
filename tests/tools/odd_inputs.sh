#!/usr/bin/env bash
# Inputs a user can give by mistake or by design, and what each tool does with them: endless
# files (/dev/zero, a FIFO) refused at once instead of read until memory runs out; a file of the
# wrong kind named as what it is; NaN in a data file named with its image; label lists with
# spaces in paths, paths beside the list, and missing images; a label file the manifest names
# but that is gone; a background class that --top never lists.
#
#   tests/tools/odd_inputs.sh BIN_DIR SOURCE_DIR
bin=$1 src=$2
. "$(dirname "$0")/expect.sh"
make_model_and_data
fm=$src/models/fashion_mnist/mobilenet_v1/mobilenet_v1_fp32.onnx
{ printf 'P6\n40 48\n255\n'; head -c $((40 * 48 * 3)) /dev/urandom; } > photo.ppm
printf '\xff\xd8\xff\xe0 not really a JPEG' > photo.jpg
seq 0 9 | sed 's/^/label /' > labels10.txt
mkfifo fifo

# --- endless inputs: refused, not read ------------------------------------------------------
expect 2 "/dev/zero: --input: not a regular file" timeout 20 "$bin/qint8-convert" --input /dev/zero --output c/m.json --precision fp32
expect 2 "fifo: --input: not a regular file" timeout 20 "$bin/qint8-convert" --input fifo --output c/m.json --precision fp32
expect 2 "/dev/zero: --labels: not a regular file" timeout 20 "$bin/qint8-convert" --input "$fm" --output c/m.json --precision fp32 --labels /dev/zero
expect 2 "/dev/zero: --label-list: not a regular file" timeout 20 "$bin/qint8-preprocess" --label-list /dev/zero --output p.bin
expect 2 "fifo: --label-list: not a regular file" timeout 20 "$bin/qint8-preprocess" --label-list fifo --output p.bin
expect 2 "/dev/zero: --labels: not a regular file" timeout 20 "$bin/classify" --model model/model.json --labels /dev/zero photo.ppm

# --- qint8-convert names the kind of a wrong input --------------------------------------------
expect 2 "photo.jpg: --input: expected an ONNX \(.onnx\) or TFLite \(.tflite\) model, found a JPEG image" "$bin/qint8-convert" --input photo.jpg --output c/m.json
expect 2 "labels.idx: --input: expected an ONNX .* found an IDX file" "$bin/qint8-convert" --input labels.idx --output c/m.json
expect 2 "found a JSON file \(a qint8 manifest is already converted" "$bin/qint8-convert" --input model/model.json --output c/m.json
checks=$((checks + 1)); [ ! -e c ] || { fails=$((fails + 1)); echo "FAIL: a refused conversion left c/ behind"; }

# --- NaN and infinity in a data file: refused, naming the image ------------------------------
cp data.bin nan.bin
# image 4 (of 3 x 32 x 32 floats), value 5: float32 NaN, little-endian
printf '\x00\x00\xc0\x7f' | dd of=nan.bin bs=1 seek=$((8 + 4 * (4 * 3072 + 5))) conv=notrunc status=none
expect 2 "nan.bin: image 4 \(counting from 0\), value 5: expected finite numbers, found NaN" "$bin/qint8-eval" --model model/model.json --data nan.bin -q
cp data.bin inf.bin
printf '\x00\x00\x80\xff' | dd of=inf.bin bs=1 seek=$((8 + 4 * 7)) conv=notrunc status=none
expect 2 "inf.bin: image 0 \(counting from 0\), value 7: expected finite numbers, found -infinity" "$bin/qint8-eval" --model model/model.json --data inf.bin -q

# --- label lists: spaces, paths beside the list, missing images -------------------------------
mkdir -p "set/with space" elsewhere
cp photo.ppm "set/with space/a photo.ppm"
printf 'with space/a photo.ppm 3\n' > set/list.txt
# run from another directory: the paths are the list's, not the current directory's
expect 0 "1 image of 3x32x32" env -C elsewhere "$bin/qint8-preprocess" --label-list ../set/list.txt --crop 32 --resize-short 0 --output ../sp.bin
expect 0 "1 image of 3x32x32" "$bin/qint8-preprocess" --data-dir set --label-list set/list.txt --crop 32 --resize-short 0 --output sp2.bin
check "a path with spaces, beside the list or under --data-dir, is the same image" cmp sp.bin sp2.bin
# a list written for the current directory (the default before) still works, with a note
printf 'photo.ppm 1\n' > set/cwd_list.txt
expect 0 "note: photo.ppm is not beside set/cwd_list.txt; taking it from the current directory" \
  "$bin/qint8-preprocess" --label-list set/cwd_list.txt --crop 32 --resize-short 0 --output cwd.bin
printf 'with space/a photo.ppm 3\nmissing.ppm 2\n' > set/missing.txt
expect 2 "set/missing.ppm: no such image \(set/missing.txt:2 lists \"missing.ppm\", relative to the list's directory" \
  "$bin/qint8-preprocess" --label-list set/missing.txt --crop 32 --resize-short 0 --output m.bin
expect_not "can't fopen" "$bin/qint8-preprocess" --label-list set/missing.txt --crop 32 --resize-short 0 --output m.bin
printf 'photo.ppm x\n' > set/bad.txt
expect 2 "set/bad.txt:1: expected \"relative/path LABEL\" with a label >= 0 as the last word" "$bin/qint8-preprocess" --label-list set/bad.txt --output b.bin

# --- classify: a label file the manifest names but that is gone; the background class --------
"$bin/qint8-convert" --input "$fm" --output conv/fm.json --precision fp32 --mean 0.2860 --std 0.3530 --labels labels10.txt -q >/dev/null ||
  { echo "FAIL: cannot convert $fm"; exit 1; }
rm conv/fm.labels.txt
expect 0 "warning: conv/fm.labels.txt: the label file conv/fm.json's classes.labels names is missing; printing class numbers" \
  "$bin/classify" --model conv/fm.json photo.ppm
expect 0 "class [0-9]" "$bin/classify" --model conv/fm.json photo.ppm
expect 2 "missing.txt: --labels: cannot open" "$bin/classify" --model conv/fm.json --labels missing.txt photo.ppm
"$bin/qint8-synth" --model mobilenet_v1 --width 0.25 --input-size 32 --classes 10 --background-class --output bg/model.json -q ||
  { echo "FAIL: cannot make the background-class model"; exit 1; }
out=$("$bin/classify" --model bg/model.json --top 1001 photo.ppm)
checks=$((checks + 1)); [ "$(grep -c '%' <<<"$out")" = 10 ] || { fails=$((fails + 1)); echo "FAIL: --top 1001 on 10 classes + background: $out"; }
expect_not "class -1|background" "$bin/classify" --model bg/model.json --top 1001 photo.ppm
expect_not "background" "$bin/classify" --model bg/model.json --labels labels10.txt --top 1001 photo.ppm

# --- what the tools say: phases of a conversion, numbers as the summary prints them ---------
{ printf '\x00\x00\x08\x03'; be32 20; be32 32; be32 32; head -c $((20 * 32 * 32)) /dev/urandom; } > images20.idx
{ printf '\x00\x00\x08\x01'; be32 20; head -c 20 /dev/zero; } > labels20.idx
"$bin/qint8-preprocess" --idx-images images20.idx --idx-labels labels20.idx --output data20.bin -q || { echo "FAIL: cannot make data20.bin"; exit 1; }
out=$("$bin/qint8-convert" --input "$fm" --output conv/ptq.json --calib-data data20.bin --report --accuracy-data data20.bin --max-top1-loss 100 2>&1 >/dev/null)
# Bias correction's phase is named after the weights it corrects: "bias correction layers" and
# "(pair-safe weights)" where the path keeps 8-bit weights, "(pair-safe weights)" and
# "(8-bit weights, reference)" on paths without VNNI.
for phase in "calibration images: 20/20" "bias correction layers( \([a-z0-9, -]+\))?: [0-9]+/[0-9]+ \(100%\)" "report images: 20/20"; do
  checks=$((checks + 1)); grep -Eq "$phase" <<<"$out" || { fails=$((fails + 1)); echo "FAIL: no \"$phase\" in: $out"; }
done
checks=$((checks + 1)); grep -Eq "accuracy fallback: FP32 top-1 [0-9]+\.[0-9]{2}, INT8 [0-9]+\.[0-9]{2} on 20 images, budget 100\.00 pt" <<<"$out" &&
  ! grep -Eq "[0-9]\.[0-9]{6}" <<<"$out" || { fails=$((fails + 1)); echo "FAIL: fallback numbers as std::to_string prints them: $out"; }

# --- tools that said nothing, or too much ----------------------------------------------------
cat > q.json <<'JSON'
{"machine": {"cpu": "Test CPU"}, "results": [{"model": "resnet50", "precision": "int8", "images_per_s": 15.5, "isa": "avx2", "threads": 1, "batch": 1}]}
JSON
expect 0 "qint8-chart: wrote ch/speed.svg \(1 model\)" "$bin/qint8-chart" speed --qint8 q.json --output ch/speed.svg
expect 0 "^$" "$bin/qint8-chart" speed --qint8 q.json --output ch/speed.svg -q
help=$("$bin/run_manifest" --help)
checks=$((checks + 1)); [ "$(grep -c 'manifest (model.json)' <<<"$help")" = 1 ] && ! grep -q REQUIRED <<<"$help" ||
  { fails=$((fails + 1)); echo "FAIL: run_manifest --help lists the model more than once, or as required:"; echo "$help"; }
expect 1 "model: the manifest to run is required" "$bin/run_manifest"
expect 1 "excludes" "$bin/run_manifest" model/model.json --model model/model.json

finish
