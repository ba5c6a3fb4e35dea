#pragma once
/// @file quantize_row.hpp  The inner loops of weight quantization, four values at a time with
/// SSE2 (part of every x86-64 CPU, so no dispatch and no target attribute): the largest |w| of
/// a channel, and round(w / s) or round(q * f) clamped to +-qmax. The division, which bounds
/// its loop, also runs eight at a time with AVX2 where the CPU has it (row_isa).
///
/// They give exactly what the scalar loops give (tests/test_quantize_row.cpp): the same IEEE
/// division or product, the same clamp, and cvtps2dq rounds in the current rounding mode, ties
/// to even by default, as std::nearbyint does. Clamping before rounding instead of after changes
/// nothing, since +-qmax are integers. The scalar loops were most of the time it took to load a
/// model on paths with 7-bit weights, which quantize each channel several times.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define QINT8_ROW_AVX2 1  // compiled with a target attribute, run where the CPU has AVX2
#else
#define QINT8_ROW_AVX2 0
#endif

namespace qint8::detail {

namespace scalar_row {

/// max(mx, largest |bits| of p[from..n)): the float's bit pattern with the sign cleared.
inline uint32_t abs_bits_max(const std::byte* p, std::size_t from, std::size_t n, uint32_t mx) {
    for (std::size_t i = from; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, p + i * sizeof u, sizeof u);
        mx = std::max(mx, u & 0x7fffffffu);
    }
    return mx;
}

inline void round_div(const std::byte* p, std::size_t from, std::size_t n, float s, int qmax, int8_t* out) {
    for (std::size_t i = from; i < n; ++i) {
        float v;
        std::memcpy(&v, p + i * sizeof v, sizeof v);
        out[i] = static_cast<int8_t>(std::min<float>(float(qmax), std::max<float>(-float(qmax), std::nearbyint(v / s))));
    }
}

inline void round_mul(const int8_t* q, std::size_t from, std::size_t n, float f, int qmax, int8_t* out) {
    for (std::size_t i = from; i < n; ++i)
        out[i] = static_cast<int8_t>(std::min<float>(float(qmax), std::max<float>(-float(qmax), std::nearbyint(float(q[i]) * f))));
}

}  // namespace scalar_row

#if defined(__SSE2__)
namespace sse2_row {

/// Clamps to +-qmax (NaN becomes -qmax, as in the scalar loop: max/min return their second
/// operand on NaN) and rounds to int32.
inline __m128i clamp_round(__m128 v, __m128 lo, __m128 hi) { return _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(v, lo), hi)); }

/// Packs 16 int32 (each within +-127) into 16 bytes.
inline void store16(int8_t* out, __m128i a, __m128i b, __m128i c, __m128i d) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
}

inline __m128 load4(const std::byte* p, std::size_t i) { return _mm_loadu_ps(reinterpret_cast<const float*>(p + i * sizeof(float))); }

/// The 16 bytes at q + i as four vectors of floats.
inline void widen16(const int8_t* q, std::size_t i, __m128 f[4]) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i));
    const __m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8), hi = _mm_srai_epi16(_mm_unpackhi_epi8(b, b), 8);
    f[0] = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpacklo_epi16(lo, lo), 16));
    f[1] = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpackhi_epi16(lo, lo), 16));
    f[2] = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpacklo_epi16(hi, hi), 16));
    f[3] = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpackhi_epi16(hi, hi), 16));
}

}  // namespace sse2_row
#endif

/// The instructions the division rows use: AVX2 where the CPU has it (asked once), else SSE2.
/// Dividing is what bounds round_div_f32: eight lanes per vdivps halve its time on a Zen 3 core
/// (0.14 against 0.27 ns a weight), and VGG16's f32 weights are divided twice on paths that
/// search 7-bit codes (about 70 ms of its load with SSE2).
enum class row_isa { sse2, avx2 };

inline row_isa best_row_isa() {
#if QINT8_ROW_AVX2
    static const bool avx2 = __builtin_cpu_supports("avx2");
    return avx2 ? row_isa::avx2 : row_isa::sse2;
#else
    return row_isa::sse2;
#endif
}

#if QINT8_ROW_AVX2
namespace avx2_row {

/// round_div_f32 for the first multiple of 32 values, 32 at a time with the SSE2 rows' operations
/// on eight lanes (the same IEEE division, clamp and cvtps2dq); returns how many it wrote.
__attribute__((target("avx2"))) inline std::size_t round_div(const std::byte* p, std::size_t n, float s, int qmax, int8_t* out) {
    const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-float(qmax)), hi = _mm256_set1_ps(float(qmax));
    const __m256i lanes = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // undoes the packs' per-128-bit interleave
    const float* f = reinterpret_cast<const float*>(p);  // p may be unaligned: loadu only
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q[4];
        for (int j = 0; j < 4; ++j)
            q[j] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_div_ps(_mm256_loadu_ps(f + i + 8 * j), vs), lo), hi));
        const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_permutevar8x32_epi32(b, lanes));
    }
    return i;
}

}  // namespace avx2_row
#endif

