#!/bin/bash
# Every doctest case must be reachable through ctest: doctest_discover_tests registers each name
# as a CMake list element, so a ';' splits it, and the truncated name then selects no case at all:
# doctest runs nothing and the ctest entry passes without checking anything. Fails naming any such
# case. Usage: test_names.sh BINARY...
status=0
for bin in "$@"; do
  names=$("$bin" --list-test-cases --no-version 2>&1) || { echo "test_names.sh: $bin --list-test-cases failed" >&2; exit 1; }
  bad=$(printf '%s\n' "$names" | grep ';')
  if [ -n "$bad" ]; then
    echo "test_names.sh: $(basename "$bin"): test case names with ';' (ctest cannot select them):" >&2
    printf '  %s\n' "$bad" >&2
    status=1
  fi
done
[ $status = 0 ] && echo "test names: every case selectable ($# binaries)"
exit $status
