#pragma once
/// @file tflite_avg_pool.hpp  TFLite's integer average pooling (AVERAGE_POOL_2D, and a MEAN over
/// H and W that keeps its input's quantization) on 8-bit NHWC codes: the sum of the window's taps
/// inside the input over their count, rounded half away from zero. Plain loops: a MobileNet has
/// one such layer, at 7x7.
/// Bound: the sum of kh * kw codes of 8 bits is held in int64.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "qint8/kernels/parallel.hpp"

namespace qint8::kernels {

struct tfl_pool {
    int64_t n = 1, h = 1, w = 1, c = 1, oh = 1, ow = 1;
    int64_t kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
    bool include_pad = false;  ///< divide by the window clipped to the padded input (ONNX count_include_pad), not by the taps inside
    bool is_signed = false;
    /// Subtracted from each code and added back to the average: 128 where s8 codes are stored as
    /// u8 (zero point + 128, paths without VNNI), since rounding half away from zero is not the
    /// same on both sides of a shift.
    int32_t offset = 0;
};

inline void tflite_avg_pool(const tfl_pool& p, const void* src, void* dst, int threads) {
    const int32_t lo = p.is_signed ? -128 : 0, hi = p.is_signed ? 127 : 255;
    const auto rows = p.n * p.oh;
    parallel_for(threads, rows, [&](int64_t r) {
        const int64_t n = r / p.oh, oy = r % p.oh;
        const int64_t y0 = oy * p.sh - p.pt, ya = std::max<int64_t>(0, y0), yb = std::min(p.h, y0 + p.kh);
        std::vector<int64_t> sum(static_cast<std::size_t>(p.c));
        for (int64_t ox = 0; ox < p.ow; ++ox) {
            const int64_t x0 = ox * p.sw - p.pl, xa = std::max<int64_t>(0, x0), xb = std::min(p.w, x0 + p.kw);
            int64_t count = (yb - ya) * (xb - xa);
            if (p.include_pad) count = (std::min(y0 + p.kh, p.h + p.pb) - y0) * (std::min(x0 + p.kw, p.w + p.pr) - x0);
            std::fill(sum.begin(), sum.end(), 0);
            for (int64_t y = ya; y < yb; ++y)  // channels innermost: NHWC rows read in order
                for (int64_t x = xa; x < xb; ++x) {
                    const int64_t i = ((n * p.h + y) * p.w + x) * p.c;
                    for (int64_t c = 0; c < p.c; ++c)
                        sum[std::size_t(c)] += (p.is_signed ? static_cast<const int8_t*>(src)[i + c] : static_cast<const uint8_t*>(src)[i + c]) - p.offset;
                }
            for (int64_t c = 0; c < p.c; ++c) {
                const int64_t s = sum[std::size_t(c)];
                const int64_t q = count <= 0 ? 0 : s >= 0 ? (s + count / 2) / count : (s - count / 2) / count;
                const int64_t v = std::min<int64_t>(hi, std::max<int64_t>(lo, q + p.offset));
                const int64_t o = ((n * p.oh + oy) * p.ow + ox) * p.c + c;
                if (p.is_signed) static_cast<int8_t*>(dst)[o] = static_cast<int8_t>(v);
                else static_cast<uint8_t*>(dst)[o] = static_cast<uint8_t>(v);
            }
        }
    });
}

}  // namespace qint8::kernels
