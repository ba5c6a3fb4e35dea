#pragma once
/// @file request.hpp  What a command line, a test or the converter's recognizer can ask of any of
/// the six topologies: one request type that every topology turns into its own parameters
/// (`T::params_for`), so callers never branch on the family.

#include <algorithm>
#include <optional>
#include <string>

#include "qint8/builder.hpp"

namespace qint8::models {

/// Where a downsampling ResNet bottleneck puts its stride.
enum class resnet_stride { in_1x1, in_3x3 };  ///< v1 (Caffe, TF-slim v1) / v1.5 (torchvision)

/// The parameters a caller may set; each applies to the families named, the rest are ignored.
struct topology_request {
    int64_t input_size = 224;      ///< input height, >= 32 (and its width unless input_width is set)
    int64_t input_width = 0;       ///< 0: square input
    int64_t input_channels = 3;
    int64_t classes = 1000;
    bool background_class = false;  ///< one extra output at index 0 (TF-slim's 1001 classes)
    classifier_kind classifier = classifier_kind::fc;
    bool softmax = false;
    std::optional<activation> act;  ///< empty: the family's default (relu6 MobileNets, relu otherwise)
    double width = 1.0;             ///< channel multiplier (all families)
    bool same_padding = false;      ///< MobileNets: TF "SAME" padding instead of symmetric
    resnet_stride stride_at = resnet_stride::in_3x3;  ///< ResNets
    int64_t hidden = 4096;          ///< VGGs: classifier width
};

namespace detail {

/// Channels of a reduced- or widened-width layer as MobileNetV1, ResNet and VGG scale them:
/// int(c * w), at least 8.
inline int64_t scaled_channels(int64_t c, double width) {
    return std::max<int64_t>(static_cast<int64_t>(static_cast<double>(c) * width), 8);
}

/// Every family's width multiplier must lie in (0, 4].
inline void check_width(double width, const char* family) {
    if (!(width > 0.0 && width <= 4.0))
        qint8::detail::fail(errc::invalid_argument, std::string(family) + ": width: expected a multiplier in (0, 4], found " + format_number(width));
}

/// The request's fields every family shares, written into `p` (whose defaults stay otherwise).
inline void apply_common(const topology_request& r, common_params& p) {
    p.input_channels = r.input_channels;
    p.input_height = r.input_size;
    p.input_width = r.input_width > 0 ? r.input_width : r.input_size;
    p.num_classes = r.classes;
    p.background_class = r.background_class;
    p.classifier = r.classifier;
    p.softmax = r.softmax;
    if (r.act) p.act = *r.act;
}

/// The request whose common fields are `p`'s (the recognizer infers those from a graph).
inline topology_request request_from(const common_params& p) {
    topology_request r;
    r.input_channels = p.input_channels;
    r.input_size = p.input_height;
    r.input_width = p.input_width;
    r.classes = p.num_classes;
    r.background_class = p.background_class;
    r.classifier = p.classifier;
    r.softmax = p.softmax;
    r.act = p.act;
    return r;
}

}  // namespace detail
}  // namespace qint8::models
