#!/usr/bin/env bash
# The README's program (the first ```cpp block under "## Use it in a program") is
# tests/packaging/readme_example.cpp, line for line: the consumer tests build and run that file,
# so the README's copy cannot drift from code that compiles and runs.
#   readme_snippet.sh SOURCE_DIR
set -euo pipefail
src_dir=$1
block=$(awk '/^## Use it in a program/ { in_section = 1; next }
             in_section && /^```cpp/ { grab = 1; next }
             grab && /^```/ { exit }
             grab { print }' "$src_dir/README.md")
[ -n "$block" ] || { echo "README.md: no \`\`\`cpp block under '## Use it in a program'"; exit 1; }
if diff <(printf '%s\n' "$block") "$src_dir/tests/packaging/readme_example.cpp"; then
  echo "README program = tests/packaging/readme_example.cpp"
else
  echo "README.md's program differs from tests/packaging/readme_example.cpp (lines above: < README, > file)"; exit 1
fi
