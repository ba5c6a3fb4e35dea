#pragma once
// The ONNX operators the front end maps, one handler per op type, and the table that finds them
// (onnx_frontend.hpp walks the nodes and calls the handler of each). A handler turns one
// NodeProto into the neutral node: its kind, and its attributes in the conventions of
// import_graph.hpp (defaults per opset applied, constant inputs moved into attributes).

#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include <qint8/convert/import_graph.hpp>

namespace qint8::convert::onnx_frontend {

/// The op types this front end accepts, as the "not supported" message lists them.
inline const char* supported_ops() {
    return "Conv, BatchNormalization, Relu, Clip, Add, Mul/Div by a constant, MaxPool, AveragePool, GlobalAveragePool, ReduceMean, "
           "Flatten, Reshape, Squeeze, Identity, Dropout, Gemm, MatMul, Softmax, Pad, QuantizeLinear, DequantizeLinear and Constant, "
           "the QOperator ops QLinearConv, QLinearMatMul, QLinearAdd, QLinearMul, QLinearGlobalAveragePool and QLinearAveragePool, "
           "plus any of Identity, Cast, Reshape, Squeeze, Unsqueeze, Flatten, Concat, Add, Sub, Mul, Div, Sqrt, Neg, Reciprocal, Shape, "
           "Gather, Transpose, ConstantOfShape on constant inputs (evaluated at import)";
}

namespace detail_onnx {

/// Attribute access with the error naming node and attribute.
struct attrs {
    const import_graph& g;
    const node& n;
    const onnx::NodeProto& p;

    const onnx::AttributeProto* find(const std::string& name) const {
        for (const auto& a : p.attribute())
            if (a.name() == name) return &a;
        return nullptr;
    }
    int64_t i(const std::string& name, int64_t dflt) const {
        const auto* a = find(name);
        if (!a) return dflt;
        if (a->type() != onnx::AttributeProto::INT) invalid(g, n, "attribute " + name + ": expected an integer");
        return a->i();
    }
    float f(const std::string& name, float dflt) const {
        const auto* a = find(name);
        if (!a) return dflt;
        if (a->type() != onnx::AttributeProto::FLOAT) invalid(g, n, "attribute " + name + ": expected a float");
        return a->f();
    }
    std::string s(const std::string& name, const std::string& dflt) const {
        const auto* a = find(name);
        if (!a) return dflt;
        if (a->type() != onnx::AttributeProto::STRING) invalid(g, n, "attribute " + name + ": expected a string");
        return a->s();
    }
    std::vector<int64_t> ints(const std::string& name, std::vector<int64_t> dflt) const {
        const auto* a = find(name);
        if (!a) return dflt;
        if (a->type() != onnx::AttributeProto::INTS) invalid(g, n, "attribute " + name + ": expected a list of integers");
        return {a->ints().begin(), a->ints().end()};
    }
};

/// What a handler works on: the node being built from `p`, the graph so far and the settings
/// of the whole model (opset, whether the graph input is NHWC behind a Transpose).
struct op_context {
    import_graph& g;
    node& n;
    const onnx::NodeProto& p;
    const onnx::GraphProto& gp;
    const attrs& a;
    int64_t opset;
    bool nhwc_input;

    const std::string& op() const { return p.op_type(); }

    /// Keeps output 0 only; a later output is refused when any node or the graph reads it.
    void first_output_only() {
        for (int o = 1; o < p.output_size(); ++o)
            if (!p.output(o).empty()) {
                bool used = false;
                for (const auto& q : gp.node())
                    for (const auto& i : q.input()) used = used || i == p.output(o);
                for (const auto& go : gp.output()) used = used || go.name() == p.output(o);
                if (used) unsupported(g, n, "output " + std::to_string(o) + " ('" + p.output(o) + "') is used; only the first output is supported");
            }
        n.outputs.resize(1);
    }

