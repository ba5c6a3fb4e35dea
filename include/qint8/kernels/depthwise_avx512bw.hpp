#pragma once
/// @file depthwise_avx512bw.hpp  INT8 depthwise convolution, AVX-512BW variant (see depthwise_common.hpp
/// for the numerics, the packed weights and the shared row loop).
///
/// Thirty-two channels per zmm: each pair of taps (t, t+1) of a channel is interleaved as int16 and
/// multiplied with vpmaddwd (exact int32 products and pair sums). The AVX-512 VNNI variant
/// (depthwise_avx512vnni.hpp) reuses these operations but for the multiply-add.
/// Compiled with function-level target attributes, so callers' own flags need not enable
/// AVX-512F and AVX-512BW; call it only where the CPU has those features (kernels/depthwise.hpp checks).

#include <immintrin.h>

#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

/// The vector operations of the AVX-512BW variant, for dw_row. `Self` supplies the multiply-add
/// (`dot`): this variant's vpmaddwd + vpaddd, or the VNNI variant's vpdpwssd.
template <class Self>
struct dw_avx512_ops {
    static constexpr int block = 32;
    struct regs {
        __m512i lo, hi;       ///< int32 sums of channels 8L+0..3 (lo) and 8L+4..7 (hi) of each 128-bit lane L
        __m512 vlo, vhi, zp;  ///< clamp bounds and destination zero point
    };
    /// Full masks: GCC 12's unmasked AVX-512 intrinsics start from an "undefined" register that
    /// -Wmaybe-uninitialized reports once inlined; the zero-masked forms with every lane set do not.
    static constexpr __mmask16 all = 0xFFFF;

    __attribute__((target("avx512f,avx512bw"))) static void init(regs& v, float lo, float hi, float zp) {
        v.vlo = _mm512_set1_ps(lo);
        v.vhi = _mm512_set1_ps(hi);
        v.zp = _mm512_set1_ps(zp);
    }
    __attribute__((target("avx512f,avx512bw"))) static void clear(regs& v) { v.lo = v.hi = _mm512_setzero_si512(); }

    /// Adds taps a and b (32 bytes each, channel order) times their weight pair `w` (2 x 32 int16).
    template <bool Signed>
    __attribute__((target("avx512f,avx512bw"))) static void pair(regs& v, const uint8_t* a, const uint8_t* b, const int16_t* w) {
        const __m256i a8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)), b8 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
        const __m512i x = Signed ? _mm512_cvtepi8_epi16(a8) : _mm512_cvtepu8_epi16(a8);
        const __m512i y = Signed ? _mm512_cvtepi8_epi16(b8) : _mm512_cvtepu8_epi16(b8);
        // unpack interleaves within 128-bit lanes: (a, b) int16 pairs of channels 8L+0..3 (lo), 8L+4..7 (hi).
        Self::dot(v.lo, _mm512_unpacklo_epi16(x, y), _mm512_loadu_si512(w));
        Self::dot(v.hi, _mm512_unpackhi_epi16(x, y), _mm512_loadu_si512(w + block));
    }

    /// Requantizes the block's sums and stores its 32 bytes in channel order at `out`.
    template <bool DstSigned>
    __attribute__((target("avx512f,avx512bw"))) static void requantize(const regs& v, uint8_t* out, const int32_t* comp, const float* bias,
                                                                       const float* scale) {
        constexpr int h = block / 2;
        const __m512i lo = _mm512_sub_epi32(v.lo, _mm512_loadu_si512(comp));
        const __m512i hi = _mm512_sub_epi32(v.hi, _mm512_loadu_si512(comp + h));
        __m512 flo = _mm512_mul_ps(_mm512_add_ps(_mm512_maskz_cvtepi32_ps(all, lo), _mm512_loadu_ps(bias)), _mm512_loadu_ps(scale));
        __m512 fhi = _mm512_mul_ps(_mm512_add_ps(_mm512_maskz_cvtepi32_ps(all, hi), _mm512_loadu_ps(bias + h)), _mm512_loadu_ps(scale + h));
        // Clamped to the destination range first, so the integer conversion cannot overflow and
        // nothing between the multiply and the zero point add can be fused into an FMA.
        flo = _mm512_add_ps(_mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, flo, v.vlo), v.vhi), v.zp);
        fhi = _mm512_add_ps(_mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, fhi, v.vlo), v.vhi), v.zp);
        const __m512i s16 = _mm512_packs_epi32(_mm512_maskz_cvtps_epi32(all, flo), _mm512_maskz_cvtps_epi32(all, fhi));  // 128-bit lanes interleave lo/hi back into channel order
        const __m512i s8 = DstSigned ? _mm512_packs_epi16(s16, s16) : _mm512_packus_epi16(s16, s16);
        // Each lane holds its 8 channels twice; take qwords 0, 2, 4 and 6.
        const __m256i bytes = _mm512_maskz_extracti64x4_epi64(0xF, _mm512_maskz_permutexvar_epi64(0xFF, _mm512_setr_epi64(0, 2, 4, 6, 0, 2, 4, 6), s8), 0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
    }
};

struct dw_avx512bw_ops : dw_avx512_ops<dw_avx512bw_ops> {
    /// acc += x[2j] * w[2j] + x[2j+1] * w[2j+1] per int32 lane j (vpmaddwd, exact, then vpaddd).
    __attribute__((target("avx512f,avx512bw"))) static void dot(__m512i& acc, __m512i x, __m512i w) {
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, w));
    }
};

namespace avx512bw_detail {
template <bool Signed, bool DstSigned>
__attribute__((target("avx512f,avx512bw"), flatten)) inline void row(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst,
                                                                     int64_t r) {
    dw_row<dw_avx512bw_ops, Signed, DstSigned>(pr, pk, src, dst, r);
}
}  // namespace avx512bw_detail

/// Runs the layer over all images: `src` n x h x w x c bytes, `dst` n x oh x ow x c bytes. `pk`
/// must be packed with block 32 (dw_pack(..., 32, ...)).
inline void depthwise_avx512bw(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    using namespace avx512bw_detail;
    static constexpr dw_row_fn rows[2][2] = {{row<false, false>, row<false, true>}, {row<true, false>, row<true, true>}};
    dw_run_rows(pr, pk, src, dst, threads, rows);
}

}  // namespace qint8::kernels
