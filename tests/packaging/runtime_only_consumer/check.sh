#!/usr/bin/env bash
# An application that wants only the runtime needs neither ONNX nor protobuf: installs the build
# tree into a scratch prefix, then configures, builds and runs the README's program with both
# packages made unfindable (CMAKE_DISABLE_FIND_PACKAGE_ONNX / _Protobuf). The same disabling
# must make find_package(qint8 COMPONENTS convert_onnx) fail (so the simulation is real), and
# without it that component must be found. Also: every tool the README's tools table names is
# installed in bin/. The consumer's build, with default compiler flags, must not warn that an AVX
# vector crosses an ABI boundary.
#   check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 src_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
consumer=$src_dir/tests/packaging/runtime_only_consumer
cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
no_onnx=(-DCMAKE_DISABLE_FIND_PACKAGE_ONNX=ON -DCMAKE_DISABLE_FIND_PACKAGE_Protobuf=ON)

cmake -S "$consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" "${no_onnx[@]}" > "$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; echo "a runtime-only consumer failed to configure without ONNX and protobuf"; exit 1; }
cmake --build "$work/build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
# The consumer builds with its compiler's default flags (no -mavx2): a vector value passed between
# a function with an AVX target and one without changes the ABI there. GCC says so with -Wpsabi
# (hidden for the installed headers, a system include directory) and a note that always shows:
# "the ABI for passing parameters with 32-byte alignment has changed".
if grep -q "ABI" "$work/build.log"; then
  cat "$work/build.log"; echo "qint8's headers pass AVX vectors across functions without the AVX target (see the warnings above)"; exit 1
fi
bash "$src_dir/tests/packaging/make_inputs.sh" "$work/prefix/bin" "$work"
out=$("$work/build/consumer" "$work/model/model.json" "$work/photo.ppm")
echo "$out"
[ "$(grep -c '^class [0-9]*: 0\.[0-9]*$' <<<"$out")" = 5 ] || { echo "expected 5 predictions"; exit 1; }
rc=0; err=$("$work/build/consumer" "$work/model/model.json" "$work/no_such.jpg" 2>&1) || rc=$?
[ $rc = 2 ] && [ "$err" = "[qint8.io] $work/no_such.jpg: cannot open the image for reading" ] ||
  { echo "a missing photo: expected status 2 and a qint8.io message, found $rc: $err"; exit 1; }

if cmake -S "$consumer" -B "$work/onnx_absent" -DWANT_ONNX=ON -DCMAKE_PREFIX_PATH="$work/prefix" "${no_onnx[@]}" > "$work/onnx_absent.log" 2>&1; then
  echo "find_package(qint8 COMPONENTS convert_onnx) configured with ONNX and protobuf disabled: the simulation of their absence is not effective"; exit 1
fi
grep -Eq "ONNX|Protobuf" "$work/onnx_absent.log" || { cat "$work/onnx_absent.log"; echo "the failure does not name ONNX or protobuf"; exit 1; }
cmake -S "$consumer" -B "$work/onnx" -DWANT_ONNX=ON -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/onnx.log" 2>&1 ||
  { cat "$work/onnx.log"; echo "find_package(qint8 COMPONENTS convert_onnx) failed with ONNX and protobuf installed"; exit 1; }

# The tools table: rows "| `name ...` | ...", between "## Tools" and the next heading.
mapfile -t tools < <(awk '/^## Tools/ { t = 1; next } t && /^## / { exit } t && /^\| `/ { print }' "$src_dir/README.md" |
                     sed 's/^| `\([^ `]*\).*/\1/')
[ ${#tools[@]} -ge 6 ] || { echo "README.md: found ${#tools[@]} tools in the tools table, expected at least 6"; exit 1; }
for t in "${tools[@]}"; do
  [ -x "$work/prefix/bin/$t" ] || { echo "README names $t, which cmake --install does not install in bin/"; exit 1; }
done
echo "installed: ${tools[*]}"
echo "runtime-only consumer: 5 predictions without ONNX and protobuf"
