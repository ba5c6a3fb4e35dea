#!/usr/bin/python3
import json, glob, statistics as st, os, sys
D=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'raw')
def load(f):
    d=json.load(open(f))['results'][0]; L=d['load']
    return dict(p50=d['latency_ms']['p50'], compile=L['compile_ms'], first=L['first_run_ms'], ratio=L['load_and_first_run_over_steady'])
rows=[]
for m in ['mobilenet_v2','mobilenet_v1','resnet50']:
    for th in [1,2]:
        res={}
        for v in ['old','new']:
            fs=sorted(glob.glob(f'{D}/{v}_{m}_t{th}_r*.json'))
            res[v]=[load(f) for f in fs]
        n=min(len(res['old']),len(res['new']))
        if n==0: continue
        med=lambda v,k: st.median(x[k] for x in res[v][:n])
        sp=[res['old'][i]['p50']/res['new'][i]['p50'] for i in range(n)]
        print(f"{m:13s} t{th} n={n} p50 old {med('old','p50'):.3f} new {med('new','p50'):.3f} (old/new per round median {st.median(sp):.3f}, {min(sp):.2f}-{max(sp):.2f})  compile {med('old','compile'):.2f} -> {med('new','compile'):.2f}  first {med('old','first'):.2f} -> {med('new','first'):.2f}  load+1st {med('old','ratio'):.2f}x -> {med('new','ratio'):.2f}x")
    # 2T/1T per round
    for v in ['old','new']:
        r1=[load(f) for f in sorted(glob.glob(f'{D}/{v}_{m}_t1_r*.json'))]; r2=[load(f) for f in sorted(glob.glob(f'{D}/{v}_{m}_t2_r*.json'))]
        n=min(len(r1),len(r2))
        if n: 
            s=[r1[i]['p50']/r2[i]['p50'] for i in range(n)]
            print(f"   {v} 2T/1T per round median {st.median(s):.2f} ({min(s):.2f}-{max(s):.2f})")
    fs=sorted(glob.glob(f'{D}/ort_{m}_r*.json'))
    if fs:
        o=[]
        for f in fs:
            d=json.load(open(f))
            for r in d.get('results',[]):
                if r.get("precision")=="int8" and r.get("status")=="ok": o.append(r["median_ms"])
        print(f"   ort int8 median ms {st.median(o):.3f} ({min(o):.3f}-{max(o):.3f}) n={len(o)}")
