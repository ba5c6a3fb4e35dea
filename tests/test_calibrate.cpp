// Post-training calibration and session::read, against the naive FP32 reference.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <qint8/calibrate.hpp>
#include <qint8/ref/reference.hpp>

#include "support/builder.hpp"

using namespace qint8;
using namespace qint8::test;

namespace {

model_desc small_net(uint32_t seed) {
    rng r(seed);
    model_desc m = input_only({4, 9, 9}, std::nullopt);
    layer a; a.name = "a"; a.kind = op::conv2d; a.inputs = {"input"}; a.out_channels = 8; a.kernel = {3, 3}; a.pad = {1, 1, 1, 1};
    a.post_ops = {post_op::make_relu()};
    layer b; b.name = "b"; b.kind = op::conv2d; b.inputs = {"a"}; b.out_channels = 8;  // no activation: signed
    layer p; p.name = "pool"; p.kind = op::max_pool2d; p.inputs = {"b"}; p.kernel = {2, 2}; p.stride = {2, 2};
    layer g; g.name = "gap"; g.kind = op::global_avg_pool2d; g.inputs = {"pool"};
    layer f; f.name = "fc"; f.kind = op::fc; f.inputs = {"gap"}; f.out_channels = 5;
    m.layers = {a, b, p, g, f};
    add_weights(m, "a", {8, 4, 3, 3}, r, false);
    add_weights(m, "b", {8, 8, 1, 1}, r, false);
    add_weights(m, "fc", {5, 8}, r, false);
    return m;
}

}  // namespace

TEST_SUITE("calibrate") {

TEST_CASE("session::read returns every intermediate tensor as the reference computes it") {
    model_desc m = small_net(1);
    rng r(2);
    std::vector<float> in = r.floats(2 * 4 * 81, -1.f, 1.f);
    compile_options co;
    co.batch = 2;
    co.force_fp32 = true;
    co.keep_intermediates = true;
    model net(m, co);
    session s(net);
    s.run(in);
    ref::options ro;
    ro.force_fp32 = true;
    auto want = ref::run_all(m, in, 2, ro);
    for (const char* t : {"input", "a", "b", "pool", "gap", "fc"}) {
        CAPTURE(t);
        std::vector<float> got = s.read(t);
        const auto& w = want.at(t).f;
        REQUIRE(got.size() == w.size());
        double worst = 0;
        for (std::size_t i = 0; i < w.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - w[i]));
        CHECK(worst < 1e-4);
    }
    CHECK_THROWS_WITH_AS(s.read("nope"), doctest::Contains("no tensor named 'nope'"), qint8::error);
}

TEST_CASE("abs_max calibration sets u8 after relu and s8 for signed tensors from the observed ranges") {
    model_desc m = small_net(3);
    rng r(4);
    const std::size_t n = 5;
    std::vector<float> imgs = r.floats(n * 4 * 81, -1.f, 1.f);
    calibration_options o;
    o.batch = 2;  // 5 images in batches of 2: the short last batch must not change the ranges
    auto ranges = calibrate(m, imgs.data(), n, o);
    ref::options ro;
    ro.force_fp32 = true;
    auto want = ref::run_all(m, imgs, static_cast<int64_t>(n), ro);
    for (const auto& l : m.layers) {
        CAPTURE(l.name);
        if (l.name == m.output_name()) {  // the logits: no INT8 layer reads them, so no rounding
            CHECK(!l.act);
            continue;
        }
        REQUIRE(l.act);
        float mx = 0, mn = 0;
        for (float v : want.at(l.name).f) { mx = std::max(mx, std::fabs(v)); mn = std::min(mn, v); }
        CHECK(l.act->zero_point == 0);
        if (l.kind != op::max_pool2d && l.kind != op::global_avg_pool2d) {  // pools inherit (checked below)
            CHECK(l.act->type == (mn >= 0 ? dtype::u8 : dtype::s8));
            CHECK(l.act->scale == doctest::Approx(mx / (mn >= 0 ? 255.f : 127.f)).epsilon(1e-4));
        }
    }
    CHECK(m.find_layer("a")->act->type == dtype::u8);
    CHECK(m.find_layer("b")->act->type == dtype::s8);
    CHECK(*m.find_layer("pool")->act == *m.find_layer("b")->act);  // propagated, not re-measured
    CHECK(*m.find_layer("gap")->act == *m.find_layer("pool")->act);
    REQUIRE(m.input.act);
    CHECK(m.input.act->type == dtype::s8);

    // The calibrated INT8 model tracks the FP32 one.
    model q(m);
    session s(q);
    std::vector<float> one(imgs.begin(), imgs.begin() + 4 * 81);
    std::vector<float> a = s.run(one), b = ref::run(m, one, 1, ro);
    double dot = 0, na = 0, nb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) { dot += double(a[i]) * b[i]; na += double(a[i]) * a[i]; nb += double(b[i]) * b[i]; }
    CHECK(dot / std::sqrt(na * nb) > 0.99);
}

TEST_CASE("percentile and kl thresholds cut outliers that abs_max keeps and kl stays above 70 percent of the range") {
    // One channel, identity 1x1 convs: "c" equals the input, whose distribution the test
    // controls; "d" (also equal) is the model output, whose class scores keep their full range.
    model_desc m = input_only({1, 64, 64}, std::nullopt);
    layer c; c.name = "c"; c.kind = op::conv2d; c.inputs = {"input"}; c.out_channels = 1;
    layer d = c; d.name = "d"; d.inputs = {"c"};
    m.layers = {c, d};
    m.tensors["c.weight"] = tensor::from_vector(dtype::f32, {1, 1, 1, 1}, std::vector<float>{1.f});
    m.tensors["d.weight"] = tensor::from_vector(dtype::f32, {1, 1, 1, 1}, std::vector<float>{1.f});
    rng r(5);
    std::vector<float> x(64 * 64);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& v : x) v = nd(r.g);
    x[7] = 40.f;  // two outliers
    x[99] = -35.f;
    std::vector<float> sorted;
    for (float v : x) sorted.push_back(std::fabs(v));
    std::sort(sorted.begin(), sorted.end());

    model_desc a = m, p = m, k = m;
    calibration_options oa, op, ok;
    op.method = calibration_method::percentile;
    op.percentile = 99.0;
    ok.method = calibration_method::kl;
    auto ra = calibrate(a, x.data(), 1, oa);
    auto rp = calibrate(p, x.data(), 1, op);
    auto rk = calibrate(k, x.data(), 1, ok);
    CHECK(ra.at("c").threshold == doctest::Approx(40.f));
    const float p99 = sorted[static_cast<std::size_t>(0.99 * sorted.size())];
    MESSAGE("p99 |x| = " << p99 << ", percentile threshold " << rp.at("c").threshold << ", kl threshold " << rk.at("c").threshold);
    CHECK(std::fabs(rp.at("c").threshold - p99) < 40.f / 2048 * 2);  // within two histogram bins
    // KL searches 70%..100% of the largest value (as Paddle does): it cuts the outlier at 40 but
    // does not go below 28, although the bulk of this unit Gaussian lies under 4.
    CHECK(rk.at("c").threshold < 40.f - 40.f / 2048);
    CHECK(rk.at("c").threshold >= 0.7f * 40.f - 40.f / 2048);
    CHECK(k.find_layer("c")->act->scale == doctest::Approx(rk.at("c").threshold / 127.f));
    // The output keeps abs_max under every method: clipping the largest class scores would tie them.
    CHECK(rp.at("d").threshold == doctest::Approx(40.f));
    CHECK(rk.at("d").threshold == doctest::Approx(40.f));
}

}  // TEST_SUITE
