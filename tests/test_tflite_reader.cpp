// TFLite reader (include/qint8/convert/tflite/reader.hpp): models are built in memory with a tiny
// FlatBuffer builder below, read back field by field, then broken on purpose - wrong identifier,
// truncation at every length, offsets pointing out of the file, indices out of range, random byte
// flips - and each broken file must give a qint8::error (never a crash or another exception).
// The real MobileNet .tflite files under ../shared/data/tflite are read when present.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <qint8/core/error.hpp>

#include "../include/qint8/convert/tflite/reader.hpp"
#include "support/shared_data.hpp"
#include "support/text.hpp"
#include "support/tflite_builder.hpp"

namespace tfl = qint8::convert::tflite;

namespace {

using namespace qint8::test::tflite_build;

/// input u8 [1,8,8,3] -> CONV_2D (int8 per-axis weights [4,3,3,3], int32 bias) -> DEPTHWISE_CONV_2D
/// -> ADD (with itself) -> AVERAGE_POOL_2D -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX, plus codes
/// for HARD_SWISH (117, in both fields), CUMSUM (128: byte field 127, the value in builtin_code)
/// and a custom op.
t_model sample_model() {
    using tt = tfl::tensor_type;
    t_model m;
    m.codes = {
        {tfl::builtin::CONV_2D, 1, "", false},       // 0
        {tfl::builtin::DEPTHWISE_CONV_2D, 2, "", true},  // 1: old style, byte field only
        {tfl::builtin::ADD, 1, "", false},           // 2
        {tfl::builtin::AVERAGE_POOL_2D, 1, "", false},   // 3
        {tfl::builtin::RESHAPE, 1, "", false},       // 4
        {tfl::builtin::FULLY_CONNECTED, 3, "", false},   // 5
        {tfl::builtin::SOFTMAX, 1, "", false},       // 6
        {tfl::builtin::HARD_SWISH, 1, "", false},    // 7
        {128, 1, "", false},                         // 8: CUMSUM, past the byte field
        {tfl::builtin::CUSTOM, 1, "MyCustomOp", false},  // 9
    };
    const std::vector<int8_t> w = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15, -16, 17, -18, 19, -20,
                                   21, -22, 23, -24, 25, -26, 27, -28, 29, -30, 31, -32, 33, -34, 35, -36, 37, -38, 39,
                                   -40, 41, -42, 43, -44, 45, -46, 47, -48, 49, -50, 51, -52, 53, -54, 55, -56, 57, -58,
                                   59, -60, 61, -62, 63, -64, 65, -66, 67, -68, 69, -70, 71, -72, 73, -74, 75, -76, 77,
                                   -78, 79, -80, 81, -82, 83, -84, 85, -86, 87, -88, 89, -90, 91, -92, 93, -94, 95, -96,
                                   97, -98, 99, -100, 101, -102, 103, -104, 105, -106, 107, -108};
    const std::vector<int32_t> bias = {100, -200, 300, -400};
    m.buffers = {
        {{}, 0, 0},                                   // 0: sentinel
        {as_bytes(w), 0, 0},                          // 1: conv weights
        {as_bytes(bias), 0, 0},                       // 2: conv bias
        {iota_bytes(36, 3), 0, 0},                    // 3: depthwise weights [1,3,3,4]
        {as_bytes(std::vector<int32_t>{1, 16}), 0, 0},  // 4: reshape shape tensor
        {iota_bytes(16 * 10, 1), 0, 0},               // 5: fc weights [10,16] (ends the file: 160 bytes)
    };
    m.tensors = {
        {"input", {1, 8, 8, 3}, tt::uint8, 0, true, {0.0078125f}, {128}, 0},                         // 0
        {"conv/weights", {4, 3, 3, 3}, tt::int8, 1, true, {0.5f, 0.25f, 0.125f, 0.0625f}, {0, 0, 0, 0}, 0},  // 1
        {"conv/bias", {4}, tt::int32, 2, true, {0.1f, 0.2f, 0.3f, 0.4f}, {0, 0, 0, 0}, 0},          // 2
        {"conv/out", {1, 4, 4, 4}, tt::uint8, 0, true, {0.05f}, {3}, 0},                            // 3
        {"dw/weights", {1, 3, 3, 4}, tt::uint8, 3, true, {0.01f, 0.02f, 0.03f, 0.04f}, {1, 2, 3, 4}, 3},  // 4
        {"dw/out", {1, 4, 4, 4}, tt::uint8, 0, true, {0.04f}, {0}, 0},                              // 5
        {"add/out", {1, 4, 4, 4}, tt::uint8, 0, true, {0.08f}, {0}, 0},                             // 6
        {"pool/out", {1, 1, 1, 4}, tt::uint8, 0, true, {0.08f}, {0}, 0},                            // 7
        {"reshape/shape", {2}, tt::int32, 4, false, {}, {}, 0},                                      // 8
        {"reshape/out", {1, 4}, tt::uint8, 0, true, {0.08f}, {0}, 0},                               // 9
        {"fc/weights", {10, 16}, tt::uint8, 5, true, {0.003f}, {127}, 0},                           // 10
        {"fc/out", {1, 10}, tt::float32, 0, false, {}, {}, 0},                                       // 11
        {"probs", {1, 10}, tt::float32, 0, false, {}, {}, 0},                                        // 12
    };
    m.inputs = {0};
    m.outputs = {12};
    tfl::conv2d_options conv;
    conv.pad = tfl::padding::valid;
    conv.stride_w = 2;
    conv.stride_h = 2;
    conv.fused_activation_function = tfl::activation::relu6;
    tfl::depthwise_conv2d_options dw;
    dw.pad = tfl::padding::same;
    dw.stride_w = 1;
    dw.stride_h = 1;
    dw.depth_multiplier = 1;
    dw.fused_activation_function = tfl::activation::relu;
    dw.dilation_w_factor = 2;
    dw.dilation_h_factor = 3;
    tfl::add_options add;
    add.fused_activation_function = tfl::activation::relu_n1_to_1;
    tfl::pool2d_options pool;
    pool.pad = tfl::padding::valid;
    pool.stride_w = 4;
    pool.stride_h = 4;
    pool.filter_width = 4;
    pool.filter_height = 4;
    tfl::reshape_options reshape;
    reshape.has_new_shape = true;
    reshape.new_shape = {1, -1};
    tfl::fully_connected_options fc;
    fc.keep_num_dims = true;
    fc.fused_activation_function = tfl::activation::none;
    tfl::softmax_options sm;
    sm.beta = 1.0f;
    m.ops = {
        {0, {0, 1, 2}, {3}, tfl::options_type::Conv2DOptions, conv, true},
        {1, {3, 4, -1}, {5}, tfl::options_type::DepthwiseConv2DOptions, dw, true},
        {2, {5, 5}, {6}, tfl::options_type::AddOptions, add, true},
        {3, {6}, {7}, tfl::options_type::Pool2DOptions, pool, true},
        {4, {7, 8}, {9}, tfl::options_type::ReshapeOptions, reshape, true},
        {5, {9, 10, -1}, {11}, tfl::options_type::FullyConnectedOptions, fc, true},
        {6, {11}, {12}, tfl::options_type::SoftmaxOptions, sm, true},
    };
    return m;
}

