#pragma once
// The converter's neutral graph: what a front end (ONNX today, TFLite later) produces and what
// the passes (passes.hpp) turn into a qint8::model_desc. It sits between the two halves so that a
// new front end only has to fill this structure with the conventions below; nothing after it
// knows which file format a model came from.
//
// Conventions every front end follows:
//  * Activations are NCHW with the batch first. Shapes here always have batch 1 (a dynamic or
//    static batch in the source is recorded in `input_batch` only): qint8 models are per image.
//  * Constants (initializers, Constant nodes, folded attributes) live in `constants`, by tensor
//    name; nodes refer to them by name like to any other tensor. Convolution weights are OIHW
//    ([O, C/group, kh, kw]); a front end with another layout transposes.
//  * Spatial attributes are resolved to qint8's conventions: `pads` is [top, left, bottom,
//    right]; `auto_pad` (NOTSET, SAME_UPPER, SAME_LOWER, VALID) is kept and resolved by
//    infer_shapes() and the passes, which know the input sizes.
//  * Clip bounds, Pad amounts, Reshape targets, Squeeze/ReduceMean axes given as constant inputs
//    in the source are moved into attributes, so such nodes have one input here.
//  * Softmax carries "axis" and "coerce_2d" (1: normalise over every dimension from axis on, as
//    ONNX before opset 13; 0: over that one axis); infer_shapes() turns them into "axes".
//  * Negative axes are allowed; infer_shapes() makes them non-negative once ranks are known.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <qint8/core/error.hpp>
#include <qint8/core/types.hpp>
#include <qint8/core/window.hpp>
#include <qint8/graph.hpp>

namespace qint8::convert {

/// What a node computes. Everything a front end accepts maps to one of these.
enum class op_kind {
    conv,             ///< x, W [O, C/group, kh, kw], optional B [O]; kernel_shape, strides, pads, dilations, group, auto_pad
    batch_norm,       ///< x, scale, bias, mean, var (constants); epsilon
    relu,             ///< x
    clip,             ///< x; "min"/"max" floats when bounded on that side
    add,              ///< a, b (equal shapes, or a constant broadcast to the other)
    mul,              ///< x, constant c (scalar or per channel); divide (1: x / c)
    max_pool,         ///< x; kernel_shape, strides, pads, dilations, auto_pad, ceil_mode
    avg_pool,         ///< as max_pool plus count_include_pad
    global_avg_pool,  ///< x
    reduce_mean,      ///< x; axes (non-negative), keepdims
    flatten,          ///< x; axis
    reshape,          ///< x; shape (target, with the source's 0 / -1 rules)
    squeeze,          ///< x; axes (non-negative; empty = all unit dims)
    identity,         ///< x (also Dropout in inference)
    gemm,             ///< A, B, optional C; alpha, beta, transA, transB
    matmul,           ///< A, B
    softmax,          ///< x; axis, coerce_2d (then axes, by infer_shapes)
    pad,              ///< x; pads [top, left, bottom, right], mode, value
    quantize,         ///< x, scale, zero_point (constants); axis
    dequantize,       ///< x, scale, zero_point (constants); axis
};

inline const char* to_string(op_kind k) noexcept {
    switch (k) {
        case op_kind::conv: return "conv";
        case op_kind::batch_norm: return "batch_norm";
        case op_kind::relu: return "relu";
        case op_kind::clip: return "clip";
        case op_kind::add: return "add";
        case op_kind::mul: return "mul";
        case op_kind::max_pool: return "max_pool";
        case op_kind::avg_pool: return "avg_pool";
        case op_kind::global_avg_pool: return "global_avg_pool";
        case op_kind::reduce_mean: return "reduce_mean";
        case op_kind::flatten: return "flatten";
        case op_kind::reshape: return "reshape";
        case op_kind::squeeze: return "squeeze";
        case op_kind::identity: return "identity";
        case op_kind::gemm: return "gemm";
        case op_kind::matmul: return "matmul";
        case op_kind::softmax: return "softmax";
        case op_kind::pad: return "pad";
        case op_kind::quantize: return "quantize";
        case op_kind::dequantize: return "dequantize";
    }
    return "?";
}

/// One attribute value: integers, floats or a string (whichever the attribute is).
struct attr_value {
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::string s;
};

/// Affine quantization: real = scale * (q - zero_point), per tensor (one scale) or per slice
/// along `axis`.
struct quantization {
    dtype type = dtype::u8;  ///< u8 or s8: the element type of the integer side
    std::vector<float> scale;
    std::vector<int32_t> zero_point;  ///< empty: all zero
    int axis = -1;                    ///< -1: per tensor
    bool per_tensor() const { return scale.size() == 1; }
    int32_t zp(std::size_t i) const { return zero_point.empty() ? 0 : zero_point[zero_point.size() == 1 ? 0 : i]; }
    float sc(std::size_t i) const { return scale[scale.size() == 1 ? 0 : i]; }
};

/// A constant tensor: real values in `f`, or integers in `i` (shapes, axes, and quantized data,
/// in which case `quant` says what they mean).
struct constant {
    std::string elem = "float32";     ///< element type in the source: float32, float64, int8, uint8, int32, int64
    std::vector<int64_t> shape;
    std::vector<float> f;             ///< when floating
    std::vector<int64_t> i;           ///< when integer
    bool floating = true;
    std::optional<quantization> quant;  ///< int8/uint8 data of a real tensor
    /// Set by the QDQ pass on weights it dequantized: `f` equals quant.scale * (i - zero point)
    /// exactly, so an s8 manifest can keep these integers instead of requantizing.
    bool exact_int8 = false;

