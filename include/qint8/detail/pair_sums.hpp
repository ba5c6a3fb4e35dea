#pragma once
/// @file pair_sums.hpp  When 8-bit weights are exact on paths without VNNI.
///
/// Without vpdpbusd, oneDNN's u8 x s8 kernels multiply with vpmaddubsw, which adds two adjacent
/// products x_a * w_a + x_b * w_b into a saturating int16 before widening. With u8 codes
/// x in [0, m] that sum stays within int16 for every input exactly when
///   m * (max(w_a, 0) + max(w_b, 0)) <= 32767  and  m * (min(w_a, 0) + min(w_b, 0)) >= -32768.
/// Which products are adjacent depends on the kernel: the direct and 1x1 convolutions and blocked
/// inner products pair input channels (2j, 2j + 1) at one tap; gemm-based ones pair neighbours
/// along K, which is [c][kh][kw] for NCHW and [kh][kw][c] for NHWC sources. A channel's weights
/// are accepted only if every pair of all three orders fits, so the proof holds whichever kernel
/// oneDNN picks. (K is zero-padded to even lengths, and a zero partner always fits.)

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "qint8/graph.hpp"

namespace qint8::detail {

/// One output channel's weights, [c][kh][kw], read by u8 codes of at most max_code.
struct pair_geometry {
    int64_t c = 1, kh = 1, kw = 1;
    int max_code = 255;
};

inline bool pair_fits(int a, int b, int max_code) {
    const int pos = std::max(a, 0) + std::max(b, 0), neg = std::min(a, 0) + std::min(b, 0);
    return max_code * pos <= 32767 && max_code * neg >= -32768;
}

/// The largest sum of positive parts and the smallest sum of negative parts over every pair of
/// one channel's weights, in all three orders: what pair_fits needs to know of all of them.
struct pair_extremes {
    int pos = 0, neg = 0;
};

inline bool fits_int16(const pair_extremes& e, int max_code) { return max_code * e.pos <= 32767 && max_code * e.neg >= -32768; }

namespace pair_detail {

/// Pairs (a[i], b[i]) for i < n (b null: zero partners). Branch-free, so it vectorizes.
inline void extend(pair_extremes& e, const int8_t* a, const int8_t* b, int64_t n) {
    int pos = e.pos, neg = e.neg;
    for (int64_t i = 0; i < n; ++i) {
        const int x = a[i], y = b ? b[i] : 0;
        pos = std::max(pos, std::max(x, 0) + std::max(y, 0));
        neg = std::min(neg, std::min(x, 0) + std::min(y, 0));
    }
    e.pos = pos, e.neg = neg;
}

/// Neighbours (q[2j], q[2j + 1]) of k values, the last one paired with zero when k is odd.
/// Sixteen bytes at a time with SSE2: each int16 lane holds one pair, split by shifts.
inline void extend_adjacent(pair_extremes& e, const int8_t* q, int64_t k) {
    int pos = e.pos, neg = e.neg;
    int64_t i = 0;
#if defined(__SSE2__)
    __m128i vpos = _mm_setzero_si128(), vneg = _mm_setzero_si128();
    const __m128i zero = _mm_setzero_si128();
    for (; i + 16 <= k; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i));
        const __m128i a = _mm_srai_epi16(_mm_slli_epi16(v, 8), 8), b = _mm_srai_epi16(v, 8);  // q[2j], q[2j + 1] as int16
        vpos = _mm_max_epi16(vpos, _mm_add_epi16(_mm_max_epi16(a, zero), _mm_max_epi16(b, zero)));
        vneg = _mm_min_epi16(vneg, _mm_add_epi16(_mm_min_epi16(a, zero), _mm_min_epi16(b, zero)));
    }
    alignas(16) int16_t lp[8], ln[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(lp), vpos);
    _mm_store_si128(reinterpret_cast<__m128i*>(ln), vneg);
    for (int j = 0; j < 8; ++j) pos = std::max<int>(pos, lp[j]), neg = std::min<int>(neg, ln[j]);
#endif
    for (; i + 1 < k; i += 2) {
        pos = std::max(pos, std::max<int>(q[i], 0) + std::max<int>(q[i + 1], 0));
        neg = std::min(neg, std::min<int>(q[i], 0) + std::min<int>(q[i + 1], 0));
    }
    if (k % 2 == 1) pos = std::max<int>(pos, q[k - 1]), neg = std::min<int>(neg, q[k - 1]);
    e.pos = pos, e.neg = neg;
}

}  // namespace pair_detail

inline pair_extremes pair_sum_extremes(const int8_t* q, const pair_geometry& g) {
    const int64_t taps = g.kh * g.kw, k = g.c * taps;
    pair_extremes e;
    pair_detail::extend_adjacent(e, q, k);  // [c][kh][kw]; for 1x1 these are the channel pairs below too
    if (taps > 1)
        for (int64_t c = 0; c < g.c; c += 2)  // channels (2j, 2j + 1) at one tap; also [kh][kw][c] when c is even
            pair_detail::extend(e, q + c * taps, c + 1 < g.c ? q + (c + 1) * taps : nullptr, taps);
    if (g.c % 2 == 1 && taps > 1) {  // [kh][kw][c] with an odd channel count pairs across taps
        auto at = [&](int64_t i) { return i < k ? int(q[(i % g.c) * taps + i / g.c]) : 0; };
        for (int64_t i = 0; i < k; i += 2) {
            const int a = at(i), b = at(i + 1);
            e.pos = std::max(e.pos, std::max(a, 0) + std::max(b, 0));
            e.neg = std::min(e.neg, std::min(a, 0) + std::min(b, 0));
        }
    }
    return e;
}

/// True when no int16 pair sum of this channel's weights can saturate, in any of the three orders.
inline bool pairs_fit_int16(const int8_t* q, const pair_geometry& g) { return fits_int16(pair_sum_extremes(q, g), g.max_code); }

/// The largest u8 code tensor `name` can hold when stored with (scale, zero_point): 255, or less
/// when the layer writing it ends in a clip (ReLU6) after its last residual sum, looking through
/// pools, which keep their input's values. `zero_point` is in u8 terms (s8 read as u8: +128).
inline int max_input_code(const std::vector<layer>& layers, const std::string& name, float scale, int zero_point) {
    for (const layer& l : layers) {
        if (l.name != name) continue;
        if (l.kind == op::max_pool2d || l.kind == op::avg_pool2d || l.kind == op::global_avg_pool2d)
            return max_input_code(layers, l.inputs.at(0), scale, zero_point);
        if (!l.act || l.act->scale != scale) return 255;
        float hi = INFINITY;
        for (const auto& p : l.post_ops) {
            if (p.kind == post_op::sum) hi = INFINITY;
            else if (p.kind == post_op::clip) hi = std::min(hi, p.hi);
        }
        if (!std::isfinite(hi)) return 255;
        // oneDNN clips in destination units, adds the zero point and rounds to nearest: at most
        // zp + floor(hi / s + 0.5), with a margin for the float arithmetic of the clip.
        const double code = double(zero_point) + std::floor(double(hi) / double(scale) + 0.5 + 1e-3);
        return static_cast<int>(std::max(0.0, std::min(255.0, code)));
    }
    return 255;
}

}  // namespace qint8::detail
