#pragma once
// ONNX QOperator graphs: what ONNX Runtime's quantize_static(quant_format=QOperator) writes and
// the ONNX Model Zoo's *-int8 files hold. QLinearConv and QLinearMatMul (default domain) and
// QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool (com.microsoft) pass
// integer tensors to each other, with QuantizeLinear / DequantizeLinear only at the edges.
//
// Before the front end maps any node, each of them is rewritten here into the QDQ form the
// converter already reads (passes.hpp, gather_qdq): a DequantizeLinear on every integer input,
// the float op, and a QuantizeLinear with the op's output scale and zero point. A QDQ graph
// describes the same integers, so nothing after this step knows which form the file had:
//
//   QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B)  ->  Q(Conv(DQ(x, xs, xz), DQ(w, ws, wz, axis 0),
//                                                       DQ(B, xs * ws, axis 0)), ys, yz)
//   QLinearMatMul(a, .., b, .., ys, yz)            ->  Q(Gemm(DQ(a), DQ(b^T, axis 0), transB = 1))
//                                                      (b transposed so that its integers stay
//                                                      the weight's integers, per output column)
//   QGemm(a, .., b, .., C, ys, yz), alpha          ->  Q(Gemm(DQ(a), DQ(b or b^T, alpha * bs, axis 0),
//                                                         DQ(C, as * alpha * bs)), ys, yz)
//                                                      (com.microsoft; no ys: the Gemm's float
//                                                      output is the node's)
//   QLinearAdd / QLinearMul(a, .., b, .., cs, cz)  ->  Q(Add / Mul(DQ(a), DQ(b)), cs, cz)
//   QLinear[Global]AveragePool(x, .., ys, yz)      ->  Q([Global]AveragePool(DQ(x)), ys, yz)
//
// Ops that move integers without changing their meaning (MaxPool, Reshape, Flatten, Squeeze,
// Unsqueeze, Identity) become DQ -> op -> Q with their input's quantization. Relu and Clip on an
// integer tensor clamp its codes, i.e. its real values at the codes' real values: they become a
// float Clip (or Relu) between the same DQ and Q, which the passes fold into the previous op's
// output range. A channels_last pool reads an NHWC tensor: qint8 is NCHW, so the Transpose
// (perm 0,2,3,1) feeding it is dropped and the Transpose (perm 0,3,1,2) after it becomes an
// identity; other layouts are refused.
//
// uint8 weights with a zero point: the manifest keeps a weight's integers as (w - zero point)
// in int8, exactly, when every one fits; a weight with a value outside that range cannot be
// kept exactly by int8 kernels and is refused here, naming the tensor (docs/converter.md).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include <qint8/convert/import_graph.hpp>

