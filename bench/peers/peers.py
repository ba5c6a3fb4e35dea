#!/usr/bin/python3
"""Peer comparison benchmark for qint8: PyTorch and ONNX Runtime on qint8's six topologies.

Measures, on this machine and in one run, images/s of PyTorch (TorchScript) and
ONNX Runtime (onnxruntime-node) for mobilenet_v1, mobilenet_v2, resnet50,
resnet101, vgg16 and vgg19 in FP32 and INT8, with random weights (speed only),
at one batch size and thread count, and prints them beside the numbers that
qint8's `bench_models --json=FILE` wrote, with the ratio qint8/peer.

Run it with Debian's interpreter, which has torch:
    /usr/bin/python3 bench/peers/peers.py --models=resnet50,mobilenet_v2 \\
        --threads=1 --batch=1 --qint8-json=qint8.json --json=peers.json

Each (model, precision) is prepared and timed in its own worker process (this
same file, --_worker), so a crash or an error in one model is reported as
"failed: <reason>" and the run goes on. Exactly one benchmark process runs at
a time. Progress goes to stderr, the table to stdout. See README.md.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19"]
ENGINES = ["pytorch", "ort"]
PRECISIONS = ["fp32", "int8"]
OPSET = 13
# Bump when the way models are built, quantized or exported changes, so that
# cached ONNX files from an older recipe are not reused.
RECIPE = 1
IMAGE = (3, 224, 224)
CALIB_BATCHES = 4
SEED = 0


def log(msg):
    sys.stderr.write(f"[peers {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def median(xs):
    return statistics.median(xs)


def percentile(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# --------------------------------------------------------------------------
# Worker side: everything that imports torch runs in a child process.
# --------------------------------------------------------------------------

def build_mobilenet_v1(nn, num_classes=1000):
    """MobileNet-V1, width 1.0: 3x3/2 conv then 13 depthwise-separable blocks,
    each conv followed by BatchNorm and ReLU; 224x224 input, 1000 classes."""

    def conv_bn(cin, cout, stride):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def conv_dw(cin, cout, stride):
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
           (256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    assert len(cfg) == 13

    class MobileNetV1(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(conv_bn(3, 32, 2), *[conv_dw(a, b, s) for a, b, s in cfg])
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(1024, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            x = self.features(x)
            x = self.avgpool(x)
            x = x.flatten(1)
            return self.fc(x)

    return MobileNetV1()


def replace_relu6(module, nn):
    """ReLU6 -> ReLU, as torchvision's quantizable MobileNetV2 does, so that
    conv+relu fuse in INT8 (PyTorch fuses conv+relu, ORT drops the Relu after
    QLinearConv). Speed-equivalent; changes only the clamp at 6."""
    for name, child in list(module.named_children()):
        replace_relu6(child, nn)
        if type(child) is nn.ReLU6:
            module._modules[name] = nn.ReLU(inplace=False)


def build_float_model(name):
    import torch
    import torch.nn as nn
    import torchvision.models as tvm

    torch.manual_seed(SEED)
    if name == "mobilenet_v1":
        m = build_mobilenet_v1(nn)
    elif name == "mobilenet_v2":
        m = tvm.mobilenet_v2(weights=None)
    elif name in ("resnet50", "resnet101", "vgg16", "vgg19"):
        m = getattr(tvm, name)(weights=None)
    else:
        raise ValueError(f"unknown model {name}")
    return m.eval()


def quantize_fx(model, name):
    """FX graph mode post-training static quantization for the onednn engine,
    calibrated on a few random batches."""
    import copy
    import torch
    import torch.nn as nn
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "onednn"
    model = copy.deepcopy(model).eval()
    if name == "mobilenet_v2":
        replace_relu6(model, nn)
        model.eval()  # the new ReLU modules start in training mode
    example = torch.randn(1, *IMAGE)
    prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), example_inputs=(example,))
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for _ in range(CALIB_BATCHES):
            prepared(torch.randn(1, *IMAGE, generator=g))
    return convert_fx(prepared)


def unfuse_linear_relu(model):
    """PyTorch 1.13's ONNX exporter cannot export quantized::linear_relu (VGG's
    classifier after FX fusion): it only unpacks the weights of the ops it
    knows. For export only, swap each quantized LinearReLU for a quantized
    Linear with the same weights, bias and output scale/zero point, followed
    by a ReLU (exact same result: the output range already starts at 0). ORT
    removes that ReLU again when it fuses the QDQ graph (QGemm)."""
    import copy
    import torch.nn as nn
    from torch.ao.nn.quantized import Linear as QLinear

    model = copy.deepcopy(model)
    swaps = []
    for name, mod in model.named_modules():
        if type(mod).__name__ == "LinearReLU" and isinstance(mod, QLinear):
            w, b = mod.weight(), mod.bias()
            lin = QLinear(w.shape[1], w.shape[0], dtype=w.dtype)
            lin.set_weight_bias(w, b)
            lin.scale, lin.zero_point = mod.scale, mod.zero_point
            swaps.append((name, nn.Sequential(lin, nn.ReLU()).eval()))
    for name, new in swaps:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
    return model


def export_onnx(model, path, batch):
    import torch

    model = unfuse_linear_relu(model)

    x = torch.randn(batch, *IMAGE)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with torch.no_grad():
            torch.onnx.export(
                model, x, tmp, opset_version=OPSET, do_constant_folding=True,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def worker_main(args):
    """One (model, precision): optionally export ONNX, optionally time PyTorch.
    Prints one JSON object on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    out = {"model": args.model, "precision": args.precision, "torch_version": torch.__version__}
    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "onednn"

    def wlog(msg):
        sys.stderr.write(f"  [{args.model}/{args.precision}] {msg}\n")
        sys.stderr.flush()

    t0 = time.perf_counter()
    try:
        model = build_float_model(args.model)
        if args.precision == "int8":
            wlog("quantizing (FX, onednn qconfig, %d random calibration batches)" % CALIB_BATCHES)
            model = quantize_fx(model, args.model)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        err = "prepare: " + first_line(e)
        wlog(f"failed: {err}")
        out.update(ok=False, error=err, export_ok=False, export_error=err)
        print(json.dumps(out), flush=True)
        return 0
    out["prepare_s"] = time.perf_counter() - t0

    if args.export:
        wlog(f"exporting ONNX opset {OPSET} -> {args.export}")
        try:
            t1 = time.perf_counter()
            export_onnx(model, args.export, batch=1)
            out["export_s"] = time.perf_counter() - t1
            out["export_ok"] = True
        except Exception as e:  # noqa: BLE001 - reported, not raised
            out["export_ok"] = False
            out["export_error"] = first_line(e)
            wlog(f"export failed: {out['export_error']}")

    if args.bench:
        try:
            out.update(torch_bench(model, args, wlog))
            out["ok"] = True
        except Exception as e:  # noqa: BLE001
            out["ok"] = False
            out["error"] = first_line(e)
            wlog(f"failed: {out['error']}")
    print(json.dumps(out), flush=True)
    return 0


