#pragma once
/// @file vgg.hpp  VGG (Simonyan & Zisserman 2014) without BN, layer names as torchvision's:
/// features.{i} (3x3 convs and 2x2 max pools, numbered as the torchvision Sequential numbers
/// them, ReLUs included), avgpool (only when needed, see below), classifier.0, classifier.3,
/// classifier.6 (then softmax if asked).
///
/// torchvision pools the last feature map adaptively to 7x7 before classifier.0. At 224x224 the
/// map already is 7x7 (no layer is emitted); when it is a larger multiple of 7 an exact
/// avg_pool2d "avgpool" does the same; otherwise (e.g. 1x1 at 32x32) classifier.0 reads the map
/// as it is, so its input size is C*H*W of that map.
///
/// A width multiplier w scales the convolutions (not the classifier, whose width is `hidden`):
/// a stage of n channels has max(int(n * w), 8), as reduced-width models trained on small images
/// use (e.g. w = 0.25 with hidden = 256 for 32x32 Fashion-MNIST).
///
/// With classifier_kind::conv1x1 the classifier is fully convolutional as in TF-slim: classifier.0
/// is a conv whose kernel covers the whole map, classifier.3 and classifier.6 are 1x1 convs.

#include <string>
#include <vector>

#include "qint8/models/family_topology.hpp"

namespace qint8::models {

struct vgg_params : common_params {
    int depth = 16;        ///< 11, 13, 16 or 19 weight layers (configurations A, B, D, E)
    int64_t hidden = 4096; ///< width of classifier.0 and classifier.3
    double width = 1.0;    ///< multiplier of the conv channels, (0, 4]
};

/// "vgg11", "vgg13", "vgg16", "vgg19", or "vgg" for other depths.
constexpr const char* vgg_name(int depth) {
    return depth == 11 ? "vgg11" : depth == 13 ? "vgg13" : depth == 16 ? "vgg16" : depth == 19 ? "vgg19" : "vgg";
}

inline model_desc vgg(const vgg_params& p = {}) {
    detail::check_common(p, "vgg");
    // Convs per stage for each configuration (Table 1 of the paper).
    std::vector<int> per_stage;
    switch (p.depth) {
        case 11: per_stage = {1, 1, 2, 2, 2}; break;
        case 13: per_stage = {2, 2, 2, 2, 2}; break;
        case 16: per_stage = {2, 2, 3, 3, 3}; break;
        case 19: per_stage = {2, 2, 4, 4, 4}; break;
        default: qint8::detail::fail(errc::invalid_argument, "vgg: depth: expected 11, 13, 16 or 19, found " + std::to_string(p.depth));
    }
    if (p.hidden < 1 || p.hidden > (int64_t{1} << 20))
        qint8::detail::fail(errc::invalid_argument, "vgg: hidden: expected 1..1048576, found " + std::to_string(p.hidden));
    detail::check_width(p.width, "vgg");
    model_desc m;
    m.architecture = "vgg";
    m.variant = vgg_name(p.depth);
    detail::record_common(m, p);
    m.attributes["depth"] = std::to_string(p.depth);
    m.attributes["hidden"] = std::to_string(p.hidden);
    m.attributes["width_multiplier"] = detail::format_number(p.width);

    const activation a = p.act;
    graph_builder b(m);
    std::string x = b.input({p.input_channels, p.input_height, p.input_width});
    int idx = 0;  // torchvision's Sequential index: conv, relu per conv; one per pool
    for (int s = 0; s < 5; ++s) {
        const int64_t c = detail::scaled_channels(std::min<int64_t>(int64_t{64} << s, 512), p.width);
        for (int i = 0; i < per_stage[static_cast<std::size_t>(s)]; ++i, idx += 2)
            x = b.conv2d("features." + std::to_string(idx), x, c, 3, 1, 1, 1, a);
        x = b.max_pool2d("features." + std::to_string(idx++), x, 2, 2);
    }
    const int64_t h = b.shape(x)[1], w = b.shape(x)[2];
    if (h % 7 == 0 && w % 7 == 0 && (h > 7 || w > 7)) x = b.avg_pool2d("avgpool", x, window(h / 7, w / 7), window(h / 7, w / 7));

    if (p.classifier == classifier_kind::fc) {
        x = b.fc("classifier.0", x, p.hidden, a);
        x = b.fc("classifier.3", x, p.hidden, a);
        x = b.fc("classifier.6", x, p.outputs());
    } else {
        const auto& s = b.shape(x);
        x = b.conv2d("classifier.0", x, p.hidden, window(s[1], s[2]), 1, 0, 1, a);
        x = b.conv2d("classifier.3", x, p.hidden, 1, 1, 0, 1, a);
        x = b.conv2d("classifier.6", x, p.outputs(), 1);
    }
    if (p.softmax) b.softmax("softmax", x);
    return m;
}

inline vgg_params vgg_params_from(const model_desc& m) {
    vgg_params p;
    detail::read_common(m, p);
    detail::attribute_reader a(m);
    p.depth = static_cast<int>(a.integer("depth", 16));
    p.hidden = a.integer("hidden", 4096);
    p.width = a.number("width_multiplier", 1.0);
    return p;
}

namespace detail {

template <int Depth>
void pin_depth(vgg_params& p) {
    p.depth = Depth;
}

inline void apply_vgg(const topology_request& r, vgg_params& p) {
    p.width = r.width;
    p.hidden = r.hidden;
}

}  // namespace detail

/// VGG of `Depth` weight layers, ready for qint8::load (qint8::vgg16 is vgg_topology<16>). Any
/// input size, class count, width and classifier width load as it; the depth is its identity.
/// The defaults have a hidden width of 4096 and relu.
template <int Depth>
struct vgg_topology : family_topology<vgg_params, vgg, vgg_params_from, detail::pin_depth<Depth>, detail::apply_vgg> {
    static constexpr const char* name = vgg_name(Depth);
    static constexpr const char* architecture = "vgg";
};

}  // namespace qint8::models
