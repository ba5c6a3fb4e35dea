#pragma once
/// @file mobilenet_topology.hpp  What makes MobileNetV1 and V2 loadable topologies: the same
/// parameters beyond the common ones (width multiplier, padding style), recorded and read back the
/// same way, so one template serves both.

#include <string>

#include "qint8/models/family_topology.hpp"

namespace qint8::models {

namespace detail {

/// Checks a MobileNet's parameters and starts its description: architecture, variant as TF names
/// them (mobilenet_v1_1.0, mobilenet_v2_0.75), the common fields and the attributes
/// mobilenet_params_from reads back.
template <class Params>
model_desc mobilenet_start(const Params& p) {
    check_common(p, Params::family);
    check_width(p.width, Params::family);
    model_desc m;
    m.architecture = Params::family;
    m.variant = std::string(Params::family) + "_" + format_width(p.width);
    record_common(m, p);
    m.attributes["width_multiplier"] = format_number(p.width);
    m.attributes["padding"] = p.same_padding ? "same" : "symmetric";
    return m;
}

/// The parameters a MobileNet manifest was built with (see detail::read_common for the sources).
template <class Params>
Params mobilenet_params_from(const model_desc& m) {
    Params p;
    read_common(m, p);
    attribute_reader a(m);
    p.width = a.number("width_multiplier", 1.0);
    const std::string pad = a.str("padding", "symmetric");
    if (pad != "same" && pad != "symmetric") a.bad("padding", "\"symmetric\" or \"same\"", pad);
    p.same_padding = pad == "same";
    return p;
}

template <class Params>
void apply_mobilenet(const topology_request& r, Params& p) {
    p.width = r.width;
    p.same_padding = r.same_padding;
}

}  // namespace detail

/// A MobileNet ready for qint8::load: `Params` its parameters (with a `family` name), `Build`
/// its structure. Any input size, class count, width multiplier and padding style load as it;
/// the defaults are relu6.
template <class Params, model_desc (*Build)(const Params&)>
struct mobilenet_topology : family_topology<Params, Build, detail::mobilenet_params_from<Params>, detail::pin_nothing<Params>,
                                            detail::apply_mobilenet<Params>> {
    static constexpr const char* name = Params::family;
    static constexpr const char* architecture = Params::family;
};

}  // namespace qint8::models
