// qint8 against PyTorch's own outputs, without Python: the Fashion-MNIST models' logits on the
// first 100 test images, saved by models/fashion_mnist/reference_logits.py beside each model
// (reference_logits_100.bin: the FP32 model; reference_logits_qat_100.bin: the QAT model's
// fake-quant graph). The images are committed too (models/fashion_mnist/reference_images_100.u8).
//
// Bounds. FP32: the same f32 weights and input, summed in another order (oneDNN's blocked
// kernels vs PyTorch's) through up to 100 layers: every logit within 1e-4 of PyTorch's, relative
// to the image's largest logit (measured: at most 2.3e-6 on avx2). QAT: qint8 runs true INT8
// where PyTorch's export simulates it in f32 (fake-quant), so a rounding tie can land one step
// apart and travel (more so on AVX2, whose u8 path uses 7-bit weights); the top-1 class must agree on
// at least 95 of 100 images (measured on avx2: 97 to 100 per model).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <qint8/convert/convert.hpp>
#include "support/fashion_mnist.hpp"

using namespace qint8;

namespace {

const std::string dir = std::string(QINT8_SOURCE_DIR) + "/models/fashion_mnist/";

std::vector<char> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<float> read_f32(const std::string& path, std::size_t count) {
    const std::vector<char> b = read_bytes(path);
    REQUIRE_MESSAGE(b.size() == count * sizeof(float), path << ": expected " << count * sizeof(float) << " bytes");
    std::vector<float> v(count);
    std::memcpy(v.data(), b.data(), b.size());
    return v;
}

std::vector<float> run_converted(const std::string& onnx, bool fp32, const std::vector<float>& images) {
    convert::options o;
    o.input = onnx;
    o.fp32 = fp32;
    const model_desc m = convert::convert_graph(convert::onnx_frontend::load(onnx), o).m;
    compile_options co;
    co.batch = 100;
    co.force_fp32 = fp32;
    model net(m, co, onnx);
    session s(net);
    return s.run(images);
}

std::size_t argmax(const float* v) { return std::size_t(std::max_element(v, v + 10) - v); }

}  // namespace

TEST_SUITE("fashion_mnist") {

TEST_CASE("Fashion-MNIST models: qint8 FP32 equals PyTorch's saved logits within 1e-4 / QAT INT8 agrees on top-1") {
    const std::vector<char> raw = read_bytes(dir + "reference_images_100.u8");
    REQUIRE(raw.size() == 100 * 28 * 28);
    const std::vector<float> images = test::prepare_fashion_mnist(reinterpret_cast<const uint8_t*>(raw.data()), 100);
    for (const std::string name : {"mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19"}) {
        CAPTURE(name);
        const std::string m = dir + name + "/" + name;
        const std::vector<float> want = read_f32(dir + name + "/reference_logits_100.bin", 1000);
        const std::vector<float> got = run_converted(m + "_fp32.onnx", true, images);
        REQUIRE(got.size() == want.size());
        double worst = 0;
        for (std::size_t i = 0; i < 100; ++i) {
            const float* w = want.data() + i * 10;
            double mag = 1;
            for (int k = 0; k < 10; ++k) mag = std::max(mag, double(std::fabs(w[k])));
            for (int k = 0; k < 10; ++k) worst = std::max(worst, std::fabs(double(got[i * 10 + k]) - w[k]) / mag);
        }
        CHECK(worst <= 1e-4);

        const std::vector<float> want_q = read_f32(dir + name + "/reference_logits_qat_100.bin", 1000);
        const std::vector<float> got_q = run_converted(m + "_qat.onnx", false, images);
        int agree = 0;
        for (std::size_t i = 0; i < 100; ++i) agree += argmax(got_q.data() + i * 10) == argmax(want_q.data() + i * 10);
        MESSAGE(name << ": FP32 worst relative logit difference " << worst << "; QAT INT8 top-1 agrees with PyTorch on " << agree << "/100 ("
                     << std::string(to_string(cpu_info().chosen)) << ")");
        CHECK(agree >= 95);
    }
}

}  // TEST_SUITE
