#pragma once
/// @file tflite_requantize.hpp  The output stage of a conv / depthwise / fc layer of a TFLite
/// file (model_desc::arithmetic::tflite): int32 accumulators (NHWC, from oneDNN with an s32
/// destination and no scales, or from exact_conv.hpp) to 8-bit codes with TFLite's fixed-point
/// requantization, optionally followed by TFLite's ADD with a residual (a fused residual block).
/// A scalar version and an AVX2 one (8 channels per vector; tflite_requantize_avx512.hpp has 16,
/// tflite_output.hpp picks one); the tests hold them all to the naive
/// reference's TFLite mode (ref/tflite_ops.hpp) bit for bit.
///
/// Arithmetic per element, with M = m * 2^(left - right) (m a Q31 significand):
///   x = sat32(acc + bias[c]) << left[c]               (saturated)
///   y = floor((int64(x) * m[c] + 2^30) / 2^31)         the rounding doubling high multiply: a tie goes up
///   y = floor(y / 2^right[c]) + (remainder > half)     ties away from zero
///   q = clamp(y + zp, lo, hi)
/// Bounds: m < 2^31 and |x| < 2^31 keep |x * m| below 2^62 in int64. The vector versions also
/// need |acc + bias| + 2^(right - 1) < 2^31 and no left shifts (vector_safe(); the compiler checks
/// it per layer: tfl_output::vector_ok).

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

