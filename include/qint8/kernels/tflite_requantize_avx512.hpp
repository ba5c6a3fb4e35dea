#pragma once
/// @file tflite_requantize_avx512.hpp  The AVX-512 version of tflite_requantize.hpp's output stage:
/// 16 channels per vector, the channel tail under a mask (no scalar tail). Same arithmetic, same
/// bounds (tfl_output::vector_ok); tests/test_tflite_arithmetic.cpp holds it to the reference.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "qint8/kernels/tflite_requantize.hpp"

namespace qint8::kernels::tfl {

/// Zero-masked forms with every lane set throughout: GCC 12's unmasked AVX-512 intrinsics start
/// from an "undefined" register that -Wmaybe-uninitialized reports once inlined (as in
/// depthwise_avx512bw.hpp).
constexpr __mmask16 all16 = 0xFFFF;

/// floor((x * m + 2^30) / 2^31) per int32 lane (see high_mul in tflite_requantize.hpp).
__attribute__((target("avx512f,avx512bw"))) inline __m512i high_mul16(__m512i x, __m512i m) {
    constexpr __mmask8 all = 0xFF;
    const __m512i half = _mm512_set1_epi64(int64_t{1} << 30);
    const __m512i even = _mm512_maskz_srli_epi64(all, _mm512_add_epi64(_mm512_maskz_mul_epi32(all, x, m), half), 31);
    const __m512i x_odd = _mm512_maskz_srli_epi64(all, x, 32), m_odd = _mm512_maskz_srli_epi64(all, m, 32);
    const __m512i odd = _mm512_add_epi64(_mm512_maskz_mul_epi32(all, x_odd, m_odd), half);
    return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_maskz_slli_epi64(all, odd, 1));
}

/// floor(y / 2^e) + (remainder > half): ties away from zero.
__attribute__((target("avx512f,avx512bw"))) inline __m512i scale16(__m512i x, __m512i m, __m512i e) {
    const __m512i y = high_mul16(x, m);
    const __m512i mask = _mm512_sub_epi32(_mm512_maskz_sllv_epi32(all16, _mm512_set1_epi32(1), e), _mm512_set1_epi32(1));
    const __m512i rem = _mm512_and_si512(y, mask);
    const __m512i half = _mm512_sub_epi32(_mm512_maskz_srai_epi32(all16, mask, 1), _mm512_maskz_srai_epi32(all16, y, 31));
    const __m512i q = _mm512_maskz_srav_epi32(all16, y, e);
    return _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(rem, half), q, _mm512_set1_epi32(1));
}

__attribute__((target("avx512f,avx512bw"))) inline __m512i clamp16(__m512i v, int32_t lo, int32_t hi) {
    return _mm512_maskz_min_epi32(all16, _mm512_maskz_max_epi32(all16, v, _mm512_set1_epi32(lo)), _mm512_set1_epi32(hi));
}

/// One input of TFLite's ADD: (v - zp) << 20, scaled by k.
__attribute__((target("avx512f,avx512bw"))) inline __m512i add_input16(__m512i v, int32_t zp, const tfl_mult& k) {
    const __m512i x = _mm512_maskz_slli_epi32(all16, _mm512_sub_epi32(v, _mm512_set1_epi32(zp)), 20);
    return scale16(x, _mm512_set1_epi32(k.m), _mm512_set1_epi32(k.right));
}

__attribute__((target("avx512f,avx512bw"))) inline __m512i add16(__m512i q, __m512i r, const tfl_add_params& p) {
    const __m512i s = _mm512_add_epi32(add_input16(q, p.zp_a, p.a), add_input16(r, p.zp_b, p.b));
    const __m512i y = scale16(s, _mm512_set1_epi32(p.out.m), _mm512_set1_epi32(p.out.right));
    return clamp16(_mm512_add_epi32(y, _mm512_set1_epi32(p.zp_out)), p.lo, p.hi);
}

__attribute__((target("avx512f,avx512bw"))) inline __m512i load_codes16(__mmask16 k, const void* p, bool is_signed) {
    alignas(16) unsigned char tail[16] = {};  // the channel tail without reading past it (a 128-bit masked load needs AVX-512VL)
    if (k != all16) std::memcpy(tail, p, std::size_t(__builtin_popcount(k)));
    const __m128i b = _mm_loadu_si128(static_cast<const __m128i*>(k == all16 ? p : static_cast<const void*>(tail)));
    return is_signed ? _mm512_maskz_cvtepi8_epi32(all16, b) : _mm512_maskz_cvtepu8_epi32(all16, b);
}

/// Stores the codes (already within the type's range) of the lanes in `k`.
__attribute__((target("avx512f,avx512bw"))) inline void store_codes16(__mmask16 k, void* p, __m512i v) {
    _mm512_mask_cvtepi32_storeu_epi8(p, k, v);
}

__attribute__((target("avx512f,avx512bw"))) inline void pixel_avx512(const tfl_output& o, const int32_t* acc, const void* res, void* dst, std::size_t base) {
    for (std::size_t c = 0; c < o.channels; c += 16) {
        const std::size_t left = o.channels - c;
        const __mmask16 k = left >= 16 ? all16 : __mmask16((1u << left) - 1);
        const __m512i x = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + base + c), _mm512_maskz_loadu_epi32(k, o.bias.data() + c));
        const __m512i y = scale16(x, _mm512_maskz_loadu_epi32(k, o.m.data() + c), _mm512_maskz_loadu_epi32(k, o.right.data() + c));
        __m512i q = clamp16(_mm512_add_epi32(y, _mm512_set1_epi32(o.zp)), o.lo, o.hi);
        if (o.add) q = add16(q, load_codes16(k, static_cast<const char*>(res) + base + c, o.res_signed), o.ap);
        store_codes16(k, static_cast<char*>(dst) + base + c, q);
    }
}

}  // namespace qint8::kernels::tfl
