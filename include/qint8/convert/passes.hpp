#pragma once
// The back half of the converter: passes over the neutral import_graph (import_graph.hpp) and
// the lowering to a qint8::model_desc. In the seed tutorial's order:
//
//   1. gather_qdq          QuantizeLinear -> DequantizeLinear pairs on activations become the
//                          tensor's activation quantization; on weights they are applied
//                          (the weights become the exact fake-quantized f32 values) and dropped.
//   2. fold_batch_norm     BatchNormalization into the preceding Conv (or Gemm) weights and bias.
//   3. fuse                Relu / Clip into the producing conv, gemm or add as post-ops; a
//                          residual Add into one of the convs producing its inputs as a sum
//                          post-op (then an optional Relu); a constant Add after a bias-less
//                          MatMul/Gemm/Conv becomes its bias.
//   4. fold_pad            a zero Pad into the following Conv's (asymmetric) padding.
//   5-7. lower             nodes to qint8 layers; f32 weights (the runtime quantizes them per
//                          channel) or s8 + per-channel scales recomputed after folding; each
//                          tensor's activation quantization, propagated through pools and
//                          flatten/reshape, u8 where the source says uint8 or the tensor is
//                          known non-negative, s8 otherwise.
//
// Every pass keeps the graph consistent (shapes re-inferred where they change) and throws
// qint8::error naming the file and the node it cannot handle.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <qint8/builder.hpp>
#include <qint8/graph.hpp>
#include <qint8/models/synthetic.hpp>

#include <qint8/convert/import_graph.hpp>

