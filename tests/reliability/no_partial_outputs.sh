#!/usr/bin/env bash
# qint8-convert and qint8-preprocess leave no output file and no temporary behind when they
# fail: on bad input, when a write hits the file-size limit (ulimit -f; SIGXFSZ either kills the
# process or, ignored, makes the write fail), and when killed (SIGKILL, SIGTERM) mid-run. SIGINT
# is not sent: a background job of a non-interactive shell ignores it.
#   no_partial_outputs.sh BIN_DIR SOURCE_DIR
set -uo pipefail
bin=$1 src=$2
t=$(mktemp -d /tmp/qint8_partial_XXXXXX)
trap 'rm -rf "$t"' EXIT
fails=0
pass() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Names in DIR (recursive, sorted), relative to it.
listing() { (cd "$1" && find . -mindepth 1 | sort); }

# expect NAME STATUS PATTERN DIR -- CMD...: runs CMD, checks its exit status, that stderr
# contains PATTERN (a fixed string; empty: not checked) and that DIR lists the same names after.
expect() {
  local name=$1 want=$2 pat=$3 dir=$4; shift 5
  local before; before=$(listing "$dir")
  "$@" >"$t/out.txt" 2>"$t/err.txt"; local got=$?
  local after; after=$(listing "$dir")
  if [ "$got" != "$want" ]; then fail "$name: exit status $got, expected $want"; sed 's/^/    /' "$t/err.txt"; return; fi
  if [ -n "$pat" ] && ! grep -qF -- "$pat" "$t/err.txt"; then fail "$name: stderr lacks \"$pat\""; sed 's/^/    /' "$t/err.txt"; return; fi
  if [ "$before" != "$after" ]; then fail "$name: files changed:"; diff <(echo "$before") <(echo "$after") | sed 's/^/    /'; return; fi
  pass "$name (exit $got)"
}

# A P6 PPM image of W x H with pixel bytes from a fixed pattern.
ppm() {
  local w=$1 h=$2 out=$3
  { printf 'P6\n%d %d\n255\n' "$w" "$h"; head -c $((w * h * 3)) /dev/zero | tr '\0' '\141'; } >"$out"
}

mkdir -p "$t/in" "$t/work"
for i in 1 2 3 4; do ppm 40 40 "$t/in/img$i.ppm"; done
printf 'img1.ppm 0\nimg2.ppm 1\nimg3.ppm 2\nimg4.ppm 3\n' >"$t/in/list.txt"
pre=("$bin/qint8-preprocess" --data-dir "$t/in" --label-list "$t/in/list.txt" --resize-short 32 --crop 32)

# The good runs first: both tools do write when nothing goes wrong.
"${pre[@]}" --output "$t/work/ok.bin" 2>/dev/null && [ -f "$t/work/ok.bin" ] && pass "preprocess writes its output" || fail "preprocess: good run"
rm -f "$t/work/ok.bin"

# 1. Bad input.
printf 'not a model\n' >"$t/in/bad.onnx"
expect "convert: text as ONNX" 2 "not a valid ONNX model" "$t/work" -- \
  "$bin/qint8-convert" --input "$t/in/bad.onnx" --output "$t/work/out/model.json" --precision fp32
expect "convert: missing input" 2 "cannot open for reading" "$t/work" -- \
  "$bin/qint8-convert" --input "$t/in/none.onnx" --output "$t/work/model.json" --precision fp32
printf 'garbage' >"$t/in/img3.ppm"
expect "preprocess: corrupt third image" 2 "img3.ppm: cannot decode image" "$t/work" -- "${pre[@]}" --output "$t/work/data.bin"
ppm 40 40 "$t/in/img3.ppm"
printf 'img1.ppm zero\n' >"$t/in/badlist.txt"
expect "preprocess: bad label list line" 2 'expected "relative/path LABEL"' "$t/work" -- \
  "$bin/qint8-preprocess" --data-dir "$t/in" --label-list "$t/in/badlist.txt" --output "$t/work/data.bin"
printf 'XXXX' >"$t/in/bad.idx"
expect "preprocess: IDX with a bad magic" 2 "not an unsigned-byte IDX file" "$t/work" -- \
  "$bin/qint8-preprocess" --idx-images "$t/in/bad.idx" --idx-labels "$t/in/bad.idx" --output "$t/work/data.bin"
# Missing output directories are created (the tools' convention); one that cannot be created,
# under a regular file, is an output error (exit 4) before any work.
touch "$t/work/plain"
expect "preprocess: output directory under a regular file" 4 "plain" "$t/work" -- "${pre[@]}" --output "$t/work/plain/dir/data.bin"

# 2. File-size limit: each image is 32*32*3*4 = 12 KiB, the limit 16 KiB (ulimit -f counts KiB in bash).
expect "preprocess: ulimit -f, SIGXFSZ kills it" 153 "" "$t/work" -- bash -c 'ulimit -f 16; exec "$@"' _ "${pre[@]}" --output "$t/work/data.bin"
expect "preprocess: ulimit -f, SIGXFSZ ignored: write error" 4 "File too large" "$t/work" -- \
  bash -c 'trap "" XFSZ; ulimit -f 16; exec "$@"' _ "${pre[@]}" --output "$t/work/data.bin"
onnx=$src/models/fashion_mnist/mobilenet_v1/mobilenet_v1_fp32.onnx
if [ -f "$onnx" ]; then
  # The weights file (~3 MB) exceeds 1 MiB; the output directory exists beforehand ...
  mkdir -p "$t/work/out"
  expect "convert: ulimit -f, SIGXFSZ kills it" 153 "" "$t/work" -- \
    bash -c 'ulimit -f 1024; exec "$@"' _ "$bin/qint8-convert" --input "$onnx" --output "$t/work/out/model.json" --precision fp32 --quiet
  rmdir "$t/work/out"
  # ... or is created by the run, and removed again when the write fails.
  expect "convert: ulimit -f, SIGXFSZ ignored: write error" 4 "File too large" "$t/work" -- \
    bash -c 'trap "" XFSZ; ulimit -f 1024; exec "$@"' _ "$bin/qint8-convert" --input "$onnx" --output "$t/work/new/model.json" --precision fp32 --quiet
else
  fail "$onnx missing"
fi

# 3. Killed mid-run: the second listed "image" is a FIFO, so the run blocks opening it after
# the first image is written; opening the FIFO's other end here waits for exactly that moment.
for sig in KILL TERM; do
  rm -f "$t/in/fifo.ppm"; mkfifo "$t/in/fifo.ppm"
  printf 'img1.ppm 0\nfifo.ppm 1\nimg2.ppm 2\n' >"$t/in/fifo_list.txt"
  before=$(listing "$t/work")
  "$bin/qint8-preprocess" --data-dir "$t/in" --label-list "$t/in/fifo_list.txt" --resize-short 32 --crop 32 --output "$t/work/data.bin" 2>/dev/null &
  pid=$!
  exec 3>"$t/in/fifo.ppm"   # returns once qint8-preprocess has opened the FIFO
  kill -s $sig $pid
  wait $pid; st=$?
  exec 3>&-
  after=$(listing "$t/work")
  if [ $st -lt 128 ]; then fail "preprocess: SIG$sig: exit status $st, expected death by the signal"
  elif [ "$before" != "$after" ]; then fail "preprocess: SIG$sig left files: $(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
  else pass "preprocess: SIG$sig mid-run leaves nothing (exit $st)"; fi
done
rm -f "$t/in/fifo.ppm"

[ $fails = 0 ] && echo "all cases passed" || echo "$fails case(s) failed"
exit $((fails > 0))
