// qint8/preprocess.hpp on real photos (../shared/data/photos, decoded by qint8/image_file.hpp):
// bit for bit the naive form of tests/support/naive_preprocess.hpp, for the torchvision recipe
// and the TF/Inception one (the TFLite MobileNets'), as qint8-preprocess's presets set them.

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <qint8/image_file.hpp>
#include <qint8/preprocess.hpp>

#include "support/naive_preprocess.hpp"
#include "support/shared_data.hpp"

TEST_SUITE("imagenet") {

TEST_CASE("preprocess equals the naive form bit for bit on real photos") {
    const std::string dir = qint8::test::shared_data_dir() + "/photos";
    if (!std::filesystem::is_directory(dir)) {
        MESSAGE("NOT RUN: " << dir << " not found (set QINT8_DATA_DIR)");
        return;
    }
    int photos = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() != ".jpg") continue;
        const qint8::rgb_image img = qint8::read_image(e.path().string());
        CAPTURE(e.path().string());
        qint8::preprocess_spec torchvision;  // the defaults: resize-short 256, crop 224, ImageNet mean/std
        qint8::preprocess_spec inception;
        inception.resize_short = 0;
        inception.crop_fraction = 0.875;
        inception.crop = 128;
        for (int c = 0; c < 3; ++c) inception.mean[c] = inception.std[c] = 0.5f;
        for (const auto* s : {&torchvision, &inception}) {
            const std::vector<float> got = qint8::preprocess(img, *s), want = qint8::test::naive_preprocess(img, *s);
            REQUIRE(got.size() == want.size());
            CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        }
        ++photos;
    }
    CHECK(photos >= 1);
}

}  // TEST_SUITE
