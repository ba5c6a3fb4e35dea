// Weight quantization's vector loops (detail/quantize_row.hpp) against plain scalar loops written
// here, and the runtime's per-channel weights (detail/quantize_weights.hpp) against the
// reference's independent version (ref/weights.hpp), including the search for 7-bit paths.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <qint8/detail/quantize_row.hpp>
#include <qint8/detail/quantize_weights.hpp>
#include <qint8/ref/weights.hpp>

#include "support/builder.hpp"

using namespace qint8;

namespace {

int8_t naive_div(float v, float s, int qmax) {
    const float r = std::nearbyint(v / s);
    if (std::isnan(r)) return static_cast<int8_t>(-qmax);  // as quantize_row.hpp documents
    return static_cast<int8_t>(r > qmax ? qmax : (r < -qmax ? -qmax : r));
}

/// Values that stress rounding: exact ties (k + 0.5) * s of both signs, the neighbours of
/// ties, +-qmax and beyond it, signed zeros, denormals, then random values.
std::vector<float> hard_values(float s, int qmax, std::size_t n, test::rng& r) {
    std::vector<float> v;
    for (int k = -qmax - 2; k <= qmax + 1; ++k) {
        const float t = (static_cast<float>(k) + 0.5f) * s;
        v.insert(v.end(), {t, std::nextafter(t, 1e9f), std::nextafter(t, -1e9f), static_cast<float>(k) * s});
    }
    v.insert(v.end(), {0.f, -0.f, std::numeric_limits<float>::denorm_min(), -1e-40f, 1e30f, -1e30f});
    while (v.size() < n) v.push_back(r.uniform(-1.2f, 1.2f) * s * static_cast<float>(qmax));
    return v;
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("weight rounding four and eight at a time equals nearbyint(w / s) clamped (ties to even / any alignment and length)") {
    std::vector<detail::row_isa> isas{detail::row_isa::sse2};
    if (detail::best_row_isa() == detail::row_isa::avx2) isas.push_back(detail::row_isa::avx2);
    else MESSAGE("no AVX2 on this CPU: the eight-lane division rows are not run here");
    for (detail::row_isa isa : isas) {
        CAPTURE(isa == detail::row_isa::avx2 ? "avx2" : "sse2");
        test::rng r(5);
        for (int qmax : {127, 100, 64, 63}) {
            const float s = 0.0123f;
            const std::vector<float> v = hard_values(s, qmax, 1000, r);
            for (std::size_t offset : {0u, 1u, 3u}) {
                for (std::size_t n : {v.size(), v.size() - 7, std::size_t(69), std::size_t(15), std::size_t(1)}) {
                    std::vector<std::byte> raw((n + offset) * sizeof(float) + 1);
                    std::memcpy(raw.data() + offset, v.data(), n * sizeof(float));  // misaligned by `offset` bytes
                    std::vector<int8_t> got(n);
                    detail::round_div_f32(raw.data() + offset, n, s, qmax, got.data(), isa);
                    float want_max = 0.f;
                    for (std::size_t i = 0; i < n; ++i) {
                        CAPTURE(i);
                        CHECK(int(got[i]) == int(naive_div(v[i], s, qmax)));
                        want_max = std::max(want_max, std::fabs(v[i]));
                    }
                    const detail::checked_abs_max m = detail::abs_max_checked_f32(raw.data() + offset, n, isa);
                    CHECK(m.finite);
                    CHECK(m.value == want_max);
                }
            }
        }
    }
}

TEST_CASE("weight rounding equals the division at and around every tie - for scales of every size") {
    // Every tie (k + 0.5) * s up to and past +-qmax and the 24 floats on each side of it, for
    // scales whose reciprocal rounds up or down, tiny and huge ones, and non-finite values, all
    // against nearbyint(w / s): a faster quotient (a product with 1 / s, say) must give these bytes.
    std::vector<detail::row_isa> isas{detail::row_isa::sse2};
    if (detail::best_row_isa() == detail::row_isa::avx2) isas.push_back(detail::row_isa::avx2);
    else MESSAGE("skipped: the eight-lane division rows (this CPU has no AVX2)");
    test::rng r(17);
    std::vector<float> scales{0.0123f, 1.f / 3.f, 0.1f, 1.f, 7.f, 1e-30f, 3e-39f, 5e37f, 1e38f, std::numeric_limits<float>::max()};
    for (int i = 0; i < 12; ++i) scales.push_back(std::ldexp(r.uniform(1.f, 2.f), r.integer(-20, 10)));
    std::size_t checked = 0, wrong = 0;
    for (detail::row_isa isa : isas)
        for (float s : scales)
            for (int qmax : {127, 64}) {
                std::vector<float> v{std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                     -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::max()};
                for (int k = -qmax - 3; k <= qmax + 2; ++k) {
                    float up = (static_cast<float>(k) + 0.5f) * s, down = up;
                    v.push_back(up);
                    for (int step = 0; step < 24; ++step) {
                        up = std::nextafter(up, std::numeric_limits<float>::infinity());
                        down = std::nextafter(down, -std::numeric_limits<float>::infinity());
                        v.insert(v.end(), {up, down});
                    }
                }
                std::vector<int8_t> got(v.size());
                detail::round_div_f32(reinterpret_cast<const std::byte*>(v.data()), v.size(), s, qmax, got.data(), isa);
                for (std::size_t i = 0; i < v.size(); ++i) {
                    ++checked;
                    wrong += got[i] != naive_div(v[i], s, qmax);
                }
            }
    MESSAGE(checked << " values checked");
    CHECK(checked > 100000);
    CHECK(wrong == 0);
}

TEST_CASE("s8 codes rescaled four at a time equal nearbyint(q * f) clamped") {
    std::vector<int8_t> q;
    for (int i = -128; i <= 127; ++i) q.push_back(static_cast<int8_t>(i));
    for (int i = 0; i < 37; ++i) q.push_back(static_cast<int8_t>((i * 37) % 256 - 128));
    for (int qmax : {127, 100, 64, 63}) {
        const float f = static_cast<float>(qmax) / 128.f;  // 0.5 * f ties appear for odd codes
        std::vector<int8_t> got(q.size());
        detail::round_mul_s8(q.data(), q.size(), f, qmax, got.data());
        for (std::size_t i = 0; i < q.size(); ++i) {
            CAPTURE(i);
            const float want = std::fmin(float(qmax), std::fmax(-float(qmax), std::nearbyint(float(q[i]) * f)));
            CHECK(int(got[i]) == int(want));
        }
    }
}

TEST_CASE("per-channel weights equal the reference's - with and without the 7-bit pair search") {
    test::rng r(8);
    for (const detail::pair_geometry g : {detail::pair_geometry{16, 3, 3, 255}, detail::pair_geometry{37, 1, 1, 255},
                                          detail::pair_geometry{3, 3, 3, 255}, detail::pair_geometry{8, 3, 3, 140}}) {
        CAPTURE(g.c);
        CAPTURE(g.max_code);
        const std::size_t o = 40, k = static_cast<std::size_t>(g.c * g.kh * g.kw);
        std::vector<float> wf = r.floats(o * k, -1.f, 1.f);
        for (std::size_t c = 0; c < o; c += 4)  // channels whose largest weights sit side by side
            for (std::size_t i = 0; i + 1 < k; i += 7) wf[c * k + i] = wf[c * k + i + 1] = 0.9f + 0.001f * float(i % 50);
        for (std::size_t c = 1; c < o; c += 9) std::fill(wf.begin() + std::ptrdiff_t(c * k), wf.begin() + std::ptrdiff_t((c + 1) * k), 0.f);
        std::vector<int8_t> wq(o * k);
        for (std::size_t i = 0; i < wq.size(); ++i) wq[i] = static_cast<int8_t>(std::lround(wf[i] * 127.f));
        const std::vector<int64_t> shape{static_cast<int64_t>(o), g.c, g.kh, g.kw};
        const tensor tf = tensor::from_vector(dtype::f32, shape, wf), tq = tensor::from_vector(dtype::s8, shape, wq);
        const tensor s = tensor::from_vector(dtype::f32, {static_cast<int64_t>(o)}, r.floats(o, 0.001f, 0.02f));
        for (const tensor* t : {&tf, &tq}) {
            const ref::weights plain = ref::weights_int(*t, &s, 127), paired = ref::weights_int_paired(*t, &s, 63, g);
            const detail::int8_weights got_plain = detail::quantize_weights(*t, &s, 127), got_paired = detail::quantize_weights_paired(*t, &s, g);
            CHECK(std::vector<int32_t>(got_plain.q.begin(), got_plain.q.end()) == plain.q);
            CHECK(got_plain.scale == plain.s);
            CHECK(std::vector<int32_t>(got_paired.q.begin(), got_paired.q.end()) == paired.q);
            CHECK(got_paired.scale == paired.s);
        }
    }
}

TEST_CASE("full-range s8 weights: the code -128 is kept where the path accumulates exactly - and where int16 pairs provably fit") {
    // Two channels of 4 input channels x 1 tap: channel 0 pairs -128 with 0 (255 x -128 = -32640
    // fits int16), channel 1 pairs -128 with -128 (255 x -256 saturates it).
    const std::vector<int8_t> codes{-128, 0, 5, 7, -128, -128, 3, 1};
    const tensor w = tensor::from_vector(dtype::s8, {2, 4, 1, 1}, codes);
    const tensor s = tensor::from_vector(dtype::f32, {2}, std::vector<float>{0.01f, 0.02f});
    const detail::int8_weights full = detail::quantize_weights(w, &s, detail::full_range_qmax);
    CHECK(std::vector<int8_t>(full.q.begin(), full.q.end()) == codes);  // VNNI, AMX, depthwise: as in the file
    CHECK(full.scale == std::vector<float>{0.01f, 0.02f});
    const ref::weights ref_full = ref::weights_int(w, &s, 128);
    CHECK(std::vector<int32_t>(full.q.begin(), full.q.end()) == ref_full.q);
    CHECK(full.scale == ref_full.s);
    // Without VNNI (pairs of adjacent input channels): channel 0 is kept, channel 1 is requantized.
    const detail::pair_geometry g{4, 1, 1, 255};
    const detail::int8_weights paired = detail::quantize_weights_paired(w, &s, g);
    CHECK(std::vector<int8_t>(paired.q.begin(), paired.q.begin() + 4) == std::vector<int8_t>(codes.begin(), codes.begin() + 4));
    CHECK(paired.scale[0] == 0.01f);
    CHECK(paired.scale[1] > 0.02f);
    CHECK(detail::pairs_fit_int16(paired.q.data() + 4, g));
    const ref::weights ref_paired = ref::weights_int_paired(w, &s, 63, g);
    CHECK(std::vector<int32_t>(paired.q.begin(), paired.q.end()) == ref_paired.q);
    CHECK(paired.scale == ref_paired.s);
    // f32 weights never take -128: a symmetric grid of +-127.
    const tensor wf = tensor::from_vector(dtype::f32, {1, 2, 1, 1}, std::vector<float>{-1.f, 0.5f});
    const detail::int8_weights qf = detail::quantize_weights(wf, nullptr, detail::full_range_qmax);
    CHECK(int(qf.q[0]) == -127);
    CHECK(qf.scale[0] == doctest::Approx(1.f / 127.f));
}

TEST_CASE("layer_codes reads the file's s8 codes in place where quantizing would copy them - and quantizes otherwise") {
    const std::vector<int8_t> codes{-128, 0, 5, 7, 100, -127, 3, 1};
    const tensor w = tensor::from_vector(dtype::s8, {2, 4, 1, 1}, codes);
    const tensor s = tensor::from_vector(dtype::f32, {2}, std::vector<float>{0.01f, 0.02f});
    detail::code_vector spare;
    // Full range (VNNI, AMX, depthwise): every code fits, none is copied.
    const detail::int8_weights given = detail::layer_codes(w, &s, detail::full_range_qmax, &spare);
    CHECK(given.q.is_given());
    CHECK(given.q.data() == w.as<int8_t>());
    CHECK(given.q == detail::quantize_weights(w, &s, detail::full_range_qmax).q);
    CHECK(given.scale == std::vector<float>{0.01f, 0.02f});
    CHECK(std::vector<int32_t>(given.q.begin(), given.q.end()) == ref::weights_int(w, &s, 128).q);
    // qmax 127: the -128 must be requantized, so the codes are the quantizer's own.
    const detail::int8_weights q127 = detail::layer_codes(w, &s, 127, &spare);
    CHECK_FALSE(q127.q.is_given());
    CHECK(q127.q == detail::quantize_weights(w, &s, 127).q);
    CHECK(q127.scale == detail::quantize_weights(w, &s, 127).scale);
    CHECK(std::vector<int32_t>(q127.q.begin(), q127.q.end()) == ref::weights_int(w, &s, 127).q);
    // Without -128, qmax 127 keeps the file's codes as they are, in place.
    const tensor w2 = tensor::from_vector(dtype::s8, {2, 4, 1, 1}, std::vector<int8_t>{-127, 0, 5, 7, 100, -127, 3, 1});
    CHECK(detail::layer_codes(w2, &s, 127, &spare).q.is_given());
    // f32 weights are quantized into storage of their own.
    const tensor wf = tensor::from_vector(dtype::f32, {1, 2, 1, 1}, std::vector<float>{-1.f, 0.5f});
    const detail::int8_weights qf = detail::layer_codes(wf, nullptr, detail::full_range_qmax, &spare);
    CHECK_FALSE(qf.q.is_given());
    CHECK(qf.q == detail::quantize_weights(wf, nullptr, detail::full_range_qmax).q);
    // Writing to given codes copies them first: the file's bytes stay as they were.
    detail::weight_codes copy = given.q;
    copy.mutable_data()[0] = 9;
    CHECK_FALSE(copy.is_given());
    CHECK(int(copy[0]) == 9);
    CHECK(int(w.as<int8_t>()[0]) == -128);
    CHECK(std::equal(copy.begin() + 1, copy.end(), codes.begin() + 1));
    CHECK(copy.release().size() == codes.size());
    CHECK(copy.empty());
}

}  // TEST_SUITE