namespace qint8::kernels {

/// A real multiplier as TFLite holds it: a Q31 significand `m` (0 for zero), a left shift applied
/// before the multiply and a right shift after it (one of them is 0).
struct tfl_mult {
    int32_t m = 0;
    int left = 0, right = 0;
};

/// The ADD of a fused residual block: TFLite's ADD of the branch's code (zp_a) and the residual's
/// code (zp_b), both moved left by 20 bits and scaled by `a` and `b`, the sum scaled by `out`.
struct tfl_add_params {
    tfl_mult a, b, out;
    int32_t zp_a = 0, zp_b = 0, zp_out = 0, lo = 0, hi = 255;
};

/// One layer's output stage.
struct tfl_output {
    std::size_t channels = 0;
    std::vector<int32_t> bias, m, left, right;  ///< per channel
    int32_t zp = 0, lo = 0, hi = 255;           ///< the code before the ADD (or the stored one)
    bool dst_signed = false;
    bool add = false;  ///< then `residual` is read and tfl_add_params applied
    tfl_add_params ap;
    bool res_signed = false;
    bool vector_ok = false;  ///< the vector versions' bounds hold (vector_safe(); set by the compiler)
};

namespace tfl {

inline int32_t sat32(int64_t v) {
    return static_cast<int32_t>(std::min<int64_t>(std::numeric_limits<int32_t>::max(), std::max<int64_t>(std::numeric_limits<int32_t>::min(), v)));
}

/// x * M in TFLite's fixed point (see the file comment).
inline int32_t scale(int32_t x, int32_t m, int left, int right) {
    const int32_t xs = sat32(int64_t(x) * (int64_t{1} << left));
    const int64_t p = int64_t(xs) * int64_t(m) + (int64_t{1} << 30);
    const int32_t y = static_cast<int32_t>(p >> 31);  // floor: p >> 31 is an arithmetic shift
    const int32_t mask = static_cast<int32_t>((int64_t{1} << right) - 1);
    const int32_t rem = y & mask, half = (mask >> 1) + (y < 0 ? 1 : 0);
    return (y >> right) + (rem > half ? 1 : 0);
}

inline int32_t scale(int32_t x, const tfl_mult& k) { return scale(x, k.m, k.left, k.right); }

inline int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return std::min(hi, std::max(lo, v)); }

/// TFLite's ADD of code `q` (the branch's) and `r` (the residual's).
inline int32_t add(int32_t q, int32_t r, const tfl_add_params& p) {
    const int32_t a = scale((q - p.zp_a) * (1 << 20), p.a), b = scale((r - p.zp_b) * (1 << 20), p.b);
    return clamp(scale(a + b, p.out) + p.zp_out, p.lo, p.hi);
}

/// Element `c` of one pixel.
inline int32_t element(const tfl_output& o, std::size_t c, int32_t acc, int32_t residual) {
    const int32_t x = sat32(int64_t(acc) + o.bias[c]);
    const int32_t q = clamp(scale(x, o.m[c], o.left[c], o.right[c]) + o.zp, o.lo, o.hi);
    return o.add ? add(q, residual, o.ap) : q;
}

inline int32_t code_at(const void* p, std::size_t i, bool is_signed) {
    return is_signed ? int32_t(static_cast<const int8_t*>(p)[i]) : int32_t(static_cast<const uint8_t*>(p)[i]);
}

/// Channels [c0, channels) of one pixel, one at a time.
inline void pixel_scalar(const tfl_output& o, const int32_t* acc, const void* res, void* dst, std::size_t base, std::size_t c0) {
    for (std::size_t c = c0; c < o.channels; ++c) {
        const int32_t v = element(o, c, acc[base + c], o.add ? code_at(res, base + c, o.res_signed) : 0);
        if (o.dst_signed) static_cast<int8_t*>(dst)[base + c] = static_cast<int8_t>(v);
        else static_cast<uint8_t*>(dst)[base + c] = static_cast<uint8_t>(v);
    }
}

// ---- AVX2: 8 channels per vector ----
//
// The vector versions hold each multiplier's constants in registers (mult8) and round y / 2^e
// half away from zero in one shift: (y + 2^(e-1) - (y < 0)) >> e, arithmetic, for e > 0. That is
// scale()'s remainder test: for y >= 0 it rounds up exactly when rem >= 2^(e-1); for y < 0 the
// extra -1 makes a tie (rem == 2^(e-1)) round down, away from zero. |y| <= |x| (m < 2^31), so the
// sum stays in int32 where |x| + 2^(e-1) < 2^31 and e <= 31 (vector_safe() below).

/// A multiplier's constants for 8 lanes: m in the even lanes' low halves and moved there from the
/// odd lanes (for vpmuldq), the right shift e, the nudge 2^(e-1) (0 for e = 0) and, per lane,
/// all ones where e > 0 (the sign correction applies).
struct mult8 {
    __m256i m, m_odd, e, nudge, rounds;
};

__attribute__((target("avx2"))) inline mult8 mult8_of(__m256i m, __m256i e) {
    const __m256i one = _mm256_set1_epi32(1);
    return {m, _mm256_srli_epi64(m, 32), e, _mm256_srli_epi32(_mm256_sllv_epi32(one, e), 1), _mm256_cmpgt_epi32(e, _mm256_setzero_si256())};
}

__attribute__((target("avx2"))) inline mult8 mult8_of(const tfl_mult& k) { return mult8_of(_mm256_set1_epi32(k.m), _mm256_set1_epi32(k.right)); }

/// floor((x * m + 2^30) / 2^31) in each int32 lane: even lanes by vpmuldq, odd lanes moved down
/// first; the low 32 bits of each 64-bit result are bits 31..62 of the sum.
__attribute__((target("avx2"))) inline __m256i high_mul(__m256i x, const mult8& k) {
    const __m256i half = _mm256_set1_epi64x(int64_t{1} << 30);
    const __m256i even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, k.m), half), 31);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), k.m_odd), half);
    return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 1), 0xAA);
}

/// x * M: the high multiply, then y / 2^e rounded half away from zero.
__attribute__((target("avx2"))) inline __m256i scale8(__m256i x, const mult8& k) {
    const __m256i y = high_mul(x, k);
    const __m256i t = _mm256_add_epi32(_mm256_add_epi32(y, k.nudge), _mm256_and_si256(_mm256_srai_epi32(y, 31), k.rounds));
    return _mm256_srav_epi32(t, k.e);
}

__attribute__((target("avx2"))) inline __m256i clamp8(__m256i v, __m256i lo, __m256i hi) { return _mm256_min_epi32(_mm256_max_epi32(v, lo), hi); }

