// Manifest v1 (docs/manifest.md): a round trip through write_manifest / read_manifest, then one
// test case per kind of bad input. Each case writes a valid model into a fresh temporary directory,
// breaks one thing in the JSON text or in the .q8w bytes, and checks that read_manifest throws a
// qint8::error with the right code and a message naming the file, the field or tensor, and what
// was expected and found.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <qint8/io/manifest.hpp>
#include <qint8/model.hpp>

#include "support/builder.hpp"
#include "support/layers.hpp"
#include "support/scratch.hpp"

namespace doctest {
template <>
struct StringMaker<qint8::errc> {
    static String convert(qint8::errc c) { return qint8::to_string(c); }
};
}  // namespace doctest

using namespace qint8;
using namespace qint8::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    REQUIRE(out);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    REQUIRE(out.good());
}

constexpr std::size_t header = detail::q8w_header_bytes;

void put_u32(std::string& b, std::size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xffu);
}

std::string crc_hex(const std::string& b, std::size_t at, std::size_t n) {
    return detail::crc32_hex(detail::crc32(b.data() + at, n));
}

/// input [3,8,8] u8 -> conv2d 3x3 (s8 weights + scales, f32 bias, relu) -> global_avg_pool2d -> fc 10
/// (s8 weights + scales, f32 bias) -> softmax.
model_desc small_model(uint32_t seed = 1) {
    rng r(seed);
    model_desc m = input_only({3, 8, 8}, quant_params{dtype::u8, 1.f / 64.f, 128});
    m.architecture = "custom";
    m.variant = "tiny";
    m.producer = "tests/test_manifest.cpp";
    m.attributes["width_multiplier"] = "1.0";
    m.classes.count = 10;
    m.classes.labels = "labels.txt";

    layer conv = conv_layer("conv", "input", 4, 3, 1);
    conv.post_ops = {post_op::make_relu()};
    conv.act = quant_params{dtype::u8, 0.05f, 0};
    add_weights(m, "conv", {4, 3, 3, 3}, r, true);

    layer gap = make_layer(op::global_avg_pool2d, "gap", {"conv"});
    gap.act = quant_params{dtype::u8, 0.05f, 0};

    layer fc = fc_layer("fc", "gap", 10);
    fc.act = quant_params{dtype::s8, 0.1f, 0};
    add_weights(m, "fc", {10, 4}, r, true);

    layer prob = make_layer(op::softmax, "prob", {"fc"});
    prob.prec = precision::fp32;

    m.layers = {conv, gap, fc, prob};
    return m;
}

/// Every op, post-op and option the manifest can express, to check that all of them survive a
/// round trip: grouped conv with stride and asymmetric padding, depthwise, sum post-op, clip,
/// relu6, max/avg pool with count_include_pad, an fp32 layer, add, fc with f32 weights, no bias.
model_desc every_op_model() {
    rng r(7);
    model_desc m = input_only({4, 9, 9}, quant_params{dtype::u8, 1.f / 64.f, 128});
    m.architecture = "custom";
    m.input.preprocess.mean = {0.5f, 0.5f, 0.5f, 0.5f};
    m.input.preprocess.std = {0.25f, 0.25f, 0.25f, 0.5f};
    m.input.preprocess.color_order = "bgr";
    m.input.preprocess.resize_short = 0;
    m.input.preprocess.crop_fraction = 0.875;
    m.classes.count = 10;
    m.classes.background_class = true;
    const quant_params u8a{dtype::u8, 0.05f, 0}, s8a{dtype::s8, 0.06f, -3};

    layer c1 = make_layer(op::conv2d, "c1", {"input"});  // [8,4,4]
    c1.out_channels = 8;
    c1.kernel = {3, 3};
    c1.stride = {2, 2};
    c1.pad = {0, 0, 1, 1};
    c1.groups = 2;
    c1.post_ops = {post_op::make_relu6()};
    c1.act = u8a;
    add_weights(m, "c1", {8, 2, 3, 3}, r, true);

    layer dw = depthwise_layer("dw", "c1", 8);
    dw.post_ops = {post_op::make_clip(0.f, 4.f)};
    dw.act = u8a;
    add_weights(m, "dw", {8, 1, 3, 3}, r, true);

    layer c2 = conv_layer("c2", "dw", 8);
    c2.post_ops = {post_op::make_sum("c1"), post_op::make_relu()};
    c2.act = s8a;
    add_weights(m, "c2", {8, 8, 1, 1}, r, true);

    layer mp = window_layer(op::max_pool2d, "mp", "c2", 2, 0, 2);  // [8,2,2], an extra output nobody reads
    mp.act = s8a;

    layer ap = window_layer(op::avg_pool2d, "ap", "c2", 3, 1);
    ap.count_include_pad = true;
    ap.prec = precision::fp32;
    ap.act = s8a;

    layer add = make_layer(op::add, "add", {"c2", "ap"});
    add.post_ops = {post_op::make_relu()};
    add.act = quant_params{dtype::u8, 0.1f, 10};

    layer gap = make_layer(op::global_avg_pool2d, "gap", {"add"});
    gap.act = quant_params{dtype::u8, 0.1f, 10};

    layer fc = fc_layer("fc", "gap", 10);
    add_weights(m, "fc", {10, 8}, r, false, 63, false);

    layer prob = make_layer(op::softmax, "prob", {"fc"});
    prob.prec = precision::fp32;

    m.layers = {c1, dw, c2, mp, ap, add, gap, fc, prob};
    m.output = "prob";
    return m;
}

/// What read_manifest threw.
struct caught {
    bool thrown = false;
    errc code = errc::io;
    std::string what;
};

caught try_read(const std::string& path, const read_options& opt = {}) {
    caught c;
    try {
        (void)read_manifest(path, opt);
    } catch (const qint8::error& e) {
        c.thrown = true;
        c.code = e.code();
        c.what = e.what();
    }
    return c;
}

/// A valid model written to <tmp>/model.json + <tmp>/model.q8w, with helpers to break it.
struct fixture {
    scratch_dir dir;
    std::string json_path = dir / "model.json";
    std::string q8w_path = dir / "model.q8w";

    fixture() { write_manifest(small_model(), json_path); }

    json manifest() const { return json::parse(read_bytes(json_path)); }
    void save(const json& j) const { write_bytes(json_path, j.dump(1)); }
    template <class F>
    void edit(F f) const {
        json j = manifest();
        f(j);
        save(j);
    }
    std::string weights() const { return read_bytes(q8w_path); }
    void save_weights(const std::string& b) const { write_bytes(q8w_path, b); }

