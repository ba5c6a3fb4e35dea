#!/usr/bin/python3
"""Writes the QOperator form of a Fashion-MNIST QAT model: the graph ONNX Runtime's
quantize_static(quant_format=QOperator) would write for it (that quantizer is not installable
here), from the trained model's QDQ export (NAME/NAME_qat.onnx). Each quantized op with its
QuantizeLinear -> DequantizeLinear pairs becomes one integer op:

    Conv (+ Relu / Clip) -> Q          QLinearConv (int8 weights = the QDQ pair's integers, int32
                                       bias at scale x_scale * w_scale), then Clip on the codes
                                       where the activation clamps more than uint8 saturation
    Add (+ Relu) -> Q                  com.microsoft QLinearAdd (+ Clip on the codes)
    GlobalAveragePool -> Q             com.microsoft QLinearGlobalAveragePool
    MaxPool / Flatten -> Q             the op on the uint8 codes (same scale)
    Gemm -> Q                          QLinearMatMul (weight transposed to [K, O], per-column
                                       scales) + QLinearAdd of the bias quantized to uint8

QuantizeLinear of the input, DequantizeLinear of the logits and a requantization (DQ -> Q with
another scale) stay. The result is run by ONNX Runtime (qoperator_ort.js) and by qint8
(tests/test_fashion_mnist_qoperator.cpp).

    /usr/bin/python3 models/fashion_mnist/qdq_to_qoperator.py [NAME ...]   (default mobilenet_v2 resnet50)

writes models/fashion_mnist/NAME/NAME_qoperator.onnx (committed, under 1 MB each; the script is
deterministic, so a rerun writes the same bytes).
"""

import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


