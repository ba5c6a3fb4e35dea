#pragma once
/// @file depthwise_avx2_columns.hpp  INT8 depthwise convolution, AVX2, 3x3 kernels at horizontal
/// stride 1 or 2 computed from input columns that neighbouring output pixels share.
///
/// The pair kernel (depthwise_avx2.hpp) pairs taps (t, t+1) in row-major order, so each output
/// pixel widens and interleaves all nine of its taps: 20 shuffles per 16 channels and pixel. Here
/// the taps are paired down a column instead, rows (0, 1) and (2, zero), so one column's widened
/// pairs serve every output pixel that reads it: per pixel at stride 1 only the new column is
/// loaded and shuffled (3 widenings, 4 unpacks), at stride 2 two columns, at the price of 12
/// vpmaddwd instead of 10. On Zen 3 the loop is bound by its vector instructions (about three a
/// cycle), so fewer shuffles and a shorter requantization are what make it faster.
/// Other kernel sizes and strides, and the channels past the last full block of 16, run the pair
/// kernel's row loop. Numerics: depthwise_common.hpp; the sums are exact int32 and the
/// requantization gives the reference's bytes (see `requant`). Weights: dw_pack_columns.
/// Compiled with function-level target attributes; call it only where the CPU has AVX2.

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "qint8/kernels/depthwise_avx2.hpp"
#include "qint8/kernels/depthwise_common.hpp"
#include "qint8/kernels/requant_avx2.hpp"
#include "qint8/kernels/unfused.hpp"

namespace qint8::kernels {

namespace avx2_columns_detail {

/// One input column of 16 channels as int16 pairs in the lo|hi channel order: rows (0, 1) in p0 /
/// p1, row 2 beside zeros in s0 / s1.
struct column {
    __m256i p0, p1, s0, s1;
};

template <bool Signed>
__attribute__((target("avx2"))) inline void load_column(column& c, const uint8_t* r0, const uint8_t* r1, const uint8_t* r2) {
    const __m128i a8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0));
    const __m128i b8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1));
    const __m128i c8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r2));
    const __m256i a = Signed ? _mm256_cvtepi8_epi16(a8) : _mm256_cvtepu8_epi16(a8);
    const __m256i b = Signed ? _mm256_cvtepi8_epi16(b8) : _mm256_cvtepu8_epi16(b8);
    const __m256i z = Signed ? _mm256_cvtepi8_epi16(c8) : _mm256_cvtepu8_epi16(c8);
    c.p0 = _mm256_unpacklo_epi16(a, b);
    c.p1 = _mm256_unpackhi_epi16(a, b);
    // vpmaddwd reads each int16 as signed, so the zero beside a row-2 value is a zero product
    // whatever the source's signedness.
    c.s0 = _mm256_unpacklo_epi16(z, _mm256_setzero_si256());
    c.s1 = _mm256_unpackhi_epi16(z, _mm256_setzero_si256());
}

/// Column `c` times the weights of kernel column `w` (4 x 16 int16: pair lo, pair hi, single lo,
/// single hi): the int32 sums it adds to one output pixel, lo and hi halves.
__attribute__((target("avx2"))) inline void column_sums(const column& c, const int16_t* w, __m256i& lo, __m256i& hi) {
    const __m256i* q = reinterpret_cast<const __m256i*>(w);
    lo = _mm256_add_epi32(_mm256_madd_epi16(c.p0, _mm256_loadu_si256(q)), _mm256_madd_epi16(c.s0, _mm256_loadu_si256(q + 2)));
    hi = _mm256_add_epi32(_mm256_madd_epi16(c.p1, _mm256_loadu_si256(q + 1)), _mm256_madd_epi16(c.s1, _mm256_loadu_si256(q + 3)));
}

/// The requantization of one block, as the four-tap kernel does it (depthwise_avx512vnni_quads.hpp):
/// the sums start at acc0 (bias - comp where the bias folds exactly), v = float(acc) [+ bias] * os,
/// [min(v, hi) only where |v| could pass 2^30], [+ zp], round-half-even conversion, saturating
/// packs, then the clamps as one byte max and one byte min. Every step is monotone, so clamping
/// after rounding equals the reference's rounding after clamping.
struct requant : avx2_requant_consts {
    __m256i acc0[2];
    __m256 bias[2], scale[2];
};