// ------------------------------------------------------------------------------------------------
// Trusted navigation in a *valid* built buffer, to find the bytes a test breaks
// ------------------------------------------------------------------------------------------------
uint32_t rd32(const std::vector<uint8_t>& b, std::size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}
void wr32(std::vector<uint8_t>& b, std::size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void wr64(std::vector<uint8_t>& b, std::size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
/// A copy of `b` with the u32 at `at` replaced by `v`.
std::vector<uint8_t> with_u32(std::vector<uint8_t> b, std::size_t at, uint32_t v) {
    wr32(b, at, v);
    return b;
}

/// Absolute position of the vtable of the table at `table` (a table starts with its signed
/// offset back to the vtable).
std::size_t vtable_at(const std::vector<uint8_t>& b, std::size_t table) {
    int32_t so;
    std::memcpy(&so, b.data() + table, 4);
    return static_cast<std::size_t>(static_cast<int64_t>(table) - so);
}

/// Absolute position of field `slot` of the table at `table` (the field must be present).
std::size_t field_at(const std::vector<uint8_t>& b, std::size_t table, int slot) {
    const std::size_t vt = vtable_at(b, table);
    uint16_t vo;
    std::memcpy(&vo, b.data() + vt + 4 + 2 * static_cast<std::size_t>(slot), 2);
    REQUIRE(vo != 0);
    return table + vo;
}
std::size_t deref(const std::vector<uint8_t>& b, std::size_t at) { return at + rd32(b, at); }
std::size_t element(const std::vector<uint8_t>& b, std::size_t vec, std::size_t i) { return deref(b, vec + 4 + 4 * i); }

std::size_t root_table(const std::vector<uint8_t>& b) { return deref(b, 0); }
std::size_t subgraph0(const std::vector<uint8_t>& b) { return element(b, deref(b, field_at(b, root_table(b), 2)), 0); }
std::size_t tensor_table(const std::vector<uint8_t>& b, std::size_t i) {
    return element(b, deref(b, field_at(b, subgraph0(b), 0)), i);
}
std::size_t op_table(const std::vector<uint8_t>& b, std::size_t i) {
    return element(b, deref(b, field_at(b, subgraph0(b), 3)), i);
}
std::size_t buffer_table(const std::vector<uint8_t>& b, std::size_t i) {
    return element(b, deref(b, field_at(b, root_table(b), 4)), i);
}

/// The error a parse gives ("" and errc::io when it does not throw).
struct outcome {
    bool threw = false;
    qint8::errc code = qint8::errc::io;
    std::string what;
};
outcome try_parse(std::vector<uint8_t> bytes, const std::string& origin = "model.tflite") {
    outcome o;
    try {
        (void)tfl::parse(std::move(bytes), origin);
    } catch (const qint8::error& e) {
        o.threw = true;
        o.code = e.code();
        o.what = e.what();
    }
    return o;
}

using qint8::test::has_text;

/// Parses `bytes`, which must fail with a TFLite error whose message holds each of `parts`.
void check_rejected(std::vector<uint8_t> bytes, std::initializer_list<std::string> parts) {
    const outcome o = try_parse(std::move(bytes));
    INFO(o.what);
    REQUIRE(o.threw);
    CHECK(o.code == qint8::errc::tflite);
    for (const std::string& part : parts) CHECK(has_text(o.what, part));
}

}  // namespace

TEST_SUITE("tflite") {

TEST_CASE("a built model's header and operator codes read back exactly") {
    const t_model spec = sample_model();
    const std::vector<uint8_t> bytes = build(spec);
    const tfl::model m = tfl::parse(bytes, "built.tflite");

    CHECK(m.version == 3);
    CHECK(m.description == spec.description);
    CHECK(m.origin == "built.tflite");
    CHECK(m.bytes == bytes);

    REQUIRE(m.operator_codes.size() == spec.codes.size());
    for (std::size_t i = 0; i < spec.codes.size(); ++i) {
        CAPTURE(i);
        CHECK(m.operator_codes[i].builtin == spec.codes[i].builtin);
        CHECK(m.operator_codes[i].version == spec.codes[i].version);
        CHECK(m.operator_codes[i].custom_code == spec.codes[i].custom);
    }
    CHECK(m.operator_codes[1].builtin_code == 0);  // old style: only the byte field
    CHECK(m.operator_codes[1].deprecated_builtin_code == tfl::builtin::DEPTHWISE_CONV_2D);
    CHECK(m.operator_codes[8].deprecated_builtin_code == 127);
    CHECK(m.operator_codes[8].builtin_code == 128);
    CHECK(std::string(tfl::builtin_name(m.operator_codes[8].builtin)) == "CUMSUM");
    CHECK(std::string(tfl::builtin_name(m.operator_codes[7].builtin)) == "HARD_SWISH");
}

TEST_CASE("a built model's buffers read back exactly") {
    const t_model spec = sample_model();
    const tfl::model m = tfl::parse(build(spec), "built.tflite");
    REQUIRE(m.buffers.size() == spec.buffers.size());
    for (std::size_t i = 0; i < spec.buffers.size(); ++i) {
        CAPTURE(i);
        const tfl::byte_view v = m.data(static_cast<uint32_t>(i));
        REQUIRE(v.size == spec.buffers[i].data.size());
        CHECK(std::vector<uint8_t>(v.data, v.data + v.size) == spec.buffers[i].data);
        CHECK_FALSE(m.buffers[i].external);
    }
    CHECK_THROWS_AS(m.data(static_cast<uint32_t>(spec.buffers.size())), qint8::error);
}

TEST_CASE("a built model's tensors read back with exact fields") {
    const t_model spec = sample_model();
    const tfl::model m = tfl::parse(build(spec), "built.tflite");
    REQUIRE(m.subgraphs.size() == 1);
    const tfl::subgraph& g = m.subgraphs[0];
    CHECK(g.name == "main");
    CHECK(g.inputs == spec.inputs);
    CHECK(g.outputs == spec.outputs);
    REQUIRE(g.tensors.size() == spec.tensors.size());
    for (std::size_t i = 0; i < spec.tensors.size(); ++i) {
        CAPTURE(i);
        const tfl::tensor& t = g.tensors[i];
        const t_tensor& s = spec.tensors[i];
        CHECK(t.name == s.name);
        CHECK(t.shape == s.shape);
        CHECK(t.type == s.type);
        CHECK(t.buffer == s.buffer);
        CHECK(t.has_quantization == s.quant);
        CHECK(t.quantization.scale == s.scale);
        CHECK(t.quantization.zero_point == s.zero_point);
        CHECK(t.quantization.quantized_dimension == s.quantized_dimension);
        CHECK_FALSE(t.is_variable);
        CHECK_FALSE(t.is_sparse);
    }
    // per-axis along dimension 3 of the depthwise weights, per-tensor input
    CHECK(g.tensors[4].quantization.quantized_dimension == 3);
    CHECK(g.tensors[4].quantization.scale.size() == 4);
    CHECK(g.tensors[0].quantization.scale.size() == 1);
    // tensor data through the tensor
    const tfl::byte_view bias = m.data(g.tensors[2]);
    REQUIRE(bias.size == 16);
    int32_t b3;
    std::memcpy(&b3, bias.data + 12, 4);
    CHECK(b3 == -400);
}

TEST_CASE("a built model's operators and their options read back exactly") {
    const t_model spec = sample_model();
    const tfl::model m = tfl::parse(build(spec), "built.tflite");
    REQUIRE(m.subgraphs.size() == 1);
    const tfl::subgraph& g = m.subgraphs[0];
    REQUIRE(g.ops.size() == spec.ops.size());
    for (std::size_t i = 0; i < spec.ops.size(); ++i) {
        CAPTURE(i);
        CHECK(g.ops[i].opcode_index == spec.ops[i].opcode);
        CHECK(g.ops[i].builtin == spec.codes[spec.ops[i].opcode].builtin);
        CHECK(g.ops[i].inputs == spec.ops[i].inputs);
        CHECK(g.ops[i].outputs == spec.ops[i].outputs);
        CHECK(g.ops[i].options_type == spec.ops[i].options_type);
        CHECK(g.ops[i].has_options_table);
        CHECK(g.ops[i].opts.index() == spec.ops[i].opts.index());
    }
    const auto& conv = std::get<tfl::conv2d_options>(g.ops[0].opts);
    CHECK(conv.pad == tfl::padding::valid);
    CHECK(conv.stride_w == 2);
    CHECK(conv.stride_h == 2);
    CHECK(conv.fused_activation_function == tfl::activation::relu6);
    CHECK(conv.dilation_w_factor == 1);  // absent: schema default
    CHECK(conv.dilation_h_factor == 1);
    const auto& dw = std::get<tfl::depthwise_conv2d_options>(g.ops[1].opts);
    CHECK(dw.pad == tfl::padding::same);
    CHECK(dw.stride_w == 1);
    CHECK(dw.stride_h == 1);
    CHECK(dw.depth_multiplier == 1);
    CHECK(dw.fused_activation_function == tfl::activation::relu);
    CHECK(dw.dilation_w_factor == 2);
    CHECK(dw.dilation_h_factor == 3);
    const auto& add = std::get<tfl::add_options>(g.ops[2].opts);
    CHECK(add.fused_activation_function == tfl::activation::relu_n1_to_1);
    CHECK(add.pot_scale_int16);  // absent: default true
    const auto& pool = std::get<tfl::pool2d_options>(g.ops[3].opts);
    CHECK(pool.pad == tfl::padding::valid);
    CHECK(pool.stride_w == 4);
    CHECK(pool.stride_h == 4);
    CHECK(pool.filter_width == 4);
    CHECK(pool.filter_height == 4);
    CHECK(pool.fused_activation_function == tfl::activation::none);
    const auto& reshape = std::get<tfl::reshape_options>(g.ops[4].opts);
    CHECK(reshape.has_new_shape);
    CHECK(reshape.new_shape == std::vector<int32_t>{1, -1});
    const auto& fc = std::get<tfl::fully_connected_options>(g.ops[5].opts);
    CHECK(fc.keep_num_dims);
    CHECK_FALSE(fc.asymmetric_quantize_inputs);
    CHECK(fc.weights_format == 0);
    CHECK(fc.fused_activation_function == tfl::activation::none);
    CHECK(std::get<tfl::softmax_options>(g.ops[6].opts).beta == 1.0f);
}

TEST_CASE("read from a file and report a missing file") {
    const std::vector<uint8_t> bytes = build(sample_model());
    const std::string path = (std::filesystem::temp_directory_path() / "qint8_tflite_reader_test.tflite").string();
    {
        FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f != nullptr);
        REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
        std::fclose(f);
    }
    const tfl::model m = tfl::read(path);
    CHECK(m.origin == path);
    CHECK(m.subgraphs.at(0).tensors.size() == 13);
    std::remove(path.c_str());
    try {
        (void)tfl::read(path);
        FAIL("no error for a missing file");
    } catch (const qint8::error& e) {
        CHECK(e.code() == qint8::errc::io);
        CHECK(has_text(e.what(), path));
    }
}

TEST_CASE("wrong file identifier and short files") {
    t_model spec = sample_model();
    spec.ident = "TFL2";
    check_rejected(build(spec), {"model.tflite: file identifier is \"TFL2\", expected \"TFL3\""});

    check_rejected({0x08, 0, 0, 0, 'T', 'F', 'L'}, {"too short"});

    spec = sample_model();
    spec.version = 2;
    check_rejected(build(spec), {"schema version 2"});
}

TEST_CASE("truncation at every length gives an error") {
    const std::vector<uint8_t> bytes = build(sample_model());
    std::size_t not_rejected = 0, first_bad = bytes.size();
    for (std::size_t len = 0; len < bytes.size(); ++len) {
        const outcome o = try_parse(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len)));
        if (!o.threw) {
            ++not_rejected;
            first_bad = std::min(first_bad, len);
        }
    }
    CAPTURE(first_bad);
    CHECK(not_rejected == 0);
    CHECK_FALSE(try_parse(bytes).threw);
}