namespace qint8::convert {

/// Messages a pass wants the user to see (not errors).
using note_fn = std::function<void(const std::string&)>;

namespace detail_pass {

inline void say(const note_fn& f, const std::string& s) {
    if (f) f(s);
}

/// Reads the scale and zero point inputs of a QuantizeLinear / DequantizeLinear node.
/// `allow_int32`: an int32 zero point is accepted (the bias of QDQ exporters, dequantized once).
inline quantization read_quant(const import_graph& g, const node& n, const std::vector<int64_t>& data_shape, bool allow_int32 = false) {
    quantization q;
    const constant* s = n.inputs.size() > 1 ? g.find_const(n.inputs[1]) : nullptr;
    if (!s || !s->floating || s->elements() == 0) unsupported(g, n, "scale: expected a constant float tensor");
    q.scale = s->f;
    for (float v : q.scale)
        if (!std::isfinite(v) || !(v > 0.f)) invalid(g, n, "scale: expected finite positive values, found " + std::to_string(v));
    const constant* z = n.inputs.size() > 2 && !n.inputs[2].empty() ? g.find_const(n.inputs[2]) : nullptr;
    if (n.inputs.size() > 2 && !n.inputs[2].empty() && !z) unsupported(g, n, "zero_point: expected a constant");
    // ONNX: the zero point's type decides the integer type; without one it is uint8.
    q.type = dtype::u8;
    if (z) {
        if (z->elem == "int8") q.type = dtype::s8;
        else if (allow_int32 && z->elem == "int32") q.type = dtype::s32;
        else if (z->elem != "uint8") unsupported(g, n, "zero_point: expected int8 or uint8, found " + z->elem);
        if (z->elements() != q.scale.size()) invalid(g, n, "zero_point has " + std::to_string(z->elements()) + " values, scale " + std::to_string(q.scale.size()));
        for (int64_t v : z->i) q.zero_point.push_back(static_cast<int32_t>(v));
    } else if (n.kind == op_kind::dequantize) {
        if (const constant* x = g.find_const(n.inputs[0]); x && x->elem == "int8") q.type = dtype::s8;
        else if (x && x->elem == "int32" && allow_int32) q.type = dtype::s32;
    }
    if (q.scale.size() > 1) {
        int64_t axis = n.i("axis", 1);
        if (axis < 0) axis += static_cast<int64_t>(data_shape.size());
        if (axis < 0 || axis >= static_cast<int64_t>(data_shape.size()) || data_shape[static_cast<std::size_t>(axis)] != static_cast<int64_t>(q.scale.size()))
            invalid(g, n, "per-axis scale of " + std::to_string(q.scale.size()) + " values does not fit axis " + std::to_string(n.i("axis", 1)) +
                              " of " + detail::shape_str(data_shape));
        q.axis = static_cast<int>(axis);
    }
    return q;
}

/// Saturating round-half-to-even quantization, as QuantizeLinear defines it: x / scale in float32
/// (both are float tensors), then rounded. Dividing in double would break the ties a float
/// quotient makes exact: a weight of -127.5 steps in float32 is -128 in the file (ONNX Runtime),
/// but -127.49999... in double, -127.
inline int64_t quantize_value(double x, float scale, int32_t zp, dtype t) {
    const double q = std::nearbyint(double(static_cast<float>(x) / scale)) + zp;  // default rounding mode: ties to even
    return static_cast<int64_t>(std::min<double>(std::max<double>(q, dtype_min(t)), dtype_max(t)));
}

inline quant_params to_params(const quantization& q) { return {q.type, q.scale[0], q.zp(0)}; }

/// Input `idx` of `n` as a constant (weights, biases), or an error naming the node.
inline const constant& const_input(const import_graph& g, const node& n, std::size_t idx, const char* what) {
    const constant* c = idx < n.inputs.size() && !n.inputs[idx].empty() ? g.find_const(n.inputs[idx]) : nullptr;
    if (!c) unsupported(g, n, std::string(what) + " '" + (idx < n.inputs.size() ? n.inputs[idx] : "") +
                                  "' must be a constant (an initializer, possibly through QuantizeLinear/DequantizeLinear), found a computed tensor");
    return *c;
}

/// A weight: a constant holding one float per element. An integer initializer wired as a Conv or
/// Gemm weight without a DequantizeLinear has no real values to take (found by fuzz_onnx: an
/// int64 weight read as floats that were never there).
inline const constant& weight_input(const import_graph& g, const node& n, std::size_t idx, const char* what) {
    const constant& c = const_input(g, n, idx, what);
    if (!c.floating || c.f.size() != c.elements())
        invalid(g, n, std::string(what) + " '" + n.inputs[idx] + "': expected a floating-point tensor (or one behind DequantizeLinear), found " + c.elem);
    return c;
}

}  // namespace detail_pass

// ---------------------------------------------------------------------------------------------
// 1. QDQ

/// Does quantizing with `then` a tensor held with `held` give every code back, Q(DQ(q)) = q
/// (quantize_value: round half to even, saturate)? Then a file that quantizes a tensor twice
/// (PyTorch's eager export quantizes its input twice, with parameters that print the same) means
/// the same values either way, and keeping the first is exact.
inline bool requantizes_to_itself(const quantization& held, const quantization& then) {
    if (held.type != then.type || !held.per_tensor() || !then.per_tensor()) return false;
    for (int32_t q = dtype_min(held.type); q <= dtype_max(held.type); ++q)
        if (detail_pass::quantize_value(static_cast<float>(q - held.zp(0)) * held.scale[0], then.scale[0], then.zp(0), then.type) != q) return false;
    return true;
}

/// Pass 1. Returns true if the graph had any QuantizeLinear / DequantizeLinear node.
inline bool gather_qdq(import_graph& g, const note_fn& note = {}) {
    using namespace detail_pass;
    bool any = false;
    std::set<std::size_t> dead;
    for (std::size_t k = 0; k < g.nodes.size(); ++k) {
        node& d = g.nodes[k];
        if (d.kind == op_kind::quantize) any = true;
        if (d.kind != op_kind::dequantize) continue;
        any = true;
        const std::string x = d.inputs.at(0), out = d.outputs.at(0);
        if (const constant* qc = g.find_const(x)) {
            // Already-quantized weights (int8/uint8 initializer -> DequantizeLinear), or an
            // int32 bias as QDQ exporters write it.
            if (qc->floating) unsupported(g, d, "DequantizeLinear of a float constant");
            const quantization q = read_quant(g, d, qc->shape, true);
            constant w;
            w.shape = qc->shape;
            w.f.resize(qc->elements());
            for (std::size_t e = 0; e < w.f.size(); ++e) {
                const std::size_t s = slice_of(w.shape, q.axis, e);
                w.f[e] = q.sc(s) * static_cast<float>(qc->i[e] - q.zp(s));
            }
            w.i = qc->i;
            w.quant = q;
            w.exact_int8 = q.type == dtype::s8;
            g.constants[out] = std::move(w);
            dead.insert(k);
            continue;
        }
        const int qi = g.producer_of(x);
        if (qi < 0 || g.nodes[static_cast<std::size_t>(qi)].kind != op_kind::quantize)
            unsupported(g, d, "DequantizeLinear must follow a QuantizeLinear or read a quantized constant; '" + x + "' is neither");
        const node& qn = g.nodes[static_cast<std::size_t>(qi)];
        const std::string src = qn.inputs.at(0);
        if (const constant* wc = g.find_const(src)) {
            // Fake-quantized weights: keep exactly the values training saw.
            if (!wc->floating) unsupported(g, qn, "QuantizeLinear of an integer constant");
            const quantization qq = read_quant(g, qn, wc->shape), dq = read_quant(g, d, wc->shape);
            constant w;
            w.shape = wc->shape;
            w.f.resize(wc->elements());
            w.i.resize(w.f.size());
            for (std::size_t e = 0; e < w.f.size(); ++e) {
                const std::size_t sq = slice_of(w.shape, qq.axis, e), sd = slice_of(w.shape, dq.axis, e);
                w.i[e] = quantize_value(wc->f[e], qq.sc(sq), qq.zp(sq), qq.type);
                w.f[e] = dq.sc(sd) * static_cast<float>(w.i[e] - dq.zp(sd));
            }
            w.floating = true;
            w.quant = dq;
            w.exact_int8 = dq.type == dtype::s8;
            g.constants[out] = std::move(w);
            dead.insert(k);
            continue;
        }
        // An activation: the pair says how the tensor is held in 8 bits; the values pass through.
        const auto shape_it = g.shapes.find(src);
        const std::vector<int64_t> shape = shape_it == g.shapes.end() ? std::vector<int64_t>{} : shape_it->second;
        const quantization qq = read_quant(g, qn, shape), dq = read_quant(g, d, shape);
        if (!qq.per_tensor() || !dq.per_tensor())
            unsupported(g, qn, "per-axis quantization of an activation ('" + src + "'): qint8 quantizes activations per tensor");
        if (qq.type != dq.type || qq.scale[0] != dq.scale[0] || qq.zp(0) != dq.zp(0))
            unsupported(g, d, "its scale/zero point differ from those of QuantizeLinear '" + qn.name + "' (requantization is not supported)");
        auto it = g.act_quant.find(src);
        if (it == g.act_quant.end()) g.act_quant[src] = qq;
        else if (!requantizes_to_itself(it->second, qq)) {
            say(note, "warning: tensor '" + src + "' is quantized twice with different parameters; keeping the first (" + describe(d) + ")");
            const int pi = g.producer_of(src);
            g.departures.emplace_back(pi < 0 ? src : g.nodes[static_cast<std::size_t>(pi)].name,
                                      "the file quantizes '" + src + "' with two parameter sets (scale " + std::to_string(it->second.scale.at(0)) +
                                          " zero point " + std::to_string(it->second.zp(0)) + ", then scale " + std::to_string(qq.scale.at(0)) +
                                          " zero point " + std::to_string(qq.zp(0)) + "); the first is used wherever the tensor is read");
        }
        g.rename_uses(out, src);
        dead.insert(k);
    }
    erase_nodes(g, dead);
    // A QuantizeLinear left with readers was not part of a pair.
    for (const node& n : g.nodes)
        if (n.kind == op_kind::quantize && g.use_count(n.outputs[0]) > 0)
            unsupported(g, n, "QuantizeLinear not followed by DequantizeLinear: qint8 reads QDQ pairs only (integer tensors between float ops are not supported)");
    remove_dead_nodes(g);
    return any;
}

// ---------------------------------------------------------------------------------------------
// 2. BatchNormalization

/// Rewrites a Gemm or MatMul in canonical form: weight constant [O, K] (transB = 1), bias [O]
/// or none, alpha = beta = 1, under fresh constant names (the originals may be shared).
inline void canonicalize_fc(import_graph& g, node& n) {
    if (n.kind != op_kind::gemm && n.kind != op_kind::matmul) return;
    if (n.kind == op_kind::gemm && n.s("canonical", "") == "1") return;
    const constant& b = detail_pass::const_input(g, n, 1, "the weight (B)");
    const bool tb = n.kind == op_kind::gemm && n.i("transB", 0) != 0;
    const float alpha = n.kind == op_kind::gemm ? n.f("alpha", 1.f) : 1.f, beta = n.kind == op_kind::gemm ? n.f("beta", 1.f) : 1.f;
    const int64_t o = tb ? b.shape[0] : b.shape[1], k = tb ? b.shape[1] : b.shape[0];
    constant w;
    w.shape = {o, k};
    w.f.resize(static_cast<std::size_t>(o * k));
    for (int64_t r = 0; r < o; ++r)
        for (int64_t c = 0; c < k; ++c)
            w.f[static_cast<std::size_t>(r * k + c)] = alpha * static_cast<float>(b.at(static_cast<std::size_t>(tb ? r * k + c : c * o + r)));
    if (tb && alpha == 1.f && b.quant && b.i.size() == b.elements()) {  // unchanged values: keep the integers for an s8 manifest
        w.i = b.i;
        w.quant = b.quant;
        w.exact_int8 = b.exact_int8;
    }
    const std::string wname = n.name + "::weight";
    g.constants[wname] = std::move(w);
    std::vector<std::string> ins{n.inputs[0], wname};
    if (n.kind == op_kind::gemm && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const constant& c = detail_pass::const_input(g, n, 2, "the bias (C)");
        constant bias;
        bias.shape = {o};
        bias.f.resize(static_cast<std::size_t>(o));
        for (int64_t r = 0; r < o; ++r) bias.f[static_cast<std::size_t>(r)] = beta * static_cast<float>(c.at(c.elements() == 1 ? 0 : static_cast<std::size_t>(r)));
        g.constants[n.name + "::bias"] = std::move(bias);
        ins.push_back(n.name + "::bias");
    }
    n.inputs = ins;
    n.kind = op_kind::gemm;
    n.attrs.clear();
    n.set_ints("transB", {1});
    n.set_float("alpha", 1.f);
    n.set_float("beta", 1.f);
    n.set_string("canonical", "1");
}

/// Copies a conv/gemm's weight and bias under fresh names so a fold can change them.
inline std::pair<constant*, constant*> own_weights(import_graph& g, node& n, int64_t out_channels) {
    const std::string wname = n.name + "::weight", bname = n.name + "::bias";
    if (n.inputs[1] != wname) {
        g.constants[wname] = detail_pass::const_input(g, n, 1, "the weight");
        n.inputs[1] = wname;
    }
    if (n.inputs.size() < 3 || n.inputs[2].empty()) {
        constant b;
        b.shape = {out_channels};
        b.f.assign(static_cast<std::size_t>(out_channels), 0.f);
        g.constants[bname] = std::move(b);
        n.inputs.resize(3);
        n.inputs[2] = bname;
    } else if (n.inputs[2] != bname) {
        constant b = detail_pass::const_input(g, n, 2, "the bias");
        if (!b.floating) {
            b.f.assign(b.i.begin(), b.i.end());
            b.floating = true;
            b.i.clear();
        }
        g.constants[bname] = std::move(b);
        n.inputs[2] = bname;
    }
    return {&g.constants.at(wname), &g.constants.at(bname)};
}

namespace detail_pass {

/// Scaling output channel o of integer-grid weights by a[o] keeps their integers: the channel's
/// scale becomes scale * a (a negative a flips the integers' sign, which fits s8 unless one is
/// -128; put_weights requantizes such a channel). Only grids along the output channels qualify.
inline bool rescale_grid(constant& w, const std::vector<double>& a) {
    if (!w.quant || w.i.size() != w.elements() || !(w.quant->per_tensor() || w.quant->axis == 0)) return false;
    const std::size_t per = w.elements() / a.size();
    quantization q = *w.quant;
    q.axis = 0;
    q.scale.assign(a.size(), 0.f);
    q.zero_point.assign(a.size(), 0);
    for (std::size_t o = 0; o < a.size(); ++o) {
        if (a[o] == 0 || !std::isfinite(a[o])) return false;
        const int32_t zp = w.quant->zp(o);
        q.scale[o] = static_cast<float>(double(w.quant->sc(o)) * std::fabs(a[o]));
        q.zero_point[o] = a[o] < 0 ? -zp : zp;
        for (std::size_t e = 0; e < per; ++e) {
            int64_t& v = w.i[o * per + e];
            if (a[o] < 0) v = -v;
            w.f[o * per + e] = q.scale[o] * static_cast<float>(v - q.zero_point[o]);
        }
    }
    w.quant = q;
    return true;
}

}  // namespace detail_pass

/// Multiplies output channel o of a conv/gemm by a[o] and sets bias to a[o] * bias + c[o].
inline void scale_channels(import_graph& g, node& p, const std::vector<double>& a, const std::vector<double>& c) {
    auto [w, b] = own_weights(g, p, static_cast<int64_t>(a.size()));
    // Weights on the file's grid: the file runs this float op after an integer-weight conv and
    // before any quantization, so its bias is never rounded to the accumulator's integers.
    if (w->quant) p.float_bias = true;
    const std::size_t per = w->elements() / a.size();
    for (std::size_t o = 0; o < a.size(); ++o) b->f[o] = static_cast<float>(double(b->f[o]) * a[o] + c[o]);
    if (detail_pass::rescale_grid(*w, a)) return;  // trained integers kept, scales folded
    for (std::size_t o = 0; o < a.size(); ++o)
        for (std::size_t e = 0; e < per; ++e) w->f[o * per + e] = static_cast<float>(double(w->f[o * per + e]) * a[o]);
    w->exact_int8 = false;  // new values: an s8 manifest requantizes them
    w->i.clear();
    w->quant.reset();
}

/// Pass 2a: x * c or x / c (c a scalar or per-channel constant) right after a Conv/Gemm whose
/// output nobody else reads scales its output channels. PyTorch's QAT Conv+BN exports as Conv ->
/// Div(BN scale) -> BatchNormalization; this makes the BatchNormalization foldable next.
inline void fold_channel_scale(import_graph& g, const note_fn& = {}) {
    std::set<std::size_t> dead;
    for (std::size_t k = 0; k < g.nodes.size(); ++k) {
        const node m = g.nodes[k];
        if (m.kind != op_kind::mul) continue;
        const int pi = g.producer_of(m.inputs[0]);
        node* p = pi >= 0 ? &g.nodes[static_cast<std::size_t>(pi)] : nullptr;
        if (!p || (p->kind != op_kind::conv && p->kind != op_kind::gemm) || !p->post_ops.empty() || g.use_count(m.inputs[0]) != 1)
            unsupported(g, m, "a multiplication by a constant is supported only right after a Conv or Gemm whose output it alone reads");
        const auto& shape = g.shapes.at(m.inputs[0]);
        const constant& c = g.constants.at(m.inputs[1]);
        const std::size_t ch = static_cast<std::size_t>(shape[1]);
        std::vector<double> a(ch), zero(ch, 0.0);
        for (std::size_t o = 0; o < ch; ++o) {
            const double v = c.at(c.elements() == 1 ? 0 : o);
            if (m.i("divide", 0) && v == 0) invalid(g, m, "division by zero in channel " + std::to_string(o));
            a[o] = m.i("divide", 0) ? 1.0 / v : v;
        }
        scale_channels(g, *p, a, zero);
        p->outputs[0] = m.outputs[0];
        p->fused.push_back(m.name);
        dead.insert(k);
    }
    erase_nodes(g, dead);
}

namespace detail_pass {

/// A standalone BatchNormalization of an [N, C, H, W] tensor as what it computes, x * a + c per
/// channel: a 1x1 depthwise Conv. Its weights sit on a grid of their own (one code, +-127, per
/// channel) and its bias stays unrounded (float_bias), so on an INT8 path it reads the file's
/// rounded input and rounds once, to the output's quantization, as the file does.
inline void batch_norm_as_depthwise(import_graph& g, node& bn, const std::vector<double>& a, const std::vector<double>& c) {
    const std::size_t ch = a.size();
    constant w, b;
    w.shape = {static_cast<int64_t>(ch), 1, 1, 1};
    w.f.resize(ch);
    w.i.resize(ch);
    quantization q;
    q.type = dtype::s8;
    q.axis = 0;
    q.scale.resize(ch);
    for (std::size_t o = 0; o < ch; ++o) {
        q.scale[o] = a[o] == 0 ? 1.f : static_cast<float>(std::fabs(a[o]) / 127.0);
        w.i[o] = a[o] == 0 ? 0 : a[o] < 0 ? -127 : 127;
        w.f[o] = q.scale[o] * static_cast<float>(w.i[o]);
    }
    w.quant = q;
    w.exact_int8 = true;
    b.shape = {static_cast<int64_t>(ch)};
    b.f.assign(c.begin(), c.end());
    const std::string wname = bn.name + "::weight", bname = bn.name + "::bias";
    g.constants[wname] = std::move(w);
    g.constants[bname] = std::move(b);
    bn.kind = op_kind::conv;
    bn.inputs = {bn.inputs[0], wname, bname};
    bn.attrs.clear();
    bn.set_ints("group", {static_cast<int64_t>(ch)});
    bn.set_ints("kernel_shape", {1, 1});
    bn.set_ints("strides", {1, 1});
    bn.set_ints("pads", {0, 0, 0, 0});
    bn.float_bias = true;
}

}  // namespace detail_pass

/// Pass 2: w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
/// A BatchNormalization that cannot be folded (no Conv/Gemm right before it, or the file rounds
/// the conv's output to its own quantization first) becomes a 1x1 depthwise Conv.
inline void fold_batch_norm(import_graph& g, const note_fn& note = {}) {
    for (auto& n : g.nodes) canonicalize_fc(g, n);
    fold_channel_scale(g, note);
    std::set<std::size_t> dead;
    for (std::size_t k = 0; k < g.nodes.size(); ++k) {
        const node bn = g.nodes[k];
        if (bn.kind != op_kind::batch_norm) continue;
        const std::string x = bn.inputs[0];
        const int pi = g.producer_of(x);
        node* p = pi >= 0 ? &g.nodes[static_cast<std::size_t>(pi)] : nullptr;
        const auto& shape = g.shapes.at(x);
        const std::size_t ch = static_cast<std::size_t>(shape.at(1));
        const constant &gamma = g.constants.at(bn.inputs[1]), &beta = g.constants.at(bn.inputs[2]),
                       &mean = g.constants.at(bn.inputs[3]), &var = g.constants.at(bn.inputs[4]);
        const double eps = bn.f("epsilon", 1e-5f);
        std::vector<double> a(ch), c(ch);
        for (std::size_t o = 0; o < ch; ++o) {
            if (!(var.at(o) + eps > 0)) invalid(g, bn, "variance + epsilon of channel " + std::to_string(o) + " is not positive");
            a[o] = gamma.at(o) / std::sqrt(var.at(o) + eps);
            c[o] = beta.at(o) - mean.at(o) * a[o];
        }
        const bool foldable = p && (p->kind == op_kind::conv || p->kind == op_kind::gemm) && g.use_count(x) == 1 && p->post_ops.empty() &&
                              !g.act_quant.count(x);
        if (!foldable) {
            if (shape.size() != 4)
                unsupported(g, bn, "cannot be folded into " + (p ? describe(*p) : std::string("the graph input")) +
                                       ", and a standalone BatchNormalization is supported on [N, C, H, W] tensors only, found " + detail::shape_str(shape));
            detail_pass::batch_norm_as_depthwise(g, g.nodes[k], a, c);
            continue;
        }
        if (p->kind == op_kind::gemm && shape.size() != 2)
            unsupported(g, bn, "after a Gemm only a per-feature BatchNormalization of an [N, K] tensor can be folded, found " + detail::shape_str(shape));
        scale_channels(g, *p, a, c);
        p->outputs[0] = bn.outputs[0];
        p->fused.push_back(bn.name);
        dead.insert(k);
    }
    erase_nodes(g, dead);
}

// ---------------------------------------------------------------------------------------------
// 3. Activations and residual adds

/// The post-op a Relu or Clip node stands for, or nullopt if qint8 cannot express it.
inline std::optional<post_op> activation_post_op(const node& n) {
    if (n.kind == op_kind::relu) return post_op::make_relu();
    const bool has_lo = n.has("min"), has_hi = n.has("max");
    const float lo = n.f("min", -std::numeric_limits<float>::infinity()), hi = n.f("max", std::numeric_limits<float>::infinity());
    if (has_lo && lo == 0.f && (!has_hi || std::isinf(hi))) return post_op::make_relu();
    if (has_lo && has_hi && std::isfinite(lo) && std::isfinite(hi) && lo < hi) return post_op::make_clip(lo, hi);
    return std::nullopt;
}

inline bool is_weighted(const node& n) { return n.kind == op_kind::conv || n.kind == op_kind::gemm; }

/// Longest chain of nodes from the input to each tensor: on a residual Add, the deeper input
/// is the block's branch (conv3 in a ResNet bottleneck), the shallower the shortcut.
inline std::map<std::string, int> depths(const import_graph& g) {
    std::map<std::string, int> d{{g.input, 0}};
    for (const auto& n : g.nodes) {
        int m = 0;
        for (const auto& i : n.inputs)
            if (d.count(i)) m = std::max(m, d[i]);
        for (const auto& p : n.post_ops)
            if (p.kind == post_op::sum && d.count(p.input)) m = std::max(m, d[p.input]);
        for (const auto& o : n.outputs) d[o] = m + 1;
    }
    return d;
}

/// The rounding a residual branch's own Q/DQ applies before the Add, in words.
inline std::string residual_rounding(const import_graph& g, const std::string& t) {
    const quantization& q = g.act_quant.at(t);
    return "the rounding of '" + t + "' to " + (q.type == dtype::u8 ? "u8" : "s8") + " scale " + std::to_string(q.scale.at(0)) + " zero point " +
           std::to_string(q.zp(0)) + " before the residual add is not applied (fused as a sum post-op: fuse_residual_rounding)";
}

/// Pass 3. A residual Add fused into the conv/gemm of one input keeps the rounding the file
/// applies to that input before the Add (its Q/DQ: the sum post-op's `rounded`), unless
/// `fuse_rounding` trades it for speed, which is recorded in g.departures.
inline void fuse(import_graph& g, const note_fn& note = {}, bool fuse_rounding = false) {
    using detail_pass::say;
    std::set<std::size_t> dead;
    auto absorb = [&](node& into, std::size_t k) {
        node& n = g.nodes[k];
        into.outputs[0] = n.outputs[0];
        into.fused.push_back(n.name);
        n.outputs.clear();
        n.inputs.clear();
        dead.insert(k);
    };
    for (std::size_t k = 0; k < g.nodes.size(); ++k) {
        node& n = g.nodes[k];
        if (n.kind == op_kind::relu || n.kind == op_kind::clip) {
            const auto po = activation_post_op(n);
            if (!po) unsupported(g, n, "only Clip(0, max) / Clip(min, max) with finite bounds or a min of 0 are supported");
            const int pi = g.producer_of(n.inputs[0]);
            if (pi < 0) continue;  // reported when lowering
            node& p = g.nodes[static_cast<std::size_t>(pi)];
            if ((is_weighted(p) || p.kind == op_kind::add) && g.use_count(n.inputs[0]) == 1) {
                // A quantized tensor stays on its grid through ReLU: the fused output keeps the
                // input's quantization when the graph gives it none of its own (eager PyTorch
                // QAT quantizes the residual sum before its ReLU).
                auto q_in = g.act_quant.find(n.inputs[0]);
                if (n.kind == op_kind::relu && q_in != g.act_quant.end() && !g.act_quant.count(n.outputs[0])) g.act_quant[n.outputs[0]] = q_in->second;
                p.post_ops.push_back(*po);
                absorb(p, k);
            }
            continue;
        }
        if (n.kind != op_kind::add) continue;
        const bool c0 = g.is_const(n.inputs[0]), c1 = g.is_const(n.inputs[1]);
        if (c0 || c1) {
            // x + constant: the bias of a bias-less conv/gemm before it.
            const std::string x = n.inputs[c0 ? 1 : 0];
            const constant& c = g.constants.at(n.inputs[c0 ? 0 : 1]);
            const int pi = g.producer_of(x);
            node* p = pi >= 0 ? &g.nodes[static_cast<std::size_t>(pi)] : nullptr;
            const auto shape_it = g.shapes.find(x);  // no shape: both inputs constant but not folded (found by fuzz_onnx)
            if (shape_it == g.shapes.end()) unsupported(g, n, "adding two constants that could not be folded is not supported");
            const auto& xs = shape_it->second;
            const std::size_t ch = xs.size() >= 2 ? static_cast<std::size_t>(xs[1]) : 0;
            const bool per_channel = c.elements() == 1 || (c.elements() == ch && c.shape.size() <= xs.size() &&
                                                          std::count_if(c.shape.begin(), c.shape.end(), [](int64_t d) { return d != 1; }) <= 1);
            if (!p || !is_weighted(*p) || !p->post_ops.empty() || g.use_count(x) != 1 || !per_channel)
                unsupported(g, n, "adding a constant is supported only as the per-channel bias of the Conv/Gemm/MatMul right before it");
            std::vector<double> a(ch, 1.0), b(ch);
            for (std::size_t o = 0; o < ch; ++o) b[o] = c.at(c.elements() == 1 ? 0 : o);
            scale_channels(g, *p, a, b);
            absorb(*p, k);
            continue;
        }
        // A residual connection: fuse into a conv/gemm producing one input, summing the other.
        const auto depth = depths(g);
        int best = -1, best_depth = -1, best_idx = -1;
        for (int side = 0; side < 2; ++side) {
            const std::string& t = n.inputs[static_cast<std::size_t>(side)];
            if (t == n.inputs[static_cast<std::size_t>(1 - side)]) break;  // x + x: nothing to sum
            const int pi = g.producer_of(t);
            if (pi < 0) continue;
            const node& p = g.nodes[static_cast<std::size_t>(pi)];
            if (!is_weighted(p) || !p.post_ops.empty() || g.use_count(t) != 1) continue;
            if (g.act_quant.count(t) && !g.act_quant.at(t).per_tensor()) continue;  // no per-channel rounding in a post-op
            const int dd = depth.count(t) ? depth.at(t) : 0;
            if (dd > best_depth || (dd == best_depth && pi > best_idx)) {
                best = side;
                best_depth = dd;
                best_idx = pi;
            }
        }
        if (best < 0) {
            say(note, "note: " + describe(n) + " stays a standalone add (no input comes from a conv/gemm read only by it)");
            continue;
        }
        node& p = g.nodes[static_cast<std::size_t>(best_idx)];
        const std::string& branch = n.inputs[static_cast<std::size_t>(best)];
        std::optional<quant_params> rounded;
        if (g.act_quant.count(branch) && fuse_rounding) g.departures.emplace_back(p.name, residual_rounding(g, branch));
        else if (g.act_quant.count(branch)) rounded = detail_pass::to_params(g.act_quant.at(branch));
        p.post_ops.push_back(post_op::make_sum(n.inputs[static_cast<std::size_t>(1 - best)], rounded));
        absorb(p, k);
    }
    erase_nodes(g, dead);
    topo_sort(g);  // a fused conv now reads its residual, which may be computed after it
}

// ---------------------------------------------------------------------------------------------
// 4. Pad

/// Pass 4: a constant-zero Pad read only by convolutions (or avg pools counting padding)
/// becomes part of their padding.
inline void fold_pad(import_graph& g, const note_fn& = {}) {
    std::set<std::size_t> dead;
    for (std::size_t k = 0; k < g.nodes.size(); ++k) {
        const node pd = g.nodes[k];
        if (pd.kind != op_kind::pad) continue;
        if (pd.f("value", 0.f) != 0.f) unsupported(g, pd, "padding with " + std::to_string(pd.f("value", 0.f)) + ": only zero padding can be folded");
        const auto readers = g.consumers_of(pd.outputs[0]);
        bool ok = !readers.empty() && pd.outputs[0] != g.output;
        for (std::size_t r : readers) {
            const node& c = g.nodes[r];
            ok = ok && (c.kind == op_kind::conv || (c.kind == op_kind::avg_pool && c.i("count_include_pad", 0) && !c.i("ceil_mode", 0))) &&
                 c.inputs[0] == pd.outputs[0];
        }
        if (!ok) unsupported(g, pd, "a Pad can only be folded into the Conv (or AveragePool with count_include_pad) that reads it; here it feeds something else");
        const auto p = pd.ints("pads");
        const auto& padded = g.shapes.at(pd.outputs[0]);
        for (std::size_t r : readers) {
            node& c = g.nodes[r];
            const auto own = resolve_pads(g, c, padded[2], padded[3]);  // auto_pad is relative to the padded size
            c.set_ints("pads", {own[0] + p[0], own[1] + p[1], own[2] + p[2], own[3] + p[3]});
            c.set_string("auto_pad", "NOTSET");
            c.inputs[0] = pd.inputs[0];
            c.fused.push_back(pd.name);
        }
        dead.insert(k);
    }
    erase_nodes(g, dead);
    infer_shapes(g);
}

// ---------------------------------------------------------------------------------------------
// 5-7. Lowering

struct lower_options {
    bool weights_s8 = false;  ///< store s8 weights + per-channel scales (else f32: quantized at load)
};

/// A lowered model and what the later steps need to know about where it came from.
struct lowered {
    model_desc m;
    std::map<std::string, std::vector<std::string>> origin;  ///< layer -> source nodes folded into it
    std::set<std::string> quantized_by_graph;                ///< tensors whose quantization the graph gave (QDQ)
    std::set<std::string> non_negative;                      ///< tensors known to be >= 0
    std::vector<std::pair<std::string, std::string>> departures;  ///< (layer, what): where the weights are not the file's integers
};

namespace detail_pass {

/// "conv1" from PyTorch's "/conv1/Conv"; other names as they are.
inline std::string layer_name_for(const node& n) {
    std::string s = n.name;
    const std::string tail = "/" + n.source_op;
    if (s.size() > tail.size() + 1 && s[0] == '/' && s.compare(s.size() - tail.size(), tail.size(), tail) == 0) {
        s = s.substr(1, s.size() - 1 - tail.size());
        std::replace(s.begin(), s.end(), '/', '.');
    }
    return s.empty() ? n.outputs[0] : s;
}

/// The weights of a conv/fc layer as manifest tensors (pass 6). Returns how many channels that
/// carried the file's integer grid had to be requantized (their integers less the zero point do
/// not fit s8), a departure the caller reports.
inline std::size_t put_weights(model_desc& m, const std::string& layer_name, const constant& w, const constant* b,
                               const std::vector<int64_t>& shape, bool s8) {
    std::size_t requantized = 0;
    const std::size_t o = static_cast<std::size_t>(shape[0]), per = w.elements() / o;
    if (!s8) {
        std::vector<float> v(w.f);
        m.tensors[layer_name + ".weight"] = models::detail::owned_tensor(dtype::f32, shape, std::move(v));
    } else {
        std::vector<int8_t> q(w.elements());
        std::vector<float> sc(o);
        // Weights that carry their integer grid (a QDQ pair, or a quantized TFLite file): a
        // channel whose integers less their zero point fit s8 keeps them and its scale, so the
        // manifest holds exactly the trained values (a -128 is fine: the runtime requantizes such
        // a channel on its own). Other channels (and folded or float weights) are quantized per
        // channel, abs-max.
        const bool grid = w.quant && w.i.size() == w.elements() && (w.quant->per_tensor() || w.quant->axis == 0);
        for (std::size_t c = 0; c < o; ++c) {
            if (grid) {
                bool fits = w.quant->sc(c) > 0.f;
                for (std::size_t e = 0; e < per && fits; ++e) {
                    const int64_t d = w.i[c * per + e] - w.quant->zp(c);
                    fits = d >= -128 && d <= 127;
                }
                if (fits) {
                    sc[c] = w.quant->sc(c);
                    for (std::size_t e = 0; e < per; ++e) q[c * per + e] = static_cast<int8_t>(w.i[c * per + e] - w.quant->zp(c));
                    continue;
                }
                ++requantized;
            }
            float amax = 0.f;
            for (std::size_t e = 0; e < per; ++e) amax = std::max(amax, std::fabs(w.f[c * per + e]));
            sc[c] = amax > 0.f ? amax / 127.f : 1.f;
            for (std::size_t e = 0; e < per; ++e)
                q[c * per + e] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, std::nearbyint(w.f[c * per + e] / sc[c]))));
        }
        m.tensors[layer_name + ".weight"] = models::detail::owned_tensor(dtype::s8, shape, std::move(q));
        m.tensors[layer_name + ".weight.scales"] = models::detail::owned_tensor(dtype::f32, {shape[0]}, std::move(sc));
    }
    if (b) {
        std::vector<float> v(o);
        for (std::size_t c = 0; c < o; ++c) v[c] = static_cast<float>(b->at(c));
        m.tensors[layer_name + ".bias"] = models::detail::owned_tensor(dtype::f32, {shape[0]}, std::move(v));
    }
    return requantized;
}

