// ONNX files exactly as PyTorch 1.13's torch.onnx.export writes them (no rewriting): the small
// fixtures of tests/fixtures/onnx_raw/ (FX and eager QAT, PTQ, FP32; written with PyTorch's
// outputs by make_fixtures.py there) converted and run against PyTorch's saved outputs, and the
// raw QDQ exports of the Fashion-MNIST models (models/fashion_mnist/export_raw.py) against
// PyTorch's fake-quant top-1 on the full test set (slow).

#include <doctest/doctest.h>

#include <limits>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <nlohmann/json.hpp>

#include <qint8/convert/convert.hpp>
#include "support/fixture_io.hpp"
#include "support/fashion_mnist.hpp"

using namespace qint8;
using qint8::test::argmax;
using qint8::test::read_floats;

namespace {

std::string fixture(const std::string& f) { return std::string(QINT8_SOURCE_DIR) + "/tests/fixtures/onnx_raw/" + f; }

model_desc convert_onnx(const std::string& path, bool fp32, std::vector<std::string>* notes = nullptr) {
    convert::options o;
    o.input = path;
    o.fp32 = fp32;
    if (notes) o.note = [notes](const std::string& s) { notes->push_back(s); };
    return convert::convert_graph(convert::onnx_frontend::load(path), o).m;
}

constexpr std::size_t kImages = 8, kClasses = 10, kImageFloats = 3 * 16 * 16;

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("raw PyTorch FP32 export with BN nodes and a Shape-Gather-Unsqueeze-Concat-Reshape chain equals PyTorch") {
    const auto in = read_floats(fixture("input.bin"), kImages * kImageFloats);
    const auto want = read_floats(fixture("fp32.out.bin"), kImages * kClasses);
    const auto got = test::run_batch(convert_onnx(fixture("fp32.onnx"), true), in, kImages, true);
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k] == doctest::Approx(want[k]).epsilon(1e-4).scale(1.0));
}

TEST_CASE("raw PyTorch QDQ exports of FX QAT per-channel and eager QAT per-tensor and PTQ match PyTorch fake-quant outputs") {
    const auto info = nlohmann::json::parse(std::ifstream(fixture("fixtures.json")));
    const auto in = read_floats(fixture("input.bin"), kImages * kImageFloats);
    for (const std::string name : {"fx_qat", "eager_qat", "ptq"}) {
        CAPTURE(name);
        const double step = info["models"][name]["output_scale"].get<double>();
        const auto want = read_floats(fixture(name + ".out.bin"), kImages * kClasses);
        std::vector<std::string> notes;
        const model_desc m = convert_onnx(fixture(name + ".onnx"), false, &notes);
        std::size_t int8_layers = 0;
        for (const auto& l : m.layers) int8_layers += l.prec == precision::int8;
        CHECK(int8_layers >= 6);  // every conv and the fc, at least
        for (const auto& s : notes) MESSAGE(s);
        const auto got = test::run_batch(m, in, kImages, false);
        REQUIRE(got.size() == want.size());
        // The output is PyTorch's logits fake-quantized with `step`: qint8 computes the same
        // integers up to rounding of intermediate layers, so a few steps at most.
        double worst = 0;
        std::size_t same_class = 0;
        for (std::size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::fabs(double(got[k]) - want[k]) / step);
        double worst_tie = 0;  // where the classes differ: how far below PyTorch's top logit qint8's class is, in steps
        for (std::size_t i = 0; i < kImages; ++i) {
            const std::size_t a = argmax(&got[i * kClasses], kClasses), b = argmax(&want[i * kClasses], kClasses);
            same_class += a == b;
            worst_tie = std::max(worst_tie, (double(want[i * kClasses + b]) - want[i * kClasses + a]) / step);
        }
        MESSAGE(name << ": largest difference " << worst << " output steps, same class on " << same_class << "/" << kImages
                     << ", a differing class at most " << worst_tie << " steps below PyTorch's top logit");
        CHECK(worst <= 4.0);
        // Random weights give near-ties among the 10 logits (PyTorch's quantized outputs can tie
        // exactly), so a class may differ, but only where PyTorch's own top two are that close.
        CHECK(same_class >= kImages - 2);
        CHECK(worst_tie <= 3.0);
    }
}

TEST_CASE("constant subgraphs fold at import so Identity-routed zero points and the view() shape chain disappear") {
    // The raw FX export routes zero points through Identity nodes and computes the Reshape
    // target from Shape(x); both are constants after import.
    const auto g = convert::onnx_frontend::load(fixture("fx_qat.onnx"));
    for (const auto& n : g.nodes) {
        CHECK_MESSAGE(n.source_op != "Identity", n.name);
        CHECK_MESSAGE(n.source_op != "Shape", n.name);
        if (n.kind == convert::op_kind::reshape) CHECK(n.ints("shape") == std::vector<int64_t>{1, -1});
    }
}

