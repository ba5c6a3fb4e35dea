// The converter's accuracy-aware fallback (include/qint8/convert/accuracy_fallback.hpp) on a model built
// so that one layer quantizes badly: conv2's weights have one huge value per output channel (on an
// input channel that is always 0, so FP32 is unaffected), so per-channel 8-bit (or 7-bit) weights
// round all its other weights to a step or two. The labels
// are the FP32 model's own predictions, so FP32 top-1 is 100 % and every INT8 miss is a loss.

#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include <qint8/calibrate.hpp>

#include <qint8/convert/accuracy_fallback.hpp>
#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;

namespace {

layer conv(const std::string& name, const std::string& in, int64_t o) {
    layer l = test::conv_layer(name, in, o, 3, 1);
    l.post_ops = {post_op::make_relu()};
    return l;
}

model_desc badly_quantizable(test::rng& r) {
    model_desc m = test::input_only({3, 8, 8}, std::nullopt);
    m.layers.push_back(conv("conv1", "input", 8));
    // conv1's channel 0 is dead (zero weights, negative bias, ReLU): always 0.
    std::vector<float> w1 = r.floats(8 * 27, -0.5f, 0.5f), b1 = r.floats(8, -0.5f, 0.5f);
    std::fill(w1.begin(), w1.begin() + 27, 0.f);
    b1[0] = -1.f;
    m.tensors["conv1.weight"] = tensor::from_vector(dtype::f32, {8, 3, 3, 3}, w1);
    m.tensors["conv1.bias"] = tensor::from_vector(dtype::f32, {8}, b1);
    m.layers.push_back(conv("conv2", "conv1", 8));
    m.layers.back().post_ops.clear();  // signed features: the predicted class varies between images
    // conv2 reads that dead channel with a huge weight in every output channel: no effect on its
    // output, but per-channel weight quantization then has steps far larger than the real weights.
    std::vector<float> w = r.floats(8 * 8 * 9, -0.5f, 0.5f);
    for (std::size_t o = 0; o < 8; ++o) w[o * 72 + 4] = 60.f;
    m.tensors["conv2.weight"] = tensor::from_vector(dtype::f32, {8, 8, 3, 3}, w);
    layer gap = test::make_layer(op::global_avg_pool2d, "gap", {"conv2"});
    m.layers.push_back(gap);
    layer fc = test::fc_layer("fc", "gap", 6);
    m.layers.push_back(fc);
    test::add_weights(m, "fc", {6, 8}, r, false, 63, false);
    return m;
}

/// Images whose channels each have their own level (so that the pooled features, and the
/// predicted classes, differ from image to image), plus a little noise.
std::vector<float> images(test::rng& r, std::size_t n) {
    std::vector<float> v;
    for (std::size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) {
            const float level = r.uniform(-1.f, 1.f);
            for (int p = 0; p < 64; ++p) v.push_back(level + r.uniform(-0.1f, 0.1f));
        }
    return v;
}

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("accuracy-aware fallback moves the badly quantizable layer to FP32 first and stops within the budget") {
    test::rng r(41);
    model_desc m = badly_quantizable(r);
    const std::size_t n = 300;
    const std::vector<float> calib = images(r, 100);
    calibrate(m, calib.data(), 100);
    convert::labelled_images v;
    v.images = images(r, n);
    {
        compile_options co;
        co.batch = static_cast<int64_t>(n);
        co.force_fp32 = true;
        model net(m, co, "fp32 labels");
        session s(net);
        const std::vector<float> out = s.run(v.images);
        for (std::size_t i = 0; i < n; ++i) v.labels.push_back(std::max_element(&out[i * 6], &out[i * 6] + 6) - &out[i * 6]);
    }
    convert::options o;
    const double budget = 1.0;
    const convert::fallback_result fb = convert::accuracy_fallback(m, v, budget, calib, o);
    MESSAGE("FP32 " << fb.top1_fp32 << "%, INT8 " << fb.steps.front().top1_int8 << "% before, " << fb.steps.back().top1_int8 << "% after "
                    << fb.steps.size() - 1 << " move(s), first '" << (fb.steps.size() > 1 ? fb.steps[1].moved : std::string()) << "'");
    CHECK(fb.top1_fp32 == doctest::Approx(100.0));
    std::set<int64_t> classes(v.labels.begin(), v.labels.end());
    CHECK(classes.size() >= 3);  // the labels are not one class
    CHECK(fb.top1_fp32 - fb.steps.front().top1_int8 > 5.0);  // the model really loses accuracy in INT8
    REQUIRE(fb.steps.size() >= 2);
    CHECK(fb.steps[1].moved == "conv2");
    CHECK(fb.within_budget);
    CHECK(fb.top1_fp32 - fb.steps.back().top1_int8 <= budget);
    CHECK(m.find_layer("conv2")->prec == precision::fp32);
    CHECK(m.find_layer("conv1")->prec == precision::int8);  // not moved: the fallback stops when within budget
    // The speed cost was measured in-process (values depend on the machine: only their presence is checked).
    MESSAGE("speed: INT8 " << fb.speed.before << " images/s before, " << fb.speed.after << " after, " << fb.speed.isa << " path");
    CHECK(fb.speed.runs == 20);
    CHECK(fb.speed.batch == 16);
    CHECK(fb.speed.isa == std::string(to_string(cpu_info().chosen)));
    CHECK(std::isfinite(fb.speed.before));
    CHECK(std::isfinite(fb.speed.after));
    CHECK(fb.speed.before > 0);
    CHECK(fb.speed.after > 0);
}

}  // TEST_SUITE