namespace qint8::convert::onnx_qop {

/// Decodes a TensorProto (the front end's decoder).
using decode_fn = std::function<constant(const onnx::TensorProto&, const std::string& what)>;

/// The QOperator op types rewritten here.
inline const std::set<std::string>& qlinear_ops() {
    static const std::set<std::string> ops{"QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool"};
    return ops;
}

/// True when the graph has a QOperator node (the only case where it is rewritten).
inline bool has_qoperator(const onnx::GraphProto& g) {
    for (const auto& p : g.node())
        if (qlinear_ops().count(p.op_type())) return true;
    return false;
}

namespace detail_qop {

/// The scale and zero point (names of constants; "" for an absent zero point) an integer tensor
/// was written with, and the integer type.
struct qparams {
    std::string scale, zero_point;
    std::string elem = "uint8";
};

/// Ops that only move integers: their output has their input's quantization.
inline const std::set<std::string>& moving_ops() {
    static const std::set<std::string> ops{"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    return ops;
}

inline std::vector<int64_t> ints_attr(const onnx::NodeProto& p, const char* name) {
    for (const auto& a : p.attribute())
        if (a.name() == name) return {a.ints().begin(), a.ints().end()};
    return {};
}

inline int64_t int_attr(const onnx::NodeProto& p, const char* name, int64_t dflt) {
    for (const auto& a : p.attribute())
        if (a.name() == name && a.type() == onnx::AttributeProto::INT) return a.i();
    return dflt;
}

class expander {
public:
    expander(onnx::GraphProto& g, int64_t opset, std::string origin, decode_fn decode) : g_(g), opset_(opset), origin_(std::move(origin)), decode_(std::move(decode)) {}

    void run() {
        for (const auto& t : g_.initializer()) tensors_[t.name()] = &t;
        for (int k = 0; k < g_.node_size(); ++k)
            for (const auto& i : g_.node(k).input()) readers_[i].push_back(k);
        relu6_ = all_ranges_relu6();
        for (int k = 0; k < g_.node_size(); ++k) rewrite(g_.node(k), k);
        g_.clear_node();
        for (auto& p : out_) *g_.add_node() = std::move(p);
    }

private:
    onnx::GraphProto& g_;
    int64_t opset_;
    std::string origin_;
    decode_fn decode_;
    std::map<std::string, const onnx::TensorProto*> tensors_;  ///< initializers and Constant values
    std::map<std::string, constant> decoded_;
    std::map<std::string, std::vector<int>> readers_;  ///< tensor -> indices of the nodes reading it
    std::map<std::string, qparams> quant_;            ///< integer tensor -> how it was quantized
    std::map<std::string, std::string> nchw_of_;      ///< dropped Transpose's NHWC output -> its NCHW input
    std::map<std::string, bool> channels_last_out_;   ///< a channels_last pool's output (NCHW here) -> global
    std::vector<onnx::NodeProto> out_;
    onnx::NodeProto* cur_ = nullptr;
    bool relu6_ = false;  ///< the implied activations are ReLU6 (see implied_activation)

    // --- messages --------------------------------------------------------------------------

    std::string label(const onnx::NodeProto& p) const { return !p.name().empty() ? p.name() : p.output_size() ? p.output(0) : p.op_type(); }
    std::string where() const { return origin_ + ": node '" + label(*cur_) + "' (op " + cur_->op_type() + "): "; }
    [[noreturn]] void bad(const std::string& what) const { detail::fail(errc::onnx, where() + what); }
    [[noreturn]] void refuse(const std::string& what) const { detail::fail(errc::unsupported, where() + what); }

    // --- constants -------------------------------------------------------------------------

    const constant* find_const(const std::string& name) {
        auto d = decoded_.find(name);
        if (d != decoded_.end()) return &d->second;
        auto t = tensors_.find(name);
        if (t == tensors_.end()) return nullptr;
        return &(decoded_[name] = decode_(*t->second, "initializer '" + name + "'"));
    }

    /// Input `idx` (called `role` in messages) as a constant; absent or computed is an error.
    const constant& need_const(int idx, const std::string& role) {
        const std::string name = idx < cur_->input_size() ? cur_->input(idx) : "";
        if (name.empty()) bad(role + " (input " + std::to_string(idx) + "): missing");
        const constant* c = find_const(name);
        if (!c) refuse(role + " '" + name + "': expected a constant (an initializer or a Constant node), found a computed tensor");
        return *c;
    }

    /// Checks scale input `s` and zero point input `z` (absent zero point: uint8 0); `count` is
    /// the number of values allowed besides 1 (per channel), 0 for per tensor only. Returns the
    /// integer type.
    std::string check_qparams(int s, int z, const std::string& role, std::size_t count) {
        const constant& sc = need_const(s, role + "_scale");
        if (!sc.floating || sc.elements() == 0) bad(role + "_scale '" + cur_->input(s) + "': expected float values, found " + sc.elem);
        if (sc.elements() != 1 && sc.elements() != count)
            bad(role + "_scale '" + cur_->input(s) + "': expected 1" + (count ? " or " + std::to_string(count) : std::string()) + " value(s), found " +
                std::to_string(sc.elements()));
        for (float v : sc.f)
            if (!std::isfinite(v) || !(v > 0.f)) bad(role + "_scale '" + cur_->input(s) + "': expected finite positive values, found " + std::to_string(v));
        if (z >= cur_->input_size() || cur_->input(z).empty()) return "uint8";
        const constant& zp = need_const(z, role + "_zero_point");
        if (zp.elem != "uint8" && zp.elem != "int8") bad(role + "_zero_point '" + cur_->input(z) + "': expected uint8 or int8, found " + zp.elem);
        if (zp.elements() != sc.elements())
            bad(role + "_zero_point '" + cur_->input(z) + "': " + std::to_string(zp.elements()) + " value(s) for " + std::to_string(sc.elements()) + " scale(s)");
        return zp.elem;
    }

    /// The integer activation input `x` at `idx` with its scale and zero point after it.
    void check_activation(int idx, const std::string& role) {
        const std::string name = idx < cur_->input_size() ? cur_->input(idx) : "";
        if (name.empty()) bad(role + " (input " + std::to_string(idx) + "): missing");
        const std::string elem = check_qparams(idx + 1, idx + 2, role, 0);
        auto q = quant_.find(name);
        if (q == quant_.end()) {
            if (const constant* c = find_const(name)) {  // a quantized constant operand (e.g. a QLinearAdd bias)
                if (c->elem != elem) bad(role + " '" + name + "': its values are " + c->elem + ", its zero point " + elem);
                return;
            }
            refuse(role + " '" + name + "': expected an integer tensor from QuantizeLinear or a QLinear op, found " +
                   (name == graph_input() ? "the float graph input" : "a tensor of another op"));
        }
        if (q->second.elem != elem)
            bad(role + "_zero_point: '" + name + "' holds " + q->second.elem + " values, the zero point '" +
                (idx + 2 < cur_->input_size() ? cur_->input(idx + 2) : "") + "' is " + elem);
    }

    std::string graph_input() const { return g_.input_size() ? g_.input(0).name() : ""; }

    /// A constant weight's integers less their zero point must fit int8 to be kept exactly.
    void check_weight(const constant& w, const constant* zp, int axis, const std::string& name) {
        if (w.floating || (w.elem != "int8" && w.elem != "uint8")) bad("weight '" + name + "': expected int8 or uint8 values, found " + w.elem);
        if (zp && zp->elem != w.elem) bad("weight '" + name + "': its values are " + w.elem + ", its zero point " + zp->elem);
        for (std::size_t e = 0; e < w.i.size(); ++e) {
            const std::size_t ch = zp && zp->elements() > 1 ? slice_of(w.shape, axis, e) : 0;
            const int64_t d = w.i[e] - (zp ? zp->i[ch] : 0);
            if (d < -128 || d > 127)
                refuse("weight '" + name + "': value " + std::to_string(w.i[e]) + " (element " + std::to_string(e) + ") less its zero point " +
                       std::to_string(zp ? zp->i[ch] : 0) + " is " + std::to_string(d) +
                       ", outside int8: qint8's int8 kernels cannot hold this weight exactly (re-quantize it with int8 weights, "
                       "or with uint8 weights whose zero point keeps w - zero point in -128..127)");
        }
    }

    // --- emitting --------------------------------------------------------------------------

    onnx::NodeProto& emit(const std::string& op, const std::string& name, std::vector<std::string> in, const std::string& out) {
        out_.emplace_back();
        onnx::NodeProto& p = out_.back();
        p.set_op_type(op);
        p.set_name(name);
        for (auto& i : in) p.add_input(i);
        p.add_output(out);
        return p;
    }

    std::string add_float(const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
        onnx::TensorProto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : shape) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
        tensors_[name] = t;
        return name;
    }

    /// An int32 [o] initializer holding `b`'s values (one value: broadcast along o).
    std::string add_int32(const std::string& name, std::size_t o, const constant& b) {
        std::vector<int32_t> v(o);
        for (std::size_t k = 0; k < o; ++k) v[k] = static_cast<int32_t>(b.i[b.elements() == 1 ? 0 : k]);
        onnx::TensorProto* t = g_.add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT32);
        t->add_dims(static_cast<int64_t>(v.size()));
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t)));
        tensors_[name] = t;
        return name;
    }

    /// DequantizeLinear of input `idx` of the current node (scale and zero point right after it).
    std::string dequantize(int idx, const std::string& role, int64_t axis = 1) {
        const std::string x = cur_->input(idx), out = label(*cur_) + "/" + role + "_dequantized";
        std::vector<std::string> in{x, cur_->input(idx + 1)};
        if (idx + 2 < cur_->input_size() && !cur_->input(idx + 2).empty()) in.push_back(cur_->input(idx + 2));
        auto& d = emit("DequantizeLinear", label(*cur_) + "/DequantizeLinear_" + role, in, out);
        if (axis != 1) {
            auto* a = d.add_attribute();
            a->set_name("axis");
            a->set_type(onnx::AttributeProto::INT);
            a->set_i(axis);
        }
        return out;
    }

    enum class range { linear, from_zero, zero_to_six };

    /// What the output range of a QLinearConv / QLinearAdd implies (see implied_activation);
    /// linear where its scale or zero point cannot be read (the op's checks report that).
    range output_range(const onnx::NodeProto& p, int s, int z) {
        if (s >= p.input_size() || z >= p.input_size()) return range::linear;
        const constant* sc = find_const(p.input(s));
        const constant* zp = find_const(p.input(z));
        if (!sc || !zp || !sc->floating || sc->f.size() != 1 || zp->i.size() != 1 || (zp->elem != "uint8" && zp->elem != "int8")) return range::linear;
        const double qmin = zp->elem == "int8" ? -128 : 0, qmax = qmin + 255, top = double(sc->f[0]) * (qmax - double(zp->i[0]));
        if (double(zp->i[0]) != qmin) return range::linear;
        return std::fabs(top - 6.0) < sc->f[0] / 2 ? range::zero_to_six : range::from_zero;
    }

    /// True when every output range starting at zero ends at 6: a ReLU6 network (MobileNet-V2).
    /// One range that happens to end at 6 in a ReLU network (a ResNet) does not make it ReLU6.
    bool all_ranges_relu6() {
        std::size_t six = 0, zero = 0;
        for (const auto& p : g_.node()) {
            const bool conv = p.op_type() == "QLinearConv", add = p.op_type() == "QLinearAdd";
            if (!conv && !add) continue;
            const range r = output_range(p, 6, 7);
            zero += r != range::linear;
            six += r == range::zero_to_six;
        }
        return zero > 0 && six == zero;
    }

    /// The activation an exporter folded into the output range (ONNX Runtime drops a Relu or
    /// Clip(0, 6) whose effect the output's saturation already has): a zero point at the type's
    /// minimum clamps at 0, and in a network where every such range ends at 6 (to within half
    /// a step) at 6 too.
    /// Making it explicit changes no integer (the QuantizeLinear after it saturates the same
    /// values) but lets the passes fuse it and recognition see the family's ReLU / ReLU6.
    /// Returns the tensor to quantize.
    std::string implied_activation(int s, int z) {
        const std::string real = cur_->output(0) + "/real";
        if (output_range(*cur_, s, z) == range::linear) return real;
        const std::string out = real + "_activated";
        if (relu6_) {
            auto& c = emit("Clip", label(*cur_) + "/implied_relu6", {real}, out);
            if (opset_ >= 11) {
                c.add_input(add_float(label(*cur_) + "/relu6_min", {}, {0.f}));
                c.add_input(add_float(label(*cur_) + "/relu6_max", {}, {6.f}));
            } else {
                for (const auto& [name, v] : {std::pair<const char*, float>{"min", 0.f}, {"max", 6.f}}) {
                    auto* a = c.add_attribute();
                    a->set_name(name);
                    a->set_type(onnx::AttributeProto::FLOAT);
                    a->set_f(v);
                }
            }
        } else {
            emit("Relu", label(*cur_) + "/implied_relu", {real}, out);
        }
        return out;
    }

    /// An operand of QLinearAdd / QLinearMul: DequantizeLinear of a tensor, or the real values
    /// of a quantized constant (Mul by a constant must see a constant when the node is mapped).
    std::string operand(int idx, const std::string& role) {
        const constant* c = find_const(cur_->input(idx));
        if (!c) return dequantize(idx, role);
        if (c->floating) bad(role + " '" + cur_->input(idx) + "': expected quantized (integer) values, found " + c->elem);
        const float s = find_const(cur_->input(idx + 1))->f[0];
        const constant* z = idx + 2 < cur_->input_size() && !cur_->input(idx + 2).empty() ? find_const(cur_->input(idx + 2)) : nullptr;
        std::vector<float> v(c->i.size());
        for (std::size_t k = 0; k < v.size(); ++k) v[k] = s * static_cast<float>(c->i[k] - (z ? z->i[0] : 0));
        return add_float(label(*cur_) + "/" + role + "_real", c->shape, v);
    }

    /// QuantizeLinear of `real` into the current node's output with scale / zero point inputs
    /// `s`, `z` of the current node.
    void quantize(const std::string& real, int s, int z, const std::string& elem) {
        std::vector<std::string> in{real, cur_->input(s)};
        if (z < cur_->input_size() && !cur_->input(z).empty()) in.push_back(cur_->input(z));
        emit("QuantizeLinear", label(*cur_) + "/QuantizeLinear", in, cur_->output(0));
        quant_[cur_->output(0)] = {cur_->input(s), in.size() > 2 ? in[2] : "", elem};
    }

    /// The float op itself: the node's name, its attributes except `drop`, output `<y>/real`.
    onnx::NodeProto& float_op(const std::string& op, std::vector<std::string> in, const std::set<std::string>& drop = {}) {
        auto& p = emit(op, label(*cur_), std::move(in), cur_->output(0) + "/real");
        for (const auto& a : cur_->attribute())
            if (!drop.count(a.name())) *p.add_attribute() = a;
        return p;
    }

    void need_inputs(int n) {
        if (cur_->input_size() < n) bad("expected " + std::to_string(n) + " inputs, found " + std::to_string(cur_->input_size()));
        if (cur_->output_size() != 1) bad("expected one output, found " + std::to_string(cur_->output_size()));
    }

    // --- the ops ---------------------------------------------------------------------------

    void conv() {
        need_inputs(8);
        check_activation(0, "x");
        const constant& w = need_const(3, "w");
        if (w.shape.size() != 4) bad("w '" + cur_->input(3) + "': expected 4 dimensions [O, C/group, kh, kw], found " + detail::shape_str(w.shape));
        const std::size_t o = static_cast<std::size_t>(w.shape[0]);
        check_qparams(4, 5, "w", o);
        check_weight(w, cur_->input(5).empty() ? nullptr : find_const(cur_->input(5)), 0, cur_->input(3));
        const std::string yelem = check_qparams(6, 7, "y", 0);
        std::vector<std::string> in{dequantize(0, "x"), dequantize(3, "w", 0)};
        if (cur_->input_size() > 8 && !cur_->input(8).empty()) in.push_back(bias(o));
        float_op("Conv", in);
        quantize(implied_activation(6, 7), 6, 7, yelem);
    }

    /// The int32 bias at input `idx` ([O]; with `broadcast`, also one value or [1, O], as
    /// QGemm's C may be) at scale x_scale * w_scale[o] (`w_scale` the weight's scale input),
    /// zero point 0: DequantizeLinear of it.
    std::string bias(std::size_t o, int idx = 8, const std::string& w_scale = "", bool broadcast = false) {
        const std::string role = idx == 8 ? "B" : "C";
        const constant& b = need_const(idx, role);
        std::string values = cur_->input(idx);
        const bool row = b.shape.size() == 2 && b.shape[0] == 1 && b.elements() == o, one = b.elements() == 1 && b.shape.size() <= 2;
        if (b.elem != "int32" || !((b.shape.size() == 1 && b.elements() == o) || (broadcast && (row || one))))
            bad(role + " '" + cur_->input(idx) + "': expected int32 [" + std::to_string(o) + "]" + (broadcast ? ", [1, " + std::to_string(o) + "] or one value" : "") +
                ", found " + b.elem + " " + detail::shape_str(b.shape));
        if (b.shape.size() != 1 || b.elements() != o) values = add_int32(label(*cur_) + "/" + role + "_per_channel", o, b);
        const float xs = find_const(cur_->input(1))->f[0];
        const constant& ws = *find_const(w_scale.empty() ? cur_->input(4) : w_scale);
        std::vector<float> s(ws.f.size());
        for (std::size_t k = 0; k < s.size(); ++k) s[k] = xs * ws.f[k];  // float, as ONNX Runtime forms the bias scale
        const std::string scale = add_float(label(*cur_) + "/" + role + "_scale", s.size() == 1 ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(o)}, s);
        const std::string out = label(*cur_) + "/" + role + "_dequantized";
        auto& d = emit("DequantizeLinear", label(*cur_) + "/DequantizeLinear_" + role, {values, scale}, out);
        auto* a = d.add_attribute();
        a->set_name("axis");
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(0);
        return out;
    }

    /// A constant [K, O] integer matrix as an [O, K] initializer of its type, so that a weight
    /// keeps its integers per output row.
    std::string transposed(const constant& b, const std::string& role) {
        const int64_t k = b.shape[0], o = b.shape[1];
        onnx::TensorProto* t = g_.add_initializer();
        t->set_name(label(*cur_) + "/" + role + "_transposed");
        t->set_data_type(b.elem == "int8" ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8);
        t->add_dims(o);
        t->add_dims(k);
        std::string raw(static_cast<std::size_t>(o * k), '\0');
        for (int64_t r = 0; r < o; ++r)
            for (int64_t c = 0; c < k; ++c) raw[static_cast<std::size_t>(r * k + c)] = static_cast<char>(static_cast<uint8_t>(b.i[static_cast<std::size_t>(c * o + r)]));
        t->set_raw_data(raw);
        tensors_[t->name()] = t;
        return t->name();
    }

    /// DequantizeLinear (axis 0) of an [O, K] weight `w` with scale input `scale` and zero point
    /// input `zp` ("" for none), read by a Gemm with transB = 1 (`in` are its other inputs).
    void gemm_of(const std::string& w, const std::string& scale, const std::string& zp, std::vector<std::string> in, const std::string& role) {
        std::vector<std::string> din{w, scale};
        if (!zp.empty()) din.push_back(zp);
        const std::string wd = label(*cur_) + "/" + role + "_dequantized";
        auto& d = emit("DequantizeLinear", label(*cur_) + "/DequantizeLinear_" + role, din, wd);
        auto* a = d.add_attribute();
        a->set_name("axis");
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(0);
        in.insert(in.begin() + 1, wd);
        auto& gemm = float_op("Gemm", in, {"alpha", "beta", "transA", "transB"});
        auto* tb = gemm.add_attribute();
        tb->set_name("transB");
        tb->set_type(onnx::AttributeProto::INT);
        tb->set_i(1);
    }

    /// QGemm (com.microsoft): A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp; attributes
    /// alpha, transA, transB. Y = alpha * a_scale * b_scale * ((A - a_zp)(B' - b_zp) + C), C in
    /// int32 at a_scale * b_scale; quantized with y_scale / y_zp, float when they are absent.
    /// alpha goes into the weight's scale (the integers stay the file's).
    void qgemm() {
        need_inputs(6);
        if (int_attr(*cur_, "transA", 0) != 0) refuse("transA = 1: expected A as [batch, K] activations (transA = 0)");
        check_activation(0, "a");
        const constant& b = need_const(3, "b");
        if (b.shape.size() != 2) refuse("b '" + cur_->input(3) + "': expected a 2-D weight, found " + detail::shape_str(b.shape));
        const bool tb = int_attr(*cur_, "transB", 0) != 0;
        const int64_t o = tb ? b.shape[0] : b.shape[1];
        check_qparams(4, 5, "b", static_cast<std::size_t>(o));
        const std::string zp = cur_->input(5);
        check_weight(b, zp.empty() ? nullptr : find_const(zp), tb ? 0 : 1, cur_->input(3));
        const float alpha = float_attr("alpha", 1.f);
        if (!std::isfinite(alpha) || !(alpha > 0.f)) refuse("alpha: expected a finite positive value, found " + std::to_string(alpha));
        const bool quantized = cur_->input_size() > 7 && !cur_->input(7).empty();
        const std::string yelem = quantized ? check_qparams(7, 8, "y", 0) : "";
        std::string scale = cur_->input(4);
        if (alpha != 1.f) {
            const constant& bs = *find_const(scale);
            std::vector<float> v(bs.f.size());
            for (std::size_t k = 0; k < v.size(); ++k) v[k] = alpha * bs.f[k];
            scale = add_float(label(*cur_) + "/alpha_b_scale", bs.shape, v);
        }
        std::vector<std::string> in{dequantize(0, "a")};
        if (cur_->input_size() > 6 && !cur_->input(6).empty()) in.push_back(bias(static_cast<std::size_t>(o), 6, scale, true));
        gemm_of(tb ? cur_->input(3) : transposed(b, "b"), scale, zp, in, "b");
        if (quantized) quantize(implied_activation(7, 8), 7, 8, yelem);
        else out_.back().set_output(0, cur_->output(0));  // the Gemm's real output is the node's
    }

    float float_attr(const char* name, float dflt) const {
        for (const auto& a : cur_->attribute())
            if (a.name() == name && a.type() == onnx::AttributeProto::FLOAT) return a.f();
        return dflt;
    }

    /// QLinearMatMul with a constant [K, O] b: a Gemm whose weight is b transposed.
    void matmul() {
        need_inputs(8);
        check_activation(0, "a");
        const constant& b = need_const(3, "b");
        if (b.shape.size() != 2) refuse("b '" + cur_->input(3) + "': expected a 2-D [K, O] weight, found " + detail::shape_str(b.shape));
        const int64_t o = b.shape[1];
        check_qparams(4, 5, "b", static_cast<std::size_t>(o));
        const constant* zp = cur_->input(5).empty() ? nullptr : find_const(cur_->input(5));
        check_weight(b, zp, 1, cur_->input(3));
        const std::string yelem = check_qparams(6, 7, "y", 0);
        gemm_of(transposed(b, "b"), cur_->input(4), zp ? cur_->input(5) : "", {dequantize(0, "a")}, "b");
        quantize(cur_->output(0) + "/real", 6, 7, yelem);
    }

    /// QLinearAdd / QLinearMul (com.microsoft): A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp.
    void binary(const std::string& op) {
        need_inputs(7);
        check_activation(0, "A");
        check_activation(3, "B");
        const std::string elem = check_qparams(6, 7, "C", 0);
        float_op(op, {operand(0, "A"), operand(3, "B")});
        quantize(op == "Add" ? implied_activation(6, 7) : cur_->output(0) + "/real", 6, 7, elem);
    }

    /// QLinearGlobalAveragePool / QLinearAveragePool (com.microsoft): X, x_scale, x_zp, y_scale, y_zp.
    void pool(bool global) {
        need_inputs(4);
        const bool nhwc = int_attr(*cur_, "channels_last", 0) != 0;
        if (nhwc) {
            auto it = nchw_of_.find(cur_->input(0));
            if (it == nchw_of_.end())
                refuse("channels_last = 1: qint8 is NCHW and takes an NHWC pool input only as a Transpose (perm 0,2,3,1) of an NCHW tensor, "
                       "read by channels_last pools alone; '" + cur_->input(0) + "' is not one");
            cur_->set_input(0, it->second);  // the pool reads the NCHW tensor itself
        }
        check_activation(0, "x");
        const std::string elem = check_qparams(3, 4, "y", 0);
        float_op(global ? "GlobalAveragePool" : "AveragePool", {dequantize(0, "x")}, {"channels_last"});
        quantize(cur_->output(0) + "/real", 3, 4, elem);
        if (nhwc) channels_last_out_[cur_->output(0)] = global;
    }

    /// Relu / Clip on integers clamps codes: a float Clip at those codes' real values.
    void activation() {
        const std::string x = cur_->input(0);
        const qparams q = quant_.at(x);
        const constant* s = find_const(q.scale);
        const constant* z = q.zero_point.empty() ? nullptr : find_const(q.zero_point);
        if (!s || !s->floating || s->f.size() != 1 || (z && (z->floating || z->i.size() != 1)) || (!z && !q.zero_point.empty()))
            refuse("reads '" + x + "', whose quantization ('" + q.scale + "', '" + q.zero_point + "') is not a constant per-tensor scale and integer zero point");
        const double scale = s->f[0], zp = z ? double(z->i[0]) : 0.0;
        const double qmin = q.elem == "int8" ? -128 : 0, qmax = q.elem == "int8" ? 127 : 255;
        double lo = std::max(0.0, qmin), hi = qmax;  // Relu: codes below 0 become 0
        if (cur_->op_type() == "Clip") {
            lo = qmin;
            if (opset_ >= 11) {
                if (cur_->input_size() > 1 && !cur_->input(1).empty()) lo = need_const(1, "min").at(0);
                if (cur_->input_size() > 2 && !cur_->input(2).empty()) hi = need_const(2, "max").at(0);
            }
        }
        std::vector<std::string> in{pass_dequantize(x, q)};
        std::string op = "Identity";
        if (lo > qmin || hi < qmax) {
            op = "Clip";
            in.push_back(add_float(label(*cur_) + "/min", {}, {static_cast<float>(scale * (std::max(lo, qmin) - zp))}));
            in.push_back(add_float(label(*cur_) + "/max", {}, {static_cast<float>(scale * (std::min(hi, qmax) - zp))}));
        }
        if (op == "Clip" && opset_ < 11) refuse("a Clip of integers needs opset 11 or newer (its bounds as inputs)");
        emit(op, label(*cur_), in, cur_->output(0) + "/real");
        pass_quantize(cur_->output(0) + "/real", q);
    }

    std::string pass_dequantize(const std::string& x, const qparams& q) {
        std::vector<std::string> in{x, q.scale};
        if (!q.zero_point.empty()) in.push_back(q.zero_point);
        const std::string out = label(*cur_) + "/x_dequantized";
        emit("DequantizeLinear", label(*cur_) + "/DequantizeLinear_x", in, out);
        return out;
    }

    void pass_quantize(const std::string& real, const qparams& q) {
        std::vector<std::string> in{real, q.scale};
        if (!q.zero_point.empty()) in.push_back(q.zero_point);
        emit("QuantizeLinear", label(*cur_) + "/QuantizeLinear", in, cur_->output(0));
        quant_[cur_->output(0)] = q;
    }

    /// MaxPool, Reshape, ... of an integer tensor: the same op on its real values.
    void moving(const onnx::NodeProto& p) {
        const qparams q = quant_.at(p.input(0));
        onnx::NodeProto f = p;
        f.set_input(0, pass_dequantize(p.input(0), q));
        for (int o = 1; o < f.output_size(); ++o) f.set_output(o, "");  // MaxPool's indices are not integers of x
        f.set_output(0, p.output(0) + "/real");
        out_.push_back(std::move(f));
        pass_quantize(p.output(0) + "/real", q);
    }

    /// Transpose (0,2,3,1) of an integer tensor read only by channels_last pools: dropped.
    bool nhwc_transpose(const onnx::NodeProto& p) {
        if (p.op_type() != "Transpose" || p.input_size() != 1 || !quant_.count(p.input(0)) || ints_attr(p, "perm") != std::vector<int64_t>{0, 2, 3, 1})
            return false;
        const auto r = readers_.find(p.output(0));
        if (r == readers_.end()) return false;
        for (int k : r->second) {
            const onnx::NodeProto& c = g_.node(k);
            if ((c.op_type() != "QLinearAveragePool" && c.op_type() != "QLinearGlobalAveragePool") || int_attr(c, "channels_last", 0) == 0 || c.input(0) != p.output(0))
                return false;
        }
        nchw_of_[p.output(0)] = p.input(0);
        quant_[p.output(0)] = quant_.at(p.input(0));
        return true;
    }

    /// A reader of a channels_last pool's output: Transpose (0,3,1,2) becomes an identity; after
    /// a global pool (1 x 1 pixels, the same values in either layout) Flatten and Reshape too.
    void channels_last_reader(onnx::NodeProto& p) {
        for (const auto& i : p.input()) {
            auto it = channels_last_out_.find(i);
            if (it == channels_last_out_.end()) continue;
            if (p.op_type() == "Transpose" && ints_attr(p, "perm") == std::vector<int64_t>{0, 3, 1, 2}) {
                p.set_op_type("Identity");
                p.clear_attribute();
                return;
            }
            if (it->second && (p.op_type() == "Flatten" || p.op_type() == "Reshape")) return;
            refuse("reads '" + i + "', the NHWC output of a channels_last pool: qint8 takes it only through a Transpose (perm 0,3,1,2)" +
                   std::string(it->second ? ", a Flatten or a Reshape" : ""));
        }
    }

    void rewrite(const onnx::NodeProto& src, int) {
        onnx::NodeProto p = src;
        cur_ = &p;
        if (p.op_type() == "Constant" && p.output_size() == 1) {
            for (const auto& a : src.attribute())  // src lives in the graph until run() ends
                if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) tensors_[p.output(0)] = &a.t();
            out_.push_back(std::move(p));
            return;
        }
        if (p.op_type() == "QuantizeLinear" && p.input_size() >= 2 && p.output_size() >= 1) {
            const constant* z = p.input_size() > 2 && !p.input(2).empty() ? find_const(p.input(2)) : nullptr;
            quant_[p.output(0)] = {p.input(1), p.input_size() > 2 ? p.input(2) : "", z ? z->elem : "uint8"};
            out_.push_back(std::move(p));
            return;
        }
        if (nhwc_transpose(p)) return;
        channels_last_reader(p);
        const std::string& op = p.op_type();
        if (op == "QLinearConv") conv();
        else if (op == "QLinearMatMul") matmul();
        else if (op == "QGemm") qgemm();
        else if (op == "QLinearAdd") binary("Add");
        else if (op == "QLinearMul") binary("Mul");
        else if (op == "QLinearGlobalAveragePool") pool(true);
        else if (op == "QLinearAveragePool") pool(false);
        else if ((op == "Relu" || op == "Clip") && p.input_size() >= 1 && quant_.count(p.input(0))) activation();
        else if (moving_ops().count(op) && p.input_size() >= 1 && quant_.count(p.input(0))) moving(p);
        else out_.push_back(std::move(p));
    }
};

}  // namespace detail_qop

/// Rewrites the QOperator nodes of `mp`'s graph into QDQ form (see the header comment); `opset`
/// is the default domain's. Errors name `origin` and the node.
inline void expand(onnx::ModelProto& mp, int64_t opset, const std::string& origin, decode_fn decode) {
    detail_qop::expander(*mp.mutable_graph(), opset, origin, std::move(decode)).run();
}

}  // namespace qint8::convert::onnx_qop
