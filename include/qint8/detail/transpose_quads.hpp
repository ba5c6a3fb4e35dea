#pragma once
/// @file transpose_quads.hpp  Four rows' 4-byte groups ("quads") interleaved: the step both
/// weight packings (qint8's 1x1 kernel, oneDNN's blocked layouts) take for four output channels.
///
/// Why: packed layouts put the same quad of neighbouring output channels side by side. Copied one
/// 4-byte quad at a time, that interleaving took a fifth of a compilation's time on layers with
/// large weights; four quads of four rows are one 4 x 4 transpose of int32 in SSE2 registers.

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace qint8::detail {

/// From four rows (row r at `src + r * stride`), quads 0 .. 3 (bytes 0 .. 15 of each row):
/// writes [row 0 quad i, row 1 quad i, row 2 quad i, row 3 quad i] (16 bytes) to dst[i].
inline void transpose_quads4(const int8_t* src, std::int64_t stride, int8_t* const dst[4]) {
#if defined(__SSE2__)
    const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + stride));
    const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * stride));
    const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 3 * stride));
    const __m128i a = _mm_unpacklo_epi32(r0, r1), c = _mm_unpacklo_epi32(r2, r3);  // quads 0, 1
    const __m128i d = _mm_unpackhi_epi32(r0, r1), e = _mm_unpackhi_epi32(r2, r3);  // quads 2, 3
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst[0]), _mm_unpacklo_epi64(a, c));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst[1]), _mm_unpackhi_epi64(a, c));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst[2]), _mm_unpacklo_epi64(d, e));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst[3]), _mm_unpackhi_epi64(d, e));
#else
    for (int i = 0; i < 4; ++i)
        for (int r = 0; r < 4; ++r) std::memcpy(dst[i] + 4 * r, src + r * stride + 4 * i, 4);
#endif
}

}  // namespace qint8::detail
