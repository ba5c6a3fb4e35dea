#pragma once
/// @file vgg19.hpp  VGG-19, ready to load: `qint8::load<qint8::vgg19>("model.json")` checks that a
/// manifest is a VGG-19 (of any input size, class count, classifier width) and compiles it.
/// `qint8::vgg19::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/vgg.hpp"

namespace qint8 {

struct vgg19 {
    using params_type = models::vgg_params;
    static constexpr const char* name = "vgg19";

    /// 224x224 RGB, 1000 classes, hidden width 4096, relu.
    static params_type defaults() {
        params_type p;
        p.depth = 19;
        return p;
    }
    /// The parameters `m` was built with (from its input, classes and attributes), depth forced to 19.
    static params_type params_from(const model_desc& m) {
        params_type p = models::vgg_params_from(m);
        p.depth = 19;
        return p;
    }
    /// The layers for `p` (its variant field is overridden to this variant).
    static model_desc structure(params_type p = defaults()) {
        p.depth = 19;
        return models::vgg(p);
    }
};

}  // namespace qint8
