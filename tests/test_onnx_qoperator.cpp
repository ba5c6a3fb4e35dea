// ONNX QOperator models (QLinearConv, QLinearMatMul, com.microsoft QLinearAdd / QLinearMul /
// QLinear[Global]AveragePool): tests/fixtures/onnx_qoperator/, built node by node by
// make_models.py there, with the outputs ONNX Runtime computes for them saved by run_ort.js.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include <qint8/convert/convert.hpp>
#include "support/fixture_io.hpp"

using namespace qint8;
using qint8::test::argmax;
using qint8::test::read_floats;

namespace {

std::string fixture(const std::string& f) { return std::string(QINT8_SOURCE_DIR) + "/tests/fixtures/onnx_qoperator/" + f; }

constexpr std::size_t kImages = 4, kClasses = 10, kImageFloats = 3 * 16 * 16;

onnx::ModelProto read_model(const std::string& name) {
    onnx::ModelProto mp;
    std::ifstream f(fixture(name + ".onnx"), std::ios::binary);
    REQUIRE(mp.ParseFromIstream(&f));
    return mp;
}

/// An initializer of the fixture file, decoded by the front end's decoder.
convert::constant initializer(const onnx::ModelProto& mp, const std::string& name) {
    for (const auto& t : mp.graph().initializer())
        if (t.name() == name) return convert::onnx_frontend::detail_onnx::decode(t, "fixture", name);
    FAIL("no initializer " << name);
    return {};
}

convert::result convert_model(const onnx::ModelProto& mp, const std::string& name) {
    convert::options o;
    return convert::convert_graph(convert::onnx_frontend::from_model(mp, fixture(name + ".onnx")), o);
}

/// A qint8 layer's output against the integer tensor ONNX Runtime computed for it, in steps of
/// that tensor's quantization.
struct probe {
    std::string tensor;  ///< the ONNX tensor (probes.json) ...
    std::string layer;   ///< ... and the qint8 layer whose output it is
    double max_steps;    ///< the largest difference allowed with 8-bit weights (VNNI, AMX)
    double max_steps_7bit;  ///< ... on a path without an int8 dot product (see below)
};

/// Largest difference of each probe, and of the logits (qint8's float logits put on the output's
/// grid, as the file's final QLinear op does), against ONNX Runtime, in steps.
struct agreement {
    std::map<std::string, double> steps;  ///< per tensor, "logits" for the output
    std::size_t same_class = 0;
};

/// `float_unit`: the logits are the float output of the last op (a QGemm without y_scale), compared
/// in this unit (its accumulator's, a_scale * b_scale) instead of in steps of an output grid.
agreement against_ort(const convert::result& r, const onnx::ModelProto& mp, const std::string& name, const std::vector<probe>& table, double float_unit = 0) {
    const auto probes = nlohmann::json::parse(std::ifstream(fixture("probes.json")))[name];
    const auto in = read_floats(fixture("input.bin"), kImages * kImageFloats);
    compile_options co;
    co.batch = static_cast<int64_t>(kImages);
    co.keep_intermediates = true;  // the probed layers' outputs are read back
    const model net(r.m, co, name);
    session s(net);
    const std::vector<float> got = s.run(in);
    agreement a;
    auto compare = [&](const std::vector<float>& mine, const std::string& tensor, const std::string& qname, bool round_mine) {
        const convert::constant sc = initializer(mp, qname + "_scale"), zp = initializer(mp, qname + "_zero_point");
        const bool s8 = zp.elem == "int8";
        const double step = sc.f.at(0), z = double(zp.i.at(0)), lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
        std::vector<double> ort;
        if (tensor == "logits") {
            for (float v : read_floats(fixture(name + ".out.bin"), kImages * kClasses)) ort.push_back(v);
        } else {
            std::ifstream f(fixture(name + "." + tensor + ".bin"), std::ios::binary);
            const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            for (char c : bytes) ort.push_back(step * ((s8 ? double(static_cast<int8_t>(c)) : double(static_cast<uint8_t>(c))) - z));
        }
        REQUIRE(ort.size() == mine.size());
        // Both sides as codes: qint8's intermediate outputs are its codes times the scale (up
        // to float rounding), its logits are float and are put on the output grid first.
        double worst = 0;
        for (std::size_t k = 0; k < mine.size(); ++k) {
            double v = std::nearbyint(mine[k] / step);
            if (round_mine) v = std::min(hi, std::max(lo, v + z)) - z;
            worst = std::max(worst, std::fabs(v - std::nearbyint(ort[k] / step)));
        }
        a.steps[tensor] = worst;
    };
    for (const probe& p : table) {
        if (p.tensor == "logits" && float_unit > 0) {
            const auto want = read_floats(fixture(name + ".out.bin"), kImages * kClasses);
            double worst = 0;
            for (std::size_t k = 0; k < want.size(); ++k) worst = std::max(worst, std::fabs(double(got[k]) - double(want[k])) / float_unit);
            a.steps["logits"] = worst;
        } else if (p.tensor == "logits") compare(got, "logits", "logits", true);
        else compare(s.read(p.layer), p.tensor, probes.at(p.tensor).get<std::string>(), false);
        const double limit = cpu_info().u8_weight_bits == 8 ? p.max_steps : p.max_steps_7bit;
        CHECK_MESSAGE(a.steps[p.tensor] <= limit, name << " " << p.tensor << ": " << a.steps[p.tensor] << " steps from ONNX Runtime on the " << cpu_info().u8_weight_bits
                                                        << "-bit weight path");
    }
    const auto want = read_floats(fixture(name + ".out.bin"), kImages * kClasses);
    for (std::size_t i = 0; i < kImages; ++i) a.same_class += argmax(&got[i * kClasses], kClasses) == argmax(&want[i * kClasses], kClasses);
    std::ostringstream os;
    for (const auto& [t, d] : a.steps) os << " " << t << " " << d;
    MESSAGE(name << ": largest difference to ONNX Runtime in steps:" << os.str() << "; same class on " << a.same_class << "/" << kImages);
    return a;
}

std::size_t int8_layers(const model_desc& m) {
    std::size_t n = 0;
    for (const auto& l : m.layers) n += l.prec == precision::int8;
    return n;
}

/// The s8 weights the manifest holds for `layer`, as integers.
std::vector<int64_t> manifest_weights(const model_desc& m, const std::string& layer) {
    const auto& t = m.tensors.at(layer + ".weight");
    REQUIRE(t.type == dtype::s8);
    const auto* p = t.as<int8_t>();
    return std::vector<int64_t>(p, p + t.elements());
}

}  // namespace

