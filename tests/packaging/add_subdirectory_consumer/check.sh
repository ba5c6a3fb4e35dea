#!/usr/bin/env bash
# Configures and builds a project that pulls qint8 in with add_subdirectory(), then runs the
# README's program on a ResNet-50 from qint8-synth and a photo: five predictions must come out.
#   check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 src_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$src_dir/tests/packaging/make_inputs.sh" "$build_dir/bin" "$work"
cmake -S "$src_dir/tests/packaging/add_subdirectory_consumer" -B "$work/build" -DQINT8_SOURCE_DIR="$src_dir" > "$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
# qint8 as a subproject builds no tests and no tools of its own
[ ! -e "$work/build/bin/qint8_runtime_tests" ] && [ ! -e "$work/build/qint8/tests" ] || { echo "qint8's tests were built in a consumer"; exit 1; }
out=$("$work/build/consumer" "$work/model/model.json" "$work/photo.ppm")
echo "$out"
[ "$(grep -c '^class [0-9]*: 0\.[0-9]*$' <<<"$out")" = 5 ] && echo "add_subdirectory consumer: 5 predictions"
