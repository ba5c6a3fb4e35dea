#!/usr/bin/python3
"""Quantize trained Fashion-MNIST models with PyTorch's own tools and export them to ONNX exactly
as torch.onnx.export writes them (no rewriting of the files), for qint8's converter.

The FP32 weights come from the committed NAME/NAME_fp32.onnx (its initializer names are the
module names of nets.py), so nothing is trained from scratch. Three ways to quantize, each
exported from the quantization-prepared model itself, the way a PyTorch user would:

  fx_qat     FX graph mode: prepare_qat_fx with the onednn QAT qconfig (per-channel int8
             weights), the recipe of train.py (ReLU6 pinned to [0, 6]), a short fine-tune.
  eager_qat  eager mode: QuantStub/DeQuantStub, torchvision's quantizable blocks (ReLU6 becomes
             ReLU, as torchvision's quantizable MobileNetV2 does), fuse_modules_qat, prepare_qat
             with the onednn QAT qconfig, a short fine-tune.
  ptq        post-training: FX-prepared fake-quant model with per-channel symmetric int8 weights
             (as PyTorch's default x86/onednn PTQ qconfig) and min/max observers, calibrated on
             training images in eval mode. (Per-tensor weights: tests/fixtures/onnx_raw.)

Per model and method it writes NAME/NAME_METHOD_raw.onnx and appends PyTorch's fake-quant top-1
on the 10 000 test images to NAME/raw_exports.json (the number qint8's INT8 result is compared
against, docs/accuracy.md).

    nice -n 10 /usr/bin/python3 export_raw.py --model mobilenet_v2,resnet50 --method all --log out/raw.log
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import argparse
import copy
import json
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import data  # noqa: E402
import nets  # noqa: E402
import train  # noqa: E402

METHODS = ["fx_qat", "eager_qat", "ptq"]


def load_fp32(name):
    """nets.build(name) with the weights of the committed NAME_fp32.onnx."""
    import onnx
    from onnx import numpy_helper
    model = nets.build(name)
    m = onnx.load(os.path.join(HERE, name, f"{name}_fp32.onnx"))
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    # The exporter de-duplicates equal initializers (e.g. two BN biases that are both still zero):
    # a BatchNormalization node then reads another module's tensor. Its running mean names it.
    for n in m.graph.node:
        if n.op_type == "BatchNormalization" and n.input[3].endswith(".running_mean"):
            prefix = n.input[3][:-len("running_mean")]
            for k, field in zip(n.input[1:5], ("weight", "bias", "running_mean", "running_var")):
                if k in inits:
                    inits.setdefault(prefix + field, inits[k])
    state = model.state_dict()
    missing = [k for k in state if k not in inits and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"{name}_fp32.onnx: no initializer for {missing[:5]} ({len(missing)} in all)")
    for k in state:
        if k in inits:
            if inits[k].shape != state[k].shape:
                raise SystemExit(f"{name}_fp32.onnx: initializer {k}: shape {tuple(inits[k].shape)}, model expects {tuple(state[k].shape)}")
            state[k] = inits[k]
    model.load_state_dict(state)
    return model.eval()


def disable_observers(m):
    m.apply(torch.ao.quantization.disable_observer)


def fine_tune(prepared, d, steps, lr, args, tag):
    """`steps` SGD steps (batch args.batch) with a cosine learning rate; BN statistics freeze at
    half, observers at 70 % of the steps (train.py's QAT schedule, shortened)."""
    import math
    import torch.nn.intrinsic.qat as nniqat
    opt = torch.optim.SGD(train.param_groups(prepared, args.wd), lr=lr, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(train.SEED + 7)
    perm = torch.randperm(len(d.train_y), generator=gen)
    crit = nn.CrossEntropyLoss()
    prepared.train()
    for s in range(steps):
        if s == steps // 2:
            prepared.apply(nniqat.freeze_bn_stats)
        if s == int(0.7 * steps):
            disable_observers(prepared)
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * s / steps))
        idx = perm[(s * args.batch) % len(perm):][:args.batch]
        x = data.normalize(data.augment(d.train_u8[idx], gen))
        loss = crit(prepared(x), d.train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (s + 1) % 25 == 0:
            train.log(f"{tag}: step {s + 1}/{steps} loss {loss.item():.4f}")
    prepared.apply(nniqat.freeze_bn_stats)
    disable_observers(prepared)
    return prepared.eval()


def fx_qat(model, d, args, tag):
    p = train.prepare_qat(model)
    return fine_tune(p, d, args.qat_steps, args.qat_lr, args, tag)


class Eager(nn.Module):
    """What eager-mode quantization needs around a float network: a QuantStub at the input and
    a DeQuantStub at the output."""
    def __init__(self, net):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.net = net
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.net(self.quant(x)))