def first_line(e):
    text = str(e).strip() or type(e).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # PyTorch RuntimeErrors often start with a blank or generic line: keep the
    # first informative one.
    msg = lines[0] if lines else type(e).__name__
    return f"{type(e).__name__}: {msg}"[:300]


def torch_bench(model, args, wlog):
    import torch

    g = torch.Generator().manual_seed(SEED + 2)
    x = torch.randn(args.batch, *IMAGE, generator=g)
    with torch.no_grad():
        t0 = time.perf_counter()
        if args.precision == "fp32":
            try:
                scripted = torch.jit.script(model)
                how = "script"
            except Exception:  # noqa: BLE001 - fall back to tracing
                scripted = torch.jit.trace(model, x)
                how = "trace"
            fn = torch.jit.optimize_for_inference(scripted)
            how += "+optimize_for_inference"
        else:
            fn = torch.jit.freeze(torch.jit.trace(model, x).eval())
            how = "trace+freeze"
        jit_s = time.perf_counter() - t0
        wlog(f"{how} in {jit_s:.1f}s; warmup {args.warmup}, iterations {args.iterations}")
        y = None
        for _ in range(args.warmup):
            y = fn(x)
        times = []
        for _ in range(args.iterations):
            a = time.perf_counter()
            y = fn(x)
            times.append((time.perf_counter() - a) * 1e3)
    med = median(times)
    return {
        "how": how,
        "jit_s": jit_s,
        "times_ms": [round(t, 3) for t in times],
        "median_ms": med,
        "images_per_s": args.batch * 1e3 / med,
        "output_shape": list(y.shape) if y is not None else None,
        "output_finite": bool(torch.isfinite(y).all()) if y is not None else None,
    }