TEST_CASE("offsets out of range give clear errors") {
    const std::vector<uint8_t> good = build(sample_model());
    const uint32_t far = 0x40000000u;

    SUBCASE("root offset") {
        check_rejected(with_u32(good, 0, static_cast<uint32_t>(good.size()) + 8),
                       {"model.tflite: root table offset at 0x0 points to", "past the end of the file (size " + std::to_string(good.size()) + ")"});
    }
    SUBCASE("vtable offset") {
        const std::size_t root = root_table(good);
        // the vtable far past the end
        check_rejected(with_u32(good, root, static_cast<uint32_t>(-0x100000)), {"model: root Model table at", "vtable offset", "points outside the file"});
    }
    SUBCASE("vtable size") {
        auto b = good;
        const std::size_t vt = vtable_at(b, tensor_table(b, 5));
        const uint16_t bad = 3;
        std::memcpy(b.data() + vt, &bad, 2);
        // vtables may be shared: any tensor using it
        check_rejected(b, {"subgraph 0 tensor", "invalid size (3 bytes)"});
    }
    SUBCASE("field outside its table") {
        auto b = good;
        const std::size_t vt = vtable_at(b, tensor_table(b, 2));
        const uint16_t bad = 0x7ff0;  // voffset of the shape field, far past the inline size
        std::memcpy(b.data() + vt + 4, &bad, 2);
        check_rejected(b, {"shape field (slot 0)", "lies outside its table"});
    }
    SUBCASE("vector offset") {
        check_rejected(with_u32(good, field_at(good, tensor_table(good, 12), 0), far),
                       {"model.tflite: subgraph 0 tensor 12: shape offset at", "past the end of the file"});
    }
    SUBCASE("vector length") {
        const std::size_t shape = deref(good, field_at(good, tensor_table(good, 12), 0));
        char at[32];
        std::snprintf(at, sizeof at, "0x%zx", shape);
        check_rejected(with_u32(good, shape, 0x3fffffffu),
                       {std::string("model.tflite: subgraph 0 tensor 12: shape vector at offset ") + at +
                        " with 1073741823 elements of 4 bytes runs past the end of the file (size " + std::to_string(good.size()) + ")"});
    }
    SUBCASE("vector length overflowing the multiplication") {
        const std::size_t zp = deref(good, field_at(good, deref(good, field_at(good, tensor_table(good, 1), 4)), 3));
        // 2^32-1 int64 elements: more than 2^32 bytes
        check_rejected(with_u32(good, zp, 0xffffffffu), {"subgraph 0 tensor 1: quantization zero_point vector", "4294967295 elements of 8 bytes"});
    }
    SUBCASE("string") {
        const std::size_t name = deref(good, field_at(good, tensor_table(good, 3), 3));
        check_rejected(with_u32(good, name, 0x7ffffff0u), {"subgraph 0 tensor 3: name string at offset", "runs past the end of the file"});
    }
    SUBCASE("string without its NUL") {
        auto b = good;
        const std::size_t name = deref(b, field_at(b, tensor_table(b, 3), 3));
        b[name + 4 + rd32(b, name)] = 'x';
        check_rejected(b, {"subgraph 0 tensor 3: name string at offset", "is not NUL-terminated"});
    }
    SUBCASE("nested table") {
        check_rejected(with_u32(good, field_at(good, tensor_table(good, 4), 4), far),
                       {"subgraph 0 tensor 4: quantization offset at", "past the end of the file"});
    }
    SUBCASE("options table") {
        check_rejected(with_u32(good, field_at(good, op_table(good, 0), 4), far),
                       {"subgraph 0 operator 0 (CONV_2D): Conv2DOptions offset at"});
    }
    SUBCASE("zero offset") {
        check_rejected(with_u32(good, field_at(good, op_table(good, 2), 1), 0),
                       {"subgraph 0 operator 2 (ADD): inputs offset at", "is invalid (0)"});
    }
}

