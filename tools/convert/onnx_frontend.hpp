#pragma once
// ONNX front end: reads a ModelProto and produces the neutral import_graph (import_graph.hpp),
// rejecting what qint8 cannot run with a message naming the node and its op type. Everything
// ONNX-specific (attribute defaults per opset, inputs that became attributes, tensor encodings,
// external data) is settled here, so the passes never see ONNX.

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <onnx/onnx_pb.h>

#include "convert/float16.hpp"
#include "convert/import_graph.hpp"
#include "convert/onnx_fold.hpp"

namespace qint8::convert::onnx_frontend {

/// The op types this front end accepts, as the "not supported" message lists them.
inline const char* supported_ops() {
    return "Conv, BatchNormalization, Relu, Clip, Add, Mul/Div by a constant, MaxPool, AveragePool, GlobalAveragePool, ReduceMean, "
           "Flatten, Reshape, Squeeze, Identity, Dropout, Gemm, MatMul, Softmax, Pad, QuantizeLinear, DequantizeLinear and Constant, "
           "plus any of Identity, Cast, Reshape, Squeeze, Unsqueeze, Flatten, Concat, Add, Sub, Mul, Div, Sqrt, Neg, Reciprocal, Shape, "
           "Gather, Transpose, ConstantOfShape on constant inputs (evaluated at import)";
}

namespace detail_onnx {

inline std::string dir_of(const std::string& p) {
    const auto s = p.find_last_of('/');
    return s == std::string::npos ? std::string() : p.substr(0, s + 1);
}

/// The bytes of an initializer stored outside the model file (ONNX external data).
inline std::string external_bytes(const onnx::TensorProto& t, const std::string& origin, const std::string& what) {
    std::string location;
    long long offset = 0, length = -1;
    for (const auto& kv : t.external_data()) {
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") offset = std::atoll(kv.value().c_str());
        else if (kv.key() == "length") length = std::atoll(kv.value().c_str());
    }
    if (location.empty() || location[0] == '/' || location.find("..") != std::string::npos)
        detail::fail(errc::onnx, origin + ": " + what + ": external data location: expected a relative path beside the model, found \"" + location + "\"");
    const std::string path = dir_of(origin) + location;
    std::ifstream f(path, std::ios::binary);
    if (!f) detail::fail(errc::io, path + ": cannot open the external data of " + what + " (" + std::strerror(errno) + ")");
    f.seekg(0, std::ios::end);
    const long long size = static_cast<long long>(f.tellg());
    if (length < 0) length = size - offset;
    if (offset < 0 || offset + length > size)
        detail::fail(errc::onnx, path + ": " + what + ": external data bytes " + std::to_string(offset) + ".." + std::to_string(offset + length) +
                                                 " run past the end of the file (" + std::to_string(size) + " bytes)");
    std::string bytes(static_cast<std::size_t>(length), '\0');
    f.seekg(offset);
    f.read(bytes.data(), length);
    if (!f) detail::fail(errc::io, path + ": read failed");
    return bytes;
}

inline const char* elem_name(int t) {
    switch (t) {
        case onnx::TensorProto::FLOAT: return "float32";
        case onnx::TensorProto::UINT8: return "uint8";
        case onnx::TensorProto::INT8: return "int8";
        case onnx::TensorProto::UINT16: return "uint16";
        case onnx::TensorProto::INT16: return "int16";
        case onnx::TensorProto::INT32: return "int32";
        case onnx::TensorProto::INT64: return "int64";
        case onnx::TensorProto::STRING: return "string";
        case onnx::TensorProto::BOOL: return "bool";
        case onnx::TensorProto::FLOAT16: return "float16";
        case onnx::TensorProto::DOUBLE: return "float64";
        default: return "an unsupported type";
    }
}

/// Decodes a TensorProto (raw little-endian bytes, typed fields or external data), checking
/// that the data holds exactly as many values as the dims say: a damaged file fails here.
inline constant decode(const onnx::TensorProto& t, const std::string& origin, const std::string& what) {
    constant c;
    for (int64_t d : t.dims()) {
        if (d < 0) detail::fail(errc::onnx, origin + ": " + what + ": negative dimension " + std::to_string(d));
        c.shape.push_back(d);
    }
    std::size_t n = 1;
    for (int64_t d : c.shape) {
        if (d != 0 && n > (std::size_t{1} << 40) / static_cast<std::size_t>(d))
            detail::fail(errc::onnx, origin + ": " + what + ": shape " + detail::shape_str(c.shape) + " is implausibly large");
        n *= static_cast<std::size_t>(d);
    }
    const int type = t.data_type();
    c.elem = elem_name(type);
    std::string ext;
    const bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
    if (external) ext = external_bytes(t, origin, what);
    const std::string& raw = external ? ext : t.raw_data();
    const bool use_raw = external || t.has_raw_data();
    std::size_t width = 0;
    switch (type) {
        case onnx::TensorProto::FLOAT: case onnx::TensorProto::INT32: width = 4; break;
        case onnx::TensorProto::DOUBLE: case onnx::TensorProto::INT64: width = 8; break;
        case onnx::TensorProto::UINT8: case onnx::TensorProto::INT8: case onnx::TensorProto::BOOL: width = 1; break;
        case onnx::TensorProto::FLOAT16: case onnx::TensorProto::INT16: case onnx::TensorProto::UINT16: width = 2; break;
        default:
            detail::fail(errc::unsupported, origin + ": " + what + ": element type " + c.elem + " (" + std::to_string(type) + ") is not supported");
    }
    auto count_mismatch = [&](std::size_t found) {
        detail::fail(errc::onnx, origin + ": " + what + ": shape " + detail::shape_str(c.shape) + " needs " + std::to_string(n) +
                                                 " values, the tensor holds " + std::to_string(found) + " (a truncated or damaged model?)");
    };
    c.floating = type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::DOUBLE || type == onnx::TensorProto::FLOAT16;
    // The values present are counted before anything is allocated for the shape: dimensions
    // claiming 2^38 values over a few bytes of data must not allocate a terabyte first.
    const std::size_t present = use_raw ? (raw.size() % width ? SIZE_MAX : raw.size() / width)
                                : type == onnx::TensorProto::FLOAT  ? static_cast<std::size_t>(t.float_data_size())
                                : type == onnx::TensorProto::DOUBLE ? static_cast<std::size_t>(t.double_data_size())
                                : type == onnx::TensorProto::INT64  ? static_cast<std::size_t>(t.int64_data_size())
                                                                    : static_cast<std::size_t>(t.int32_data_size());
    if (present != n) count_mismatch(use_raw ? raw.size() / width : present);
    if (c.floating) c.f.resize(n);
    else c.i.resize(n);
    if (use_raw) {
        const char* p = raw.data();
        for (std::size_t k = 0; k < n; ++k, p += width) {
            switch (type) {
                case onnx::TensorProto::FLOAT: { float v; std::memcpy(&v, p, 4); c.f[k] = v; break; }
                case onnx::TensorProto::DOUBLE: { double v; std::memcpy(&v, p, 8); c.f[k] = static_cast<float>(v); break; }
                case onnx::TensorProto::FLOAT16: { uint16_t v; std::memcpy(&v, p, 2); c.f[k] = half_to_float(v); break; }
                case onnx::TensorProto::INT32: { int32_t v; std::memcpy(&v, p, 4); c.i[k] = v; break; }
                case onnx::TensorProto::INT64: { int64_t v; std::memcpy(&v, p, 8); c.i[k] = v; break; }
                case onnx::TensorProto::INT16: { int16_t v; std::memcpy(&v, p, 2); c.i[k] = v; break; }
                case onnx::TensorProto::UINT16: { uint16_t v; std::memcpy(&v, p, 2); c.i[k] = v; break; }
                case onnx::TensorProto::INT8: c.i[k] = static_cast<int8_t>(*p); break;
                default: c.i[k] = static_cast<uint8_t>(*p); break;  // UINT8, BOOL
            }
        }
        return c;
    }
    switch (type) {
        case onnx::TensorProto::FLOAT:
            if (static_cast<std::size_t>(t.float_data_size()) != n) count_mismatch(static_cast<std::size_t>(t.float_data_size()));
            for (std::size_t k = 0; k < n; ++k) c.f[k] = t.float_data(static_cast<int>(k));
            break;
        case onnx::TensorProto::DOUBLE:
            if (static_cast<std::size_t>(t.double_data_size()) != n) count_mismatch(static_cast<std::size_t>(t.double_data_size()));
            for (std::size_t k = 0; k < n; ++k) c.f[k] = static_cast<float>(t.double_data(static_cast<int>(k)));
            break;
        case onnx::TensorProto::INT64:
            if (static_cast<std::size_t>(t.int64_data_size()) != n) count_mismatch(static_cast<std::size_t>(t.int64_data_size()));
            for (std::size_t k = 0; k < n; ++k) c.i[k] = t.int64_data(static_cast<int>(k));
            break;
        default:  // int32_data carries INT32, INT16, UINT16, INT8, UINT8, BOOL and FLOAT16 bits
            if (static_cast<std::size_t>(t.int32_data_size()) != n) count_mismatch(static_cast<std::size_t>(t.int32_data_size()));
            for (std::size_t k = 0; k < n; ++k) {
                const int32_t v = t.int32_data(static_cast<int>(k));
                if (type == onnx::TensorProto::FLOAT16) c.f[k] = half_to_float(static_cast<uint16_t>(v));
                else c.i[k] = v;
            }
            break;
    }
    return c;
}

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

}  // namespace detail_onnx

/// True when the graph input `input` is read by exactly one node, a Transpose with perm
/// [0, 3, 1, 2]: an NHWC input turned into NCHW (tf2onnx's form of a Keras model).
inline bool nhwc_input_transpose(const onnx::GraphProto& gp, const std::string& input) {
    int readers = 0;
    bool transpose = false;
    for (const auto& p : gp.node())
        for (const auto& i : p.input()) {
            if (i != input) continue;
            ++readers;
            if (p.op_type() != "Transpose" || p.input_size() != 1) continue;
            for (const auto& a : p.attribute())
                if (a.name() == "perm") transpose = std::vector<int64_t>(a.ints().begin(), a.ints().end()) == std::vector<int64_t>{0, 3, 1, 2};
        }
    return readers == 1 && transpose;
}

/// Converts a parsed ModelProto. `origin` (the file) prefixes every message.
inline import_graph from_model(const onnx::ModelProto& mp, const std::string& origin) {
    using detail_onnx::attrs;
    import_graph g;
    g.origin = origin;
    g.format = "onnx";
    g.producer = mp.producer_name() + (mp.producer_version().empty() ? "" : " " + mp.producer_version());
    if (!mp.has_graph() || mp.graph().node_size() == 0)
        detail::fail(errc::onnx, origin + ": not an ONNX model: expected a graph with nodes, found " +
                                                 (mp.has_graph() ? "an empty graph" : "no graph") + " (a truncated file, or not ONNX at all?)");
    int64_t opset = -1;
    for (const auto& o : mp.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    if (opset < 0)
        detail::fail(errc::onnx, origin + ": opset_import: expected an entry for the default ONNX domain, found none (a truncated or damaged model?)");
    if (opset < 7)
        detail::fail(errc::unsupported, origin + ": opset_import: expected opset 7 or newer, found " + std::to_string(opset) + " (re-export the model)");
    const onnx::GraphProto& gp = mp.graph();

    for (const auto& t : gp.initializer()) g.constants[t.name()] = detail_onnx::decode(t, origin, "initializer '" + t.name() + "'");

    // The activation input: graph inputs that are not initializers (old exporters list both).
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& v : gp.input())
        if (!g.constants.count(v.name())) inputs.push_back(&v);
    if (inputs.size() != 1) {
        std::string names;
        for (const auto* v : inputs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
        detail::fail(errc::unsupported, origin + ": graph inputs: expected one image input, found " + std::to_string(inputs.size()) +
                                            (names.empty() ? "" : " (" + names + ")"));
    }
    const onnx::ValueInfoProto& in = *inputs[0];
    g.input = in.name();
    if (!in.type().has_tensor_type() || in.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT)
        detail::fail(errc::unsupported, origin + ": input '" + g.input + "': expected a float32 tensor");
    const auto& dims = in.type().tensor_type().shape().dim();
    if (dims.size() != 4)
        detail::fail(errc::unsupported, origin + ": input '" + g.input + "': expected an NCHW image batch (4 dimensions), found " + std::to_string(dims.size()));
    // tf2onnx's form: an NHWC graph input whose only reader is Transpose(perm 0,3,1,2). qint8's
    // input is that Transpose's NCHW output; the Transpose becomes an identity below.
    const bool nhwc_input = nhwc_input_transpose(gp, g.input);
    const int order[4] = {0, nhwc_input ? 3 : 1, nhwc_input ? 1 : 2, nhwc_input ? 2 : 3};
    const char* names = nhwc_input ? "NHWC" : "NCHW";
    g.input_shape = {1};
    for (int k = 0; k < 4; ++k) {
        const auto& d = dims.Get(order[k]);
        const bool known = d.has_dim_value() && d.dim_value() > 0;
        if (k == 0) {
            g.input_batch = known ? d.dim_value() : -1;  // a named or missing batch is dynamic: fine
            continue;
        }
        if (!known)
            detail::fail(errc::unsupported, origin + ": input '" + g.input + "': dimension " + std::to_string(order[k]) + " (" + names[order[k]] +
                                                ") must be a fixed size, found " + (d.has_dim_param() ? "\"" + d.dim_param() + "\"" : std::string("none")));
        g.input_shape.push_back(d.dim_value());
    }
    if (gp.output_size() != 1)
        detail::fail(errc::unsupported, origin + ": graph outputs: expected one (the logits or probabilities), found " + std::to_string(gp.output_size()));
    g.output = gp.output(0).name();

    std::set<std::string> seen_names;
    onnx_fold::folder folder(
        g, opset, [&](const onnx::TensorProto& t, const std::string& what) { return detail_onnx::decode(t, origin, what); },
        [](int type) { return std::string(detail_onnx::elem_name(type)); });
    for (int k = 0; k < gp.node_size(); ++k) {
        const onnx::NodeProto& p = gp.node(k);
        node n;
        n.source_op = p.op_type();
        n.name = !p.name().empty() ? p.name() : p.output_size() ? p.output(0) : p.op_type() + "_" + std::to_string(k);
        n.inputs.assign(p.input().begin(), p.input().end());
        n.outputs.assign(p.output().begin(), p.output().end());
        if (!p.domain().empty() && p.domain() != "ai.onnx") {
            n.source_op = p.domain() + "." + p.op_type();
            unsupported(g, n, std::string("not supported; qint8 converts ") + supported_ops() + " (from the default ONNX domain)");
        }
        attrs a{g, n, p};
        const std::string& op = p.op_type();
        auto first_output_only = [&]() {
            for (int o = 1; o < p.output_size(); ++o)
                if (!p.output(o).empty()) {
                    bool used = false;
                    for (const auto& q : gp.node())
                        for (const auto& i : q.input()) used = used || i == p.output(o);
                    for (const auto& go : gp.output()) used = used || go.name() == p.output(o);
                    if (used) unsupported(g, n, "output " + std::to_string(o) + " ('" + p.output(o) + "') is used; only the first output is supported");
                }
            n.outputs.resize(1);
        };
        auto const_input = [&](std::size_t idx, const char* what) -> const constant* {
            if (idx >= n.inputs.size() || n.inputs[idx].empty()) return nullptr;
            const constant* c = g.find_const(n.inputs[idx]);
            if (!c) unsupported(g, n, std::string(what) + " '" + n.inputs[idx] + "' must be a constant (an initializer or a Constant node)");
            return c;
        };
        auto const_ints = [&](std::size_t idx, const char* what) {
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
        };
        auto window = [&](bool pool) {
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
        };

        if (op == "Constant") {
            constant c;
            if (const auto* v = a.find("value")) {
                if (v->type() != onnx::AttributeProto::TENSOR) invalid(g, n, "attribute value: expected a tensor");
                c = detail_onnx::decode(v->t(), origin, describe(n) + " value");
            } else if (const auto* vf = a.find("value_float")) {
                c.shape = {};
                c.f = {vf->f()};
            } else if (const auto* vfs = a.find("value_floats")) {
                c.f.assign(vfs->floats().begin(), vfs->floats().end());
                c.shape = {static_cast<int64_t>(c.f.size())};
            } else if (const auto* vi = a.find("value_int")) {
                c.floating = false;
                c.elem = "int64";
                c.i = {vi->i()};
            } else if (const auto* vis = a.find("value_ints")) {
                c.floating = false;
                c.elem = "int64";
                c.i.assign(vis->ints().begin(), vis->ints().end());
                c.shape = {static_cast<int64_t>(c.i.size())};
            } else {
                unsupported(g, n, "only tensor, float and integer constants are supported");
            }
            if (p.output_size() != 1) invalid(g, n, "expected one output");
            g.constants[p.output(0)] = std::move(c);
            continue;
        }
        if (folder.fold(p, n)) continue;
        if (op == "Conv") {
            n.kind = op_kind::conv;
            window(false);
            n.set_ints("group", {a.i("group", 1)});
        } else if (op == "BatchNormalization") {
            n.kind = op_kind::batch_norm;
            if (a.i("training_mode", 0)) unsupported(g, n, "training_mode = 1: export the model in eval mode");
            n.set_float("epsilon", a.f("epsilon", 1e-5f));
            first_output_only();
        } else if (op == "Relu") {
            n.kind = op_kind::relu;
        } else if (op == "Clip") {
            n.kind = op_kind::clip;
            if (opset < 11) {
                if (a.find("min")) n.set_float("min", a.f("min", 0.f));
                if (a.find("max")) n.set_float("max", a.f("max", 0.f));
            } else {
                if (const constant* c = const_input(1, "min")) n.set_float("min", static_cast<float>(c->at(0)));
                if (const constant* c = const_input(2, "max")) n.set_float("max", static_cast<float>(c->at(0)));
            }
            n.inputs.resize(1);
        } else if (op == "Add" || op == "Sum") {
            if (n.inputs.size() != 2) unsupported(g, n, "expected 2 inputs, found " + std::to_string(n.inputs.size()));
            n.kind = op_kind::add;
        } else if (op == "Mul" || op == "Div") {
            // x * c or x / c with c constant: a per-channel scale, folded into the conv before it.
            if (n.inputs.size() != 2) invalid(g, n, "expected 2 inputs, found " + std::to_string(n.inputs.size()));
            const bool c0 = g.is_const(n.inputs[0]), c1 = g.is_const(n.inputs[1]);
            if (!c1 && !(c0 && op == "Mul"))
                unsupported(g, n, op == "Mul" ? "multiplying two computed tensors is not supported (one factor must be a constant)"
                                              : "the divisor must be a constant");
            if (!c1) std::swap(n.inputs[0], n.inputs[1]);
            n.kind = op_kind::mul;
            n.set_ints("divide", {op == "Div" ? 1 : 0});
        } else if (op == "MaxPool" || op == "AveragePool") {
            n.kind = op == "MaxPool" ? op_kind::max_pool : op_kind::avg_pool;
            window(true);
            n.set_ints("ceil_mode", {a.i("ceil_mode", 0)});
            if (op == "MaxPool") {
                if (a.i("storage_order", 0)) unsupported(g, n, "storage_order = 1 is not supported");
                first_output_only();
            } else {
                n.set_ints("count_include_pad", {a.i("count_include_pad", 0)});
            }
        } else if (op == "GlobalAveragePool") {
            n.kind = op_kind::global_avg_pool;
        } else if (op == "ReduceMean") {
            n.kind = op_kind::reduce_mean;
            n.set_ints("axes", opset >= 18 && n.inputs.size() > 1 ? const_ints(1, "axes") : a.ints("axes", {}));
            n.set_ints("keepdims", {a.i("keepdims", 1)});
            n.inputs.resize(1);
        } else if (op == "Flatten") {
            n.kind = op_kind::flatten;
            n.set_ints("axis", {a.i("axis", 1)});
        } else if (op == "Reshape") {
            n.kind = op_kind::reshape;
            if (opset < 5) n.set_ints("shape", a.ints("shape", {}));
            else n.set_ints("shape", const_ints(1, "shape"));
            if (a.i("allowzero", 0)) {
                for (int64_t d : n.ints("shape"))
                    if (d == 0) unsupported(g, n, "allowzero = 1 with a 0 in the target shape");
            }
            n.inputs.resize(1);
        } else if (op == "Squeeze") {
            n.kind = op_kind::squeeze;
            n.set_ints("axes", opset >= 13 ? const_ints(1, "axes") : a.ints("axes", {}));
            n.inputs.resize(1);
        } else if (op == "Identity") {
            n.kind = op_kind::identity;
        } else if (op == "Dropout") {
            n.kind = op_kind::identity;  // inference: the identity
            if (opset >= 12 && n.inputs.size() > 2 && !n.inputs[2].empty()) {
                const constant* t = const_input(2, "training_mode");
                if (t && t->at(0) != 0) unsupported(g, n, "training_mode = true: export the model in eval mode");
            }
            n.inputs.resize(1);
            first_output_only();
        } else if (op == "Gemm") {
            n.kind = op_kind::gemm;
            n.set_float("alpha", a.f("alpha", 1.f));
            n.set_float("beta", a.f("beta", 1.f));
            n.set_ints("transA", {a.i("transA", 0)});
            n.set_ints("transB", {a.i("transB", 0)});
        } else if (op == "MatMul") {
            n.kind = op_kind::matmul;
        } else if (op == "Softmax") {
            n.kind = op_kind::softmax;
            // Before opset 13 Softmax flattened everything from `axis` (default 1) into one row.
            n.set_ints("coerce_2d", {opset < 13 ? 1 : 0});
            n.set_ints("axis", {a.i("axis", opset < 13 ? 1 : -1)});
        } else if (op == "Pad") {
            n.kind = op_kind::pad;
            const std::string mode = a.s("mode", "constant");
            if (mode != "constant") unsupported(g, n, "mode \"" + mode + "\": only constant (zero) padding is supported");
            std::vector<int64_t> pads;
            float value = 0.f;
            if (opset < 11) {
                pads = a.ints("pads", {});
                value = a.f("value", 0.f);
            } else {
                pads = const_ints(1, "pads");
                if (const constant* c = const_input(2, "constant_value"); c && c->elements()) value = static_cast<float>(c->at(0));
                if (n.inputs.size() > 3 && !n.inputs[3].empty()) unsupported(g, n, "the axes input is not supported");
            }
            if (pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5])
                unsupported(g, n, "expected 8 pads on an NCHW tensor padding H and W only, found " + detail::shape_str(pads));
            for (int64_t v : pads)
                if (v < 0) unsupported(g, n, "negative pads (cropping) are not supported, found " + detail::shape_str(pads));
            n.set_ints("pads", {pads[2], pads[3], pads[6], pads[7]});
            n.set_string("mode", mode);
            n.set_float("value", value);
            n.inputs.resize(1);
        } else if (op == "Transpose" && nhwc_input && n.inputs.size() == 1 && n.inputs[0] == g.input) {
            n.kind = op_kind::identity;  // NHWC -> NCHW of the graph input: qint8's input is NCHW already
        } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
            n.kind = op == "QuantizeLinear" ? op_kind::quantize : op_kind::dequantize;
            n.set_ints("axis", {a.i("axis", 1)});
            for (std::size_t k = 1; k < n.inputs.size(); ++k) const_input(k, k == 1 ? "scale" : "zero_point");
        } else {
            unsupported(g, n, std::string("not supported; qint8 converts ") + supported_ops());
        }
        if (n.outputs.size() != 1 || n.outputs[0].empty()) invalid(g, n, "expected one output");
        if (!seen_names.insert(n.name).second) n.name += "#" + std::to_string(k);  // names must tell nodes apart in messages
        g.nodes.push_back(std::move(n));
    }
    topo_sort(g);
    infer_shapes(g);
    return g;
}

