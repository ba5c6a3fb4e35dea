#pragma once
// Shape inference over the neutral graph (import_graph.hpp): one rule per op kind computes the
// node's output shape (batch 1) and checks its inputs as far as the passes rely on them.
// import_graph.hpp includes this file at its end, so every user of the graph has infer_shapes().

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <qint8/convert/import_graph.hpp>

namespace qint8::convert {

namespace detail_shape {

using detail_ig::elements;
using detail_ig::shape_str;

/// What a rule reads: the graph with the shapes computed so far.
struct shape_context {
    import_graph& g;

    std::vector<int64_t> shape_of(const node& n, std::size_t idx) const {
        if (idx >= n.inputs.size() || n.inputs[idx].empty()) invalid(g, n, "input " + std::to_string(idx) + " is missing");
        const std::string& t = n.inputs[idx];
        if (auto c = g.find_const(t)) return c->shape;
        auto it = g.shapes.find(t);
        if (it == g.shapes.end()) invalid(g, n, "reads tensor '" + t + "' before any node writes it");
        return it->second;
    }

    const constant& need_const(const node& n, std::size_t idx, const char* what) const {
        if (idx >= n.inputs.size() || n.inputs[idx].empty()) invalid(g, n, std::string(what) + " (input " + std::to_string(idx) + ") is missing");
        const constant* c = g.find_const(n.inputs[idx]);
        if (!c) unsupported(g, n, std::string(what) + " '" + n.inputs[idx] + "' must be a constant (an initializer or a Constant node), found a computed tensor");
        return *c;
    }

    /// Attribute `attr`'s axes made non-negative for a tensor of `rank`.
    std::vector<int64_t> normalized_axes(const node& n, const char* attr, std::size_t rank) const {
        std::vector<int64_t> axes = n.ints(attr);
        for (auto& a : axes) {
            if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank))
                invalid(g, n, std::string(attr) + ": axis " + std::to_string(a) + " is outside a rank-" + std::to_string(rank) + " tensor");
            if (a < 0) a += static_cast<int64_t>(rank);
        }
        return axes;
    }

    /// A 4-D NCHW input 0.
    std::vector<int64_t> image_input(const node& n) const {
        const auto x = shape_of(n, 0);
        if (x.size() != 4) unsupported(g, n, "expected a 4-D NCHW input, found " + shape_str(x));
        return x;
    }
};

/// A rule returns the node's output shape; it may complete the node's attributes (kernel_shape
/// from the weight, non-negative axes) now that the input shapes are known.
using shape_rule = std::vector<int64_t> (*)(shape_context&, node&);

inline std::vector<int64_t> conv_shape(shape_context& c, node& n) {
    const import_graph& g = c.g;
    const auto x = c.image_input(n);
    // Weights may still be computed here (QuantizeLinear -> DequantizeLinear of an
    // initializer); the QDQ pass makes them constants, lowering insists on that.
    const auto ws = c.shape_of(n, 1);
    if (ws.size() != 4) unsupported(g, n, "weight: expected 4-D OIHW, found " + shape_str(ws));
    const int64_t group = n.i("group", 1);
    if (group < 1 || x[1] != ws[1] * group || ws[0] % group)
        invalid(g, n, "weight " + shape_str(ws) + " with group " + std::to_string(group) + " does not fit an input of " +
                          std::to_string(x[1]) + " channels");
    if (!n.has("kernel_shape")) n.set_ints("kernel_shape", {ws[2], ws[3]});
    if (n.ints("kernel_shape") != std::vector<int64_t>{ws[2], ws[3]})
        invalid(g, n, "kernel_shape " + shape_str(n.ints("kernel_shape")) + " differs from the weight's " + shape_str(ws));
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const auto b = c.shape_of(n, 2);
        if (elements(b) != ws[0]) invalid(g, n, "bias: expected " + std::to_string(ws[0]) + " values, found shape " + shape_str(b));
    }
    const auto p = resolve_pads(g, n, x[2], x[3]);
    const auto k = n.ints("kernel_shape"), s = n.ints("strides", {1, 1}), d = n.ints("dilations", {1, 1});
    std::vector<int64_t> out = {1, ws[0], window_out(x[2], k[0], s[0], d[0], p[0], p[2], false), window_out(x[3], k[1], s[1], d[1], p[1], p[3], false)};
    if (out[2] < 1 || out[3] < 1) invalid(g, n, "the kernel is larger than the padded input " + shape_str(x));
    return out;
}

