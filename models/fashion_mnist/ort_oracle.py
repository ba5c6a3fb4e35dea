#!/usr/bin/python3
"""ONNX Runtime's answers for qint8's tests: logits of the first 100 test images and top-1 on
all 10 000, for every QDQ file of the recipe (NAME/NAME_qat.onnx) and the raw PyTorch QAT / PTQ
exports (NAME/NAME_*_raw.onnx), run in ONNX Runtime 1.30 (onnxruntime-node, as bench/peers
installs it) with its default graph optimizations: QDQ groups become its integer QLinear
kernels, which is what a user who validated a model in ONNX Runtime ran.

  /usr/bin/python3 models/fashion_mnist/ort_oracle.py [--ort PATH] [--limit N]

Writes tests/fixtures/ort_oracle/<file stem>.logits100.bin (float32 [100, 10], little-endian)
and tests/fixtures/ort_oracle/ort_oracle.json (ORT version, files, top-1 on the test set).
tests/test_ort_oracle.cpp compares qint8 with them.

PyTorch writes the scales and zero points of its Q/DQ pairs as [1]-shaped tensors; ONNX Runtime
fuses a QDQ group into a QLinear kernel only when they are scalars (otherwise it runs the float
ops between Q/DQ). The copy ONNX Runtime runs (out/ort_oracle/, git-ignored) has them made
scalar: the same values, so the same model.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import data  # noqa: E402  (IDX reader; needs torch only for its augmentation helpers)

MODELS = ["mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19"]
RAW = ["fx_qat", "eager_qat", "ptq"]
N_REF = 100


def sources():
    """(model dir, file name) of every QDQ file and raw export present."""
    out = []
    for name in MODELS:
        for f in [f"{name}_qat.onnx"] + [f"{name}_{r}_raw.onnx" for r in RAW]:
            if os.path.exists(os.path.join(HERE, name, f)):
                out.append((name, f))
    return out


def scalar_qdq_params(model):
    """Makes every [1]-shaped scale / zero point of a QuantizeLinear or DequantizeLinear a
    scalar, following Identity nodes back to their initializer or Constant."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    changed = 0
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for name in n.input[1:3]:
            while name in producer and producer[name].op_type == "Identity":
                name = producer[name].input[0]
            t = inits.get(name)
            if t is None and name in producer and producer[name].op_type == "Constant":
                t = producer[name].attribute[0].t
            if t is not None and list(t.dims) == [1]:
                del t.dims[:]
                changed += 1
    del model.graph.value_info[:]  # shapes of the Identity outputs changed
    return changed


def normalized(u8):
    """uint8 [N, 28, 28] -> float32 [N, 3, 32, 32], as data.py computes it (float32, in order)."""
    p = np.zeros((u8.shape[0], 32, 32), np.float32)
    p[:, data.PAD:data.PAD + 28, data.PAD:data.PAD + 28] = u8
    x = (p / np.float32(255.0) - np.float32(data.MEAN)) / np.float32(data.STD)
    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1), dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ort", default=os.path.join(ROOT, "bench", "peers", "node_modules", "onnxruntime-node"))
    ap.add_argument("--limit", type=int, default=10000, help="test images for top-1 (default: all 10 000)")
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests", "fixtures", "ort_oracle"))
    a = ap.parse_args()
    work = os.path.join(HERE, "out", "ort_oracle")
    os.makedirs(work, exist_ok=True)
    os.makedirs(a.fixtures, exist_ok=True)

    x_u8, y = data.load("test")
    x_u8, y = np.asarray(x_u8)[: a.limit], np.asarray(y)[: a.limit]
    ref_u8 = np.fromfile(os.path.join(HERE, f"reference_images_{N_REF}.u8"), np.uint8).reshape(N_REF, 28, 28)
    assert np.array_equal(ref_u8, x_u8[:N_REF]), "reference_images_100.u8 should be the first 100 test images"
    inp = os.path.join(work, "input.f32")
    normalized(x_u8).tofile(inp)

    jobs = []
    for name, f in sources():
        m = onnx.load(os.path.join(HERE, name, f))
        changed = scalar_qdq_params(m)
        copy = os.path.join(work, f)
        onnx.save(m, copy)
        jobs.append({"model": name, "file": f"{name}/{f}", "copy": copy, "logits": os.path.join(work, f[:-5] + ".logits.f32"),
                     "scalarized": changed})
    spec = os.path.join(work, "jobs.json")
    with open(spec, "w") as fh:
        json.dump({"input": inp, "images": int(len(y)), "jobs": jobs}, fh)
    subprocess.run(["node", os.path.join(HERE, "ort_oracle_run.js"), "--ort", a.ort, spec], check=True)
    with open(os.path.join(work, "ort_version.txt")) as fh:
        version = fh.read().strip()

    report = {"what": "ONNX Runtime logits / top-1 for tests/test_ort_oracle.cpp, written by models/fashion_mnist/ort_oracle.py",
              "onnxruntime": version, "graph_optimization": "all (default)", "threads": 1, "images": int(len(y)), "files": []}
    for j in jobs:
        logits = np.fromfile(j["logits"], np.float32).reshape(len(y), 10)
        stem = os.path.basename(j["copy"])[:-5]
        logits[:N_REF].tofile(os.path.join(a.fixtures, f"{stem}.logits100.bin"))
        top1 = float(np.mean(np.argmax(logits, axis=1) == y) * 100.0)
        report["files"].append({"file": j["file"], "logits100": f"{stem}.logits100.bin", "scales_made_scalar": j["scalarized"],
                                "top1": round(top1, 2)})
        print(f"{j['file']:45s} ORT {version} top-1 {top1:.2f} ({j['scalarized']} scale/zero-point tensors made scalar)")
    with open(os.path.join(a.fixtures, "ort_oracle.json"), "w") as fh:
        json.dump(report, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