class Converter:
    def __init__(self, model):
        self.m = model
        g = model.graph
        self.values = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        for n in g.node:
            if n.op_type == "Constant":
                self.values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.producer = {o: n for n in g.node for o in n.output}
        self.readers = {}
        for n in g.node:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)
        self.nodes, self.inits, self.done = [], {}, set()
        self.graph_outputs = {o.name for o in g.output}

    def init(self, name, arr):
        self.inits[name] = numpy_helper.from_array(np.asarray(arr), name)
        return name

    def source(self, t):
        """An activation read through DequantizeLinear(QuantizeLinear(x)): the integer tensor and its scale / zero point."""
        dq = self.producer[t]
        assert dq.op_type == "DequantizeLinear", f"{t}: expected a DequantizeLinear output, found {dq.op_type}"
        return [dq.input[0], dq.input[1], dq.input[2]]

    def weight(self, t):
        """DequantizeLinear(QuantizeLinear(float initializer)): the integers the pair computes, int8 per channel."""
        dq = self.producer[t]
        q = self.producer[dq.input[0]]
        w, s, z = self.values[q.input[0]], self.values[q.input[1]], self.values[q.input[2]]
        axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
        shape = [1] * w.ndim
        if s.ndim:
            shape[axis] = -1
        qw = np.clip(np.rint(w / s.reshape(shape)) + z.reshape(shape).astype(np.float64), -128, 127).astype(np.int8)
        return qw, s.astype(np.float32), z, axis

    def output_chain(self, n):
        """The Relu / Clip after n (if any) and the QuantizeLinear that ends its chain."""
        t, act = n.output[0], None
        r = self.readers.get(t, [])
        if len(r) == 1 and r[0].op_type in ("Relu", "Clip"):
            act = r[0]
            t = act.output[0]
            r = self.readers.get(t, [])
        assert len(r) == 1 and r[0].op_type == "QuantizeLinear", f"{n.name}: expected one QuantizeLinear after it"
        self.done.add(r[0].output[0])
        return act, r[0]

    def emit(self, op, ins, out, name, domain=None, **attrs):
        kw = {"domain": domain} if domain else {}
        self.nodes.append(helper.make_node(op, ins, [out], name=name, **kw, **attrs))

    def finish_chain(self, n, act, q, emit_op):
        """emit_op(out) writes the integer op; an activation clamping inside uint8 becomes a Clip on the codes."""
        y, ys, yz = q.output[0], q.input[1], q.input[2]
        s, z = float(self.values[ys]), int(self.values[yz])
        lo, hi = 0, 255
        if act is not None:
            a_lo = 0.0 if act.op_type == "Relu" else float(self.values[act.input[1]])
            a_hi = None if act.op_type == "Relu" or len(act.input) < 3 else float(self.values[act.input[2]])
            lo = max(lo, int(np.rint(a_lo / s)) + z)
            if a_hi is not None:
                hi = min(hi, int(np.rint(a_hi / s)) + z)
        if lo == 0 and hi == 255:
            emit_op(y)
            return
        emit_op(y + "_unclipped")
        cmin = self.init(n.name + "_clip_min", np.array(lo, np.uint8))
        cmax = self.init(n.name + "_clip_max", np.array(hi, np.uint8))
        self.emit("Clip", [y + "_unclipped", cmin, cmax], y, (act.name if act is not None else n.name) + "_quant")

    def conv(self, n):
        x = self.source(n.input[0])
        qw, ws, wz, _ = self.weight(n.input[1])
        w = self.init(n.name + "_W_quantized", qw)
        wsn = self.init(n.name + "_W_scale", ws)
        wzn = self.init(n.name + "_W_zero_point", np.zeros(ws.shape, np.int8))
        assert not np.any(wz), "symmetric weights expected"
        xs = np.float32(self.values[x[1]])
        b = self.values[n.input[2]] if len(n.input) > 2 else None
        ins = x + [w, wsn, wzn]
        act, q = self.output_chain(n)
        ins += [q.input[1], q.input[2]]
        if b is not None:
            ins.append(self.init(n.name + "_B_quantized", np.rint(b / (xs * ws)).astype(np.int32)))
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        self.finish_chain(n, act, q, lambda out: self.emit("QLinearConv", ins, out, n.name + "_quant", **attrs))

    def gemm(self, n):
        x = self.source(n.input[0])
        qw, ws, _, _ = self.weight(n.input[1])  # [O, K], transB = 1
        b = self.values[n.input[2]]
        act, q = self.output_chain(n)
        ys, yz = q.input[1], q.input[2]
        ins = x + [self.init(n.name + "_B_quantized", np.ascontiguousarray(qw.T)), self.init(n.name + "_B_scale", ws),
                   self.init(n.name + "_B_zero_point", np.zeros(ws.shape, np.int8)), ys, yz]
        bs = np.float32(np.abs(b).max() / 127)
        bias = [self.init(n.name + "_bias_quantized", (np.clip(np.rint(b / bs), -127, 127) + 128).astype(np.uint8)),
                self.init(n.name + "_bias_scale", bs), self.init(n.name + "_bias_zero_point", np.array(128, np.uint8))]

        def emit(out):
            self.emit("QLinearMatMul", ins, out + "_matmul", n.name + "_quant")
            self.emit("QLinearAdd", [out + "_matmul", ys, yz] + bias + [ys, yz], out, n.name + "_bias_quant", domain="com.microsoft")
        self.finish_chain(n, act, q, emit)

    def add(self, n):
        ins = self.source(n.input[0]) + self.source(n.input[1])
        act, q = self.output_chain(n)
        self.finish_chain(n, act, q, lambda out: self.emit("QLinearAdd", ins + [q.input[1], q.input[2]], out, n.name + "_quant", domain="com.microsoft"))

    def gap(self, n):
        x = self.source(n.input[0])
        act, q = self.output_chain(n)
        self.finish_chain(n, act, q, lambda out: self.emit("QLinearGlobalAveragePool", x + [q.input[1], q.input[2]], out, n.name + "_quant",
                                                           domain="com.microsoft", channels_last=0))

    def moving(self, n):
        x = self.source(n.input[0])
        act, q = self.output_chain(n)
        assert act is None and self.values[q.input[1]] == self.values[x[1]] and self.values[q.input[2]] == self.values[x[2]], n.name
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        self.emit(n.op_type, [x[0]], q.output[0], n.name + "_quant", **attrs)

    def run(self):
        g = self.m.graph
        for n in g.node:
            op = n.op_type
            if op == "Conv":
                self.conv(n)
            elif op == "Gemm":
                self.gemm(n)
            elif op == "Add":
                self.add(n)
            elif op == "GlobalAveragePool":
                self.gap(n)
            elif op in ("MaxPool", "Flatten"):
                self.moving(n)
            elif op == "QuantizeLinear":
                if n.output[0] in self.done or n.input[0] in self.values:
                    continue  # written by the integer op, or a weight's pair
                if n.input[0] != g.input[0].name:
                    self.nodes.append(self.producer[n.input[0]])  # a requantization: its DequantizeLinear stays
                self.nodes.append(n)
            elif op == "DequantizeLinear":
                if n.output[0] in self.graph_outputs:
                    self.nodes.append(n)
            elif op not in ("Relu", "Clip", "Constant"):
                raise SystemExit(f"{n.name}: {op} is not handled")
        used = {i for n in self.nodes for i in n.input}
        inits = [t for t in g.initializer if t.name in used and t.name not in self.inits] + list(self.inits.values())
        graph = helper.make_graph(self.nodes, g.name + "_qoperator", list(g.input), list(g.output), inits)
        opsets = [helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="qdq_to_qoperator.py (ONNX Runtime QOperator form)")
        model.ir_version = 8
        return model


def main():
    names = sys.argv[1:] or ["mobilenet_v2", "resnet50"]
    for name in names:
        m = Converter(onnx.load(os.path.join(HERE, name, f"{name}_qat.onnx"))).run()
        onnx.checker.check_model(m)
        path = os.path.join(HERE, name, f"{name}_qoperator.onnx")
        onnx.save(m, path)
        ops = {}
        for n in m.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        print(f"{path}: {os.path.getsize(path)} bytes, {ops}")


if __name__ == "__main__":
    main()
