#!/usr/bin/env bash
# Checks CI runs after the README's commands, in the same fresh root and build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
# The configure step found every dependency in packages scripts/install-deps.sh installs (also a
# ctest entry; repeated here so a filtered ctest run cannot skip it).
bash tests/packaging/deps_from_install_list.sh "$PWD/build" "$PWD"
