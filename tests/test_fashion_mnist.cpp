// Real data: the project's Fashion-MNIST models (models/fashion_mnist/, trained by its recipe),
// converted from ONNX by the converter and run by the runtime, against the dataset's published
// labels and PyTorch's own accuracy recorded beside each model.

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <qint8/convert/convert.hpp>
#include "support/fashion_mnist.hpp"

using namespace qint8;

namespace {

const char* const topologies[] = {"mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19"};

std::string model_dir(const std::string& name) { return std::string(QINT8_SOURCE_DIR) + "/models/fashion_mnist/" + name + "/"; }

bool exists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

model_desc convert_onnx(const std::string& path, bool fp32, const std::vector<float>* calib = nullptr,
                        calibration_method method = calibration_method::abs_max) {
    convert::options o;
    o.input = path;
    o.fp32 = fp32;
    o.images = calib;
    o.method = method;
    o.bias_correction = false;  // the PTQ bars and docs/accuracy.md's PTQ columns are without it
    return convert::convert_graph(convert::onnx_frontend::load(path), o).m;
}

/// Top-1 accuracy (percent) of `m` on the first n images of `d`.
double top1(const model_desc& m, const test::fashion_mnist& d, std::size_t n, bool fp32) {
    compile_options co;
    co.batch = 100;
    co.force_fp32 = fp32;
    model net(m, co, "fashion-mnist");
    session s(net);
    std::vector<float> out(net.output_size() * 100);
    std::size_t right = 0;
    for (std::size_t first = 0; first < n; first += 100) {
        s.run(d.images.data() + first * test::fashion_mnist::image_floats, out.data());
        for (std::size_t i = 0; i < 100 && first + i < n; ++i) {
            const auto t = kernels::top_k(out.data() + i * 10, 10, 1);
            right += t[0].first == d.labels[first + i];
        }
    }
    return 100.0 * static_cast<double>(right) / static_cast<double>(n);
}

nlohmann::json pytorch_accuracy(const std::string& name) {
    std::ifstream f(model_dir(name) + "accuracy.json");
    return nlohmann::json::parse(f);
}

}  // namespace

TEST_SUITE("fashion_mnist") {

TEST_CASE("Fashion-MNIST models convert from ONNX and classify 1000 test images (FP32 / QAT INT8 / PTQ INT8)") {
    const test::fashion_mnist test_set = test::load_fashion_mnist("t10k", 1000);
    const test::fashion_mnist calib = test::load_fashion_mnist("train", 200);
    if (test_set.n == 0) {
        MESSAGE("NOT RUN: Fashion-MNIST not found at " << test::fashion_mnist_dir() << " (Debian package dataset-fashion-mnist)");
        return;
    }
    int models = 0;
    for (const char* name : topologies) {
        const std::string dir = model_dir(name);
        if (!exists(dir + name + "_fp32.onnx")) continue;
        ++models;
        CAPTURE(name);
        const model_desc f = convert_onnx(dir + name + "_fp32.onnx", true);
        const double acc_fp32 = top1(f, test_set, 1000, true);
        const model_desc ptq = convert_onnx(dir + name + "_fp32.onnx", false, &calib.images);
        const double acc_ptq = top1(ptq, test_set, 1000, false);
        MESSAGE(std::string(name) << ": qint8 FP32 " << acc_fp32 << "%, PTQ abs_max INT8 " << acc_ptq << "% on the first 1000 test images");
        CHECK(acc_fp32 >= 88.0);  // the models reach >= 90% on all 10 000; the first 1000 are similar
        CHECK(std::fabs(acc_ptq - acc_fp32) <= 2.0);
        if (exists(dir + name + "_qat.onnx")) {
            const model_desc q = convert_onnx(dir + name + "_qat.onnx", false);
            const double acc_qat = top1(q, test_set, 1000, false);
            MESSAGE(std::string(name) << ": QAT INT8 " << acc_qat << "%");
            CHECK(std::fabs(acc_qat - acc_fp32) <= 1.0);
        }
    }
    REQUIRE(models >= 1);  // at least one trained model is committed
}

}  // TEST_SUITE

TEST_SUITE("slow") {

TEST_CASE("Fashion-MNIST full test set: qint8 FP32 equals PyTorch within 0.1 pt / QAT within 0.5 / PTQ within 1.0") {
    const test::fashion_mnist test_set = test::load_fashion_mnist("t10k", 10000);
    const test::fashion_mnist calib = test::load_fashion_mnist("train", 500);
    if (test_set.n == 0) {
        MESSAGE("NOT RUN: Fashion-MNIST not found at " << test::fashion_mnist_dir());
        return;
    }
    int models = 0;
    for (const char* name : topologies) {
        const std::string dir = model_dir(name);
        if (!exists(dir + name + "_fp32.onnx") || !exists(dir + "accuracy.json")) continue;
        ++models;
        CAPTURE(name);
        const double torch_fp32 = pytorch_accuracy(name)["pytorch"]["fp32"]["top1"].get<double>();
        const double acc_fp32 = top1(convert_onnx(dir + name + "_fp32.onnx", true), test_set, 10000, true);
        const double acc_ptq = top1(convert_onnx(dir + name + "_fp32.onnx", false, &calib.images), test_set, 10000, false);
        const double acc_kl = top1(convert_onnx(dir + name + "_fp32.onnx", false, &calib.images, calibration_method::kl), test_set, 10000, false);
        MESSAGE(std::string(name) << ": PyTorch FP32 " << torch_fp32 << "%, qint8 FP32 " << acc_fp32 << "%, PTQ abs_max " << acc_ptq << "%, PTQ kl " << acc_kl << "%");
        CHECK(acc_fp32 >= 90.0);
        CHECK(std::fabs(acc_fp32 - torch_fp32) <= 0.1);
        CHECK(acc_fp32 - acc_ptq <= 1.0);
        CHECK(acc_fp32 - acc_kl <= 1.0);
        if (exists(dir + name + "_qat.onnx")) {
            const double acc_qat = top1(convert_onnx(dir + name + "_qat.onnx", false), test_set, 10000, false);
            MESSAGE(std::string(name) << ": QAT INT8 " << acc_qat << "%");
            CHECK(acc_fp32 - acc_qat <= 0.5);
        }
    }
    REQUIRE(models >= 1);
}

}  // TEST_SUITE
