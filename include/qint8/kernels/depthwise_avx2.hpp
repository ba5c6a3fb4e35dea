#pragma once
/// @file depthwise_avx2.hpp  INT8 depthwise convolution, AVX2 variant (see depthwise_common.hpp
/// for the numerics and the packed weights).
///
/// Sixteen channels per ymm: each pair of taps (t, t+1) of a channel is interleaved as int16 and
/// multiplied with vpmaddwd (exact int32 products and pair sums; no int16 saturation).
/// Compiled with a function-level target attribute, so callers' own flags need not enable
/// AVX2; call it only where the CPU has those features (kernels/depthwise.hpp checks).

#include <immintrin.h>

#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

namespace avx2_detail {

inline constexpr int block = 16;

template <bool Signed>
__attribute__((target("avx2"))) inline __m256i widen(const uint8_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return Signed ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v);
}

/// Sums of tap pairs for one block of one output pixel, in lo|hi channel order.
template <bool Signed>
__attribute__((target("avx2"), always_inline)) inline void accumulate(const uint8_t* const* taps, int pairs, int64_t off, const int16_t* w,
                                                        __m256i& lo, __m256i& hi) {
    lo = _mm256_setzero_si256();
    hi = _mm256_setzero_si256();
    for (int p = 0; p < pairs; ++p, w += 2 * block) {
        const __m256i a = widen<Signed>(taps[2 * p] + off), b = widen<Signed>(taps[2 * p + 1] + off);
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
        hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + block))));
    }
}

/// Requantizes one block's accumulators (lo|hi order) to bytes in channel order.
template <bool DstSigned>
__attribute__((target("avx2"))) inline __m128i requantize(__m256i lo, __m256i hi, const int32_t* comp, const float* bias, const float* scale,
                                                          __m256 vlo, __m256 vhi, __m256 zp) {
    constexpr int h = block / 2;
    lo = _mm256_sub_epi32(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(comp)));
    hi = _mm256_sub_epi32(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(comp + h)));
    __m256 flo = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(lo), _mm256_loadu_ps(bias)), _mm256_loadu_ps(scale));
    __m256 fhi = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(hi), _mm256_loadu_ps(bias + h)), _mm256_loadu_ps(scale + h));
    // Clamped to the destination range first, so the integer conversion cannot overflow and
    // nothing between the multiply and the zero point add can be fused into an FMA.
    flo = _mm256_add_ps(_mm256_min_ps(_mm256_max_ps(flo, vlo), vhi), zp);
    fhi = _mm256_add_ps(_mm256_min_ps(_mm256_max_ps(fhi, vlo), vhi), zp);
    const __m256i s16 = _mm256_packs_epi32(_mm256_cvtps_epi32(flo), _mm256_cvtps_epi32(fhi));  // 128-bit lanes interleave lo/hi back into channel order
    const __m256i s8 = DstSigned ? _mm256_packs_epi16(s16, s16) : _mm256_packus_epi16(s16, s16);
    // Each lane holds its 8 channels twice; take qwords 0 and 2.
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(s8, 0x08));
}

