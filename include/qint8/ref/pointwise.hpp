#pragma once
/// @file pointwise.hpp  Naive 1x1 convolution (stride 1, no padding, one group) on NHWC bytes,
/// and a naive convolution of any window (one group): the oracles for qint8's 1x1 kernel
/// (kernels/pointwise_avx2.hpp), plain and over gathered windows. Both follow the numeric rules
/// of output_stage.hpp, one output element at a time, written out as depthwise_nhwc does.
///
/// Accumulator range: k products of at most 255 * 128 in magnitude, so an int32 accumulator holds
/// any k up to 65 793; the sum is kept in int64 here anyway.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qint8/ref/depthwise.hpp"

namespace qint8::ref {

/// A residual summed before the post-ops (output_stage.hpp's sum post-op): m x n codes of the
/// destination's type, v = fma(scale, float(r - zero_point), v).
struct pointwise_residual {
    const std::vector<uint8_t>* codes = nullptr;
    float scale = 1.f;
    int32_t zero_point = 0;
};

/// src: m pixels x k channels u8; weights: n x k s8; bias: n floats in accumulator units;
/// os: n requantization factors; residual: summed first where given; post: relu / clip in
/// destination units, in order. Output: m x n bytes (u8, or s8 when dst_signed).
inline std::vector<uint8_t> pointwise_nhwc(const std::vector<uint8_t>& src, int64_t m, int64_t k, int32_t src_zp, const std::vector<int8_t>& weights,
                                           int64_t n, const std::vector<float>& bias, const std::vector<float>& os,
                                           const std::vector<dw_post_op>& post, bool dst_signed, int32_t dst_zp, const pointwise_residual& residual = {}) {
    std::vector<uint8_t> dst(static_cast<std::size_t>(m * n));
    for (int64_t p = 0; p < m; ++p)
        for (int64_t o = 0; o < n; ++o) {
            int64_t acc = 0;
            for (int64_t c = 0; c < k; ++c)
                acc += int64_t(int32_t(src[static_cast<std::size_t>(p * k + c)]) - src_zp) * weights[static_cast<std::size_t>(o * k + c)];
            float v = (float(acc) + bias[static_cast<std::size_t>(o)]) * os[static_cast<std::size_t>(o)];
            if (residual.codes) {
                const uint8_t byte = (*residual.codes)[static_cast<std::size_t>(p * n + o)];
                const int32_t r = dst_signed ? int32_t(static_cast<int8_t>(byte)) : int32_t(byte);
                v = std::fma(residual.scale, float(r - residual.zero_point), v);
            }
            for (const auto& q : post) v = q.relu ? std::max(v, 0.f) : std::min(std::max(v, q.lo), q.hi);
            volatile float rounded = v;  // rounded to float before the zero point is added (no FMA)
            const float r = std::nearbyint(rounded + float(dst_zp));
            const float qlo = dst_signed ? -128.f : 0.f, qhi = dst_signed ? 127.f : 255.f;
            dst[static_cast<std::size_t>(p * n + o)] = static_cast<uint8_t>(static_cast<int32_t>(std::min(qhi, std::max(qlo, r))));
        }
    return dst;
}

/// The output stage of one element (output_stage.hpp's order of float operations).
inline uint8_t store_u8_or_s8(int64_t acc, float bias, float os, const std::vector<dw_post_op>& post, bool dst_signed, int32_t dst_zp) {
    float v = (float(acc) + bias) * os;
    for (const auto& q : post) v = q.relu ? std::max(v, 0.f) : std::min(std::max(v, q.lo), q.hi);
    volatile float rounded = v;  // rounded to float before the zero point is added (no FMA)
    const float r = std::nearbyint(rounded + float(dst_zp));
    const float qlo = dst_signed ? -128.f : 0.f, qhi = dst_signed ? 127.f : 255.f;
    return static_cast<uint8_t>(static_cast<int32_t>(std::min(qhi, std::max(qlo, r))));
}

/// src: b x h x w x c u8; weights: n x c x kh x kw s8 (OIHW); output: b x oh x ow x n bytes.
/// Taps outside the image add nothing (they read the zero point).
inline std::vector<uint8_t> conv_nhwc(const std::vector<uint8_t>& src, int64_t b, int64_t h, int64_t w, int64_t c, int32_t src_zp,
                                      const std::vector<int8_t>& weights, int64_t n, int kh, int kw, int sh, int sw, int pt, int pl, int64_t oh,
                                      int64_t ow, const std::vector<float>& bias, const std::vector<float>& os, const std::vector<dw_post_op>& post,
                                      bool dst_signed, int32_t dst_zp) {
    std::vector<uint8_t> dst(static_cast<std::size_t>(b * oh * ow * n));
    for (int64_t i = 0; i < b; ++i)
        for (int64_t y = 0; y < oh; ++y)
            for (int64_t x = 0; x < ow; ++x)
                for (int64_t o = 0; o < n; ++o) {
                    int64_t acc = 0;
                    for (int64_t ch = 0; ch < c; ++ch)
                        for (int ky = 0; ky < kh; ++ky)
                            for (int kx = 0; kx < kw; ++kx) {
                                const int64_t iy = y * sh - pt + ky, ix = x * sw - pl + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                const int32_t q = src[static_cast<std::size_t>(((i * h + iy) * w + ix) * c + ch)];
                                acc += int64_t(q - src_zp) * weights[static_cast<std::size_t>(((o * c + ch) * kh + ky) * kw + kx)];
                            }
                    dst[static_cast<std::size_t>(((i * oh + y) * ow + x) * n + o)] =
                        store_u8_or_s8(acc, bias[static_cast<std::size_t>(o)], os[static_cast<std::size_t>(o)], post, dst_signed, dst_zp);
                }
    return dst;
}

}  // namespace qint8::ref
