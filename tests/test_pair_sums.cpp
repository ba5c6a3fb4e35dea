// 8-bit weights on paths without VNNI: the int16 pair-sum proof (detail/pair_sums.hpp) and the
// runtime against exact 8-bit integer arithmetic on weights at the limit of that proof.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <qint8/detail/quantize_weights.hpp>
#include <qint8/session.hpp>
#include <qint8/ref/reference.hpp>

#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;

namespace {

/// Signs that every pairing the proof knows keeps opposite (so 127 fits with codes up to 255),
/// while pairing channels (1, 2) or (3, 4) instead would add two same-sign products.
int sign_of(int64_t o, int64_t c, int64_t t) {
    const int sc = (c % 4 == 0 || c % 4 == 3) ? 1 : -1;
    const int st = t % 2 == 0 ? 1 : -1;
    return (o % 2 == 0 ? 1 : -1) * sc * st;
}

/// A weighted layer reading `input` [c, h, w] u8 codes (scale 1/255), with weights 127 * sign_of.
model_desc edge_model(op kind, int64_t c, int64_t hw, int64_t k) {
    model_desc m = test::input_only({c, hw, hw}, quant_params{dtype::u8, 1.f / 255.f, 0});
    layer l = test::make_layer(kind, "l", {"input"});
    l.out_channels = 6;
    if (kind != op::fc) {
        l.kernel = {k, k};
        l.pad = {k / 2, k / 2, k / 2, k / 2};
    }
    m.layers.push_back(l);
    const int64_t taps = kind == op::fc ? hw * hw : k * k;
    std::vector<int8_t> w(static_cast<std::size_t>(6 * c * taps));
    for (int64_t o = 0; o < 6; ++o)
        for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t t = 0; t < taps; ++t) w[std::size_t((o * c + ci) * taps + t)] = static_cast<int8_t>((o < 3 ? 127 : 120) * sign_of(o, ci, t));
    const std::vector<int64_t> shape = kind == op::fc ? std::vector<int64_t>{6, c * hw * hw} : std::vector<int64_t>{6, c, k, k};
    m.tensors["l.weight"] = tensor::from_vector(dtype::s8, shape, w);
    m.tensors["l.weight.scales"] = tensor::from_vector(dtype::f32, {6}, std::vector<float>{1e-3f, 2e-3f, 1e-3f, 3e-3f, 1e-3f, 2e-3f});
    return m;
}

/// Codes near 255 on channels 1, 2 (mod 4), anything on the others: a wrong pairing saturates.
std::vector<float> edge_input(int64_t c, int64_t hw, uint32_t seed) {
    test::rng r(seed);
    std::vector<float> x(static_cast<std::size_t>(c * hw * hw));
    for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t i = 0; i < hw * hw; ++i) {
            const int code = (ci % 4 == 1 || ci % 4 == 2) ? r.integer(250, 255) : r.integer(0, 255);
            x[std::size_t(ci * hw * hw + i)] = static_cast<float>(code) / 255.f;
        }
    return x;
}

/// The first output of `m` if channels (1, 2), (3, 4), ... were summed into saturating int16
/// pairs: what a kernel pairing other than the proof's would compute. Must differ from exact.
double misaligned_pairs_first_output(const model_desc& m, const std::vector<float>& x, int64_t c, int64_t hw) {
    const tensor& w = m.tensors.at("l.weight");
    const auto* q = reinterpret_cast<const int8_t*>(w.data);
    const int64_t taps = w.elements() / (6 * c);
    const int64_t k = m.layers[0].kind == op::fc ? 1 : m.layers[0].kernel[0];
    int64_t acc = 0;
    for (int64_t t = 0; t < taps; ++t) {
        // the output at (0, 0) reads input (ky - pad, kx - pad); the fc cases have one pixel
        const int64_t iy = t / k - k / 2, ix = t % k - k / 2;
        if (iy < 0 || ix < 0) continue;
        auto prod = [&](int64_t ci) {
            if (ci >= c) return 0L;
            const long code = std::lround(x[std::size_t(ci * hw * hw + iy * hw + ix)] * 255.f);
            return code * q[ci * taps + t];
        };
        acc += prod(0);
        for (int64_t ci = 1; ci < c; ci += 2) acc += std::max(-32768L, std::min(32767L, prod(ci) + prod(ci + 1)));
    }
    return double(acc) * (1.0 / 255.0) * 1e-3;
}

