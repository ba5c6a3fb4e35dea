#pragma once
/// @file family_topology.hpp  What every topology qint8::load accepts has in common: its default
/// parameters, the parameters a manifest records, those a topology_request asks for, and its
/// structure, each made from its family's own functions, so the families differ only in those.

#include "qint8/models/request.hpp"

namespace qint8::models {

namespace detail {

/// For families whose every member loads as one topology (the MobileNets): nothing to pin.
template <class Params>
void pin_nothing(Params&) {}

}  // namespace detail

/// One member of a family, ready for qint8::load: `Build` makes the family's structure, `From`
/// reads back the parameters a manifest records, `Pin` sets what makes this member itself (the
/// ResNet block counts, the VGG depth) and `Apply` copies the family's own fields of a request.
/// Every way to obtain parameters pins them, and so does structure().
template <class Params, model_desc (*Build)(const Params&), Params (*From)(const model_desc&), void (*Pin)(Params&),
          void (*Apply)(const topology_request&, Params&)>
struct family_topology {
    using params_type = Params;

    /// 224x224 RGB, 1000 classes, width 1.0 and the family's default activation, pinned.
    static params_type defaults() {
        params_type p;
        Pin(p);
        return p;
    }
    /// The parameters `m` was built with (from its input, classes and attributes), pinned.
    static params_type params_from(const model_desc& m) {
        params_type p = From(m);
        Pin(p);
        return p;
    }
    static params_type params_for(const topology_request& r) {
        params_type p = defaults();
        detail::apply_common(r, p);
        Apply(r, p);
        return p;
    }
    /// The layers for `p`, pinned first.
    static model_desc structure(params_type p = defaults()) {
        Pin(p);
        return Build(p);
    }
};

}  // namespace qint8::models
