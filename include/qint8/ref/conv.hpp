#pragma once
/// @file conv.hpp  Naive grouped 2-D convolution, NCHW source, OIHW weights, one output element
/// at a time. Padded taps contribute 0 (the source is centred on its zero point first).
///
/// Accumulator range. The INT8 accumulator sums K = (C / groups) * kh * kw products
/// (q_src - zp_src) * q_w, with |q_src - zp_src| <= 255 (u8 or s8 sources and any zero point,
/// including the runtime's s8 -> u8 shift) and |q_w| <= 127. The runtime accumulates in int32, so
/// every output channel o needs  255 * sum_k |q_w[o, k]| <= 2^31 - 1;  with full-range weights that
/// is K <= 66 311 taps (ResNet's largest 3x3 conv has 4 608, VGG-16's classifier.0 25 088).
/// validate() checks it per channel on the actual weights (detail::check_accumulator_range). The
/// reference itself accumulates in int64, so it would show an overflow rather than repeat it.

#include <cstdint>
#include <vector>

#include "qint8/ref/output_stage.hpp"
#include "qint8/ref/weights.hpp"
#include "qint8/ref/window.hpp"

namespace qint8::ref {

/// src: [N, C, H, W], integers (INT8, centred on `zp_src`) or real (FP32) as `st` says; w:
/// [O, C / groups, kh, kw]. Returns [N, O, OH, OW].
inline value conv2d(const value& src, int32_t zp_src, const weights& w, int64_t out_channels, int64_t groups, const window& g,
                    const output_stage& st) {
    const int64_t N = src.dims[0], C = src.dims[1], H = src.dims[2], W = src.dims[3];
    const int64_t O = out_channels, OH = out_height(H, g), OW = out_width(W, g);
    const int64_t CG = C / groups, OG = O / groups;
    value out = st.make_output({N, O, OH, OW});
    for_each_index({N, O, OH, OW}, [&](int64_t n, int64_t o, int64_t oy, int64_t ox) {
        int64_t acc = 0;
        double accf = 0;
        for (int64_t ci = 0; ci < CG; ++ci) {
            const int64_t c = (o / OG) * CG + ci;
            for_each_tap(g, H, W, oy, ox, [&](int64_t ky, int64_t kx, int64_t iy, int64_t ix) {
                const std::size_t si = std::size_t(((n * C + c) * H + iy) * W + ix);
                const std::size_t wi = std::size_t(((o * CG + ci) * g.kh + ky) * g.kw + kx);
                if (st.int8) acc += int64_t(src.i[si] - zp_src) * w.q[wi];
                else accf += double(src.f[si]) * w.real[wi];
            });
        }
        st.store(out, std::size_t(((n * O + o) * OH + oy) * OW + ox), o, acc, accf);
    });
    return out;
}

}  // namespace qint8::ref