/// The constants that do not depend on the block.
__attribute__((target("avx2"))) inline requant requant_of(const dw_problem& pr, const dw_packed& pk) {
    requant rq{};
    static_cast<avx2_requant_consts&>(rq) = avx2_requant_consts_of(pr, pk);
    return rq;
}

template <bool DstSigned>
__attribute__((target("avx2"))) inline void requantize(const requant& rq, __m256i lo, __m256i hi, uint8_t* out) {
    __m256 f0 = _mm256_cvtepi32_ps(lo), f1 = _mm256_cvtepi32_ps(hi);
    if (rq.plan.add_bias) {
        f0 = _mm256_add_ps(f0, rq.bias[0]);
        f1 = _mm256_add_ps(f1, rq.bias[1]);
    }
    f0 = unfused(_mm256_mul_ps(f0, rq.scale[0]));  // rounded before the zero point (unfused.hpp)
    f1 = unfused(_mm256_mul_ps(f1, rq.scale[1]));
    if (rq.plan.clamp_hi) {
        f0 = _mm256_min_ps(f0, rq.hi);
        f1 = _mm256_min_ps(f1, rq.hi);
    }
    if (rq.plan.add_zp) {
        f0 = _mm256_add_ps(f0, rq.zp);
        f1 = _mm256_add_ps(f1, rq.zp);
    }
    const __m256i s16 = _mm256_packs_epi32(_mm256_cvtps_epi32(f0), _mm256_cvtps_epi32(f1));  // lanes interleave lo/hi back into channel order
    const __m256i s8 = DstSigned ? _mm256_packs_epi16(s16, s16) : _mm256_packus_epi16(s16, s16);
    __m256i b = s8;
    if (rq.plan.clamp_lo) b = DstSigned ? _mm256_max_epi8(b, rq.lo8) : _mm256_max_epu8(b, rq.lo8);
    if (rq.plan.clamp_top) b = DstSigned ? _mm256_min_epi8(b, rq.top8) : _mm256_min_epu8(b, rq.top8);
    // Each 128-bit lane holds its 8 channels (twice): two 8-byte stores, cheaper than a vpermq on Zen 3.
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(b));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 8), _mm256_extracti128_si256(b, 1));
}

/// Input column x of rows `r` (their steps per column: C, or 0 for a padded row); outside 0..W-1
/// the zero point.
template <bool Signed>
__attribute__((target("avx2"))) inline void load_at(column& c, const uint8_t* const r[3], const int64_t step[3], const uint8_t* zrow, int64_t x,
                                                    int64_t W) {
    if (x < 0 || x >= W) load_column<Signed>(c, zrow, zrow, zrow);
    else load_column<Signed>(c, r[0] + x * step[0], r[1] + x * step[1], r[2] + x * step[2]);
}

/// The sums of the pixel whose kernel column 0 is `c`: they start at acc0.
__attribute__((target("avx2"))) inline void start_sums(const column& c, const int16_t* w, const requant& rq, __m256i& lo, __m256i& hi) {
    column_sums(c, w, lo, hi);
    lo = _mm256_add_epi32(lo, rq.acc0[0]);
    hi = _mm256_add_epi32(hi, rq.acc0[1]);
}

