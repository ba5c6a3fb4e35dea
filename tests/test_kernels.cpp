// The xsimd vector kernels against their scalar versions and against plain arithmetic.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include <qint8/kernels/vector.hpp>

#include "support/builder.hpp"

using namespace qint8;

TEST_SUITE("kernels") {

TEST_CASE("quantize f32 to u8/s8 equals the scalar rule / including ties / saturation and odd lengths") {
    test::rng r(1);
    for (std::size_t n : {0u, 1u, 7u, 8u, 15u, 16u, 17u, 1001u}) {
        std::vector<float> x = r.floats(n, -3.f, 3.f);
        if (n > 4) { x[0] = 0.5f * 0.02f; x[1] = 1.5f * 0.02f; x[2] = 1e9f; x[3] = -1e9f; }  // ties to even, saturation
        std::vector<uint8_t> a(n), b(n);
        std::vector<int8_t> c(n), d(n);
        kernels::quantize(x.data(), a.data(), n, 1.f / 0.02f, 100);
        kernels::scalar::quantize(x.data(), b.data(), n, 1.f / 0.02f, 100);
        kernels::quantize(x.data(), c.data(), n, 1.f / 0.02f, -7);
        kernels::scalar::quantize(x.data(), d.data(), n, 1.f / 0.02f, -7);
        CHECK(a == b);
        CHECK(c == d);
        for (std::size_t i = 0; i < n; ++i) {
            const float prod = x[i] * (1.f / 0.02f);  // the product is taken in f32, as oneDNN does
            const double want = std::min(255.0, std::max(0.0, double(std::nearbyint(prod)) + 100));
            CHECK(double(a[i]) == want);
        }
    }
    float tie[2] = {0.5f, 1.5f};
    uint8_t q[2];
    kernels::quantize(tie, q, 2, 1.f, 0);
    CHECK(q[0] == 0);  // round half to even
    CHECK(q[1] == 2);
}

TEST_CASE("quantize into NHWC equals the scalar rule on the transposed index - chunk edges and several images") {
    test::rng r(2);
    // 300 pixels: a chunk of 256 and a tail; 3 channels (an RGB image) and 5.
    for (std::size_t channels : {3u, 5u}) {
        const std::size_t images = 2, pixels = 300, n = images * channels * pixels;
        const std::vector<float> x = r.floats(n, -3.f, 3.f);
        std::vector<uint8_t> got(n), plain(n);
        kernels::quantize_to_nhwc(x.data(), got.data(), images, channels, pixels, 1.f / 0.02f, 100);
        kernels::scalar::quantize(x.data(), plain.data(), n, 1.f / 0.02f, 100);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < images; ++i)
            for (std::size_t c = 0; c < channels; ++c)
                for (std::size_t p = 0; p < pixels; ++p)
                    differ += got[(i * pixels + p) * channels + c] != plain[(i * channels + c) * pixels + p];
        CHECK(differ == 0);
        std::vector<uint8_t> split(n);
        kernels::quantize_to_nhwc(x.data(), split.data(), images, channels, pixels, 1.f / 0.02f, 100, 2);  // two threads, the same codes
        CHECK(split == got);
        std::vector<int8_t> s8(n), s8_plain(n);
        kernels::quantize_to_nhwc(x.data(), s8.data(), images, channels, pixels, 1.f / 0.03f, -7);
        kernels::scalar::quantize(x.data(), s8_plain.data(), n, 1.f / 0.03f, -7);
        CHECK(s8[(1 * pixels + 299) * channels + channels - 1] == s8_plain[(1 * channels + channels - 1) * pixels + 299]);
        CHECK(s8[channels * 257 + 1] == s8_plain[pixels + 257]);
    }
}

TEST_CASE("dequantize u8/s8 to f32") {
    std::vector<uint8_t> u(37);
    std::vector<int8_t> s(37);
    for (int i = 0; i < 37; ++i) { u[size_t(i)] = uint8_t(i * 7); s[size_t(i)] = int8_t(i * 7 - 128); }
    std::vector<float> a(37), b(37);
    kernels::dequantize(u.data(), a.data(), 37, 0.5f, 3);
    kernels::dequantize(s.data(), b.data(), 37, 0.25f, -2);
    for (int i = 0; i < 37; ++i) {
        CHECK(a[size_t(i)] == 0.5f * float(i * 7 - 3));
        CHECK(b[size_t(i)] == 0.25f * float(i * 7 - 128 + 2));
    }
}

TEST_CASE("softmax sums to one / matches the double-precision formula / survives large logits") {
    test::rng r(2);
    for (std::size_t n : {1u, 3u, 8u, 10u, 1000u, 1001u}) {
        std::vector<float> x = r.floats(n, -20.f, 20.f), y(n);
        if (n > 2) x[1] = 1e4f;  // would overflow exp() without the max shift
        kernels::softmax(x.data(), y.data(), n);
        double mx = -1e30, sum = 0, total = 0;
        for (float v : x) mx = std::max(mx, double(v));
        for (float v : x) sum += std::exp(double(v) - mx);
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(std::fabs(y[i] - std::exp(double(x[i]) - mx) / sum) < 1e-6);
            total += y[i];
        }
        CHECK(std::fabs(total - 1.0) < 1e-5);
    }
}

TEST_CASE("top_k returns the largest values in order / lower index first on ties") {
    std::vector<float> x{0.1f, 0.7f, 0.3f, 0.7f, -1.f, 0.05f};
    auto t = kernels::top_k(x.data(), x.size(), 3);
    REQUIRE(t.size() == 3);
    CHECK(t[0].first == 1);
    CHECK(t[1].first == 3);
    CHECK(t[2].first == 2);
    CHECK(kernels::top_k(x.data(), x.size(), 10).size() == x.size());
}

}  // TEST_SUITE
