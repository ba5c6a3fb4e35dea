// Calibration by least quantization error (calibration_method::mse): the threshold chosen from
// a histogram against the squared error of actually quantizing the samples, searched naively.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <qint8/calibrate.hpp>

#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;

namespace {

/// Laplace-distributed magnitudes (heavy tailed, as activations are), scale 1.
std::vector<double> laplace_magnitudes(std::size_t n, uint32_t seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<double> u(1e-12, 1.0);
    std::vector<double> v(n);
    for (auto& x : v) x = -std::log(u(g));
    return v;
}

/// Mean squared error of quantizing `xs` (>= 0) to `levels` steps of threshold / levels, clipped
/// at the threshold: computed sample by sample.
double quantization_mse(const std::vector<double>& xs, double threshold, int levels) {
    const double step = threshold / levels;
    double e = 0;
    for (double x : xs) {
        const double q = std::min<double>(levels, std::nearbyint(x / step)) * step;
        e += (x - q) * (x - q);
    }
    return e / static_cast<double>(xs.size());
}

/// The histogram calibrate() builds: calib_bins bins of |x| up to the largest value.
std::vector<double> histogram(const std::vector<double>& xs, double& bin_width) {
    const double mx = *std::max_element(xs.begin(), xs.end());
    bin_width = mx / detail::calib_bins;
    std::vector<double> h(detail::calib_bins, 0.0);
    for (double x : xs) h[static_cast<std::size_t>(std::min<double>(detail::calib_bins - 1, x / bin_width))] += 1;
    return h;
}

}  // namespace

TEST_SUITE("calibrate") {

TEST_CASE("mse threshold: within 1% of the best error found by quantizing the samples at 400 thresholds") {
    for (int levels : {255, 127, 15}) {
        CAPTURE(levels);
        const std::vector<double> xs = laplace_magnitudes(20000, 7u + static_cast<uint32_t>(levels));
        double w = 0;
        const std::vector<double> h = histogram(xs, w);
        const double chosen = detail::mse_threshold_bin(h, levels) * w;
        const double mx = *std::max_element(xs.begin(), xs.end());
        double best = INFINITY;
        for (int j = 1; j <= 400; ++j) best = std::min(best, quantization_mse(xs, mx * j / 400.0, levels));
        const double got = quantization_mse(xs, chosen, levels);
        CAPTURE(chosen);
        CAPTURE(mx);
        CHECK(got <= best * 1.01);
        CHECK(chosen <= mx);
        // Never worse than the largest value as threshold; with few levels, a heavy tail makes that
        // a poor threshold (at 8 bits a Laplace tail of 20 000 samples is about where the optimum is).
        const double at_max = quantization_mse(xs, mx, levels);
        CHECK(at_max >= got);
        if (levels == 15) CHECK(at_max > 2.0 * got);
    }
}

TEST_CASE("mse threshold: a uniform distribution keeps (nearly) its whole range") {
    std::vector<double> h(detail::calib_bins, 100.0);
    const int bin = detail::mse_threshold_bin(h, 255);
    // Clipping uniform mass costs more than the finer step gains: the threshold stays within 1%
    // of the range (the bins' centres stand for their values, which allows a few bins).
    CHECK(bin >= detail::calib_bins * 99 / 100);
}

TEST_CASE("calibrate with mse: thresholds within the range seen - scale = threshold / levels") {
    test::rng r(3);
    model_desc m = test::input_only({2, 6, 6}, std::nullopt);
    layer a = test::conv_layer("a", "input", 4, 3, 1);
    a.post_ops = {post_op::make_relu()};
    layer f = test::fc_layer("fc", "a", 3);
    m.layers = {a, f};
    test::add_weights(m, "a", {4, 2, 3, 3}, r, false);
    test::add_weights(m, "fc", {3, 4 * 6 * 6}, r, false);
    // Mostly small inputs with a few large ones: a long tail the threshold should cut.
    std::vector<float> img(2 * 6 * 6 * 64);
    for (std::size_t i = 0; i < img.size(); ++i) img[i] = i % 97 == 0 ? r.uniform(5.f, 20.f) : r.uniform(-0.5f, 1.f);
    calibration_options o;
    o.method = calibration_method::mse;
    const auto ranges = calibrate(m, img.data(), 64, o);
    const tensor_range& ra = ranges.at("a");
    CHECK(ra.threshold > 0.f);
    CHECK(ra.threshold < ra.abs_max);  // the tail is clipped
    REQUIRE(m.layers[0].act);
    CHECK(m.layers[0].act->type == dtype::u8);
    CHECK(m.layers[0].act->scale == doctest::Approx(ra.threshold / 255.f));
    // The class scores keep their whole range whatever the method.
    CHECK(ranges.at("fc").threshold == ranges.at("fc").abs_max);
}

}  // TEST_SUITE
