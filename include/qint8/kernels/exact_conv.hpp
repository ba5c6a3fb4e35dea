#pragma once
/// @file exact_conv.hpp  An integer convolution with int32 accumulators, exact for any weights: the
/// accumulator of a TFLite layer whose sums could pass 2^24, where oneDNN (which converts its
/// accumulator to f32 before writing an s32 destination) would round them. Plain loops: it runs
/// only where no faster exact path exists, and says so in the step's description.
/// Bound: sum (x - zp) * w over the window, at most 255 * sum |w| per output channel, which
/// validate() holds below 2^31; summed in int64 here.

#include <cstdint>
#include <vector>

#include "qint8/kernels/parallel.hpp"

namespace qint8::kernels {

/// NHWC source codes, weights [O][kh][kw][C / groups], NHWC int32 destination. Padded taps add
/// nothing (they read as the zero point).
struct exact_conv_problem {
    int64_t n = 1, h = 1, w = 1, c = 1, oh = 1, ow = 1, o = 1, groups = 1;
    int64_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0;
    int32_t zp = 0;
    bool src_signed = false;
};

inline void exact_conv(const exact_conv_problem& p, const std::vector<int8_t>& wt, const void* src, int32_t* acc, int threads) {
    const int64_t cg = p.c / p.groups, og = p.o / p.groups, rows = p.n * p.oh;
    const auto code = [&](int64_t i) { return p.src_signed ? int32_t(static_cast<const int8_t*>(src)[i]) : int32_t(static_cast<const uint8_t*>(src)[i]); };
    parallel_for(threads, rows, [&](int64_t r) {
        const int64_t n = r / p.oh, oy = r % p.oh;
        for (int64_t ox = 0; ox < p.ow; ++ox)
            for (int64_t o = 0; o < p.o; ++o) {
                const int64_t g = o / og;
                int64_t sum = 0;
                for (int64_t ky = 0; ky < p.kh; ++ky) {
                    const int64_t y = oy * p.sh - p.pt + ky;
                    if (y < 0 || y >= p.h) continue;
                    for (int64_t kx = 0; kx < p.kw; ++kx) {
                        const int64_t x = ox * p.sw - p.pl + kx;
                        if (x < 0 || x >= p.w) continue;
                        const int64_t s0 = ((n * p.h + y) * p.w + x) * p.c + g * cg, w0 = ((o * p.kh + ky) * p.kw + kx) * cg;
                        for (int64_t k = 0; k < cg; ++k) sum += int64_t(code(s0 + k) - p.zp) * wt[static_cast<std::size_t>(w0 + k)];
                    }
                }
                acc[((n * p.oh + oy) * p.ow + ox) * p.o + o] = static_cast<int32_t>(sum);
            }
    });
}

}  // namespace qint8::kernels