void check_exact_8bit(const model_desc& d, int64_t c, int64_t hw) {
    model_desc m = d;
    validate(m, "test");
    const std::vector<float> x = edge_input(c, hw, 5);
    model net(m);
    session s(net);
    const std::vector<float> got = s.run(x);
    ref::options exact;
    exact.u8_weight_max = 127;
    const std::vector<float> want = ref::run(m, x, 1, exact);
    REQUIRE(got.size() == want.size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
        scale = std::max(scale, std::fabs(double(want[i])));
    }
    const double wrong = misaligned_pairs_first_output(m, x, c, hw);
    MESSAGE("path " << std::string(to_string(net.code_path())) << ": largest difference to exact 8-bit arithmetic " << worst << " (outputs up to " << scale
                    << "); a misaligned pairing would give " << wrong << " instead of " << want[0] << " for the first output");
    CHECK(std::fabs(wrong - want[0]) > 0.05 * std::fabs(want[0]));  // the case really is at the edge
    CHECK(worst <= 1e-6 * scale);
}

/// The pairs of the three orders by their definition, one loop each: [c][kh][kw] neighbours,
/// channels (2j, 2j + 1) at one tap, [kh][kw][c] neighbours (j = -1: a zero partner).
std::vector<std::pair<int64_t, int64_t>> naive_pairs(const detail::pair_geometry& g) {
    const int64_t taps = g.kh * g.kw, k = g.c * taps;
    std::vector<std::pair<int64_t, int64_t>> r;
    for (int64_t i = 0; i < k; i += 2) r.emplace_back(i, i + 1 < k ? i + 1 : -1);
    for (int64_t c = 0; c < g.c; c += 2)
        for (int64_t t = 0; t < taps; ++t) r.emplace_back(c * taps + t, c + 1 < g.c ? (c + 1) * taps + t : -1);
    std::vector<int64_t> hwc;  // [kh][kw][c] order as indices into [c][kh][kw]
    for (int64_t t = 0; t < taps; ++t)
        for (int64_t c = 0; c < g.c; ++c) hwc.push_back(c * taps + t);
    for (std::size_t i = 0; i < hwc.size(); i += 2) r.emplace_back(hwc[i], i + 1 < hwc.size() ? hwc[i + 1] : -1);
    return r;
}

detail::pair_extremes naive_extremes(const std::vector<int8_t>& q, const std::vector<std::pair<int64_t, int64_t>>& pairs) {
    detail::pair_extremes e;
    for (const auto& [i, j] : pairs) {
        const int a = q[std::size_t(i)], b = j < 0 ? 0 : q[std::size_t(j)];
        e.pos = std::max(e.pos, std::max(a, 0) + std::max(b, 0));
        e.neg = std::min(e.neg, std::min(a, 0) + std::min(b, 0));
    }
    return e;
}

/// Channels that make the search work: near-uniform (many codes near the top), one-signed,
/// few values, a handful of large ones, and codes given as s8 (with -128 where asked).
std::vector<float> hard_channel(test::rng& r, std::size_t k, int kind) {
    std::vector<float> w = r.floats(k, -1.f, 1.f);
    for (std::size_t i = 0; i < k; ++i) {
        if (kind == 1) w[i] = std::fabs(w[i]);
        if (kind == 2) w[i] = static_cast<float>(r.integer(-2, 2));
        if (kind == 3) w[i] = i % 7 == 0 ? 0.9f + 0.1f * w[i] : 0.2f * w[i];
        if (kind == 4) w[i] = i % 2 ? -std::fabs(w[i]) : 0.5f + 0.5f * std::fabs(w[i]);
    }
    return w;
}

}  // namespace