/// Block `k` (16 channels from channel k) of one output row at horizontal stride SW (1 or 2):
/// `rows[ky]` the input rows (null where padded), input columns outside 0..W-1 read the zero point.
/// Each column is added to the output pixels that read it as it arrives (at stride 1 kernel column
/// 2 to the pixel it completes, 1 and 0 to the next two; at stride 2 a pixel's last column is the
/// next one's first), so at most two partial sums stay live: with the column and the clamp bounds
/// that fits the 16 ymm registers without spilling.
template <bool Signed, bool DstSigned, int SW>
__attribute__((target("avx2"))) inline void block_3x3(const dw_problem& pr, const dw_packed& pk, const uint8_t* const rows[3], int64_t k,
                                                      const int16_t* w, requant& rq, uint8_t* out) {
    const int64_t C = pr.c, W = pr.w, OW = pr.ow, pl = pr.pl;
    const uint8_t* const zrow = pk.zp_row.data() + k;
    // A padded row reads the zero point at every column (stride 0).
    const uint8_t* r[3];
    int64_t step[3];
    for (int ky = 0; ky < 3; ++ky) {
        r[ky] = rows[ky] ? rows[ky] + k : zrow;
        step[ky] = rows[ky] ? C : 0;
    }
    for (int h = 0; h < 2; ++h) {
        rq.acc0[h] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pk.acc0.data() + k + 8 * h));
        rq.bias[h] = _mm256_loadu_ps(pk.bias.data() + k + 8 * h);
        rq.scale[h] = _mm256_loadu_ps(pk.scale.data() + k + 8 * h);
    }
    column c;
    __m256i a0l, a0h, a1l, a1h, tl, th;  // a0: pixel ox's sums so far, a1: pixel ox + 1's (stride 1)
    load_at<Signed>(c, r, step, zrow, -pl, W);
    if constexpr (SW == 1) {
        start_sums(c, w, rq, a1l, a1h);
        load_at<Signed>(c, r, step, zrow, 1 - pl, W);
        column_sums(c, w + 64, a0l, a0h);
        a0l = _mm256_add_epi32(a0l, a1l);
        a0h = _mm256_add_epi32(a0h, a1h);
        start_sums(c, w, rq, a1l, a1h);
        for (int64_t ox = 0; ox < OW; ++ox, out += C) {
            load_at<Signed>(c, r, step, zrow, ox + 2 - pl, W);
            column_sums(c, w + 128, tl, th);
            requantize<DstSigned>(rq, _mm256_add_epi32(a0l, tl), _mm256_add_epi32(a0h, th), out);
            column_sums(c, w + 64, tl, th);
            a0l = _mm256_add_epi32(a1l, tl);
            a0h = _mm256_add_epi32(a1h, th);
            start_sums(c, w, rq, a1l, a1h);
        }
    } else {
        start_sums(c, w, rq, a0l, a0h);
        for (int64_t ox = 0, x = 1 - pl; ox < OW; ++ox, x += 2, out += C) {
            load_at<Signed>(c, r, step, zrow, x, W);
            column_sums(c, w + 64, tl, th);
            a0l = _mm256_add_epi32(a0l, tl);
            a0h = _mm256_add_epi32(a0h, th);
            load_at<Signed>(c, r, step, zrow, x + 1, W);
            column_sums(c, w + 128, tl, th);
            requantize<DstSigned>(rq, _mm256_add_epi32(a0l, tl), _mm256_add_epi32(a0h, th), out);
            start_sums(c, w, rq, a0l, a0h);
        }
    }
}

/// Output row r of a 3x3 layer at horizontal stride SW: full blocks by columns, the ragged last
/// block by the pair kernel's row loop.
template <bool Signed, bool DstSigned, int SW>
__attribute__((target("avx2"), flatten)) inline void row_3x3(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t r) {
    const int64_t oy = r % pr.oh, full = pr.c / 16;
    const uint8_t* const in = src + (r / pr.oh) * pr.h * pr.w * pr.c;
    const uint8_t* rows[3];
    for (int ky = 0; ky < 3; ++ky) {
        const int64_t iy = oy * pr.sh - pr.pt + ky;
        rows[ky] = iy >= 0 && iy < pr.h ? in + iy * pr.w * pr.c : nullptr;
    }
    requant rq = requant_of(pr, pk);
    uint8_t* const out = dst + r * pr.ow * pr.c;
    for (int64_t b = 0; b < full; ++b) block_3x3<Signed, DstSigned, SW>(pr, pk, rows, b * 16, pk.wcol.data() + b * 3 * 64, rq, out + b * 16);
    if (pr.c % 16) dw_row<dw_avx2_ops, Signed, DstSigned>(pr, pk, src, dst, r, full);
}

template <bool Signed, bool DstSigned>
__attribute__((target("avx2"), flatten)) inline void row(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t r) {
    const bool columns = pr.kh == 3 && pr.kw == 3 && !pk.wcol.empty();
    if (columns && pr.sw == 1) row_3x3<Signed, DstSigned, 1>(pr, pk, src, dst, r);
    else if (columns && pr.sw == 2) row_3x3<Signed, DstSigned, 2>(pr, pk, src, dst, r);
    else dw_row<dw_avx2_ops, Signed, DstSigned>(pr, pk, src, dst, r);
}

}  // namespace avx2_columns_detail

/// Runs the layer over all images, as depthwise_avx2 (`pk` packed with block 16).
inline void depthwise_avx2_columns(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    using namespace avx2_columns_detail;
    static constexpr dw_row_fn rows[2][2] = {{row<false, false>, row<false, true>}, {row<true, false>, row<true, true>}};
    dw_run_rows(pr, pk, src, dst, threads, rows);
}

}  // namespace qint8::kernels