# --------------------------------------------------------------------------
# Orchestrator side.
# --------------------------------------------------------------------------

def run_child(cmd, timeout, label):
    """Run one child; stream its stderr to ours; return (rc, stdout, stderr_tail)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tail = []
    try:
        import threading

        def pump():
            for line in proc.stderr:
                sys.stderr.write(line)
                sys.stderr.flush()
                if line.strip():
                    tail.append(line.rstrip())
                    del tail[:-20]

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        stdout = proc.stdout.read()
        proc.wait(timeout=timeout)
        th.join(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None, "", [f"{label}: timed out after {timeout}s"]
    return proc.returncode, stdout, tail


def parse_child_json(rc, stdout, tail):
    """Last JSON line of a child's stdout, or a failure reason."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line), None
            except json.JSONDecodeError:
                break
    if rc is None:
        return None, tail[-1] if tail else "timed out"
    if rc < 0:
        reason = f"crashed with signal {-rc}"
    else:
        reason = f"exit code {rc}"
    last = next((ln for ln in reversed(tail) if "Error" in ln or "error" in ln), tail[-1] if tail else "")
    return None, f"{reason}: {last.strip()[:200]}" if last else reason


def onnx_path(workdir, model, precision):
    return os.path.join(workdir, f"{model}.{precision}.opset{OPSET}.r{RECIPE}.onnx")


def load_qint8(path):
    with open(path) as f:
        data = json.load(f)
    rows = data.get("results", data if isinstance(data, list) else [])
    return rows


def qint8_lookup(rows, model, precision, threads, batch):
    """qint8's images/s for this model/threads/batch: same precision if qint8
    reports it, else its int8 number (qint8 is an INT8 runtime). Returns
    (images_per_s or None, precision used)."""
    def pick(prec):
        hits = [r for r in rows
                if r.get("model") == model and r.get("precision") == prec
                and int(r.get("threads", -1)) == threads and int(r.get("batch", -1)) == batch
                and r.get("images_per_s") is not None]
        return max((float(r["images_per_s"]) for r in hits), default=None)

    v = pick(precision)
    if v is not None:
        return v, precision
    if precision != "int8":
        v = pick("int8")
        if v is not None:
            return v, "int8"
    return None, None


def machine_info():
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in text.splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["isa_flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")))
                break
    except OSError:
        pass
    return info