TEST_CASE("indices out of range give clear errors") {
    SUBCASE("operator tensor index") {
        t_model spec = sample_model();
        spec.ops[3].inputs = {99};
        check_rejected(build(spec), {"model.tflite: subgraph 0 operator 3 (AVERAGE_POOL_2D): input 0: tensor index 99 "
                                     "out of range (subgraph has 13 tensors)"});
    }
    SUBCASE("operator output index below -1") {
        t_model spec = sample_model();
        spec.ops[6].outputs = {-2};
        check_rejected(build(spec), {"subgraph 0 operator 6 (SOFTMAX): output 0: tensor index -2 out of range"});
    }
    SUBCASE("subgraph input index") {
        t_model spec = sample_model();
        spec.inputs = {13};
        check_rejected(build(spec), {"subgraph 0: input 0: tensor index 13 out of range"});
    }
    SUBCASE("tensor buffer index") {
        t_model spec = sample_model();
        spec.tensors[10].buffer = 6;
        check_rejected(build(spec), {"subgraph 0 tensor 10: buffer index 6 out of range (model has 6 buffers)"});
    }
    SUBCASE("opcode index") {
        t_model spec = sample_model();
        spec.ops[5].opcode = 10;
        check_rejected(build(spec), {"subgraph 0 operator 5: opcode index 10 out of range (model has 10 operator codes)"});
    }
    SUBCASE("per-axis quantization against the shape") {
        t_model spec = sample_model();
        spec.tensors[1].quantized_dimension = 1;  // dim 1 has 3 entries, 4 scales
        check_rejected(build(spec), {"subgraph 0 tensor 1: per-axis quantization has 4 scales but dimension 1 has size 3"});
        spec.tensors[1].quantized_dimension = 4;
        CHECK(has_text(try_parse(build(spec)).what, "quantized_dimension 4 out of range for a tensor of rank 4"));
        spec.tensors[1].quantized_dimension = 0;
        spec.tensors[1].zero_point = {0, 0};
        CHECK(has_text(try_parse(build(spec)).what, "quantization has 4 scales and 2 zero points"));
    }
}