__attribute__((target("avx2"))) inline __m256i load_codes(const void* p, bool is_signed) {
    const __m128i b = _mm_loadl_epi64(static_cast<const __m128i*>(p));
    return is_signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

/// Stores 8 codes already clamped to the type's range.
__attribute__((target("avx2"))) inline void store_codes(void* p, __m256i v, bool is_signed) {
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(static_cast<__m128i*>(p), is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
}

/// TFLite's ADD with its constants in registers.
struct add8_consts {
    mult8 a, b, out;
    __m256i zp_a, zp_b, zp_out, lo, hi;
};

__attribute__((target("avx2"))) inline add8_consts add8_of(const tfl_add_params& p) {
    return {mult8_of(p.a), mult8_of(p.b), mult8_of(p.out), _mm256_set1_epi32(p.zp_a), _mm256_set1_epi32(p.zp_b), _mm256_set1_epi32(p.zp_out),
            _mm256_set1_epi32(p.lo), _mm256_set1_epi32(p.hi)};
}

/// TFLite's ADD of codes q (the branch's) and r (the residual's): each (v - zp) << 20, scaled.
__attribute__((target("avx2"))) inline __m256i add8(__m256i q, __m256i r, const add8_consts& p) {
    const __m256i a = scale8(_mm256_slli_epi32(_mm256_sub_epi32(q, p.zp_a), 20), p.a);
    const __m256i b = scale8(_mm256_slli_epi32(_mm256_sub_epi32(r, p.zp_b), 20), p.b);
    return clamp8(_mm256_add_epi32(scale8(_mm256_add_epi32(a, b), p.out), p.zp_out), p.lo, p.hi);
}

/// Pixels [p0, p1): each group of 8 channels across the pixels with its constants in registers,
/// the channel tail by pixel_scalar.
__attribute__((target("avx2"))) inline void block_avx2(const tfl_output& o, const int32_t* acc, const void* res, void* dst, std::size_t p0, std::size_t p1) {
    const std::size_t ch = o.channels, full = ch / 8 * 8;
    const __m256i zp = _mm256_set1_epi32(o.zp), lo = _mm256_set1_epi32(o.lo), hi = _mm256_set1_epi32(o.hi);
    const add8_consts ap = add8_of(o.ap);
    for (std::size_t c = 0; c < full; c += 8) {
        const __m256i bias = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o.bias.data() + c));
        const mult8 k = mult8_of(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(o.m.data() + c)),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o.right.data() + c)));
        for (std::size_t p = p0; p < p1; ++p) {
            const std::size_t i = p * ch + c;
            const __m256i x = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + i)), bias);
            __m256i q = clamp8(_mm256_add_epi32(scale8(x, k), zp), lo, hi);
            if (o.add) q = add8(q, load_codes(static_cast<const char*>(res) + i, o.res_signed), ap);
            store_codes(static_cast<char*>(dst) + i, q, o.dst_signed);
        }
    }
    if (full < ch)
        for (std::size_t p = p0; p < p1; ++p) pixel_scalar(o, acc, res, dst, p * ch, full);
}

}  // namespace tfl

/// The widest version a CPU runs.
enum class tfl_isa { scalar, avx2, avx512 };

/// May the vector versions run `o`, whose |acc| stays within max_abs_acc[c] per channel? They
/// take no left shifts, right shifts up to 31, and need |acc + bias| + 2^(right - 1) < 2^31 (the
/// rounding's sum, see the AVX2 section). The ADD's inputs are codes moved left by 20 bits
/// (below 2^28 in size) and their sum below 2^29, so its shifts only need to be at most 31.
inline bool vector_safe(const tfl_output& o, const std::vector<int64_t>& max_abs_acc) {
    const auto fits = [](const tfl_mult& k) { return k.left == 0 && k.right >= 0 && k.right <= 31; };
    if (o.add && !(fits(o.ap.a) && fits(o.ap.b) && fits(o.ap.out))) return false;
    if (max_abs_acc.size() != o.channels) return false;
    for (std::size_t c = 0; c < o.channels; ++c) {
        if (!fits({o.m[c], o.left[c], o.right[c]}) || o.m[c] < 0) return false;
        const int64_t nudge = o.right[c] > 0 ? int64_t{1} << (o.right[c] - 1) : 0;
        if (max_abs_acc[c] + std::abs(int64_t(o.bias[c])) + nudge >= (int64_t{1} << 31)) return false;
    }
    return true;
}

}  // namespace qint8::kernels
