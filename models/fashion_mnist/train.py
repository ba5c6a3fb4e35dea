#!/usr/bin/python3
"""Train qint8's six topologies on Fashion-MNIST (FP32, then quantization-aware training) and
export them to ONNX for qint8's converter and accuracy tables.

Run with Debian's interpreter (the one with torch 1.13 / torchvision 0.14), at low priority:

    nice -n 19 /usr/bin/python3 models/fashion_mnist/train.py --model mobilenet_v1

Per model NAME it writes, into --export-dir (default: this directory) / NAME /:
    NAME_fp32.onnx   float model in eval mode, BatchNormalization nodes kept (not fused)
    NAME_qat.onnx    QAT model as QuantizeLinear/DequantizeLinear pairs around float ops
                     (BN folded into the conv weights, as the fake-quant training saw them)
    accuracy.json    FP32 / fake-quant / PyTorch-onednn-INT8 top-1/top-5 on the 10 000 test images
and into --out (default: ./out, git-ignored): NAME_fp32.pt (float state_dict) and NAME_qat.pt (state_dict of
the prepared QAT GraphModule).

Progress goes to stderr, one line per epoch (plus one every --log-every batches).
"""

import os

# 2 OpenMP threads on a shared 2-core machine: with the default (spinning) wait policy a thread
# whose partner is descheduled burns its time slice at the barrier -- measured 4-15x slower per
# batch while a compiler ran beside us. Passive waiting costs almost nothing when the machine is
# idle. Must be set before torch (libgomp) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import json
import math
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import data  # noqa: E402
import nets  # noqa: E402

OPSET = 13
SEED = 20240601

DEFAULT_EPOCHS = {      # (maximum FP32 epochs, QAT epochs); --fp32-minutes usually cuts the first
    "mobilenet_v1": (15, 1),
    "mobilenet_v2": (15, 1),
    "resnet50": (15, 1),
    "resnet101": (15, 1),
    "vgg16": (15, 1),
    "vgg19": (15, 1),
}

# FP32 peak learning rate where it differs from --lr's default (0.1): MobileNetV2 diverged in its
# third epoch at 0.1 (loss 0.45 -> 1.0, test top-1 85% -> 71%).
DEFAULT_LR = {"mobilenet_v2": 0.05}
# Lower bound of the budgeted FP32 epoch count where it differs from --min-epochs: MobileNetV2
# reached only 89.4% in 5 epochs, ResNet-101 89.5% (both still under-fitting: train accuracy 88.7%, 89.1%).
DEFAULT_MIN_EPOCHS = {"mobilenet_v2": 8, "resnet101": 8}

T0 = time.time()
LOG_FILE = None


def log(msg):
    line = f"[{time.strftime('%H:%M:%S')} +{time.time() - T0:7.0f}s] {msg}"
    print(line, file=sys.stderr, flush=True)
    if LOG_FILE:
        with open(LOG_FILE, "a") as f:
            f.write(line + "\n")


# --------------------------------------------------------------------------------------------
# data, evaluation

class Data:
    def __init__(self, limit_train=0):
        xtr, ytr = data.load("train")
        xte, yte = data.load("test")
        if limit_train:
            xtr, ytr = xtr[:limit_train], ytr[:limit_train]
        self.train_u8 = data.pad_u8(xtr)                  # [N,1,32,32] uint8
        self.train_y = torch.from_numpy(ytr)
        self.test_x = data.normalize(data.pad_u8(xte))    # [10000,3,32,32] float32
        self.test_y = torch.from_numpy(yte)


@torch.no_grad()
def evaluate(model, x, y, batch=500, channels_last=False):
    model.eval()
    top1 = top5 = 0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        out = model(xb)
        t5 = out.topk(5, dim=1).indices
        yy = y[i:i + batch].unsqueeze(1)
        top1 += (t5[:, :1] == yy).sum().item()
        top5 += (t5 == yy).any(dim=1).sum().item()
    return {"top1": round(100.0 * top1 / len(x), 2), "top5": round(100.0 * top5 / len(x), 2)}


