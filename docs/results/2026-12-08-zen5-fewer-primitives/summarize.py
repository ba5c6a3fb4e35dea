#!/usr/bin/python3
# Medians of measure.sh's rounds: steady p50, compile, first run, load+1st / steady per build
# (old, mid, new), ratios per round, two threads over one, ONNX Runtime INT8.
import json, glob, os, statistics as st
D = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'raw')
V = ['old', 'mid', 'new']
def load(f):
    d = json.load(open(f))['results'][0]; L = d['load']
    return dict(p50=d['latency_ms']['p50'], compile=L['compile_ms'], first=L['first_run_ms'], ratio=L['load_and_first_run_over_steady'])
def runs(v, m, th):
    return [load(f) for f in sorted(glob.glob(f'{D}/{v}_{m}_t{th}_r*.json'))]
for m in ['mobilenet_v2', 'mobilenet_v1', 'resnet50']:
    o = [json.load(open(f)) for f in sorted(glob.glob(f'{D}/ort_{m}_r*.json'))]
    ort = [r['median_ms'] for d in o for r in d['results'] if r['precision'] == 'int8' and r['status'] == 'ok']
    print(f"{m}: ONNX Runtime INT8 1 thread median {st.median(ort):.3f} ms ({min(ort):.3f}-{max(ort):.3f}), {len(ort)} rounds")
    for th in [1, 2]:
        R = {v: runs(v, m, th) for v in V}
        for v in V:
            med = lambda k: st.median(x[k] for x in R[v])
            line = f"  t{th} {v:3s} p50 {med('p50'):.3f}  compile {med('compile'):.2f}  first {med('first'):.2f}  load+1st {med('ratio'):.2f}x"
            if v != 'old':
                per = [a['p50'] / b['p50'] for a, b in zip(R['old'], R[v])]
                line += f"  old/{v} per round {st.median(per):.3f} ({min(per):.2f}-{max(per):.2f})"
            if v == 'new':
                per = [a['p50'] / b['p50'] for a, b in zip(R['mid'], R[v])]
                line += f"  mid/new {st.median(per):.3f} ({min(per):.2f}-{max(per):.2f})"
            if th == 1 and len(ort) == len(R[v]):
                per = [o / x['p50'] for o, x in zip(ort, R[v])]  # the same round
                line += f"  ORT/{v} per round {st.median(per):.2f}x ({min(per):.2f}-{max(per):.2f})"
            print(line)
    for v in V:
        s = [a['p50'] / b['p50'] for a, b in zip(runs(v, m, 1), runs(v, m, 2))]
        print(f"  {v} 2 threads / 1 per round: median {st.median(s):.2f} ({min(s):.2f}-{max(s):.2f})")
