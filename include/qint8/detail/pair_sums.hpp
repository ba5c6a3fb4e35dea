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

/// True when no int16 pair sum of this channel's weights can saturate, in any of the three orders.
inline bool pairs_fit_int16(const int8_t* q, const pair_geometry& g) {
    const int64_t taps = g.kh * g.kw, k = g.c * taps;
    auto at = [&](int64_t c, int64_t t) { return c < g.c ? int(q[c * taps + t]) : 0; };
    for (int64_t t = 0; t < taps; ++t)  // channels (2j, 2j + 1) at one tap; also [kh][kw][c] when c is even
        for (int64_t c = 0; c < g.c; c += 2)
            if (!pair_fits(at(c, t), at(c + 1, t), g.max_code)) return false;
    for (int64_t i = 0; i < k; i += 2)  // [c][kh][kw]
        if (!pair_fits(q[i], i + 1 < k ? q[i + 1] : 0, g.max_code)) return false;
    if (g.c % 2 == 1 && taps > 1)  // [kh][kw][c] with an odd channel count pairs across taps
        for (int64_t i = 0; i < k; i += 2) {
            const int64_t j = i + 1;
            const int a = at(i % g.c, i / g.c), b = j < k ? at(j % g.c, j / g.c) : 0;
            if (!pair_fits(a, b, g.max_code)) return false;
        }
    return true;
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
