#pragma once
// TFLite front end: a parsed .tflite file (tflite_reader.hpp) -> the converter's neutral graph
// (import_graph.hpp), so that the same passes, recognition and calibration as for ONNX apply.
//
// What changes on the way:
//  * Layout. TFLite activations are NHWC; here they become NCHW. Conv filters OHWI and depthwise
//    filters 1HWO become OIHW ([O, 1, kh, kw] with group = input channels). A fully connected
//    layer reading a flattened H x W x C tensor with H x W > 1 gets its weight columns permuted
//    from (h, w, c) to (c, h, w) order, because qint8 flattens NCHW.
//  * Padding. "SAME" is TF's rule - the odd pixel goes to the bottom/right - i.e. ONNX SAME_UPPER,
//    which resolve_pads() turns into exact asymmetric pads.
//  * Quantization. Quantized weights (uint8 asymmetric per tensor, or int8 per channel) become
//    float constants holding scale * (q - zero_point) exactly, with the integers and their
//    quantization kept beside them (lowering requantizes them to s8 per output channel, or keeps
//    int8 symmetric per-channel integers as they are). int32 biases are dequantized the same way.
//    Every quantized activation tensor's scale and zero point go into act_quant, so the model's
//    learned activation quantization is kept as it is.
//  * Fused activations (RELU, RELU6, RELU_N1_TO_1) become a Relu/Clip node after the op, which the
//    fuse pass turns back into a post-op. A quantized op without a fused activation whose output
//    range starts exactly at 0 (uint8 zero point 0, int8 zero point -128) clamps at 0 in integer
//    arithmetic; that clamp (ReLU6 when the range is [0, 6]) is made explicit too, so that the FP32
//    path of the same model computes what the quantized one does (older converters fold ReLU6
//    into the output range this way).
//  * QUANTIZE / DEQUANTIZE of activations become identities whose quantization is recorded;
//    DEQUANTIZE of a constant (float16 or int8 weights) becomes a float constant.
//  * PyTorch-origin files keep PyTorch's NCHW input: the graph starts with TRANSPOSE (perm
//    0,2,3,1) to NHWC. That input is qint8's NCHW input as it is, and the TRANSPOSE an identity.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <qint8/core/error.hpp>

#include <qint8/convert/float16.hpp>
#include <qint8/convert/import_graph.hpp>
#include <qint8/convert/tflite/reader.hpp>

namespace qint8::convert::tflite_frontend {

namespace tfl = qint8::convert::tflite;

/// The builtin ops the front end maps (for --help and messages).
inline const char* supported_ops() {
    return "ADD, AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE, FULLY_CONNECTED, MAX_POOL_2D, MEAN, PAD, QUANTIZE, RELU, RELU6, "
           "RELU_N1_TO_1, RESHAPE, SOFTMAX, SQUEEZE, and TRANSPOSE (perm 0,2,3,1) of an NCHW graph input";
}

namespace detail_tfl {

/// Builds the import_graph; one instance per conversion.
class builder {
public:
    explicit builder(const tfl::model& m) : m_(m) {
        if (m.subgraphs.empty()) fail_model("the file has no subgraph");
        sg_ = &m.subgraphs[0];
        g_.origin = m.origin;
        g_.format = "tflite";
        g_.producer = m.description;
        // Tensor names must be unique here; TFLite does not promise that.
        std::map<std::string, int> seen;
        names_.resize(sg_->tensors.size());
        for (std::size_t t = 0; t < sg_->tensors.size(); ++t) {
            std::string n = sg_->tensors[t].name.empty() ? "tensor" + std::to_string(t) : sg_->tensors[t].name;
            if (seen[n]++) n += "#" + std::to_string(t);
            names_[t] = n;
        }
    }

    import_graph build() {
        if (sg_->inputs.size() != 1)
            fail_model("expected one input tensor (an image), found " + std::to_string(sg_->inputs.size()));
        if (sg_->outputs.size() != 1)
            fail_model("expected one output tensor (class scores), found " + std::to_string(sg_->outputs.size()));
        const int in = sg_->inputs[0];
        const tfl::tensor& ti = tensor_at(in, "the subgraph input");
        if (ti.shape.size() != 4 || ti.shape[3] < 1 || ti.shape[1] < 1 || ti.shape[2] < 1)
            fail_model("input tensor '" + names_[static_cast<std::size_t>(in)] + "': expected an NHWC image [N, H, W, C], found shape " + dims(ti.shape));
        if (ti.type != tfl::tensor_type::float32 && ti.type != tfl::tensor_type::uint8 && ti.type != tfl::tensor_type::int8)
            fail_model("input tensor '" + names_[static_cast<std::size_t>(in)] + "': expected FLOAT32, UINT8 or INT8, found " + tfl::type_name(ti.type));
        g_.input = names_[static_cast<std::size_t>(in)];
        nchw_input_ = leading_nchw_transpose(in);
        g_.input_shape = nchw_input_ ? std::vector<int64_t>{1, ti.shape[1], ti.shape[2], ti.shape[3]}
                                     : std::vector<int64_t>{1, ti.shape[3], ti.shape[1], ti.shape[2]};
        g_.input_batch = !ti.shape_signature.empty() && ti.shape_signature[0] < 0 ? -1 : ti.shape[0];
        if (auto q = act_quant_of(in)) {
            g_.act_quant[g_.input] = *q;
            g_.quantized = true;
        }
        g_.output = names_[static_cast<std::size_t>(sg_->outputs[0])];
        for (std::size_t k = 0; k < sg_->ops.size(); ++k) map_op(k);
        if (nhwc_flat_.count(g_.output)) fail_model("the output tensor is " + flat_order_problem(g_.output));
        infer_shapes(g_);
        check_shapes();
        return std::move(g_);
    }

private:
    const tfl::model& m_;
    const tfl::subgraph* sg_ = nullptr;
    import_graph g_;
    std::vector<std::string> names_;
    std::map<std::string, std::vector<int64_t>> nhwc_flat_;  // flattened tensor -> the [H, W, C] it came from, when H x W > 1
    std::map<std::string, std::vector<int64_t>> declared_;  // NCHW shapes the file declares, for the check
    std::size_t op_index_ = 0;
    std::string op_name_;
    bool nchw_input_ = false;  // the input is NCHW and a TRANSPOSE makes it NHWC (a PyTorch-origin file)

