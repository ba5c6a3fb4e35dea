#pragma once
/// @file pointwise_common.hpp  1x1 INT8 convolutions (stride 1, no padding, one group) with few
/// input channels, run by qint8's own kernel (pointwise_avx2.hpp): the problem, and the weights
/// packed once at model compilation.
///
/// Such a layer is a matrix product of the NHWC activations [m pixels][k channels] and the
/// weights [k][n]. With k = 16-32 (MobileNet-V2's expansions) there are only 4-8 multiply steps
/// per output, so the requantization is a large share of the work, and oneDNN's AVX2 1x1 kernel
/// ran them at 35-50% of the INT8 limit on Zen 3 (docs/performance.md).
///
/// Numerics: those of the depthwise kernels (depthwise_common.hpp), over the k input channels:
///   acc = sum_c (q_src - zp_src) * q_w  (int32, exact; computed as sum(q_src * q_w) - zp_src * sum(q_w))
///   v   = (float(acc) + float(bias)) * os, clamped, q = round_half_even(v + zp_dst) saturated.
/// The kernel multiplies with vpmaddubsw, which adds the products of input channels (2j, 2j + 1)
/// into a saturating int16: pw_pack records whether every such pair provably fits (`exact`),
/// and a layer whose weights do not fit is not given to the kernel.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "qint8/detail/transpose_quads.hpp"
#include "qint8/kernels/aligned.hpp"
#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

/// A convolution with few input channels (a model's first layer) run as a 1x1 layer over its
/// windows: each output row's windows are gathered first (pointwise_gather.hpp), one pixel's as
/// k bytes in [kh][kw][c] order, zero-point bytes where the window leaves the image, then bytes
/// up to k whose weights are 0 (pointwise_gather.hpp). The zero-point bytes are codes the kernel
/// multiplies too: pw_pack's max_code must cover the zero point as well as the image's codes.
struct pw_window {
    bool on = false;
    int64_t batch = 1, h = 1, w = 1, c = 1;  ///< the input
    int64_t oh = 1, ow = 1;                  ///< the output (the bottom/right padding follows)
    int kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pl = 0;
    int64_t taps_bytes() const { return c * kh * kw; }
};

/// Shape, quantization and post-ops of one 1x1 layer (NHWC u8 in, NHWC u8 or s8 out).
struct pw_problem {
    int64_t m = 1;       ///< pixels (batch x height x width; with a window, of the output)
    int64_t k = 4;       ///< input channels (a multiple of 4; with a window, c x kh x kw rounded up to one)
    int64_t n = 1;       ///< output channels
    bool src_signed = false, dst_signed = false;  ///< the kernel reads u8 sources only
    int32_t src_zp = 0, dst_zp = 0;
    /// Clamp in destination units before the zero point is added (as dw_problem).
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    pw_window window;    ///< a convolution's windows gathered first (window.on), or a plain 1x1 layer
    /// A residual sum, the layer's first post-op (its clamps come after it): the destination holds
    /// the residual's codes r (of the destination's type) before the layer runs, and
    /// v = fma(sum_scale, float(r - sum_zp), v) follows the scaling, as oneDNN's sum post-op.
    bool sum = false;
    float sum_scale = 1.f;
    int32_t sum_zp = 0;
};

/// How far a residual sum can move v: |r - sum_zp| <= 255 for 8-bit codes and zero points
/// (requant_residual_bound for dw_problem: none).
inline double requant_residual_bound(const pw_problem& pr) {
    return pr.sum ? 255.0 * std::abs(static_cast<double>(pr.sum_scale)) * 1.001 + 1 : 0.0;
}

/// Output channels per block: four ymm of int32, packed into one 32-byte store.
inline constexpr int pw_block = 32;

/// The k the kernel reads for `bytes` bytes per pixel: whole groups of four (a quad).
inline int64_t pw_k_of(int64_t bytes) { return (bytes + 3) / 4 * 4; }

/// The bytes of a layer's packed weights (pw_packed::w): k rounded to quads, n to blocks.
inline int64_t pw_packed_bytes(int64_t k, int64_t n) { return pw_k_of(k) * ((n + pw_block - 1) / pw_block * pw_block); }
/// The largest k taken: comp = zp * sum(w) stays far inside int32, and the weights of a block
/// (k x 32 bytes) stay in the first-level cache.
inline constexpr int64_t pw_max_k = 1024;