    /// Absolute position of tensor `name` in the .q8w file, and its size.
    std::size_t file_offset(const std::string& name) const { return header + manifest()["tensors"][name]["offset"].get<std::size_t>(); }
    std::size_t tensor_bytes(const std::string& name) const { return manifest()["tensors"][name]["bytes"].get<std::size_t>(); }

    /// Recomputes every CRC in the manifest from the weights file, so that only the check under
    /// test can fire.
    void fix_crcs() const {
        const std::string w = weights();
        json j = manifest();
        for (auto& kv : j["tensors"].items())
            kv.value()["crc32"] = crc_hex(w, header + kv.value()["offset"].get<std::size_t>(), kv.value()["bytes"].get<std::size_t>());
        j["weights"]["crc32"] = crc_hex(w, header, w.size() - header);
        save(j);
    }

    /// Overwrites element `i` of f32 tensor `name` in the weights file.
    void set_f32(const std::string& name, std::size_t i, float v) const {
        std::string w = weights();
        std::memcpy(&w[file_offset(name) + i * 4], &v, 4);
        save_weights(w);
    }

    /// Sets the header's tensor count (for tables that gain or lose an entry consistently).
    void set_tensor_count(uint32_t n) const {
        std::string w = weights();
        put_u32(w, 12, n);
        save_weights(w);
    }

    caught read(const read_options& opt = {}) const { return try_read(json_path, opt); }
};

}  // namespace

/// Checks that `c` was thrown with `want` and that what() contains every one of the strings.
#define CHECK_ERROR(c, want, ...)                                                                                \
    do {                                                                                                         \
        const caught& c_ = (c);                                                                                  \
        INFO("what(): " << c_.what);                                                                             \
        REQUIRE_MESSAGE(c_.thrown, "read_manifest did not throw");                                               \
        CHECK(c_.code == (want));                                                                                \
        for (const std::string& part_ : std::initializer_list<std::string>{__VA_ARGS__})                         \
            CHECK_MESSAGE(c_.what.find(part_) != std::string::npos, "what() lacks \"" << part_ << "\"");         \
        CHECK(c_.what.rfind(std::string("[qint8.") + to_string(want) + "] ", 0) == 0);                         \
    } while (0)

TEST_SUITE("manifest") {

// ---------------------------------------------------------------------------------------------
// Round trip

TEST_CASE("round trip: write then read gives the same layers and tensor bytes and it compiles") {
    for (int which = 0; which < 2; ++which) {
        CAPTURE(which);
        scratch_dir dir;
        model_desc a = which == 0 ? small_model() : every_op_model();
        write_manifest(a, dir / "model.json");
        CHECK(dir.list() == std::vector<std::string>{"model.json", "model.q8w"});
        model_desc b = read_manifest(dir / "model.json");
        validate(a, "original");  // fills out_shape and forces softmax to fp32, as reading does

        CHECK(b.format_version == 1);  // version 2 only where "requantization" needs it
        CHECK(b.requant == requantization::float_scale);
        CHECK(b.architecture == a.architecture);
        CHECK(b.variant == a.variant);
        CHECK(b.producer == a.producer);
        CHECK(b.attributes == a.attributes);
        CHECK(b.input.name == a.input.name);
        CHECK(b.input.shape == a.input.shape);
        CHECK(b.input.act == a.input.act);
        CHECK(b.input.preprocess.mean == a.input.preprocess.mean);
        CHECK(b.input.preprocess.std == a.input.preprocess.std);
        CHECK(b.input.preprocess.color_order == a.input.preprocess.color_order);
        CHECK(b.input.preprocess.resize_short == a.input.preprocess.resize_short);
        CHECK(b.input.preprocess.crop_fraction == a.input.preprocess.crop_fraction);
        CHECK(b.classes.count == a.classes.count);
        CHECK(b.classes.background_class == a.classes.background_class);
        CHECK(b.classes.labels == a.classes.labels);
        CHECK(b.output == a.output);

        REQUIRE(b.layers.size() == a.layers.size());
        for (std::size_t i = 0; i < a.layers.size(); ++i) {
            const layer &x = a.layers[i], &y = b.layers[i];
            CAPTURE(x.name);
            CHECK(y.name == x.name);
            CHECK(y.kind == x.kind);
            CHECK(y.inputs == x.inputs);
            CHECK(y.out_channels == x.out_channels);
            CHECK(y.kernel == x.kernel);
            CHECK(y.stride == x.stride);
            CHECK(y.pad == x.pad);
            CHECK(y.groups == x.groups);
            CHECK(y.count_include_pad == x.count_include_pad);
            CHECK(y.prec == x.prec);
            CHECK(y.act == x.act);
            CHECK(y.out_shape == x.out_shape);
            REQUIRE(y.post_ops.size() == x.post_ops.size());
            for (std::size_t k = 0; k < x.post_ops.size(); ++k) {
                CHECK(y.post_ops[k].kind == x.post_ops[k].kind);
                CHECK(y.post_ops[k].lo == x.post_ops[k].lo);
                CHECK(y.post_ops[k].hi == x.post_ops[k].hi);
                CHECK(y.post_ops[k].input == x.post_ops[k].input);
            }
        }

        REQUIRE(b.tensors.size() == a.tensors.size());
        for (const auto& kv : a.tensors) {
            CAPTURE(kv.first);
            REQUIRE(b.tensors.count(kv.first) == 1);
            const tensor &x = kv.second, &y = b.tensors.at(kv.first);
            CHECK(y.type == x.type);
            CHECK(y.shape == x.shape);
            REQUIRE(y.bytes == x.bytes);
            CHECK(std::memcmp(y.data, x.data, x.bytes) == 0);
            CHECK(reinterpret_cast<std::uintptr_t>(y.data) % detail::q8w_alignment == 0);
        }

        // Writing what was read gives the same bytes (output is deterministic).
        const std::string j1 = read_bytes(dir / "model.json"), w1 = read_bytes(dir / "model.q8w");
        write_manifest(b, dir / "model.json");
        CHECK(read_bytes(dir / "model.json") == j1);
        CHECK(read_bytes(dir / "model.q8w") == w1);

        // And qint8::model compiles what was read, both from the description and from the file.
        qint8::model compiled(b);
        CHECK(compiled.input_size() == detail::element_count(b.input.shape, "input"));
        CHECK(compiled.output_size() == 10);
        qint8::model loaded = qint8::model::load(dir / "model.json");
        CHECK(loaded.desc().layers.size() == a.layers.size());
        // load() compiles read_manifest's description without validating it again: the same
        // program, the same outputs, and the inferred shapes are there (FP32 forced: validated).
        for (bool fp32 : {false, true}) {
            CAPTURE(fp32);
            compile_options co;
            co.force_fp32 = fp32;
            const qint8::model from_desc(b, co), from_file = qint8::model::load(dir / "model.json", co);
            REQUIRE(from_file.steps().size() == from_desc.steps().size());
            for (std::size_t i = 0; i < from_desc.steps().size(); ++i) CHECK(from_file.steps()[i].what == from_desc.steps()[i].what);
            for (const layer& l : from_file.desc().layers) CHECK_FALSE(l.out_shape.empty());
            std::vector<float> in(from_desc.input_size());
            for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 17) * 0.1f - 0.5f;
            session sd(from_desc), sf(from_file);
            CHECK(sf.run(in) == sd.run(in));
        }
    }
}