TEST_SUITE("dispatch") {

TEST_CASE("int16 pair sums: the bound is exact at the limit") {
    using detail::pair_fits;
    CHECK(pair_fits(127, -127, 255));
    CHECK(pair_fits(64, 64, 255));       // 255 * 128 = 32640
    CHECK_FALSE(pair_fits(65, 64, 255));  // 255 * 129 = 32895
    CHECK(pair_fits(-64, -64, 255));
    CHECK_FALSE(pair_fits(-65, -64, 255));
    CHECK(pair_fits(127, 127, 129));      // 129 * 254 = 32766
    CHECK_FALSE(pair_fits(127, 127, 130));
    CHECK(pair_fits(-128, -128, 128));    // -128 * 256 = -32768
}

TEST_CASE("int16 pair sums: every order is checked (channel pairs / [c][kh][kw] / [kh][kw][c] with odd c)") {
    detail::pair_geometry g{4, 1, 2, 255};
    // [c][kh][kw] = c0: (127, -127), c1: (-127, 127), ... channel pairs at tap 0: (127, -127) fit.
    std::vector<int8_t> ok = {127, -127, -127, 127, 127, -127, -127, 127};
    CHECK(detail::pairs_fit_int16(ok.data(), g));
    std::vector<int8_t> bad_taps = {127, 127, -127, -127, 127, 127, -127, -127};  // channel pairs fit, [c][kh][kw] does not
    CHECK_FALSE(detail::pairs_fit_int16(bad_taps.data(), g));
    std::vector<int8_t> bad_channels = {127, -127, 127, -127, -127, 127, -127, 127};  // [c][kh][kw] fits, channels (0, 1) at tap 0 do not
    CHECK_FALSE(detail::pairs_fit_int16(bad_channels.data(), g));
    // Odd c = 3, 2 taps: [kh][kw][c] order pairs (c2 t0, c0 t1), which the other orders never do.
    detail::pair_geometry g3{3, 1, 2, 255};
    std::vector<int8_t> odd = {0, 127, 0, 0, 127, 0};  // c0: (0, 127), c1: (0, 0), c2: (127, 0)
    CHECK_FALSE(detail::pairs_fit_int16(odd.data(), g3));
    g3.max_code = 128;
    CHECK(detail::pairs_fit_int16(odd.data(), g3));
}

TEST_CASE("pair sum extremes equal the definition in every order - vector loops and tails") {
    test::rng r(33);
    for (const detail::pair_geometry g : {detail::pair_geometry{40, 3, 3, 255}, detail::pair_geometry{37, 3, 3, 255}, detail::pair_geometry{3, 3, 3, 255},
                                          detail::pair_geometry{65, 1, 1, 255}, detail::pair_geometry{24, 1, 2, 255}, detail::pair_geometry{5, 7, 7, 255},
                                          detail::pair_geometry{2, 1, 1, 255}}) {
        CAPTURE(g.c);
        CAPTURE(g.kh * g.kw);
        const std::vector<std::pair<int64_t, int64_t>> pairs = naive_pairs(g);
        for (int trial = 0; trial < 20; ++trial) {
            std::vector<int8_t> q(static_cast<std::size_t>(g.c * g.kh * g.kw));
            for (auto& v : q) v = static_cast<int8_t>(r.integer(trial % 2 ? -128 : -40, trial % 3 ? 127 : 40));
            const detail::pair_extremes want = naive_extremes(q, pairs), got = detail::pair_sum_extremes(q.data(), g);
            CHECK(got.pos == want.pos);
            CHECK(got.neg == want.neg);
        }
    }
}

TEST_CASE("the pairs kept from the codes at qmax 127 hold the extreme sums at every smaller qmax") {
    // With a margin of 0 codes instead of 7, 62 of the positive and 15 of the negative extremes
    // below came out wrong.
    test::rng r(34);
    long searched = 0, checks = 0, wrong_pos = 0, wrong_neg = 0, wrong_fit = 0;
    std::size_t kept_most = 0;
    for (int trial = 0; trial < 2500; ++trial) {
        const int c = r.integer(2, 61), kh = r.integer(0, 1) ? 3 : 1;
        const detail::pair_geometry g{c, kh, kh, trial % 3 == 0 ? 255 : trial % 3 == 1 ? 200 : 130};
        const std::size_t k = static_cast<std::size_t>(g.c * g.kh * g.kw);
        const std::vector<float> wf = hard_channel(r, k, trial % 5);
        const tensor t = tensor::from_vector(dtype::f32, {1, g.c, g.kh, g.kw}, wf);
        const detail::weight_channel ch = detail::channel_of(t, nullptr, 0, k);
        std::vector<int8_t> q127(k), qm(k);
        detail::quantize_at(ch, 127, q127.data());
        const detail::pair_extremes e127 = detail::pair_sum_extremes(q127.data(), g);
        if (detail::fits_int16(e127, g.max_code)) continue;  // nothing to search
        ++searched;
        const auto kept = detail::extreme_pairs(q127.data(), g, e127);
        const auto all = naive_pairs(g);
        kept_most = std::max(kept_most, kept.size());
        for (int m = 63; m <= 127; ++m, ++checks) {
            detail::quantize_at(ch, m, qm.data());
            const detail::pair_extremes whole = naive_extremes(qm, all), some = naive_extremes(qm, kept);
            // Only failing sides are kept; on them the kept pairs reach the channel's extreme.
            wrong_pos += g.max_code * e127.pos > 32767 && some.pos != whole.pos;
            wrong_neg += g.max_code * e127.neg < -32768 && some.neg != whole.neg;
            wrong_fit += detail::pairs_fit_at(ch, kept, g.max_code, m) != detail::fits_int16(whole, g.max_code);
        }
    }
    MESSAGE(searched << " channels searched, " << checks << " (channel, qmax) checks, at most " << kept_most << " pairs kept");
    CHECK(searched > 1000);
    CHECK(wrong_pos == 0);
    CHECK(wrong_neg == 0);
    CHECK(wrong_fit == 0);
}

TEST_CASE("largest input code: 255 - less after a ReLU6 clip - looking through pools - not after a sum") {
    std::vector<layer> ls(4);
    ls[0].name = "a";
    ls[0].kind = op::conv2d;
    ls[0].post_ops = {post_op::make_relu6()};
    ls[0].act = quant_params{dtype::u8, 6.f / 127.f, 0};
    ls[1].name = "p";
    ls[1].kind = op::max_pool2d;
    ls[1].inputs = {"a"};
    ls[2].name = "b";
    ls[2].kind = op::conv2d;
    ls[2].post_ops = {post_op::make_relu6(), post_op::make_sum("a")};
    ls[2].act = ls[0].act;
    ls[3].name = "r";
    ls[3].kind = op::conv2d;
    ls[3].post_ops = {post_op::make_relu()};
    ls[3].act = ls[0].act;
    CHECK(detail::max_input_code(ls, "a", 6.f / 127.f, 0) == 127);
    CHECK(detail::max_input_code(ls, "a", 6.f / 127.f, 10) == 137);
    CHECK(detail::max_input_code(ls, "a", 6.f / 255.f, 0) == 255);  // read with another scale: no bound
    CHECK(detail::max_input_code(ls, "a", 6.f / 100.f, 0) == 255);
    CHECK(detail::max_input_code(ls, "p", 6.f / 127.f, 0) == 127);
    CHECK(detail::max_input_code(ls, "b", 6.f / 127.f, 0) == 255);
    CHECK(detail::max_input_code(ls, "r", 6.f / 127.f, 0) == 255);
    CHECK(detail::max_input_code(ls, "input", 6.f / 127.f, 0) == 255);
}

TEST_CASE("per channel the largest weight range that fits: 8 bits kept where the proof holds - 63 at worst") {
    const std::vector<int8_t> w = {127, -127, 127, 127, 100, 90, -60, -63};  // channels of 2: fits, not, not, fits
    const tensor t = tensor::from_vector(dtype::s8, {4, 2, 1, 1}, w);
    const tensor s = tensor::from_vector(dtype::f32, {4}, std::vector<float>{1.f, 1.f, 1.f, 1.f});
    const detail::int8_weights q = detail::quantize_weights_paired(t, &s, detail::pair_geometry{2, 1, 1, 255});
    CHECK(std::vector<int8_t>(q.q.begin(), q.q.begin() + 2) == std::vector<int8_t>{127, -127});
    CHECK(q.scale[0] == 1.f);
    CHECK(q.q[2] + q.q[3] <= 128);  // requantized to qmax 64 (255 * 128 fits)
    CHECK(q.q[2] == 64);
    CHECK(q.scale[1] == doctest::Approx(127.f / 64.f));
    CHECK(int(q.q[4]) + q.q[5] <= 128);
    CHECK(q.q[4] == 67);  // qmax 67: 67 + round(60.3) = 127 fits; at 68, 68 + 61 = 129 does not
    CHECK(std::vector<int8_t>(q.q.begin() + 6, q.q.end()) == std::vector<int8_t>{-60, -63});
}

TEST_CASE("8-bit weights at the int16 pair-sum limit are exact on every path (3x3 / 1x1 / fc)") {
    SUBCASE("3x3 conv, 32 channels") { check_exact_8bit(edge_model(op::conv2d, 32, 8, 3), 32, 8); }
    SUBCASE("1x1 conv, 64 channels") { check_exact_8bit(edge_model(op::conv2d, 64, 7, 1), 64, 7); }
    SUBCASE("fc on [64, 1, 1]") { check_exact_8bit(edge_model(op::fc, 64, 1, 1), 64, 1); }
}

TEST_CASE("weights beyond the u8 pair limit are exact after a ReLU6 that bounds the input codes") {
    // conv1 ends in ReLU6 with output scale 6/127: its codes are at most 127, so conv2 may use
    // 8-bit weights of one sign (127 * 254 = 32258 fits in int16; with codes up to 255 it would not).
    test::rng r(9);
    model_desc m = test::input_only({8, 6, 6}, quant_params{dtype::u8, 1.f / 255.f, 0});
    layer a = test::conv_layer("a", "input", 32);
    a.post_ops = {post_op::make_relu6()};
    a.act = quant_params{dtype::u8, 6.f / 127.f, 0};
    m.layers.push_back(a);
    // Mostly large positive weights: most of conv1's outputs sit at the clip (code 127).
    std::vector<int8_t> wa(32 * 8);
    for (auto& v : wa) v = static_cast<int8_t>(r.integer(20, 63));
    m.tensors["a.weight"] = tensor::from_vector(dtype::s8, {32, 8, 1, 1}, wa);
    m.tensors["a.weight.scales"] = tensor::from_vector(dtype::f32, {32}, std::vector<float>(32, 0.05f));
    layer b = test::conv_layer("b", "a", 4);
    m.layers.push_back(b);
    std::vector<int8_t> wb(4 * 32);
    for (auto& v : wb) v = static_cast<int8_t>(r.integer(120, 127));
    m.tensors["b.weight"] = tensor::from_vector(dtype::s8, {4, 32, 1, 1}, wb);
    m.tensors["b.weight.scales"] = tensor::from_vector(dtype::f32, {4}, std::vector<float>(4, 1e-3f));
    validate(m, "test");
    const std::vector<float> x = r.floats(8 * 36, 0.5f, 1.f);
    model net(m);
    session s(net);
    const std::vector<float> got = s.run(x);
    ref::options exact;
    exact.u8_weight_max = 127;
    const auto all = ref::run_all(m, x, 1, exact);
    const ref::value& mid = all.at("a");
    int at_clip = 0;
    for (int32_t v : mid.i) at_clip += v == 127;
    CHECK(at_clip > int(mid.i.size()) / 2);  // the bound is reached, so a wrong bound would saturate
    const std::vector<float> want = ref::to_real(all.at("b")).f;
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
        scale = std::max(scale, std::fabs(double(want[i])));
    }
    MESSAGE("path " << std::string(to_string(net.code_path())) << ": " << at_clip << " of " << mid.i.size() << " codes at 127; largest difference to exact 8-bit " << worst);
    CHECK(worst <= 1e-6 * scale);
}

}  // TEST_SUITE

