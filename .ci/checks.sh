#!/usr/bin/env bash
# Checks CI runs after the README's commands, in the same fresh root and build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
# The configure step found every dependency in packages scripts/install-deps.sh installs (also a
# ctest entry; repeated here so a filtered ctest run cannot skip it).
bash tests/packaging/deps_from_install_list.sh "$PWD/build" "$PWD"

# Sanitizers: the fast suite built with clang -O1, AddressSanitizer + UndefinedBehaviorSanitizer
# (one code path registered), every report fatal; the fuzz targets' committed corpora run there
# too. Then a short run of each fuzz target on top of the same build. Timed: CI's budget is
# 30 minutes on 2 cores, and this step is meant to stay under about 12 (docs/reliability.md).
bash scripts/install-deps.sh --sanitizers
t0=$SECONDS
bash scripts/sanitize.sh address
echo "checks.sh: ASan+UBSan build and suite: $((SECONDS - t0)) s" >&2
t1=$SECONDS
bash scripts/fuzz.sh all 20
echo "checks.sh: fuzzing, 20 s per target: $((SECONDS - t1)) s" >&2