TEST_CASE("external buffers in the offset and size form") {
    t_model spec = sample_model();
    const std::vector<uint8_t> ext = iota_bytes(40, 9);
    spec.buffers.push_back({{}, 1, 1});  // placeholders of the final width, patched below
    spec.tensors[10].buffer = 6;
    std::vector<uint8_t> b = build(spec);
    const std::size_t fb_size = b.size();
    b.insert(b.end(), ext.begin(), ext.end());
    const std::size_t t = buffer_table(b, 6);
    wr64(b, field_at(b, t, 1), fb_size);
    wr64(b, field_at(b, t, 2), ext.size());

    const tfl::model m = tfl::parse(b, "ext.tflite");
    REQUIRE(m.buffers.size() == 7);
    CHECK(m.buffers[6].external);
    const tfl::byte_view v = m.data(m.subgraphs[0].tensors[10]);
    REQUIRE(v.size == ext.size());
    CHECK(std::vector<uint8_t>(v.data, v.data + v.size) == ext);

    auto bad = b;
    wr64(bad, field_at(bad, t, 2), ext.size() + 1);
    check_rejected(bad, {"buffer 6: external data at offset", "of 41 bytes runs past the end of the file"});

    wr64(bad, field_at(bad, t, 1), ~uint64_t{0} - 3);
    wr64(bad, field_at(bad, t, 2), 8);  // offset + size wraps around
    CHECK(has_text(try_parse(bad).what, "buffer 6: external data at offset"));
}