TEST_CASE("round trip: readers ignore unknown keys (forward compatibility within a version)") {
    fixture f;
    f.edit([](json& j) {
        j["future_top_level"] = {{"anything", 1}};
        j["input"]["future_input_key"] = true;
        j["layers"][0]["future_layer_key"] = "x";
        j["weights"]["future_weights_key"] = 3;
        j["tensors"]["conv.weight"]["future_tensor_key"] = nullptr;
    });
    model_desc m = read_manifest(f.json_path);
    CHECK(m.layers.size() == 4);
}

TEST_CASE("requantization: tflite round-trips as format_version 2 - other values and version 1 are refused") {
    scratch_dir dir;
    model_desc a = small_model();
    a.requant = requantization::tflite;
    write_manifest(a, dir / "model.json");
    const json j = json::parse(read_bytes(dir / "model.json"));
    CHECK(j["format_version"] == 2);
    CHECK(j["requantization"] == "tflite");
    CHECK(read_manifest(dir / "model.json").requant == requantization::tflite);
    fixture f;
    CHECK(!f.manifest().contains("requantization"));  // float, the default, is not written
    SUBCASE("unknown value") {
        f.edit([](json& m) { m["format_version"] = 2; m["requantization"] = "gemmlowp"; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json: requantization: expected \"float\" or \"tflite\"", "gemmlowp");
    }
    SUBCASE("tflite in a version 1 manifest") {
        f.edit([](json& m) { m["requantization"] = "tflite"; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json: requantization: expected format_version 2 or later");
    }
    SUBCASE("float, said explicitly") {
        f.edit([](json& m) { m["requantization"] = "float"; });
        CHECK(read_manifest(f.json_path).requant == requantization::float_scale);
    }
}

TEST_CASE("round trip: read_options verify_checksums = false skips only the CRCs") {
    fixture f;
    std::string w = f.weights();
    w[f.file_offset("conv.weight") + 5] ^= 0x01;  // any s8 value is a valid weight
    f.save_weights(w);
    CHECK_ERROR(f.read(), errc::checksum, "model.q8w", "weights.crc32");
    read_options no_crc;
    no_crc.verify_checksums = false;
    CHECK_NOTHROW((void)read_manifest(f.json_path, no_crc));
}

// ---------------------------------------------------------------------------------------------
// The JSON text

TEST_CASE("malformed JSON: truncated text") {
    fixture f;
    const std::string text = read_bytes(f.json_path);
    write_bytes(f.json_path, text.substr(0, text.size() / 2));
    CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "not valid JSON", "unexpected end of input", "expected");
}

TEST_CASE("malformed JSON: empty file / garbage after the object / top level not an object") {
    fixture f;
    SUBCASE("empty") {
        write_bytes(f.json_path, "");
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "not valid JSON");
    }
    SUBCASE("trailing garbage") {
        write_bytes(f.json_path, read_bytes(f.json_path) + "}");
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "not valid JSON", "expected end of input");
    }
    SUBCASE("an array") {
        write_bytes(f.json_path, "[1, 2]");
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: expected an object, found array [1,2]");
    }
}

