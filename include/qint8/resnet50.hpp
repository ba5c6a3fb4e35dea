#pragma once
/// @file resnet50.hpp  ResNet-50, ready to load: `qint8::load<qint8::resnet50>("model.json")` checks that a
/// manifest is a ResNet-50 (of any input size, class count, v1 or v1.5) and compiles it.
/// `qint8::resnet50::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/resnet.hpp"

namespace qint8 {

struct resnet50 {
    using params_type = models::resnet_params;
    static constexpr const char* name = "resnet50";

    /// 224x224 RGB, 1000 classes, blocks {3,4,6,3}, v1.5 (stride in the 3x3), relu.
    static params_type defaults() {
        params_type p;
        p.blocks = {3, 4, 6, 3};
        return p;
    }
    /// The parameters `m` was built with (from its input, classes and attributes), blocks forced to ResNet-50's.
    static params_type params_from(const model_desc& m) {
        params_type p = models::resnet_params_from(m);
        p.blocks = {3, 4, 6, 3};
        return p;
    }
    /// The layers for `p` (its variant field is overridden to this variant).
    static model_desc structure(params_type p = defaults()) {
        p.blocks = {3, 4, 6, 3};
        return models::resnet(p);
    }
};

}  // namespace qint8
