#!/usr/bin/env bash
# Installs the Debian 12 packages qint8 needs, using `sudo` when not root.
#
#   bash scripts/install-deps.sh              # build, tests, tools, examples, the main job
#   bash scripts/install-deps.sh --sanitizers # + clang and its runtimes (ASan/UBSan/TSan, libFuzzer)
#   bash scripts/install-deps.sh --peers      # + PyTorch, ONNX and Node.js for bench/peers and
#                                             #   models/fashion_mnist/train.py
#   bash scripts/install-deps.sh --list [...] # print the package names, install nothing
#
# Everything is installed with --no-install-recommends, exactly as on a fresh machine: a package
# that is only a "Recommends" of another (ocl-icd-opencl-dev for libdnnl-dev, say) must be named
# here. tests/packaging/deps_from_install_list.sh checks that every file the build finds comes from
# these packages or their hard dependencies.
set -euo pipefail

# Library: oneDNN (its CMake config requires OpenCL headers and the ICD loader), cpuinfo, xsimd
# (+ xtl), nlohmann-json; OpenMP comes with gcc. Tests: doctest. Tools: CLI11 (command lines), stb
# (images), zlib (IDX files), ONNX + protobuf (converter). Real-data tests and the main job: Fashion-MNIST.
core=(
  build-essential cmake pkg-config
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
  libcpuinfo-dev libxsimd-dev xtl-dev nlohmann-json3-dev doctest-dev
  libcli11-dev libstb-dev zlib1g-dev libonnx-dev libprotobuf-dev protobuf-compiler
  dataset-fashion-mnist
)
sanitizers=(clang libclang-rt-14-dev libomp-14-dev)
peers=(python3 python3-numpy python3-torch python3-torchvision python3-onnx nodejs)

want=("${core[@]}") list_only=0
for a in "$@"; do
  case "$a" in
    --sanitizers) want+=("${sanitizers[@]}") ;;
    --peers) want+=("${peers[@]}") ;;
    --list) list_only=1 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$a' (see --help)" >&2; exit 1 ;;
  esac
done
if [ $list_only = 1 ]; then printf '%s\n' "${want[@]}"; exit 0; fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}" >&2

  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's nodejs carries no npm; a Node.js from another source brings its own.
if [[ " ${want[*]} " == *" nodejs "* ]] && ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