/// Weights, per block of 32 output channels and per group of 4 input channels (a quad): four
/// vectors of 8 int32 lanes, each lane the 4 s8 weights of one output channel for the quad. The
/// lanes are ordered so that the saturating packs of the four sums give the 32 channels in
/// order: vector v, lane l holds channel pw_lane_channel(v, l).
struct pw_packed {
    int64_t k = 0, n = 0, quads = 0, blocks = 0;
    aligned_vector<int8_t> w;   ///< [blocks][quads][4][8][4]
    aligned_vector<int32_t> acc0;  ///< [blocks][32] lane order: bias - comp (bias_in_acc) or -comp
    aligned_vector<float> bias;    ///< [blocks][32] lane order, in accumulator units
    aligned_vector<float> scale;   ///< [blocks][32] lane order
    bool bias_in_acc = false;   ///< as dw_packed::bias_in_acc
    double v_bound = 0;         ///< as dw_packed::v_bound
    /// Every sum the kernel forms is exact: every pair (2j, 2j + 1) of a channel's weights fits
    /// int16 for u8 codes up to max_code, or (dot) the kernel sums quads into int32.
    bool exact = false;
    /// Packed for the kernel that multiplies with vpdpbusd (pointwise_avx512vnni.hpp), which
    /// forms no int16 pairs; only it runs these weights. acc0 holds the zero point given to
    /// pw_pack, which is the source's plus 128 for an s8 source (read as x ^ 0x80).
    bool dot = false;
    /// `dot` weights of at most pw_narrow_n channels, in one block of 16 (pw_narrow_packed_bytes):
    /// w is [quads][16][4] and acc0, bias and scale hold the channels in order. The VNNI kernel
    /// runs them 16 to a zmm (a block of 32 would leave half its lanes and work empty).
    bool narrow = false;
};

/// The most output channels packed narrow (pw_packed::narrow).
inline constexpr int64_t pw_narrow_n = 16;

/// The bytes of narrow packed weights: 64 a quad.
inline int64_t pw_narrow_packed_bytes(int64_t k) { return pw_k_of(k) * 16; }

/// The channel that vector v (0-3), lane l (0-7) of a block holds: packs_epi32 interleaves two
/// vectors per 128-bit lane, and packs_epi16 the two results again.
inline int pw_lane_channel(int v, int l) { return (l < 4 ? 0 : 16) + v * 4 + l % 4; }

/// Whether vpmaddubsw's int16 sum x_a * a + x_b * b cannot saturate for u8 codes x <= max_code.
inline bool pw_pair_fits(int a, int b, int max_code) {
    return max_code * (std::max(a, 0) + std::max(b, 0)) <= 32767 && max_code * (std::min(a, 0) + std::min(b, 0)) >= -32768;
}

/// What pw_pack needs of one output channel's k weights: their sum, the sum of their magnitudes,
/// and whether every pair (2j, 2j + 1) fits (pw_pair_fits, a zero partner past k).
struct pw_row_facts {
    int32_t sum = 0, abs_sum = 0;
    bool pairs_fit = true;
};