template <bool Signed, bool DstSigned>
__attribute__((target("avx2"))) inline void row(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t r) {
    // Everything the loops read is copied to locals first: the byte stores below may alias any
    // memory as far as the compiler knows, which would otherwise reload these per pixel.
    const int64_t C = pr.c, H = pr.h, W = pr.w, OW = pr.ow, oy = r % pr.oh;
    const int KH = pr.kh, KW = pr.kw, SW = pr.sw, pairs = pk.pairs, ntaps = 2 * pk.pairs;
    const int16_t* const wts = pk.w.data();
    const int32_t* const comp = pk.comp.data();
    const float* const bias = pk.bias.data();
    const float* const scale = pk.scale.data();
    const uint8_t* const zrow = pk.zp_row.data();
    const uint8_t* const in = src + (r / pr.oh) * H * W * C;
    uint8_t* out = dst + r * OW * C;
    const auto bounds = dw_bounds(pr);
    const __m256 vlo = _mm256_set1_ps(bounds[0]), vhi = _mm256_set1_ps(bounds[1]), zp = _mm256_set1_ps(static_cast<float>(pr.dst_zp));
    const int64_t full = C / block, rem = C % block;
    // Input rows of this output row (null where padded).
    const uint8_t* rows[dw_max_taps];
    for (int ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * pr.sh - pr.pt + ky;
        rows[ky] = iy >= 0 && iy < H ? in + iy * W * C : nullptr;
    }
    const uint8_t* taps[dw_max_taps + 1];
    const uint8_t* tail_taps[dw_max_taps + 1];
    alignas(64) uint8_t tail[dw_max_taps + 1][block];
    alignas(64) uint8_t tail_out[block];
    bool rows_valid = true;
    for (int ky = 0; ky < KH; ++ky) rows_valid = rows_valid && rows[ky];
    taps[ntaps - 1] = zrow;  // the pad tap of an odd count
    bool moved = false;      // taps[] holds the previous pixel's interior taps
    for (int64_t ox = 0; ox < OW; ++ox, out += C) {
        const int64_t ix0 = ox * SW - pr.pl;
        if (rows_valid && ix0 >= 0 && ix0 + KW <= W && moved) {
            // Interior pixels: every tap moves right by the stride.
            for (int k = 0; k < KH * KW; ++k) taps[k] += SW * C;
        } else {
            for (int ky = 0, k = 0; ky < KH; ++ky)
                for (int kx = 0; kx < KW; ++kx, ++k) {
                    const int64_t ix = ix0 + kx;
                    taps[k] = rows[ky] && ix >= 0 && ix < W ? rows[ky] + ix * C : zrow;
                }
            moved = rows_valid && ix0 >= 0 && ix0 + KW <= W;
        }
        __m256i lo, hi;
        for (int64_t b = 0; b < full; ++b) {
            const int64_t k = b * block;
            // 3x3 (five pairs) with a constant count, so the pair loop unrolls.
            if (pairs == 5) accumulate<Signed>(taps, 5, k, wts + b * 5 * 2 * block, lo, hi);
            else accumulate<Signed>(taps, pairs, k, wts + b * pairs * 2 * block, lo, hi);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), requantize<DstSigned>(lo, hi, comp + k, bias + k, scale + k, vlo, vhi, zp));
        }
        if (rem) {
            // Ragged last block: copy its channels next to zero-point bytes, so no load crosses the tensor.
            const int64_t k = full * block;
            for (int t = 0; t < ntaps; ++t) {
                std::memcpy(tail[t], zrow, block);
                std::memcpy(tail[t], taps[t] + k, static_cast<std::size_t>(rem));
                tail_taps[t] = tail[t];
            }
            accumulate<Signed>(tail_taps, pairs, 0, wts + full * pairs * 2 * block, lo, hi);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(tail_out), requantize<DstSigned>(lo, hi, comp + k, bias + k, scale + k, vlo, vhi, zp));
            std::memcpy(out + k, tail_out, static_cast<std::size_t>(rem));
        }
    }
}

}  // namespace avx2_detail

/// Runs the layer over all images: `src` n x h x w x c bytes, `dst` n x oh x ow x c bytes. `pk`
/// must be packed with block 16 (dw_pack(..., 16, ...)).
inline void depthwise_avx2(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    using namespace avx2_detail;
    void (*f)(const dw_problem&, const dw_packed&, const uint8_t*, uint8_t*, int64_t) =
        pr.src_signed ? (pr.dst_signed ? row<true, true> : row<true, false>) : (pr.dst_signed ? row<false, true> : row<false, false>);
    const int64_t rows = pr.n * pr.oh;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t r = 0; r < rows; ++r) f(pr, pk, src, dst, r);
}

}  // namespace qint8::kernels