    std::size_t elements() const {
        std::size_t n = 1;
        for (int64_t d : shape) n *= static_cast<std::size_t>(d);
        return n;
    }
    /// The values as doubles, whatever the storage.
    double at(std::size_t k) const { return floating ? double(f[k]) : double(i[k]); }
};

/// Index of the slice (along `axis`; -1: the whole tensor) of flat element `k` of a tensor of `shape`.
inline std::size_t slice_of(const std::vector<int64_t>& shape, int axis, std::size_t k) {
    if (axis < 0) return 0;
    std::size_t inner = 1;
    for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < shape.size(); ++d) inner *= static_cast<std::size_t>(shape[d]);
    return (k / inner) % static_cast<std::size_t>(shape[static_cast<std::size_t>(axis)]);
}

/// One operation.
struct node {
    std::string name;       ///< the source node's name (or its first output's when unnamed): for messages
    std::string source_op;  ///< the source's op type, e.g. "Conv": for messages
    op_kind kind = op_kind::identity;
    std::vector<std::string> inputs;   ///< "" for an absent optional input
    std::vector<std::string> outputs;  ///< exactly one for every op here
    std::map<std::string, attr_value> attrs;
    // Filled by the passes:
    std::vector<post_op> post_ops;     ///< relu / clip / sum fused into this conv, gemm or add
    std::vector<std::string> fused;    ///< names of source nodes folded into this one
    /// A conv/gemm on the file's weight grid whose output passes float ops (Mul/Div,
    /// BatchNormalization, a constant Add) before its quantization: the file adds the bias in
    /// float, unrounded, and so does qint8 (layer::float_bias).
    bool float_bias = false;

    bool has(const std::string& a) const { return attrs.count(a) != 0; }
    int64_t i(const std::string& a, int64_t dflt) const {
        auto it = attrs.find(a);
        return it == attrs.end() || it->second.ints.empty() ? dflt : it->second.ints[0];
    }
    float f(const std::string& a, float dflt) const {
        auto it = attrs.find(a);
        return it == attrs.end() || it->second.floats.empty() ? dflt : it->second.floats[0];
    }
    std::vector<int64_t> ints(const std::string& a, std::vector<int64_t> dflt = {}) const {
        auto it = attrs.find(a);
        return it == attrs.end() ? dflt : it->second.ints;
    }
    std::string s(const std::string& a, const std::string& dflt) const {
        auto it = attrs.find(a);
        return it == attrs.end() ? dflt : it->second.s;
    }
    void set_ints(const std::string& a, std::vector<int64_t> v) { attrs[a].ints = std::move(v); }
    void set_float(const std::string& a, float v) { attrs[a].floats = {v}; }
    void set_string(const std::string& a, std::string v) { attrs[a].s = std::move(v); }
};

/// A whole model in neutral form.
struct import_graph {
    std::string origin;    ///< the source file, for messages
    std::string format;    ///< "onnx", ...
    std::string producer;  ///< what wrote the source, e.g. "pytorch 1.13.0"
    std::string input;     ///< the one activation input
    std::vector<int64_t> input_shape;  ///< [1, C, H, W]
    int64_t input_batch = -1;          ///< the source's batch dimension: -1 dynamic
    std::string output;                ///< the one output tensor
    std::vector<node> nodes;           ///< in execution (topological) order
    std::map<std::string, constant> constants;
    std::map<std::string, std::vector<int64_t>> shapes;  ///< every activation tensor (batch 1), by infer_shapes()
    std::map<std::string, quantization> act_quant;       ///< per-tensor activation quantization, by the QDQ pass or the front end
    bool quantized = false;  ///< the source carries quantization of its own besides QDQ pairs (a quantized TFLite file)
    /// Where the conversion computes something other than the file (only under options that
    /// trade exactness for speed): the node the change lands in, and what changes.
    std::vector<std::pair<std::string, std::string>> departures;

