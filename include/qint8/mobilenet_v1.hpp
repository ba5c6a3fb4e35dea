#pragma once
/// @file mobilenet_v1.hpp  MobileNetV1, ready to load: `qint8::load<qint8::mobilenet_v1>("model.json")` checks that a
/// manifest is a MobileNetV1 (of any input size, class count, width multiplier) and compiles it.
/// `qint8::mobilenet_v1::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/mobilenet_v1.hpp"

namespace qint8 {

struct mobilenet_v1 {
    using params_type = models::mobilenet_v1_params;
    static constexpr const char* name = "mobilenet_v1";

    /// 224x224 RGB, 1000 classes, width 1.0, relu6.
    static params_type defaults() {
        params_type p;
        return p;
    }
    /// The parameters `m` was built with (from its input, classes and attributes).
    static params_type params_from(const model_desc& m) {
        params_type p = models::mobilenet_v1_params_from(m);
        return p;
    }
    /// The layers for `p` (as given).
    static model_desc structure(params_type p = defaults()) {
        return models::mobilenet_v1(p);
    }
};

}  // namespace qint8
