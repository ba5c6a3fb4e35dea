#!/bin/bash
# Seven rounds of this build and ONNX Runtime 1.30 INT8 back to back, one thread.
# usage: ort_rounds.sh BENCH OUT_DIR
B=$1 OUT=$2
mkdir -p "$OUT"
for r in 1 2 3 4 5 6 7; do
  for m in mobilenet_v2 mobilenet_v1 resnet50; do
    it=200; [ $m = resnet50 ] && it=40
    $B --model=$m --precision=int8 --threads=1 --iterations=$it -q --json="$OUT/new_${m}_r$r.json" > /dev/null 2>&1
    /usr/bin/python3 bench/peers/peers.py --models=$m --engines=ort --precisions=int8 --threads=1 --iterations=$it --json="$OUT/ort_${m}_r$r.json" > /dev/null 2>&1
  done
done
for m in mobilenet_v2 mobilenet_v1 resnet50; do
  /usr/bin/python3 - "$OUT" "$m" <<'PY'
import json, glob, sys, statistics as st
out, m = sys.argv[1], sys.argv[2]
q = [json.load(open(f))['results'][0]['latency_ms']['p50'] for f in sorted(glob.glob(f'{out}/new_{m}_r*.json'))]
o = [r['median_ms'] for f in sorted(glob.glob(f'{out}/ort_{m}_r*.json')) for r in json.load(open(f))['results'] if r['status'] == 'ok']
per = [b / a for a, b in zip(q, o)]
print(f"{m}: qint8 p50 {st.median(q):.3f} ms, ORT {st.median(o):.3f} ms; ORT/qint8 per round median {st.median(per):.2f}x ({min(per):.2f}-{max(per):.2f})")
PY
done