def param_groups(model, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)   # no decay on BN and biases
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_epochs(model, d, epochs, lr, weight_decay, tag, args, warmup_epochs=0.0, on_step=None, channels_last=False,
                 budget_s=0.0, min_epochs=1):
    """SGD (momentum 0.9, Nesterov), per-iteration cosine LR after an optional linear warmup,
    random crop (pad 2) + horizontal flip, batch args.batch. channels_last: train in NHWC
    memory format (about 1.5-2x faster on CPU for the float models; the math is the same).

    budget_s > 0 makes `epochs` a maximum: after the first epoch (the warmup epoch, whose LR does
    not depend on the total) the number of epochs becomes clamp(budget_s / first_epoch_seconds,
    min_epochs, epochs), and the cosine decay is laid out over that total. Returns
    (seconds, epochs run)."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=0.9, nesterov=True)
    n = len(d.train_y)
    steps_per_epoch = n // args.batch             # drop the last partial batch
    warm = int(warmup_epochs * steps_per_epoch)
    if budget_s > 0 and warm < steps_per_epoch:
        warm = steps_per_epoch                    # decide the total only after a total-independent first epoch
    total = max(1, epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(SEED + zlib.crc32(tag.encode()) % 1000)
    step = 0
    t_start = time.time()
    crit = nn.CrossEntropyLoss()
    ep = 0
    while ep < epochs:
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        t_ep = time.time()
        for b in range(steps_per_epoch):
            if on_step:
                on_step(step, total)
            cur = lr * (step + 1) / warm if step < warm else \
                0.5 * lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
            for g in opt.param_groups:
                g["lr"] = cur
            idx = perm[b * args.batch:(b + 1) * args.batch]
            x = data.normalize(data.augment(d.train_u8[idx], gen))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = d.train_y[idx]
            out = model(x)
            loss = crit(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
            if args.log_every and (b + 1) % args.log_every == 0:
                log(f"{tag} epoch {ep + 1}/{epochs} batch {b + 1}/{steps_per_epoch} loss {loss_sum / seen:.4f} "
                    f"train_acc {100.0 * correct / seen:.2f}% lr {cur:.5f} elapsed {time.time() - t_start:.0f}s")
        acc = evaluate(model, d.test_x, d.test_y, channels_last=channels_last) \
            if (args.eval_every_epoch or ep == epochs - 1) else None
        log(f"{tag} epoch {ep + 1}/{epochs} loss {loss_sum / max(1, seen):.4f} train_acc {100.0 * correct / max(1, seen):.2f}% "
            + (f"test_top1 {acc['top1']:.2f}% test_top5 {acc['top5']:.2f}% " if acc else "")
            + f"lr {cur:.5f} epoch_time {time.time() - t_ep:.0f}s elapsed {time.time() - t_start:.0f}s")
        ep += 1
        if ep == 1 and budget_s > 0:
            t1 = time.time() - t_start
            new_epochs = max(min_epochs, min(epochs, int(budget_s / t1)))
            log(f"{tag}: first epoch took {t1:.0f}s; time budget {budget_s / 60:.0f} min -> {new_epochs} epochs "
                f"(min {min_epochs}, max {epochs})")
            epochs = new_epochs
            total = max(1, epochs * steps_per_epoch)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return time.time() - t_start, epochs


# --------------------------------------------------------------------------------------------
# QAT (FX graph mode, onednn qconfig)

def qat_qconfig_mapping():
    """PyTorch's default QAT mapping for the onednn backend (version 0: plain FakeQuantize modules,
    which export to ONNX; version 1's fused observer+fake-quant op does not):
    activations: FakeQuantize(MovingAverageMinMaxObserver, quint8 0..255, per-tensor affine);
    weights: FakeQuantize(MovingAveragePerChannelMinMaxObserver, qint8 -128..127,
    per-channel symmetric, axis 0)."""
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    return get_default_qat_qconfig_mapping("onednn", version=0)


def relu6_to_relu(model):
    """ReLU6 -> ReLU (in place) so that FX fuses Conv+BN+ReLU; prepare_qat() then pins the
    following activation fake-quant to [0, 6] (scale 6/255, zero point 0), which makes
    fake_quant(relu(x)) == fake_quant(relu6(x)) exactly: ReLU6 semantics are kept, and the output
    gets its own quantization range (FX would otherwise make a standalone ReLU6 share the range
    of its input, negative half included)."""
    n = 0
    for name, child in list(model.named_children()):
        n += relu6_to_relu(child)
        if type(child) is nn.ReLU6:
            setattr(model, name, nn.ReLU(inplace=False))
            n += 1
    return n


def prepare_qat(float_model):
    import torch.nn.intrinsic.qat as nniqat
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    m = copy.deepcopy(float_model)
    # FX's QAT Conv+BN computes conv(x, fq(w * g/std)) / (g/std): a BN scale g of exactly 0 (e.g.
    # a zero-initialised residual BN never trained away from 0) would divide by zero.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                tiny = mod.weight.abs() < 1e-6
                if tiny.any():
                    mod.weight[tiny] = torch.where(mod.weight[tiny] < 0, -1e-6, 1e-6)
    has_relu = any(type(x) is nn.ReLU for x in m.modules())
    n6 = relu6_to_relu(m)
    assert not (n6 and has_relu), "a model mixing ReLU and ReLU6 is not supported here"
    m.train()
    prepared = prepare_qat_fx(m, qat_qconfig_mapping(), example_inputs=(torch.zeros(1, 3, 32, 32),))
    prepared.relu6 = bool(n6)
    pinned = 0
    if n6:
        for node in prepared.graph.nodes:
            if node.op == "call_module" and isinstance(prepared.get_submodule(node.target), (nniqat.ConvBnReLU2d, nniqat.ConvReLU2d)):
                users = list(node.users)
                assert len(users) == 1 and users[0].op == "call_module" and "activation_post_process" in users[0].target, \
                    f"{node.target}: expected one activation fake-quant after it, found {users}"
                fq = prepared.get_submodule(users[0].target)
                fq.activation_post_process.min_val.fill_(0.0)
                fq.activation_post_process.max_val.fill_(6.0)
                fq.scale.fill_(6.0 / 255.0)
                fq.zero_point.zero_()
                fq.disable_observer()
                fq.relu6_pinned = True
                pinned += 1
        assert pinned == n6, f"pinned {pinned} fake-quants for {n6} ReLU6"
    return prepared


def set_observers(prepared, enabled):
    from torch.ao.quantization.fake_quantize import FakeQuantizeBase
    for m in prepared.modules():
        if isinstance(m, FakeQuantizeBase) and not getattr(m, "relu6_pinned", False):
            m.enable_observer(enabled)


def freeze_bn(prepared):
    import torch.nn.intrinsic.qat as nniqat
    prepared.apply(nniqat.freeze_bn_stats)


class ConvReLU6QAT(torch.nn.qat.Conv2d):
    """QAT conv (weight fake-quant) followed by ReLU6: the export form of a pinned ConvBnReLU2d."""
    def forward(self, x):
        return F.hardtanh(super().forward(x), 0.0, 6.0)   # exports as one Clip(0, 6), like nn.ReLU6


def fold_for_export(prepared):
    """A copy of the trained QAT GraphModule with every ConvBn(ReLU)2d replaced by a plain QAT
    conv whose weight is the BN-folded weight (w * gamma/sqrt(var+eps)) and whose bias is the
    folded bias, keeping the trained weight fake-quant: numerically what the fake-quant model
    computes in eval mode, in the form ONNX QDQ consumers expect (Q/DQ on the folded weight,
    Conv with bias, no BatchNormalization). ReLU of a pinned [0,6] range becomes ReLU6 again."""
    import torch.nn.intrinsic.qat as nniqat
    import torch.nn.qat as nnqat

    m = copy.deepcopy(prepared).eval()
    set_observers(m, False)
    for node in m.graph.nodes:
        if node.op != "call_module":
            continue
        mod = m.get_submodule(node.target)
        if not isinstance(mod, (nniqat.ConvBn2d, nniqat.ConvBnReLU2d)):
            continue
        relu = isinstance(mod, nniqat.ConvBnReLU2d)
        pinned = relu and any(getattr(m.get_submodule(u.target), "relu6_pinned", False)
                                for u in node.users if u.op == "call_module")
        cls = ConvReLU6QAT if pinned else (nniqat.ConvReLU2d if relu else nnqat.Conv2d)
        with torch.no_grad():
            std = torch.sqrt(mod.bn.running_var + mod.bn.eps)
            sf = mod.bn.weight / std
            w = mod.weight * sf.reshape(-1, 1, 1, 1)
            b = mod.bn.bias - mod.bn.running_mean * sf
            if mod.bias is not None:
                b = b + mod.bias * sf
        new = cls(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                  mod.groups, bias=True, padding_mode=mod.padding_mode, qconfig=mod.qconfig)
        new.weight = nn.Parameter(w.detach().clone())
        new.bias = nn.Parameter(b.detach().clone())
        new.weight_fake_quant = mod.weight_fake_quant
        parent, _, child = node.target.rpartition(".")
        setattr(m.get_submodule(parent) if parent else m, child, new)
    m.recompile()
    return m.eval()


# --------------------------------------------------------------------------------------------
# export

def onnx_export(model, path, preserve_bn):
    model.eval()
    x = torch.zeros(2, 3, 32, 32)
    tmp = path + ".tmp"
    kw = {}
    if preserve_bn:
        # PRESERVE on an eval-mode model: exported in eval semantics, but the eval-only peephole
        # pass that folds BatchNormalization into Conv is not run.
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad():
        torch.onnx.export(model, x, tmp, opset_version=OPSET, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kw)
    # The file stays exactly as the exporter wrote it (Identity nodes for de-duplicated
    # initializers, 1-element scales included): qint8-convert folds such constants itself.
    import onnx
    m = onnx.load(tmp)
    onnx.checker.check_model(m, full_check=True)
    os.replace(tmp, path)
    hist = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    return hist


# --------------------------------------------------------------------------------------------

def run_model(name, d, args):
    torch.manual_seed(SEED)
    ep_fp32, ep_qat = DEFAULT_EPOCHS[name]
    if args.epochs is not None:
        ep_fp32 = args.epochs
    if args.qat_epochs is not None:
        ep_qat = args.qat_epochs
    lr = args.lr if args.lr is not None else DEFAULT_LR.get(name, 0.1)
    min_epochs = args.min_epochs if args.min_epochs is not None else DEFAULT_MIN_EPOCHS.get(name, 5)
    cfg = nets.CONFIGS[name]
    model = nets.build(name)
    nparams = nets.num_params(model)
    exp_dir = os.path.join(args.export_dir, name)
    os.makedirs(exp_dir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    fp32_pt = os.path.join(args.out, f"{name}_fp32.pt")
    log(f"{name}: {cfg}, {nparams} parameters, FP32 lr {lr}, {ep_fp32} epochs, QAT {ep_qat} epochs, threads {torch.get_num_threads()}")

    # ---- FP32
    t_fp32 = 0.0
    prev = None
    if args.resume and os.path.exists(fp32_pt):
        model.load_state_dict(torch.load(fp32_pt))
        prev_json = os.path.join(exp_dir, "accuracy.json")
        if os.path.exists(prev_json):
            with open(prev_json) as f:
                prev = json.load(f)
        t_fp32 = float((prev or {}).get("train_seconds", {}).get("fp32", 0.0))
        log(f"{name}: resumed FP32 weights from {fp32_pt}")
    else:
        budget = 0.0 if args.epochs is not None else args.fp32_minutes * 60
        t_fp32, ep_fp32 = train_epochs(model, d, ep_fp32, lr, args.wd, f"{name} fp32", args,
                                       warmup_epochs=args.warmup, channels_last=args.channels_last,
                                       budget_s=budget, min_epochs=min(min_epochs, ep_fp32))
        torch.save(model.state_dict(), fp32_pt)
    acc_fp32 = evaluate(model, d.test_x, d.test_y)
    log(f"{name}: FP32 test top1 {acc_fp32['top1']:.2f}% top5 {acc_fp32['top5']:.2f}% (train {t_fp32:.0f}s)")
    hist = onnx_export(model, os.path.join(exp_dir, f"{name}_fp32.onnx"), preserve_bn=True)
    log(f"{name}: exported {name}_fp32.onnx: {hist}")

    # ---- QAT
    prepared = prepare_qat(model)
    qat_total = max(1, ep_qat * (len(d.train_y) // args.batch))
    state = {"bn": False, "obs": False}

    def on_step(step, total):
        if not state["bn"] and step >= args.freeze_bn_at * total:
            freeze_bn(prepared)
            state["bn"] = True
            log(f"{name} qat: BN statistics frozen at step {step}/{total}")
        if not state["obs"] and step >= args.freeze_observers_at * total:
            set_observers(prepared, False)
            state["obs"] = True
            log(f"{name} qat: observers frozen at step {step}/{total}")

    t_qat = train_epochs(prepared, d, ep_qat, args.qat_lr, args.wd, f"{name} qat", args, on_step=on_step)[0] \
        if ep_qat > 0 else 0.0
    freeze_bn(prepared)
    set_observers(prepared, False)
    prepared.eval()
    torch.save(prepared.state_dict(), os.path.join(args.out, f"{name}_qat.pt"))
    acc_fq = evaluate(prepared, d.test_x, d.test_y)
    log(f"{name}: QAT fake-quant test top1 {acc_fq['top1']:.2f}% top5 {acc_fq['top5']:.2f}% (train {t_qat:.0f}s)")

    # int8 (PyTorch's converted quantized model on the onednn engine)
    acc_int8 = None
    try:
        from torch.ao.quantization.quantize_fx import convert_fx
        q = convert_fx(copy.deepcopy(prepared).eval())
        acc_int8 = evaluate(q, d.test_x, d.test_y)
        log(f"{name}: PyTorch onednn INT8 test top1 {acc_int8['top1']:.2f}% top5 {acc_int8['top5']:.2f}%")
    except Exception as e:  # noqa: BLE001
        log(f"{name}: PyTorch INT8 conversion/evaluation failed: {type(e).__name__}: {e}")

    exp = fold_for_export(prepared)
    with torch.no_grad():
        a = prepared(d.test_x[:500])
        b = exp(d.test_x[:500])
    agree = (a.argmax(1) == b.argmax(1)).float().mean().item()
    log(f"{name}: folded export model vs fake-quant model on 500 images: max |diff| {(a - b).abs().max().item():.3g}, "
        f"argmax agreement {100 * agree:.1f}%")
    acc_exp = evaluate(exp, d.test_x, d.test_y)
    hist_q = onnx_export(exp, os.path.join(exp_dir, f"{name}_qat.onnx"), preserve_bn=False)
    log(f"{name}: exported {name}_qat.onnx (folded model top1 {acc_exp['top1']:.2f}%): {hist_q}")

    result = {
        "model": name,
        "width": cfg["width"],
        **({"hidden": cfg["hidden"]} if "hidden" in cfg else {}),
        "params": nparams,
        "input": {k: v for k, v in data.input_json().items()},
        "pytorch": {
            "fp32": acc_fp32,
            "qat_fakequant": acc_fq,
            "qat_exported_graph": acc_exp,
            **({"int8_onednn": acc_int8} if acc_int8 else {}),
        },
        "epochs": {"fp32": ep_fp32 if prev is None else prev.get("epochs", {}).get("fp32", ep_fp32), "qat": ep_qat},
        "train_seconds": {"fp32": round(t_fp32, 1), "qat": round(t_qat, 1)},
        "recipe": {
            "optimizer": "SGD momentum 0.9 nesterov, batch %d, weight decay %g (not on BN/bias)" % (args.batch, args.wd),
            "fp32_lr": f"{lr} cosine per iteration, {max(args.warmup, 1.0 if args.epochs is None else 0.0)} epoch linear warmup",
            "fp32_epochs_rule": f"exactly {args.epochs}" if args.epochs is not None else
                                f"first epoch timed, then as many as fit {args.fp32_minutes:g} min (min {min_epochs}, "
                                f"max {DEFAULT_EPOCHS[name][0]})",
            "qat_lr": f"{args.qat_lr} cosine; BN frozen at {args.freeze_bn_at:.0%}, observers at {args.freeze_observers_at:.0%} of QAT steps",
            "augmentation": "random crop 32 with zero padding 2, horizontal flip",
            "qconfig": "get_default_qat_qconfig_mapping('onednn', version=0): activations per-tensor affine quint8 "
                       "0..255 MovingAverageMinMax; weights per-channel symmetric qint8 -128..127 MovingAveragePerChannelMinMax",
            "relu6": "ReLU6 outputs quantized with a fixed range [0,6] (scale 6/255, zero point 0)" if prepared.relu6 else None,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "onnx": {"opset": OPSET, "fp32_ops": hist, "qat_ops": hist_q},
    }
    with open(os.path.join(exp_dir, "accuracy.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    log(f"{name}: done; wrote {exp_dir}/accuracy.json")
    return result


def main(argv=None):
    global LOG_FILE
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", help="all, or one or a comma list of: " + ", ".join(nets.NAMES))
    p.add_argument("--epochs", type=int, default=None,
                   help="FP32 epochs, exactly (default: the per-model maximum in DEFAULT_EPOCHS, cut to fit --fp32-minutes)")
    p.add_argument("--fp32-minutes", type=float, default=15.0,
                   help="without --epochs: FP32 time budget per model; the first epoch is timed and the epoch count "
                        "set to fit (default: %(default)s)")
    p.add_argument("--min-epochs", type=int, default=None,
                   help="lower bound of the budgeted epoch count (default: 5, or DEFAULT_MIN_EPOCHS[model])")
    p.add_argument("--qat-epochs", type=int, default=None, help="QAT epochs (default: per model)")
    p.add_argument("--out", default=os.path.join(HERE, "out"), help="state dicts and log (default: %(default)s)")
    p.add_argument("--export-dir", default=HERE, help="ONNX + accuracy.json go to EXPORT_DIR/NAME/ (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: %(default)s)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="FP32 peak learning rate (default: 0.1, or DEFAULT_LR[model])")
    p.add_argument("--warmup", type=float, default=1.0, help="FP32 linear warmup epochs (default: %(default)s)")
    p.add_argument("--wd", type=float, default=5e-4, help="weight decay (default: %(default)s)")
    p.add_argument("--qat-lr", type=float, default=0.002, help="QAT peak learning rate (default: %(default)s)")
    p.add_argument("--freeze-bn-at", type=float, default=0.5, help="fraction of QAT steps after which BN stats freeze")
    p.add_argument("--freeze-observers-at", type=float, default=0.7, help="fraction of QAT steps after which observers freeze")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="train the float model in NCHW instead of channels-last memory format")
    p.add_argument("--limit-test", type=int, default=0, help="evaluate on the first N test images only (smoke tests)")
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--log-every", type=int, default=100, help="progress line every N batches (0: per epoch only)")
    p.add_argument("--no-eval-every-epoch", dest="eval_every_epoch", action="store_false",
                   help="evaluate on the test set only after the last epoch")
    p.add_argument("--log", default=None, help="also append the progress lines to this file")
    p.add_argument("--resume", action="store_true", help="reuse OUT/NAME_fp32.pt if present (skip FP32 training)")
    args = p.parse_args(argv)

    names = nets.NAMES if args.model == "all" else [s.strip() for s in args.model.split(",") if s.strip()]
    for n in names:
        if n not in nets.CONFIGS:
            p.error(f"unknown model {n!r}; expected all or one of {', '.join(nets.NAMES)}")
    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "onednn"
    os.makedirs(args.out, exist_ok=True)
    LOG_FILE = args.log
    log(f"train.py {' '.join(sys.argv[1:])}: models {names}, torch {torch.__version__}, threads {args.threads}")
    d = Data(args.limit_train)
    if args.limit_test:
        d.test_x, d.test_y = d.test_x[:args.limit_test], d.test_y[:args.limit_test]
    results = []
    for n in names:
        results.append(run_model(n, d, args))
    for r in results:
        log(f"{r['model']:13s} width {r['width']:<7} params {r['params']:8d} fp32 {r['pytorch']['fp32']['top1']:.2f}% "
            f"qat {r['pytorch']['qat_fakequant']['top1']:.2f}% "
            f"int8 {r['pytorch'].get('int8_onednn', {}).get('top1', float('nan')):.2f}%")


if __name__ == "__main__":
    main()
