#!/usr/bin/env bash
# Installs every Debian 12 package qint8 needs to build, test and run its tools.
# Library: oneDNN, cpuinfo, xsimd (+xtl), nlohmann-json, OpenMP (gcc). Tests: doctest.
# Tools: stb (images), zlib (IDX files), ONNX + protobuf (converter). Real-data tests: Fashion-MNIST.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libdnnl-dev libcpuinfo-dev libxsimd-dev xtl-dev nlohmann-json3-dev doctest-dev
  libstb-dev zlib1g-dev libonnx-dev libprotobuf-dev protobuf-compiler libflatbuffers-dev
  dataset-fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