TEST_CASE("malformed JSON: deeply nested value does not exhaust the stack") {
    fixture f;
    const std::size_t depth = 200000;
    SUBCASE("as the whole document") {
        write_bytes(f.json_path, std::string(depth, '[') + std::string(depth, ']'));
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: expected an object, found array [[[[");
    }
    SUBCASE("as a layer's output_shape") {
        std::string text = f.manifest().dump();
        const std::string key = "\"output_shape\":";
        const std::size_t at = text.find(key);
        REQUIRE(at != std::string::npos);
        const std::size_t end = text.find(']', at);
        text.replace(at + key.size(), end + 1 - (at + key.size()), std::string(depth, '[') + std::string(depth, ']'));
        write_bytes(f.json_path, text);
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: layers[0].output_shape: expected an array of 1..3 integers");
    }
    SUBCASE("as an attribute") {
        std::string text = f.manifest().dump();
        const std::string key = "\"width_multiplier\":\"1.0\"";
        const std::size_t at = text.find(key);
        REQUIRE(at != std::string::npos);
        text.replace(at, key.size(), "\"deep\":" + std::string(depth, '[') + std::string(depth, ']'));
        write_bytes(f.json_path, text);
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json: attributes.deep: expected a value nested at most 16 levels deep");
    }
}

TEST_CASE("wrong format") {
    fixture f;
    SUBCASE("another format name") {
        f.edit([](json& j) { j["format"] = "onnx"; });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "format", "expected \"qint8.manifest\"", "found \"onnx\"");
    }
    SUBCASE("missing") {
        f.edit([](json& j) { j.erase("format"); });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json: format: required field is missing");
    }
    SUBCASE("not a string") {
        f.edit([](json& j) { j["format"] = 1; });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: format: expected a string, found integer 1");
    }
}

TEST_CASE("format_version newer than the reader (message names both versions)") {
    fixture f;
    SUBCASE("3") {
        f.edit([](json& j) { j["format_version"] = 3; });
        CHECK_ERROR(f.read(), errc::manifest_version, "model.json", "format_version 3", "this reader's version 2");
    }
    SUBCASE("beyond 32 bits") {
        f.edit([](json& j) { j["format_version"] = int64_t{1} << 40; });
        CHECK_ERROR(f.read(), errc::manifest_version, "model.json", "format_version 1099511627776", "this reader's version 2");
    }
    SUBCASE("zero is not a version") {
        f.edit([](json& j) { j["format_version"] = 0; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json: format_version: expected an integer in 1..", "found integer 0");
    }
}

TEST_CASE("wrong JSON type of a field") {
    fixture f;
    SUBCASE("out_channels as a string") {
        f.edit([](json& j) { j["layers"][2]["out_channels"] = "10"; });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: layers[2].out_channels: expected an integer, found string \"10\"");
    }
    SUBCASE("kernel as a number") {
        f.edit([](json& j) { j["layers"][0]["kernel"] = 3; });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: layers[0].kernel: expected an array of 2 integers", "found integer 3");
    }
    SUBCASE("layers as an object") {
        f.edit([](json& j) { j["layers"] = json::object(); });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json: layers: expected an array of layers, found object {}");
    }
    SUBCASE("a required field missing") {
        f.edit([](json& j) { j["layers"][1].erase("op"); });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json: layers[1].op: required field is missing");
    }
}

// ---------------------------------------------------------------------------------------------
// The tensor table against the graph

TEST_CASE("missing tensor") {
    fixture f;
    SUBCASE("weights of a layer") {
        f.edit([](json& j) { j["tensors"].erase("fc.weight"); });
        f.set_tensor_count(5);
        CHECK_ERROR(f.read(), errc::tensor_missing, "model.json", "layer 'fc'", "needs tensor 'fc.weight'", "not in the manifest");
    }
    SUBCASE("scales of s8 weights") {
        f.edit([](json& j) { j["tensors"].erase("conv.weight.scales"); });
        f.set_tensor_count(5);
        CHECK_ERROR(f.read(), errc::tensor_missing, "model.json", "layer 'conv'", "needs tensor 'conv.weight.scales'");
    }
    SUBCASE("table shorter than the weights file's header says") {
        f.edit([](json& j) { j["tensors"].erase("fc.weight"); });
        CHECK_ERROR(f.read(), errc::weights_file, "model.json", "tensors: manifest lists 5 tensors", "model.q8w header says 6");
    }
}

TEST_CASE("extra tensor") {
    fixture f;
    // The extra tensor gets bytes of its own (a copy of fc.bias appended to the payload): an
    // alias of fc.bias's bytes would be refused as an overlap before the unused-tensor check.
    std::string w = f.weights();
    const std::string copy = w.substr(f.file_offset("fc.bias"), f.tensor_bytes("fc.bias"));
    w.resize(header + (w.size() - header + 63) / 64 * 64, '\0');
    const std::size_t off = w.size() - header;
    w += copy;
    put_u32(w, 16, static_cast<uint32_t>(w.size() - header));  // payload bytes (u64, high half 0)
    f.save_weights(w);
    f.set_tensor_count(7);
    f.edit([&](json& j) {
        j["tensors"]["gap.weight"] = j["tensors"]["fc.bias"];
        j["tensors"]["gap.weight"]["offset"] = off;
        j["weights"]["payload_bytes"] = w.size() - header;
    });
    f.fix_crcs();
    CHECK_ERROR(f.read(), errc::tensor_extra, "model.json", "tensor 'gap.weight'", "not used by any layer");
}

TEST_CASE("tensor shape mismatch") {
    fixture f;
    SUBCASE("same size, other shape") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["shape"] = {3, 4, 3, 3}; });
        CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "tensor 'conv.weight'", "expected shape [4,3,3,3]", "found [3,4,3,3]");
    }
    SUBCASE("fc weights flattened wrongly") {
        f.edit([](json& j) { j["tensors"]["fc.weight"]["shape"] = {40}; });
        CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "tensor 'fc.weight'", "expected shape [10,4]", "found [40]");
    }
}

TEST_CASE("tensor dtype mismatch") {
    fixture f;
    SUBCASE("u8 weights") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["dtype"] = "u8"; });
        CHECK_ERROR(f.read(), errc::dtype_mismatch, "model.json", "tensors.conv.weight.dtype", "expected \"f32\" or \"s8\"", "found \"u8\"");
    }
    SUBCASE("s32 weights") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["dtype"] = "s32"; });
        CHECK_ERROR(f.read(), errc::dtype_mismatch, "model.json", "tensors.conv.weight.dtype", "found \"s32\"");
    }
    SUBCASE("unknown dtype") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["dtype"] = "f16"; });
        CHECK_ERROR(f.read(), errc::dtype_mismatch, "model.json", "tensors.conv.weight.dtype", "found \"f16\"");
    }
    SUBCASE("f32 scales given as s8") {
        f.edit([](json& j) {
            j["tensors"]["fc.weight.scales"]["dtype"] = "s8";
            j["tensors"]["fc.weight.scales"]["bytes"] = 10;
        });
        read_options no_crc;
        no_crc.verify_checksums = false;
        CHECK_ERROR(f.read(no_crc), errc::dtype_mismatch, "model.json", "tensor 'fc.weight.scales'", "expected dtype f32", "found s8");
    }
    SUBCASE("f32 bias given as s8") {
        f.edit([](json& j) {
            j["tensors"]["conv.bias"]["dtype"] = "s8";
            j["tensors"]["conv.bias"]["bytes"] = 4;
        });
        f.fix_crcs();
        CHECK_ERROR(f.read(), errc::dtype_mismatch, "model.json", "tensor 'conv.bias'", "expected dtype f32", "found s8");
    }
    SUBCASE("activation dtype f32") {
        f.edit([](json& j) { j["layers"][0]["activation"]["dtype"] = "f32"; });
        CHECK_ERROR(f.read(), errc::dtype_mismatch, "model.json", "layers[0].activation.dtype", "expected \"u8\" or \"s8\"", "found \"f32\"");
    }
}

// ---------------------------------------------------------------------------------------------
// The tensor table against the weights file

TEST_CASE("bytes not matching shape") {
    fixture f;
    f.edit([](json& j) { j["tensors"]["conv.weight"]["bytes"] = 107; });
    CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "tensors.conv.weight.bytes", "shape [4,3,3,3] of s8 needs 108 bytes", "found 107");
}