namespace {

/// The largest qmax in [64, 127] whose weights fit, found by trying each from 127 down (else 63):
/// the plain search that quantize_weights_paired's bisection must agree with. Given s8 codes
/// whose pairs fit are kept as they are, -128 included.
detail::int8_weights paired_by_linear_search(const tensor& w, const tensor* scales, const detail::pair_geometry& g) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    detail::int8_weights r;
    r.q.resize(n);
    r.scale.resize(o);
    for (std::size_t c = 0; c < o; ++c) {
        int8_t* out = r.q.mutable_data() + c * k;
        if (w.type == dtype::s8) {
            r.scale[c] = detail::quantize_channel(w, scales, c, k, detail::full_range_qmax, out);
            if (detail::pairs_fit_int16(out, g)) continue;
        }
        int qmax = 127;
        for (; qmax > 63; --qmax) {
            r.scale[c] = detail::quantize_channel(w, scales, c, k, qmax, out);
            if (detail::pairs_fit_int16(out, g)) break;
        }
        if (qmax == 63) r.scale[c] = detail::quantize_channel(w, scales, c, k, 63, out);
    }
    return r;
}

/// A row whose pair sums crowd just below its largest one: pairs of values near the channel's
/// largest magnitude, with one sign or mixed, so that which pair holds the largest code sum turns
/// on rounding at each qmax (the search checks only the pairs extreme_pairs keeps).
std::vector<float> crowded_row(test::rng& r, std::size_t k, int kind) {
    std::vector<float> w(k);
    for (std::size_t i = 0; i < k; ++i) {
        const float near = 1.f - 0.03f * r.uniform(0.f, 1.f);
        if (kind == 0) w[i] = near;                                  // all positive, near the top
        if (kind == 1) w[i] = i % 2 ? -near : near;                  // pairs cancel, the negative side crowds too
        if (kind == 2) w[i] = (i / 2) % 2 ? -near : near;            // whole pairs of one sign or the other
        if (kind == 3) w[i] = r.integer(0, 3) == 0 ? -near : near;   // mostly positive
    }
    return w;
}

}  // namespace