inline std::vector<int64_t> pool_shape(shape_context& c, node& n) {  // max_pool, avg_pool
    const auto x = c.image_input(n);
    const auto p = resolve_pads(c.g, n, x[2], x[3]);
    const auto k = n.ints("kernel_shape"), s = n.ints("strides", {1, 1}), d = n.ints("dilations", {1, 1});
    const bool ceil_mode = n.i("ceil_mode", 0) != 0;
    std::vector<int64_t> out = {1, x[1], window_out(x[2], k[0], s[0], d[0], p[0], p[2], ceil_mode), window_out(x[3], k[1], s[1], d[1], p[1], p[3], ceil_mode)};
    if (out[2] < 1 || out[3] < 1) invalid(c.g, n, "the window is larger than the padded input " + shape_str(x));
    return out;
}

inline std::vector<int64_t> global_avg_pool_shape(shape_context& c, node& n) {
    const auto x = c.image_input(n);
    return {1, x[1], 1, 1};
}

inline std::vector<int64_t> reduce_mean_shape(shape_context& c, node& n) {
    const auto x = c.shape_of(n, 0);
    auto axes = c.normalized_axes(n, "axes", x.size());
    std::sort(axes.begin(), axes.end());
    n.set_ints("axes", axes);
    if (x.size() != 4 || axes != std::vector<int64_t>{2, 3})
        unsupported(c.g, n, "only a mean over H and W of an NCHW tensor (axes [2,3]) is supported, found axes " + shape_str(axes) + " on " + shape_str(x));
    return n.i("keepdims", 1) ? std::vector<int64_t>{1, x[1], 1, 1} : std::vector<int64_t>{1, x[1]};
}

inline std::vector<int64_t> batch_norm_shape(shape_context& c, node& n) {
    const auto out = c.shape_of(n, 0);
    if (out.size() < 2) unsupported(c.g, n, "expected an input with a channel dimension, found " + shape_str(out));
    for (std::size_t k = 1; k <= 4; ++k) {
        const auto& t = c.need_const(n, k, "scale/bias/mean/var");
        if (t.elements() != static_cast<std::size_t>(out[1]))
            invalid(c.g, n, "input " + std::to_string(k) + " '" + n.inputs[k] + "': expected " + std::to_string(out[1]) + " values, found shape " + shape_str(t.shape));
    }
    return out;
}

/// Softmax's axis and coerce_2d become the list of axes it normalises over.
inline std::vector<int64_t> softmax_shape(shape_context& c, node& n) {
    const auto out = c.shape_of(n, 0);
    int64_t axis = n.i("axis", n.i("coerce_2d", 0) ? 1 : -1);
    if (axis < 0) axis += static_cast<int64_t>(out.size());
    if (axis < 0 || axis >= static_cast<int64_t>(out.size())) invalid(c.g, n, "axis " + std::to_string(n.i("axis", -1)) + " is outside " + shape_str(out));
    std::vector<int64_t> axes{axis};
    if (n.i("coerce_2d", 0))
        for (int64_t a = axis + 1; a < static_cast<int64_t>(out.size()); ++a) axes.push_back(a);
    n.set_ints("axes", axes);
    return out;
}

/// relu, clip, identity, quantize, dequantize: the shape of input 0.
inline std::vector<int64_t> same_shape(shape_context& c, node& n) { return c.shape_of(n, 0); }

inline std::vector<int64_t> mul_shape(shape_context& c, node& n) {
    const auto out = c.shape_of(n, 0);
    const constant& k = c.need_const(n, 1, n.i("divide", 0) ? "divisor" : "factor");
    // Per channel (numpy broadcasting along axis 1 only): [C,1,1] or [1,C,1,1] on NCHW, [C] on [N, C].
    bool per_channel = out.size() >= 2 && k.shape.size() <= out.size() && k.elements() == static_cast<std::size_t>(out[1]);
    for (std::size_t d = 0; d < k.shape.size() && per_channel; ++d)
        per_channel = k.shape[d] == 1 || d + out.size() - k.shape.size() == 1;
    if (k.elements() != 1 && !per_channel)
        unsupported(c.g, n, "the constant " + shape_str(k.shape) + " must be a scalar or one value per channel of " + shape_str(out));
    return out;
}

