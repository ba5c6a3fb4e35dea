#!/usr/bin/env bash
# Installs the build tree into a scratch prefix and compiles the README's program with nothing but
# `g++ $(pkg-config --cflags --libs qint8 stb)`, and once more with the README's flags for builds by
# hand, then runs both on a ResNet-50 from qint8-synth and a photo: five predictions must come out
# of each.
#   check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 src_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
export PKG_CONFIG_PATH="$work/prefix/share/pkgconfig"
flags=$(pkg-config --cflags --libs qint8 stb)
echo "pkg-config --cflags --libs qint8 stb: $flags"
[ "$(pkg-config --modversion qint8)" = "$(sed -n 's/.*version_string = "\(.*\)".*/\1/p' "$src_dir/include/qint8/version.hpp")" ] ||
  { echo "qint8.pc: version differs from include/qint8/version.hpp"; exit 1; }
# shellcheck disable=SC2086  # the flags are words
g++ -O1 "$src_dir/tests/packaging/readme_example.cpp" -o "$work/consumer" $flags
[ -x "$work/prefix/bin/qint8-synth" ] || { echo "cmake --install did not install the tools"; exit 1; }
bash "$src_dir/tests/packaging/make_inputs.sh" "$work/prefix/bin" "$work"
g++ -std=c++17 -I "$work/prefix/include" -I /usr/include/stb "$src_dir/tests/packaging/readme_example.cpp" -o "$work/by_hand" -ldnnl -lcpuinfo -fopenmp -lstb
by_hand=$("$work/by_hand" "$work/model/model.json" "$work/photo.ppm")
[ "$(grep -c '^class [0-9]*: 0\.[0-9]*$' <<<"$by_hand")" = 5 ] || { echo "built by hand: $by_hand"; exit 1; }
out=$("$work/consumer" "$work/model/model.json" "$work/photo.ppm")
echo "$out"
[ "$(grep -c '^class [0-9]*: 0\.[0-9]*$' <<<"$out")" = 5 ] && echo "pkg-config consumer: 5 predictions"