/// What lowering keeps while it walks the nodes in order. One object rather than loose locals so
/// that each node kind lowers in a function of its own.
struct lower_state {
    lower_state(const import_graph& graph, lowered& out, const note_fn& n) : g(graph), r(out), m(out.m), note(n) {}
    const import_graph& g;
    lowered& r;
    model_desc& m;
    const note_fn& note;
    std::map<std::string, std::string> alias;       ///< source tensor -> qint8 tensor
    std::set<std::string> flat;                      ///< qint8 tensors the source has flattened to [N, K]
    std::set<std::string> names;                     ///< layer names taken (and the input's)
    std::map<std::string, std::string> act_source;  ///< qint8 tensor -> the source tensor its quantization came from
};

/// A node's first input as lowering sees it: the qint8 tensor it reads and its source shape
/// (both empty for a node without inputs).
struct node_input {
    std::string name;
    std::vector<int64_t> shape;
};

/// The qint8 tensor a node's input `idx` is, or an error: every source tensor a node reads must
/// be the graph input or the output of a node already lowered.
inline std::string lowered_input(const lower_state& st, const node& n, std::size_t idx) {
    const std::string& t = n.inputs.at(idx);
    auto it = st.alias.find(t);
    if (it == st.alias.end()) invalid(st.g, n, "reads '" + t + "', which is neither the input nor computed by a supported node");
    return it->second;
}

