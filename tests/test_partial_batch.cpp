// session::run with fewer images than the compiled batch: each image's output equals, bit for
// bit, that of the same model compiled for exactly that many images (an independent compilation,
// whose primitives are specialised for the smaller batch). INT8 sums are exact in any order; in
// FP32 oneDNN's gemm orders its sums by the number of rows (the avx2 path's inner products), so
// such a layer runs a variant for the images asked for (step::by_count).

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include <qint8/classifier.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/session.hpp>

#include "support/tiny_model.hpp"

using namespace qint8;

namespace {

std::vector<float> images_of(std::size_t count, std::size_t per_image) {
    std::vector<float> x(count * per_image);
    uint32_t s = 12345;
    for (float& v : x) {
        s = s * 1664525u + 1013904223u;
        v = float(int(s >> 24) - 128) / 64.f;
    }
    return x;
}

/// `images` images through a model compiled for `batch`, against a model compiled for `images`.
void check_partial(const model_desc& d, int64_t batch, std::size_t images, bool fp32) {
    compile_options big, small;
    big.batch = batch;
    small.batch = int64_t(images);
    big.threads = small.threads = 1;
    big.force_fp32 = small.force_fp32 = fp32;
    const model m_big(d, big), m_small(d, small);
    session s_big(m_big), s_small(m_small);
    const std::vector<float> x = images_of(images, m_big.input_size());
    s_big.run(images_of(size_t(batch), m_big.input_size()));  // the places left empty below held other images before
    const std::vector<float> got = s_big.run(x), want = s_small.run(x);
    CAPTURE(batch);
    CAPTURE(images);
    REQUIRE(got.size() == images * m_big.output_size());
    REQUIRE(want.size() == got.size());
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    std::vector<float> by_pointer(got.size());
    s_big.run(x.data(), images, by_pointer.data());
    CHECK(by_pointer == got);
}

}  // namespace

TEST_SUITE("serving") {

TEST_CASE("a partly filled batch gives the results of a model compiled for that batch (INT8)") {
    check_partial(test::tiny_classifier(), 4, 3, false);
    check_partial(test::tiny_classifier(), 4, 1, false);
    models::topology_request r;
    r.input_size = 32;
    r.classes = 10;
    r.width = 0.25;
    for (const char* name : {"mobilenet_v2", "resnet50"}) {
        CAPTURE(std::string(name));
        check_partial(models::synthesize(models::structure_by_name(name, r), 5), 5, 2, false);
    }
}

TEST_CASE("a partly filled batch gives the results of a model compiled for that batch (FP32)") {
    check_partial(test::tiny_classifier(), 4, 3, true);
    check_partial(test::tiny_classifier(), 8, 1, true);
    check_partial(test::tiny_classifier(), 8, 7, true);
    models::topology_request r;
    r.input_size = 32;
    r.classes = 10;
    r.width = 0.25;
    for (const auto& name : models::topology_names()) {
        CAPTURE(name);
        check_partial(models::synthesize(models::structure_by_name(name, r), 5), 5, 2, true);
    }
}

TEST_CASE("classifier::classify_batch with fewer images than its batch") {
    classifier_options big, small;
    big.batch = 4;
    small.batch = 2;
    big.threads = small.threads = 1;
    classifier c_big(test::tiny_classifier(), big), c_small(test::tiny_classifier(), small);
    const std::vector<float> x = images_of(2, c_big.input_size());
    const auto got = c_big.classify_batch(x.data(), 3, 2), want = c_small.classify_batch(x.data(), 3);
    REQUIRE(got.size() == 2);
    REQUIRE(want.size() == 2);
    for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            CHECK(got[i][j].index == want[i][j].index);
            CHECK(got[i][j].probability == want[i][j].probability);
        }
    CHECK(c_big.run(x.data(), 2) == c_small.run(x.data()));
}

TEST_CASE("session::run refuses no images or more than the batch or a partial image") {
    compile_options o;
    o.batch = 2;
    const model m(test::tiny_classifier(), o);
    session s(m);
    const std::size_t per = m.input_size();
    CHECK_THROWS_WITH_AS(s.run(std::vector<float>{}), doctest::Contains("session::run: expected 1 to 2 images of 768 floats"), error);
    CHECK_THROWS_WITH_AS(s.run(std::vector<float>(3 * per)), doctest::Contains("found 2304"), error);
    CHECK_THROWS_WITH_AS(s.run(std::vector<float>(per + 1)), doctest::Contains("found 769"), error);
    std::vector<float> out(2 * m.output_size());
    CHECK_THROWS_WITH_AS(s.run(images_of(3, per).data(), 3, out.data()), "[qint8.invalid_argument] session::run: expected 1 to 2 images (the compiled batch), found 3", error);
}

}  // TEST_SUITE