TEST_CASE("unsupported option types are recorded raw without failing") {
    t_model spec = sample_model();
    spec.ops.push_back({7, {12}, {11}, tfl::options_type::HardSwishOptions, std::monostate{}, true});
    spec.ops.push_back({8, {12}, {11}, 200, std::monostate{}, true});  // not in the union at all
    spec.ops.push_back({9, {12}, {11}, 0, std::monostate{}, false});   // custom op, no options
    spec.ops.push_back({4, {7, 8}, {9}, tfl::options_type::ReshapeOptions, std::monostate{}, false});  // type, no table
    const tfl::model m = tfl::parse(build(spec), "raw.tflite");
    const auto& ops = m.subgraphs.at(0).ops;
    REQUIRE(ops.size() == 11);
    CHECK(ops[7].builtin == tfl::builtin::HARD_SWISH);
    CHECK(ops[7].options_type == 91);
    CHECK(ops[7].has_options_table);
    CHECK(std::holds_alternative<std::monostate>(ops[7].opts));
    CHECK(std::string(tfl::options_type_name(ops[7].options_type)) == "HardSwishOptions");
    CHECK(ops[8].builtin == 128);
    CHECK(ops[8].options_type == 200);
    CHECK(std::holds_alternative<std::monostate>(ops[8].opts));
    CHECK(std::string(tfl::options_type_name(200)) == "UNKNOWN");
    CHECK(m.operator_codes[ops[9].opcode_index].custom_code == "MyCustomOp");
    CHECK(ops[9].options_type == 0);
    CHECK_FALSE(ops[9].has_options_table);
    CHECK(ops[10].options_type == tfl::options_type::ReshapeOptions);
    CHECK_FALSE(ops[10].has_options_table);
    REQUIRE(std::holds_alternative<tfl::reshape_options>(ops[10].opts));  // defaults
    CHECK_FALSE(std::get<tfl::reshape_options>(ops[10].opts).has_new_shape);
}

TEST_CASE("enum names match the schema") {
    CHECK(std::string(tfl::builtin_name(0)) == "ADD");
    CHECK(std::string(tfl::builtin_name(1)) == "AVERAGE_POOL_2D");
    CHECK(std::string(tfl::builtin_name(3)) == "CONV_2D");
    CHECK(std::string(tfl::builtin_name(4)) == "DEPTHWISE_CONV_2D");
    CHECK(std::string(tfl::builtin_name(9)) == "FULLY_CONNECTED");
    CHECK(std::string(tfl::builtin_name(17)) == "MAX_POOL_2D");
    CHECK(std::string(tfl::builtin_name(22)) == "RESHAPE");
    CHECK(std::string(tfl::builtin_name(25)) == "SOFTMAX");
    CHECK(std::string(tfl::builtin_name(34)) == "PAD");
    CHECK(std::string(tfl::builtin_name(40)) == "MEAN");
    CHECK(std::string(tfl::builtin_name(43)) == "SQUEEZE");
    CHECK(std::string(tfl::builtin_name(114)) == "QUANTIZE");
    CHECK(std::string(tfl::builtin_name(117)) == "HARD_SWISH");
    CHECK(std::string(tfl::builtin_name(150)) == "GELU");
    CHECK(std::string(tfl::builtin_name(161)) == "RIGHT_SHIFT");
    CHECK(std::string(tfl::builtin_name(205)) == "REDUCE_WINDOW");
    CHECK(std::string(tfl::builtin_name(-1)) == "UNKNOWN");
    CHECK(std::string(tfl::builtin_name(206)) == "UNKNOWN");
    CHECK(std::string(tfl::options_type_name(1)) == "Conv2DOptions");
    CHECK(std::string(tfl::options_type_name(5)) == "Pool2DOptions");
    CHECK(std::string(tfl::options_type_name(8)) == "FullyConnectedOptions");
    CHECK(std::string(tfl::options_type_name(17)) == "ReshapeOptions");
    CHECK(std::string(tfl::options_type_name(27)) == "ReducerOptions");
    CHECK(std::string(tfl::options_type_name(30)) == "SqueezeOptions");
    CHECK(std::string(tfl::options_type_name(38)) == "DequantizeOptions");
    CHECK(std::string(tfl::options_type_name(89)) == "QuantizeOptions");
    CHECK(std::string(tfl::options_type_name(116)) == "GeluOptions");
    CHECK(std::string(tfl::options_type_name(126)) == "RightShiftOptions");
    CHECK(std::string(tfl::type_name(tfl::tensor_type::int8)) == "INT8");
    CHECK(tfl::type_size(tfl::tensor_type::int64) == 8);
}