    /// Input `idx` as a constant; nullptr when the input is absent (optional inputs).
    const constant* const_input(std::size_t idx, const char* what) {
        if (idx >= n.inputs.size() || n.inputs[idx].empty()) return nullptr;
        const constant* c = g.find_const(n.inputs[idx]);
        if (!c) unsupported(g, n, std::string(what) + " '" + n.inputs[idx] + "' must be a constant (an initializer or a Constant node)");
        return c;
    }

    std::vector<int64_t> const_ints(std::size_t idx, const char* what) {
        const constant* c = const_input(idx, what);
        std::vector<int64_t> v;
        if (c)
            for (std::size_t e = 0; e < c->elements(); ++e) {
                // A float tensor where integers belong: converting 1e30 to int64 is undefined.
                const double x = c->at(e);
                if (!(std::fabs(x) <= 9007199254740992.0) || x != std::floor(x)) {
                    std::ostringstream os;
                    os << x;
                    invalid(g, n, std::string(what) + " '" + n.inputs[idx] + "': expected integers, found " + os.str());
                }
                v.push_back(static_cast<int64_t>(x));
            }
        return v;
    }

    /// The window attributes of Conv and the pools, with ONNX's defaults.
    void window(bool pool) {
        const auto k = a.ints("kernel_shape", {});
        if (pool && k.size() != 2) unsupported(g, n, "expected a 2-D kernel_shape, found " + detail::shape_str(k));
        if (!k.empty()) n.set_ints("kernel_shape", k);
        n.set_ints("strides", a.ints("strides", {1, 1}));
        n.set_ints("dilations", a.ints("dilations", {1, 1}));
        n.set_ints("pads", a.ints("pads", {0, 0, 0, 0}));  // ONNX [h_begin, w_begin, h_end, w_end] = [top, left, bottom, right]
        n.set_string("auto_pad", a.s("auto_pad", "NOTSET"));
        if (n.ints("strides").size() != 2 || n.ints("dilations").size() != 2 || n.ints("pads").size() != 4)
            unsupported(g, n, "expected 2-D strides and dilations and 4 pads (2-D windows on NCHW only)");
        for (int64_t d : n.ints("dilations"))
            if (d != 1) unsupported(g, n, "dilations " + detail::shape_str(n.ints("dilations")) + ": qint8 supports dilation 1 only");
    }
};

using op_handler = void (*)(op_context&);

inline void conv_op(op_context& c) {
    c.n.kind = op_kind::conv;
    c.window(false);
    c.n.set_ints("group", {c.a.i("group", 1)});
}

inline void batch_norm_op(op_context& c) {
    c.n.kind = op_kind::batch_norm;
    if (c.a.i("training_mode", 0)) unsupported(c.g, c.n, "training_mode = 1: export the model in eval mode");
    c.n.set_float("epsilon", c.a.f("epsilon", 1e-5f));
    c.first_output_only();
}

inline void relu_op(op_context& c) { c.n.kind = op_kind::relu; }

/// Clip's bounds were attributes before opset 11 and are optional constant inputs since.
inline void clip_op(op_context& c) {
    c.n.kind = op_kind::clip;
    if (c.opset < 11) {
        if (c.a.find("min")) c.n.set_float("min", c.a.f("min", 0.f));
        if (c.a.find("max")) c.n.set_float("max", c.a.f("max", 0.f));
    } else {
        if (const constant* k = c.const_input(1, "min")) c.n.set_float("min", static_cast<float>(k->at(0)));
        if (const constant* k = c.const_input(2, "max")) c.n.set_float("max", static_cast<float>(k->at(0)));
    }
    c.n.inputs.resize(1);
}

inline void add_op(op_context& c) {  // Add and a two-input Sum
    if (c.n.inputs.size() != 2) unsupported(c.g, c.n, "expected 2 inputs, found " + std::to_string(c.n.inputs.size()));
    c.n.kind = op_kind::add;
}

/// x * c or x / c with c constant: a per-channel scale, folded into the conv before it.
inline void mul_div_op(op_context& c) {
    node& n = c.n;
    const bool mul = c.op() == "Mul";
    if (n.inputs.size() != 2) invalid(c.g, n, "expected 2 inputs, found " + std::to_string(n.inputs.size()));
    const bool c0 = c.g.is_const(n.inputs[0]), c1 = c.g.is_const(n.inputs[1]);
    if (!c1 && !(c0 && mul))
        unsupported(c.g, n, mul ? "multiplying two computed tensors is not supported (one factor must be a constant)"
                                : "the divisor must be a constant");
    if (!c1) std::swap(n.inputs[0], n.inputs[1]);
    n.kind = op_kind::mul;
    n.set_ints("divide", {mul ? 0 : 1});
}

inline void pool_op(op_context& c) {  // MaxPool and AveragePool
    const bool max = c.op() == "MaxPool";
    c.n.kind = max ? op_kind::max_pool : op_kind::avg_pool;
    c.window(true);
    c.n.set_ints("ceil_mode", {c.a.i("ceil_mode", 0)});
    if (max) {
        if (c.a.i("storage_order", 0)) unsupported(c.g, c.n, "storage_order = 1 is not supported");
        c.first_output_only();
    } else {
        c.n.set_ints("count_include_pad", {c.a.i("count_include_pad", 0)});
    }
}

inline void global_avg_pool_op(op_context& c) { c.n.kind = op_kind::global_avg_pool; }

/// ReduceMean's axes became an input in opset 18.
inline void reduce_mean_op(op_context& c) {
    c.n.kind = op_kind::reduce_mean;
    c.n.set_ints("axes", c.opset >= 18 && c.n.inputs.size() > 1 ? c.const_ints(1, "axes") : c.a.ints("axes", {}));
    c.n.set_ints("keepdims", {c.a.i("keepdims", 1)});
    c.n.inputs.resize(1);
}

inline void flatten_op(op_context& c) {
    c.n.kind = op_kind::flatten;
    c.n.set_ints("axis", {c.a.i("axis", 1)});
}

/// Reshape's target was an attribute before opset 5 and is a constant input since.
inline void reshape_op(op_context& c) {
    node& n = c.n;
    n.kind = op_kind::reshape;
    if (c.opset < 5) n.set_ints("shape", c.a.ints("shape", {}));
    else n.set_ints("shape", c.const_ints(1, "shape"));
    if (c.a.i("allowzero", 0)) {
        for (int64_t d : n.ints("shape"))
            if (d == 0) unsupported(c.g, n, "allowzero = 1 with a 0 in the target shape");
    }
    n.inputs.resize(1);
}

/// Squeeze's axes became an input in opset 13.
inline void squeeze_op(op_context& c) {
    c.n.kind = op_kind::squeeze;
    c.n.set_ints("axes", c.opset >= 13 ? c.const_ints(1, "axes") : c.a.ints("axes", {}));
    c.n.inputs.resize(1);
}

inline void identity_op(op_context& c) { c.n.kind = op_kind::identity; }

inline void dropout_op(op_context& c) {
    node& n = c.n;
    n.kind = op_kind::identity;  // inference: the identity
    if (c.opset >= 12 && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const constant* t = c.const_input(2, "training_mode");
        if (t && t->at(0) != 0) unsupported(c.g, n, "training_mode = true: export the model in eval mode");
    }
    n.inputs.resize(1);
    c.first_output_only();
}

inline void gemm_op(op_context& c) {
    c.n.kind = op_kind::gemm;
    c.n.set_float("alpha", c.a.f("alpha", 1.f));
    c.n.set_float("beta", c.a.f("beta", 1.f));
    c.n.set_ints("transA", {c.a.i("transA", 0)});
    c.n.set_ints("transB", {c.a.i("transB", 0)});
}

inline void matmul_op(op_context& c) { c.n.kind = op_kind::matmul; }

inline void softmax_op(op_context& c) {
    c.n.kind = op_kind::softmax;
    // Before opset 13 Softmax flattened everything from `axis` (default 1) into one row.
    c.n.set_ints("coerce_2d", {c.opset < 13 ? 1 : 0});
    c.n.set_ints("axis", {c.a.i("axis", c.opset < 13 ? 1 : -1)});
}

/// Pad's amounts and value were attributes before opset 11 and are constant inputs since.
inline void pad_op(op_context& c) {
    node& n = c.n;
    n.kind = op_kind::pad;
    const std::string mode = c.a.s("mode", "constant");
    if (mode != "constant") unsupported(c.g, n, "mode \"" + mode + "\": only constant (zero) padding is supported");
    std::vector<int64_t> pads;
    float value = 0.f;
    if (c.opset < 11) {
        pads = c.a.ints("pads", {});
        value = c.a.f("value", 0.f);
    } else {
        pads = c.const_ints(1, "pads");
        if (const constant* k = c.const_input(2, "constant_value"); k && k->elements()) value = static_cast<float>(k->at(0));
        if (n.inputs.size() > 3 && !n.inputs[3].empty()) unsupported(c.g, n, "the axes input is not supported");
    }
    if (pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5])
        unsupported(c.g, n, "expected 8 pads on an NCHW tensor padding H and W only, found " + detail::shape_str(pads));
    for (int64_t v : pads)
        if (v < 0) unsupported(c.g, n, "negative pads (cropping) are not supported, found " + detail::shape_str(pads));
    n.set_ints("pads", {pads[2], pads[3], pads[6], pads[7]});
    n.set_string("mode", mode);
    n.set_float("value", value);
    n.inputs.resize(1);
}

/// The one Transpose qint8 runs (when folding could not evaluate it): NHWC -> NCHW of the graph
/// input, an identity because qint8's input is NCHW already.
inline void transpose_op(op_context& c) {
    if (!(c.nhwc_input && c.n.inputs.size() == 1 && c.n.inputs[0] == c.g.input))
        unsupported(c.g, c.n, std::string("not supported; qint8 converts ") + supported_ops());
    c.n.kind = op_kind::identity;
}

inline void quantize_linear_op(op_context& c) {  // QuantizeLinear and DequantizeLinear
    c.n.kind = c.op() == "QuantizeLinear" ? op_kind::quantize : op_kind::dequantize;
    c.n.set_ints("axis", {c.a.i("axis", 1)});
    for (std::size_t k = 1; k < c.n.inputs.size(); ++k) c.const_input(k, k == 1 ? "scale" : "zero_point");
}

/// op type -> handler; an op type missing here is not supported.
inline const std::map<std::string, op_handler>& op_handlers() {
    static const std::map<std::string, op_handler> table = {
        {"Conv", conv_op},
        {"BatchNormalization", batch_norm_op},
        {"Relu", relu_op},
        {"Clip", clip_op},
        {"Add", add_op},
        {"Sum", add_op},
        {"Mul", mul_div_op},
        {"Div", mul_div_op},
        {"MaxPool", pool_op},
        {"AveragePool", pool_op},
        {"GlobalAveragePool", global_avg_pool_op},
        {"ReduceMean", reduce_mean_op},
        {"Flatten", flatten_op},
        {"Reshape", reshape_op},
        {"Squeeze", squeeze_op},
        {"Identity", identity_op},
        {"Dropout", dropout_op},
        {"Gemm", gemm_op},
        {"MatMul", matmul_op},
        {"Softmax", softmax_op},
        {"Pad", pad_op},
        {"Transpose", transpose_op},
        {"QuantizeLinear", quantize_linear_op},
        {"DequantizeLinear", quantize_linear_op},
    };
    return table;
}

}  // namespace detail_onnx
}  // namespace qint8::convert::onnx_frontend
