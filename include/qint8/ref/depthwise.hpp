#pragma once
/// @file depthwise.hpp  Naive depthwise convolution: one kernel per channel, output channel c
/// reads input channel c only. Two forms: on NCHW reference values (the whole-model reference),
/// and on NHWC bytes (the oracle for the depthwise kernel variants, kernels/depthwise_*.hpp).
/// Both follow the numeric rules of output_stage.hpp, one output element at a time.
///
/// Accumulator range: kh * kw products of at most 255 * 127, so an int32 accumulator holds any
/// kernel up to 66 311 taps (MobileNets use 9); validate() checks it per channel as for conv.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qint8/ref/output_stage.hpp"
#include "qint8/ref/weights.hpp"
#include "qint8/ref/window.hpp"

namespace qint8::ref {

/// src: [N, C, H, W] integers (INT8, centred on `zp_src`) or real (FP32) as `st` says; w: [C, 1, kh, kw].
/// Returns [N, C, OH, OW].
inline value depthwise_conv2d(const value& src, int32_t zp_src, const weights& w, const window& g, const output_stage& st) {
    const int64_t N = src.dims[0], C = src.dims[1], H = src.dims[2], W = src.dims[3];
    const int64_t OH = out_height(H, g), OW = out_width(W, g);
    value out = st.make_output({N, C, OH, OW});
    for_each_index({N, C, OH, OW}, [&](int64_t n, int64_t c, int64_t oy, int64_t ox) {
        int64_t acc = 0;
        double accf = 0;
        for_each_tap(g, H, W, oy, ox, [&](int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
            const std::size_t si = std::size_t(((n * C + c) * H + iy) * W + ix);
            const std::size_t wi = std::size_t((c * g.kh + ky) * g.kw + kx);
            if (st.int8) acc += int64_t(src.i[si] - zp_src) * w.q[wi];
            else accf += double(src.f[si]) * w.real[wi];
        });
        st.store(out, std::size_t(((n * C + c) * OH + oy) * OW + ox), c, acc, accf);
    });
    return out;
}

struct dw_post_op {
    bool relu = false;  ///< relu, or else clip(lo, hi) in destination units
    float lo = 0, hi = 0;
};

/// src: n x h x w x c (u8, or s8 when src_signed); weights: c x kh x kw s8; bias: c int32;
/// os: c requantization factors. Output: n x oh x ow x c bytes (u8, or s8 when dst_signed).
inline std::vector<uint8_t> depthwise_nhwc(const std::vector<uint8_t>& src, int64_t n, int64_t h, int64_t w, int64_t c, bool src_signed,
                                           int32_t src_zp, const std::vector<int8_t>& weights, int kh, int kw, int sh, int sw, int pt,
                                           int pl, int64_t oh, int64_t ow, const std::vector<float>& bias, const std::vector<float>& os,
                                           const std::vector<dw_post_op>& post, bool dst_signed, int32_t dst_zp) {
    std::vector<uint8_t> dst(static_cast<std::size_t>(n * oh * ow * c));
    auto in = [&](std::size_t i) { return src_signed ? int32_t(static_cast<int8_t>(src[i])) : int32_t(src[i]); };
    window g;
    g.kh = kh;
    g.kw = kw;
    g.sh = sh;
    g.sw = sw;
    g.pad = {pt, pl, 0, 0};  // only the leading padding places a tap; oh and ow are given
    for_each_index({n, oh, ow, c}, [&](int64_t b, int64_t y, int64_t x, int64_t ch) {
        int64_t acc = 0;
        for_each_tap(g, h, w, y, x, [&](int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
            const int32_t q = in(static_cast<std::size_t>(((b * h + iy) * w + ix) * c + ch));
            acc += int64_t(q - src_zp) * weights[static_cast<std::size_t>((ch * kh + ky) * kw + kx)];
        });
        float v = (float(acc) + bias[static_cast<std::size_t>(ch)]) * os[static_cast<std::size_t>(ch)];
        for (const auto& p : post) v = p.relu ? std::max(v, 0.f) : std::min(std::max(v, p.lo), p.hi);
        // The product is rounded to float before the zero point is added (as oneDNN does):
        // the store keeps the compiler from fusing multiply and add into one FMA.
        volatile float rounded = v;
        const float r = std::nearbyint(rounded + float(dst_zp));
        const float qlo = dst_signed ? -128.f : 0.f, qhi = dst_signed ? 127.f : 255.f;
        const int32_t q = static_cast<int32_t>(std::min(qhi, std::max(qlo, r)));
        dst[static_cast<std::size_t>(((b * oh + y) * ow + x) * c + ch)] = static_cast<uint8_t>(q);
    });
    return dst;
}

}  // namespace qint8::ref