inline std::vector<int64_t> add_shape(shape_context& c, node& n) {
    const auto a = c.shape_of(n, 0), b = c.shape_of(n, 1);
    if (a == b) return a;
    if (c.g.is_const(n.inputs[1]) && elements(b) <= elements(a)) return a;  // bias-like broadcast, checked where used
    if (c.g.is_const(n.inputs[0]) && elements(a) <= elements(b)) return b;
    unsupported(c.g, n, "inputs of different shapes " + shape_str(a) + " and " + shape_str(b) + " (broadcasting between activations is not supported)");
}

inline std::vector<int64_t> flatten_shape(shape_context& c, node& n) {
    const auto x = c.shape_of(n, 0);
    int64_t axis = n.i("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(x.size());
    if (axis != 1) unsupported(c.g, n, "only Flatten with axis 1 (keep the batch) is supported, found axis " + std::to_string(n.i("axis", 1)));
    return {1, elements(x)};
}

/// The source's rules: a 0 copies the input's dimension, one -1 is inferred, and the first
/// entry is the batch whatever it says (0, -1, 1 or the model's batch).
inline std::vector<int64_t> reshape_shape(shape_context& c, node& n) {
    const import_graph& g = c.g;
    const auto x = c.shape_of(n, 0);
    const auto target = n.ints("shape");
    if (target.empty()) unsupported(g, n, "expected a constant target shape");
    std::vector<int64_t> out;
    int64_t known = 1, infer = -1;
    for (std::size_t k = 0; k < target.size(); ++k) {
        int64_t d = target[k];
        if (k == 0 && (d == 0 || d == -1 || d == g.input_batch || d == 1)) d = 1;  // the batch
        else if (d == 0) {
            if (k >= x.size()) invalid(g, n, "shape " + shape_str(target) + ": a 0 past the input's rank");
            d = x[k];
        }
        if (d == -1) {
            if (infer >= 0) invalid(g, n, "shape " + shape_str(target) + ": more than one -1");
            infer = static_cast<int64_t>(k);
            out.push_back(-1);
            continue;
        }
        if (d < 1 || d > detail_ig::max_dim) invalid(g, n, "shape " + shape_str(target) + ": dimension " + std::to_string(d));
        if (known > detail_ig::max_elements / d) invalid(g, n, "cannot reshape " + shape_str(x) + " to " + shape_str(target));
        known *= d;
        out.push_back(d);
    }
    if (infer >= 0) {
        if (known == 0 || elements(x) % known) invalid(g, n, "cannot reshape " + shape_str(x) + " to " + shape_str(target));
        out[static_cast<std::size_t>(infer)] = elements(x) / known;
    }
    if (elements(out) != elements(x)) invalid(g, n, "cannot reshape " + shape_str(x) + " to " + shape_str(target));
    return out;
}

inline std::vector<int64_t> squeeze_shape(shape_context& c, node& n) {
    const auto x = c.shape_of(n, 0);
    const auto axes = c.normalized_axes(n, "axes", x.size());
    n.set_ints("axes", axes);
    std::vector<int64_t> out;
    for (std::size_t k = 0; k < x.size(); ++k) {
        const bool listed = std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end();
        if (k == 0 && listed) unsupported(c.g, n, "squeezing the batch dimension is not supported");
        if (listed && x[k] != 1) invalid(c.g, n, "axis " + std::to_string(k) + " of " + shape_str(x) + " is not 1");
        if (k == 0 || !(listed || (axes.empty() && x[k] == 1))) out.push_back(x[k]);
    }
    return out;
}

inline std::vector<int64_t> gemm_shape(shape_context& c, node& n) {
    const import_graph& g = c.g;
    const auto a = c.shape_of(n, 0);
    if (a.size() != 2) unsupported(g, n, "input A: expected [N, K] (flatten first), found " + shape_str(a));
    if (n.i("transA", 0)) unsupported(g, n, "transA = 1 is not supported (the activation must be [N, K])");
    const auto bs = c.shape_of(n, 1);
    if (bs.size() != 2) invalid(g, n, "B: expected a 2-D weight, found " + shape_str(bs));
    const bool tb = n.i("transB", 0) != 0;
    const int64_t k = tb ? bs[1] : bs[0], o = tb ? bs[0] : bs[1];
    if (k != a[1]) invalid(g, n, "B " + shape_str(bs) + (tb ? " (transB)" : "") + " does not fit A " + shape_str(a));
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const auto cs = c.shape_of(n, 2);
        if (elements(cs) != 1 && elements(cs) != o)
            unsupported(g, n, "C: expected a scalar or " + std::to_string(o) + " values, found shape " + shape_str(cs));
    }
    return {1, o};
}