TEST_CASE("random byte flips never crash") {
    const std::vector<uint8_t> good = build(sample_model());
    std::mt19937 rng(20240611);
    std::uniform_int_distribution<std::size_t> pos(0, good.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 2000; ++i) {
        auto b = good;
        const std::size_t at = pos(rng);
        uint8_t v = static_cast<uint8_t>(byte(rng));
        if (v == b[at]) v = static_cast<uint8_t>(v ^ 0x80);
        b[at] = v;
        try {
            (void)tfl::parse(std::move(b), "flip.tflite");
            ++parsed;
        } catch (const qint8::error&) {
            ++rejected;
        }
    }
    MESSAGE("byte flips: " << parsed << " parsed, " << rejected << " rejected");
    CHECK(parsed + rejected == 2000);
    CHECK(parsed > 0);
    CHECK(rejected > 0);
}

TEST_CASE("random truncations with flips never crash") {
    const std::vector<uint8_t> good = build(sample_model());
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::size_t len = std::uniform_int_distribution<std::size_t>(0, good.size() - 1)(rng);
        std::vector<uint8_t> b(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
        if (!b.empty()) {
            const int flips = std::uniform_int_distribution<int>(1, 3)(rng);
            for (int k = 0; k < flips; ++k) {
                const std::size_t at = std::uniform_int_distribution<std::size_t>(0, b.size() - 1)(rng);
                b[at] = static_cast<uint8_t>(b[at] ^ (1 + byte(rng) % 255));
            }
        }
        try {
            (void)tfl::parse(std::move(b), "cut.tflite");
            ++parsed;  // possible: a flip can unlink whatever the cut removed
        } catch (const qint8::error&) {
            ++rejected;
        }
    }
    MESSAGE("truncations with flips: " << parsed << " parsed, " << rejected << " rejected");
    CHECK(parsed + rejected == 2000);
    CHECK(rejected > 0);
}

TEST_CASE("shared tables cannot blow up the decoded size") {
    // 4000 tensor entries all pointing at one tensor with a 4000-element shape: a 16 KB file that
    // would decode to 64 MB of shapes. The reader's budget stops it.
    fb_builder b;
    const std::vector<int32_t> shape(4000, 1);
    const auto sv = b.vector(shape);
    b.start_table();
    b.add_offset(0, sv);
    const auto t = b.end_table();
    const auto tv = b.vector_of(std::vector<fb_builder::ref>(4000, t));
    b.start_table();
    b.add_offset(0, tv);
    const auto sg = b.end_table();
    const auto sgs = b.vector_of({sg});
    b.start_table();
    const auto buf0 = b.end_table();
    const auto bufs = b.vector_of({buf0});
    b.start_table();
    b.add<uint32_t>(0, 3);
    b.add_offset(2, sgs);
    b.add_offset(4, bufs);
    const auto root = b.end_table();
    check_rejected(b.finish(root), {"refers to more data than its size allows"});
}

namespace {

/// The .tflite files of the shared data directory, sorted; empty (with a NOT RUN message) without.
std::vector<std::string> real_tflite_files() {
    const std::string dir = qint8::test::shared_data_dir() + "/tflite";
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec))
        for (const auto& e : std::filesystem::directory_iterator(dir, ec))
            if (e.path().extension() == ".tflite") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) MESSAGE("NOT RUN: no .tflite files in " << dir << " (set QINT8_DATA_DIR to the data directory)");
    return files;
}

