// bench/macs.hpp: the MACs per image that bench_models divides the hardware limit by. Checked
// against a small graph counted by hand and against the published figures of the six
// topologies at 224 x 224 (ResNet: He et al. 2016 as torchvision counts them; VGG: torchvision;
// MobileNets: Howard et al. 2017, Sandler et al. 2018).

#include <doctest/doctest.h>

#include <string>

#include <qint8/models/registry.hpp>

#include "support/layers.hpp"

#include "../bench/macs.hpp"

using namespace qint8;

TEST_SUITE("kernels") {

TEST_CASE("layer MACs of a small graph - counted by hand") {
    model_desc m;
    m.input.shape = {3, 10, 10};
    // 3 -> 8 channels, 3x3, pad 1: 8 x 10 x 10 outputs of 3 x 9 taps
    layer c = test::conv_layer("c", "input", 8, 3, 1);
    // depthwise 3x3 stride 2, pad 1: 8 x 5 x 5 outputs of 9 taps
    layer d = test::depthwise_layer("d", "c", 8, 3, 1, 2);
    // grouped 1x1, 4 groups: 8 x 5 x 5 outputs of 2 taps
    layer g = test::conv_layer("g", "d", 8);
    g.groups = 4;
    // max pool 2x2 stride 2 (no MACs): 8 x 2 x 2
    layer p = test::window_layer(op::max_pool2d, "p", "g", 2, 0, 2);
    // fc 32 -> 4
    layer f = test::fc_layer("f", "p", 4);
    m.layers = {c, d, g, p, f};
    const auto macs = bench::layer_macs(m);
    CHECK(macs.size() == 4);
    CHECK(macs.at("c") == 8 * 10 * 10 * 3 * 9);
    CHECK(macs.at("d") == 8 * 5 * 5 * 9);
    CHECK(macs.at("g") == 8 * 5 * 5 * 2);
    CHECK(macs.at("f") == 32 * 4);
    CHECK(macs.count("p") == 0);
    CHECK(bench::model_macs(m) == 21600 + 1800 + 400 + 128);
}

TEST_CASE("model MACs of the six topologies match the published figures") {
    const std::pair<const char*, double> published[] = {
        {"resnet50", 4.089e9}, {"resnet101", 7.801e9}, {"vgg16", 15.47e9}, {"vgg19", 19.63e9}, {"mobilenet_v1", 569e6}, {"mobilenet_v2", 300e6}};
    for (const auto& entry : published) {
        // Plain variables: doctest's INFO captures by reference, which C++17 forbids for structured bindings.
        const std::string name = entry.first;
        const double want = entry.second;
        const double got = bench::model_macs(models::structure_by_name(name));
        INFO(name << ": " << got << " MACs, published " << want);
        CHECK(got == doctest::Approx(want).epsilon(0.01));
    }
}

}  // TEST_SUITE
