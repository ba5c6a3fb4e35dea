#pragma once
/// @file tflite_requantize_avx512.hpp  The AVX-512 version of tflite_requantize.hpp's output stage:
/// 16 channels per vector, the channel tail under a mask (no scalar tail). Same arithmetic and
/// rounding as the AVX2 version, same bounds (vector_safe()); tests/test_tflite_arithmetic.cpp holds
/// it to the reference.

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
constexpr __mmask8 all8 = 0xFF;

/// A multiplier's constants for 16 lanes (as mult8); `rounds`: the lanes with e > 0.
struct mult16 {
    __m512i m, m_odd, e, nudge;
    __mmask16 rounds;
};

__attribute__((target("avx512f,avx512bw"))) inline mult16 mult16_of(__m512i m, __m512i e) {
    const __m512i one = _mm512_set1_epi32(1);
    return {m, _mm512_maskz_srli_epi64(all8, m, 32), e, _mm512_maskz_srli_epi32(all16, _mm512_maskz_sllv_epi32(all16, one, e), 1),
            _mm512_cmpgt_epi32_mask(e, _mm512_setzero_si512())};
}

__attribute__((target("avx512f,avx512bw"))) inline mult16 mult16_of(const tfl_mult& k) { return mult16_of(_mm512_set1_epi32(k.m), _mm512_set1_epi32(k.right)); }

/// x * M: floor((x * m + 2^30) / 2^31) per lane (as high_mul), then y / 2^e rounded half away
/// from zero, (y + 2^(e-1) - (y < 0)) >> e.
__attribute__((target("avx512f,avx512bw"))) inline __m512i scale16(__m512i x, const mult16& k) {
    const __m512i half = _mm512_set1_epi64(int64_t{1} << 30);
    const __m512i even = _mm512_maskz_srli_epi64(all8, _mm512_add_epi64(_mm512_maskz_mul_epi32(all8, x, k.m), half), 31);
    const __m512i odd = _mm512_add_epi64(_mm512_maskz_mul_epi32(all8, _mm512_maskz_srli_epi64(all8, x, 32), k.m_odd), half);
    const __m512i y = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_maskz_slli_epi64(all8, odd, 1));
    const __m512i t = _mm512_add_epi32(y, k.nudge);
    return _mm512_maskz_srav_epi32(all16, _mm512_mask_add_epi32(t, k.rounds, t, _mm512_maskz_srai_epi32(all16, y, 31)), k.e);
}

__attribute__((target("avx512f,avx512bw"))) inline __m512i clamp16(__m512i v, __m512i lo, __m512i hi) {
    return _mm512_maskz_min_epi32(all16, _mm512_maskz_max_epi32(all16, v, lo), hi);
}

/// TFLite's ADD with its constants in registers.
struct add16_consts {
    mult16 a, b, out;
    __m512i zp_a, zp_b, zp_out, lo, hi;
};

__attribute__((target("avx512f,avx512bw"))) inline add16_consts add16_of(const tfl_add_params& p) {
    return {mult16_of(p.a), mult16_of(p.b), mult16_of(p.out), _mm512_set1_epi32(p.zp_a), _mm512_set1_epi32(p.zp_b), _mm512_set1_epi32(p.zp_out),
            _mm512_set1_epi32(p.lo), _mm512_set1_epi32(p.hi)};
}

/// TFLite's ADD of codes q (the branch's) and r (the residual's): each (v - zp) << 20, scaled.
__attribute__((target("avx512f,avx512bw"))) inline __m512i add16(__m512i q, __m512i r, const add16_consts& p) {
    const __m512i a = scale16(_mm512_maskz_slli_epi32(all16, _mm512_sub_epi32(q, p.zp_a), 20), p.a);
    const __m512i b = scale16(_mm512_maskz_slli_epi32(all16, _mm512_sub_epi32(r, p.zp_b), 20), p.b);
    return clamp16(_mm512_add_epi32(scale16(_mm512_add_epi32(a, b), p.out), p.zp_out), p.lo, p.hi);
}

__attribute__((target("avx512f,avx512bw"))) inline __m512i load_codes16(__mmask16 k, const void* p, bool is_signed) {
    alignas(16) unsigned char tail[16] = {};  // the channel tail without reading past it (a 128-bit masked load needs AVX-512VL)
    if (k != all16) std::memcpy(tail, p, std::size_t(__builtin_popcount(k)));
    const __m128i b = _mm_loadu_si128(static_cast<const __m128i*>(k == all16 ? p : static_cast<const void*>(tail)));
    return is_signed ? _mm512_maskz_cvtepi8_epi32(all16, b) : _mm512_maskz_cvtepu8_epi32(all16, b);
}

/// Stores the codes (already within the type's range) of the lanes in `k`: a whole vector narrowed
/// in a register (the masked memory form of vpmovdb is slow on some CPUs), a tail under the mask.
__attribute__((target("avx512f,avx512bw"))) inline void store_codes16(__mmask16 k, void* p, __m512i v) {
    if (k == all16) _mm_storeu_si128(static_cast<__m128i*>(p), _mm512_maskz_cvtepi32_epi8(all16, v));
    else _mm512_mask_cvtepi32_storeu_epi8(p, k, v);
}

/// Pixels [p0, p1): each group of 16 channels across the pixels with its constants in registers.
__attribute__((target("avx512f,avx512bw"))) inline void block_avx512(const tfl_output& o, const int32_t* acc, const void* res, void* dst, std::size_t p0,
                                                                     std::size_t p1) {
    const std::size_t ch = o.channels;
    const __m512i zp = _mm512_set1_epi32(o.zp), lo = _mm512_set1_epi32(o.lo), hi = _mm512_set1_epi32(o.hi);
    const add16_consts ap = add16_of(o.ap);
    for (std::size_t c = 0; c < ch; c += 16) {
        const __mmask16 k = ch - c >= 16 ? all16 : __mmask16((1u << (ch - c)) - 1);
        const __m512i bias = _mm512_maskz_loadu_epi32(k, o.bias.data() + c);
        const mult16 mk = mult16_of(_mm512_maskz_loadu_epi32(k, o.m.data() + c), _mm512_maskz_loadu_epi32(k, o.right.data() + c));
        for (std::size_t p = p0; p < p1; ++p) {
            const std::size_t i = p * ch + c;
            const __m512i x = _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, acc + i), bias);
            __m512i q = clamp16(_mm512_add_epi32(scale16(x, mk), zp), lo, hi);
            if (o.add) q = add16(q, load_codes16(k, static_cast<const char*>(res) + i, o.res_signed), ap);
            store_codes16(k, static_cast<char*>(dst) + i, q);
        }
    }
}

}  // namespace qint8::kernels::tfl
