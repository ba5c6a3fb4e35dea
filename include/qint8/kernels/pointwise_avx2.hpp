#pragma once
/// @file pointwise_avx2.hpp  The AVX2 1x1 kernel (pointwise_common.hpp): per pixel, 32 output
/// channels at a time as four ymm of int32 sums, requantized in registers and written with one
/// 32-byte store.
///
/// Per group of four input channels it broadcasts the pixel's four bytes and multiplies them with
/// the block's four weight vectors: vpmaddubsw (u8 x s8 pairs into int16), vpmaddwd with ones
/// (pairs into int32), vpaddd: three instructions per 32 multiplications, the limit of AVX2.
/// One pixel at a time: two or three pixels sharing each weight load were 5-25% slower on Zen 3
/// (GCC spilled their 8 or 12 sums; the weights of a block are in the first-level cache anyway),
/// and the loop over input channels is unrolled for 16, 24, 28 (3x3 over RGB, gathered), 32 and 64
/// of them. A convolution with a window (pw_window) has each output row's windows gathered into a
/// per-thread buffer first (pointwise_gather.hpp). The requantization is the column depthwise
/// kernel's (depthwise_avx2_columns.hpp): the sums start at acc0 (bias - comp where the bias folds
/// exactly), v = float(acc) [+ bias] * os, [min(v, hi)], [+ zp], round-half-even conversion,
/// saturating packs, then the clamps as a byte max and a byte min. The packs' lane interleave is
/// undone by the weights' lane order (pw_lane_channel), so no permute runs. A residual sum
/// (pw_problem::sum) reads the destination's 32 bytes before the store, widens them to the same
/// lane order (dword v of each 16-byte half) and adds them with one fused multiply-add, as
/// oneDNN's sum post-op does, before the clamps.

#include <cstring>
#include <vector>

#include "qint8/kernels/parallel.hpp"
#include "qint8/kernels/pointwise_common.hpp"
#include "qint8/kernels/pointwise_gather.hpp"
#include "qint8/kernels/requant_avx2.hpp"
#include "qint8/kernels/unfused.hpp"

#include <immintrin.h>

namespace qint8::kernels {

namespace pw_avx2 {

/// The requantization constants that do not depend on the block, and the residual sum's.
struct requant : avx2_requant_consts {
    bool sum = false;
    __m256 sum_scale;
    __m256i sum_zp;
};

__attribute__((target("avx2,fma"))) inline requant requant_of(const pw_problem& pr, const pw_packed& pk) {
    requant rq;
    static_cast<avx2_requant_consts&>(rq) = avx2_requant_consts_of(pr, pk);
    rq.sum = pr.sum;
    rq.sum_scale = _mm256_set1_ps(pr.sum_scale);
    rq.sum_zp = _mm256_set1_epi32(pr.sum_zp);
    return rq;
}

/// The residual's `count` codes at `at` (the destination's, before the store) as four vectors of
/// float(r - zp) in the sums' lane order: vector v holds channels 4v..4v+3 and 16+4v..16+4v+3,
/// which are dword v of each 16-byte half.
template <bool Signed>
__attribute__((target("avx2,fma"), always_inline)) inline void residual(const requant& rq, const uint8_t* at, int count, __m256 (&r)[4]) {
    __m128i lo, hi;
    if (count == pw_block) {
        lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
        hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + 16));
    } else {  // the last block of a channel count that is no multiple of 32: read no further
        alignas(16) uint8_t tmp[pw_block] = {};
        std::memcpy(tmp, at, static_cast<std::size_t>(count));
        lo = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
        hi = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp + 16));
    }
    const __m128i v01 = _mm_unpacklo_epi32(lo, hi), v23 = _mm_unpackhi_epi32(lo, hi);
    const __m128i eight[4] = {v01, _mm_unpackhi_epi64(v01, v01), v23, _mm_unpackhi_epi64(v23, v23)};
    for (int v = 0; v < 4; ++v) {
        const __m256i x = Signed ? _mm256_cvtepi8_epi32(eight[v]) : _mm256_cvtepu8_epi32(eight[v]);
        r[v] = _mm256_cvtepi32_ps(_mm256_sub_epi32(x, rq.sum_zp));  // exact: |r - zp| <= 255
    }
}