TEST_SUITE("dispatch") {

TEST_CASE("the weight range search agrees with trying every range on rows whose pair sums crowd at the top") {
    test::rng r(77);
    std::size_t channels = 0, below_127 = 0;
    for (int max_code : {255, 254, 200, 171, 130}) {
        for (int64_t k : {2, 3, 8, 31, 64, 96}) {
            const detail::pair_geometry g{k, 1, 1, max_code};
            const std::size_t o = 40;
            std::vector<float> wf;
            for (std::size_t c = 0; c < o; ++c) {
                const std::vector<float> row = crowded_row(r, static_cast<std::size_t>(k), static_cast<int>(c % 4));
                wf.insert(wf.end(), row.begin(), row.end());
            }
            const tensor t = tensor::from_vector(dtype::f32, {static_cast<int64_t>(o), k, 1, 1}, wf);
            const tensor s = tensor::from_vector(dtype::f32, {static_cast<int64_t>(o)}, std::vector<float>(o, 1.f));
            const detail::int8_weights want = paired_by_linear_search(t, &s, g), got = detail::quantize_weights_paired(t, &s, g);
            CAPTURE(max_code);
            CAPTURE(k);
            CHECK(got.q == want.q);
            CHECK(got.scale == want.scale);
            channels += o;
            for (float sc : want.scale) below_127 += sc > wf.front() / 127.f * 1.0001f;
        }
    }
    MESSAGE(channels << " channels, " << below_127 << " of them quantized below qmax 127");

    // Built so that at qmax 101 the pair with the largest real sum (x, x) rounds down and fits
    // (64 + 64) while one 0.9 codes below it (y, z) rounds up and does not (65 + 64 > 128): the
    // answer is 100, and a search that left out the lower pair would take 101. Mirrored for the
    // negative side.
    const float x = 64.49f / 101.f, y = 64.55f / 101.f, z = 63.55f / 101.f;
    for (float sign : {1.f, -1.f}) {
        const std::vector<float> row = {1.f, -1.f, sign * x, sign * x, sign * y, sign * z};
        const tensor t = tensor::from_vector(dtype::f32, {1, 6, 1, 1}, row);
        const tensor sc = tensor::from_vector(dtype::f32, {1}, std::vector<float>{1.f});
        const detail::pair_geometry g{6, 1, 1, 255};
        const detail::int8_weights want = paired_by_linear_search(t, &sc, g), got = detail::quantize_weights_paired(t, &sc, g);
        CAPTURE(sign);
        CHECK(want.scale[0] == 1.f / 100.f);
        CHECK(got.q == want.q);
        CHECK(got.scale == want.scale);
    }
}

TEST_CASE("the bisection for each channel's weight range gives what trying every range gives") {
    test::rng r(21);
    for (int max_code : {255, 200, 130, 64}) {
        // Also one tap per input channel (1x1, fc: neighbour pairs only), odd and even counts, and
        // long rows (a given s8 code of -128 is kept where its pairs fit).
        for (const detail::pair_geometry g : {detail::pair_geometry{16, 3, 3, max_code}, detail::pair_geometry{7, 1, 1, max_code},
                                              detail::pair_geometry{3, 3, 3, max_code}, detail::pair_geometry{64, 1, 1, max_code},
                                              detail::pair_geometry{1, 1, 1, max_code}, detail::pair_geometry{37, 1, 1, max_code},
                                              detail::pair_geometry{960, 1, 1, max_code}}) {
            CAPTURE(max_code);
            CAPTURE(g.c);
            const std::size_t o = 24, k = static_cast<std::size_t>(g.c * g.kh * g.kw);
            std::vector<float> wf = r.floats(o * k, -1.f, 1.f);
            for (std::size_t c = 0; c < o; c += 3)  // some channels dominated by a few large positive weights
                for (std::size_t i = 0; i < k; i += 5) wf[c * k + i] = 1.f + 0.01f * static_cast<float>(i);
            for (std::size_t c = 1; c < o; c += 3) {  // others near-uniform, one-signed, few-valued, ...
                const std::vector<float> h = hard_channel(r, k, static_cast<int>(c % 5));
                std::copy(h.begin(), h.end(), wf.begin() + static_cast<std::ptrdiff_t>(c * k));
            }
            const tensor tf = tensor::from_vector(dtype::f32, {static_cast<int64_t>(o), g.c, g.kh, g.kw}, wf);
            std::vector<int8_t> wq(o * k);
            for (std::size_t i = 0; i < wq.size(); ++i) wq[i] = static_cast<int8_t>(std::clamp(std::lround(wf[i] * 120.f), -128L, 127L));
            const tensor tq = tensor::from_vector(dtype::s8, {static_cast<int64_t>(o), g.c, g.kh, g.kw}, wq);
            const tensor s = tensor::from_vector(dtype::f32, {static_cast<int64_t>(o)}, std::vector<float>(o, 0.01f));
            for (const tensor* t : {&tf, &tq}) {
                const detail::int8_weights want = paired_by_linear_search(*t, &s, g), got = detail::quantize_weights_paired(*t, &s, g);
                CHECK(got.q == want.q);
                CHECK(got.scale == want.scale);
            }
        }
    }
}

}  // TEST_SUITE
