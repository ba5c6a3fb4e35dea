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
#include <limits>
#include <string>
#include <utility>
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

/// Every pair of one channel's codes in the three orders, handed to a visitor: `one(i, j, a, b)`
/// for a single pair (codes a = q[i] and b = q[j], j = -1 and b = 0 for a zero partner) and,
/// with SSE2, `eight(pos, neg, first, step, partner)` for eight pairs at once, where int16 lane
/// l holds the pair (first + l * step, first + l * step + partner): the sums of its positive
/// parts in `pos` and of its negative parts in `neg` (lanes that are no pair hold 0 in both).
/// The orders: neighbours in [c][kh][kw] (the last value paired with zero when k is odd);
/// channels (2j, 2j + 1) at one tap, which is also [kh][kw][c] when c is even; and [kh][kw][c]
/// across taps when c is odd (scalar: only small first layers have an odd channel count).
template <class Visitor>
inline void visit_pairs(const int8_t* q, const pair_geometry& g, Visitor& v) {
    const int64_t taps = g.kh * g.kw, k = g.c * taps;
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    const auto sums = [&](__m128i a, __m128i b, __m128i& pos, __m128i& neg) {
        pos = _mm_add_epi16(_mm_max_epi16(a, zero), _mm_max_epi16(b, zero));
        neg = _mm_add_epi16(_mm_min_epi16(a, zero), _mm_min_epi16(b, zero));
    };
    for (; i + 16 <= k; i += 16) {  // each int16 lane holds one neighbour pair, split by shifts
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i));
        __m128i pos, neg;
        sums(_mm_srai_epi16(_mm_slli_epi16(x, 8), 8), _mm_srai_epi16(x, 8), pos, neg);
        v.eight(pos, neg, i, 2, 1);
    }
#endif
    for (; i < k; i += 2) v.one(i, i + 1 < k ? i + 1 : -1, q[i], i + 1 < k ? q[i + 1] : 0);
    if (taps == 1) return;
    // Channels at one tap: value i (channel c = i / taps even) with i + taps, over the rows of
    // the channels that have a partner.
    const int64_t rows = g.c - g.c % 2, paired_end = rows * taps;
    i = 0;
#if defined(__SSE2__)
    // Lane masks repeat every 2 * taps values (taps of an even channel, then of an odd one);
    // `pattern` holds that period and 16 more, so any 16 consecutive lanes are one load.
    std::vector<int8_t> pattern(static_cast<std::size_t>(2 * taps + 16));
    for (std::size_t j = 0; j < pattern.size(); ++j) pattern[j] = static_cast<int64_t>(j) % (2 * taps) < taps ? -1 : 0;
    for (int64_t phase = 0; i + taps + 16 <= k && i + 16 <= paired_end; i += 16, phase = (phase + 16) % (2 * taps)) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i + taps));
        const __m128i m = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pattern.data() + phase));
        const __m128i mlo = _mm_unpacklo_epi8(m, m), mhi = _mm_unpackhi_epi8(m, m);
        __m128i pos, neg;
        sums(_mm_srai_epi16(_mm_unpacklo_epi8(a, a), 8), _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8), pos, neg);
        v.eight(_mm_and_si128(pos, mlo), _mm_and_si128(neg, mlo), i, 1, taps);
        sums(_mm_srai_epi16(_mm_unpackhi_epi8(a, a), 8), _mm_srai_epi16(_mm_unpackhi_epi8(b, b), 8), pos, neg);
        v.eight(_mm_and_si128(pos, mhi), _mm_and_si128(neg, mhi), i + 8, 1, taps);
    }
#endif
    for (; i < paired_end; ++i)
        if ((i / taps) % 2 == 0) v.one(i, i + taps, q[i], q[i + taps]);
    for (i = paired_end; i < k; ++i) v.one(i, -1, q[i], 0);  // the last channel of an odd count
    if (g.c % 2 == 0) return;
    const auto at = [&](int64_t j) { return j < k ? (j % g.c) * taps + j / g.c : int64_t{-1}; };
    for (int64_t j = 0; j < k; j += 2) {
        const int64_t a = at(j), b = at(j + 1);
        v.one(a, b, q[a], b < 0 ? 0 : q[b]);
    }
}