/// One of the four vectors: float, bias, scale, residual, clamp, zero point, int32.
__attribute__((target("avx2,fma"), always_inline)) inline __m256i requant_one(const requant& rq, __m256i acc, const float* bias, const float* scale,
                                                                          const __m256& res) {
    __m256 f = _mm256_cvtepi32_ps(acc);
    if (rq.plan.add_bias) f = _mm256_add_ps(f, _mm256_loadu_ps(bias));
    f = unfused(_mm256_mul_ps(f, _mm256_loadu_ps(scale)));  // rounded before the zero point (unfused.hpp)
    if (rq.sum) f = _mm256_fmadd_ps(rq.sum_scale, res, f);  // one rounding, as oneDNN's sum post-op
    if (rq.plan.clamp_hi) f = _mm256_min_ps(f, rq.hi);
    if (rq.plan.add_zp) f = _mm256_add_ps(f, rq.zp);
    return _mm256_cvtps_epi32(f);
}

/// The 32 channels of one pixel from its four sums, into `out` (`count` bytes, at most 32), which
/// holds the residual's codes first where the layer sums one.
template <bool DstSigned>
__attribute__((target("avx2,fma"), always_inline)) inline void requantize(const requant& rq, const __m256i (&acc)[4], const float* bias,
                                                                          const float* scale, uint8_t* out, int count) {
    __m256 res[4] = {};
    if (rq.sum) residual<DstSigned>(rq, out, count, res);
    const __m256i s01 = _mm256_packs_epi32(requant_one(rq, acc[0], bias, scale, res[0]), requant_one(rq, acc[1], bias + 8, scale + 8, res[1]));
    const __m256i s23 = _mm256_packs_epi32(requant_one(rq, acc[2], bias + 16, scale + 16, res[2]), requant_one(rq, acc[3], bias + 24, scale + 24, res[3]));
    __m256i b = DstSigned ? _mm256_packs_epi16(s01, s23) : _mm256_packus_epi16(s01, s23);
    if (rq.plan.clamp_lo) b = DstSigned ? _mm256_max_epi8(b, rq.lo8) : _mm256_max_epu8(b, rq.lo8);
    if (rq.plan.clamp_top) b = DstSigned ? _mm256_min_epi8(b, rq.top8) : _mm256_min_epu8(b, rq.top8);
    if (count == pw_block) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), b);
    } else {  // the last block of a channel count that is no multiple of 32
        alignas(32) uint8_t tmp[pw_block];
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), b);
        std::memcpy(out, tmp, static_cast<std::size_t>(count));
    }
}

