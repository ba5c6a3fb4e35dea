#!/usr/bin/env bash
# Installs the build tree into a scratch prefix and compiles the README's embedding lines with
# nothing but `g++ $(pkg-config --cflags --libs qint8)`, and once more with the README's flags for
# builds by hand (-ldnnl -lcpuinfo -fopenmp), then runs both on a model from qint8-synth: five
# predictions must come out of each.
#   check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 src_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
export PKG_CONFIG_PATH="$work/prefix/share/pkgconfig"
flags=$(pkg-config --cflags --libs qint8)
echo "pkg-config --cflags --libs qint8: $flags"
[ "$(pkg-config --modversion qint8)" = "$(sed -n 's/.*version_string = "\(.*\)".*/\1/p' "$src_dir/include/qint8/version.hpp")" ] ||
  { echo "qint8.pc: version differs from include/qint8/version.hpp"; exit 1; }
# shellcheck disable=SC2086  # the flags are words
g++ -O1 "$src_dir/tests/packaging/readme_example.cpp" -o "$work/consumer" $flags
[ -x "$work/prefix/bin/qint8-synth" ] || { echo "cmake --install did not install the tools"; exit 1; }
"$work/prefix/bin/qint8-synth" --model mobilenet_v1 --width 0.25 --input-size 32 --classes 10 --output "$work/model/model.json" -q
g++ -std=c++17 -I "$work/prefix/include" "$src_dir/tests/packaging/readme_example.cpp" -o "$work/by_hand" -ldnnl -lcpuinfo -fopenmp
by_hand=$("$work/by_hand" "$work/model/model.json")
[ "$(grep -c '^class [0-9]*: 0\.[0-9]*$' <<<"$by_hand")" = 5 ] || { echo "built by hand: $by_hand"; exit 1; }
out=$("$work/consumer" "$work/model/model.json")
echo "$out"
[ "$(grep -c '^class [0-9]*: 0\.[0-9]*$' <<<"$out")" = 5 ] && echo "pkg-config consumer: 5 predictions"
