#!/usr/bin/env bash
# Checks CI runs after the README's commands, in the same fresh root and build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
# The configure step found every dependency in packages scripts/install-deps.sh installs (also a
# ctest entry; repeated here so a filtered ctest run cannot skip it).
bash tests/packaging/deps_from_install_list.sh "$PWD/build" "$PWD"

# Sanitizers: the fast suite built with clang -O1, AddressSanitizer + UndefinedBehaviorSanitizer
# (one code path registered), every report fatal; the fuzz targets' committed corpora (every
# crash input found and fixed) run there as regression tests. Open-ended fuzzing is not a CI step:
# a new finding would fail an unrelated submission at random. It is run by hand with
# scripts/fuzz.sh and recorded in docs/reliability.md.
bash scripts/install-deps.sh --sanitizers
t0=$SECONDS
bash scripts/sanitize.sh address
echo "checks.sh: ASan+UBSan build and suite: $((SECONDS - t0)) s" >&2