/// pw_row_facts of one row, 16 weights at a time with SSE2 (every x86-64 CPU has it): a packing
/// loop that went weight by weight took a third of MobileNet-V2's compilation with every 1x1
/// layer on the kernel. The pairs' sums of positive and of negative parts stay within +-256.
inline pw_row_facts pw_row_facts_of(const int8_t* w, int64_t k, int max_code) {
    pw_row_facts f;
    int pos = 0, neg = 0;
    int64_t c = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128(), ones = _mm_set1_epi16(1);
    __m128i sum = zero, abs_sum = zero, vpos = zero, vneg = zero;
    for (; c + 16 <= k; c += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + c));
        const __m128i even = _mm_srai_epi16(_mm_slli_epi16(x, 8), 8), odd = _mm_srai_epi16(x, 8);  // one pair per int16 lane
        const __m128i both = _mm_add_epi16(even, odd);
        const __m128i mag = _mm_add_epi16(_mm_max_epi16(even, _mm_sub_epi16(zero, even)), _mm_max_epi16(odd, _mm_sub_epi16(zero, odd)));
        sum = _mm_add_epi32(sum, _mm_madd_epi16(both, ones));
        abs_sum = _mm_add_epi32(abs_sum, _mm_madd_epi16(mag, ones));
        vpos = _mm_max_epi16(vpos, _mm_add_epi16(_mm_max_epi16(even, zero), _mm_max_epi16(odd, zero)));
        vneg = _mm_min_epi16(vneg, _mm_add_epi16(_mm_min_epi16(even, zero), _mm_min_epi16(odd, zero)));
    }
    alignas(16) int32_t s4[4], a4[4];
    alignas(16) int16_t p8[8], n8[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(s4), sum);
    _mm_store_si128(reinterpret_cast<__m128i*>(a4), abs_sum);
    _mm_store_si128(reinterpret_cast<__m128i*>(p8), vpos);
    _mm_store_si128(reinterpret_cast<__m128i*>(n8), vneg);
    for (int j = 0; j < 4; ++j) f.sum += s4[j], f.abs_sum += a4[j];
    for (int j = 0; j < 8; ++j) pos = std::max<int>(pos, p8[j]), neg = std::min<int>(neg, n8[j]);
#endif
    for (; c < k; c += 2) {  // c is even here: the pairs stay aligned
        const int a = w[c], b = c + 1 < k ? w[c + 1] : 0;
        f.sum += a + b;
        f.abs_sum += std::abs(a) + std::abs(b);
        pos = std::max(pos, std::max(a, 0) + std::max(b, 0));
        neg = std::min(neg, std::min(a, 0) + std::min(b, 0));
    }
    f.pairs_fit = pw_pair_fits(pos, neg, max_code);  // the row's extreme sums of positive and of negative parts
    return f;
}

/// Copies the weights of four neighbouring channels (group g of block b: channels b * 32 + 4g ..
/// + 3, lanes 4 (g / 4) .. + 3 of vector g % 4) into p.w, in the order the kernel reads them:
/// per quad, the four channels' four bytes side by side. With SSE2, four quads of the four rows
/// at a time as a 4 x 4 transpose of int32: one 4-byte copy per channel and quad had taken a
/// fifth of MobileNet-V1's compilation with its 1x1 layers on the kernel.
inline void pw_pack_group(pw_packed& p, const int8_t* w, int64_t b, int g) {
    const int v = g % 4, half = g / 4;
    const int64_t k = p.k, first = b * pw_block + pw_lane_channel(v, 4 * half);  // 4 channels from here
    int8_t* out = p.w.data() + (b * p.quads * 4 + v) * 32 + half * 16;            // quad q at out + q * 128
    int64_t q = 0;
    if (first + 4 <= p.n)
        for (; 4 * q + 16 <= k; q += 4) {
            int8_t* const dst[4] = {out + q * 128, out + (q + 1) * 128, out + (q + 2) * 128, out + (q + 3) * 128};
            detail::transpose_quads4(w + first * k + 4 * q, k, dst);
        }
    for (; q < p.quads; ++q) {  // the rest, and channels past n (left zero)
        const int64_t c = 4 * q, bytes = std::min<int64_t>(4, k - c);
        for (int i = 0; i < 4 && first + i < p.n; ++i)
            std::memcpy(out + q * 128 + i * 4, w + (first + i) * k + c, static_cast<std::size_t>(bytes));
    }
}

/// Copies the weights of a narrow pack (pw_packed::narrow): channel o's quad q to w[q][o].
inline void pw_pack_narrow(pw_packed& p, const int8_t* w) {
    for (int64_t q = 0; q < p.quads; ++q) {
        const int64_t bytes = std::min<int64_t>(4, p.k - 4 * q);
        for (int64_t o = 0; o < p.n; ++o) std::memcpy(p.w.data() + (q * 16 + o) * 4, w + o * p.k + 4 * q, static_cast<std::size_t>(bytes));
    }
}

