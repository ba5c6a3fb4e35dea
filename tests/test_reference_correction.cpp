// The bias correction of 8-bit weights measured in the naive reference (convert/
// reference_correction.hpp), which a machine without VNNI uses for the VNNI and AMX paths.
// Checked against a plain recomputation that reruns the whole reference (ref::run_all, one
// output element at a time) once per corrected layer, and, where this CPU has an int8 dot
// product, against the correction its own 8-bit code path measures.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <qint8/calibrate.hpp>
#include <qint8/convert/convert.hpp>
#include <qint8/convert/reference_correction.hpp>
#include <qint8/io/bias_correction.hpp>
#include <qint8/ref/reference.hpp>

#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;
using namespace qint8::convert::detail_conv;

namespace {

constexpr int64_t kImages = 20;

/// u8 input -> 3x3 conv (ReLU6) -> depthwise (ReLU6) -> grouped 3x3 conv, stride 2 (ReLU) ->
/// global pool -> fc: every kind the correction reaches, with padding, groups and strides in the
/// im2col, float weights (quantized to 8 bits when compiled) and calibrated activations.
model_desc small_net(test::rng& r, const std::vector<float>& images) {
    model_desc m = test::input_only({4, 12, 12}, std::nullopt);
    layer a = test::conv_layer("a", "input", 8, 3, 1);
    a.post_ops = {post_op::make_relu6()};
    layer b = test::depthwise_layer("b", "a", 8);
    b.groups = 8;
    b.post_ops = {post_op::make_relu6()};
    layer c = test::conv_layer("c", "b", 12, 3, 1, 2);
    c.groups = 2;
    c.post_ops = {post_op::make_relu()};
    layer p = test::make_layer(op::global_avg_pool2d, "p", {"c"});
    layer d = test::fc_layer("d", "p", 10);
    m.layers = {a, b, c, p, d};
    test::add_weights(m, "a", {8, 4, 3, 3}, r, false);
    test::add_weights(m, "b", {8, 1, 3, 3}, r, false);
    test::add_weights(m, "c", {12, 4, 3, 3}, r, false);
    test::add_weights(m, "d", {10, 12}, r, false);
    calibrate(m, images.data(), static_cast<std::size_t>(kImages));
    validate(m, "test");
    return m;
}

std::vector<float> skewed_images(test::rng& r) {
    std::vector<float> v(static_cast<std::size_t>(kImages) * 4 * 12 * 12);
    for (auto& x : v) {
        const float u = r.uniform(0.f, 1.f);
        x = u * u * u;  // most near 0 on the input grid: rounding that does not average out
    }
    return v;
}

/// FP32 per-channel statistics of the corrected layers (the runtime's FP32 path, as correct_biases).
std::map<std::string, channel_stats> fp32_stats(const model_desc& m, const std::vector<std::string>& targets, const std::vector<float>& images) {
    compile_options cf;
    cf.batch = 10;
    cf.keep_intermediates = true;
    cf.force_fp32 = true;
    return layer_channel_stats(model(m, cf, "test"), targets, m, images.data(), static_cast<std::size_t>(kImages), cf.batch);
}

/// The plain way: for each layer in order, rerun the whole naive reference without the layer's
/// correction, measure, and set it.
void naive_corrections(model_desc& m, const std::vector<std::string>& targets, const std::map<std::string, channel_stats>& want,
                       const std::vector<float>& images) {
    ref::options o;
    o.u8_weight_max = 127;
    for (const auto& name : targets) {
        const layer& l = *m.find_layer(name);
        const std::size_t C = static_cast<std::size_t>(l.out_channels);
        m.tensors[int8_bias_correction_name(name)] = tensor::from_vector(dtype::f32, {l.out_channels}, std::vector<float>(C, 0.f));
        channel_stats got;
        add_output(got, ref::to_real(ref::run_all(m, images, kImages, o).at(name)).f, static_cast<std::size_t>(kImages), l, l.act.has_value());
        m.tensors[int8_bias_correction_name(name)] = tensor::from_vector(dtype::f32, {l.out_channels}, bias_steps(want.at(name), got));
    }
}

double largest_gap(const model_desc& x, const model_desc& y, const std::vector<std::string>& targets, double* largest_value) {
    double gap = 0;
    *largest_value = 0;
    for (const auto& name : targets) {
        const tensor& a = x.tensors.at(int8_bias_correction_name(name));
        const tensor& b = y.tensors.at(int8_bias_correction_name(name));
        REQUIRE(a.elements() == b.elements());
        for (std::size_t c = 0; c < a.elements(); ++c) {
            gap = std::max(gap, std::fabs(double(a.as<float>()[c]) - double(b.as<float>()[c])));
            *largest_value = std::max(*largest_value, std::fabs(double(a.as<float>()[c])));
        }
    }
    return gap;
}

/// small_net on its images, with its 8-bit corrections measured by reference_correction_pass (`fast`).
struct measured {
    std::vector<float> images;
    model_desc m, fast;
    std::vector<std::string> targets{"a", "b", "c", "d"};
    std::map<std::string, channel_stats> want;
    std::size_t calls = 0;  ///< progress callbacks