    static constexpr int32_t to_nhwc_perm[4] = {0, 2, 3, 1};

    /// The permutation input of a TRANSPOSE op, when it is a constant (else empty).
    std::vector<int64_t> transpose_perm(const tfl::op& o) const {
        if (o.inputs.size() < 2 || o.inputs[1] < 0 || static_cast<std::size_t>(o.inputs[1]) >= sg_->tensors.size() || !is_const(o.inputs[1])) return {};
        const constant c = read_const(o.inputs[1], "perm");
        return c.floating ? std::vector<int64_t>{} : c.i;
    }

    /// True when the graph input is read by exactly one op, a TRANSPOSE with perm [0, 2, 3, 1]:
    /// the input is then NCHW (PyTorch's layout), which is what qint8 takes.
    bool leading_nchw_transpose(int in) const {
        int readers = 0;
        bool transposed = false;
        for (const auto& o : sg_->ops) {
            if (std::find(o.inputs.begin(), o.inputs.end(), in) == o.inputs.end()) continue;
            ++readers;
            transposed = o.builtin == tfl::builtin::TRANSPOSE && !o.inputs.empty() && o.inputs[0] == in &&
                         transpose_perm(o) == std::vector<int64_t>(to_nhwc_perm, to_nhwc_perm + 4);
        }
        return readers == 1 && transposed;
    }

    [[noreturn]] void fail_model(const std::string& what) const { detail::fail(errc::unsupported, m_.origin + ": " + what); }
    [[noreturn]] void bad_op(const std::string& what) const {
        detail::fail(errc::unsupported, m_.origin + ": operator " + std::to_string(op_index_) + " (" + op_name_ + "): " + what);
    }
    [[noreturn]] void invalid_op(const std::string& what) const {
        detail::fail(errc::tflite, m_.origin + ": operator " + std::to_string(op_index_) + " (" + op_name_ + "): " + what);
    }

    static std::string dims(const std::vector<int32_t>& s) {
        std::vector<int64_t> v(s.begin(), s.end());
        return detail::shape_str(v);
    }

    const tfl::tensor& tensor_at(int idx, const std::string& what) const {
        if (idx < 0 || static_cast<std::size_t>(idx) >= sg_->tensors.size())
            detail::fail(errc::tflite, m_.origin + ": " + what + ": tensor index " + std::to_string(idx) + " out of range");
        const tfl::tensor& t = sg_->tensors[static_cast<std::size_t>(idx)];
        // Every element count below is computed from these dimensions: bound them here so that
        // no product can overflow (a hostile file may declare [2^31-1, 2^31-1, ...]).
        uint64_t elems = 1;
        for (int32_t d : t.shape) {
            if (d < 0 || (d > 0 && elems > max_tensor_elements / static_cast<uint64_t>(d)))
                detail::fail(errc::tflite, m_.origin + ": " + what + " '" + names_[static_cast<std::size_t>(idx)] + "': shape " + dims(t.shape) +
                                                         ": expected non-negative dimensions of at most 2^32 elements in all");
            elems *= static_cast<uint64_t>(d);
        }
        return t;
    }
    static constexpr uint64_t max_tensor_elements = uint64_t{1} << 32;

    /// NCHW form of a TFLite (NHWC) activation shape; other ranks as they are, batch set to 1.
    static std::vector<int64_t> nchw(const std::vector<int32_t>& s) {
        std::vector<int64_t> r(s.begin(), s.end());
        if (r.size() == 4) r = {1, r[3], r[1], r[2]};
        else if (!r.empty()) r[0] = 1;
        return r;
    }

    bool is_const(int idx) const {
        const tfl::tensor& t = tensor_at(idx, "an input");
        return m_.data(t).size > 0;
    }

    /// Per-tensor quantization of an activation, or nullopt for a float one.
    std::optional<quantization> act_quant_of(int idx) const {
        const tfl::tensor& t = tensor_at(idx, "an activation");
        if (t.type == tfl::tensor_type::float32) return std::nullopt;
        const std::string what = "tensor '" + names_[static_cast<std::size_t>(idx)] + "'";
        if (t.type != tfl::tensor_type::uint8 && t.type != tfl::tensor_type::int8)
            detail::fail(errc::unsupported, m_.origin + ": " + what + ": activations must be FLOAT32, UINT8 or INT8, found " + tfl::type_name(t.type));
        const auto& qp = t.quantization;
        if (!t.has_quantization || qp.scale.empty())
            detail::fail(errc::tflite, m_.origin + ": " + what + ": a " + tfl::type_name(t.type) + " activation without a quantization scale");
        if (qp.scale.size() != 1)
            detail::fail(errc::unsupported, m_.origin + ": " + what + ": per-axis quantization of an activation (qint8 quantizes activations per tensor)");
        if (!(qp.scale[0] > 0.f) || !std::isfinite(qp.scale[0]))
            detail::fail(errc::tflite, m_.origin + ": " + what + ": scale " + std::to_string(qp.scale[0]) + " (expected a positive finite number)");
        quantization q;
        q.type = t.type == tfl::tensor_type::uint8 ? dtype::u8 : dtype::s8;
        q.scale = {qp.scale[0]};
        const int64_t zp = qp.zero_point.empty() ? 0 : qp.zero_point[0];
        const int64_t lo = q.type == dtype::u8 ? 0 : -128, hi = q.type == dtype::u8 ? 255 : 127;
        if (zp < lo || zp > hi)
            detail::fail(errc::tflite, m_.origin + ": " + what + ": zero point " + std::to_string(zp) + " outside the " + tfl::type_name(t.type) + " range");
        q.zero_point = {static_cast<int32_t>(zp)};
        return q;
    }