    bool is_const(const std::string& t) const { return constants.count(t) != 0; }
    const constant* find_const(const std::string& t) const {
        auto it = constants.find(t);
        return it == constants.end() ? nullptr : &it->second;
    }
    /// Index of the node writing `t`, or -1 (input, constant, unknown).
    int producer_of(const std::string& t) const {
        for (std::size_t k = 0; k < nodes.size(); ++k)
            for (const auto& o : nodes[k].outputs)
                if (o == t) return static_cast<int>(k);
        return -1;
    }
    /// Indices of the nodes reading `t` (as an input or through a fused sum).
    std::vector<std::size_t> consumers_of(const std::string& t) const {
        std::vector<std::size_t> r;
        for (std::size_t k = 0; k < nodes.size(); ++k) {
            bool reads = std::find(nodes[k].inputs.begin(), nodes[k].inputs.end(), t) != nodes[k].inputs.end();
            for (const auto& p : nodes[k].post_ops) reads = reads || (p.kind == post_op::sum && p.input == t);
            if (reads) r.push_back(k);
        }
        return r;
    }
    /// Readers of `t`, counting the graph output as one.
    std::size_t use_count(const std::string& t) const { return consumers_of(t).size() + (t == output ? 1 : 0); }
    /// Replaces every read of `from` by `to` (inputs, sum post-ops, the graph output).
    void rename_uses(const std::string& from, const std::string& to) {
        for (auto& n : nodes) {
            for (auto& i : n.inputs)
                if (i == from) i = to;
            for (auto& p : n.post_ops)
                if (p.kind == post_op::sum && p.input == from) p.input = to;
        }
        if (output == from) output = to;
    }
};

/// "node 'Conv_12' (op Conv)": how messages name a node.
inline std::string describe(const node& n) { return "node '" + n.name + "' (op " + n.source_op + ")"; }

/// Throws qint8::error (errc::unsupported) naming the graph's file and the node.
[[noreturn]] inline void unsupported(const import_graph& g, const node& n, const std::string& what) {
    detail::fail(errc::unsupported, g.origin + ": " + describe(n) + ": " + what);
}
/// The error code of a model that is inconsistent (not merely beyond qint8): its source's kind.
inline errc damaged(const import_graph& g) { return g.format == "tflite" ? errc::tflite : errc::onnx; }

/// Throws qint8::error (errc::onnx or errc::tflite): the model is inconsistent, not merely beyond qint8.
[[noreturn]] inline void invalid(const import_graph& g, const node& n, const std::string& what) {
    detail::fail(damaged(g), g.origin + ": " + describe(n) + ": " + what);
}

/// Removes the nodes whose index is in `dead`, keeping the order of the rest.
inline void erase_nodes(import_graph& g, const std::set<std::size_t>& dead) {
    std::vector<node> keep;
    keep.reserve(g.nodes.size());
    for (std::size_t k = 0; k < g.nodes.size(); ++k)
        if (!dead.count(k)) keep.push_back(std::move(g.nodes[k]));
    g.nodes = std::move(keep);
}

/// Drops nodes whose outputs nobody reads (after fusions rewired their consumers away).
inline void remove_dead_nodes(import_graph& g) {
    for (bool changed = true; changed;) {
        changed = false;
        std::set<std::size_t> dead;
        for (std::size_t k = 0; k < g.nodes.size(); ++k) {
            bool used = false;
            for (const auto& o : g.nodes[k].outputs) used = used || g.use_count(o) > 0;
            if (!used) dead.insert(k);
        }
        if (!dead.empty()) {
            erase_nodes(g, dead);
            changed = true;
        }
    }
}

/// Stable topological sort: nodes keep their order unless a fusion made one read (through a
/// sum post-op) a tensor written later; such a node moves to just after its last dependency.
inline void topo_sort(import_graph& g) {
    std::set<std::string> ready{g.input};
    for (const auto& c : g.constants) ready.insert(c.first);
    std::vector<node> out;
    std::vector<bool> done(g.nodes.size(), false);
    auto deps_ready = [&](const node& n) {
        for (const auto& i : n.inputs)
            if (!i.empty() && !ready.count(i)) return false;
        for (const auto& p : n.post_ops)
            if (p.kind == post_op::sum && !ready.count(p.input)) return false;
        return true;
    };
    for (std::size_t emitted = 0; emitted < g.nodes.size();) {
        bool progress = false;
        for (std::size_t k = 0; k < g.nodes.size(); ++k) {
            if (done[k] || !deps_ready(g.nodes[k])) continue;
            done[k] = true;
            for (const auto& o : g.nodes[k].outputs) ready.insert(o);
            out.push_back(g.nodes[k]);
            ++emitted;
            progress = true;
            break;  // restart from the top: keeps the original order wherever possible
        }
        if (!progress) {
            for (std::size_t k = 0; k < g.nodes.size(); ++k)
                if (!done[k])
                    for (const auto& i : g.nodes[k].inputs)
                        if (!i.empty() && !ready.count(i))
                            invalid(g, g.nodes[k], "reads tensor '" + i + "', which no node, initializer or graph input provides (or the graph has a cycle)");
            detail::fail(damaged(g), g.origin + ": the graph has a cycle");
        }
    }
    g.nodes = std::move(out);
}