/// Reads and converts an ONNX file. Errors name the file: unreadable, empty, not protobuf,
/// truncated (a cut inside a field fails to parse; a cut between fields leaves the graph or
/// opset list missing or a tensor short, which the checks above report).
inline import_graph load(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))  // opens, then reads as empty
        detail::fail(errc::io, path + ": is a directory, expected an ONNX or TFLite model file");
    std::ifstream f(path, std::ios::binary);
    if (!f) detail::fail(errc::io, path + ": cannot open for reading (" + std::strerror(errno) + ")");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) detail::fail(errc::io, path + ": read failed (" + std::strerror(errno) + ")");
    const std::string bytes = ss.str();
    if (bytes.empty()) detail::fail(errc::onnx, path + ": the file is empty, expected an ONNX model");
    onnx::ModelProto mp;
    if (bytes.size() > static_cast<std::size_t>(INT32_MAX))
        detail::fail(errc::unsupported, path + ": " + std::to_string(bytes.size()) + " bytes: models over 2 GB must keep their weights as ONNX external data");
    if (!mp.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
        detail::fail(errc::onnx, path + ": not a valid ONNX model: its " + std::to_string(bytes.size()) +
                                                 " bytes do not parse as an onnx.ModelProto (the file is truncated, damaged, or not ONNX)");
    return from_model(mp, path);
}

}  // namespace qint8::convert::onnx_frontend