/// Sets the activation quantization of qint8 tensor `q` from the graph's quantization of source
/// tensor `src`, if it has one; the first one wins (a tensor quantized twice, e.g. through an
/// alias, keeps the first parameters and the user is told).
inline void take_quant(lower_state& st, const std::string& q, const std::string& src) {
    auto it = st.g.act_quant.find(src);
    if (it == st.g.act_quant.end()) return;
    const quant_params p = to_params(it->second);
    std::optional<quant_params>* slot = nullptr;
    if (q == st.m.input.name) slot = &st.m.input.act;
    else
        for (auto& l : st.m.layers)
            if (l.name == q) slot = &l.act;
    if (!slot) return;
    if (!*slot) {
        *slot = p;
        st.act_source[q] = src;
        st.r.quantized_by_graph.insert(q);
    } else if (**slot != p) {
        say(st.note, "note: '" + src + "' (held as '" + q + "') is quantized again with other parameters; keeping those of '" + st.act_source[q] + "'");
    }
}

/// The model's input, as the first qint8 tensor every later node may read.
inline void lower_graph_input(lower_state& st) {
    const import_graph& g = st.g;
    st.m.architecture = "custom";
    st.m.input.name = g.input;
    st.m.input.shape = {g.input_shape[1], g.input_shape[2], g.input_shape[3]};
    st.alias[g.input] = g.input;
    st.names.insert(g.input);
    take_quant(st, g.input, g.input);
}

