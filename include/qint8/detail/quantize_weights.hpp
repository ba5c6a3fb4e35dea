#pragma once
/// @file quantize_weights.hpp  Turning a layer's weights and bias into what a primitive consumes.
///
/// INT8: weights are symmetric per output channel, q = round(w / ws[o]) with ws[o] = max|w[o]| / qmax;
/// the bias becomes s32 in accumulator units, round(b[o] / (s_src * ws[o])).
/// qmax is 127, or where the u8 path pairs products into int16 (no VNNI, see isa.hpp) per output
/// channel the largest that provably cannot saturate a pair sum (quantize_weights_paired).
/// Weights already given as s8 are kept as they are unless they exceed qmax, in which case that
/// channel alone is requantized to qmax.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "qint8/detail/pair_sums.hpp"
#include "qint8/graph.hpp"

namespace qint8::detail {

struct int8_weights {
    std::vector<int8_t> q;    ///< [O, K] row-major (K = everything after the output channel)
    std::vector<float> scale; ///< [O]
};

inline float load_f32(const std::byte* p, std::size_t i) {
    float v;
    std::memcpy(&v, p + i * sizeof(float), sizeof v);
    return v;
}

/// Real-valued weights [O, K], dequantizing s8 if needed.
inline std::vector<float> real_weights(const tensor& w, const tensor* scales) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    std::vector<float> r(n);
    if (w.type == dtype::f32) {
        for (std::size_t i = 0; i < n; ++i) r[i] = load_f32(w.data, i);
    } else {
        const auto* q = reinterpret_cast<const int8_t*>(w.data);
        for (std::size_t c = 0; c < o; ++c) {
            const float s = load_f32(scales->data, c);
            for (std::size_t i = 0; i < k; ++i) r[c * k + i] = s * static_cast<float>(q[c * k + i]);
        }
    }
    return r;
}

/// Channel `c` of `w` as integers of at most `qmax` in magnitude, into `out` (k values); returns its scale.
/// s8 weights within qmax are kept as they are; otherwise the channel is requantized to qmax.
inline float quantize_channel(const tensor& w, const tensor* scales, std::size_t c, std::size_t k, int qmax, int8_t* out) {
    if (w.type == dtype::s8) {
        const auto* q = reinterpret_cast<const int8_t*>(w.data) + c * k;
        int mx = 0;
        for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, std::abs(static_cast<int>(q[i])));
        const float s = load_f32(scales->data, c);
        if (mx <= qmax) {
            std::copy(q, q + k, out);
            return s;
        }
        const float f = static_cast<float>(qmax) / static_cast<float>(mx);
        for (std::size_t i = 0; i < k; ++i) out[i] = static_cast<int8_t>(std::nearbyint(static_cast<float>(q[i]) * f));
        return s * static_cast<float>(mx) / static_cast<float>(qmax);
    }
    float mx = 0.f;
    for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, std::fabs(load_f32(w.data, c * k + i)));
    const float s = mx > 0.f ? mx / static_cast<float>(qmax) : 1.f;
    for (std::size_t i = 0; i < k; ++i) {
        const float v = std::nearbyint(load_f32(w.data, c * k + i) / s);
        out[i] = static_cast<int8_t>(std::min<float>(qmax, std::max<float>(-qmax, v)));
    }
    return s;
}

inline int8_weights quantize_weights(const tensor& w, const tensor* scales, int qmax) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    int8_weights r;
    r.q.resize(n);
    r.scale.resize(o);
    for (std::size_t c = 0; c < o; ++c) r.scale[c] = quantize_channel(w, scales, c, k, qmax, r.q.data() + c * k);
    return r;
}

/// 8-bit weights where int16 pair sums provably cannot saturate (pair_sums.hpp), and per output
/// channel the largest qmax in [64, 127] for which they cannot, else 63 (always safe for u8 codes).
inline int8_weights quantize_weights_paired(const tensor& w, const tensor* scales, const pair_geometry& g) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    int8_weights r;
    r.q.resize(n);
    r.scale.resize(o);
    for (std::size_t c = 0; c < o; ++c) {
        int8_t* out = r.q.data() + c * k;
        auto fits = [&](int qmax) {
            quantize_channel(w, scales, c, k, qmax, out);
            return pairs_fit_int16(out, g);
        };
        // Every |q| grows with qmax (round(w * qmax / max|w|) is monotone), so whether the pairs
        // fit is monotone too: the largest qmax that fits is found by bisection, after a first
        // try at 127 (most channels). 7 quantizations at most instead of up to 65: loading
        // ResNet-50 on the avx2 path spent seconds here.
        int lo = 63, hi = 127;  // qmax 63 always fits (63 + 63 codes x 255 <= 32767)
        if (fits(hi)) lo = hi;
        else --hi;
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (fits(mid)) lo = mid;
            else hi = mid - 1;
        }
        r.scale[c] = quantize_channel(w, scales, c, k, lo, out);
    }
    return r;
}

/// Bias in accumulator units: round(b / (s_src * ws[o])), saturated to int32.
inline std::vector<int32_t> quantize_bias(const tensor* b, const std::vector<float>& wscale, float src_scale) {
    std::vector<int32_t> r(wscale.size(), 0);
    if (!b) return r;
    for (std::size_t c = 0; c < r.size(); ++c) {
        const double v = std::nearbyint(static_cast<double>(load_f32(b->data, c)) / (static_cast<double>(src_scale) * wscale[c]));
        r[c] = static_cast<int32_t>(std::min<double>(std::numeric_limits<int32_t>::max(), std::max<double>(std::numeric_limits<int32_t>::min(), v)));
    }
    return r;
}

}  // namespace qint8::detail