/// A MobileNet's operators: each kind once at least, with plausible options.
void check_mobilenet_ops(const tfl::subgraph& g) {
    std::set<int32_t> ops;
    for (const tfl::op& o : g.ops) ops.insert(o.builtin);
    CHECK(ops.count(tfl::builtin::CONV_2D) == 1);
    CHECK(ops.count(tfl::builtin::DEPTHWISE_CONV_2D) == 1);
    CHECK(ops.count(tfl::builtin::AVERAGE_POOL_2D) == 1);
    CHECK(ops.count(tfl::builtin::RESHAPE) + ops.count(tfl::builtin::SQUEEZE) == 1);
    CHECK(ops.count(tfl::builtin::SOFTMAX) == 1);
    for (const tfl::op& o : g.ops) {
        if (o.builtin == tfl::builtin::CONV_2D) {
            const auto* c = std::get_if<tfl::conv2d_options>(&o.opts);
            REQUIRE(c != nullptr);
            CHECK((c->stride_w == 1 || c->stride_w == 2));
            CHECK(c->stride_w == c->stride_h);
        } else if (o.builtin == tfl::builtin::DEPTHWISE_CONV_2D) {
            CHECK(std::holds_alternative<tfl::depthwise_conv2d_options>(o.opts));
        } else if (o.builtin == tfl::builtin::AVERAGE_POOL_2D) {
            const auto* p = std::get_if<tfl::pool2d_options>(&o.opts);
            REQUIRE(p != nullptr);
            CHECK(p->filter_width > 1);
            CHECK(p->filter_width == p->filter_height);
        }
    }
}

/// A MobileNet's input image and, for a quantized file, its quantized tensors.
void check_mobilenet_tensors(const tfl::subgraph& g, bool quant, bool flt) {
    REQUIRE(g.inputs.size() == 1);
    const tfl::tensor& in = g.tensors[static_cast<std::size_t>(g.inputs[0])];
    REQUIRE(in.shape.size() == 4);
    CHECK(in.shape[0] == 1);
    CHECK(in.shape[3] == 3);
    CHECK(in.shape[1] == in.shape[2]);
    CHECK(std::set<int32_t>{128, 160, 192, 224}.count(in.shape[1]) == 1);
    if (quant) {
        CHECK(in.type == tfl::tensor_type::uint8);
        CHECK(in.quantization.scale.size() == 1);
        CHECK(in.quantization.zero_point.size() == 1);
        int quantized = 0;
        for (const tfl::tensor& t : g.tensors)
            if (t.type == tfl::tensor_type::uint8) {
                CHECK(t.quantization.scale.size() >= 1);
                CHECK(t.quantization.scale.size() == t.quantization.zero_point.size());
                if (!t.quantization.scale.empty()) {
                    CHECK(t.quantization.scale[0] > 0.f);
                }
                ++quantized;
            }
        CHECK(quantized > 50);
    }
    if (flt) {
        CHECK(in.type == tfl::tensor_type::float32);
        for (const tfl::op& o : g.ops)
            if (o.builtin == tfl::builtin::CONV_2D) {
                CHECK(g.tensors[static_cast<std::size_t>(o.inputs.at(1))].type == tfl::tensor_type::float32);
            }
    }
}

}  // namespace

TEST_CASE("real MobileNet tflite files when present") {
    const std::vector<std::string> files = real_tflite_files();
    for (const std::string& path : files) {
        CAPTURE(path);
        const tfl::model m = tfl::read(path);
        REQUIRE(m.subgraphs.size() == 1);
        const tfl::subgraph& g = m.subgraphs[0];
        check_mobilenet_ops(g);
        check_mobilenet_tensors(g, has_text(path, "_quant"), has_text(path, "_float"));
        // constant tensors: buffer size matches shape x element size
        for (const tfl::tensor& t : g.tensors) {
            const tfl::byte_view v = m.data(t);
            if (v.size == 0) continue;
            std::size_t elems = 1;
            for (int32_t d : t.shape) elems *= static_cast<std::size_t>(d);
            CAPTURE(t.name);
            CHECK(elems * tfl::type_size(t.type) == v.size);
        }
    }
}

TEST_CASE("byte flips in the structure of a real MobileNet tflite file give errors - never a crash") {
    const std::vector<std::string> files = real_tflite_files();
    if (files.empty()) return;
    // 300 byte flips in the FlatBuffer structure of the smallest file (not in weight bytes)
    const std::string smallest = *std::min_element(files.begin(), files.end(), [](const auto& a, const auto& b) {
        return std::filesystem::file_size(a) < std::filesystem::file_size(b);
    });
    const tfl::model base = tfl::read(smallest);
    std::vector<bool> is_data(base.bytes.size(), false);
    for (const tfl::buffer& bf : base.buffers)
        std::fill(is_data.begin() + static_cast<std::ptrdiff_t>(bf.offset),
                  is_data.begin() + static_cast<std::ptrdiff_t>(bf.offset + bf.size), true);
    std::vector<std::size_t> structure;
    for (std::size_t i = 0; i < is_data.size(); ++i)
        if (!is_data[i]) structure.push_back(i);
    REQUIRE_FALSE(structure.empty());
    std::mt19937 rng(99);
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 300; ++i) {
        std::vector<uint8_t> b = base.bytes;
        const std::size_t at = structure[std::uniform_int_distribution<std::size_t>(0, structure.size() - 1)(rng)];
        b[at] = static_cast<uint8_t>(b[at] ^ std::uniform_int_distribution<int>(1, 255)(rng));
        try {
            (void)tfl::parse(std::move(b), smallest);
            ++parsed;
        } catch (const qint8::error&) {
            ++rejected;
        }
    }
    CHECK(parsed + rejected == 300);
}

}  // TEST_SUITE("tflite")