/// A layer name no earlier layer (nor the input) has: the node's, with _2, _3, ... appended on
/// a clash.
inline std::string unique_layer_name(const lower_state& st, const node& n) {
    std::string name = layer_name_for(n);
    for (int dup = 2; st.names.count(name); ++dup) name = layer_name_for(n) + "_" + std::to_string(dup);
    return name;
}

/// Convolutions and pools run on NCHW images; a flattened or non-4-D input cannot be one.
inline void require_chw(const lower_state& st, const node& n, const node_input& in) {
    if (st.flat.count(in.name) || in.shape.size() != 4)
        unsupported(st.g, n, "reads '" + n.inputs[0] + "' of shape " + detail::shape_str(in.shape) + ", expected a 4-D NCHW tensor");
}

/// A node that only renames its input (identity, a no-op or flattening reshape) makes no layer:
/// its output is the input's qint8 tensor, flattened or not.
inline void alias_output(lower_state& st, const node& n, const std::string& in0, bool is_flat) {
    st.alias[n.outputs[0]] = in0;
    if (is_flat) st.flat.insert(in0);
    take_quant(st, in0, n.outputs[0]);
}

/// Flatten / Reshape / Squeeze: an alias of the input when the shape is unchanged or flattened to
/// [N, K]; qint8 has no other reshapes.
inline void lower_reshape(lower_state& st, const node& n, const node_input& in) {
    const auto& out = st.g.shapes.at(n.outputs[0]);
    if (out == in.shape) return alias_output(st, n, in.name, st.flat.count(in.name) != 0);
    if (out.size() != 2)
        unsupported(st.g, n, "reshapes " + detail::shape_str(in.shape) + " to " + detail::shape_str(out) +
                                 ": only flattening to [N, K] (read by Gemm/MatMul/Softmax) is supported");
    alias_output(st, n, in.name, true);
}

