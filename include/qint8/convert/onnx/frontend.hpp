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

#include <qint8/convert/float16.hpp>
#include <qint8/convert/import_graph.hpp>
#include <qint8/convert/onnx/fold.hpp>
#include <qint8/convert/onnx/ops.hpp>
#include <qint8/convert/onnx/qoperator.hpp>

namespace qint8::convert::onnx_frontend {

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

[[noreturn]] inline void count_mismatch(const constant& c, std::size_t n, std::size_t found, const std::string& origin, const std::string& what) {
    detail::fail(errc::onnx, origin + ": " + what + ": shape " + detail::shape_str(c.shape) + " needs " + std::to_string(n) +
                                             " values, the tensor holds " + std::to_string(found) + " (a truncated or damaged model?)");
}

/// The tensor's dims into c.shape, checked; returns the element count.
inline std::size_t decode_shape(constant& c, const onnx::TensorProto& t, const std::string& origin, const std::string& what) {
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
    return n;
}

/// Bytes per element of a supported element type.
inline std::size_t element_width(int type, const constant& c, const std::string& origin, const std::string& what) {
    switch (type) {
        case onnx::TensorProto::FLOAT: case onnx::TensorProto::INT32: return 4;
        case onnx::TensorProto::DOUBLE: case onnx::TensorProto::INT64: return 8;
        case onnx::TensorProto::UINT8: case onnx::TensorProto::INT8: case onnx::TensorProto::BOOL: return 1;
        case onnx::TensorProto::FLOAT16: case onnx::TensorProto::INT16: case onnx::TensorProto::UINT16: return 2;
        default:
            detail::fail(errc::unsupported, origin + ": " + what + ": element type " + c.elem + " (" + std::to_string(type) + ") is not supported");
    }
}

/// Little-endian raw bytes (raw_data or external data) -> values; the count is checked already.
inline void decode_raw(constant& c, int type, const std::string& raw, std::size_t n, std::size_t width) {
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
}

/// The typed repeated fields (float_data, double_data, int64_data, int32_data) -> values.
inline void decode_typed(constant& c, const onnx::TensorProto& t, int type, std::size_t n, const std::string& origin, const std::string& what) {
    switch (type) {
        case onnx::TensorProto::FLOAT:
            if (static_cast<std::size_t>(t.float_data_size()) != n) count_mismatch(c, n, static_cast<std::size_t>(t.float_data_size()), origin, what);
            for (std::size_t k = 0; k < n; ++k) c.f[k] = t.float_data(static_cast<int>(k));
            break;
        case onnx::TensorProto::DOUBLE:
            if (static_cast<std::size_t>(t.double_data_size()) != n) count_mismatch(c, n, static_cast<std::size_t>(t.double_data_size()), origin, what);
            for (std::size_t k = 0; k < n; ++k) c.f[k] = static_cast<float>(t.double_data(static_cast<int>(k)));
            break;
        case onnx::TensorProto::INT64:
            if (static_cast<std::size_t>(t.int64_data_size()) != n) count_mismatch(c, n, static_cast<std::size_t>(t.int64_data_size()), origin, what);
            for (std::size_t k = 0; k < n; ++k) c.i[k] = t.int64_data(static_cast<int>(k));
            break;
        default:  // int32_data carries INT32, INT16, UINT16, INT8, UINT8, BOOL and FLOAT16 bits
            if (static_cast<std::size_t>(t.int32_data_size()) != n) count_mismatch(c, n, static_cast<std::size_t>(t.int32_data_size()), origin, what);
            for (std::size_t k = 0; k < n; ++k) {
                const int32_t v = t.int32_data(static_cast<int>(k));
                if (type == onnx::TensorProto::FLOAT16) c.f[k] = half_to_float(static_cast<uint16_t>(v));
                else c.i[k] = v;
            }
            break;
    }
}

/// Decodes a TensorProto (raw little-endian bytes, typed fields or external data), checking
/// that the data holds exactly as many values as the dims say: a damaged file fails here.
inline constant decode(const onnx::TensorProto& t, const std::string& origin, const std::string& what) {
    constant c;
    const std::size_t n = decode_shape(c, t, origin, what);
    const int type = t.data_type();
    c.elem = elem_name(type);
    std::string ext;
    const bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
    if (external) ext = external_bytes(t, origin, what);
    const std::string& raw = external ? ext : t.raw_data();
    const bool use_raw = external || t.has_raw_data();
    const std::size_t width = element_width(type, c, origin, what);
    c.floating = type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::DOUBLE || type == onnx::TensorProto::FLOAT16;
    // The values present are counted before anything is allocated for the shape: dimensions
    // claiming 2^38 values over a few bytes of data must not allocate a terabyte first.
    const std::size_t present = use_raw ? (raw.size() % width ? SIZE_MAX : raw.size() / width)
                                : type == onnx::TensorProto::FLOAT  ? static_cast<std::size_t>(t.float_data_size())
                                : type == onnx::TensorProto::DOUBLE ? static_cast<std::size_t>(t.double_data_size())
                                : type == onnx::TensorProto::INT64  ? static_cast<std::size_t>(t.int64_data_size())
                                                                    : static_cast<std::size_t>(t.int32_data_size());
    if (present != n) count_mismatch(c, n, use_raw ? raw.size() / width : present, origin, what);
    if (c.floating) c.f.resize(n);
    else c.i.resize(n);
    if (use_raw) decode_raw(c, type, raw, n, width);
    else decode_typed(c, t, type, n, origin, what);
    return c;
}

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

namespace detail_onnx {

/// The default domain's opset, after checking that there is a graph with nodes.
inline int64_t model_opset(const onnx::ModelProto& mp, const std::string& origin) {
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
    return opset;
}

/// The one activation input: graph inputs that are not initializers (old exporters list both).
inline const onnx::ValueInfoProto& image_input(const import_graph& g, const onnx::GraphProto& gp, const std::string& origin) {
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& v : gp.input())
        if (!g.constants.count(v.name())) inputs.push_back(&v);
    if (inputs.size() != 1) {
        std::string names;
        for (const auto* v : inputs) names += (names.empty() ? "'" : ", '") + v->name() + "'";
        detail::fail(errc::unsupported, origin + ": graph inputs: expected one image input, found " + std::to_string(inputs.size()) +
                                            (names.empty() ? "" : " (" + names + ")"));
    }
    return *inputs[0];
}

/// Sets g.input, g.input_shape and g.input_batch from the graph input; returns true when that
/// input is NHWC behind a Transpose (tf2onnx's form).
inline bool read_input(import_graph& g, const onnx::GraphProto& gp, const std::string& origin) {
    const onnx::ValueInfoProto& in = image_input(g, gp, origin);
    g.input = in.name();
    if (!in.type().has_tensor_type() || in.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT)
        detail::fail(errc::unsupported, origin + ": input '" + g.input + "': expected a float32 tensor");
    const auto& dims = in.type().tensor_type().shape().dim();
    if (dims.size() != 4)
        detail::fail(errc::unsupported, origin + ": input '" + g.input + "': expected an NCHW image batch (4 dimensions), found " + std::to_string(dims.size()));
    // tf2onnx's form: an NHWC graph input whose only reader is Transpose(perm 0,3,1,2). qint8's
    // input is that Transpose's NCHW output; the Transpose becomes an identity (transpose_op).
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
    return nhwc_input;
}

/// The neutral node of NodeProto `k` before its op is mapped: name, inputs, outputs. Ops of
/// another domain are refused here.
inline node node_of(const import_graph& g, const onnx::NodeProto& p, int k) {
    node n;
    n.source_op = p.op_type();
    n.name = !p.name().empty() ? p.name() : p.output_size() ? p.output(0) : p.op_type() + "_" + std::to_string(k);
    n.inputs.assign(p.input().begin(), p.input().end());
    n.outputs.assign(p.output().begin(), p.output().end());
    if (!p.domain().empty() && p.domain() != "ai.onnx") {
        n.source_op = p.domain() + "." + p.op_type();
        unsupported(g, n, std::string("not supported; qint8 converts ") + supported_ops() + " (from the default ONNX domain)");
    }
    return n;
}

/// A Constant node becomes a constant of the graph, not a node.
inline void constant_node(import_graph& g, const node& n, const onnx::NodeProto& p, const attrs& a, const std::string& origin) {
    constant c;
    if (const auto* v = a.find("value")) {
        if (v->type() != onnx::AttributeProto::TENSOR) invalid(g, n, "attribute value: expected a tensor");
        c = decode(v->t(), origin, describe(n) + " value");
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
}

/// Maps every node in file order: Constant nodes become constants, subgraphs on constants are
/// folded, every other node goes to the handler of its op type.
inline void map_nodes(import_graph& g, const onnx::GraphProto& gp, int64_t opset, bool nhwc_input, const std::string& origin) {
    std::set<std::string> seen_names;
    onnx_fold::folder folder(
        g, opset, [&](const onnx::TensorProto& t, const std::string& what) { return decode(t, origin, what); },
        [](int type) { return std::string(elem_name(type)); });
    const auto& handlers = op_handlers();
    for (int k = 0; k < gp.node_size(); ++k) {
        const onnx::NodeProto& p = gp.node(k);
        node n = node_of(g, p, k);
        attrs a{g, n, p};
        if (p.op_type() == "Constant") {
            constant_node(g, n, p, a, origin);
            continue;
        }
        if (folder.fold(p, n)) continue;
        const auto h = handlers.find(p.op_type());
        if (h == handlers.end()) unsupported(g, n, std::string("not supported; qint8 converts ") + supported_ops());
        op_context ctx{g, n, p, gp, a, opset, nhwc_input};
        h->second(ctx);
        if (n.outputs.size() != 1 || n.outputs[0].empty()) invalid(g, n, "expected one output");
        if (!seen_names.insert(n.name).second) n.name += "#" + std::to_string(k);  // names must tell nodes apart in messages
        g.nodes.push_back(std::move(n));
    }
}

/// Converts a parsed ModelProto in QDQ (or float) form.
inline import_graph from_qdq_model(const onnx::ModelProto& mp, const std::string& origin) {
    import_graph g;
    g.origin = origin;
    g.format = "onnx";
    g.producer = mp.producer_name() + (mp.producer_version().empty() ? "" : " " + mp.producer_version());
    const int64_t opset = detail_onnx::model_opset(mp, origin);
    const onnx::GraphProto& gp = mp.graph();
    for (const auto& t : gp.initializer()) g.constants[t.name()] = detail_onnx::decode(t, origin, "initializer '" + t.name() + "'");
    const bool nhwc_input = detail_onnx::read_input(g, gp, origin);
    if (gp.output_size() != 1)
        detail::fail(errc::unsupported, origin + ": graph outputs: expected one (the logits or probabilities), found " + std::to_string(gp.output_size()));
    g.output = gp.output(0).name();
    detail_onnx::map_nodes(g, gp, opset, nhwc_input, origin);
    topo_sort(g);
    infer_shapes(g);
    return g;
}

}  // namespace detail_onnx

/// Converts a parsed ModelProto. `origin` (the file) prefixes every message. A QOperator graph
/// (QLinearConv, ...) is first rewritten into the QDQ form it stands for (qoperator.hpp).
inline import_graph from_model(const onnx::ModelProto& mp, const std::string& origin) {
    if (!mp.has_graph() || !onnx_qop::has_qoperator(mp.graph())) return detail_onnx::from_qdq_model(mp, origin);
    const int64_t opset = detail_onnx::model_opset(mp, origin);
    onnx::ModelProto qdq = mp;
    onnx_qop::expand(qdq, opset, origin, [&](const onnx::TensorProto& t, const std::string& what) { return detail_onnx::decode(t, origin, what); });
    return detail_onnx::from_qdq_model(qdq, origin);
}

/// Parses and converts an ONNX model held in memory; `origin` names it in messages.
inline import_graph from_bytes(const void* data, std::size_t size, const std::string& origin) {
    if (size == 0) detail::fail(errc::onnx, origin + ": the file is empty, expected an ONNX model");
    if (size > static_cast<std::size_t>(INT32_MAX))
        detail::fail(errc::unsupported, origin + ": " + std::to_string(size) + " bytes: models over 2 GB must keep their weights as ONNX external data");
    onnx::ModelProto mp;
    if (!mp.ParseFromArray(data, static_cast<int>(size)))
        detail::fail(errc::onnx, origin + ": not a valid ONNX model: its " + std::to_string(size) +
                                     " bytes do not parse as an onnx.ModelProto (the file is truncated, damaged, or not ONNX)");
    return from_model(mp, origin);
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
    return from_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace qint8::convert::onnx_frontend
