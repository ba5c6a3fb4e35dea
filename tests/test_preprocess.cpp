// qint8/preprocess.hpp: an 8-bit RGB buffer of any size to the model's float input, as the
// manifest's input.preprocess says. Checked bit for bit against the naive form in
// tests/support/naive_preprocess.hpp, on sizes that shrink, enlarge and keep each side, for every
// recipe; and classifier::classify(image_view) against classify() of the naive floats.

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include <qint8/classifier.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/preprocess.hpp>

#include "support/naive_preprocess.hpp"

using namespace qint8;

namespace {

/// Pixels that vary in every direction and channel, with hard edges (the resampler's worst case).
rgb_image test_pattern(int w, int h, unsigned seed) {
    rgb_image img{w, h, std::vector<uint8_t>(size_t(w) * size_t(h) * 3)};
    uint32_t s = seed * 2654435761u + 1;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) {
                s = s * 1664525u + 1013904223u;
                const int smooth = (x * 7 + y * 3 + c * 50) % 256;
                img.px[(size_t(y) * size_t(w) + size_t(x)) * 3 + size_t(c)] = uint8_t((x / 5 + y / 3) % 2 ? smooth : (s >> 24));
            }
    return img;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string brief(const preprocess_spec& s, const rgb_image& img) {
    return std::to_string(img.w) + "x" + std::to_string(img.h) + " crop " + std::to_string(s.crop) + " resize_short " +
           std::to_string(s.resize_short) + " crop_fraction " + std::to_string(s.crop_fraction) + (s.antialias ? " antialias" : " bilinear") +
           (s.bgr ? " bgr" : "");
}

}  // namespace

