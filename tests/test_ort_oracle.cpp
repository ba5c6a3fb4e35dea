// ONNX Runtime as the oracle for QDQ files: the Fashion-MNIST QDQ fixtures and the raw PyTorch
// QAT / PTQ exports (models/fashion_mnist/), converted with the defaults, against ONNX Runtime
// 1.30's logits and top-1 saved by models/fashion_mnist/ort_oracle.py in tests/fixtures/ort_oracle/.
//
// On the QDQ files (NAME_qat.onnx: BatchNorm folded, a Q/DQ pair after every conv) ONNX Runtime
// fuses every conv into its integer QLinearConv: both compute the file's integers, the same s8
// weights, the same u8 activations, the logits rounded to the output's Q/DQ. They can still
// differ by one output step where a value lands within float rounding of a half step: ONNX
// Runtime requantizes with its own float scale (input scale x weight scale / output scale, or
// through its QLinearAdd / QLinearGlobalAveragePool arithmetic) and divides where it quantizes
// the input, qint8 multiplies by oneDNN's f32 scales and the reciprocal; each rounds half to
// even on its own float result. The logits are required to agree within one step.
//
// In the raw PyTorch exports every conv is followed by Div and BatchNormalization before its
// Q/DQ, so ONNX Runtime cannot fuse it: it runs a float Conv on the dequantized weights with the
// file's float bias, then BatchNormalization, then rounds. qint8 folds the BatchNorm into the
// weight scales (the file's integer codes kept) and adds that bias unrounded (float_bias); a
// BatchNormalization after a conv's own Q/DQ (eager mode) becomes a 1x1 depthwise layer that
// keeps that rounding, and a residual the file adds in float is added in float. The remaining
// differences are float rounding in a value within a hair of a half step: one output step.
//
// On a path without VNNI (avx2/ here) oneDNN sums pairs of u8 x s8 products in int16, and every
// weight channel whose pairs could saturate is requantized to fewer bits (docs/manifest.md, "Code
// paths"): the integers are no longer the file's. There the test only requires the same class
// on 95 of 100 images (measured: 97-100) and reports how far the logits are.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <nlohmann/json.hpp>

#include <qint8/convert/convert.hpp>
#include <qint8/dispatch/isa.hpp>
#include "support/fashion_mnist.hpp"
#include "support/fixture_io.hpp"

using namespace qint8;

namespace {

const std::string root = QINT8_SOURCE_DIR;

std::string oracle(const std::string& f) { return root + "/tests/fixtures/ort_oracle/" + f; }

nlohmann::json oracle_index() { return nlohmann::json::parse(std::ifstream(oracle("ort_oracle.json"))); }

model_desc convert_default(const std::string& file) {
    convert::options o;
    o.input = root + "/models/fashion_mnist/" + file;
    // The defaults depart from a file only where a manifest cannot hold what it asks: one tensor
    // quantized with two parameter sets (vgg's classifier, MobileNet-V2's Flatten; reported).
    o.note = [&](const std::string& s) {
        if (s.find("with two parameter sets") == std::string::npos) CHECK_MESSAGE(s.rfind("departure", 0) != 0, file << ": " << s);
    };
    return convert::convert_graph(convert::onnx_frontend::load(o.input), o).m;
}

/// The first 100 test images (committed beside the models), preprocessed as the recipe does.
std::vector<float> reference_images() {
    std::ifstream f(root + "/models/fashion_mnist/reference_images_100.u8", std::ios::binary);
    std::vector<uint8_t> raw(100 * 28 * 28);
    f.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
    REQUIRE(f.gcount() == static_cast<std::streamsize>(raw.size()));
    return test::prepare_fashion_mnist(raw.data(), 100);
}

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("QDQ files and raw PyTorch exports: qint8's INT8 logits equal ONNX Runtime's or differ by one output step") {
    const nlohmann::json idx = oracle_index();
    const std::vector<float> in = reference_images();
    // test::argmax takes the first of equal values, as numpy's does: rounded logits tie often.
    REQUIRE(idx["files"].size() >= 6);
    for (const auto& f : idx["files"]) {
        const std::string file = f["file"].get<std::string>();
        CAPTURE(file);
        const model_desc m = convert_default(file);
        const layer* out = m.find_layer(m.output_name());
        REQUIRE(out->act);  // every one of these files quantizes its logits
        const double step = out->act->scale;
        const std::vector<float> want = test::read_floats(oracle(f["logits100"].get<std::string>()), 100 * 10);
        const std::vector<float> got = test::run_batch(m, in, 100, false);
        REQUIRE(got.size() == want.size());
        std::size_t equal = 0, one = 0, same_class = 0;
        double worst = 0;
        for (std::size_t k = 0; k < got.size(); ++k) {
            const double d = std::fabs(double(got[k]) - want[k]) / step;
            worst = std::max(worst, d);
            equal += d < 1e-3;
            one += d >= 1e-3 && d < 1.001;
        }
        for (std::size_t i = 0; i < 100; ++i) same_class += test::argmax(&got[i * 10], 10) == test::argmax(&want[i * 10], 10);
        MESSAGE(file << ": " << equal << " of 1000 logits equal ONNX Runtime's, " << one << " one step apart, largest "
                     << worst << " steps; same class on " << same_class << "/100");
        const bool raw = file.find("_raw.onnx") != std::string::npos, exact_weights = cpu_info().u8_weight_bits == 8;
        if (exact_weights) CHECK(worst < 1.001);
        if (exact_weights) CHECK(equal >= (raw ? 900u : 980u));  // measured: 926-987 (raw), 993-1000
        if (raw || !exact_weights) CHECK(same_class >= 95);
    }
}

}  // TEST_SUITE

TEST_SUITE("slow") {

TEST_CASE("QDQ files and raw PyTorch exports: qint8's top-1 on the 10 000 Fashion-MNIST test images within 0.1 pt of ONNX Runtime's (0.3 without VNNI)") {
    const test::fashion_mnist test_set = test::load_fashion_mnist("t10k", 10000);
    if (test_set.n == 0) {
        MESSAGE("NOT RUN: Fashion-MNIST not found at " << test::fashion_mnist_dir() << " (Debian package dataset-fashion-mnist)");
        return;
    }
    const nlohmann::json idx = oracle_index();
    REQUIRE(idx["images"].get<std::size_t>() == 10000);
    for (const auto& f : idx["files"]) {
        const std::string file = f["file"].get<std::string>();
        CAPTURE(file);
        const model_desc m = convert_default(file);
        compile_options co;
        co.batch = 100;
        model net(m, co, file);
        session s(net);
        std::vector<float> out(net.output_size() * 100);
        std::size_t right = 0;
        for (std::size_t first = 0; first < 10000; first += 100) {
            s.run(test_set.images.data() + first * test::fashion_mnist::image_floats, out.data());
            for (std::size_t i = 0; i < 100; ++i) right += static_cast<int64_t>(test::argmax(&out[i * 10], 10)) == test_set.labels[first + i];
        }
        const double top1 = static_cast<double>(right) / 100.0, ort = f["top1"].get<double>();
        MESSAGE(file << ": qint8 INT8 top-1 " << top1 << "%, ONNX Runtime " << idx["onnxruntime"].get<std::string>() << " " << ort << "%");
        // Paths without VNNI requantize some weight channels (see the top of this file): 0.3 pt there.
        CHECK(std::fabs(top1 - ort) <= (cpu_info().u8_weight_bits == 8 ? 0.1 : 0.3) + 1e-9);
    }
}

}  // TEST_SUITE
