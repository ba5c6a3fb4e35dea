// tools/common/image.hpp's preprocessing: resize_short 0 means "no resize before the crop"
// (docs/manifest.md), so an image already of the input size passes through unresampled, and a
// larger one is resized as a whole; the reference is the normalisation formula itself.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/image.hpp"

using qint8::tools::preprocess;
using qint8::tools::preprocess_spec;
using qint8::tools::rgb_image;

TEST_SUITE("tools") {

TEST_CASE("preprocess: resize_short 0 keeps an input-sized image exactly") {
    rgb_image img;
    img.w = img.h = 8;
    for (int i = 0; i < 8 * 8 * 3; ++i) img.px.push_back(static_cast<uint8_t>((i * 37) % 256));
    preprocess_spec s;
    s.resize_short = 0;
    s.crop = 8;
    const std::vector<float> x = preprocess(img, s);
    REQUIRE(x.size() == 3u * 64u);
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 64; ++i) {
            const float p = img.px[static_cast<std::size_t>(i * 3 + c)];
            CHECK(x[static_cast<std::size_t>(c * 64 + i)] == doctest::Approx((p / 255.f - s.mean[c]) / s.std[c]).epsilon(1e-6));
        }
}

TEST_CASE("preprocess: resize_short 0 resizes the whole image - no crop") {
    // 16 x 8: a grey left quarter, a black quarter, a white half. Resized to 4 x 4 as a whole,
    // column 0 stays grey; the centre crop of the short side (8 x 8) would have cut the grey off.
    rgb_image img;
    img.w = 16;
    img.h = 8;
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 16; ++x)
            for (int c = 0; c < 3; ++c) img.px.push_back(x < 4 ? 128 : x < 8 ? 0 : 255);
    preprocess_spec s;
    s.resize_short = 0;
    s.crop = 4;
    s.antialias = false;  // 2-tap bilinear: every output pixel averages two source pixels of one band
    for (int c = 0; c < 3; ++c) { s.mean[c] = 0.f; s.std[c] = 1.f; }
    const std::vector<float> x = preprocess(img, s);
    REQUIRE(x.size() == 48u);
    CHECK(x[0] == doctest::Approx(128.f / 255.f));  // the grey quarter survives: nothing was cropped
    CHECK(x[1] == doctest::Approx(0.f));
    CHECK(x[2] == doctest::Approx(1.f));
    CHECK(x[3] == doctest::Approx(1.f));
}

namespace {
rgb_image pattern(int w, int h) {
    rgb_image img;
    img.w = w;
    img.h = h;
    for (int i = 0; i < w * h * 3; ++i) img.px.push_back(static_cast<uint8_t>((i * 131 + i / 7) % 256));
    return img;
}
}  // namespace

TEST_CASE("resize_window computes exactly the pixels that resize then crop would") {
    // 3 x 1500: resize_short 20 makes it 20 x 10000; the reference builds all of it and crops.
    for (bool antialias : {true, false}) {
        CAPTURE(antialias);
        const rgb_image img = pattern(3, 1500);
        const rgb_image full = qint8::tools::resize(img, 20, 10000, antialias);
        const rgb_image want = qint8::tools::crop(full, 2, 4992, 16, 16);
        const rgb_image got = qint8::tools::resize_window(img, 20, 10000, 2, 4992, 16, 16, antialias);
        CHECK(got.w == 16);
        CHECK(got.h == 16);
        CHECK(got.px == want.px);
    }
}

TEST_CASE("preprocess: a 2 x 333333 image (found by fuzz_image: 66 million pixels built for a 16 x 16 crop) and an absurd aspect ratio") {
    preprocess_spec s;
    s.resize_short = 20;
    s.crop = 16;
    const std::vector<float> x = preprocess(pattern(2, 333333), s);
    CHECK(x.size() == 3u * 16u * 16u);
    // A long side that would pass 2^26 pixels after the resize is refused, not computed in int.
    s.resize_short = 256;
    rgb_image thin = pattern(1, 1);
    thin.h = 300000;
    thin.px.assign(static_cast<std::size_t>(thin.h) * 3, 7);
    bool refused = false;
    try {
        preprocess(thin, s);
    } catch (const qint8::error& e) {
        refused = std::string(e.what()).find("image of 1 x 300000 pixels: resizing its short side to 256 gives a long side above 67108864 pixels") !=
                  std::string::npos;
    }
    CHECK(refused);
}

}  // TEST_SUITE
