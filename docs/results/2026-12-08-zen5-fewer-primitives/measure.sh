#!/bin/bash
# Five rounds; in each, per model: the build before this run (old), this run's build without
# shared activation buffers (mid) and with them (new), one and two threads, then ONNX Runtime
# 1.30 INT8 on one thread. usage: measure.sh OLD_BENCH MID_BENCH NEW_BENCH OUT_DIR
OLD=$1 MID=$2 NEW=$3 OUT=$4
mkdir -p "$OUT"
for r in 1 2 3 4 5; do
  for m in mobilenet_v2 mobilenet_v1 resnet50; do
    it=100; [ $m = resnet50 ] && it=40
    for th in 1 2; do
      for v in old mid new; do
        b=$OLD; [ $v = mid ] && b=$MID; [ $v = new ] && b=$NEW
        $b --model=$m --precision=int8 --threads=$th --iterations=$it -q --json="$OUT/${v}_${m}_t${th}_r$r.json" > /dev/null 2>&1
      done
    done
    /usr/bin/python3 bench/peers/peers.py --models=$m --engines=ort --precisions=int8 --threads=1 --iterations=$it --json="$OUT/ort_${m}_r$r.json" > /dev/null 2>&1
  done
  echo "round $r done $(date)"
done
