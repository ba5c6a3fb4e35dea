#pragma once
// INT8 bias correction stored beside a layer's float bias (docs/manifest.md, "tensors"): the
// tensor `<layer>.bias.int8_correction` (f32 [out_channels]) is added to the bias where the layer
// runs in INT8 only. The FP32 path of the same manifest keeps the float bias, so it still computes
// the source model. Written by qint8-convert's post-training bias correction. A second tensor
// `<layer>.bias.int8_correction.pair_safe`, where present, replaces it on the paths that use
// pair-safe u8 weights (no VNNI: the weights differ, so the error to correct does too).

#include <string>
#include <vector>

#include <qint8/graph.hpp>

namespace qint8 {

/// Name of a layer's INT8 bias correction tensor.
inline std::string int8_bias_correction_name(const std::string& layer) { return layer + ".bias.int8_correction"; }
/// Name of a layer's INT8 bias correction for the pair-safe weight scheme.
inline std::string int8_bias_correction_pair_safe_name(const std::string& layer) { return int8_bias_correction_name(layer) + ".pair_safe"; }

/// The bias an INT8 layer adds: `bias` (may be null) plus the layer's correction when the
/// manifest has one (`pair_safe`: the path's u8 weights are pair-safe, which takes the pair-safe
/// correction where there is one). Returns `bias` itself when there is no correction; otherwise
/// the sum, kept alive in `storage`.
inline const tensor* int8_bias(const model_desc& m, const std::string& layer, const tensor* bias, int64_t out_channels, tensor& storage,
                               bool pair_safe) {
    auto it = pair_safe ? m.tensors.find(int8_bias_correction_pair_safe_name(layer)) : m.tensors.end();
    if (it == m.tensors.end()) it = m.tensors.find(int8_bias_correction_name(layer));
    if (it == m.tensors.end()) return bias;
    std::vector<float> v(static_cast<std::size_t>(out_channels), 0.f);
    for (std::size_t c = 0; c < v.size(); ++c) v[c] = (bias ? bias->as<float>()[c] : 0.f) + it->second.as<float>()[c];
    storage = tensor::from_vector(dtype::f32, {out_channels}, v);
    return &storage;
}

}  // namespace qint8