/// The visitor that finds the largest positive and smallest negative pair sum.
struct extremes_visitor {
    int pos = 0, neg = 0;
    void one(int64_t, int64_t, int a, int b) {
        pos = std::max(pos, std::max(a, 0) + std::max(b, 0));
        neg = std::min(neg, std::min(a, 0) + std::min(b, 0));
    }
#if defined(__SSE2__)
    __m128i vpos = _mm_setzero_si128(), vneg = _mm_setzero_si128();
    void eight(__m128i p, __m128i n, int64_t, int64_t, int64_t) {
        vpos = _mm_max_epi16(vpos, p);
        vneg = _mm_min_epi16(vneg, n);
    }
    pair_extremes result() const {
        alignas(16) int16_t lp[8], ln[8];
        _mm_store_si128(reinterpret_cast<__m128i*>(lp), vpos);
        _mm_store_si128(reinterpret_cast<__m128i*>(ln), vneg);
        pair_extremes e{pos, neg};
        for (int j = 0; j < 8; ++j) e.pos = std::max<int>(e.pos, lp[j]), e.neg = std::min<int>(e.neg, ln[j]);
        return e;
    }
#else
    pair_extremes result() const { return {pos, neg}; }
#endif
};

/// The visitor that keeps the pairs whose positive sum is at least `from` or whose negative sum
/// is at most `to` (both within int16).
struct select_visitor {
    int from, to;
    std::vector<std::pair<int64_t, int64_t>> pairs;
    void one(int64_t i, int64_t j, int a, int b) {
        if (std::max(a, 0) + std::max(b, 0) >= from || std::min(a, 0) + std::min(b, 0) <= to) pairs.emplace_back(i, j);
    }
#if defined(__SSE2__)
    void eight(__m128i p, __m128i n, int64_t first, int64_t step, int64_t partner) {
        const __m128i hit = _mm_or_si128(_mm_cmpgt_epi16(p, _mm_set1_epi16(static_cast<int16_t>(from - 1))),
                                         _mm_cmplt_epi16(n, _mm_set1_epi16(static_cast<int16_t>(to + 1))));
        for (int bits = _mm_movemask_epi8(hit) & 0x5555; bits; bits &= bits - 1) {
            const int64_t a = first + (__builtin_ctz(static_cast<unsigned>(bits)) / 2) * step;
            pairs.emplace_back(a, a + partner);
        }
    }
#endif
};

}  // namespace pair_detail

inline pair_extremes pair_sum_extremes(const int8_t* q, const pair_geometry& g) {
    pair_detail::extremes_visitor v;
    pair_detail::visit_pairs(q, g, v);
    return v.result();
}

/// True when no int16 pair sum of this channel's weights can saturate, in any of the three orders.
inline bool pairs_fit_int16(const int8_t* q, const pair_geometry& g) { return fits_int16(pair_sum_extremes(q, g), g.max_code); }

/// The pairs (i, j) of one channel (indices into its [c][kh][kw] values; j = -1: a zero partner)
/// whose sums, at any qmax from 63 to 127, may be the channel's largest positive or smallest
/// negative pair sum, found from its codes `q` at qmax 127 with their extremes `e`.
///
/// Why a margin of 7 codes is enough: every code is its real value x * M / A (A = max|w|,
/// M = the qmax of q, at most 127) or x * m / A (the qmax m tried, or m = M where the codes stay
/// as given), rounded, so each is within 1/2 (+ float error) of it, and a pair's (positive or
/// negative) sum within 1. If pair p is the largest at m and p0 the largest in q, then
/// R(p) >= R(p0) - 2A/m for their real sums, so in q p's sum is at least
/// q(p0) - 1 - 2M/m - 1 >= q(p0) - 6.04 for m >= 63. A side (positive or negative sums) that
/// fits in q fits at every smaller qmax (codes shrink with qmax), so only failing sides count.
/// The search then requantizes only these pairs (a few to a few dozen of a channel's thousands
/// of codes) for each qmax it tries. A pair may be listed twice (two orders pairing it).
inline void extreme_pairs(const int8_t* q, const pair_geometry& g, const pair_extremes& e, std::vector<std::pair<int64_t, int64_t>>& pairs) {
    constexpr int margin = 7;
    // A side that fits selects nothing: no pair sum exceeds +-256.
    pair_detail::select_visitor v{g.max_code * e.pos > 32767 ? e.pos - margin : 1000, g.max_code * e.neg < -32768 ? e.neg + margin : -1000,
                                  std::move(pairs)};
    v.pairs.clear();
    pair_detail::visit_pairs(q, g, v);
    pairs = std::move(v.pairs);
}

inline std::vector<std::pair<int64_t, int64_t>> extreme_pairs(const int8_t* q, const pair_geometry& g, const pair_extremes& e) {
    std::vector<std::pair<int64_t, int64_t>> r;
    extreme_pairs(q, g, e, r);
    return r;
}

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