TEST_SUITE("convert") {

// What may differ from ONNX Runtime, and why (everything else must be equal):
//  * A residual add: ONNX Runtime rounds the 1x1 conv's output to its own scale, then
//    QLinearAdd adds it to the shortcut and rounds again; qint8 adds the shortcut to the conv's
//    unrounded sum (a fused sum post-op) and rounds once. One step of the add's output.
//  * An average pool: ONNX Runtime averages the real values and rounds once to the output
//    scale; qint8's int8 pool rounds the average on the input's grid and then requantizes to
//    the output's. One step.
//  * Whatever reads a tensor that is one step off can be off by that step times its scale
//    ratio (a global pool whose output grid is twice as fine as its input's: two steps).
//  * The logits: the same again through the classifier; measured here and bounded below.
// Convolutions, their fused Clip and the grouped / depthwise / uint8-weight paths read exactly
// ONNX Runtime's integers when their input is equal, and must then give exactly its integers,
// on a path with an int8 dot product (VNNI, AMX: 8-bit weights). On a path without one (the
// avx2/ registration) qint8's u8 kernels keep 7 bits of a channel's weights where int16 pair
// sums could saturate (docs/manifest.md, "Code paths"), so a conv there is up to two steps from ONNX
// Runtime's integers and what follows a little more: the second limit in each table, measured.

TEST_CASE("QOperator with int8 weights (QLinearConv per-channel and per-tensor / depthwise / bias or none / quantized Clip / QLinearAdd residual / MaxPool on uint8 / QLinearGlobalAveragePool / Shape-Reshape flatten / QLinearMatMul with uint8 weights + QLinearAdd bias) matches ONNX Runtime") {
    const onnx::ModelProto mp = read_model("qop_s8");
    const convert::result r = convert_model(mp, "qop_s8");
    CHECK(r.qat);
    CHECK(int8_layers(r.m) == r.m.layers.size());
    // conv1, the depthwise conv with its Clip, the 1x1 conv with the residual sum, the max pool,
    // the global pool, the classifier with its bias: the QOperator graph's six integer steps.
    std::vector<op> kinds;
    for (const auto& l : r.m.layers) kinds.push_back(l.kind);
    CHECK(kinds == std::vector<op>{op::conv2d, op::depthwise_conv2d, op::conv2d, op::max_pool2d, op::global_avg_pool2d, op::fc});
    CHECK(r.m.layers[1].post_ops.size() == 1);
    CHECK(r.m.layers[1].post_ops[0].kind == post_op::clip);
    CHECK(r.m.layers[2].post_ops.at(0).kind == post_op::sum);
    // On the 7-bit weight path (avx2) channels whose pair sums could saturate are requantized: the
    // convolutions move by up to 2 steps, and the residual sum of two such branches (with the
    // branch rounded to its own grid first, as the file says) and the max pool over it by up to 4.
    const agreement a = against_ort(r, mp, "qop_s8",
                                    {{"conv1_output", "conv1_output_quantized_node", 0, 2},
                                     {"relu6_output", "dw_output_quantized_node", 0, 2},
                                     {"add_output", "pw_output_quantized_node", 1, 4},
                                     {"pool_output", "pool_output_quantized_node", 1, 4},
                                     {"gap_output", "gap_output_quantized_node", 1, 2},
                                     {"logits", "", 1, 2}});
    CHECK(a.same_class == kImages);
    // The trained integers are the manifest's: int8 weights as they are.
    const auto w = initializer(mp, "dw.weight_quantized");
    CHECK(manifest_weights(r.m, r.m.layers[1].name) == w.i);
}

TEST_CASE("QOperator with uint8 weights and zero point 121 (per-tensor and per-channel scales / grouped conv / QLinearMul by a constant / QLinearAveragePool) matches ONNX Runtime and keeps w - zero point exactly") {
    const onnx::ModelProto mp = read_model("qop_u8w");
    const convert::result r = convert_model(mp, "qop_u8w");
    CHECK(int8_layers(r.m) == r.m.layers.size());
    std::vector<op> kinds;
    for (const auto& l : r.m.layers) kinds.push_back(l.kind);
    CHECK(kinds == std::vector<op>{op::conv2d, op::conv2d, op::avg_pool2d, op::global_avg_pool2d, op::fc});
    CHECK(r.m.layers[1].groups == 2);
    const agreement a = against_ort(r, mp, "qop_u8w",
                                    {{"conv1_output", "conv1_output_quantized_node", 0, 2},
                                     {"mul_output", "grouped_output_quantized_node", 0, 2},
                                     {"avgpool_output", "avgpool_output_quantized_node", 1, 2},
                                     {"gap_output", "gap_output_quantized_node", 2, 3},
                                     {"logits", "", 3, 4}});
    CHECK(a.same_class == kImages);
    // uint8 weights: the manifest holds w - 121 in int8, the integers the file describes.
    const auto w = initializer(mp, "conv1.weight_quantized");
    REQUIRE(w.elem == "uint8");
    std::vector<int64_t> want(w.i);
    for (auto& v : want) v -= 121;
    CHECK(manifest_weights(r.m, r.m.layers[0].name) == want);
}

TEST_CASE("QOperator with int8 activations and channels_last pools between Transposes (QLinearAveragePool with pads and count_include_pad / QLinearGlobalAveragePool) matches ONNX Runtime") {
    const onnx::ModelProto mp = read_model("qop_nhwc");
    const convert::result r = convert_model(mp, "qop_nhwc");
    CHECK(int8_layers(r.m) == r.m.layers.size());
    std::vector<op> kinds;
    for (const auto& l : r.m.layers) kinds.push_back(l.kind);
    CHECK(kinds == std::vector<op>{op::conv2d, op::avg_pool2d, op::conv2d, op::global_avg_pool2d, op::fc});
    CHECK(r.m.layers[1].count_include_pad);
    const agreement a = against_ort(r, mp, "qop_nhwc",
                                    {{"conv1_output", "conv1_output_quantized_node", 0, 2},
                                     {"pw_output", "pw_output_quantized_node", 4, 6},
                                     {"logits", "", 2, 3}});
    CHECK(a.same_class == kImages);
}

TEST_CASE("QOperator QGemm (com.microsoft: transB 1 and 0 / alpha / int32 bias C as [O] and [1 O] / int8 per-channel and uint8 per-tensor weights / quantized and float output) matches ONNX Runtime") {
    const onnx::ModelProto mp = read_model("qop_gemm");
    const convert::result r = convert_model(mp, "qop_gemm");
    std::vector<op> kinds;
    for (const auto& l : r.m.layers) kinds.push_back(l.kind);
    REQUIRE(kinds == std::vector<op>{op::conv2d, op::global_avg_pool2d, op::fc, op::fc});
    // The first QGemm's output range starts at its zero point 0: the ReLU ONNX Runtime folded into it.
    REQUIRE(r.m.layers[2].post_ops.size() == 1);
    CHECK(r.m.layers[2].post_ops[0].kind == post_op::relu);
    CHECK(r.m.layers[2].act.has_value());
    // The second has no y_scale: its output, the logits, stays float, in units of a_scale * b_scale.
    CHECK_FALSE(r.m.layers[3].act.has_value());
    const double unit = initializer(mp, "fc1_output_scale").f.at(0) * initializer(mp, "fc2.weight_scale").f.at(0);
    // With 8-bit weights: ONNX Runtime's integers, the global pool within its one step (see above),
    // and the float logits equal to float rounding (a hundredth of an accumulator unit) when fc1's
    // codes are. Without VNNI (measured): the 3x3 conv is up to 3 steps off, and the logits, whose
    // 12 u8 inputs meet weights requantized to fewer bits, up to 369 units (a weight moved by
    // one unit moves a logit by up to 255 of them).
    const agreement a = against_ort(r, mp, "qop_gemm",
                                    {{"conv1_output", "conv1_output_quantized_node", 0, 3},
                                     {"gap_output", "gap_output_quantized_node", 1, 1},
                                     {"fc1_output", "fc1_output_quantized_node", 1, 1},
                                     {"logits", "", 0.01, 400}},
                                    unit);
    CHECK(a.same_class == kImages);
    // The file's integers: fc1's int8 [O, K] as they are; fc2's uint8 [K, O] transposed, less 121.
    CHECK(manifest_weights(r.m, r.m.layers[2].name) == initializer(mp, "fc1.weight_quantized").i);
    const auto w2 = initializer(mp, "fc2.weight_quantized");
    REQUIRE(w2.elem == "uint8");
    std::vector<int64_t> want;
    for (int64_t o = 0; o < 10; ++o)
        for (int64_t k = 0; k < 12; ++k) want.push_back(w2.i[static_cast<std::size_t>(k * 10 + o)] - 121);
    CHECK(manifest_weights(r.m, r.m.layers[3].name) == want);
}

}  // TEST_SUITE