TEST_CASE("offset/size past end of the weights file") {
    fixture f;
    const std::size_t payload = f.manifest()["weights"]["payload_bytes"].get<std::size_t>();
    SUBCASE("just past the end") {
        const std::size_t off = (payload + 63) / 64 * 64;
        f.edit([&](json& j) { j["tensors"]["fc.weight.scales"]["offset"] = off; });
        CHECK_ERROR(f.read(), errc::weights_file, "model.json", "tensors.fc.weight.scales.offset",
                    "bytes " + std::to_string(off) + ".." + std::to_string(off + 40), "run past the end of", "model.q8w",
                    "(payload " + std::to_string(payload) + " bytes)");
    }
    SUBCASE("straddling the end") {
        f.edit([&](json& j) { j["tensors"]["conv.weight"]["offset"] = (payload / 64) * 64; });
        CHECK_ERROR(f.read(), errc::weights_file, "model.json", "tensors.conv.weight.offset", "run past the end of");
    }
    SUBCASE("near INT64_MAX (no overflow in the check or the message)") {
        const int64_t off = std::numeric_limits<int64_t>::max() / 64 * 64;
        f.edit([&](json& j) { j["tensors"]["conv.weight"]["offset"] = off; });
        CHECK_ERROR(f.read(), errc::weights_file, "model.json", "tensors.conv.weight.offset",
                    "bytes 9223372036854775744..9223372036854775852", "run past the end of");
    }
    SUBCASE("above INT64_MAX") {
        f.edit([&](json& j) { j["tensors"]["conv.weight"]["offset"] = std::numeric_limits<uint64_t>::max(); });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensors.conv.weight.offset", "expected an integer in 0..", "found");
    }
    SUBCASE("negative") {
        f.edit([&](json& j) { j["tensors"]["conv.weight"]["offset"] = -64; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensors.conv.weight.offset", "found integer -64");
    }
}

TEST_CASE("truncated weights file") {
    fixture f;
    const std::string w = f.weights();
    SUBCASE("payload cut short") {
        f.save_weights(w.substr(0, w.size() - 10));
        CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "truncated",
                    "header says " + std::to_string(w.size() - header) + " payload bytes", "found " + std::to_string(w.size() - header - 10));
    }
    SUBCASE("header cut short") {
        f.save_weights(w.substr(0, 10));
        CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "truncated", "expected at least a 64-byte header", "found 10 bytes");
    }
    SUBCASE("empty") {
        f.save_weights("");
        CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "truncated", "found 0 bytes");
    }
}

TEST_CASE("trailing bytes after the payload") {
    fixture f;
    const std::string w = f.weights();
    f.save_weights(w + std::string(3, '\0'));
    CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "trailing bytes",
                "header says " + std::to_string(w.size() - header) + " payload bytes", "found " + std::to_string(w.size() - header + 3));
}

TEST_CASE("misaligned offset") {
    fixture f;
    f.edit([](json& j) { j["tensors"]["conv.weight"]["offset"] = j["tensors"]["conv.weight"]["offset"].get<int64_t>() + 1; });
    CHECK_ERROR(f.read(), errc::weights_file, "model.json", "tensors.conv.weight.offset", "expected a multiple of 64", "found 65");
}

TEST_CASE("payload_bytes in the manifest differs from the weights file") {
    fixture f;
    f.edit([](json& j) { j["weights"]["payload_bytes"] = j["weights"]["payload_bytes"].get<int64_t>() + 64; });
    CHECK_ERROR(f.read(), errc::weights_file, "model.json", "weights.payload_bytes", "manifest says", "model.q8w has");
}

TEST_CASE("per-tensor checksum mismatch (a flipped byte in the payload)") {
    fixture f;
    std::string w = f.weights();
    const std::string want = f.manifest()["tensors"]["conv.weight"]["crc32"].get<std::string>();
    w[f.file_offset("conv.weight") + 17] ^= 0x40;
    f.save_weights(w);
    f.edit([&](json& j) { j["weights"]["crc32"] = crc_hex(w, header, w.size() - header); });  // only the tensor's CRC is wrong
    const std::string got = crc_hex(w, f.file_offset("conv.weight"), f.tensor_bytes("conv.weight"));
    CHECK_ERROR(f.read(), errc::checksum, "model.json", "tensors.conv.weight.crc32", "expected " + want, "model.q8w give " + got);
}

TEST_CASE("payload crc mismatch") {
    fixture f;
    std::string w = f.weights();
    const std::string want = f.manifest()["weights"]["crc32"].get<std::string>();
    // A byte of the zero padding after conv.bias: every tensor's own CRC still matches.
    w[f.file_offset("conv.bias") + f.tensor_bytes("conv.bias") + 3] = '\x7f';
    f.save_weights(w);
    CHECK_ERROR(f.read(), errc::checksum, "model.q8w", "payload CRC-32 is " + crc_hex(w, header, w.size() - header),
                "manifest weights.crc32 says " + want);
}

TEST_CASE("pair_id mismatch (weights file from another manifest)") {
    fixture f;
    write_manifest(small_model(2), f.dir / "other.json");
    const std::string other_pair = json::parse(read_bytes(f.dir / "other.json"))["weights"]["pair_id"].get<std::string>();
    const std::string pair = f.manifest()["weights"]["pair_id"].get<std::string>();
    REQUIRE(pair != other_pair);
    f.edit([](json& j) { j["weights"]["file"] = "other.q8w"; });
    CHECK_ERROR(f.read(), errc::weights_file, "model.json", "weights.pair_id", "other.q8w", "belongs to another manifest",
                "expected pair id " + pair, "file has " + other_pair);
}

TEST_CASE("weights-file version newer") {
    fixture f;
    std::string w = f.weights();
    SUBCASE("2") {
        put_u32(w, 4, 2);
        f.save_weights(w);
        CHECK_ERROR(f.read(), errc::manifest_version, "model.q8w", "weights format version 2", "this reader's version 1");
    }
    SUBCASE("0 is not a version") {
        put_u32(w, 4, 0);
        f.save_weights(w);
        CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "version: expected 1, found 0");
    }
    SUBCASE("other alignment") {
        put_u32(w, 8, 32);
        f.save_weights(w);
        CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "alignment: expected 64, found 32");
    }
}

TEST_CASE("bad magic") {
    fixture f;
    std::string w = f.weights();
    w[0] = 'P';
    w[1] = 'K';
    f.save_weights(w);
    CHECK_ERROR(f.read(), errc::weights_file, "model.q8w", "magic", "Q8W", "found 504b5700");
}

TEST_CASE("missing weights file (errc::io)") {
    fixture f;
    SUBCASE("deleted") {
        fs::remove(f.q8w_path);
        CHECK_ERROR(f.read(), errc::io, "model.q8w", "cannot open for reading", "No such file");
    }
    SUBCASE("names a directory") {
        fs::create_directory(f.dir / "sub");
        f.edit([](json& j) { j["weights"]["file"] = "sub"; });
        CHECK_ERROR(f.read(), errc::io, "/sub: not a regular file");
    }
    SUBCASE("the manifest itself") {
        CHECK_ERROR(try_read(f.dir / "absent.json"), errc::io, "absent.json", "cannot open for reading", "No such file");
    }
}

