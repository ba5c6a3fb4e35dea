#pragma once
/// @file mobilenet_v2.hpp  MobileNetV2 (Sandler et al. 2018), BN folded, layer names as
/// torchvision's: features.0 (stem), features.{1-17}.conv.{0,1,2} (expand 1x1, depthwise 3x3,
/// linear projection 1x1; the t=1 block has no expansion, so conv.0 is its depthwise and conv.1
/// its projection), features.18 (1x1 to 1280), avgpool, classifier.1 (then softmax if asked).
///
/// Channel counts follow the reference `_make_divisible(c * width, 8)`. A block's residual add
/// (stride 1, same channels) is fused into its projection as a sum post-op with no activation
/// after it (linear bottleneck).

#include <algorithm>
#include <string>

#include "qint8/models/mobilenet_topology.hpp"

namespace qint8::models {

struct mobilenet_v2_params : common_params {
    static constexpr const char* family = "mobilenet_v2";
    mobilenet_v2_params() { act = activation::relu6; }
    double width = 1.0;           ///< width multiplier: 0.25, 0.5, 0.75, 1.0 (1.3, 1.4 also published)
    bool same_padding = false;    ///< TF "SAME" padding (TF-slim checkpoints) instead of symmetric (torchvision)
};

/// torchvision/TF `_make_divisible`: round to the nearest multiple of `divisor`, at least
/// `divisor`, never more than 10% below `v`.
inline int64_t make_divisible(double v, int64_t divisor = 8) {
    int64_t r = std::max<int64_t>(divisor, static_cast<int64_t>(v + static_cast<double>(divisor) / 2) / divisor * divisor);
    if (static_cast<double>(r) < 0.9 * v) r += divisor;
    return r;
}

inline model_desc mobilenet_v2(const mobilenet_v2_params& p = {}) {
    model_desc m = detail::mobilenet_start(p);

    // t (expansion), c (channels), n (repeats), s (first stride): Table 2 of the paper.
    struct stage { int64_t t, c, n, s; };
    const stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    const activation a = p.act;
    const padding pad3 = p.same_padding ? padding::same() : padding(1);

    graph_builder b(m);
    std::string x = b.input({p.input_channels, p.input_height, p.input_width});
    int64_t in_c = make_divisible(32 * p.width);
    x = b.conv2d("features.0", x, in_c, 3, 2, pad3, 1, a);
    int idx = 1;
    for (const stage& st : stages) {
        const int64_t out_c = make_divisible(static_cast<double>(st.c) * p.width);
        for (int64_t i = 0; i < st.n; ++i, ++idx) {
            const int64_t stride = i == 0 ? st.s : 1;
            const std::string n = "features." + std::to_string(idx) + ".conv.";
            const int64_t hidden = in_c * st.t;
            int k = 0;
            std::string y = x;
            if (st.t != 1) y = b.conv2d(n + std::to_string(k++), y, hidden, 1, 1, 0, 1, a);
            y = b.depthwise_conv2d(n + std::to_string(k++), y, 3, stride, pad3, a);
            if (stride == 1 && in_c == out_c) x = b.conv2d_residual(n + std::to_string(k), y, x, out_c, 1);
            else x = b.conv2d(n + std::to_string(k), y, out_c, 1);
            in_c = out_c;
        }
    }
    const int64_t last = make_divisible(1280 * std::max(1.0, p.width));
    x = b.conv2d("features." + std::to_string(idx), x, last, 1, 1, 0, 1, a);
    detail::classifier_head(b, p, x, "avgpool", "classifier.1");
    return m;
}

/// qint8::mobilenet_v2.
using mobilenet_v2_topology = mobilenet_topology<mobilenet_v2_params, mobilenet_v2>;

}  // namespace qint8::models
