#pragma once
/// @file registry.hpp  The six topologies, listed once. Tools taking `--model=NAME`, the
/// converter's recognizer, the synthesizer, the bench and the tests all go through this list, so
/// adding a topology means adding it here (and its header) and nowhere else.

#include <string>
#include <tuple>
#include <vector>

#include "qint8/mobilenet_v1.hpp"
#include "qint8/mobilenet_v2.hpp"
#include "qint8/models/request.hpp"
#include "qint8/resnet101.hpp"
#include "qint8/resnet50.hpp"
#include "qint8/vgg16.hpp"
#include "qint8/vgg19.hpp"

namespace qint8::models {

/// The topologies, in the order tools list them. Each type has name, architecture,
/// params_type, defaults(), params_from(model_desc), params_for(topology_request) and structure(params).
using topologies = std::tuple<qint8::mobilenet_v1, qint8::mobilenet_v2, qint8::resnet50, qint8::resnet101, qint8::vgg16, qint8::vgg19>;

/// Calls `f(T{})` for every topology type T, in list order.
template <class F>
void for_each_topology(F&& f) {
    std::apply([&](auto... t) { (f(t), ...); }, topologies{});
}

inline const std::vector<std::string>& topology_names() {
    static const std::vector<std::string> n = [] {
        std::vector<std::string> r;
        for_each_topology([&](auto t) { r.push_back(decltype(t)::name); });
        return r;
    }();
    return n;
}

/// "mobilenet_v1, mobilenet_v2, ..." for messages.
inline std::string topology_list() {
    std::string all;
    for (const auto& n : topology_names()) all += (all.empty() ? "" : ", ") + n;
    return all;
}

inline bool is_topology(const std::string& name) {
    bool found = false;
    for_each_topology([&](auto t) { found = found || name == decltype(t)::name; });
    return found;
}

namespace detail {
/// Calls `f(T{})` for the topology named `name`; an unknown name is an error naming the list.
template <class F>
void with_topology(const std::string& name, F&& f) {
    bool found = false;
    for_each_topology([&](auto t) {
        if (!found && name == decltype(t)::name) {
            found = true;
            f(t);
        }
    });
    if (!found) qint8::detail::fail(errc::invalid_argument, "unknown model \"" + name + "\" (expected one of: " + topology_list() + ")");
}
}  // namespace detail

/// The architecture family of topology `name` ("mobilenet_v1", "mobilenet_v2", "resnet", "vgg").
inline std::string architecture_of(const std::string& name) {
    std::string a;
    detail::with_topology(name, [&](auto t) { a = decltype(t)::architecture; });
    return a;
}

/// The layers (no weights) of topology `name` for request `r`; throws naming the accepted names otherwise.
inline model_desc structure_by_name(const std::string& name, const topology_request& r = {}) {
    model_desc m;
    detail::with_topology(name, [&](auto t) {
        using T = decltype(t);
        m = T::structure(T::params_for(r));
    });
    return m;
}

/// The structure of topology `name` rebuilt from the parameters `m` records, as qint8::load<T> rebuilds it.
inline model_desc structure_from(const std::string& name, const model_desc& m) {
    model_desc e;
    detail::with_topology(name, [&](auto t) {
        using T = decltype(t);
        e = T::structure(T::params_from(m));
    });
    return e;
}

}  // namespace qint8::models