    /// The integer elements of `b` (UINT8, INT8, INT32 or INT64) into c.i.
    static void read_ints(constant& c, tfl::tensor_type type, const tfl::byte_view& b, std::size_t n) {
        c.floating = false;
        c.elem = type == tfl::tensor_type::uint8 ? "uint8" : type == tfl::tensor_type::int8 ? "int8" : type == tfl::tensor_type::int32 ? "int32" : "int64";
        c.i.resize(n);
        for (std::size_t k = 0; k < n; ++k) {
            if (type == tfl::tensor_type::uint8) c.i[k] = b.data[k];
            else if (type == tfl::tensor_type::int8) c.i[k] = static_cast<int8_t>(b.data[k]);
            else if (type == tfl::tensor_type::int32) {
                int32_t v;
                std::memcpy(&v, b.data + 4 * k, 4);
                c.i[k] = v;
            } else {
                int64_t v;
                std::memcpy(&v, b.data + 8 * k, 8);
                c.i[k] = v;
            }
        }
    }

    /// Quantized integer data: real = scale * (q - zero_point), per tensor or per slice along
    /// quantized_dimension, into c.f; the integers stay in c.i.
    void dequantize(constant& c, const tfl::tensor& t, std::size_t n, const std::string& where) const {
        const auto& qp = t.quantization;
        const bool per_axis = qp.scale.size() > 1;
        const int axis = per_axis ? qp.quantized_dimension : -1;
        if (per_axis && (axis < 0 || static_cast<std::size_t>(axis) >= c.shape.size() || static_cast<std::size_t>(c.shape[static_cast<std::size_t>(axis)]) != qp.scale.size()))
            detail::fail(errc::tflite, where + ": " + std::to_string(qp.scale.size()) + " scales along quantized_dimension " + std::to_string(axis) +
                                                     " do not fit shape " + dims(t.shape));
        if (!qp.zero_point.empty() && qp.zero_point.size() != qp.scale.size() && qp.zero_point.size() != 1)
            detail::fail(errc::tflite, where + ": " + std::to_string(qp.zero_point.size()) + " zero points for " + std::to_string(qp.scale.size()) + " scales");
        quantization q;
        q.type = t.type == tfl::tensor_type::uint8 ? dtype::u8 : dtype::s8;  // int32 biases: the type is not used
        q.scale = qp.scale;
        for (int64_t z : qp.zero_point) q.zero_point.push_back(static_cast<int32_t>(z));
        q.axis = axis;
        for (std::size_t s = 0; s < q.scale.size(); ++s)
            if (!(q.scale[s] >= 0.f) || !std::isfinite(q.scale[s]))
                detail::fail(errc::tflite, where + ": scale " + std::to_string(q.scale[s]) + " (expected a finite number >= 0)");
        c.f.resize(n);
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t s = slice_of(c.shape, axis, k);
            c.f[k] = q.sc(s) * static_cast<float>(c.i[k] - q.zp(s));
        }
        c.floating = true;
        c.quant = q;
    }

    /// The elements of a constant tensor as a neutral constant (shape as in the file). Quantized
    /// integer data is dequantized into `f` and kept in `i`.
    constant read_const(int idx, const std::string& what) const {
        const tfl::tensor& t = tensor_at(idx, what);
        const std::string where = m_.origin + ": " + what + " '" + names_[static_cast<std::size_t>(idx)] + "'";
        if (t.is_sparse) detail::fail(errc::unsupported, where + ": sparse tensors are not supported");
        constant c;
        c.shape.assign(t.shape.begin(), t.shape.end());
        std::size_t n = 1;
        for (int32_t d : t.shape) {
            if (d < 0) detail::fail(errc::tflite, where + ": negative dimension in shape " + dims(t.shape));
            n *= static_cast<std::size_t>(d);
        }
        const std::size_t es = tfl::type_size(t.type);
        const tfl::byte_view b = m_.data(t);
        if (es == 0) detail::fail(errc::unsupported, where + ": element type " + tfl::type_name(t.type) + " is not supported");
        if (b.size != n * es)
            detail::fail(errc::tflite, where + ": buffer holds " + std::to_string(b.size) + " bytes, shape " + dims(t.shape) + " of " +
                                                     tfl::type_name(t.type) + " needs " + std::to_string(n * es));
        switch (t.type) {
            case tfl::tensor_type::float32:
                c.elem = "float32";
                c.f.resize(n);
                if (n) std::memcpy(c.f.data(), b.data, n * 4);
                return c;
            case tfl::tensor_type::float16: {
                c.elem = "float16";
                c.f.resize(n);
                for (std::size_t k = 0; k < n; ++k) {
                    uint16_t h;
                    std::memcpy(&h, b.data + 2 * k, 2);
                    c.f[k] = half_to_float(h);
                }
                return c;
            }
            case tfl::tensor_type::uint8:
            case tfl::tensor_type::int8:
            case tfl::tensor_type::int32:
            case tfl::tensor_type::int64: read_ints(c, t.type, b, n); break;
            default: detail::fail(errc::unsupported, where + ": element type " + tfl::type_name(t.type) + " is not supported");
        }
        if (!t.has_quantization || t.quantization.scale.empty()) return c;  // plain integers (shapes, axes, paddings)
        dequantize(c, t, n, where);
        return c;
    }

