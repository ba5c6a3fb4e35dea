#pragma once
/// @file int8_plan.hpp  Scale planning for a weighted layer on the INT8 path: its integer weights,
/// its bias in accumulator units and the factors that requantize int32 accumulators to the
/// destination. Plain arithmetic, no oneDNN; the naive reference (ref/) does the same.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "qint8/detail/quantize_weights.hpp"

namespace qint8::detail {

/// A weighted layer's integer parameters.
struct int8_plan {
    weight_codes weights;           ///< [O, K] plain
    std::vector<int32_t> bias;      ///< accumulator units, rounded (all 0 when float_bias)
    std::vector<float> bias_f;      ///< float_bias: accumulator units, unrounded; else empty
    std::vector<float> out_scales;  ///< per output channel: s_src * s_w[c] / s_dst
    bool float_bias() const { return !bias_f.empty(); }
    /// The bias as the kernels add it to float(acc): bias_f, or the rounded bias as floats.
    std::vector<float> bias_as_float() const { return float_bias() ? bias_f : std::vector<float>(bias.begin(), bias.end()); }
};

/// `q`: the layer's integer weights; `b`: its (possibly corrected) real bias or null;
/// `dst_scale`: 1 for an f32 destination; `float_bias`: keep the bias unrounded (layer::float_bias).
inline int8_plan plan_int8(int8_weights q, const tensor* b, float src_scale, float dst_scale, bool float_bias = false) {
    int8_plan p;
    p.bias.assign(q.scale.size(), 0);
    if (float_bias) p.bias_f = bias_in_acc_units(b, q.scale, src_scale);
    else p.bias = quantize_bias(b, q.scale, src_scale);
    p.out_scales.resize(q.scale.size());
    for (std::size_t c = 0; c < q.scale.size(); ++c) p.out_scales[c] = src_scale * q.scale[c] / dst_scale;
    p.weights = std::move(q.q);
    return p;
}

/// For an fc layer, whose oneDNN 2.x primitive reads no source zero point: with no padding,
/// sum_k w*(x - zp) = sum_k w*x - zp*sum_k w exactly, so zp*sum_k w leaves the bias (saturated
/// to int32; |zp| <= 255 and |sum_k w| <= 127*K keep the int64 difference exact).
/// An unrounded bias takes zp*sum_k w in float: one more rounding than the reference's
/// float(acc) + bias, which is why an INT8 fc with float_bias runs as a convolution wherever it can.
inline void fold_source_zero_point(int8_plan& p, int32_t zp) {
    if (zp == 0) return;
    const std::size_t o = p.bias.size(), k = p.weights.size() / o;
    for (std::size_t c = 0; c < o; ++c) {
        int64_t sw = 0;
        for (std::size_t i = 0; i < k; ++i) sw += p.weights[c * k + i];
        if (p.float_bias()) {
            p.bias_f[c] = static_cast<float>(double(p.bias_f[c]) - double(zp) * double(sw));
            continue;
        }
        const int64_t v = int64_t(p.bias[c]) - int64_t(zp) * sw;
        p.bias[c] = static_cast<int32_t>(std::min<int64_t>(std::numeric_limits<int32_t>::max(),
                                                           std::max<int64_t>(std::numeric_limits<int32_t>::min(), v)));
    }
}

}  // namespace qint8::detail
