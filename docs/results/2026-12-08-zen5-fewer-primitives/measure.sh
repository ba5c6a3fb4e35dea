#!/bin/bash
# alternating rounds: old qint8, new qint8, ORT INT8; 1 thread then 2 threads
OUT=/work/main/docs/results/2026-12-08-zen5-fewer-primitives
cd /work/main
for r in 1 2 3 4 5; do
  for m in mobilenet_v2 mobilenet_v1 resnet50; do
    it=100; [ $m = resnet50 ] && it=40
    for th in 1 2; do
      /tmp/bm_old --model=$m --precision=int8 --threads=$th --iterations=$it -q --json=$OUT/raw/old_${m}_t${th}_r$r.json > /dev/null 2>&1
      build/bin/bench_models --model=$m --precision=int8 --threads=$th --iterations=$it -q --json=$OUT/raw/new_${m}_t${th}_r$r.json > /dev/null 2>&1
    done
    /usr/bin/python3 bench/peers/peers.py --models=$m --engines=ort --precisions=int8 --threads=1 --iterations=$it --json=$OUT/raw/ort_${m}_r$r.json > /dev/null 2>&1
  done
  echo "round $r done $(date)"
done
