#pragma once
/// @file manifest.hpp  Reading and writing manifests (JSON, spec in docs/manifest.md) with their
/// weights files. It and the tuning cache (tune/cache.hpp) are the runtime's only readers of JSON (nlohmann/json).

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "qint8/graph.hpp"
#include "qint8/io/atomic_file.hpp"
#include "qint8/io/crc32.hpp"
#include "qint8/io/weights_file.hpp"
#include "qint8/validate.hpp"

namespace qint8 {

/// What load-time checks run. Sizes, shapes, alignment and scales are always checked.
struct read_options {
    bool verify_checksums = true;  ///< CRC-32 of every tensor (cheap next to compiling a model)
};

namespace detail {

using json = nlohmann::json;

inline std::string json_type(const json& j) {
    return j.is_number_integer() ? "integer" : j.is_number() ? "number" : j.type_name();
}
/// Appends at most about `limit` characters of `j`: never recurses deeper than the text it writes,
/// so a hostile, deeply nested value cannot exhaust the stack (json::dump() would).
inline void json_brief_into(const json& j, std::string& out, std::size_t limit) {
    if (out.size() > limit) return;
    if (j.is_array() || j.is_object()) {
        out += j.is_array() ? '[' : '{';
        bool first = true;
        for (auto it = j.begin(); it != j.end() && out.size() <= limit; ++it, first = false) {
            if (!first) out += ',';
            if (j.is_object()) out += json(it.key()).dump() + ':';
            json_brief_into(*it, out, limit);
        }
        out += j.is_array() ? ']' : '}';
    } else {
        out += j.dump();
    }
}
inline std::string json_brief(const json& j) {
    std::string s;
    json_brief_into(j, s, 40);
    return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

/// True if `j` nests no deeper than `levels` (recursion bounded by `levels`).
inline bool json_depth_at_most(const json& j, int levels) {
    if (!j.is_structured()) return true;
    if (levels <= 0) return false;
    for (const auto& e : j)
        if (!json_depth_at_most(e, levels - 1)) return false;
    return true;
}

/// Tracks where the parser is ("layers[2].activation.scale"), so a JSON syntax error or a number
/// out of range (1e400) is reported with the field it is in. Fed by json::parse's callback.
class json_path_tracker {
public:
    bool on_event(json::parse_event_t e, const json& v) {
        using pe = json::parse_event_t;
        if (e == pe::object_start || e == pe::array_start || e == pe::value) {
            if (!stack_.empty() && stack_.back().array) ++stack_.back().count;
            if (e != pe::value) stack_.push_back({e == pe::array_start, {}, 0});
        } else if (e == pe::object_end || e == pe::array_end) {
            if (!stack_.empty()) stack_.pop_back();
        } else if (e == pe::key && !stack_.empty()) {
            stack_.back().key = v.is_string() ? v.get<std::string>() : v.dump();
        }
        return true;
    }
    /// The field being parsed when the parser stopped ("" at the top level).
    std::string path() const {
        std::string p;
        for (std::size_t i = 0; i < stack_.size(); ++i) {
            const frame& f = stack_[i];
            if (f.array) {
                // Elements of the innermost array are counted once complete: the failing one is next.
                const std::size_t idx = i + 1 == stack_.size() ? f.count : (f.count ? f.count - 1 : 0);
                p += "[" + std::to_string(idx) + "]";
            } else if (!f.key.empty()) {
                p += (p.empty() ? "" : ".") + f.key;
            }
        }
        return p;
    }

private:
    struct frame {
        bool array;
        std::string key;
        std::size_t count;
    };
    std::vector<frame> stack_;
};

/// Reads fields of one JSON object, naming the file and the field path in every error.
class field_reader {
public:
    field_reader(const json& j, std::string file, std::string path) : j_(j), file_(std::move(file)), path_(std::move(path)) {
        if (!j_.is_object()) bad_type("", "an object", j_);
    }
    bool has(const char* k) const { return j_.contains(k) && !j_.at(k).is_null(); }
    const json& raw(const char* k) const {
        if (!has(k)) fail(errc::manifest_field, file_ + ": " + sub(k) + ": required field is missing");
        return j_.at(k);
    }
    field_reader obj(const char* k) const { return field_reader(raw(k), file_, sub(k)); }
    std::string str(const char* k) const {
        const json& v = raw(k);
        if (!v.is_string()) bad_type(k, "a string", v);
        return v.get<std::string>();
    }
    std::string str(const char* k, const std::string& dflt) const { return has(k) ? str(k) : dflt; }
    int64_t integer(const char* k, int64_t lo, int64_t hi) const {
        const json& v = raw(k);
        if (!v.is_number_integer()) bad_type(k, "an integer", v);
        // An unsigned value above INT64_MAX is out of every range (it used to be clamped to INT64_MAX).
        const bool huge = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX);
        if (huge || v.get<int64_t>() < lo || v.get<int64_t>() > hi) bad(k, "an integer in " + std::to_string(lo) + ".." + std::to_string(hi), v);
        const int64_t x = v.get<int64_t>();
        return x;
    }
    int64_t integer(const char* k, int64_t lo, int64_t hi, int64_t dflt) const { return has(k) ? integer(k, lo, hi) : dflt; }
    double number(const char* k) const {
        const json& v = raw(k);
        if (!v.is_number()) bad_type(k, "a number", v);
        return v.get<double>();
    }
    double number(const char* k, double dflt) const { return has(k) ? number(k) : dflt; }
    bool boolean(const char* k, bool dflt) const {
        if (!has(k)) return dflt;
        const json& v = raw(k);
        if (!v.is_boolean()) bad_type(k, "true or false", v);
        return v.get<bool>();
    }
    std::vector<int64_t> ints(const char* k, std::size_t n_min, std::size_t n_max, int64_t lo, int64_t hi) const {
        const json& v = raw(k);
        std::string what = (n_min == n_max ? std::to_string(n_min) : std::to_string(n_min) + ".." + std::to_string(n_max)) +
                           " integers in " + std::to_string(lo) + ".." + std::to_string(hi);
        if (!v.is_array()) bad_type(k, "an array of " + what, v);
        if (v.size() < n_min || v.size() > n_max) bad(k, "an array of " + what, v);
        std::vector<int64_t> r;
        for (const auto& e : v) {
            if (!e.is_number_integer()) bad_type(k, "an array of " + what, v);
            const bool huge = e.is_number_unsigned() && e.get<uint64_t>() > uint64_t(INT64_MAX);
            if (huge || e.get<int64_t>() < lo || e.get<int64_t>() > hi) bad(k, "an array of " + what, v);
            const int64_t x = e.get<int64_t>();
            r.push_back(x);
        }
        return r;
    }
    std::vector<float> floats(const char* k, std::size_t n) const {
        const json& v = raw(k);
        if (!v.is_array()) bad_type(k, "an array of " + std::to_string(n) + " numbers", v);
        if (v.size() != n) bad(k, "an array of " + std::to_string(n) + " numbers", v);
        std::vector<float> r;
        for (const auto& e : v) {
            if (!e.is_number()) bad_type(k, "an array of " + std::to_string(n) + " numbers", v);
            if (!std::isfinite(e.get<double>()) || std::fabs(e.get<double>()) > 3.0e38) bad(k, "an array of " + std::to_string(n) + " finite numbers", v);
            r.push_back(e.get<float>());
        }
        return r;
    }
    /// A value of the right JSON type but out of range (errc::manifest_field).
    [[noreturn]] void bad(const std::string& k, const std::string& expected, const json& found) const {
        bad(k, expected, found, errc::manifest_field);
    }
    /// A value of the wrong JSON type (errc::manifest_parse, as error.hpp defines it).
    [[noreturn]] void bad_type(const std::string& k, const std::string& expected, const json& found) const {
        bad(k, expected, found, errc::manifest_parse);
    }
    [[noreturn]] void bad(const std::string& k, const std::string& expected, const json& found, errc code) const {
        const std::string where = sub(k);
        fail(code, file_ + ": " + (where.empty() ? "" : where + ": ") + "expected " + expected + ", found " + json_type(found) + " " + json_brief(found));
    }
    std::string sub(const std::string& k) const { return k.empty() ? path_ : (path_.empty() ? k : path_ + "." + k); }
    const std::string& file() const { return file_; }

private:
    const json& j_;
    std::string file_, path_;
};

inline quant_params read_quant(const field_reader& r) {
    quant_params q;
    const std::string t = r.str("dtype");
    if (t == "u8") q.type = dtype::u8;
    else if (t == "s8") q.type = dtype::s8;
    else fail(errc::dtype_mismatch, r.file() + ": " + r.sub("dtype") + ": expected \"u8\" or \"s8\", found \"" + t + "\"");
    const double s = r.number("scale");
    // Below FLT_MIN the f32 scale would be 0 or denormal, and its reciprocal (quantization multiplies by it) infinite.
    if (!std::isfinite(s) || s < double(std::numeric_limits<float>::min()) || s > 3.0e38)
        fail(errc::manifest_field, r.file() + ": " + r.sub("scale") + ": expected a finite positive number (a normal f32, 1.18e-38..3e38), found " +
                                       json_brief(r.raw("scale")));
    q.scale = static_cast<float>(s);
    const int64_t lo = dtype_min(q.type), hi = dtype_max(q.type);
    static const json zero(0);
    const json& zp = r.has("zero_point") ? r.raw("zero_point") : zero;
    if (!zp.is_number_integer()) r.bad_type("zero_point", "an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + " for " + t, zp);
    if ((zp.is_number_unsigned() && zp.get<uint64_t>() > uint64_t(hi)) || zp.get<int64_t>() < lo || zp.get<int64_t>() > hi)
        fail(errc::manifest_field, r.file() + ": " + r.sub("zero_point") + ": expected an integer in " + std::to_string(lo) + ".." +
                                       std::to_string(hi) + " for " + t + ", found " + json_brief(zp));
    q.zero_point = static_cast<int32_t>(zp.get<int64_t>());
    return q;
}

inline json write_quant(const quant_params& q) {
    return {{"dtype", to_string(q.type)}, {"scale", q.scale}, {"zero_point", q.zero_point}};
}

/// True if `rel` stays inside the manifest's directory: relative, no "..", no empty name.
inline bool safe_relative_path(const std::string& rel) {
    if (rel.empty() || rel[0] == '/' || rel.find('\\') != std::string::npos) return false;
    std::stringstream ss(rel);
    std::string part;
    while (std::getline(ss, part, '/'))
        if (part == ".." || part.empty()) return false;
    return true;
}

inline std::string dir_of(const std::string& path) {
    auto p = path.find_last_of('/');
    return p == std::string::npos ? std::string() : path.substr(0, p + 1);
}

inline layer read_layer(const field_reader& r) {
    layer l;
    l.name = r.str("name");
    const std::string o = r.str("op");
    auto k = parse_op(o);
    if (!k) fail(errc::unsupported, r.file() + ": " + r.sub("op") + ": unknown op \"" + o + "\" in layer '" + l.name +
                                      "' (expected conv2d, depthwise_conv2d, max_pool2d, avg_pool2d, global_avg_pool2d, fc, add or softmax)");
    l.kind = *k;
    const json& ins = r.raw("inputs");
    if (!ins.is_array()) r.bad_type("inputs", "an array of tensor names", ins);
    for (const auto& e : ins) {
        if (!e.is_string()) r.bad_type("inputs", "an array of tensor names", ins);
        l.inputs.push_back(e.get<std::string>());
    }
    constexpr int64_t big = int64_t{1} << 24;
    if (l.kind == op::conv2d || l.kind == op::depthwise_conv2d || l.kind == op::fc) l.out_channels = r.integer("out_channels", 1, big);
    if (l.kind == op::conv2d || l.kind == op::depthwise_conv2d || l.kind == op::max_pool2d || l.kind == op::avg_pool2d) {
        auto kk = r.ints("kernel", 2, 2, 1, 4096);
        l.kernel = {kk[0], kk[1]};
        if (r.has("stride")) { auto s = r.ints("stride", 2, 2, 1, 4096); l.stride = {s[0], s[1]}; }
        if (r.has("pad")) { auto p = r.ints("pad", 4, 4, 0, 1024); l.pad = {p[0], p[1], p[2], p[3]}; }
        if (r.has("dilation")) {
            auto d = r.ints("dilation", 2, 2, 1, 64);
            if (d[0] != 1 || d[1] != 1) fail(errc::unsupported, r.file() + ": " + r.sub("dilation") + ": only dilation [1,1] is supported, found " + shape_str(d));
        }
    }
    if (l.kind == op::conv2d) l.groups = r.integer("groups", 1, big, 1);
    if (l.kind == op::avg_pool2d) l.count_include_pad = r.boolean("count_include_pad", false);
    if (r.has("post_ops")) {
        const json& pj = r.raw("post_ops");
        if (!pj.is_array()) r.bad_type("post_ops", "an array", pj);
        for (std::size_t i = 0; i < pj.size(); ++i) {
            field_reader pr(pj[i], r.file(), r.sub("post_ops[" + std::to_string(i) + "]"));
            const std::string pk = pr.str("op");
            if (pk == "relu") l.post_ops.push_back(post_op::make_relu());
            else if (pk == "relu6") l.post_ops.push_back(post_op::make_relu6());
            else if (pk == "clip") l.post_ops.push_back(post_op::make_clip(float(pr.number("min")), float(pr.number("max"))));
            else if (pk == "sum") l.post_ops.push_back(post_op::make_sum(pr.str("input"), pr.has("rounded") ? std::optional(read_quant(pr.obj("rounded"))) : std::nullopt));
            else fail(errc::unsupported, r.file() + ": " + pr.sub("op") + ": unknown post-op \"" + pk + "\" (expected relu, relu6, clip or sum)");
        }
    }
    const std::string p = r.str("precision", "int8");
    if (p == "int8") l.prec = precision::int8;
    else if (p == "fp32") l.prec = precision::fp32;
    else fail(errc::manifest_field, r.file() + ": " + r.sub("precision") + ": expected \"int8\" or \"fp32\", found \"" + p + "\"");
    if (r.has("activation")) l.act = read_quant(r.obj("activation"));
    if (r.has("float_bias")) {
        if (!has_weights(l.kind)) fail(errc::manifest_field, r.file() + ": " + r.sub("float_bias") + ": only conv2d, depthwise_conv2d and fc layers have a bias, found op \"" + o + "\"");
        l.float_bias = r.boolean("float_bias", false);
    }
    if (r.has("output_shape")) l.out_shape = r.ints("output_shape", 1, 3, 1, big);
    return l;
}

}  // namespace detail

namespace detail {

struct byte_range {
    uint64_t offset, bytes;
    std::string tensor;
    uint32_t crc = 0;      ///< CRC-32 of the bytes (when checksums are verified)
    std::string want_crc;  ///< what the manifest says it is
};

/// Tensors may not share bytes: each is its own data (a writer never overlaps them, so an overlap
/// is a damaged or hand-made table that would silently alias two weights).
inline void check_no_overlap(std::vector<byte_range>& r, const std::string& json_path, const std::string& wpath) {
    std::sort(r.begin(), r.end(), [](const byte_range& a, const byte_range& b) { return a.offset != b.offset ? a.offset < b.offset : a.tensor < b.tensor; });
    for (std::size_t i = 1; i < r.size(); ++i) {
        const byte_range &a = r[i - 1], &b = r[i];
        if (a.bytes && b.bytes && a.offset + a.bytes > b.offset)
            fail(errc::weights_file, json_path + ": tensors." + a.tensor + " (bytes " + std::to_string(a.offset) + ".." + std::to_string(a.offset + a.bytes) +
                                         ") and tensors." + b.tensor + " (bytes " + std::to_string(b.offset) + ".." + std::to_string(b.offset + b.bytes) +
                                         ") overlap in " + wpath + ": expected each tensor in its own bytes");
    }
}

}  // namespace detail

namespace detail {

/// The manifest's JSON; a syntax error names the JSON path where parsing stopped.
inline json parse_manifest_json(const std::string& json_path) {
    json j;
    std::ifstream in(json_path, std::ios::binary);
    if (!in) fail(errc::io, json_path + ": cannot open for reading (" + std::strerror(errno) + ")");
    json_path_tracker where;
    const auto track = [&where](int, json::parse_event_t e, json& v) { return where.on_event(e, v); };
#if QINT8_EXCEPTIONS
    try {
        j = json::parse(in, track);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
        const std::string p = where.path();
        fail(errc::manifest_parse, json_path + ": " + (p.empty() ? "" : p + ": ") + "not valid JSON: " + e.what());
    }
#else
    j = json::parse(in, track, /*allow_exceptions=*/false);  // a discarded value on error, no detail
    if (j.is_discarded()) {
        const std::string p = where.path();
        fail(errc::manifest_parse, json_path + ": " + (p.empty() ? "" : p + ": ") + "not valid JSON");
    }
#endif
    return j;
}

/// format, format_version, architecture, variant, producer, requantization, attributes.
inline void read_identity(const field_reader& root, model_desc& m, const std::string& json_path) {
    if (root.str("format") != "qint8.manifest")
        fail(errc::manifest_parse, json_path + ": format: expected \"qint8.manifest\", found \"" + root.str("format") + "\"");
    const int64_t v = root.integer("format_version", 1, INT64_MAX);
    if (v > model_desc::current_format_version)
        fail(errc::manifest_version, json_path + ": format_version " + std::to_string(v) + " is newer than this reader's version " +
                                         std::to_string(model_desc::current_format_version) + "; upgrade qint8 to read it");
    m.format_version = static_cast<int>(v);
    m.architecture = root.str("architecture", "custom");
    m.variant = root.str("variant", "");
    m.producer = root.str("producer", "");
    const std::string rq = root.str("requantization", "float");
    if (rq != "float" && rq != "tflite") root.bad("requantization", "\"float\" or \"tflite\"", root.raw("requantization"));
    if (rq == "tflite" && v < 2) root.bad("requantization", "format_version 2 or later for \"tflite\"", root.raw("format_version"));
    m.requant = rq == "tflite" ? requantization::tflite : requantization::float_scale;
    if (root.has("attributes")) {
        const json& a = root.raw("attributes");
        if (!a.is_object()) root.bad_type("attributes", "an object", a);
        for (auto it = a.begin(); it != a.end(); ++it) {
            if (!json_depth_at_most(*it, 16)) root.bad("attributes." + it.key(), "a value nested at most 16 levels deep", *it);
            m.attributes[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
        }
    }
}

/// input.preprocess: either "known": false and nothing else, or the values, one mean and std
/// per input channel.
inline void read_preprocess(const field_reader& in, model_desc& m) {
    field_reader pp = in.obj("preprocess");
    m.input.preprocess.known = pp.boolean("known", true);
    if (!m.input.preprocess.known) {
        for (const char* k : {"mean", "std", "color_order", "resize_short", "crop_fraction"})
            if (pp.has(k)) pp.bad(k, "no value when \"known\" is false", pp.raw(k));
        return;
    }
    const auto c = static_cast<std::size_t>(m.input.shape[0]);
    if (pp.has("mean")) m.input.preprocess.mean = pp.floats("mean", c);
    if (pp.has("std")) m.input.preprocess.std = pp.floats("std", c);
    for (float s : m.input.preprocess.std)
        if (!(s > 0)) pp.bad("std", "positive numbers", pp.raw("std"));
    m.input.preprocess.color_order = pp.str("color_order", "rgb");
    if (m.input.preprocess.color_order != "rgb" && m.input.preprocess.color_order != "bgr")
        pp.bad("color_order", "\"rgb\" or \"bgr\"", pp.raw("color_order"));
    m.input.preprocess.resize_short = pp.integer("resize_short", 0, 65536, 256);
    m.input.preprocess.crop_fraction = pp.number("crop_fraction", 0.0);
    if (!(m.input.preprocess.crop_fraction >= 0 && m.input.preprocess.crop_fraction <= 1))
        pp.bad("crop_fraction", "a number in 0..1", pp.raw("crop_fraction"));
}

inline void read_input_desc(const field_reader& root, model_desc& m) {
    field_reader in = root.obj("input");
    m.input.name = in.str("name", "input");
    m.input.shape = in.ints("shape", 3, 3, 1, int64_t{1} << 24);
    if (in.has("activation")) m.input.act = read_quant(in.obj("activation"));
    if (in.has("preprocess")) read_preprocess(in, m);
}

inline void read_classes(const field_reader& root, model_desc& m, const std::string& json_path) {
    if (!root.has("classes")) return;
    field_reader c = root.obj("classes");
    m.classes.count = c.integer("count", 1, int64_t{1} << 24);
    m.classes.background_class = c.boolean("background_class", false);
    m.classes.labels = c.str("labels", "");
    if (!m.classes.labels.empty() && !safe_relative_path(m.classes.labels))
        fail(errc::manifest_field, json_path + ": classes.labels: expected a path inside the manifest's directory, found \"" + m.classes.labels + "\"");
}

/// The weights file a manifest names, loaded whole, its header decoded.
struct weights_source {
    std::string path;
    loaded_file file;
    q8w_header header;
    std::string want_crc;  ///< weights.crc32, empty when absent or not verified
    const std::byte* payload() const { return file.bytes.get() + q8w_header_bytes; }
};

/// Loads the weights file and checks it against the manifest's "weights" block: the pair id,
/// the payload size and (when asked) the payload's CRC-32.
inline weights_source read_weights_source(const field_reader& root, const std::string& json_path, const read_options& opt) {
    field_reader wr = root.obj("weights");
    const std::string wfile = wr.str("file");
    if (!safe_relative_path(wfile))
        fail(errc::manifest_field, json_path + ": weights.file: expected a relative path inside the manifest's directory, found \"" + wfile + "\"");
    weights_source w;
    w.path = dir_of(json_path) + wfile;
    w.file = read_whole_file(w.path);
    w.header = decode_header(w.file, w.path);
    const q8w_header& h = w.header;
    const std::string pair = wr.str("pair_id");
    if (pair != hex_bytes(h.pair_id, 16))
        fail(errc::weights_file, json_path + ": weights.pair_id: the weights file " + w.path + " belongs to another manifest (expected pair id " +
                                     pair + ", file has " + hex_bytes(h.pair_id, 16) + ")");
    const int64_t declared = wr.integer("payload_bytes", 0, INT64_MAX);
    if (static_cast<uint64_t>(declared) != h.payload_bytes)
        fail(errc::weights_file, json_path + ": weights.payload_bytes: manifest says " + std::to_string(declared) + ", " + w.path + " has " + std::to_string(h.payload_bytes));
    if (opt.verify_checksums && wr.has("crc32")) w.want_crc = wr.str("crc32");  // checked with the tensors' (verify_checksums)
    return w;
}

/// One entry of "tensors": dtype, shape, and bytes that lie aligned inside the payload.
inline tensor read_tensor_entry(const field_reader& tr, const weights_source& w, const std::string& json_path, const read_options& opt,
                                byte_range& range) {
    tensor t;
    const std::string dt = tr.str("dtype");
    auto d = parse_dtype(dt);
    if (!d || *d == dtype::u8 || *d == dtype::s32)
        fail(errc::dtype_mismatch, json_path + ": " + tr.sub("dtype") + ": expected \"f32\" or \"s8\", found \"" + dt + "\"");
    t.type = *d;
    t.shape = tr.ints("shape", 1, 4, 1, int64_t{1} << 40);
    const std::size_t want = checked_mul(element_count(t.shape, json_path + ": " + tr.sub("shape")), dtype_size(t.type), tr.sub("shape"));
    const int64_t off = tr.integer("offset", 0, INT64_MAX);
    const int64_t nb = tr.integer("bytes", 0, INT64_MAX);
    const uint64_t payload_bytes = w.header.payload_bytes;
    if (static_cast<std::size_t>(nb) != want)
        fail(errc::shape_mismatch, json_path + ": " + tr.sub("bytes") + ": shape " + shape_str(t.shape) + " of " + dt + " needs " +
                                       std::to_string(want) + " bytes, found " + std::to_string(nb));
    if (off % q8w_alignment != 0)
        fail(errc::weights_file, json_path + ": " + tr.sub("offset") + ": expected a multiple of " + std::to_string(q8w_alignment) + ", found " + std::to_string(off));
    if (static_cast<uint64_t>(off) > payload_bytes || static_cast<uint64_t>(nb) > payload_bytes - static_cast<uint64_t>(off))
        fail(errc::weights_file, json_path + ": " + tr.sub("offset") + ": bytes " + std::to_string(off) + ".." +
                                     std::to_string(static_cast<uint64_t>(off) + static_cast<uint64_t>(nb)) +
                                     " run past the end of " + w.path + " (payload " + std::to_string(payload_bytes) + " bytes)");
    t.owner = w.file.bytes;
    t.data = w.payload() + off;
    t.bytes = want;
    range = {static_cast<uint64_t>(off), static_cast<uint64_t>(nb), "", 0, {}};
    if (opt.verify_checksums) {
        range.want_crc = tr.str("crc32");
        range.crc = crc32(t.data, t.bytes);
    }
    return t;
}

/// weights.crc32 against the payload's CRC, put together from the tensors' CRCs (`sorted` by
/// offset, not overlapping) and the bytes between them, so the payload is read once.
inline void check_payload_crc(const std::vector<byte_range>& sorted, const weights_source& w) {
    if (w.want_crc.empty()) return;
    uint32_t crc = 0;
    uint64_t at = 0;
    auto add = [&](uint32_t part, uint64_t bytes) { crc = crc32_concat(crc, part, bytes); };
    for (const byte_range& r : sorted) {
        if (r.bytes == 0) continue;
        if (r.offset > at) add(crc32(w.payload() + at, r.offset - at), r.offset - at);
        add(r.crc, r.bytes);
        at = r.offset + r.bytes;
    }
    const uint64_t end = w.header.payload_bytes;
    if (end > at) add(crc32(w.payload() + at, end - at), end - at);
    const std::string got = crc32_hex(crc);
    if (got != w.want_crc) fail(errc::checksum, w.path + ": payload CRC-32 is " + got + ", manifest weights.crc32 says " + w.want_crc);
}

/// "tensors": as many as the weights file's header says, each in its own bytes.
inline void read_tensors(const field_reader& root, model_desc& m, const weights_source& w, const std::string& json_path, const read_options& opt) {
    const json& tj = root.raw("tensors");
    if (!tj.is_object()) root.bad_type("tensors", "an object mapping names to tensors", tj);
    std::vector<byte_range> ranges;
    if (tj.size() != w.header.tensor_count)
        fail(errc::weights_file, json_path + ": tensors: manifest lists " + std::to_string(tj.size()) + " tensors, " + w.path + " header says " +
                                     std::to_string(w.header.tensor_count));
    for (auto it = tj.begin(); it != tj.end(); ++it) {
        byte_range r;
        tensor t = read_tensor_entry(field_reader(*it, json_path, "tensors." + it.key()), w, json_path, opt, r);
        r.tensor = it.key();
        m.tensors.emplace(it.key(), std::move(t));
        ranges.push_back(std::move(r));
    }
    std::vector<byte_range> in_order = ranges;
    check_no_overlap(ranges, json_path, w.path);
    if (!opt.verify_checksums) return;
    check_payload_crc(ranges, w);
    for (const byte_range& r : in_order)
        if (crc32_hex(r.crc) != r.want_crc)
            fail(errc::checksum, json_path + ": tensors." + r.tensor + ".crc32: expected " + r.want_crc + ", the bytes in " + w.path + " give " + crc32_hex(r.crc));
}

}  // namespace detail

namespace detail {

/// read_manifest(); `int8_weight_values` false leaves the NaN and infinity check of INT8 layers'
/// f32 weights to the compilation that follows (validate_for_compile; model::load).
inline model_desc read_manifest_desc(const std::string& json_path, const read_options& opt, bool int8_weight_values) {
    const json j = parse_manifest_json(json_path);
    field_reader root(j, json_path, "");
    model_desc m;
    read_identity(root, m, json_path);
    read_input_desc(root, m);
    read_classes(root, m, json_path);
    const json& lj = root.raw("layers");
    if (!lj.is_array()) root.bad_type("layers", "an array of layers", lj);
    for (std::size_t i = 0; i < lj.size(); ++i)
        m.layers.push_back(read_layer(field_reader(lj[i], json_path, "layers[" + std::to_string(i) + "]")));
    m.output = root.str("output", "");
    const weights_source w = read_weights_source(root, json_path, opt);
    read_tensors(root, m, w, json_path, opt);
    validate_model(m, json_path, int8_weight_values);
    return m;
}

}  // namespace detail

/// Reads `json_path` and the weights file it names, checks both, and returns the description.
/// Throws qint8::error naming the file, the field or tensor, what was expected and what was found.
inline model_desc read_manifest(const std::string& json_path, const read_options& opt = {}) {
    return detail::read_manifest_desc(json_path, opt, true);
}

namespace detail {

template <class PerChannel>
void check_preprocess_values(const preprocess_desc& pp, const std::string& path, PerChannel per_channel) {
    per_channel(pp.mean, "mean", false);
    per_channel(pp.std, "std", true);
    if (pp.color_order != "rgb" && pp.color_order != "bgr")
        fail(errc::manifest_field, path + ": input.preprocess.color_order: expected \"rgb\" or \"bgr\", found \"" + pp.color_order + "\"");
    if (pp.resize_short < 0 || pp.resize_short > 65536)
        fail(errc::manifest_field, path + ": input.preprocess.resize_short: expected 0..65536, found " + std::to_string(pp.resize_short));
    if (!(pp.crop_fraction >= 0 && pp.crop_fraction <= 1))
        fail(errc::manifest_field, path + ": input.preprocess.crop_fraction: expected a number in 0..1, found " + std::to_string(pp.crop_fraction));
}

/// What read_manifest checks beyond validate(), so that a pair write_manifest produces always
/// reads back: the preprocessing block (one mean and std per input channel, unless it is
/// unknown) and the labels path.
inline void check_writable(const model_desc& m, const std::string& path) {
    const auto& pp = m.input.preprocess;
    const std::size_t c = static_cast<std::size_t>(m.input.shape.at(0));
    auto per_channel = [&](const std::vector<float>& v, const char* name, bool positive) {
        if (v.size() != c)
            fail(errc::manifest_field, path + ": input.preprocess." + name + ": expected " + std::to_string(c) +
                                           " values (one per input channel), found " + std::to_string(v.size()));
        for (float x : v)
            if (!std::isfinite(x) || (positive && !(x > 0.f)))
                fail(errc::manifest_field, path + ": input.preprocess." + name + ": expected finite" + (positive ? " positive" : "") +
                                               " numbers, found " + std::to_string(x));
    };
    if (pp.known) check_preprocess_values(pp, path, per_channel);
    if (!m.classes.labels.empty() && !safe_relative_path(m.classes.labels))
        fail(errc::manifest_field, path + ": classes.labels: expected a path inside the manifest's directory, found \"" + m.classes.labels + "\"");
}

inline std::string base_name(const std::string& p) {
    auto s = p.find_last_of('/');
    return s == std::string::npos ? p : p.substr(s + 1);
}

/// The weights payload (tensors in name order, each aligned) and the manifest's tensor table.
struct weights_payload {
    std::string bytes;
    json table = json::object();
    uint32_t crc = 0;  ///< CRC-32 of `bytes`
};

inline weights_payload build_payload(const model_desc& m) {
    weights_payload w;
    for (const auto& kv : m.tensors) {  // std::map: sorted by name, so output is deterministic
        const tensor& t = kv.second;
        w.bytes.resize((w.bytes.size() + q8w_alignment - 1) / q8w_alignment * q8w_alignment, '\0');
        const std::size_t off = w.bytes.size();
        w.bytes.append(reinterpret_cast<const char*>(t.data), t.bytes);
        w.table[kv.first] = {{"dtype", to_string(t.type)}, {"shape", t.shape}, {"offset", off}, {"bytes", t.bytes},
                             {"crc32", crc32_hex(crc32(t.data, t.bytes))}};
    }
    w.crc = crc32(w.bytes.data(), w.bytes.size());
    return w;
}

/// The weights file's header. The pair id ties the two files together; derived from content so
/// conversions are reproducible.
inline q8w_header payload_header(const model_desc& m, const weights_payload& w) {
    q8w_header h;
    h.tensor_count = static_cast<uint32_t>(m.tensors.size());
    h.payload_bytes = w.bytes.size();
    const uint32_t c1 = w.crc;
    const std::string table = w.table.dump();
    const uint32_t c2 = crc32(table.data(), table.size());
    const uint32_t c3 = crc32(table.data(), table.size(), c1 ^ 0x5a5a5a5au);
    const uint64_t n = w.bytes.size();
    put_u32(h.pair_id, c1);
    put_u32(h.pair_id + 4, c2);
    put_u32(h.pair_id + 8, c3);
    put_u32(h.pair_id + 12, static_cast<uint32_t>(n ^ (n >> 32)));
    return h;
}

inline json input_json(const model_desc& m) {
    json in = {{"name", m.input.name}, {"shape", m.input.shape}};
    if (m.input.act) in["activation"] = write_quant(*m.input.act);
    const auto& pp = m.input.preprocess;
    if (pp.known)
        in["preprocess"] = {{"mean", pp.mean}, {"std", pp.std}, {"color_order", pp.color_order},
                            {"resize_short", pp.resize_short}, {"crop_fraction", pp.crop_fraction}};
    else
        in["preprocess"] = {{"known", false}};
    return in;
}

inline json post_ops_json(const layer& l) {
    json po = json::array();
    for (const auto& p : l.post_ops) {
        if (p.kind == post_op::relu) po.push_back({{"op", "relu"}});
        else if (p.kind == post_op::clip && p.lo == 0.f && p.hi == 6.f) po.push_back({{"op", "relu6"}});
        else if (p.kind == post_op::clip) po.push_back({{"op", "clip"}, {"min", p.lo}, {"max", p.hi}});
        else if (!p.rounded) po.push_back({{"op", "sum"}, {"input", p.input}});
        else po.push_back({{"op", "sum"}, {"input", p.input}, {"rounded", write_quant(*p.rounded)}});
    }
    return po;
}

inline json layer_json(const layer& l) {
    json lj = {{"name", l.name}, {"op", to_string(l.kind)}, {"inputs", l.inputs}};
    if (has_weights(l.kind)) lj["out_channels"] = l.out_channels;
    if (l.kind == op::conv2d || l.kind == op::depthwise_conv2d || l.kind == op::max_pool2d || l.kind == op::avg_pool2d) {
        lj["kernel"] = l.kernel;
        lj["stride"] = l.stride;
        lj["pad"] = l.pad;
    }
    if (l.kind == op::conv2d) lj["groups"] = l.groups;
    if (l.kind == op::avg_pool2d) lj["count_include_pad"] = l.count_include_pad;
    if (!l.post_ops.empty()) lj["post_ops"] = post_ops_json(l);
    lj["precision"] = to_string(l.prec);
    if (l.act) lj["activation"] = write_quant(*l.act);
    if (l.float_bias) lj["float_bias"] = true;
    lj["output_shape"] = l.out_shape;
    return lj;
}

/// The manifest's JSON, naming weights file `wfile` with header `h`.
inline json manifest_json(const model_desc& m, const weights_payload& w, const q8w_header& h, const std::string& wfile) {
    json j;
    j["format"] = "qint8.manifest";
    // Version 1 where it is enough, so that older readers keep reading what they can compute.
    j["format_version"] = m.requant == requantization::tflite ? 2 : 1;
    j["architecture"] = m.architecture;
    if (!m.variant.empty()) j["variant"] = m.variant;
    if (!m.producer.empty()) j["producer"] = m.producer;
    if (m.requant != requantization::float_scale) j["requantization"] = to_string(m.requant);
    if (!m.attributes.empty()) j["attributes"] = m.attributes;
    j["input"] = input_json(m);
    if (m.classes.count) {
        j["classes"] = {{"count", m.classes.count}, {"background_class", m.classes.background_class}};
        if (!m.classes.labels.empty()) j["classes"]["labels"] = m.classes.labels;
    }
    json layers = json::array();
    for (const layer& l : m.layers) layers.push_back(layer_json(l));
    j["layers"] = layers;
    if (!m.output.empty()) j["output"] = m.output;
    j["weights"] = {{"file", wfile}, {"payload_bytes", w.bytes.size()}, {"alignment", q8w_alignment},
                    {"crc32", crc32_hex(w.crc)}, {"pair_id", hex_bytes(h.pair_id, 16)}};
    j["tensors"] = w.table;
    return j;
}

}  // namespace detail

/// Writes `m` as `json_path` plus a weights file beside it (same stem, `.q8w`), both atomically.
/// Validates first, so an inconsistent description never reaches disk.
inline void write_manifest(model_desc m, const std::string& json_path) {
    using namespace detail;
    validate(m, json_path);
    check_writable(m, json_path);
    std::string stem = base_name(json_path);
    if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".json") == 0) stem.resize(stem.size() - 5);
    const std::string wfile = stem + ".q8w";

    const weights_payload w = build_payload(m);
    const q8w_header h = payload_header(m, w);
    unsigned char hdr[q8w_header_bytes];
    encode_header(h, hdr);
    const json j = manifest_json(m, w, h, wfile);

    std::string wdata(reinterpret_cast<const char*>(hdr), q8w_header_bytes);
    wdata += w.bytes;
    // Both files are written completely before either appears, so a failure (disk full, a
    // file-size limit, a kill) leaves neither; only the two renames are left at the end.
    const std::string text = j.dump(1) + "\n";
    atomic_file wf(dir_of(json_path) + wfile), jf(json_path);
    wf.write(wdata.data(), wdata.size());
    jf.write(text.data(), text.size());
    wf.commit();
    jf.commit();
}

}  // namespace qint8
