#pragma once
/// @file value.hpp  The reference's tensors and its quantization arithmetic. Written from the
/// numeric rules in docs/manifest.md, not from the backend code.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qint8/graph.hpp"

namespace qint8::ref {

/// A tensor in the reference: real values, or integers with their quantization. NCHW or [N, K].
struct value {
    std::vector<int64_t> dims;   ///< [N, C, H, W] or [N, K]
    bool is_int = false;
    quant_params q;              ///< when is_int
    std::vector<float> f;        ///< when !is_int
    std::vector<int32_t> i;      ///< when is_int
    std::size_t size() const { std::size_t n = 1; for (auto d : dims) n *= static_cast<std::size_t>(d); return n; }
    float real(std::size_t k) const { return is_int ? q.scale * static_cast<float>(i[k] - q.zero_point) : f[k]; }
};

/// An empty value of `dims`, integer with `q` or real.
inline value make_value(std::vector<int64_t> dims, bool is_int, const quant_params& q = {}) {
    value r;
    r.dims = std::move(dims);
    r.is_int = is_int;
    r.q = q;
    if (is_int) r.i.resize(r.size());
    else r.f.resize(r.size());
    return r;
}

/// Round half to even (the FPU's default mode), then clamp to the 8-bit type's range.
inline int32_t saturate_round(float v, dtype t) {
    const float r = std::nearbyint(v);
    const float lo = t == dtype::u8 ? 0.f : -128.f, hi = t == dtype::u8 ? 255.f : 127.f;
    return static_cast<int32_t>(std::min(hi, std::max(lo, r)));
}

/// q = saturate(round(x * (1/scale)) + zp): quantization multiplies by the reciprocal.
inline value quantize(const value& x, const quant_params& q) {
    value r = make_value(x.dims, true, q);
    const float inv = 1.f / q.scale;
    for (std::size_t k = 0; k < x.size(); ++k) {
        if (x.is_int && x.q == q) {
            r.i[k] = x.i[k];
        } else if (x.is_int) {  // requantize: scale ratio applied to the centred integer
            r.i[k] = saturate_round((x.q.scale / q.scale) * static_cast<float>(x.i[k] - x.q.zero_point) + static_cast<float>(q.zero_point), q.type);
        } else {
            r.i[k] = saturate_round(std::nearbyint(x.f[k] * inv) + static_cast<float>(q.zero_point), q.type);
        }
    }
    return r;
}

inline value to_real(const value& x) {
    if (!x.is_int) return x;
    value r = make_value(x.dims, false);
    for (std::size_t k = 0; k < x.size(); ++k) r.f[k] = x.q.scale * static_cast<float>(x.i[k] - x.q.zero_point);
    return r;
}

/// Options that mirror the compiled path's choices that are not in the manifest.
struct options {
    bool force_fp32 = false;
    /// 63 on paths without VNNI (see dispatch/isa.hpp; applies to s8 sources there too): then each
    /// output channel keeps the largest qmax in [63, 127] that provably fits int16 pair sums.
    int u8_weight_max = 127;
    /// Paths that store s8 activations as u8 (zero point + 128; the runtime's store_s8_as_u8:
    /// without VNNI, and on avx2_vnni): a conv/depthwise result is rounded as v + (zp + 128),
    /// which in f32 can land on a tie that v + zp does not (34.5000038 + 128 is 162.5).
    bool s8_stored_as_u8 = false;
    /// Compute what TFLite's integer kernels compute for a uint8/int8 TFLite file (tflite_ops.hpp);
    /// on for a description with requantization::tflite, which the runtime then computes too
    /// (compile/tflite.hpp), and settable for any other to measure the difference: conv, depthwise
    /// and fc outputs requantized with a Q31 multiplier and rounding shifts (ties away from zero,
    /// where qint8 rounds an f32 product half to even), integer average pools rounded half away
    /// from zero, a residual sum of a rounded branch as TFLite's ADD, the activation clamps as
    /// integer ranges. The input's quantization and softmax stay as they are. A layer TFLite has no
    /// integer form for (an f32 output or residual, a sum without a rounded branch) keeps the
    /// default rules.
    bool tflite_integer = false;
};

}  // namespace qint8::ref