namespace detail_ig {

/// Bounds on what shape inference accepts, so that no size computed from a file can overflow:
/// window attributes (kernel, stride, dilation, pad), any one dimension, and whole tensors.
inline constexpr int64_t max_window = int64_t{1} << 16;
inline constexpr int64_t max_dim = int64_t{1} << 24;
inline constexpr int64_t max_elements = int64_t{1} << 31;
/// The graph input (C, H, W): 16384 x 16384 pixels at most, 2^28 values in all.
inline constexpr int64_t max_input_side = int64_t{1} << 14;
inline constexpr int64_t max_input_elements = int64_t{1} << 28;

/// True when every dimension is in 1..max_dim and the product is at most `limit`.
inline bool bounded(const std::vector<int64_t>& s, int64_t limit) {
    int64_t n = 1;
    for (int64_t d : s) {
        if (d < 1 || d > max_dim || n > limit / d) return false;
        n *= d;
    }
    return true;
}

inline int64_t elements(const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

inline std::string shape_str(const std::vector<int64_t>& s) { return detail::shape_str(s); }

}  // namespace detail_ig

/// Exact [top, left, bottom, right] padding of a conv or pool on an input of h x w, resolving
/// auto_pad as ONNX defines it (SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start).
inline std::array<int64_t, 4> resolve_pads(const import_graph& g, const node& n, int64_t h, int64_t w) {
    const auto k = n.ints("kernel_shape");
    const auto s = n.ints("strides", {1, 1});
    const auto d = n.ints("dilations", {1, 1});
    const std::string ap = n.s("auto_pad", "NOTSET");
    std::vector<int64_t> p = n.ints("pads", {0, 0, 0, 0});
    if (k.size() != 2 || s.size() != 2 || d.size() != 2 || p.size() != 4)
        unsupported(g, n, "expected 2-D kernel_shape, strides, dilations and 4 pads (a 2-D NCHW window)");
    // Checked before any arithmetic: a zero stride divides by zero, huge values overflow.
    auto in_range = [&](const std::vector<int64_t>& v, const char* what, int64_t lo) {
        for (int64_t x : v)
            if (x < lo || x > detail_ig::max_window)
                invalid(g, n, std::string(what) + " " + detail_ig::shape_str(v) + ": expected values in " + std::to_string(lo) + ".." +
                                  std::to_string(detail_ig::max_window));
    };
    in_range(k, "kernel_shape", 1);
    in_range(s, "strides", 1);
    in_range(d, "dilations", 1);
    in_range(p, "pads", 0);
    if (ap == "NOTSET" || ap.empty()) return {p[0], p[1], p[2], p[3]};
    if (ap == "VALID") return {0, 0, 0, 0};
    if (ap != "SAME_UPPER" && ap != "SAME_LOWER") unsupported(g, n, "auto_pad: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, found \"" + ap + "\"");
    std::array<int64_t, 4> r{};
    const int64_t in[2] = {h, w};
    for (int a = 0; a < 2; ++a) {
        const int64_t eff_k = (k[static_cast<std::size_t>(a)] - 1) * d[static_cast<std::size_t>(a)] + 1;
        const int64_t total = qint8::detail::same_padding_total(in[a], eff_k, s[static_cast<std::size_t>(a)]);
        const int64_t small = total / 2, big = total - small;
        r[static_cast<std::size_t>(a)] = ap == "SAME_UPPER" ? small : big;
        r[static_cast<std::size_t>(2 + a)] = ap == "SAME_UPPER" ? big : small;
    }
    return r;
}

/// Output size of a window op along one axis (ONNX's formula; ceil_mode rounds up).
inline int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil_mode) {
    return std::max<int64_t>(qint8::detail::window_output_size(in, (k - 1) * d + 1, s, pb, pe, ceil_mode), 0);
}

}  // namespace qint8::convert

// Shape inference (infer_shapes), one rule per op kind; every user of the graph calls it.
#include <qint8/convert/shape_rules.hpp>
