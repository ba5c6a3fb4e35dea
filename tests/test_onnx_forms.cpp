// ONNX files in the forms other exporters write: ONNX Runtime's quantize_static QDQ form and
// tf2onnx's form of a Keras model (tests/fixtures/onnx_forms/, built node by node in those forms
// by make_fixtures.py there, which also saves each graph's output computed with numpy).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <qint8/convert/convert.hpp>
#include "support/fixture_io.hpp"
#include "support/compare.hpp"

using namespace qint8;
using qint8::test::argmax;
using qint8::test::read_floats;

namespace {

std::string fixture(const std::string& f) { return std::string(QINT8_SOURCE_DIR) + "/tests/fixtures/onnx_forms/" + f; }

convert::result convert_onnx(const std::string& path, bool fp32, const std::vector<float>* calib = nullptr) {
    convert::options o;
    o.input = path;
    o.fp32 = fp32;
    o.images = calib;
    if (calib) o.calib_images = calib->size() / (3 * 16 * 16);
    return convert::convert_graph(convert::onnx_frontend::load(path), o);
}

constexpr std::size_t kImages = 4, kClasses = 10, kImageFloats = 3 * 16 * 16;

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("ONNX Runtime quantize_static QDQ form (int8 weights with DequantizeLinear only / per-channel / int32 biases) matches the graph's outputs") {
    const auto info = nlohmann::json::parse(std::ifstream(fixture("fixtures.json")));
    const double step = info["ort_qdq"]["output_scale"].get<double>();
    const auto in = read_floats(fixture("input_nchw.bin"), kImages * kImageFloats);
    const auto want = read_floats(fixture("ort_qdq.out.bin"), kImages * kClasses);
    const convert::result r = convert_onnx(fixture("ort_qdq.onnx"), false);
    CHECK(r.qat);
    std::size_t int8_layers = 0;
    for (const auto& l : r.m.layers) int8_layers += l.prec == precision::int8;
    CHECK(int8_layers == r.m.layers.size());  // every layer: the three convs, the add, the pool, the fc
    const auto got = test::run_batch(r.m, in, kImages, false);
    REQUIRE(got.size() == want.size());
    double worst = 0;
    std::size_t same_class = 0;
    for (std::size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::fabs(double(got[k]) - want[k]) / step);
    for (std::size_t i = 0; i < kImages; ++i) same_class += argmax(&got[i * kClasses], kClasses) == argmax(&want[i * kClasses], kClasses);
    MESSAGE("ort_qdq: largest difference " << worst << " output steps, same class on " << same_class << "/" << kImages);
    // The graph's outputs are fake-quantized with `step`; qint8 computes the same integers up to
    // the rounding of intermediate layers (float vs integer order of operations).
    CHECK(worst <= 3.0);
    CHECK(same_class == kImages);
    // And it is exactly what the naive reference computes for the converted manifest.
    const test::comparison c = test::compare(r.m, 2, 11, false);
    CHECK(c.max_lsb <= 1.0);
}

TEST_CASE("tf2onnx form (NHWC input + Transpose / explicit pads / Reshape to a constant shape / MatMul + Add) converts and matches") {
    const auto in = read_floats(fixture("input_nchw.bin"), kImages * kImageFloats);
    const auto want = read_floats(fixture("tf2onnx.out.bin"), kImages * kClasses);
    const convert::result f = convert_onnx(fixture("tf2onnx.onnx"), true);
    CHECK(f.m.input.shape == std::vector<int64_t>{3, 16, 16});  // qint8's input is the Transpose's NCHW output
    const auto got = test::run_batch(f.m, in, kImages, true);
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k] == doctest::Approx(want[k]).epsilon(1e-4).scale(1.0));
    // Post-training INT8 of the same file, calibrated on the test images: the integer path equals
    // the naive reference, and the classes stay those of the float graph.
    const convert::result q = convert_onnx(fixture("tf2onnx.onnx"), false, &in);
    std::size_t int8_layers = 0;
    for (const auto& l : q.m.layers) int8_layers += l.prec == precision::int8;
    CHECK(int8_layers >= 3);  // two convs and the classifier
    const test::comparison c = test::compare(q.m, 2, 12, false);
    CHECK(c.max_lsb <= 1.0);
    const auto gi = test::run_batch(q.m, in, kImages, false);
    std::size_t same_class = 0;
    for (std::size_t i = 0; i < kImages; ++i) same_class += argmax(&gi[i * kClasses], kClasses) == argmax(&want[i * kClasses], kClasses);
    CHECK(same_class >= kImages - 1);
}

TEST_CASE("a Transpose of the graph input other than tf2onnx's perm (0 3 1 2) is refused - naming the node") {
    onnx::ModelProto mp;
    {
        std::ifstream f(fixture("tf2onnx.onnx"), std::ios::binary);
        REQUIRE(mp.ParseFromIstream(&f));
    }
    auto* perm = mp.mutable_graph()->mutable_node(0)->mutable_attribute(0);
    REQUIRE(perm->name() == "perm");
    perm->clear_ints();
    for (int64_t v : {0, 2, 3, 1}) perm->add_ints(v);
    try {
        convert::onnx_frontend::from_model(mp, "m.onnx");
        FAIL("expected a refusal");
    } catch (const qint8::error& e) {
        CHECK(e.code() == errc::unsupported);
        CHECK(std::string(e.what()).find("node 'sequential/conv2d/Conv2D__6' (op Transpose): not supported") != std::string::npos);
    }
}

}  // TEST_SUITE
