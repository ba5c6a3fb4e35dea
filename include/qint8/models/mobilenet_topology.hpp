#pragma once
/// @file mobilenet_topology.hpp  What makes MobileNetV1 and V2 loadable topologies: the same
/// parameters beyond the common ones (width multiplier, padding style), so one template serves both.

#include "qint8/models/request.hpp"

namespace qint8::models {

/// A MobileNet ready for qint8::load: `Params` its parameters (with a `family` name), `Build`
/// its structure and `From` the parameters a manifest records. Any input size, class count,
/// width multiplier and padding style load as it.
template <class Params, model_desc (*Build)(const Params&), Params (*From)(const model_desc&)>
struct mobilenet_topology {
    using params_type = Params;
    static constexpr const char* name = Params::family;
    static constexpr const char* architecture = Params::family;

    /// 224x224 RGB, 1000 classes, width 1.0, relu6.
    static params_type defaults() { return params_type{}; }
    /// The parameters `m` was built with (from its input, classes and attributes).
    static params_type params_from(const model_desc& m) { return From(m); }
    static params_type params_for(const topology_request& r) {
        params_type p;
        detail::apply_common(r, p);
        p.width = r.width;
        p.same_padding = r.same_padding;
        return p;
    }
    static model_desc structure(const params_type& p = defaults()) { return Build(p); }
};

}  // namespace qint8::models
