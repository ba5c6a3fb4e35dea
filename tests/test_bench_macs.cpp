// bench/macs.hpp: the MACs per image that bench_models divides the hardware limit by. Checked
// against a small graph counted by hand and against the published figures of the six
// topologies at 224 x 224 (ResNet: He et al. 2016 as torchvision counts them; VGG: torchvision;
// MobileNets: Howard et al. 2017, Sandler et al. 2018).

#include <doctest/doctest.h>

#include <string>

#include <qint8/models/registry.hpp>

#include "../bench/macs.hpp"

using namespace qint8;

TEST_SUITE("kernels") {

TEST_CASE("layer MACs of a small graph, counted by hand") {
    model_desc m;
    m.input.shape = {3, 10, 10};
    layer c;  // 3 -> 8 channels, 3x3, pad 1: 8 x 10 x 10 outputs of 3 x 9 taps
    c.name = "c";
    c.inputs = {"input"};
    c.out_channels = 8;
    c.kernel = {3, 3};
    c.pad = {1, 1, 1, 1};
    layer d;  // depthwise 3x3 stride 2, pad 1: 8 x 5 x 5 outputs of 9 taps
    d.name = "d";
    d.kind = op::depthwise_conv2d;
    d.inputs = {"c"};
    d.out_channels = 8;
    d.kernel = {3, 3};
    d.stride = {2, 2};
    d.pad = {1, 1, 1, 1};
    layer g;  // grouped 1x1, 4 groups: 8 x 5 x 5 outputs of 2 taps
    g.name = "g";
    g.inputs = {"d"};
    g.out_channels = 8;
    g.groups = 4;
    layer p;  // max pool 2x2 stride 2 (no MACs): 8 x 2 x 2
    p.name = "p";
    p.kind = op::max_pool2d;
    p.inputs = {"g"};
    p.kernel = {2, 2};
    p.stride = {2, 2};
    layer f;  // fc 32 -> 4
    f.name = "f";
    f.kind = op::fc;
    f.inputs = {"p"};
    f.out_channels = 4;
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