    explicit measured(uint32_t seed) {
        test::rng r(seed);
        images = skewed_images(r);
        m = small_net(r, images);
        want = fp32_stats(m, targets, images);
        fast = m;
        reference_correction_pass(fast, targets, want, images.data(), static_cast<std::size_t>(kImages), [&](std::size_t, std::size_t) { ++calls; });
    }
};

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("8-bit bias correction in the naive reference: equal to rerunning the reference per layer - and it corrects") {
    const measured t(31);
    CHECK(t.calls == t.m.layers.size());
    model_desc naive = t.m;
    naive_corrections(naive, t.targets, t.want, t.images);
    double largest = 0;
    const double gap = largest_gap(t.fast, naive, t.targets, &largest);
    CAPTURE(gap);
    CAPTURE(largest);
    CHECK(largest > 1e-3);  // there was something to correct
    // The same integers (f32 matrix products are exact at these sizes) and the same statistics.
    CHECK(gap <= 1e-6 * std::max(1.0, largest));
}

TEST_CASE("8-bit bias correction in the naive reference: equal to what a VNNI or AMX path measures on itself") {
    if (cpu_info().u8_weight_bits != 8) {
        MESSAGE("NOT RUN: this CPU's path (" << std::string(to_string(cpu_info().chosen)) << ") has no int8 dot product to measure 8-bit weights on");
        return;
    }
    const measured t(37);
    model_desc native = t.m;
    compile_options ci;
    ci.batch = 10;
    ci.keep_intermediates = true;
    correction_pass(native, t.targets, t.want, t.images, static_cast<std::size_t>(kImages), ci, int8_bias_correction_name, qint8::convert::options{}, "test");
    double largest = 0;
    const double gap = largest_gap(t.fast, native, t.targets, &largest);
    CAPTURE(gap);
    CAPTURE(largest);
    CHECK(largest > 1e-3);
    CHECK(gap <= 1e-6 * std::max(1.0, largest));
}

TEST_CASE("8-bit bias correction in the naive reference: the images it takes fit its memory bound") {
    test::rng r(41);
    const std::vector<float> images = skewed_images(r);
    const model_desc m = small_net(r, images);
    // The largest moment of small_net: the input, a, and a's accumulators, 3 x 4 x 12 x 12 + ...
    const std::size_t per = reference_bytes_per_image(m);
    CHECK(per >= 4 * (4 + 8 + 8) * 12 * 12);
    CHECK(reference_correction_images(m, 200, 10) == 200);
    CHECK(reference_correction_images(m, 7, 10) == 7);
    // A model whose tensors need more than the bound per 10 images takes one batch of them.
    model_desc big = test::input_only({64, 1024, 1024}, std::nullopt);
    layer a = test::conv_layer("a", "input", 64);
    big.layers = {a};
    big.layers[0].out_shape = {64, 1024, 1024};
    CHECK(reference_correction_images(big, 200, 10) == 10);
    CHECK(reference_correction_images(big, 200, 10) * reference_bytes_per_image(big) > reference_correction_bytes);
}

}  // TEST_SUITE