/// A Relu or Clip that pass 3 could not fuse: qint8 has no stand-alone activation layer, so the
/// error says why the fusion failed.
[[noreturn]] inline void reject_unfused_activation(const import_graph& g, const node& n) {
    const int pi = g.producer_of(n.inputs[0]);
    unsupported(g, n, std::string("cannot be fused: qint8 applies activations as post-ops of Conv, Gemm and Add only, and its input comes from ") +
                          (pi >= 0 ? describe(g.nodes[static_cast<std::size_t>(pi)]) : "the graph input") +
                          (pi >= 0 && g.use_count(n.inputs[0]) > 1 ? " and has other readers" : ""));
}

/// The optional bias input (2) of a Conv or Gemm.
inline const constant* bias_input(const import_graph& g, const node& n) {
    return n.inputs.size() > 2 && !n.inputs[2].empty() ? &const_input(g, n, 2, "the bias") : nullptr;
}

/// Records a layer whose weights put_weights could not keep as the file's integers.
inline void report_requantized(lower_state& st, const std::string& layer_name, std::size_t requantized, std::size_t channels) {
    if (requantized == 0) return;
    st.r.departures.emplace_back(layer_name, std::to_string(requantized) + " of " + std::to_string(channels) +
                                                 " output channels requantized to s8 per channel (abs-max / 127): the file's weight integers "
                                                 "less their zero point do not fit [-128, 127]");
}