def quantizable(name, model):
    """The float model rebuilt from torchvision's quantizable blocks (same module names, so the
    same state_dict), with its fuse_model(is_qat) method or an equivalent."""
    from torchvision.models.quantization import mobilenetv2 as qmv2
    from torchvision.models.quantization import resnet as qres
    from torchvision.models.quantization.utils import _replace_relu
    if name == "mobilenet_v2":
        q = qmv2.QuantizableMobileNetV2(num_classes=nets.NUM_CLASSES, width_mult=nets.CONFIGS[name]["width"])
        q.load_state_dict(model.state_dict())
        _replace_relu(q)
        return q, lambda m: m.fuse_model(is_qat=True)
    if name.startswith("resnet"):
        q = copy.deepcopy(model)
        for layer in (q.layer1, q.layer2, q.layer3, q.layer4):
            for i, b in enumerate(layer):
                nb = qres.QuantizableBottleneck(b.conv1.in_channels, b.conv1.out_channels, b.stride, b.downsample)
                nb.load_state_dict(b.state_dict())
                layer[i] = nb

        def fuse(m):
            torch.ao.quantization.fuse_modules_qat(m, [["conv1", "bn1", "relu"]], inplace=True)
            for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
                for b in layer:
                    b.fuse_model(is_qat=True)
        return q, fuse
    raise SystemExit(f"eager_qat: no quantizable form of {name} here (mobilenet_v2, resnet50, resnet101)")


def eager_qat(model, d, args, tag):
    net, fuse = quantizable(args.current, model)
    net.train()
    fuse(net)
    m = Eager(net).train()
    m.qconfig = torch.ao.quantization.get_default_qat_qconfig("onednn", version=0)
    torch.ao.quantization.prepare_qat(m, inplace=True)
    return fine_tune(m, d, args.qat_steps, args.qat_lr, args, tag)


def ptq(model, d, args, tag):
    """Calibration only: observers on, fake quantization off, eval mode (BN running statistics),
    then the fake-quant model with the observed ranges."""
    from torch.ao.quantization import FakeQuantize, MinMaxObserver, PerChannelMinMaxObserver, QConfig, QConfigMapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    act = FakeQuantize.with_args(observer=MinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                                 qscheme=torch.per_tensor_affine)
    wt = FakeQuantize.with_args(observer=PerChannelMinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                                qscheme=torch.per_channel_symmetric, ch_axis=0)
    mapping = QConfigMapping().set_global(QConfig(activation=act, weight=wt))
    p = prepare_qat_fx(copy.deepcopy(model).train(), mapping, example_inputs=(torch.zeros(1, 3, 32, 32),))
    p.eval()
    p.apply(torch.ao.quantization.disable_fake_quant)
    p.apply(torch.ao.quantization.enable_observer)
    gen = torch.Generator().manual_seed(train.SEED + 11)
    idx = torch.randperm(len(d.train_y), generator=gen)[:args.calib_images]
    with torch.no_grad():
        for i in range(0, len(idx), 100):
            p(data.normalize(d.train_u8[idx[i:i + 100]]))
    disable_observers(p)
    p.apply(torch.ao.quantization.enable_fake_quant)
    train.log(f"{tag}: calibrated on {len(idx)} training images")
    return p.eval()


def export(model, path):
    """torch.onnx.export as a user calls it; the file is written as the exporter wrote it."""
    x = torch.zeros(2, 3, 32, 32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, opset_version=train.OPSET, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    import onnx
    hist = {}
    for n in onnx.load(path).graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    return hist


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mobilenet_v2,resnet50", help="comma list of " + ", ".join(nets.NAMES))
    p.add_argument("--method", default="all", help="all, or a comma list of " + ", ".join(METHODS))
    p.add_argument("--qat-steps", type=int, default=150, help="QAT fine-tune steps of --batch images (default: %(default)s)")
    p.add_argument("--qat-lr", type=float, default=0.001, help="QAT peak learning rate (default: %(default)s)")
    p.add_argument("--calib-images", type=int, default=1000, help="PTQ calibration images (default: %(default)s)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log", default=None, help="also append progress lines to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "onednn"
    train.LOG_FILE = args.log
    methods = METHODS if args.method == "all" else args.method.split(",")
    d = train.Data()
    for name in args.model.split(","):
        args.current = name
        model = load_fp32(name)
        acc32 = train.evaluate(model, d.test_x, d.test_y)
        train.log(f"{name}: FP32 from {name}_fp32.onnx: top1 {acc32['top1']:.2f}%")
        out_json = os.path.join(HERE, name, "raw_exports.json")
        record = json.load(open(out_json)) if os.path.exists(out_json) else {}
        record["fp32"] = acc32
        for meth in methods:
            tag = f"{name} {meth}"
            t0 = time.time()
            torch.manual_seed(train.SEED)
            q = {"fx_qat": fx_qat, "eager_qat": eager_qat, "ptq": ptq}[meth](model, d, args, tag)
            acc = train.evaluate(q, d.test_x, d.test_y)
            fname = f"{name}_{meth}_raw.onnx"
            hist = export(q, os.path.join(HERE, name, fname))
            train.log(f"{tag}: fake-quant top1 {acc['top1']:.2f}% top5 {acc['top5']:.2f}%; wrote {fname} ({time.time() - t0:.0f}s): {hist}")
            record[meth] = {"file": fname, "pytorch_fakequant": acc, "onnx_ops": hist, "torch": torch.__version__,
                            "recipe": (f"{args.qat_steps} steps x {args.batch} images, lr {args.qat_lr}" if meth != "ptq"
                                       else f"{args.calib_images} training images, min/max, per-channel symmetric int8 weights")}
            with open(out_json, "w") as f:
                json.dump(record, f, indent=2)
                f.write("\n")


if __name__ == "__main__":
    main()
