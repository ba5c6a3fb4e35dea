#pragma once
/// @file macs.hpp  Multiply-accumulates per image of a model, layer by layer, from the graph's
/// shapes: what a model's images/s is divided against to give its share of the hardware limit.
///
/// Counted as the published figures count them: convolutions (depthwise too) and fully
/// connected layers only, one MAC per weight per output position. Pools, adds and softmax are
/// left out (they are memory-bound and a few per mille of the total).

#include <map>
#include <string>
#include <vector>

#include <qint8/graph.hpp>
#include <qint8/validate.hpp>

namespace qint8::bench {

/// Output shape of layer `l` ([C,H,W], or [K] after fc) from its input shape. The graph's own
/// shape rules (validate.hpp) need weights; a structure without weights is counted too.
inline std::vector<int64_t> out_shape_of(const layer& l, const std::vector<int64_t>& in) {
    switch (l.kind) {
        case op::conv2d: return window_shape(l, in, l.out_channels);
        case op::depthwise_conv2d:
        case op::max_pool2d:
        case op::avg_pool2d: return window_shape(l, in, in.at(0));
        case op::global_avg_pool2d: return {in.at(0), 1, 1};
        case op::fc: return {l.out_channels};
        default: return in;  // add, softmax
    }
}

/// MACs per image of every convolution and fc layer of `m`, by layer name.
inline std::map<std::string, double> layer_macs(const model_desc& m) {
    std::map<std::string, std::vector<int64_t>> shape{{m.input.name, m.input.shape}};
    std::map<std::string, double> macs;
    for (const auto& l : m.layers) {
        const std::vector<int64_t>& in = shape.at(l.inputs.at(0));
        const std::vector<int64_t> out = out_shape_of(l, in);
        double in_elems = 1, out_elems = 1;
        for (int64_t d : in) in_elems *= static_cast<double>(d);
        for (int64_t d : out) out_elems *= static_cast<double>(d);
        const double taps = static_cast<double>(l.kernel[0] * l.kernel[1]);
        if (l.kind == op::fc) macs[l.name] = in_elems * out_elems;
        else if (l.kind == op::conv2d) macs[l.name] = out_elems * taps * static_cast<double>(in.at(0) / l.groups);
        else if (l.kind == op::depthwise_conv2d) macs[l.name] = out_elems * taps;
        shape[l.name] = out;
    }
    return macs;
}

/// MACs per image of the whole model.
inline double model_macs(const model_desc& m) {
    double sum = 0;
    for (const auto& [name, n] : layer_macs(m)) sum += n;
    return sum;
}

}  // namespace qint8::bench
