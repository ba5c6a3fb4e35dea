#!/bin/bash
# Every doctest case must be reachable through ctest: doctest_discover_tests registers each name
# as a CMake list element, so a ';' splits it, and the truncated name then selects no case at all:
# doctest runs nothing and the ctest entry passes without checking anything. A ',' is refused too:
# the discovery looks up each case's suite (its ctest label) with the name as a --test-case filter,
# which doctest splits at commas, so such an entry gets no label: `ctest -L <suite>` misses it and
# `-LE "slow|imagenet"` does not leave it out. A case outside every TEST_SUITE gets no label either,
# and is refused for the same reason. Fails naming any such case.
# Usage: test_names.sh BINARY...
status=0
for bin in "$@"; do
  names=$("$bin" --list-test-cases --no-version 2>&1) || { echo "test_names.sh: $bin --list-test-cases failed" >&2; exit 1; }
  bad=$(printf '%s\n' "$names" | grep '[;,]')
  if [ -n "$bad" ]; then
    echo "test_names.sh: $(basename "$bin"): test case names with ';' or ',' (ctest cannot select or label them):" >&2
    printf '%s\n' "$bad" | sed 's/^/  /' >&2
    status=1
  fi
  # The cases in a suite with a name of at least one character, against all of them.
  suited=$("$bin" --list-test-cases --no-version '--test-suite=?*' 2>&1) || { echo "test_names.sh: $bin --list-test-cases failed" >&2; exit 1; }
  loose=$(comm -23 <(printf '%s\n' "$names" | grep -v '^\[doctest\]\|^====' | sort) <(printf '%s\n' "$suited" | grep -v '^\[doctest\]\|^====' | sort))
  if [ -n "$loose" ]; then
    echo "test_names.sh: $(basename "$bin"): test cases outside every TEST_SUITE (ctest gives them no label):" >&2
    printf '%s\n' "$loose" | sed 's/^/  /' >&2
    status=1
  fi
done
[ $status = 0 ] && echo "test names: every case selectable ($# binaries)"
exit $status