TEST_CASE("constant evaluation of broadcasting arithmetic and Gather and Concat and Transpose and Cast and Reshape targets") {
    namespace ce = convert::const_eval;
    auto f32 = [](std::vector<int64_t> shape, std::vector<float> v) {
        convert::constant c = ce::make("float32", std::move(shape));
        c.f = std::move(v);
        return c;
    };
    auto i64 = [](std::vector<int64_t> shape, std::vector<int64_t> v) {
        convert::constant c = ce::make("int64", std::move(shape));
        c.i = std::move(v);
        return c;
    };
    // [2, 3] / [3]: numpy broadcasting along the last axis.
    const auto d = ce::binary(f32({2, 3}, {2, 4, 6, 8, 10, 12}), f32({3}, {2, 4, 3}), '/');
    CHECK(d.shape == std::vector<int64_t>{2, 3});
    CHECK(d.f == std::vector<float>{1, 1, 2, 4, 2.5f, 4});
    // [2, 1] - [1, 3] -> [2, 3]; integers stay integers, division truncates toward zero.
    const auto s = ce::binary(i64({2, 1}, {10, 20}), i64({1, 3}, {1, 2, 3}), '-');
    CHECK(s.i == std::vector<int64_t>{9, 8, 7, 19, 18, 17});
    CHECK(ce::binary(i64({2}, {-7, 7}), i64({}, {2}), '/').i == std::vector<int64_t>{-3, 3});
    CHECK_THROWS_AS(ce::binary(f32({2}, {1, 2}), f32({3}, {1, 2, 3}), '+'), ce::eval_error);
    // Gather along axis 1 with a negative index.
    const auto g = ce::gather(f32({2, 3}, {0, 1, 2, 3, 4, 5}), i64({2}, {-1, 0}), 1);
    CHECK(g.shape == std::vector<int64_t>{2, 2});
    CHECK(g.f == std::vector<float>{2, 0, 5, 3});
    // Concat on axis 0 of shape vectors (a Reshape target as PyTorch computes it).
    const auto a = i64({1}, {1}), b = i64({1}, {-1});
    CHECK(ce::concat({&a, &b}, 0).i == std::vector<int64_t>{1, -1});
    // Transpose [2, 3] -> [3, 2].
    CHECK(ce::transpose(f32({2, 3}, {0, 1, 2, 3, 4, 5}), {1, 0}).f == std::vector<float>{0, 3, 1, 4, 2, 5});
    // Cast float -> int8 truncates; reshape targets resolve 0 and -1.
    const auto c = ce::cast(f32({3}, {-1.7f, 0.2f, 2.9f}), "int8");
    CHECK(c.elem == "int8");
    CHECK(c.i == std::vector<int64_t>{-1, 0, 2});
    CHECK(ce::reshape_target({4, 3, 2}, {0, -1}) == std::vector<int64_t>{4, 6});
    CHECK(ce::unsqueeze(f32({3}, {1, 2, 3}), {0, -1}).shape == std::vector<int64_t>{1, 3, 1});
    // Floats outside the int64 range (a fuzz finding: 8.1e32 as a shape) are refused, not converted.
    CHECK_THROWS_AS(ce::cast(f32({2}, {1.f, 8.1246e32f}), "int64"), ce::eval_error);
    CHECK_THROWS_AS(ce::cast(f32({1}, {std::numeric_limits<float>::quiet_NaN()}), "int32"), ce::eval_error);
    CHECK(ce::to_int64(-2.9) == -2);
    CHECK_THROWS_AS(ce::to_int64(9.3e18), ce::eval_error);
}

}  // TEST_SUITE

TEST_SUITE("slow") {

TEST_CASE("Fashion-MNIST raw PyTorch exports of FX QAT and eager QAT and PTQ give INT8 top-1 within 0.5 pt of PyTorch fake-quant") {
    const test::fashion_mnist test_set = test::load_fashion_mnist("t10k", 10000);
    if (test_set.n == 0) {
        MESSAGE("NOT RUN: Fashion-MNIST not found at " << test::fashion_mnist_dir());
        return;
    }
    int files = 0;
    for (const std::string name : {"mobilenet_v2", "resnet50"}) {
        const std::string dir = std::string(QINT8_SOURCE_DIR) + "/models/fashion_mnist/" + name + "/";
        std::ifstream jf(dir + "raw_exports.json");
        if (!jf) continue;
        const auto rec = nlohmann::json::parse(jf);
        for (const std::string method : {"fx_qat", "eager_qat", "ptq"}) {
            if (!rec.contains(method)) continue;
            CAPTURE(name);
            CAPTURE(method);
            const model_desc m = convert_onnx(dir + rec[method]["file"].get<std::string>(), false);
            compile_options co;
            co.batch = 100;
            model net(m, co, "fashion-mnist");
            session s(net);
            std::vector<float> out(100 * kClasses);
            std::size_t right = 0;
            for (std::size_t first = 0; first < test_set.n; first += 100) {
                s.run(test_set.images.data() + first * test::fashion_mnist::image_floats, out.data());
                for (std::size_t i = 0; i < 100; ++i) right += static_cast<int64_t>(argmax(&out[i * kClasses], kClasses)) == test_set.labels[first + i];
            }
            const double top1 = 100.0 * static_cast<double>(right) / static_cast<double>(test_set.n);
            const double torch_top1 = rec[method]["pytorch_fakequant"]["top1"].get<double>();
            MESSAGE(name << " " << method << ": qint8 INT8 " << top1 << "%, PyTorch fake-quant " << torch_top1 << "%");
            CHECK(std::fabs(top1 - torch_top1) <= 0.5);
            ++files;
        }
    }
    REQUIRE(files >= 1);
}

}  // TEST_SUITE