// ---------------------------------------------------------------------------------------------
// Scales, zero points and dimensions

TEST_CASE("NaN / Inf / zero / negative activation scale in the JSON") {
    fixture f;
    SUBCASE("NaN (JSON has none: a string)") {
        f.edit([](json& j) { j["layers"][0]["activation"]["scale"] = "NaN"; });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "layers[0].activation.scale", "expected a number", "found string \"NaN\"");
    }
    SUBCASE("Inf (JSON has none: 1e400 overflows the parser)") {
        std::string text = f.manifest().dump(1);
        const std::string key = "\"scale\": 0.05000000074505806";
        const std::size_t at = text.find(key);
        REQUIRE(at != std::string::npos);
        text.replace(at, key.size(), "\"scale\": 1e400");
        write_bytes(f.json_path, text);
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "layers[0].activation.scale", "not valid JSON", "number overflow parsing '1e400'");
    }
    SUBCASE("finite, but beyond f32") {
        f.edit([](json& j) { j["input"]["activation"]["scale"] = 1e300; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "input.activation.scale", "expected a finite positive number", "found 1e+300");
    }
    SUBCASE("zero") {
        f.edit([](json& j) { j["input"]["activation"]["scale"] = 0.0; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "input.activation.scale", "expected a finite positive number", "found 0.0");
    }
    SUBCASE("negative") {
        f.edit([](json& j) { j["layers"][1]["activation"]["scale"] = -0.5; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1].activation.scale", "expected a finite positive number", "found -0.5");
    }
    SUBCASE("positive, but zero as f32") {
        f.edit([](json& j) { j["layers"][1]["activation"]["scale"] = 1e-50; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1].activation.scale", "expected a finite positive number", "found 1e-50");
    }
    SUBCASE("positive, but denormal as f32 (its reciprocal would be infinite)") {
        f.edit([](json& j) { j["layers"][1]["activation"]["scale"] = 1e-40; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1].activation.scale", "a normal f32", "found 1e-40");
    }
    SUBCASE("a hand-built description with a denormal scale fails validation") {
        model_desc m = small_model();
        m.layers[1].act->scale = 1e-40f;
        caught c;
        try {
            validate(m, "hand-built");
        } catch (const qint8::error& e) {
            c = {true, e.code(), e.what()};
        }
        CHECK_ERROR(c, errc::manifest_field, "hand-built: layers[1] 'gap'.activation.scale", "a normal f32", "found 9.99995e-41");
    }
}

TEST_CASE("NaN / zero / negative values in a weight-scales tensor") {
    fixture f;
    SUBCASE("NaN, CRCs fixed") {
        f.set_f32("fc.weight.scales", 3, std::numeric_limits<float>::quiet_NaN());
        f.fix_crcs();
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensor 'fc.weight.scales' element 3", "expected a finite positive scale", "found nan");
    }
    SUBCASE("Inf, CRCs fixed") {
        f.set_f32("conv.weight.scales", 0, std::numeric_limits<float>::infinity());
        f.fix_crcs();
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensor 'conv.weight.scales' element 0", "expected a finite positive scale", "found inf");
    }
    SUBCASE("zero, CRCs not verified") {
        f.set_f32("fc.weight.scales", 9, 0.f);
        read_options no_crc;
        no_crc.verify_checksums = false;
        CHECK_ERROR(f.read(no_crc), errc::manifest_field, "model.json", "tensor 'fc.weight.scales' element 9", "expected a finite positive scale", "found 0");
    }
    SUBCASE("negative, CRCs not verified") {
        f.set_f32("conv.weight.scales", 2, -0.01f);
        read_options no_crc;
        no_crc.verify_checksums = false;
        CHECK_ERROR(f.read(no_crc), errc::manifest_field, "model.json", "tensor 'conv.weight.scales' element 2", "expected a finite positive scale", "found -0.01");
    }
    SUBCASE("NaN bias") {
        f.set_f32("conv.bias", 1, std::numeric_limits<float>::quiet_NaN());
        f.fix_crcs();
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensor 'conv.bias' element 1", "expected a finite number", "found nan");
    }
}

TEST_CASE("all_finite_f32 finds a NaN or an infinity at every position and alignment - and passes finite values") {
    // Each vector loop against a plain std::isfinite scan: lengths around the four- and
    // sixteen-float steps, every offset into the buffer, every position of the bad value, and the
    // largest finite floats.
    const float bads[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()};
    std::vector<std::byte> buf(64 * sizeof(float) + 3);
    std::vector<detail::row_isa> isas{detail::row_isa::sse2};
    if (detail::best_row_isa() == detail::row_isa::avx2) isas.push_back(detail::row_isa::avx2);
    else MESSAGE("skipped: the AVX2 loop (this CPU has no AVX2)");
    std::size_t checked = 0, wrong = 0;
    for (detail::row_isa isa : isas)
        for (std::size_t n = 0; n <= 50; ++n)
            for (std::size_t shift = 0; shift < 4; ++shift) {
                std::byte* p = buf.data() + shift;  // unaligned starts too
                std::vector<float> v(n + 1);  // never empty: memcpy takes no null pointer, even for 0 bytes
                for (std::size_t i = 0; i < n; ++i) v[i] = (i % 2 ? -1.f : 1.f) * (i % 3 ? std::numeric_limits<float>::max() : float(i));
                v[n] = std::numeric_limits<float>::quiet_NaN();  // past the n checked: must not be read
                std::memcpy(p, v.data(), (n + 1) * sizeof(float));
                ++checked;
                wrong += !detail::all_finite_f32(p, n, isa);
                for (std::size_t at = 0; at < n; ++at)
                    for (float b : bads) {
                        std::vector<float> w = v;
                        w[at] = b;
                        std::memcpy(p, w.data(), (n + 1) * sizeof(float));
                        const bool plain = std::all_of(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(n), [](float x) { return std::isfinite(x); });
                        ++checked;
                        wrong += detail::all_finite_f32(p, n, isa) != plain;
                    }
            }
    MESSAGE(checked << " buffers checked");
    CHECK(checked > 2 * 5000);
    CHECK(wrong == 0);
}

TEST_CASE("zero point out of range") {
    fixture f;
    SUBCASE("u8: 256") {
        f.edit([](json& j) { j["input"]["activation"]["zero_point"] = 256; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "input.activation.zero_point", "expected an integer in 0..255 for u8", "found 256");
    }
    SUBCASE("u8: -1") {
        f.edit([](json& j) { j["layers"][0]["activation"]["zero_point"] = -1; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[0].activation.zero_point", "expected an integer in 0..255 for u8", "found -1");
    }
    SUBCASE("s8: 128") {
        f.edit([](json& j) { j["layers"][2]["activation"]["zero_point"] = 128; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[2].activation.zero_point", "expected an integer in -128..127 for s8", "found 128");
    }
    SUBCASE("s8: -129") {
        f.edit([](json& j) { j["layers"][2]["activation"]["zero_point"] = -129; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[2].activation.zero_point", "for s8", "found -129");
    }
    SUBCASE("s8: 2^64-1 (must not wrap to -1)") {
        f.edit([](json& j) { j["layers"][2]["activation"]["zero_point"] = std::numeric_limits<uint64_t>::max(); });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[2].activation.zero_point", "for s8", "found 18446744073709551615");
    }
    SUBCASE("not an integer") {
        f.edit([](json& j) { j["layers"][2]["activation"]["zero_point"] = 1.5; });
        CHECK_ERROR(f.read(), errc::manifest_parse, "model.json", "layers[2].activation.zero_point", "for s8", "found number 1.5");
    }
}

TEST_CASE("dimensions that overflow size arithmetic") {
    fixture f;
    SUBCASE("tensor shape [2147483647,2147483647,2147483647,8]") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["shape"] = {2147483647, 2147483647, 2147483647, 8}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensors.conv.weight.shape", "size arithmetic overflows");
    }
    SUBCASE("tensor shape [2^40,2^40,2^40,2^40]") {
        const int64_t big = int64_t{1} << 40;
        f.edit([&](json& j) { j["tensors"]["conv.weight"]["shape"] = {big, big, big, big}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensors.conv.weight.shape", "size arithmetic overflows");
    }
    SUBCASE("input shape [3,2^24,2^24]") {
        f.edit([](json& j) { j["input"]["shape"] = {3, 1 << 24, 1 << 24}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "input.shape", "size arithmetic overflows");
    }
    SUBCASE("input dimension above the limit") {
        f.edit([](json& j) { j["input"]["shape"] = {3, int64_t{1} << 32, 8}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "input.shape", "expected an array of 3 integers in 1..16777216", "found array [3,4294967296,8]");
    }
}

TEST_CASE("negative or zero dimension") {
    fixture f;
    SUBCASE("tensor shape with 0") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["shape"] = {4, 3, 3, 0}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensors.conv.weight.shape", "integers in 1..", "found array [4,3,3,0]");
    }
    SUBCASE("tensor shape with -4") {
        f.edit([](json& j) { j["tensors"]["conv.weight"]["shape"] = {-4, 3, 3, 3}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "tensors.conv.weight.shape", "integers in 1..", "found array [-4,3,3,3]");
    }
    SUBCASE("input shape with 0") {
        f.edit([](json& j) { j["input"]["shape"] = {3, 0, 8}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "input.shape", "found array [3,0,8]");
    }
    SUBCASE("out_channels 0") {
        f.edit([](json& j) { j["layers"][2]["out_channels"] = 0; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[2].out_channels", "expected an integer in 1..", "found integer 0");
    }
    SUBCASE("kernel -3") {
        f.edit([](json& j) { j["layers"][0]["kernel"] = {-3, 3}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[0].kernel", "found array [-3,3]");
    }
    SUBCASE("kernel larger than the padded input") {
        f.edit([](json& j) { j["layers"][0]["kernel"] = {11, 3}; });
        CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "layers[0] 'conv'", "kernel [11,3] is larger than the padded input [3,8,8]");
    }
}

// ---------------------------------------------------------------------------------------------
// Paths

TEST_CASE("weights file path escaping the directory") {
    for (const char* bad : {"../x.q8w", "/etc/passwd", "a/../../b", "", "sub//x.q8w", "..\\x.q8w"}) {
        CAPTURE(bad);
        fixture f;
        f.edit([&](json& j) { j["weights"]["file"] = bad; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "weights.file", "expected a relative path inside the manifest's directory",
                    std::string("found \"") + bad + "\"");
    }
}

TEST_CASE("labels path escaping the directory") {
    for (const char* bad : {"../labels.txt", "/etc/passwd", "a/../../b"}) {
        CAPTURE(bad);
        fixture f;
        f.edit([&](json& j) { j["classes"]["labels"] = bad; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "classes.labels", "expected a path inside the manifest's directory",
                    std::string("found \"") + bad + "\"");
    }
}

TEST_CASE("unknown preprocessing: written as known false - read back - and values beside it refused") {
    scratch_dir dir;
    model_desc a = small_model();
    a.input.preprocess.known = false;
    write_manifest(a, dir / "model.json");
    std::ifstream f(dir / "model.json");
    const json j = json::parse(f);
    CHECK(j.at("input").at("preprocess") == json{{"known", false}});
    CHECK_FALSE(read_manifest(dir / "model.json").input.preprocess.known);
    fixture g;
    g.edit([&](json& m) { m["input"]["preprocess"] = {{"known", false}, {"mean", {0.5, 0.5, 0.5}}}; });
    CHECK_ERROR(g.read(), errc::manifest_field, "model.json", "input.preprocess.mean", "expected no value when \"known\" is false");
    fixture h;
    h.edit([&](json& m) { m["input"]["preprocess"] = {{"known", "no"}}; });
    CHECK(h.read().thrown);
}

// ---------------------------------------------------------------------------------------------
// Layers

TEST_CASE("unknown op name") {
    fixture f;
    f.edit([](json& j) { j["layers"][1]["op"] = "gelu"; });
    CHECK_ERROR(f.read(), errc::unsupported, "model.json", "layers[1].op", "unknown op \"gelu\"", "layer 'gap'", "expected conv2d");
}

TEST_CASE("unknown post-op") {
    fixture f;
    f.edit([](json& j) { j["layers"][0]["post_ops"][0]["op"] = "swish"; });
    CHECK_ERROR(f.read(), errc::unsupported, "model.json", "layers[0].post_ops[0].op", "unknown post-op \"swish\"", "expected relu, relu6, clip or sum");
}

TEST_CASE("bad post-op parameters") {
    fixture f;
    SUBCASE("clip without max") {
        f.edit([](json& j) { j["layers"][0]["post_ops"][0] = {{"op", "clip"}, {"min", 0}}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[0].post_ops[0].max: required field is missing");
    }
    SUBCASE("clip with min >= max") {
        f.edit([](json& j) { j["layers"][0]["post_ops"][0] = {{"op", "clip"}, {"min", 2}, {"max", 1}}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[0] 'conv'.post_ops", "clip needs finite min < max");
    }
    SUBCASE("relu after a pool (would be ignored, so it is refused)") {
        f.edit([](json& j) { j["layers"][1]["post_ops"] = {{{"op", "relu"}}}; });
        CHECK_ERROR(f.read(), errc::unsupported, "model.json", "layers[1] 'gap'.post_ops", "pooling layers take none, found 1");
    }
    SUBCASE("sum after a pool") {
        f.edit([](json& j) { j["layers"][1]["post_ops"] = {{{"op", "sum"}, {"input", "conv"}}}; });
        CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "layers[1] 'gap'.post_ops", "sum input 'conv' has shape [4,8,8], expected [4,1,1]");
    }
    SUBCASE("sum of a tensor not produced earlier") {
        f.edit([](json& j) { j["layers"][2]["post_ops"] = {{{"op", "sum"}, {"input", "prob"}}}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[2] 'fc'.post_ops", "sum input 'prob' is not produced by an earlier layer");
    }
}

TEST_CASE("input referencing a tensor not produced earlier") {
    fixture f;
    SUBCASE("unknown name") {
        f.edit([](json& j) { j["layers"][2]["inputs"] = {"nowhere"}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[2] 'fc'.inputs", "tensor 'nowhere' is not produced by an earlier layer");
    }
    SUBCASE("a later layer") {
        f.edit([](json& j) { j["layers"][1]["inputs"] = {"fc"}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1] 'gap'.inputs", "tensor 'fc' is not produced by an earlier layer");
    }
    SUBCASE("itself") {
        f.edit([](json& j) { j["layers"][1]["inputs"] = {"gap"}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1] 'gap'.inputs", "tensor 'gap' is not produced by an earlier layer");
    }
    SUBCASE("wrong number of inputs") {
        f.edit([](json& j) { j["layers"][1]["inputs"] = {"conv", "input"}; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1] 'gap'.inputs", "expected 1 input(s), found 2");
    }
    SUBCASE("output naming no layer") {
        f.edit([](json& j) { j["output"] = "logits"; });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "output: no layer named 'logits'");
    }
}

TEST_CASE("output_shape mismatch") {
    fixture f;
    f.edit([](json& j) { j["layers"][0]["output_shape"] = {4, 7, 7}; });
    CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "layers[0] 'conv'.output_shape", "expected [4,8,8]", "found [4,7,7]");
}

TEST_CASE("int8 layer reading a tensor without activation quantization") {
    fixture f;
    SUBCASE("conv output without activation, read by an int8 pool") {
        f.edit([](json& j) { j["layers"][0].erase("activation"); });
        CHECK_ERROR(f.read(), errc::manifest_field, "model.json", "layers[1] 'gap'", "int8 layer reads 'conv', which has no activation quantization");
    }
    SUBCASE("a pool without activation inherits its input's, so this loads") {
        f.edit([](json& j) { j["layers"][1].erase("activation"); });
        model_desc m = read_manifest(f.json_path);
        REQUIRE(m.layers[1].act);
        CHECK(*m.layers[1].act == *m.layers[0].act);
    }
}

TEST_CASE("classes.count disagrees with the output") {
    fixture f;
    f.edit([](json& j) { j["classes"]["count"] = 1001; });
    CHECK_ERROR(f.read(), errc::shape_mismatch, "model.json", "classes.count", "expected 10", "found 1001");
}

// ---------------------------------------------------------------------------------------------
// Writing

TEST_CASE("write_manifest is atomic: a directory that does not exist gives errc::output and no file") {
    scratch_dir dir;
    const std::string path = dir / "absent/model.json";
    caught c;
    try {
        write_manifest(small_model(), path);
    } catch (const qint8::error& e) {
        c = {true, e.code(), e.what()};
    }
    CHECK_ERROR(c, errc::output, "absent/model.", "cannot open", "for writing", "No such file");
    CHECK_FALSE(fs::exists(dir / "absent"));
    CHECK(dir.list().empty());
}

TEST_CASE("write_manifest is atomic: a successful write leaves no temporary files") {
    scratch_dir dir;
    write_manifest(small_model(), dir / "model.json");
    write_manifest(small_model(3), dir / "model.json");  // replacing an existing pair
    const auto files = dir.list();
    CHECK(files == std::vector<std::string>{"model.json", "model.q8w"});
    for (const auto& n : files) CHECK(n.find(".tmp") == std::string::npos);
    CHECK_NOTHROW((void)read_manifest(dir / "model.json"));
}

TEST_CASE("write_manifest validates first: an inconsistent description never reaches disk") {
    scratch_dir dir;
    model_desc m = small_model();
    m.tensors.erase("fc.weight");
    caught c;
    try {
        write_manifest(m, dir / "model.json");
    } catch (const qint8::error& e) {
        c = {true, e.code(), e.what()};
    }
    CHECK_ERROR(c, errc::tensor_missing, "model.json", "needs tensor 'fc.weight'");
    CHECK(dir.list().empty());
}

TEST_CASE("write_manifest refuses what read_manifest would reject: preprocess per channel and labels path") {
    scratch_dir dir;
    model_desc m = small_model();
    std::vector<std::string> parts;
    SUBCASE("mean for 4 channels on a 3-channel input") {
        m.input.preprocess.mean = {0.f, 0.f, 0.f, 0.f};
        parts = {"model.json", "input.preprocess.mean", "expected 3 values", "found 4"};
    }
    SUBCASE("zero std") {
        m.input.preprocess.std = {0.2f, 0.f, 0.2f};
        parts = {"model.json", "input.preprocess.std", "expected finite positive numbers", "found 0"};
    }
    SUBCASE("labels outside the directory") {
        m.classes.labels = "../labels.txt";
        parts = {"model.json", "classes.labels", "found \"../labels.txt\""};
    }
    caught c;
    try {
        write_manifest(m, dir / "model.json");
    } catch (const qint8::error& e) {
        c = {true, e.code(), e.what()};
    }
    CHECK_ERROR(c, errc::manifest_field, "model.json");
    for (const auto& p : parts) CHECK_MESSAGE(c.what.find(p) != std::string::npos, c.what << " lacks " << p);
    CHECK(dir.list().empty());
}

}  // TEST_SUITE