def fmt_num(v):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def print_table(results, have_qint8, threads, batch, out=sys.stdout):
    headers = ["model", "engine", "precision", "images/s (median)"]
    if have_qint8:
        headers += ["qint8 images/s", "qint8/peer ratio"]
    rows = []
    footnote = False
    for r in results:
        row = [r["model"], r["engine"], r["precision"],
               fmt_num(r["images_per_s"]) if r["status"] == "ok" else f"failed: {r['error']}"]
        if have_qint8:
            q = r.get("qint8_images_per_s")
            qs = fmt_num(q)
            if q is not None and r.get("qint8_precision") != r["precision"]:
                qs += " *"
                footnote = True
            ratio = r.get("qint8_over_peer")
            row += [qs, f"{ratio:.2f}x" if ratio is not None else "n/a"]
        rows.append(row)
    # Long failure reasons would stretch the table: cap the column width and
    # let the last cells of a failed row run on.
    widths = [len(h) for h in headers]
    for row in rows:
        for i, c in enumerate(row):
            if not c.startswith("failed:"):
                widths[i] = max(widths[i], len(c))
    out.write(f"# threads={threads} batch={batch}\n")
    out.write(" | ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    out.write("-+-".join("-" * w for w in widths) + "\n")
    for row in rows:
        out.write(" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
    if footnote:
        out.write("* qint8 has no row of this precision: compared with qint8's int8 number.\n")
    out.flush()


def parse_list(value, allowed, what):
    if value == "all":
        return list(allowed)
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise SystemExit(f"peers.py: unknown {what}: {', '.join(bad) or repr(value)}; choose from {', '.join(allowed)} or all")
    return items


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Peer comparison benchmark: PyTorch (TorchScript, onednn INT8) and ONNX Runtime "
                    "(onnxruntime-node) on qint8's six topologies, random weights, speed only. "
                    "Run with /usr/bin/python3 (it has torch).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--models", default="all", help="all, or a comma list of: " + ",".join(MODELS))
    ap.add_argument("--engines", default="pytorch,ort", help="comma list of: pytorch,ort")
    ap.add_argument("--precisions", default="fp32,int8", help="comma list of: fp32,int8")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for each engine")
    ap.add_argument("--batch", type=int, default=1, help="images per inference")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    ap.add_argument("--iterations", type=int, default=10, help="timed runs; the median is reported")
    ap.add_argument("--qint8-json", default=None,
                    help="JSON written by qint8's `bench_models --json=FILE`; without it the ratio columns are left out")
    ap.add_argument("--json", default=None, help="write all results (per-iteration times included) to this file")
    ap.add_argument("--workdir", default=os.path.join(HERE, ".cache"),
                    help="where exported ONNX models are cached")
    ap.add_argument("--node", default=shutil.which("node") or "node", help="node executable for ONNX Runtime")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds allowed for one worker (prepare + time)")
    ap.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--precision", help=argparse.SUPPRESS)
    ap.add_argument("--export", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bench", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    for k in ("threads", "batch", "iterations"):
        if getattr(args, k) < 1:
            ap.error(f"--{k} must be >= 1")
    if args.warmup < 0:
        ap.error("--warmup must be >= 0")

    if args._worker:
        return worker_main(args)

    models = parse_list(args.models, MODELS, "model")
    engines = parse_list(args.engines, ENGINES, "engine")
    precisions = parse_list(args.precisions, PRECISIONS, "precision")
    if "pytorch" in engines and args.warmup < 2:
        log("warning: TorchScript's profiling executor optimizes during the first 2 runs; "
            "--warmup < 2 understates PyTorch")

    qrows = None
    if args.qint8_json:
        try:
            qrows = load_qint8(args.qint8_json)
            log(f"qint8 results: {len(qrows)} rows from {args.qint8_json}")
        except (OSError, ValueError) as e:
            log(f"warning: cannot read --qint8-json {args.qint8_json}: {e}; no ratio columns")
            qrows = None

    ort_js = os.path.join(HERE, "ort_bench.js")
    if "ort" in engines:
        os.makedirs(args.workdir, exist_ok=True)
        if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
            log("warning: onnxruntime-node is not installed; run `npm install --ignore-scripts` in "
                f"{HERE} (see README.md). ORT rows will fail.")

    me = os.path.abspath(__file__)
    results = []
    t_start = time.time()
    for model in models:
        for precision in precisions:
            export = None
            onnx_file = onnx_path(args.workdir, model, precision)
            if "ort" in engines and not os.path.exists(onnx_file):
                export = onnx_file
            want_torch = "pytorch" in engines
            worker_res, worker_err = None, None
            if want_torch or export:
                what = " + ".join(x for x in (["time PyTorch"] if want_torch else []) +
                                  (["export ONNX"] if export else []))
                log(f"{model} {precision}: {what}")
                cmd = [sys.executable, me, "--_worker", f"--model={model}", f"--precision={precision}",
                       f"--threads={args.threads}", f"--batch={args.batch}",
                       f"--warmup={args.warmup}", f"--iterations={args.iterations}"]
                if export:
                    cmd.append(f"--export={export}")
                if want_torch:
                    cmd.append("--bench")
                t0 = time.time()
                rc, stdout, tail = run_child(cmd, args.timeout, f"{model}/{precision}")
                worker_res, worker_err = parse_child_json(rc, stdout, tail)
                log(f"{model} {precision}: worker done in {time.time() - t0:.1f}s")

            if want_torch:
                r = {"model": model, "engine": "pytorch", "precision": precision}
                if worker_res and worker_res.get("ok"):
                    r.update(status="ok", **{k: worker_res[k] for k in
                                             ("images_per_s", "median_ms", "times_ms", "how", "output_finite")})
                    r["engine_version"] = worker_res.get("torch_version")
                    log(f"  pytorch {model} {precision}: {r['images_per_s']:.2f} images/s "
                        f"(median {r['median_ms']:.2f} ms)")
                else:
                    r.update(status="failed",
                             error=(worker_res or {}).get("error") or worker_err or "no result")
                    log(f"  pytorch {model} {precision}: failed: {r['error']}")
                results.append(r)

            if "ort" in engines:
                r = {"model": model, "engine": "ort", "precision": precision}
                if export and not (worker_res and worker_res.get("export_ok")):
                    reason = (worker_res or {}).get("export_error") or worker_err or "export failed"
                    r.update(status="failed", error=f"ONNX export: {reason}")
                    log(f"  ort {model} {precision}: failed: {r['error']}")
                else:
                    cmd = [args.node, ort_js, f"--model={onnx_file}", f"--threads={args.threads}",
                           f"--batch={args.batch}", f"--warmup={args.warmup}",
                           f"--iterations={args.iterations}"]
                    log(f"{model} {precision}: time ONNX Runtime ({os.path.basename(onnx_file)})")
                    rc, stdout, tail = run_child(cmd, args.timeout, f"ort {model}/{precision}")
                    res, err = parse_child_json(rc, stdout, tail)
                    if res and res.get("ok"):
                        r.update(status="ok", **{k: res[k] for k in ("images_per_s", "median_ms", "times_ms")})
                        r["engine_version"] = res.get("ort_version")
                        log(f"  ort {model} {precision}: {r['images_per_s']:.2f} images/s "
                            f"(median {r['median_ms']:.2f} ms)")
                    else:
                        r.update(status="failed", error=(res or {}).get("error") or err or "no result")
                        log(f"  ort {model} {precision}: failed: {r['error']}")
                results.append(r)

    for r in results:
        r["threads"] = args.threads
        r["batch"] = args.batch
        r.setdefault("images_per_s", None)
        if r["status"] == "ok":
            r["latency_ms_p50"] = r["median_ms"]
            r["latency_ms_p99"] = percentile(r["times_ms"], 99)
        if qrows is not None:
            q, qprec = qint8_lookup(qrows, r["model"], r["precision"], args.threads, args.batch)
            r["qint8_images_per_s"] = q
            r["qint8_precision"] = qprec
            r["qint8_over_peer"] = (q / r["images_per_s"]) if (q and r["images_per_s"]) else None

    elapsed = time.time() - t_start
    log(f"done in {elapsed:.0f}s")
    print_table(results, qrows is not None, args.threads, args.batch)

    if args.json:
        doc = {
            "config": dict({k: getattr(args, k) for k in ("threads", "batch", "warmup", "iterations", "qint8_json")},
                           models=models, engines=engines, precisions=precisions,
                           torch_quantized_engine="onednn", onnx_opset=OPSET, recipe=RECIPE),
            "machine": machine_info(),
            "elapsed_s": elapsed,
            "results": results,
        }
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