/// Conv: conv2d, or depthwise_conv2d when every channel is its own group; weights written.
inline void lower_conv(lower_state& st, const node& n, const node_input& in, layer& l, bool weights_s8) {
    require_chw(st, n, in);
    const constant& w = weight_input(st.g, n, 1, "the weight");
    const constant* b = bias_input(st.g, n);
    const int64_t groups = n.i("group", 1), c = in.shape[1], o = w.shape[0];
    l.kind = groups == 1 ? op::conv2d : (groups == c && o == c ? op::depthwise_conv2d : op::conv2d);
    l.groups = l.kind == op::depthwise_conv2d ? c : groups;
    l.out_channels = o;
    const auto k = n.ints("kernel_shape"), s = n.ints("strides", {1, 1});
    l.kernel = {k[0], k[1]};
    l.stride = {s[0], s[1]};
    l.pad = resolve_pads(st.g, n, in.shape[2], in.shape[3]);
    l.float_bias = n.float_bias && b;
    report_requantized(st, l.name, put_weights(st.m, l.name, w, b, w.shape, weights_s8), static_cast<std::size_t>(o));
}

/// Gemm (canonical after pass 2: weight [O, K], transB): an fc layer; weights written.
inline void lower_gemm(lower_state& st, const node& n, layer& l, bool weights_s8) {
    const constant& w = weight_input(st.g, n, 1, "the weight");
    const constant* b = bias_input(st.g, n);
    l.kind = op::fc;
    l.out_channels = w.shape[0];
    l.float_bias = n.float_bias && b;
    report_requantized(st, l.name, put_weights(st.m, l.name, w, b, w.shape, weights_s8), static_cast<std::size_t>(l.out_channels));
}

/// ceil_mode: extra padding at the end that makes the floor formula give the source's output
/// size; only where every window still starts inside the input.
inline void pad_for_ceil_mode(const import_graph& g, const node& n, const node_input& in, layer& l) {
    const auto& out = g.shapes.at(n.outputs[0]);
    for (int a = 0; a < 2; ++a) {
        const auto ua = static_cast<std::size_t>(a);
        const int64_t size = in.shape[2 + ua], want = out[2 + ua];
        const int64_t extra = (want - 1) * l.stride[ua] + l.kernel[ua] - (size + l.pad[ua] + l.pad[2 + ua]);
        if (extra <= 0) continue;
        if ((want - 1) * l.stride[ua] - l.pad[ua] >= size)
            unsupported(g, n, "ceil_mode: the last window starts past the input; qint8 cannot reproduce that output size");
        if (l.kind == op::avg_pool2d && l.count_include_pad)
            unsupported(g, n, "ceil_mode with count_include_pad: the extra windows' divisor differs from qint8's");
        l.pad[2 + ua] += extra;
    }
}

/// MaxPool / AveragePool; a pool of a non-negative tensor is non-negative.
inline void lower_pool(lower_state& st, const node& n, const node_input& in, layer& l) {
    require_chw(st, n, in);
    const auto k = n.ints("kernel_shape"), s = n.ints("strides", {1, 1});
    l.kind = n.kind == op_kind::max_pool ? op::max_pool2d : op::avg_pool2d;
    l.kernel = {k[0], k[1]};
    l.stride = {s[0], s[1]};
    l.pad = resolve_pads(st.g, n, in.shape[2], in.shape[3]);
    l.count_include_pad = n.i("count_include_pad", 0) != 0;
    pad_for_ceil_mode(st.g, n, in, l);
    if (st.r.non_negative.count(in.name)) st.r.non_negative.insert(l.name);
}

/// GlobalAveragePool, or ReduceMean over H and W (flattened unless keepdims).
inline void lower_global_pool(lower_state& st, const node& n, const node_input& in, layer& l) {
    require_chw(st, n, in);
    l.kind = op::global_avg_pool2d;
    if (st.r.non_negative.count(in.name)) st.r.non_negative.insert(l.name);
    if (n.kind == op_kind::reduce_mean && !n.i("keepdims", 1)) st.flat.insert(l.name);
}