/// The largest |p[i]| of n floats, and whether all are finite, in one pass: a compilation that
/// quantizes a layer's f32 weights reads them here anyway, so validate_for_compile() leaves their
/// NaN and infinity check to this pass (one read of the weights less: 3.5 ms of ResNet50's load,
/// 18 ms of VGG16's on a Zen 5 core). Compared as integers: for non-negative floats the bit
/// patterns order as the values do, and NaN and infinity lie above every finite one (an
/// exponent of all ones). `isa` picks the vector rows (the tests run each).
struct checked_abs_max {
    float value = 0.f;   ///< max |p[i]|; meaningless where !finite
    bool finite = true;  ///< no NaN and no infinity among the n floats
};

#if QINT8_ROW_AVX2
namespace avx2_row {
/// The largest |bits| over the first multiple of 16 floats, in two independent chains.
__attribute__((target("avx2"))) inline uint32_t abs_bits_max(const std::byte* p, std::size_t n, std::size_t& i) {
    const __m256i mask = _mm256_set1_epi32(0x7fffffff);
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (; i + 16 <= n; i += 16) {
        a = _mm256_max_epu32(a, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * sizeof(float))), mask));
        b = _mm256_max_epu32(b, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + (i + 8) * sizeof(float))), mask));
    }
    alignas(32) uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_max_epu32(a, b));
    return *std::max_element(lanes, lanes + 8);
}
}  // namespace avx2_row
#endif

inline checked_abs_max abs_max_checked_f32(const std::byte* p, std::size_t n, row_isa isa = best_row_isa()) {
    std::size_t i = 0;
    uint32_t mx = 0;
#if QINT8_ROW_AVX2
    if (isa == row_isa::avx2) mx = avx2_row::abs_bits_max(p, n, i);
#else
    (void)isa;
#endif
#if defined(__SSE2__)
    // SSE2 has no 32-bit integer max: the signed compare finds the largest (the patterns are
    // non-negative once the sign is cleared) four lanes at a time.
    const __m128i mask = _mm_set1_epi32(0x7fffffff);
    __m128i acc = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) {
        const __m128i u = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i * sizeof(float))), mask);
        const __m128i gt = _mm_cmpgt_epi32(u, acc);
        acc = _mm_or_si128(_mm_and_si128(gt, u), _mm_andnot_si128(gt, acc));
    }
    alignas(16) uint32_t lanes[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), acc);
    mx = std::max(mx, *std::max_element(lanes, lanes + 4));
#endif
    mx = scalar_row::abs_bits_max(p, i, n, mx);
    checked_abs_max r;
    r.finite = mx < 0x7f800000u;
    std::memcpy(&r.value, &mx, sizeof mx);
    return r;
}

/// out[i] = clamp(nearbyint(p[i] / s), -qmax, qmax) for n floats at p (any alignment), qmax <= 127;
/// `isa` picks the vector rows (the tests run each).
inline void round_div_f32(const std::byte* p, std::size_t n, float s, int qmax, int8_t* out, row_isa isa = best_row_isa()) {
    std::size_t i = 0;
#if QINT8_ROW_AVX2
    if (isa == row_isa::avx2) i = avx2_row::round_div(p, n, s, qmax, out);
#else
    (void)isa;
#endif
#if defined(__SSE2__)
    const __m128 vs = _mm_set1_ps(s), lo = _mm_set1_ps(-float(qmax)), hi = _mm_set1_ps(float(qmax));
    using sse2_row::clamp_round, sse2_row::load4;
    for (; i + 16 <= n; i += 16)
        sse2_row::store16(out + i, clamp_round(_mm_div_ps(load4(p, i), vs), lo, hi), clamp_round(_mm_div_ps(load4(p, i + 4), vs), lo, hi),
                          clamp_round(_mm_div_ps(load4(p, i + 8), vs), lo, hi), clamp_round(_mm_div_ps(load4(p, i + 12), vs), lo, hi));
#endif
    scalar_row::round_div(p, i, n, s, qmax, out);
}

/// out[i] = clamp(nearbyint(float(q[i]) * f), -qmax, qmax) for n codes, qmax <= 127.
inline void round_mul_s8(const int8_t* q, std::size_t n, float f, int qmax, int8_t* out) {
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128 vf = _mm_set1_ps(f), lo = _mm_set1_ps(-float(qmax)), hi = _mm_set1_ps(float(qmax));
    using sse2_row::clamp_round;
    for (; i + 16 <= n; i += 16) {
        __m128 v[4];
        sse2_row::widen16(q, i, v);
        sse2_row::store16(out + i, clamp_round(_mm_mul_ps(v[0], vf), lo, hi), clamp_round(_mm_mul_ps(v[1], vf), lo, hi),
                          clamp_round(_mm_mul_ps(v[2], vf), lo, hi), clamp_round(_mm_mul_ps(v[3], vf), lo, hi));
    }
#endif
    scalar_row::round_mul(q, i, n, f, qmax, out);
}

}  // namespace qint8::detail
