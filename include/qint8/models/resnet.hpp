#pragma once
/// @file resnet.hpp  ResNet with bottleneck blocks (ResNet-50/101/152), BN folded, layer names as
/// torchvision's: conv1, maxpool, layer{1-4}.{i}.conv{1,2,3}, layer{1-4}.{i}.downsample.0,
/// avgpool, fc (then softmax if asked).
///
/// Each block's residual add is fused into its conv3 as a sum post-op followed by the
/// activation; the projection shortcut (downsample.0) is a 1x1 conv with the block's stride.
///
/// A width multiplier w scales every convolution: the stem has c(64) channels and stage s an
/// inner width of c(64 * 2^s) with expansion 4, where c(n) = max(int(n * w), 8) (reduced-width
/// models trained on small images, e.g. w = 0.25 for 32x32 Fashion-MNIST).

#include <algorithm>
#include <string>
#include <vector>

#include "qint8/models/family_topology.hpp"

namespace qint8::models {

struct resnet_params : common_params {
    std::vector<int64_t> blocks{3, 4, 6, 3};        ///< bottlenecks per stage: {3,4,6,3} ResNet-50, {3,4,23,3} ResNet-101
    resnet_stride stride_at = resnet_stride::in_3x3;  ///< v1.5 by default (torchvision weights)
    double width = 1.0;                               ///< channel multiplier, (0, 4]: see the file comment
};

/// "resnet50", "resnet101", "resnet152", or "resnet" for other block counts per stage.
constexpr const char* resnet_name(int64_t b1, int64_t b2, int64_t b3, int64_t b4) {
    return b1 == 3 && b2 == 4 && b3 == 6 && b4 == 3    ? "resnet50"
           : b1 == 3 && b2 == 4 && b3 == 23 && b4 == 3 ? "resnet101"
           : b1 == 3 && b2 == 8 && b3 == 36 && b4 == 3 ? "resnet152"
                                                       : "resnet";
}

inline std::string resnet_variant(const std::vector<int64_t>& blocks) {
    return blocks.size() == 4 ? resnet_name(blocks[0], blocks[1], blocks[2], blocks[3]) : "resnet";
}

/// The structure (layers and shapes, no tensors) of a bottleneck ResNet.
inline model_desc resnet(const resnet_params& p = {}) {
    detail::check_common(p, "resnet");
    if (p.blocks.size() != 4)
        qint8::detail::fail(errc::invalid_argument, "resnet: blocks: expected 4 stages, found " + std::to_string(p.blocks.size()));
    for (int64_t n : p.blocks)
        if (n < 1 || n > 1000) qint8::detail::fail(errc::invalid_argument, "resnet: blocks: expected 1..1000 per stage, found " + std::to_string(n));
    detail::check_width(p.width, "resnet");
    model_desc m;
    m.architecture = "resnet";
    m.variant = resnet_variant(p.blocks);
    detail::record_common(m, p);
    std::string blocks;
    for (int64_t n : p.blocks) blocks += (blocks.empty() ? "" : ",") + std::to_string(n);
    m.attributes["blocks"] = blocks;
    m.attributes["stride_in"] = p.stride_at == resnet_stride::in_1x1 ? "1x1" : "3x3";
    m.attributes["width_multiplier"] = detail::format_number(p.width);

    graph_builder b(m);
    const activation a = p.act;
    std::string x = b.input({p.input_channels, p.input_height, p.input_width});
    x = b.conv2d("conv1", x, detail::scaled_channels(64, p.width), 7, 2, 3, 1, a);
    x = b.max_pool2d("maxpool", x, 3, 2, 1);
    for (int s = 0; s < 4; ++s) {
        const int64_t width = detail::scaled_channels(int64_t{64} << s, p.width), out_c = width * 4;
        for (int64_t i = 0; i < p.blocks[static_cast<std::size_t>(s)]; ++i) {
            const std::string n = "layer" + std::to_string(s + 1) + "." + std::to_string(i) + ".";
            const int64_t stride = (i == 0 && s > 0) ? 2 : 1;
            const int64_t s1 = p.stride_at == resnet_stride::in_1x1 ? stride : 1, s3 = stride / s1;
            std::string shortcut = x;
            std::string y = b.conv2d(n + "conv1", x, width, 1, s1, 0, 1, a);
            y = b.conv2d(n + "conv2", y, width, 3, s3, 1, 1, a);
            if (i == 0) shortcut = b.conv2d(n + "downsample.0", x, out_c, 1, stride);
            x = b.conv2d_residual(n + "conv3", y, shortcut, out_c, 1, 1, 0, a);
        }
    }
    detail::classifier_head(b, p, x, "avgpool", "fc");
    return m;
}

/// The parameters a ResNet manifest was built with (see detail::read_common for the sources).
inline resnet_params resnet_params_from(const model_desc& m) {
    resnet_params p;
    detail::read_common(m, p);
    detail::attribute_reader a(m);
    p.blocks = a.integers("blocks", p.blocks);
    p.width = a.number("width_multiplier", 1.0);
    const std::string s = a.str("stride_in", "3x3");
    if (s == "1x1") p.stride_at = resnet_stride::in_1x1;
    else if (s == "3x3") p.stride_at = resnet_stride::in_3x3;
    else a.bad("stride_in", "\"1x1\" (v1) or \"3x3\" (v1.5)", s);
    return p;
}

namespace detail {

template <int64_t B1, int64_t B2, int64_t B3, int64_t B4>
void pin_blocks(resnet_params& p) {
    p.blocks = {B1, B2, B3, B4};
}

inline void apply_resnet(const topology_request& r, resnet_params& p) {
    p.width = r.width;
    p.stride_at = r.stride_at;
}

}  // namespace detail

/// A bottleneck ResNet with B1..B4 blocks per stage, ready for qint8::load (qint8::resnet50 is
/// resnet_topology<3, 4, 6, 3>). Any input size, class count, width and stride placement load as
/// it; the block counts are its identity. The defaults are v1.5 (stride in the 3x3), relu.
template <int64_t B1, int64_t B2, int64_t B3, int64_t B4>
struct resnet_topology
    : family_topology<resnet_params, resnet, resnet_params_from, detail::pin_blocks<B1, B2, B3, B4>, detail::apply_resnet> {
    static constexpr const char* name = resnet_name(B1, B2, B3, B4);
    static constexpr const char* architecture = "resnet";
};

}  // namespace qint8::models