inline std::vector<int64_t> matmul_shape(shape_context& c, node& n) {
    const auto a = c.shape_of(n, 0);
    if (a.size() != 2) unsupported(c.g, n, "input A: expected [N, K] (flatten first), found " + shape_str(a));
    const auto bs = c.shape_of(n, 1);
    if (bs.size() != 2 || bs[0] != a[1]) invalid(c.g, n, "B " + shape_str(bs) + " does not fit A " + shape_str(a));
    return {1, bs[1]};
}

inline std::vector<int64_t> pad_shape(shape_context& c, node& n) {
    const auto x = c.shape_of(n, 0);
    const auto p = n.ints("pads");
    if (x.size() != 4 || p.size() != 4) unsupported(c.g, n, "expected an NCHW input padded in H and W, found " + shape_str(x));
    for (int64_t v : p)
        if (v < -detail_ig::max_window || v > detail_ig::max_window) invalid(c.g, n, "pads " + shape_str(p) + ": expected values in -65536..65536");
    std::vector<int64_t> out = {1, x[1], x[2] + p[0] + p[2], x[3] + p[1] + p[3]};
    if (out[2] < 1 || out[3] < 1) invalid(c.g, n, "pads " + shape_str(p) + " leave nothing of " + shape_str(x));
    return out;
}

/// op kind -> rule. Written as a switch so that the compiler flags a kind without a rule.
inline shape_rule rule_of(op_kind k) {
    switch (k) {
        case op_kind::conv: return conv_shape;
        case op_kind::max_pool:
        case op_kind::avg_pool: return pool_shape;
        case op_kind::global_avg_pool: return global_avg_pool_shape;
        case op_kind::reduce_mean: return reduce_mean_shape;
        case op_kind::batch_norm: return batch_norm_shape;
        case op_kind::softmax: return softmax_shape;
        case op_kind::relu:
        case op_kind::clip:
        case op_kind::identity:
        case op_kind::quantize:
        case op_kind::dequantize: return same_shape;
        case op_kind::mul: return mul_shape;
        case op_kind::add: return add_shape;
        case op_kind::flatten: return flatten_shape;
        case op_kind::reshape: return reshape_shape;
        case op_kind::squeeze: return squeeze_shape;
        case op_kind::gemm: return gemm_shape;
        case op_kind::matmul: return matmul_shape;
        case op_kind::pad: return pad_shape;
    }
    return same_shape;  // not reached: every kind has its case above
}

/// The graph input's shape must be an NCHW image of bounded size.
inline void check_input_shape(const import_graph& g) {
    const auto& is = g.input_shape;
    if (is.size() != 4 || !detail_ig::bounded(is, detail_ig::max_input_elements) || is[2] > detail_ig::max_input_side ||
        is[3] > detail_ig::max_input_side)
        detail::fail(errc::unsupported, g.origin + ": input '" + g.input + "': shape " + shape_str(is) + ": expected an NCHW image of at most " +
                                            std::to_string(detail_ig::max_input_side) + " x " + std::to_string(detail_ig::max_input_side) +
                                            " pixels and 2^28 values");
}

}  // namespace detail_shape

/// Computes the shape of every activation tensor (batch 1) and checks each node's inputs as far
/// as the passes rely on them. Throws naming the node on the first inconsistency.
inline void infer_shapes(import_graph& g) {
    g.shapes.clear();
    detail_shape::check_input_shape(g);
    g.shapes[g.input] = g.input_shape;
    detail_shape::shape_context ctx{g};
    for (auto& n : g.nodes) {
        const std::vector<int64_t> out = detail_shape::rule_of(n.kind)(ctx, n);
        if (!detail_ig::bounded(out, detail_ig::max_elements))
            invalid(g, n, "output shape " + detail_ig::shape_str(out) + ": expected dimensions of 1.." + std::to_string(detail_ig::max_dim) +
                              " and at most 2^31 values");
        for (const auto& o : n.outputs) g.shapes[o] = out;
    }
    if (!g.shapes.count(g.output)) detail::fail(damaged(g), g.origin + ": the graph output '" + g.output + "' is not computed by any node");
}

}  // namespace qint8::convert