    /// A constant with its elements moved: element k goes to dst(k), under `new_shape`.
    template <class F>
    static constant permuted(const constant& c, std::vector<int64_t> new_shape, F dst) {
        constant r = c;
        r.shape = std::move(new_shape);
        for (std::size_t k = 0; k < c.elements(); ++k) {
            const std::size_t d = dst(k);
            if (!c.f.empty()) r.f[d] = c.f[k];
            if (!c.i.empty()) r.i[d] = c.i[k];
        }
        return r;
    }

    /// A weight constant under a fresh name; exact_int8 when its integers can be kept.
    std::string add_weight(constant c, const std::string& name) {
        if (c.quant && c.quant->type == dtype::s8) {
            bool sym = true;
            for (std::size_t s = 0; s < c.quant->scale.size(); ++s) sym = sym && c.quant->zp(s) == 0;
            c.exact_int8 = sym && (c.quant->per_tensor() || c.quant->axis == 0);
        }
        if (!c.floating) {
            // Integer data without quantization parameters cannot be a real-valued weight.
            bad_op("weight '" + name + "' holds " + c.elem + " integers without a quantization scale");
        }
        g_.constants[name] = std::move(c);
        return name;
    }

    std::string add_bias(int idx, int64_t out_channels) {
        if (idx < 0) return "";
        if (!is_const(idx)) bad_op("the bias '" + names_[static_cast<std::size_t>(idx)] + "' must be a constant");
        constant b = read_const(idx, "bias");
        if (!b.floating) bad_op("bias '" + names_[static_cast<std::size_t>(idx)] + "': " + b.elem + " without a quantization scale");
        if (static_cast<int64_t>(b.elements()) != out_channels)
            invalid_op("bias '" + names_[static_cast<std::size_t>(idx)] + "': expected " + std::to_string(out_channels) + " values, found shape " + detail::shape_str(b.shape));
        b.shape = {out_channels};
        const std::string name = names_[static_cast<std::size_t>(idx)] + ":bias";
        g_.constants[name] = std::move(b);
        return name;
    }

    const std::string& name_of(int idx) const { return names_[static_cast<std::size_t>(idx)]; }

    /// Input `k` of the op as an activation tensor (not a constant).
    int act_input(const tfl::op& o, std::size_t k) {
        if (k >= o.inputs.size() || o.inputs[k] < 0) invalid_op("input " + std::to_string(k) + " is missing");
        const int t = o.inputs[k];
        tensor_at(t, "input");
        if (is_const(t)) bad_op("input " + std::to_string(k) + " '" + name_of(t) + "' is a constant; expected an activation");
        return t;
    }

    /// Appends a node writing tensor `out_idx` (through a fused activation when `act` asks for
    /// one, or when the quantized output range clamps at 0).
    void emit(node n, int out_idx, tfl::activation act, bool may_clamp) {
        const std::string out = name_of(out_idx);
        const tfl::tensor& t = tensor_at(out_idx, "output");
        n.name = out;
        n.source_op = op_name_;
        std::optional<quantization> q = act_quant_of(out_idx);
        if (q) g_.quantized = true;
        std::optional<node> a;
        auto make_act = [&](op_kind k, std::optional<float> lo, std::optional<float> hi, const char* what) {
            node r;
            r.kind = k;
            r.name = out + ":" + what;
            r.source_op = op_name_ + " fused " + what;
            if (lo) r.set_float("min", *lo);
            if (hi) r.set_float("max", *hi);
            return r;
        };
        switch (act) {
            case tfl::activation::none:
                if (may_clamp && q && q->zp(0) == (q->type == dtype::u8 ? 0 : -128)) {
                    // The integer output saturates at 0 and at the top of its range.
                    float hi = q->scale[0] * 255.f;  // zero point at the bottom: 255 steps above it
                    if (std::fabs(hi - 6.f) < 1e-3f) hi = 6.f;
                    a = make_act(op_kind::clip, 0.f, hi, "range_clamp");
                }
                break;
            case tfl::activation::relu: a = make_act(op_kind::relu, std::nullopt, std::nullopt, "RELU"); break;
            case tfl::activation::relu6: a = make_act(op_kind::clip, 0.f, 6.f, "RELU6"); break;
            case tfl::activation::relu_n1_to_1: a = make_act(op_kind::clip, -1.f, 1.f, "RELU_N1_TO_1"); break;
            default: bad_op(std::string("fused activation ") + tfl::activation_name(act) + " is not supported (NONE, RELU, RELU6 and RELU_N1_TO_1 are)");
        }
        declared_[out] = nchw(t.shape);
        if (a) {
            n.outputs = {out + ":pre"};
            a->inputs = {n.outputs[0]};
            a->outputs = {out};
            g_.nodes.push_back(std::move(n));
            g_.nodes.push_back(std::move(*a));
        } else {
            n.outputs = {out};
            g_.nodes.push_back(std::move(n));
        }
        if (q) g_.act_quant[out] = *q;
    }

    template <class T>
    T options_of(const tfl::op& o, const char* type_name) const {
        if (const T* p = std::get_if<T>(&o.opts)) return *p;
        if (o.options_type == 0) return T{};
        invalid_op(std::string("expected ") + type_name + ", found builtin options of type " + tfl::options_type_name(o.options_type));
    }

