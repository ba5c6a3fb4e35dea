#pragma once
/// @file pool.hpp  Naive max, average and global average pooling over NCHW, on 8-bit integers
/// (the scale is unchanged, so integers stay integers) or on real values. Padded taps are skipped;
/// average pooling divides by the valid taps, or with count_include_pad by the window clipped to
/// the padded input (as oneDNN counts it). No accumulator range: sums are of at most kh * kw
/// 8-bit values, held in double.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qint8/ref/tflite_ops.hpp"
#include "qint8/ref/value.hpp"
#include "qint8/ref/window.hpp"

namespace qint8::ref {

enum class pool_kind { max, avg };

/// src: [N, C, H, W]. Returns [N, C, OH, OW] in src's representation (integer averages rounded
/// half to even and saturated; with `tflite_rounding`, TFLite's integer average: half away from zero).
inline value pool2d(const value& src, pool_kind kind, const window& g, bool count_include_pad = false, bool tflite_rounding = false) {
    const int64_t N = src.dims[0], C = src.dims[1], H = src.dims[2], W = src.dims[3];
    const int64_t OH = out_height(H, g), OW = out_width(W, g);
    value out = make_value({N, C, OH, OW}, src.is_int, src.q);
    for_each_index({N, C, OH, OW}, [&](int64_t n, int64_t c, int64_t oy, int64_t ox) {
        double best = -INFINITY, sum = 0;
        int64_t cnt = 0;
        for_each_tap(g, H, W, oy, ox, [&](int64_t, int64_t, int64_t iy, int64_t ix) {
            const std::size_t si = std::size_t(((n * C + c) * H + iy) * W + ix);
            const double v = src.is_int ? double(src.i[si]) : double(src.f[si]);
            best = std::max(best, v);
            sum += v;
            ++cnt;
        });
        if (kind == pool_kind::avg && count_include_pad) {
            const int64_t y0 = oy * g.sh - g.pad[0], x0 = ox * g.sw - g.pad[1];
            cnt = (std::min(y0 + g.kh, H + g.pad[2]) - y0) * (std::min(x0 + g.kw, W + g.pad[3]) - x0);
        }
        const std::size_t oi = std::size_t(((n * C + c) * OH + oy) * OW + ox);
        if (src.is_int && kind == pool_kind::avg && tflite_rounding) out.i[oi] = tflite::average(int64_t(sum), cnt, tflite::type_range(src.q.type));
        else if (src.is_int) out.i[oi] = kind == pool_kind::max ? int32_t(best) : saturate_round(float(sum) / float(cnt), src.q.type);
        else out.f[oi] = float(kind == pool_kind::max ? best : sum / double(cnt));
    });
    return out;
}

/// The mean over H and W: [N, C, H, W] -> [N, C, 1, 1].
inline value global_avg_pool2d(const value& src, bool tflite_rounding = false) {
    window g;
    g.kh = src.dims[2];
    g.kw = src.dims[3];
    return pool2d(src, pool_kind::avg, g, false, tflite_rounding);
}

}  // namespace qint8::ref
