#!/usr/bin/env bash
# What the README's program needs to run: a small ResNet-50 from qint8-synth (WORK/model/model.json)
# and a 48 x 40 PPM photo with a colour gradient (WORK/photo.ppm), which stb decodes like a JPEG.
#   make_inputs.sh BIN_DIR WORK
set -euo pipefail
bin=$1 work=$2
"$bin/qint8-synth" --model resnet50 --width 0.25 --input-size 32 --classes 10 --output "$work/model/model.json" -q
{
  printf 'P6\n48 40\n255\n'
  for ((y = 0; y < 40; ++y)); do
    for ((x = 0; x < 48; ++x)); do printf "\\$(printf %03o $((x * 5)))\\$(printf %03o $((y * 6)))\\$(printf %03o $(((x + y) * 2)))"; done
  done
} > "$work/photo.ppm"
