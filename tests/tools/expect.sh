# Helpers sourced by the shell tests of tests/tools/: a scratch directory, counted checks and a
# summary line. The sourcing script sets `bin` (the tools' directory) first.
set -uo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fails=0 checks=0

# expect RC PATTERN CMD...: CMD exits with RC and its stdout+stderr match the extended regex PATTERN.
expect() {
  local rc=$1 pat=$2; shift 2
  local out got
  out=$("$@" 2>&1); got=$?
  checks=$((checks + 1))
  if [ "$got" != "$rc" ] || ! grep -Eq -- "$pat" <<<"$out"; then
    fails=$((fails + 1))
    printf 'FAIL: %s\n  expected exit %s and /%s/, got exit %s:\n%s\n' "$*" "$rc" "$pat" "$got" "$(head -c 1500 <<<"$out" | sed 's/^/    /')"
  fi
}
# expect_not PATTERN CMD...: the output of CMD (any exit status) does not match PATTERN.
expect_not() {
  local pat=$1; shift
  local out
  out=$("$@" 2>&1)
  checks=$((checks + 1))
  if grep -Eq -- "$pat" <<<"$out"; then
    fails=$((fails + 1))
    printf 'FAIL: %s\n  printed /%s/:\n%s\n' "$*" "$pat" "$(head -c 1500 <<<"$out" | sed 's/^/    /')"
  fi
}
# check DESCRIPTION CMD...: CMD succeeds.
check() {
  local what=$1; shift
  checks=$((checks + 1))
  "$@" || { fails=$((fails + 1)); echo "FAIL: $what"; }
}
# be32 N: N as 4 big-endian bytes (IDX headers).
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
# A small synthetic model (mobilenet_v1, 32 x 32, 10 classes) as model/model.json, and a data file
# of 6 IDX images for it as data.bin.
make_model_and_data() {
  { printf '\x00\x00\x08\x03'; be32 6; be32 32; be32 32; head -c $((6 * 32 * 32)) /dev/urandom; } > images.idx
  { printf '\x00\x00\x08\x01'; be32 6; printf '\x00\x01\x02\x03\x04\x05'; } > labels.idx
  "$bin/qint8-synth" --model mobilenet_v1 --width 0.25 --input-size 32 --classes 10 --output model/model.json -q ||
    { echo "FAIL: cannot make the test model"; exit 1; }
  "$bin/qint8-preprocess" --idx-images images.idx --idx-labels labels.idx --output data.bin -q ||
    { echo "FAIL: cannot make the test data"; exit 1; }
}
finish() {
  echo "$checks checks, $fails failed"
  [ "$fails" = 0 ]
}
