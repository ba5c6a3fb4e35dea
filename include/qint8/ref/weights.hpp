#pragma once
/// @file weights.hpp  A layer's weights as the reference uses them: per-channel symmetric
/// integers with their scales (INT8), or real values (FP32). Written independently of the
/// runtime's version (detail/quantize_weights.hpp).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "qint8/detail/pair_sums.hpp"
#include "qint8/graph.hpp"

namespace qint8::ref {

/// Weights [O, K...] flattened per output channel: `q` with scales `s` (INT8) or `real` (FP32).
struct weights {
    std::vector<int32_t> q;
    std::vector<float> s;
    std::vector<double> real;
};

namespace detail {

inline float f32_at(const tensor& t, std::size_t i) {
    float v;
    std::memcpy(&v, t.data + i * 4, 4);
    return v;
}

}  // namespace detail

/// Per-channel symmetric integers within [-qmax, qmax]. s8 weights wider than qmax (7-bit paths)
/// are rescaled by qmax / max|w| with their scale grown to match; f32 weights get max|w| / qmax
/// with qmax at most 127. qmax 128 keeps every s8 code as the file gives it, -128 included.
inline weights weights_int(const tensor& w, const tensor* ws, int qmax) {
    const std::size_t o = static_cast<std::size_t>(w.shape[0]), k = w.elements() / o;
    weights r;
    r.q.assign(o * k, 0);
    r.s.assign(o, 1.f);
    for (std::size_t c = 0; c < o; ++c) {
        if (w.type == dtype::s8) {
            const int8_t* p = reinterpret_cast<const int8_t*>(w.data) + c * k;
            int mx = 0;
            for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, p[i] < 0 ? -p[i] : int(p[i]));
            r.s[c] = detail::f32_at(*ws, c);
            if (mx > qmax) {
                for (std::size_t i = 0; i < k; ++i) r.q[c * k + i] = static_cast<int32_t>(std::nearbyint(float(p[i]) * (float(qmax) / float(mx))));
                r.s[c] = r.s[c] * float(mx) / float(qmax);
            } else {
                for (std::size_t i = 0; i < k; ++i) r.q[c * k + i] = p[i];
            }
        } else {
            if (qmax > 127) qmax = 127;
            float mx = 0;
            for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, std::fabs(detail::f32_at(w, c * k + i)));
            r.s[c] = mx > 0 ? mx / float(qmax) : 1.f;
            for (std::size_t i = 0; i < k; ++i)
                r.q[c * k + i] = static_cast<int32_t>(std::max<float>(-qmax, std::min<float>(qmax, std::nearbyint(detail::f32_at(w, c * k + i) / r.s[c]))));
        }
    }
    return r;
}

/// Paths without VNNI: per output channel the given s8 codes, or the largest qmax in [qmin, 127]
/// whose integers pass the int16 pair-sum proof (detail/pair_sums.hpp; the proof is shared, the
/// rounding is not).
inline weights weights_int_paired(const tensor& w, const tensor* ws, int qmin, const qint8::detail::pair_geometry& g) {
    weights r = weights_int(w, ws, 128);
    const std::size_t o = r.s.size(), k = r.q.size() / o;
    std::vector<int8_t> ch(k);
    std::vector<bool> ok(o);
    auto fits = [&](const std::vector<int32_t>& v, std::size_t c) {
        for (std::size_t i = 0; i < k; ++i) ch[i] = static_cast<int8_t>(v[c * k + i]);
        return qint8::detail::pairs_fit_int16(ch.data(), g);
    };
    bool all = true;
    for (std::size_t c = 0; c < o; ++c) all = (ok[c] = fits(r.q, c)) && all;
    for (int qmax = 127; qmax >= qmin && !all; --qmax) {
        const weights n = weights_int(w, ws, qmax);
        all = true;
        for (std::size_t c = 0; c < o; ++c) {
            if (ok[c]) continue;
            if (qmax == qmin || fits(n.q, c)) {
                std::copy(n.q.begin() + std::ptrdiff_t(c * k), n.q.begin() + std::ptrdiff_t((c + 1) * k), r.q.begin() + std::ptrdiff_t(c * k));
                r.s[c] = n.s[c];
                ok[c] = true;
            }
            all = all && ok[c];
        }
    }
    return r;
}

/// Real weights: f32 as stored, s8 times its channel's scale.
inline weights weights_real(const tensor& w, const tensor* ws) {
    const std::size_t o = static_cast<std::size_t>(w.shape[0]), k = w.elements() / o;
    weights r;
    r.real.resize(o * k);
    for (std::size_t c = 0; c < o; ++c)
        for (std::size_t i = 0; i < k; ++i)
            r.real[c * k + i] = w.type == dtype::f32 ? detail::f32_at(w, c * k + i)
                                                     : double(detail::f32_at(*ws, c)) * double(reinterpret_cast<const int8_t*>(w.data)[c * k + i]);
    return r;
}

}  // namespace qint8::ref
