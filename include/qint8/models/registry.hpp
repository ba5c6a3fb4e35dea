#pragma once
/// @file registry.hpp  The six topologies by name, for tools that take `--model=NAME`.

#include <string>
#include <vector>

#include "qint8/mobilenet_v1.hpp"
#include "qint8/mobilenet_v2.hpp"
#include "qint8/resnet101.hpp"
#include "qint8/resnet50.hpp"
#include "qint8/vgg16.hpp"
#include "qint8/vgg19.hpp"

namespace qint8::models {

/// Names accepted by structure_by_name(), in the order tools list them.
inline const std::vector<std::string>& topology_names() {
    static const std::vector<std::string> n{"mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19"};
    return n;
}

/// What a command line can vary; everything else takes the topology's defaults.
struct topology_request {
    int64_t input_size = 224;  ///< square input, >= 32
    int64_t classes = 1000;
    double width = 1.0;        ///< MobileNets only
};

namespace detail {
template <class T>
model_desc sized(const topology_request& r) {
    auto p = T::defaults();
    p.input_height = p.input_width = r.input_size;
    p.num_classes = r.classes;
    return T::structure(p);
}
}  // namespace detail

/// The layers (no weights) of topology `name`; throws naming the accepted names otherwise.
inline model_desc structure_by_name(const std::string& name, const topology_request& r = {}) {
    if (name == "mobilenet_v1" || name == "mobilenet_v2") {
        if (name == "mobilenet_v1") {
            auto p = mobilenet_v1::defaults();
            p.input_height = p.input_width = r.input_size;
            p.num_classes = r.classes;
            p.width = r.width;
            return mobilenet_v1::structure(p);
        }
        auto p = mobilenet_v2::defaults();
        p.input_height = p.input_width = r.input_size;
        p.num_classes = r.classes;
        p.width = r.width;
        return mobilenet_v2::structure(p);
    }
    if (name == "resnet50") return detail::sized<resnet50>(r);
    if (name == "resnet101") return detail::sized<resnet101>(r);
    if (name == "vgg16") return detail::sized<vgg16>(r);
    if (name == "vgg19") return detail::sized<vgg19>(r);
    std::string all;
    for (const auto& n : topology_names()) all += (all.empty() ? "" : ", ") + n;
    qint8::detail::fail(errc::invalid_argument, "unknown model \"" + name + "\" (expected one of: " + all + ")");
}

}  // namespace qint8::models