TEST_SUITE("preprocess") {

TEST_CASE("preprocess equals the naive resample then crop then normalisation bit for bit") {
    const int sizes[][2] = {{37, 23}, {23, 37}, {16, 16}, {9, 12}, {61, 40}, {5, 3}, {100, 17}};
    int checked = 0;
    for (const auto& wh : sizes) {
        const rgb_image img = test_pattern(wh[0], wh[1], unsigned(wh[0] * 31 + wh[1]));
        for (int recipe = 0; recipe < 4; ++recipe)
            for (bool antialias : {true, false}) {
                preprocess_spec s;
                s.crop = 16;
                s.antialias = antialias;
                s.bgr = recipe == 2;
                if (recipe == 0) s.resize_short = 20;                                             // torchvision
                if (recipe == 1) { s.resize_short = 0; s.crop_fraction = 0.875; }                 // TF / Inception
                if (recipe == 2) s.resize_short = 0;                                              // whole image to crop x crop
                if (recipe == 3) { s.resize_short = 16; for (int c = 0; c < 3; ++c) s.mean[c] = s.std[c] = 0.5f; }  // [-1, 1]
                CAPTURE(brief(s, img));
                CHECK(same_bits(preprocess(img, s), test::naive_preprocess(img, s)));
                ++checked;
            }
    }
    CHECK(checked == 56);
}

TEST_CASE("a short side below the crop is resized to the crop keeping the aspect ratio") {
    const rgb_image img = test_pattern(30, 12, 5);
    preprocess_spec s;
    s.crop = 16;
    s.resize_short = 8;
    const std::vector<float> x = preprocess(img, s);
    s.resize_short = 16;
    CHECK(same_bits(x, preprocess(img, s)));
    CHECK(same_bits(x, test::naive_preprocess(img, s)));
    s.resize_short = 0;
    s.crop_fraction = 0;
    CHECK_FALSE(same_bits(x, preprocess(img, s)));  // not the whole image squeezed to 16 x 16
}

TEST_CASE("an image already the input's size is only normalised") {
    const rgb_image img = test_pattern(16, 16, 9);
    preprocess_spec s;
    s.crop = 16;
    s.resize_short = 0;
    s.bgr = true;
    const std::vector<float> x = preprocess(img, s);
    REQUIRE(x.size() == 3 * 256);
    for (size_t i = 0; i < 256; ++i)
        for (int c = 0; c < 3; ++c) {
            const float p = float(img.px[i * 3 + size_t(2 - c)]);
            CHECK(x[size_t(c) * 256 + i] == (p / 255.f - s.mean[c]) / s.std[c]);
        }
}

TEST_CASE("a uniform image stays uniform through every recipe") {
    rgb_image img{41, 29, {}};
    for (int i = 0; i < 41 * 29; ++i) img.px.insert(img.px.end(), {200, 100, 7});
    for (double fraction : {0.0, 0.875}) {
        preprocess_spec s;
        s.crop = 24;
        s.resize_short = fraction > 0 ? 0 : 32;
        s.crop_fraction = fraction;
        const std::vector<float> x = preprocess(img, s);
        const float v[3] = {200, 100, 7};
        for (int c = 0; c < 3; ++c)
            for (size_t i = 0; i < 24 * 24; ++i) REQUIRE(x[size_t(c) * 576 + i] == (v[c] / 255.f - s.mean[c]) / s.std[c]);
    }
}

TEST_CASE("preprocess_spec_of reads input.preprocess") {
    model_desc d;
    d.input.shape = {3, 32, 32};
    d.input.preprocess.mean = {0.5f, 0.25f, 0.125f};
    d.input.preprocess.std = {0.5f, 0.5f, 2.f};
    d.input.preprocess.color_order = "bgr";
    d.input.preprocess.resize_short = 0;
    d.input.preprocess.crop_fraction = 0.875;
    const preprocess_spec s = preprocess_spec_of(d);
    CHECK(s.crop == 32);
    CHECK(s.resize_short == 0);
    CHECK(s.crop_fraction == 0.875);
    CHECK(s.bgr);
    CHECK(s.antialias);
    CHECK(s.mean[2] == 0.125f);
    CHECK(s.std[2] == 2.f);

    d.input.preprocess.known = false;
    CHECK_THROWS_WITH_AS(preprocess_spec_of(d, "m.json"), doctest::Contains("[qint8.invalid_argument] m.json: input.preprocess: expected the model's mean"), error);
    d.input.shape = {1, 32, 32};
    CHECK_THROWS_WITH_AS(preprocess_spec_of(d, "m.json"), "[qint8.unsupported] m.json: input: expected a 3 x N x N image input (RGB, square), found [1,32,32]", error);
}

TEST_CASE("preprocess refuses empty images and impossible recipes") {
    preprocess_spec s;
    CHECK_THROWS_WITH_AS(preprocess(image_view{nullptr, 4, 4}, s), "[qint8.image] image of 4 x 4 pixels without pixels: expected at least 1 x 1 pixels", error);
    const std::vector<uint8_t> px(3, 0);
    CHECK_THROWS_WITH_AS(preprocess(image_view{px.data(), 0, 1}, s), "[qint8.image] image of 0 x 1 pixels: expected at least 1 x 1 pixels", error);
    CHECK_THROWS_WITH_AS(preprocess(image_view{px.data(), 1 << 14, 1 << 14}, s), doctest::Contains("expected at most 67108864 pixels"), error);
    s.std[1] = 0;
    CHECK_THROWS_WITH_AS(preprocess(image_view{px.data(), 1, 1}, s), doctest::Contains("channel 1: expected a finite mean and a finite std > 0"), error);
}

TEST_CASE("classifier::classify takes 8-bit RGB pixels of any size") {
    models::topology_request r;
    r.input_size = 32;
    r.classes = 10;
    r.width = 0.25;
    model_desc d = models::synthesize(models::structure_by_name("mobilenet_v1", r), 3);
    d.input.preprocess.resize_short = 40;
    d.input.preprocess.color_order = "bgr";
    classifier net(d, {}, "synthetic mobilenet_v1");
    const rgb_image photo = test_pattern(75, 50, 11);
    const auto got = net.classify(photo, 10);
    const auto want = net.classify(test::naive_preprocess(photo, preprocess_spec_of(d)), 10);
    REQUIRE(got.size() == 10);
    for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].index == want[i].index);
        CHECK(got[i].probability == want[i].probability);
    }

    d.input.preprocess.known = false;
    classifier unknown(d, {}, "m.json");
    CHECK_THROWS_WITH_AS(unknown.classify(photo, 1), doctest::Contains("m.json: input.preprocess: expected"), error);
    preprocess_spec s;
    s.crop = 32;
    unknown.set_preprocessing(s);
    CHECK(unknown.classify(photo, 1).front().index == net.classify(test::naive_preprocess(photo, s), 1).front().index);
    s.crop = 30;
    CHECK_THROWS_WITH_AS(unknown.set_preprocessing(s), doctest::Contains("expected the model's input [3,32,32]"), error);
}

}  // TEST_SUITE
