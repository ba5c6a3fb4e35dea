#pragma once
/// @file mobilenet_v1.hpp  MobileNetV1 (Howard et al. 2017), BN folded. torchvision has no
/// MobileNetV1, so layers are named as the reference implementation (TF-slim) names them, minus
/// the "MobilenetV1/" scope: Conv2d_0, Conv2d_{1-13}_depthwise, Conv2d_{1-13}_pointwise,
/// AvgPool_1a, Logits/Conv2d_1c_1x1 (then softmax if asked).
///
/// Channel counts follow the reference `max(int(c * width), 8)`.

#include <algorithm>
#include <string>

#include "qint8/models/mobilenet_topology.hpp"

namespace qint8::models {

struct mobilenet_v1_params : common_params {
    static constexpr const char* family = "mobilenet_v1";
    mobilenet_v1_params() { act = activation::relu6; }
    double width = 1.0;         ///< width (depth) multiplier: 0.25, 0.5, 0.75, 1.0
    bool same_padding = false;  ///< TF "SAME" padding (TF-slim checkpoints) instead of symmetric
};

inline model_desc mobilenet_v1(const mobilenet_v1_params& p = {}) {
    model_desc m = detail::mobilenet_start(p);

    auto depth = [&](int64_t c) { return detail::scaled_channels(c, p.width); };
    // (stride, pointwise channels) of the 13 depthwise-separable blocks: Table 1 of the paper.
    const int64_t spec[13][2] = {{1, 64},  {2, 128}, {1, 128}, {2, 256}, {1, 256}, {2, 512},  {1, 512},
                                 {1, 512}, {1, 512}, {1, 512}, {1, 512}, {2, 1024}, {1, 1024}};
    const activation a = p.act;
    const padding pad3 = p.same_padding ? padding::same() : padding(1);

    graph_builder b(m);
    std::string x = b.input({p.input_channels, p.input_height, p.input_width});
    x = b.conv2d("Conv2d_0", x, depth(32), 3, 2, pad3, 1, a);
    for (int i = 0; i < 13; ++i) {
        const std::string n = "Conv2d_" + std::to_string(i + 1);
        x = b.depthwise_conv2d(n + "_depthwise", x, 3, spec[i][0], pad3, a);
        x = b.conv2d(n + "_pointwise", x, depth(spec[i][1]), 1, 1, 0, 1, a);
    }
    detail::classifier_head(b, p, x, "AvgPool_1a", "Logits/Conv2d_1c_1x1");
    return m;
}

/// qint8::mobilenet_v1.
using mobilenet_v1_topology = mobilenet_topology<mobilenet_v1_params, mobilenet_v1>;

}  // namespace qint8::models