/// `w`: n x k s8 (the weights of output channel o at w + o * k); `bias`: n floats in accumulator
/// units (may be null); `os`: n floats; `max_code`: the largest u8 code the source holds; `dot`:
/// for the vpdpbusd kernel (pw_packed::dot; max_code then does not matter; narrow for n <=
/// pw_narrow_n); `arena`: where the packed arrays go (a model's constants; null: operator new).
inline pw_packed pw_pack(const int8_t* w, const float* bias, const float* os, int64_t n, int64_t k, int32_t src_zp, int max_code = 255,
                         bool dot = false, detail::huge_arena* arena = nullptr) {
    pw_packed p;
    p.k = k;
    p.n = n;
    p.quads = (k + 3) / 4;
    p.blocks = (n + pw_block - 1) / pw_block;
    const std::size_t lanes = static_cast<std::size_t>(p.blocks * pw_block);
    p.narrow = dot && n <= pw_narrow_n;
    p.w = aligned_filled<int8_t>(static_cast<std::size_t>(p.narrow ? pw_narrow_packed_bytes(k) : pw_packed_bytes(k, n)), 0, arena);
    p.acc0 = aligned_filled<int32_t>(lanes, 0, arena);
    p.bias = aligned_filled<float>(lanes, 0.f, arena);
    p.scale = aligned_filled<float>(lanes, 0.f, arena);
    p.bias_in_acc = dw_bias_folds(bias, n);
    p.exact = true;
    p.dot = dot;
    for (int64_t b = 0; b < p.blocks; ++b)
        for (int v = 0; v < 4; ++v)
            for (int l = 0; l < 8; ++l) {
                const int64_t o = b * pw_block + pw_lane_channel(v, l);
                if (o >= n) continue;
                const pw_row_facts f = pw_row_facts_of(w + o * k, k, max_code);
                p.exact = p.exact && (dot || f.pairs_fit);
                const std::size_t at = static_cast<std::size_t>(p.narrow ? o : b * pw_block + v * 8 + l);
                const float bs = bias ? bias[o] : 0.f;
                p.acc0[at] = (p.bias_in_acc ? static_cast<int32_t>(bs) : 0) - src_zp * f.sum;  // |zp * sum| <= 255 * 128 * pw_max_k
                p.bias[at] = bs;
                p.scale[at] = os[o];
                p.v_bound = std::max(p.v_bound, dw_channel_bound(f.abs_sum, bs, os[o]));
            }
    if (p.narrow) {
        pw_pack_narrow(p, w);
        return p;
    }
    for (int64_t b = 0; b < p.blocks; ++b)
        for (int g = 0; g < 8; ++g) pw_pack_group(p, w, b, g);
    return p;
}

/// The tallest window taken (rows of one gathered window).
inline constexpr int pw_max_window_rows = 64;

/// The k a window's gathered pixel takes: c x kh x kw rounded up to a multiple of 4.
inline int64_t pw_window_k(const pw_window& w) { return pw_k_of(w.taps_bytes()); }

/// Weights [n][c][kh][kw] (OIHW) in the gathered order, [n][k] with [kh][kw][c] then zeros.
inline std::vector<int8_t> pw_window_weights(const int8_t* oihw, int64_t n, const pw_window& w) {
    const int64_t k = pw_window_k(w);
    std::vector<int8_t> r(static_cast<std::size_t>(n * k), 0);
    for (int64_t o = 0; o < n; ++o)
        for (int64_t c = 0; c < w.c; ++c)
            for (int ky = 0; ky < w.kh; ++ky)
                for (int kx = 0; kx < w.kw; ++kx)
                    r[static_cast<std::size_t>(o * k + (ky * w.kw + kx) * w.c + c)] = oihw[((o * w.c + c) * w.kh + ky) * w.kw + kx];
    return r;
}

/// Can the kernel run this problem with these weights? (Otherwise the caller uses oneDNN.) An s8
/// source and weights packed with `dot` are the vpdpbusd kernel's alone.
inline bool pw_supported(const pw_problem& pr, const pw_packed& pk) {
    const pw_window& w = pr.window;
    if (w.on && (pr.k != pw_window_k(w) || pr.m != w.batch * w.oh * w.ow || w.kh < 1 || w.kh > pw_max_window_rows || w.kw < 1 || w.sh < 1 ||
                 w.sw < 1 || w.c < 1))
        return false;
    return (!pr.src_signed || pk.dot) && pr.k % 4 == 0 && pr.k > 0 && pr.k <= pw_max_k && pr.n > 0 && pk.exact && pk.k == pr.k && pk.n == pr.n;
}

}  // namespace qint8::kernels