/// Block b (32 output channels) of one pixel (its k bytes at x) into out (the pixel's n bytes);
/// Quads: pk.quads where the caller knows it at compile time (0: read from pk).
template <int Quads, bool DstSigned>
__attribute__((target("avx2,fma"), always_inline)) inline void block(const pw_problem& pr, const pw_packed& pk, const requant& rq, int64_t b,
                                                                 const uint8_t* x, uint8_t* out) {
    const int64_t quads = Quads ? Quads : pk.quads;
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i* wb = reinterpret_cast<const __m256i*>(pk.w.data()) + b * quads * 4;
    const __m256i* a0 = reinterpret_cast<const __m256i*>(pk.acc0.data()) + b * 4;
    __m256i acc[4];
    for (int v = 0; v < 4; ++v) acc[v] = _mm256_loadu_si256(a0 + v);
    for (int64_t q = 0; q < quads; ++q, wb += 4) {
        int32_t four;
        std::memcpy(&four, x + q * 4, 4);
        const __m256i xb = _mm256_set1_epi32(four);
        for (int v = 0; v < 4; ++v) acc[v] = _mm256_add_epi32(acc[v], _mm256_madd_epi16(_mm256_maddubs_epi16(xb, _mm256_loadu_si256(wb + v)), ones));
        // Keeps each sum one chain of adds: GCC otherwise reassociates an unrolled loop's adds
        // into a tree whose many partial sums spill to the stack.
        __asm__("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
    }
    const int64_t first = b * pw_block;
    const int count = static_cast<int>(std::min<int64_t>(pw_block, pr.n - first));
    requantize<DstSigned>(rq, acc, pk.bias.data() + first, pk.scale.data() + first, out + first, count);
}

/// One pixel (its k bytes at x) into out (n bytes), every block of output channels.
template <int Quads, bool DstSigned>
__attribute__((target("avx2,fma"), always_inline)) inline void pixel(const pw_problem& pr, const pw_packed& pk, const requant& rq, const uint8_t* x,
                                                                 uint8_t* out) {
    for (int64_t b = 0; b < pk.blocks; ++b) block<Quads, DstSigned>(pr, pk, rq, b, x, out);
}

/// `count` pixels from src (k bytes each) into dst (n bytes each).
template <int Quads, bool DstSigned>
__attribute__((target("avx2,fma"))) inline void pixel_range(const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t count) {
    const requant rq = requant_of(pr, pk);
    for (int64_t p = 0; p < count; ++p) pixel<Quads, DstSigned>(pr, pk, rq, src + p * pr.k, dst + p * pr.n);
}

template <bool DstSigned>
__attribute__((target("avx2,fma"))) inline void pixel_range_of(const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t count) {
    switch (pk.quads) {
        case 4: return pixel_range<4, DstSigned>(pr, pk, src, dst, count);
        case 6: return pixel_range<6, DstSigned>(pr, pk, src, dst, count);
        case 7: return pixel_range<7, DstSigned>(pr, pk, src, dst, count);  // 3x3 over RGB, gathered
        case 8: return pixel_range<8, DstSigned>(pr, pk, src, dst, count);
        case 16: return pixel_range<16, DstSigned>(pr, pk, src, dst, count);
        default: return pixel_range<0, DstSigned>(pr, pk, src, dst, count);
    }
}

inline void run_pixels(const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t count) {
    if (pr.dst_signed) pixel_range_of<true>(pr, pk, src, dst, count);
    else pixel_range_of<false>(pr, pk, src, dst, count);
}

}  // namespace pw_avx2

/// Runs the layer (pw_supported must hold) over `threads` OpenMP threads: pixels split evenly,
/// or with a window, output rows, each gathered into a buffer of the thread's first.
inline void pointwise_avx2(const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    if (!pr.window.on) {
        const int64_t tiles = (pr.m + 47) / 48;  // 48 pixels per task
        parallel_for(threads, tiles, [&](int64_t t) {
            const int64_t from = t * 48;
            pw_avx2::run_pixels(pr, pk, src + from * pr.k, dst + from * pr.n, std::min<int64_t>(48, pr.m - from));
        });
        return;
    }
    const pw_window& w = pr.window;
    const int64_t rows = w.batch * w.oh, src_bytes = w.batch * w.h * w.w * w.c;
    parallel_for(threads, rows, [&](int64_t r) {
        // The buffer stays with the thread: no allocation per run once it has grown.
        static thread_local std::vector<uint8_t> buf;
        buf.resize(static_cast<std::size_t>(w.ow * pr.k + pw_gather_slack));
        pw_gather_row(w, pr.k, static_cast<uint8_t>(pr.src_zp), src, src_bytes, r, buf.data());
        pw_avx2::run_pixels(pr, pk, buf.data(), dst + r * w.ow * pr.n, w.ow);
    });
}

}  // namespace qint8::kernels