    std::vector<int64_t> strides(int32_t sh, int32_t sw) const {
        if (sh < 1 || sw < 1) invalid_op("strides must be >= 1, found " + std::to_string(sh) + "x" + std::to_string(sw));
        return {sh, sw};
    }

    std::vector<int32_t> int_values(int idx, const char* what) {
        if (idx < 0 || !is_const(idx)) bad_op(std::string(what) + " must be a constant tensor");
        const constant c = read_const(idx, what);
        if (c.floating) invalid_op(std::string(what) + " '" + name_of(idx) + "': expected INT32/INT64 values");
        std::vector<int32_t> v;
        for (int64_t x : c.i) v.push_back(static_cast<int32_t>(x));
        return v;
    }

    /// A conv or depthwise filter in OIHW and the op's window settings.
    struct conv_form {
        constant wt;
        int64_t O = 0;
        int32_t group = 1;
        tfl::padding pad{};
        int32_t sh = 0, sw = 0, dh = 0, dw = 0;
        tfl::activation act{};
    };

    /// CONV_2D: the filter is OHWI, groups follow from the input channels.
    conv_form conv_filter(const tfl::op& o, const constant& w, int64_t cin) {
        const auto opt = options_of<tfl::conv2d_options>(o, "Conv2DOptions");
        conv_form f;
        const int64_t kh = w.shape[1], kw = w.shape[2];
        f.O = w.shape[0];
        const int64_t I = w.shape[3];
        if (I < 1 || cin % I) invalid_op("filter " + detail::shape_str(w.shape) + " does not fit an input of " + std::to_string(cin) + " channels");
        f.group = static_cast<int32_t>(cin / I);
        if (w.quant && w.quant->axis > 0) bad_op("filter quantized along dimension " + std::to_string(w.quant->axis) + " (expected 0, the output channels)");
        f.wt = permuted(w, {f.O, I, kh, kw}, [&](std::size_t e) {  // OHWI -> OIHW
            const std::size_t i = e % I, r = e / I, xw = r % kw, r2 = r / kw, yh = r2 % kh, oo = r2 / kh;
            return ((oo * I + i) * kh + yh) * kw + xw;
        });
        f.pad = opt.pad;
        f.sh = opt.stride_h, f.sw = opt.stride_w, f.dh = opt.dilation_h_factor, f.dw = opt.dilation_w_factor;
        f.act = opt.fused_activation_function;
        return f;
    }

    /// DEPTHWISE_CONV_2D: the filter is 1HWO, one group per input channel.
    conv_form depthwise_filter(const tfl::op& o, const constant& w, int64_t cin) {
        const auto opt = options_of<tfl::depthwise_conv2d_options>(o, "DepthwiseConv2DOptions");
        conv_form f;
        const int64_t kh = w.shape[1], kw = w.shape[2];
        if (w.shape[0] != 1) invalid_op("filter: expected [1, H, W, O], found " + detail::shape_str(w.shape));
        const int64_t O = w.shape[3];
        f.O = O;
        if (O % cin) invalid_op("filter " + detail::shape_str(w.shape) + ": " + std::to_string(O) + " outputs are not a multiple of " + std::to_string(cin) + " input channels");
        f.group = static_cast<int32_t>(cin);
        if (w.quant && w.quant->axis >= 0 && w.quant->axis != 3) bad_op("filter quantized along dimension " + std::to_string(w.quant->axis) + " (expected 3, the output channels)");
        f.wt = permuted(w, {O, 1, kh, kw}, [&](std::size_t e) {  // 1HWO -> O1HW
            const std::size_t oo = e % O, r = e / O, xw = r % kw, yh = r / kw;
            return (oo * kh + yh) * kw + xw;
        });
        f.pad = opt.pad;
        f.sh = opt.stride_h, f.sw = opt.stride_w, f.dh = opt.dilation_h_factor, f.dw = opt.dilation_w_factor;
        f.act = opt.fused_activation_function;
        return f;
    }

    void conv_op(const tfl::op& o, int out, const std::vector<int64_t>&) {  // CONV_2D, DEPTHWISE_CONV_2D
        const int x = act_input(o, 0);
        const auto& xs = tensor_at(x, "input").shape;
        if (xs.size() != 4) bad_op("expected a 4-D NHWC input, found " + dims(xs));
        if (o.inputs.size() < 2 || o.inputs[1] < 0 || !is_const(o.inputs[1])) bad_op("the filter must be a constant tensor");
        const constant w = read_const(o.inputs[1], "filter");
        if (w.shape.size() != 4) invalid_op("filter: expected 4-D, found " + detail::shape_str(w.shape));
        conv_form f = o.builtin == tfl::builtin::DEPTHWISE_CONV_2D ? depthwise_filter(o, w, xs[3]) : conv_filter(o, w, xs[3]);
        if (f.wt.quant && f.wt.quant->axis >= 0) f.wt.quant->axis = 0;
        if (f.dh < 1 || f.dw < 1) invalid_op("dilation must be >= 1");
        node n;
        n.kind = op_kind::conv;
        n.inputs = {name_of(x), add_weight(std::move(f.wt), name_of(o.inputs[1]) + ":oihw"), add_bias(o.inputs.size() > 2 ? o.inputs[2] : -1, f.O)};
        if (n.inputs[2].empty()) n.inputs.pop_back();
        n.set_ints("kernel_shape", {w.shape[1], w.shape[2]});
        n.set_ints("strides", strides(f.sh, f.sw));
        n.set_ints("dilations", {f.dh, f.dw});
        n.set_ints("group", {f.group});
        n.set_string("auto_pad", f.pad == tfl::padding::same ? "SAME_UPPER" : "VALID");
        emit(std::move(n), out, f.act, true);
    }

