#pragma once
/// @file depthwise_avx2.hpp  INT8 depthwise convolution, AVX2 variant (see depthwise_common.hpp
/// for the numerics, the packed weights and the shared row loop).
///
/// Sixteen channels per ymm: each pair of taps (t, t+1) of a channel is interleaved as int16 and
/// multiplied with vpmaddwd (exact int32 products and pair sums; no int16 saturation).
/// Compiled with function-level target attributes, so callers' own flags need not enable
/// AVX2; call it only where the CPU has those features (kernels/depthwise.hpp checks).

#include <immintrin.h>

#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

/// The vector operations of the AVX2 variant, for dw_row.
struct dw_avx2_ops {
    static constexpr int block = 16;
    struct regs {
        __m256i lo, hi;       ///< int32 sums of channels 8L+0..3 (lo) and 8L+4..7 (hi) of each 128-bit lane L
        __m256 vlo, vhi, zp;  ///< clamp bounds and destination zero point
    };

    __attribute__((target("avx2"))) static void init(regs& v, float lo, float hi, float zp) {
        v.vlo = _mm256_set1_ps(lo);
        v.vhi = _mm256_set1_ps(hi);
        v.zp = _mm256_set1_ps(zp);
    }
    __attribute__((target("avx2"))) static void clear(regs& v) { v.lo = v.hi = _mm256_setzero_si256(); }

    /// Adds taps a and b (16 bytes each, channel order) times their weight pair `w` (2 x 16 int16).
    template <bool Signed>
    __attribute__((target("avx2"))) static void pair(regs& v, const uint8_t* a, const uint8_t* b, const int16_t* w) {
        const __m128i a8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a)), b8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
        const __m256i x = Signed ? _mm256_cvtepi8_epi16(a8) : _mm256_cvtepu8_epi16(a8);
        const __m256i y = Signed ? _mm256_cvtepi8_epi16(b8) : _mm256_cvtepu8_epi16(b8);
        // unpack interleaves within 128-bit lanes: (a, b) int16 pairs of channels 8L+0..3 (lo), 8L+4..7 (hi);
        // vpmaddwd: x[2j] * w[2j] + x[2j+1] * w[2j+1] per int32 lane j, exact.
        v.lo = _mm256_add_epi32(v.lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x, y), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
        v.hi = _mm256_add_epi32(v.hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x, y), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + block))));
    }

    /// Requantizes the block's sums and stores its 16 bytes in channel order at `out`.
    template <bool DstSigned>
    __attribute__((target("avx2"))) static void requantize(const regs& v, uint8_t* out, const int32_t* comp, const float* bias, const float* scale) {
        constexpr int h = block / 2;
        const __m256i lo = _mm256_sub_epi32(v.lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(comp)));
        const __m256i hi = _mm256_sub_epi32(v.hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(comp + h)));
        __m256 flo = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(lo), _mm256_loadu_ps(bias)), _mm256_loadu_ps(scale));
        __m256 fhi = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(hi), _mm256_loadu_ps(bias + h)), _mm256_loadu_ps(scale + h));
        // Clamped to the destination range first, so the integer conversion cannot overflow and
        // nothing between the multiply and the zero point add can be fused into an FMA.
        flo = _mm256_add_ps(_mm256_min_ps(_mm256_max_ps(flo, v.vlo), v.vhi), v.zp);
        fhi = _mm256_add_ps(_mm256_min_ps(_mm256_max_ps(fhi, v.vlo), v.vhi), v.zp);
        const __m256i s16 = _mm256_packs_epi32(_mm256_cvtps_epi32(flo), _mm256_cvtps_epi32(fhi));  // 128-bit lanes interleave lo/hi back into channel order
        const __m256i s8 = DstSigned ? _mm256_packs_epi16(s16, s16) : _mm256_packus_epi16(s16, s16);
        // Each lane holds its 8 channels twice; take qwords 0 and 2.
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(_mm256_permute4x64_epi64(s8, 0x08)));
    }
};

namespace avx2_detail {
template <bool Signed, bool DstSigned>
__attribute__((target("avx2"), flatten)) inline void row(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t r) {
    dw_row<dw_avx2_ops, Signed, DstSigned>(pr, pk, src, dst, r);
}
}  // namespace avx2_detail

/// Runs the layer over all images: `src` n x h x w x c bytes, `dst` n x oh x ow x c bytes. `pk`
/// must be packed with block 16 (dw_pack(..., 16, ...)).
inline void depthwise_avx2(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    using namespace avx2_detail;
    static constexpr dw_row_fn rows[2][2] = {{row<false, false>, row<false, true>}, {row<true, false>, row<true, true>}};
    dw_run_rows(pr, pk, src, dst, threads, rows);
}

}  // namespace qint8::kernels
