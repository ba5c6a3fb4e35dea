// Post-training bias correction through a ReLU/ReLU6: the step divides the mean difference by
// the share of outputs in the activation's linear region. Checked against direct computations:
// the statistics against a loop over hand-made values, the step against clipping samples, and
// the whole correction against the naive integer reference (qint8::ref), which shares no code
// with the runtime that measured it.

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <qint8/calibrate.hpp>
#include <qint8/io/bias_correction.hpp>
#include <qint8/ref/reference.hpp>

#include <qint8/convert/convert.hpp>
#include "support/builder.hpp"
#include "support/compare.hpp"
#include "support/layers.hpp"

using namespace qint8;
using namespace qint8::convert::detail_conv;

namespace {

double clip(double x, double lo, double hi) { return std::min(hi, std::max(lo, x)); }

/// Per-channel means of tensor `name` ([N, C, ...]) as the reference computes it.
std::vector<double> ref_channel_means(const model_desc& m, const std::vector<float>& in, int64_t batch, bool fp32, const std::string& name) {
    const ref::value v = ref::to_real(ref::run_all(m, in, batch, test::ref_options(fp32)).at(name));
    const std::size_t c = static_cast<std::size_t>(v.dims[1]), inner = v.f.size() / static_cast<std::size_t>(batch) / c;
    std::vector<double> r(c, 0.0);
    for (std::size_t b = 0; b < static_cast<std::size_t>(batch); ++b)
        for (std::size_t ch = 0; ch < c; ++ch)
            for (std::size_t i = 0; i < inner; ++i) r[ch] += v.f[(b * c + ch) * inner + i] / static_cast<double>(inner * static_cast<std::size_t>(batch));
    return r;
}

double mean_abs_gap(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += std::fabs(a[i] - b[i]);
    return s / static_cast<double>(a.size());
}

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("bias step: the linear region of ReLU - ReLU6 - a residual sum and an INT8 output range") {
    layer l;
    l.post_ops = {};
    CHECK_FALSE(linear_region_of(l).bounded);
    l.post_ops = {post_op::make_relu6()};
    CHECK(linear_region_of(l).bounded);
    CHECK(linear_region_of(l).lo == 0.f);
    CHECK(linear_region_of(l).hi == 6.f);
    l.post_ops = {post_op::make_sum("x"), post_op::make_relu()};  // relu(conv + residual)
    CHECK(linear_region_of(l).lo == 0.f);
    CHECK(std::isinf(linear_region_of(l).hi));
    l.post_ops = {post_op::make_relu(), post_op::make_sum("x")};  // the sum adds unclipped values
    CHECK_FALSE(linear_region_of(l).bounded);
    // An u8 output of scale 0.01 saturates at 2.55, before the ReLU6 bound.
    l.post_ops = {post_op::make_relu6()};
    const linear_region q = linear_region_of(l, quant_params{dtype::u8, 0.01f, 0});
    CHECK(q.lo == 0.f);
    CHECK(q.hi == doctest::Approx(2.55f));
    const linear_region s = linear_region_of(layer{}, quant_params{dtype::s8, 0.5f, 10});
    CHECK(s.lo == doctest::Approx(-69.f));
    CHECK(s.hi == doctest::Approx(58.5f));
}

TEST_CASE("bias step: per-channel means and linear shares equal a direct count") {
    // 2 images x 2 channels x 4 values, ReLU6 region, half a step of 0.05.
    const std::vector<float> v{0.f, 1.f, 6.f, 2.f, /**/ 0.f, 0.f, 0.04f, 3.f, /**/ 5.97f, 1.f, 1.f, 1.f, /**/ 6.f, 6.f, 6.f, 0.f};
    channel_stats s;
    s.add(v, 2, 2, linear_region{true, 0.f, 6.f}, 0.05f);
    CHECK(s.mean_of(0) == doctest::Approx(((0 + 1 + 6 + 2) / 4.0 + (5.97 + 1 + 1 + 1) / 4.0) / 2));
    CHECK(s.mean_of(1) == doctest::Approx(((0 + 0 + 0.04 + 3) / 4.0 + (6 + 6 + 6 + 0) / 4.0) / 2));
    // Channel 0: {1, 2} then {1, 1, 1} (5.97 is within half a step of 6). Channel 1: {3} then none.
    CHECK(s.linear_share(0) == doctest::Approx((2 / 4.0 + 3 / 4.0) / 2));
    CHECK(s.linear_share(1) == doctest::Approx((1 / 4.0 + 0) / 2));
}

TEST_CASE("bias step: through ReLU6 it closes the mean gap the plain difference leaves half open") {
    std::mt19937 g(5);
    std::normal_distribution<double> pre(0.3, 1.5), noise(0.0, 0.2);
    std::vector<double> x(200000), e(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = pre(g);
        e[i] = noise(g);
    }
    const double shift = -0.25;  // the systematic part of a layer's INT8 error
    auto int8_mean = [&](double bias) {
        double s = 0;
        for (std::size_t i = 0; i < x.size(); ++i) s += clip(x[i] + e[i] + shift + bias, 0, 6);
        return s / static_cast<double>(x.size());
    };
    double want = 0, share = 0;
    for (double v : x) want += clip(v, 0, 6) / static_cast<double>(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double y = x[i] + e[i] + shift;
        share += (y > 0 && y < 6) / static_cast<double>(x.size());
    }
    const double got = int8_mean(0);
    const double plain = want - got, step = bias_step(want, got, share);
    CAPTURE(share);
    CHECK(share < 0.7);
    const double gap_plain = std::fabs(want - int8_mean(plain)), gap_step = std::fabs(want - int8_mean(step));
    CAPTURE(gap_plain);
    CAPTURE(gap_step);
    CHECK(gap_plain > 0.25 * std::fabs(want - got));  // the plain difference under-corrects
    CHECK(gap_step < 0.2 * gap_plain);  // what is left is second order (the slope changes along the step)
    CHECK(step == doctest::Approx(plain / share));
    // An (almost) always clipped channel: the share is too small to divide by.
    CHECK(bias_step(1.0, 0.9, 0.01) == doctest::Approx(0.1));
}

TEST_CASE("bias correction: INT8 channel means of the naive reference meet FP32's - and closer than the plain difference") {
    test::rng r(11);
    model_desc m = test::input_only({3, 8, 8}, std::nullopt);
    layer a = test::conv_layer("a", "input", 8, 3, 1);
    a.post_ops = {post_op::make_relu6()};
    m.layers = {a};
    test::add_weights(m, "a", {8, 3, 3, 3}, r, false);
    // Skewed inputs (most near 0) on a coarse input grid: their rounding does not average out,
    // so every channel of `a` gets a systematic error for the correction to remove.
    const int64_t n = 40;
    std::vector<float> img(static_cast<std::size_t>(n) * 3 * 8 * 8);
    for (auto& v : img) {
        const float u = r.uniform(0.f, 1.f);
        v = u * u * u;
    }
    calibrate(m, img.data(), static_cast<std::size_t>(n));
    m.input.act = quant_params{dtype::u8, 0.125f, 0};
    const std::vector<double> want = ref_channel_means(m, img, n, true, "a");
    const std::vector<double> before = ref_channel_means(m, img, n, false, "a");

    model_desc plain = m;  // the plain difference, computed here from the reference
    std::vector<float> d(8);
    for (std::size_t c = 0; c < 8; ++c) d[c] = static_cast<float>(want[c] - before[c]);
    plain.tensors[int8_bias_correction_name("a")] = tensor::from_vector(dtype::f32, {8}, d);
    const std::vector<double> after_plain = ref_channel_means(plain, img, n, false, "a");

    qint8::convert::options o;
    o.bias_correction_images = static_cast<std::size_t>(n);
    REQUIRE(correct_biases(m, img, o) == 1);
    REQUIRE(m.tensors.count(int8_bias_correction_name("a")) == 1);
    const std::vector<double> after = ref_channel_means(m, img, n, false, "a");
    const double g0 = mean_abs_gap(want, before), g_plain = mean_abs_gap(want, after_plain), g_step = mean_abs_gap(want, after);
    CAPTURE(g0);
    CAPTURE(g_plain);
    CAPTURE(g_step);
    CHECK(g0 > 0.001);  // there was something to correct (a tenth of an output step)
    CHECK(g_step < 0.25 * g0);
    CHECK(g_step < 0.5 * g_plain);
    // FP32 stays the source model.
    CHECK(ref_channel_means(m, img, n, true, "a") == want);
}

}  // TEST_SUITE