    void pool_op(const tfl::op& o, int out, const std::vector<int64_t>&) {  // AVERAGE_POOL_2D, MAX_POOL_2D
        const auto opt = options_of<tfl::pool2d_options>(o, "Pool2DOptions");
        const int x = act_input(o, 0);
        const auto& xs = tensor_at(x, "input").shape;
        if (xs.size() != 4) bad_op("expected a 4-D NHWC input, found " + dims(xs));
        if (opt.filter_height < 1 || opt.filter_width < 1) invalid_op("filter size must be >= 1");
        const bool avg = o.builtin == tfl::builtin::AVERAGE_POOL_2D;
        node n;
        n.inputs = {name_of(x)};
        if (avg && opt.pad == tfl::padding::valid && opt.filter_height == xs[1] && opt.filter_width == xs[2]) {
            n.kind = op_kind::global_avg_pool;  // one window over the whole image
        } else {
            n.kind = avg ? op_kind::avg_pool : op_kind::max_pool;
            n.set_ints("kernel_shape", {opt.filter_height, opt.filter_width});
            n.set_ints("strides", strides(opt.stride_h, opt.stride_w));
            n.set_string("auto_pad", opt.pad == tfl::padding::same ? "SAME_UPPER" : "VALID");
            n.set_ints("count_include_pad", {0});  // TF averages over the valid pixels only
        }
        emit(std::move(n), out, opt.fused_activation_function, false);
    }

    void mean_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        const auto opt = options_of<tfl::reducer_options>(o, "ReducerOptions");
        const int x = act_input(o, 0);
        const auto& xs = tensor_at(x, "input").shape;
        if (xs.size() != 4) bad_op("expected a 4-D NHWC input, found " + dims(xs));
        std::vector<int64_t> axes;
        for (int32_t a : int_values(o.inputs.size() > 1 ? o.inputs[1] : -1, "the axes")) {
            if (a < -4 || a > 3) invalid_op("axis " + std::to_string(a) + " outside a rank-4 tensor");
            const int32_t nhwc_axis = a < 0 ? a + 4 : a;
            static const int64_t to_nchw[4] = {0, 2, 3, 1};
            axes.push_back(to_nchw[nhwc_axis]);
        }
        node n;
        n.kind = op_kind::reduce_mean;
        n.inputs = {name_of(x)};
        n.set_ints("axes", axes);
        n.set_ints("keepdims", {opt.keep_dims ? 1 : 0});
        emit(std::move(n), out, tfl::activation::none, false);
    }

    /// RESHAPE and SQUEEZE: an identity, or a flatten of an image to [N, K] (whose (h, w, c)
    /// column order is remembered for the FULLY_CONNECTED that reads it).
    void reshape_op(const tfl::op& o, int out, const std::vector<int64_t>& out_shape) {
        const int x = act_input(o, 0);
        const auto& xs = tensor_at(x, "input").shape;
        const std::vector<int64_t> in_nchw = nchw(xs);
        int64_t elems_in = 1, elems_out = 1;
        for (int64_t d : in_nchw) elems_in *= d;
        for (int64_t d : out_shape) elems_out *= d;
        if (elems_in != elems_out) invalid_op("reshapes " + dims(xs) + " to " + dims(tensor_at(out, "output").shape) + " (element counts differ)");
        node n;
        n.inputs = {name_of(x)};
        if (out_shape == in_nchw) {
            n.kind = op_kind::identity;
        } else if (out_shape.size() == 2) {
            n.kind = op_kind::flatten;
            n.set_ints("axis", {1});
            if (xs.size() == 4 && int64_t(xs[1]) * xs[2] > 1) nhwc_flat_[name_of(out)] = {xs[1], xs[2], xs[3]};
        } else {
            bad_op("reshapes " + dims(xs) + " to " + dims(tensor_at(out, "output").shape) + ": only flattening an image tensor to [N, K] is supported");
        }
        emit(std::move(n), out, tfl::activation::none, false);
    }

    /// TFLite flattens a FULLY_CONNECTED input itself; qint8 wants an explicit flatten node.
    /// Returns the flattened tensor's name.
    std::string flatten_input(const std::string& xin) {
        node f;
        f.kind = op_kind::flatten;
        f.name = xin + ":flatten";
        f.source_op = op_name_ + " input flatten";
        f.inputs = {xin};
        f.outputs = {xin + ":flat"};
        f.set_ints("axis", {1});
        g_.nodes.push_back(f);
        return f.outputs[0];
    }

