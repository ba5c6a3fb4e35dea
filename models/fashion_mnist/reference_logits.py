#!/usr/bin/python3
"""Reference outputs for qint8's C++ tests, so they can compare qint8 with PyTorch without Python.

Runs the trained models (state dicts from train.py's --out directory) on the first N (100) test
images of Fashion-MNIST and writes, per model NAME into EXPORT_DIR/NAME/:

  reference_logits_100.bin      float32 little-endian [100, 10]: the FP32 model (the one exported
                                as NAME_fp32.onnx) in eval mode, PyTorch CPU, NCHW
  reference_logits_qat_100.bin  float32 little-endian [100, 10]: the QAT model in the exported form
                                (NAME_qat.onnx: fake-quant with BN folded), if OUT/NAME_qat.pt exists
  reference_logits_100.json     what the files are, predicted labels of both, true labels

and once, into EXPORT_DIR/:

  reference_images_100.u8       the raw test images, uint8 [100, 28, 28] (IDX order, no header)
  reference_labels_100.u8       their labels, uint8 [100]

The network input is computed from the raw images exactly as train.py does, in float32, in this
order: pad 28x28 with 2 zero pixels on each side to 32x32; x = (p / 255.0f - 0.2860f) / 0.3530f;
replicate to 3 channels (NCHW). A float32 copy of that input [100, 3, 32, 32] is written to
OUT/reference_input_100.bin (git-ignored) for check_ort.js.

    /usr/bin/python3 models/fashion_mnist/reference_logits.py [--model all]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import data  # noqa: E402
import nets  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", help="all, or a comma list of: " + ", ".join(nets.NAMES))
    p.add_argument("--out", default=os.path.join(HERE, "out"), help="train.py's state-dict directory (default: %(default)s)")
    p.add_argument("--export-dir", default=HERE, help="where NAME/ directories are (default: %(default)s)")
    p.add_argument("--count", type=int, default=100, help="number of test images (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "onednn"
    n = args.count

    xte, yte = data.load("test")
    raw, labels = np.ascontiguousarray(xte[:n]), yte[:n]
    raw.tofile(os.path.join(args.export_dir, f"reference_images_{n}.u8"))
    labels.astype(np.uint8).tofile(os.path.join(args.export_dir, f"reference_labels_{n}.u8"))
    x = data.normalize(data.pad_u8(raw))                     # [n,3,32,32] float32
    os.makedirs(args.out, exist_ok=True)
    x.numpy().astype("<f4").tofile(os.path.join(args.out, f"reference_input_{n}.bin"))

    names = nets.NAMES if args.model == "all" else [s.strip() for s in args.model.split(",") if s.strip()]
    for name in names:
        sd = os.path.join(args.out, f"{name}_fp32.pt")
        if not os.path.exists(sd):
            print(f"{name}: {sd} not found (train it first), skipped", file=sys.stderr)
            continue
        d = os.path.join(args.export_dir, name)
        os.makedirs(d, exist_ok=True)
        model = nets.build(name)
        model.load_state_dict(torch.load(sd))
        model.eval()
        with torch.no_grad():
            fp32 = model(x)
        fp32.numpy().astype("<f4").tofile(os.path.join(d, f"reference_logits_{n}.bin"))
        info = {
            "model": name,
            "count": n,
            "images": f"../reference_images_{n}.u8 (uint8 [{n},28,28], first {n} images of t10k-images-idx3-ubyte)",
            "input": data.input_json(),
            "fp32": {"file": f"reference_logits_{n}.bin", "onnx": f"{name}_fp32.onnx", "dtype": "float32 little-endian",
                     "shape": [n, 10], "pred": fp32.argmax(1).tolist()},
            "labels": labels.tolist(),
            "torch": torch.__version__,
        }
        acc = (fp32.argmax(1).numpy() == labels).mean() * 100
        msg = f"{name}: fp32 {acc:.0f}/{n} correct"
        qsd = os.path.join(args.out, f"{name}_qat.pt")
        if os.path.exists(qsd):
            import train
            prepared = train.prepare_qat(model)
            prepared.load_state_dict(torch.load(qsd))
            train.freeze_bn(prepared)
            train.set_observers(prepared, False)
            exp = train.fold_for_export(prepared.eval())
            with torch.no_grad():
                qat = exp(x)
                qat_fq = prepared(x)
            qat.numpy().astype("<f4").tofile(os.path.join(d, f"reference_logits_qat_{n}.bin"))
            info["qat"] = {"file": f"reference_logits_qat_{n}.bin", "onnx": f"{name}_qat.onnx", "dtype": "float32 little-endian",
                           "shape": [n, 10], "pred": qat.argmax(1).tolist(),
                           "note": "fake-quant model in the exported form (BN folded into the conv weights before their "
                                   "weight fake-quant); the logits are themselves fake-quantized (uint8 grid)",
                           "max_abs_diff_vs_unfolded_fakequant": float((qat - qat_fq).abs().max())}
            qacc = (qat.argmax(1).numpy() == labels).mean() * 100
            agree = (qat.argmax(1) == fp32.argmax(1)).float().mean().item() * 100
            msg += f", qat {qacc:.0f}/{n} correct, qat/fp32 argmax agreement {agree:.0f}%"
        with open(os.path.join(d, f"reference_logits_{n}.json"), "w") as f:
            json.dump(info, f, indent=1)
            f.write("\n")
        print(msg, file=sys.stderr)


if __name__ == "__main__":
    main()