namespace {

/// The error converting `mp` gives: "[qint8.CODE] m.onnx: ..." (or "(no error)").
std::string refusal(const onnx::ModelProto& mp, errc code) {
    try {
        convert::onnx_frontend::from_model(mp, "m.onnx");
    } catch (const qint8::error& e) {
        CHECK(e.code() == code);
        return e.what();
    }
    return "(no error)";
}

onnx::NodeProto* node_named(onnx::ModelProto& mp, const std::string& name) {
    for (auto& n : *mp.mutable_graph()->mutable_node())
        if (n.name() == name) return &n;
    FAIL("no node " << name);
    return nullptr;
}

onnx::TensorProto* initializer_named(onnx::ModelProto& mp, const std::string& name) {
    for (auto& t : *mp.mutable_graph()->mutable_initializer())
        if (t.name() == name) return &t;
    FAIL("no initializer " << name);
    return nullptr;
}

void add_initializer(onnx::ModelProto& mp, const std::string& name, int type, const std::vector<int64_t>& dims, const std::string& raw) {
    auto* t = mp.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(raw);
}

}  // namespace

TEST_SUITE("bad_inputs") {

TEST_CASE("QOperator: a missing scale - a zero point of the wrong type - scales or a bias of the wrong size are refused naming the node") {
    const std::string conv = "node 'conv1_output_quantized_node' (op QLinearConv): ";
    {
        onnx::ModelProto mp = read_model("qop_s8");
        node_named(mp, "conv1_output_quantized_node")->set_input(1, "");
        CHECK(refusal(mp, errc::onnx) == "[qint8.onnx] m.onnx: " + conv + "x_scale (input 1): missing");
    }
    {
        onnx::ModelProto mp = read_model("qop_s8");
        add_initializer(mp, "zp32", onnx::TensorProto::INT32, {}, std::string(4, '\0'));
        node_named(mp, "conv1_output_quantized_node")->set_input(7, "zp32");
        CHECK(refusal(mp, errc::onnx) == "[qint8.onnx] m.onnx: " + conv + "y_zero_point 'zp32': expected uint8 or int8, found int32");
    }
    {
        onnx::ModelProto mp = read_model("qop_s8");
        add_initializer(mp, "zp_s8", onnx::TensorProto::INT8, {}, std::string(1, '\0'));
        node_named(mp, "conv1_output_quantized_node")->set_input(2, "zp_s8");  // the input is uint8
        CHECK(refusal(mp, errc::onnx) ==
              "[qint8.onnx] m.onnx: " + conv + "x_zero_point: 'input_quantized' holds uint8 values, the zero point 'zp_s8' is int8");
    }
    {
        onnx::ModelProto mp = read_model("qop_s8");
        const float three[3] = {0.1f, 0.1f, 0.1f};
        add_initializer(mp, "ws3", onnx::TensorProto::FLOAT, {3}, std::string(reinterpret_cast<const char*>(three), 12));
        node_named(mp, "conv1_output_quantized_node")->set_input(4, "ws3");
        CHECK(refusal(mp, errc::onnx) == "[qint8.onnx] m.onnx: " + conv + "w_scale 'ws3': expected 1 or 8 value(s), found 3");
    }
    {
        onnx::ModelProto mp = read_model("qop_s8");
        add_initializer(mp, "b4", onnx::TensorProto::INT32, {4}, std::string(16, '\0'));
        node_named(mp, "conv1_output_quantized_node")->set_input(8, "b4");
        CHECK(refusal(mp, errc::onnx) == "[qint8.onnx] m.onnx: " + conv + "B 'b4': expected int32 [8], found int32 [4]");
    }
    {
        onnx::ModelProto mp = read_model("qop_s8");
        initializer_named(mp, "conv1_output_scale")->set_raw_data(std::string(4, '\0'));  // 0.0f
        CHECK(refusal(mp, errc::onnx) == "[qint8.onnx] m.onnx: " + conv + "y_scale 'conv1_output_scale': expected finite positive values, found 0.000000");
    }
    {
        onnx::ModelProto mp = read_model("qop_s8");
        node_named(mp, "conv1_output_quantized_node")->set_input(0, "input");  // the float input, not its QuantizeLinear
        CHECK(refusal(mp, errc::unsupported) ==
              "[qint8.unsupported] m.onnx: " + conv + "x 'input': expected an integer tensor from QuantizeLinear or a QLinear op, found the float graph input");
    }
}

TEST_CASE("QOperator: a QGemm with transA - a non-positive alpha or a bias C of the wrong size is refused naming the node") {
    const std::string fc1 = "node 'fc1_output_quantized_node' (op QGemm): ";
    const auto set_attr = [](onnx::NodeProto* n, const char* name, float f, int64_t i) {
        for (auto& a : *n->mutable_attribute())
            if (a.name() == name) {
                a.set_f(f);
                a.set_i(i);
                return;
            }
        auto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(f != 0.f ? onnx::AttributeProto::FLOAT : onnx::AttributeProto::INT);
        a->set_f(f);
        a->set_i(i);
    };
    {
        onnx::ModelProto mp = read_model("qop_gemm");
        set_attr(node_named(mp, "fc1_output_quantized_node"), "transA", 0.f, 1);
        CHECK(refusal(mp, errc::unsupported) == "[qint8.unsupported] m.onnx: " + fc1 + "transA = 1: expected A as [batch, K] activations (transA = 0)");
    }
    {
        onnx::ModelProto mp = read_model("qop_gemm");
        set_attr(node_named(mp, "fc1_output_quantized_node"), "alpha", -0.5f, 0);
        CHECK(refusal(mp, errc::unsupported) == "[qint8.unsupported] m.onnx: " + fc1 + "alpha: expected a finite positive value, found -0.500000");
    }
    {
        onnx::ModelProto mp = read_model("qop_gemm");
        add_initializer(mp, "c5", onnx::TensorProto::INT32, {5}, std::string(20, '\0'));
        node_named(mp, "fc1_output_quantized_node")->set_input(6, "c5");
        CHECK(refusal(mp, errc::onnx) == "[qint8.onnx] m.onnx: " + fc1 + "C 'c5': expected int32 [12], [1, 12] or one value, found int32 [5]");
    }
}

TEST_CASE("QOperator: uint8 weights whose difference to their zero point leaves int8 are refused naming the tensor (never requantized silently)") {
    onnx::ModelProto mp = read_model("qop_u8w");
    onnx::TensorProto* w = initializer_named(mp, "conv1.weight_quantized");
    std::string raw = w->raw_data();
    raw[5] = static_cast<char>(250);  // 250 - 121 = 129
    w->set_raw_data(raw);
    CHECK(refusal(mp, errc::unsupported) ==
          "[qint8.unsupported] m.onnx: node 'conv1_output_quantized_node' (op QLinearConv): weight 'conv1.weight_quantized': value 250 (element 5) "
          "less its zero point 121 is 129, outside int8: qint8's int8 kernels cannot hold this weight exactly (re-quantize it with int8 weights, "
          "or with uint8 weights whose zero point keeps w - zero point in -128..127)");
}

TEST_CASE("QOperator: a channels_last pool not behind Transpose(0 2 3 1) - or whose NHWC output feeds something else - is refused naming the node") {
    {
        onnx::ModelProto mp = read_model("qop_nhwc");
        node_named(mp, "avgpool_output_quantized_node")->set_input(0, "conv1_output_quantized");  // NCHW, no Transpose
        CHECK(refusal(mp, errc::unsupported) ==
              "[qint8.unsupported] m.onnx: node 'avgpool_output_quantized_node' (op QLinearAveragePool): channels_last = 1: qint8 is NCHW and takes an NHWC "
              "pool input only as a Transpose (perm 0,2,3,1) of an NCHW tensor, read by channels_last pools alone; 'conv1_output_quantized' is not one");
    }
    {
        onnx::ModelProto mp = read_model("qop_nhwc");
        node_named(mp, "avgpool_nchw_node")->set_op_type("Identity");  // the NHWC output read as if NCHW
        node_named(mp, "avgpool_nchw_node")->clear_attribute();
        CHECK(refusal(mp, errc::unsupported) ==
              "[qint8.unsupported] m.onnx: node 'avgpool_nchw_node' (op Identity): reads 'avgpool_output_quantized', the NHWC output of a channels_last pool: "
              "qint8 takes it only through a Transpose (perm 0,3,1,2)");
    }
}

}  // TEST_SUITE
