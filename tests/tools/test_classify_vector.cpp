// classifier::classify(const std::vector<float>&, k), as the README writes it: the same answer as
// the pointer form, and a clear error for an image of the wrong size.

#include <doctest/doctest.h>

#include <vector>

#include <qint8/classifier.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>

TEST_SUITE("tools") {

TEST_CASE("classifier::classify takes a std::vector<float>") {
    qint8::models::topology_request r;
    r.input_size = 32;
    r.classes = 10;
    r.width = 0.25;
    qint8::classifier net(qint8::models::synthesize(qint8::models::structure_by_name("mobilenet_v1", r), 3), {}, "synthetic mobilenet_v1");
    std::vector<float> image(net.input_size());
    for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>(i % 17) / 8.f - 1.f;
    const auto a = net.classify(image, 5);
    const auto b = net.classify(image.data(), 5);
    REQUIRE(a.size() == 5);
    REQUIRE(b.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) {
        CHECK(a[i].index == b[i].index);
        CHECK(a[i].probability == b[i].probability);
    }
    image.pop_back();
    try {
        net.classify(image, 5);
        FAIL("an image one float short was accepted");
    } catch (const qint8::error& e) {
        CHECK(e.code() == qint8::errc::invalid_argument);
        CHECK(std::string(e.what()).find("expected 3072 floats") != std::string::npos);
    }
}

}  // TEST_SUITE