    void fully_connected_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        const auto opt = options_of<tfl::fully_connected_options>(o, "FullyConnectedOptions");
        if (opt.weights_format != 0) bad_op("shuffled weights (weights_format " + std::to_string(opt.weights_format) + ") are not supported");
        const int x = act_input(o, 0);
        const auto& xs = tensor_at(x, "input").shape;
        if (o.inputs.size() < 2 || o.inputs[1] < 0 || !is_const(o.inputs[1])) bad_op("the weights must be a constant tensor");
        constant w = read_const(o.inputs[1], "weights");
        if (w.shape.size() != 2) invalid_op("weights: expected [O, K], found " + detail::shape_str(w.shape));
        if (w.quant && w.quant->axis > 0) bad_op("weights quantized along dimension " + std::to_string(w.quant->axis) + " (expected 0)");
        const int64_t O = w.shape[0], K = w.shape[1];
        std::string xin = name_of(x);
        int64_t elems = 1;
        for (int32_t d : xs) elems *= d;
        if (xs.empty() || elems / std::max<int64_t>(xs[0], 1) != K)
            invalid_op("input " + dims(xs) + " does not fit weights " + detail::shape_str(w.shape));
        auto hwc_it = nhwc_flat_.find(xin);
        std::vector<int64_t> hwc = hwc_it == nhwc_flat_.end() ? std::vector<int64_t>{} : hwc_it->second;
        if (xs.size() != 2) {
            if (xs.size() == 4 && int64_t(xs[1]) * xs[2] > 1) hwc = {xs[1], xs[2], xs[3]};
            xin = flatten_input(xin);
        }
        if (!hwc.empty()) {
            // Columns in (h, w, c) order -> (c, h, w), as qint8 flattens NCHW.
            const std::size_t H = static_cast<std::size_t>(hwc[0]), W = static_cast<std::size_t>(hwc[1]), C = static_cast<std::size_t>(hwc[2]);
            w = permuted(w, w.shape, [&](std::size_t e) {
                const std::size_t oo = e / K, col = e % K, c = col % C, r = col / C, ww = r % W, hh = r / W;
                return oo * K + (c * H + hh) * W + ww;
            });
        }
        node n;
        n.kind = op_kind::gemm;
        n.inputs = {xin, add_weight(std::move(w), name_of(o.inputs[1]) + ":ok"), add_bias(o.inputs.size() > 2 ? o.inputs[2] : -1, O)};
        if (n.inputs[2].empty()) n.inputs.pop_back();
        n.set_ints("transB", {1});
        emit(std::move(n), out, opt.fused_activation_function, true);
        // keep_num_dims: the file declares [.., 1, O] (e.g. [1, 1, 1, O] after a MEAN that
        // kept its dimensions); the values are the same [N, O].
        if (opt.keep_num_dims) declared_.erase(name_of(out));
    }

    void softmax_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        const auto opt = options_of<tfl::softmax_options>(o, "SoftmaxOptions");
        if (opt.beta != 1.f) bad_op("beta " + std::to_string(opt.beta) + " (only beta = 1 is supported)");
        const int x = act_input(o, 0);
        node n;
        n.kind = op_kind::softmax;
        n.inputs = {name_of(x)};
        n.set_ints("axis", {1});  // NHWC's last axis is NCHW's channel axis
        n.set_ints("coerce_2d", {0});
        emit(std::move(n), out, tfl::activation::none, false);
    }

    void pad_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        const int x = act_input(o, 0);
        const auto& xs = tensor_at(x, "input").shape;
        if (xs.size() != 4) bad_op("expected a 4-D NHWC input, found " + dims(xs));
        const auto p = int_values(o.inputs.size() > 1 ? o.inputs[1] : -1, "the paddings");
        if (p.size() != 8) invalid_op("paddings: expected [4, 2] values, found " + std::to_string(p.size()));
        if (p[0] || p[1] || p[6] || p[7]) bad_op("padding of the batch or channel dimension is not supported");
        for (int32_t v : p)
            if (v < 0) invalid_op("negative padding");
        node n;
        n.kind = op_kind::pad;
        n.inputs = {name_of(x)};
        n.set_ints("pads", {p[2], p[4], p[3], p[5]});  // [top, left, bottom, right]
        n.set_string("mode", "constant");
        n.set_float("value", 0.f);  // quantized: the zero point, i.e. real 0
        emit(std::move(n), out, tfl::activation::none, false);
    }

    void add_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        const auto opt = options_of<tfl::add_options>(o, "AddOptions");
        if (o.inputs.size() != 2) invalid_op("expected 2 inputs, found " + std::to_string(o.inputs.size()));
        node n;
        n.kind = op_kind::add;
        for (int s = 0; s < 2; ++s) {
            const int t = o.inputs[static_cast<std::size_t>(s)];
            tensor_at(t, "input");
            if (is_const(t)) {
                constant c = read_const(t, "addend");
                if (!c.floating) bad_op("constant addend '" + name_of(t) + "' holds integers without a quantization scale");
                // An NHWC per-channel vector [C] / [1,1,1,C] is NCHW's [C, 1, 1] broadcast.
                g_.constants[name_of(t)] = std::move(c);
            }
            n.inputs.push_back(name_of(t));
        }
        emit(std::move(n), out, opt.fused_activation_function, true);
    }

    void relu_op(const tfl::op& o, int out, const std::vector<int64_t>&) {  // RELU, RELU6, RELU_N1_TO_1
        const int x = act_input(o, 0);
        node n;
        n.kind = o.builtin == tfl::builtin::RELU ? op_kind::relu : op_kind::clip;
        if (o.builtin == tfl::builtin::RELU6) n.set_float("min", 0.f), n.set_float("max", 6.f);
        if (o.builtin == tfl::builtin::RELU_N1_TO_1) n.set_float("min", -1.f), n.set_float("max", 1.f);
        n.inputs = {name_of(x)};
        emit(std::move(n), out, tfl::activation::none, false);
    }

    void transpose_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        const int x = act_input(o, 0);
        if (!nchw_input_ || name_of(x) != g_.input)
            bad_op("only a TRANSPOSE of the NCHW graph input to NHWC (perm [0, 2, 3, 1], its only reader) is supported, found perm " +
                   detail::shape_str(transpose_perm(o)) + " on '" + name_of(x) + "'");
        node n;
        n.kind = op_kind::identity;  // qint8 is NCHW already
        n.inputs = {name_of(x)};
        emit(std::move(n), out, tfl::activation::none, false);
    }

    /// QUANTIZE / DEQUANTIZE of an activation: an identity whose quantization emit() records.
    /// DEQUANTIZE of a constant (float16 or int8 weights) becomes a float constant.
    void quantize_op(const tfl::op& o, int out, const std::vector<int64_t>&) {
        if (o.inputs.empty() || o.inputs[0] < 0) invalid_op("input 0 is missing");
        const int x = o.inputs[0];
        tensor_at(x, "input");
        if (is_const(x)) {
            if (o.builtin == tfl::builtin::QUANTIZE) bad_op("QUANTIZE of a constant");
            constant c = read_const(x, "dequantized constant");
            if (!c.floating) bad_op("'" + name_of(x) + "' holds integers without a quantization scale");
            c.elem = "float32";
            g_.constants[name_of(out)] = std::move(c);
            return;
        }
        node n;
        n.kind = op_kind::identity;
        n.inputs = {name_of(x)};
        emit(std::move(n), out, tfl::activation::none, false);
    }

    /// A handler gets the op, its output tensor and that tensor's NCHW shape.
    using op_handler = void (builder::*)(const tfl::op&, int, const std::vector<int64_t>&);

    /// builtin code -> handler; a code missing here is not supported.
    static const std::map<int32_t, op_handler>& op_handlers() {
        static const std::map<int32_t, op_handler> table = {
            {tfl::builtin::CONV_2D, &builder::conv_op},
            {tfl::builtin::DEPTHWISE_CONV_2D, &builder::conv_op},
            {tfl::builtin::AVERAGE_POOL_2D, &builder::pool_op},
            {tfl::builtin::MAX_POOL_2D, &builder::pool_op},
            {tfl::builtin::MEAN, &builder::mean_op},
            {tfl::builtin::RESHAPE, &builder::reshape_op},
            {tfl::builtin::SQUEEZE, &builder::reshape_op},
            {tfl::builtin::FULLY_CONNECTED, &builder::fully_connected_op},
            {tfl::builtin::SOFTMAX, &builder::softmax_op},
            {tfl::builtin::PAD, &builder::pad_op},
            {tfl::builtin::ADD, &builder::add_op},
            {tfl::builtin::RELU, &builder::relu_op},
            {tfl::builtin::RELU6, &builder::relu_op},
            {tfl::builtin::RELU_N1_TO_1, &builder::relu_op},
            {tfl::builtin::TRANSPOSE, &builder::transpose_op},
            {tfl::builtin::QUANTIZE, &builder::quantize_op},
            {tfl::builtin::DEQUANTIZE, &builder::quantize_op},
        };
        return table;
    }

    void map_op(std::size_t k) {
        const tfl::op& o = sg_->ops[k];
        op_index_ = k;
        op_name_ = tfl::builtin_name(o.builtin);
        if (o.builtin == tfl::builtin::CUSTOM) {
            const auto& code = m_.operator_codes.at(o.opcode_index);
            op_name_ = "CUSTOM " + code.custom_code;
        }
        if (o.outputs.size() != 1 || o.outputs[0] < 0) bad_op("expected one output, found " + std::to_string(o.outputs.size()));
        const int out = o.outputs[0];
        tensor_at(out, "output");
        const std::vector<int64_t> out_shape = nchw(tensor_at(out, "output").shape);
        const auto h = op_handlers().find(o.builtin);
        if (h == op_handlers().end()) bad_op(std::string("not supported; qint8 maps ") + supported_ops());
        if (o.builtin != tfl::builtin::FULLY_CONNECTED)
            for (int i : o.inputs)
                if (i >= 0 && nhwc_flat_.count(name_of(i))) bad_op("reads " + flat_order_problem(name_of(i)));
        (this->*(h->second))(o, out, out_shape);
    }

    /// A flattened H x W x C image (H x W > 1) is in TFLite's (h, w, c) order, qint8's flatten in
    /// (c, h, w) order. FULLY_CONNECTED permutes its weight columns to match; any other reader (or
    /// the model's output) would see the values in another order, a silently wrong answer.
    std::string flat_order_problem(const std::string& t) const {
        const auto& hwc = nhwc_flat_.at(t);
        return "'" + t + "', an image of " + std::to_string(hwc[0]) + " x " + std::to_string(hwc[1]) + " x " + std::to_string(hwc[2]) +
               " (H x W x C) flattened in TFLite's (h, w, c) order; qint8 flattens in (c, h, w) order, so only a FULLY_CONNECTED "
               "layer (whose weight columns are permuted to match) may read it";
    }

    /// The file's declared output shapes must agree with what the ops compute.
    void check_shapes() const {
        for (const auto& [t, declared] : declared_) {
            auto it = g_.shapes.find(t);
            if (it == g_.shapes.end()) continue;
            if (it->second != declared)
                detail::fail(errc::tflite, m_.origin + ": tensor '" + t + "': the file declares shape " + detail::shape_str(declared) +
                                                         " (NCHW), its operator computes " + detail::shape_str(it->second));
        }
    }
};

}  // namespace detail_tfl

/// The neutral graph of a parsed TFLite model (main subgraph).
inline import_graph from_model(const tfl::model& m) {
    detail_tfl::builder b(m);
    return b.build();
}

/// Reads and maps a .tflite file. Throws qint8::error naming the file (and the operator).
inline import_graph load(const std::string& path) { return from_model(tfl::read(path)); }

/// True when the file starts like a TFLite FlatBuffer (identifier "TFL3" at byte 4).
inline bool looks_like_tflite(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    char h[8] = {};
    if (!f.read(h, 8)) return false;
    return std::memcmp(h + 4, "TFL3", 4) == 0;
}

}  // namespace qint8::convert::tflite_frontend