/// Softmax: qint8's covers the whole per-image tensor, so the source's axes must span every
/// dimension that is not 1. Always FP32.
inline void lower_softmax(const import_graph& g, const node& n, const node_input& in, layer& l) {
    const auto axes = n.ints("axes");
    for (std::size_t d = 1; d < in.shape.size(); ++d)
        if (in.shape[d] != 1 && std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) == axes.end())
            unsupported(g, n, "normalises over axes " + detail::shape_str(axes) + " of " + detail::shape_str(in.shape) +
                                  "; qint8's softmax covers the whole per-image tensor");
    l.kind = op::softmax;
    l.prec = precision::fp32;
}

/// Add of two computed tensors of the same layout (a constant Add was made a bias in pass 3).
inline void lower_add(lower_state& st, const node& n, const node_input& in, layer& l) {
    l.kind = op::add;
    const std::string in1 = lowered_input(st, n, 1);
    if (st.flat.count(in.name) != st.flat.count(in1)) unsupported(st.g, n, "adds a flattened tensor to an unflattened one");
    l.inputs = {in.name, in1};
    if (st.flat.count(in.name)) st.flat.insert(l.name);
}

/// Fills `l` from node `n` by kind. Returns false when the node makes no layer (its output is an
/// alias of its input); node kinds the passes should have removed are an internal error.
inline bool lower_by_kind(lower_state& st, const node& n, const node_input& in, layer& l, bool weights_s8) {
    switch (n.kind) {
        case op_kind::identity:
            alias_output(st, n, in.name, st.flat.count(in.name) != 0);
            return false;
        case op_kind::flatten:
        case op_kind::reshape:
        case op_kind::squeeze:
            lower_reshape(st, n, in);
            return false;
        case op_kind::relu:
        case op_kind::clip:
            reject_unfused_activation(st.g, n);
        case op_kind::batch_norm:
        case op_kind::mul:
        case op_kind::pad:
        case op_kind::quantize:
        case op_kind::dequantize:
        case op_kind::matmul:
            invalid(st.g, n, "left over after the passes (internal error)");
        case op_kind::conv:
            lower_conv(st, n, in, l, weights_s8);
            break;
        case op_kind::gemm:
            lower_gemm(st, n, l, weights_s8);
            break;
        case op_kind::max_pool:
        case op_kind::avg_pool:
            lower_pool(st, n, in, l);
            break;
        case op_kind::global_avg_pool:
        case op_kind::reduce_mean:
            lower_global_pool(st, n, in, l);
            break;
        case op_kind::softmax:
            lower_softmax(st.g, n, in, l);
            break;
        case op_kind::add:
            lower_add(st, n, in, l);
            break;
    }
    return true;
}

/// The node's fused post-ops, a residual sum reading the qint8 tensor of its source input; a
/// layer ending in ReLU (or a clip at or above 0) is non-negative.
inline void attach_post_ops(lower_state& st, const node& n, layer& l) {
    for (post_op p : n.post_ops) {
        if (p.kind == post_op::sum) {
            auto it = st.alias.find(p.input);
            if (it == st.alias.end()) invalid(st.g, n, "fused residual '" + p.input + "' is not available");
            p.input = it->second;
        }
        l.post_ops.push_back(p);
    }
    if (!l.post_ops.empty()) {
        const post_op& last = l.post_ops.back();
        if (last.kind == post_op::relu || (last.kind == post_op::clip && last.lo >= 0.f)) st.r.non_negative.insert(l.name);
    }
}

/// Appends the finished layer: its output becomes the node's, its origin the node and what was
/// folded into it, and its quantization the graph's for the node's output (a softmax's rounds
/// its f32 probabilities).
inline void append_layer(lower_state& st, const node& n, layer&& l) {
    if (l.kind == op::fc) st.flat.insert(l.name);
    st.names.insert(l.name);
    st.alias[n.outputs[0]] = l.name;
    st.r.origin[l.name] = {n.name};
    for (const auto& f : n.fused) st.r.origin[l.name].push_back(f);
    st.m.layers.push_back(std::move(l));
    take_quant(st, st.m.layers.back().name, n.outputs[0]);
}

/// Pass 5 for one node: a qint8 layer (pass 6 writes its weights), or an alias of its input.
inline void lower_node(lower_state& st, const node& n, bool weights_s8) {
    layer l;
    l.prec = precision::fp32;  // the driver picks each layer's precision once quantization is known
    l.name = unique_layer_name(st, n);
    node_input in;
    if (!n.inputs.empty()) {
        in.name = lowered_input(st, n, 0);
        in.shape = st.g.shapes.at(n.inputs[0]);
    }
    if (!lower_by_kind(st, n, in, l, weights_s8)) return;
    if (l.inputs.empty()) l.inputs = {in.name};
    attach_post_ops(st, n, l);
    append_layer(st, n, std::move(l));
}

/// The model output: the last layer unless the graph's output is an earlier one.
inline void set_output(lower_state& st) {
    const import_graph& g = st.g;
    if (st.m.layers.empty()) detail::fail(errc::unsupported, g.origin + ": nothing to convert: the graph has no conv, pool, gemm or add");
    const std::string out = st.alias.at(g.output);
    if (out == st.m.input.name) detail::fail(errc::unsupported, g.origin + ": the graph output is its input");
    if (out != st.m.layers.back().name) st.m.output = out;
}

/// Pass 7: u8 for non-negative tensors (an s8 grid with zero point z is the u8 grid with
/// z + 128, exactly, so nothing changes but the type the int8 kernels see).
inline void unsigned_where_non_negative(lowered& r) {
    auto to_u8 = [&](std::optional<quant_params>& q, const std::string& t) {
        if (q && q->type == dtype::s8 && r.non_negative.count(t)) {
            q->type = dtype::u8;
            q->zero_point += 128;
        }
    };
    to_u8(r.m.input.act, r.m.input.name);
    for (auto& l : r.m.layers) to_u8(l.act, l.name);
}

}  // namespace detail_pass

/// Passes 5-7: maps the fused graph to qint8 layers with weights and activation quantization.
inline lowered lower(const import_graph& g, const lower_options& opt = {}, const note_fn& note = {}) {
    using namespace detail_pass;
    lowered r;
    lower_state st(g, r, note);
    lower_graph_input(st);
    for (const node& n : g.nodes) lower_node(st, n, opt.weights_s8);
    set_output(st);
    unsigned_where_non_negative(r);
    validate(r.m, g.origin);
    return r;
}

/// Passes 1-4 in order; returns whether the model carried quantization (QDQ pairs, or quantized
/// tensors its front end recorded).
inline bool run_graph_passes(import_graph& g, const note_fn& note = {}, bool fuse_residual_rounding = false) {
    const bool qdq = gather_qdq(g, note) || g.quantized;
    fold_batch_norm(g, note);
    fuse(g, note, fuse_residual_rounding);
    fold_pad(g, note);
    remove_dead_nodes(g);
    infer_shapes(g);
    return qdq;
}

}  // namespace qint8::convert
