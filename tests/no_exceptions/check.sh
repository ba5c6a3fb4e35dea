#!/usr/bin/env bash
# Runs the -fno-exceptions build of the runtime: a model runs, and a failure is reported on stderr
# with qint8's message and ends the process (abort), as QINT8_NO_EXCEPTIONS documents.
set -uo pipefail
bin=$1
out=$("$bin" run 2>&1); rc=$?
[ $rc = 0 ] && [[ "$out" == "top class "*" of 10" ]] || { echo "run: exit $rc, output: $out"; exit 1; }
err=$("$bin" fail 2>&1 >/dev/null); rc=$?
[ $rc -ge 128 ] || { echo "fail: expected an abort (exit >= 128), found exit $rc; stderr: $err"; exit 1; }
[[ "$err" == *"[qint8.invalid_argument] session::run: expected "*" input floats"* ]] ||
  { echo "fail: stderr lacks qint8's message: $err"; exit 1; }
echo "no-exceptions build: runs, and reports then aborts on a failure"
