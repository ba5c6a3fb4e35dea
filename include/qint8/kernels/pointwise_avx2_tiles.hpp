#pragma once
/// @file pointwise_avx2_tiles.hpp  The AVX2 1x1 kernel for large weights (qint8_pw:avx2_tiles):
/// the arithmetic, packing and requantization of pointwise_avx2.hpp, in another loop order.
///
/// pointwise_avx2.hpp runs all of a pixel's output blocks before the next pixel, so it reads the
/// layer's whole weights per pixel: from the first-level cache while they fit beside the pixel,
/// from the second or third level beyond (MobileNet-V1's 512 -> 512 and 1024 -> 1024: 256 KiB
/// and 1 MiB per pixel), where the loads, not the multiplies, set its pace. Here a task is one
/// block of 32 output channels over a tile of pixels: the block's weights (k x 32 bytes, at most
/// 32 KiB) stay in the first-level cache for the whole tile, and two pixels share each weight
/// load (eight sums in registers). A tile holds the pixels whose input and output bytes fit
/// 128 KiB, so that it stays in the second-level cache while each block passes over it.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>

#include "qint8/kernels/parallel.hpp"
#include "qint8/kernels/pointwise_avx2.hpp"

#include <immintrin.h>

namespace qint8::kernels {

namespace pw_avx2_tiles {

/// Every quad (four input channels) of two pixels into their sums p and q, each weight vector
/// loaded once for both: `quads` steps from the block's weights w and the pixels' bytes x0, x1.
/// One asm loop, because GCC, given the same steps as intrinsics, kept one of the eight sums on
/// the stack (a store and a reload every quad) or shuffled registers between quads: eight sums,
/// two broadcasts, a weight, two products and the ones take 14 of the 16 registers.
__attribute__((target("avx2"), always_inline)) inline void quads_of_pair(__m256i (&p)[4], __m256i (&q)[4], const __m256i* w, const uint8_t* x0,
                                                                        const uint8_t* x1, int64_t quads) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t d = x1 - x0;
    __m256i b0, b1, wv, t0, t1;
#define QINT8_PW_TILES_STEP(V)                                 \
    "vmovdqu " #V "*32(%[w]), %[wv]\n\t"                       \
    "vpmaddubsw %[wv], %[b0], %[t0]\n\t"                      \
    "vpmaddubsw %[wv], %[b1], %[t1]\n\t"                      \
    "vpmaddwd %[ones], %[t0], %[t0]\n\t"                      \
    "vpmaddwd %[ones], %[t1], %[t1]\n\t"                      \
    "vpaddd %[t0], %[p" #V "], %[p" #V "]\n\t"                  \
    "vpaddd %[t1], %[q" #V "], %[q" #V "]\n\t"
    __asm__("1:\n\t"
            "vpbroadcastd (%[x0]), %[b0]\n\t"
            "vpbroadcastd (%[x0],%[d]), %[b1]\n\t"
            QINT8_PW_TILES_STEP(0) QINT8_PW_TILES_STEP(1) QINT8_PW_TILES_STEP(2) QINT8_PW_TILES_STEP(3)
            "add $4, %[x0]\n\t"
            "sub $-128, %[w]\n\t"
            "dec %[n]\n\t"
            "jnz 1b\n\t"
            : [p0] "+x"(p[0]), [p1] "+x"(p[1]), [p2] "+x"(p[2]), [p3] "+x"(p[3]), [q0] "+x"(q[0]), [q1] "+x"(q[1]), [q2] "+x"(q[2]),
              [q3] "+x"(q[3]), [b0] "=&x"(b0), [b1] "=&x"(b1), [wv] "=&x"(wv), [t0] "=&x"(t0), [t1] "=&x"(t1), [w] "+r"(w), [x0] "+r"(x0),
              [n] "+r"(quads)
            : [d] "r"(d), [ones] "x"(ones)
            : "memory", "cc");
#undef QINT8_PW_TILES_STEP
}

/// Block b of two pixels (k bytes each at x0 and x1) into out0 and out1 (their whole rows).
template <bool DstSigned>
__attribute__((target("avx2,fma"), always_inline)) inline void pixel_pair(const pw_problem& pr, const pw_packed& pk, const pw_avx2::requant& rq,
                                                                          int64_t b, const uint8_t* x0, const uint8_t* x1, uint8_t* out0,
                                                                          uint8_t* out1) {
    const int64_t quads = pk.quads;
    const __m256i* wb = reinterpret_cast<const __m256i*>(pk.w.data()) + b * quads * 4;
    const __m256i* a0 = reinterpret_cast<const __m256i*>(pk.acc0.data()) + b * 4;
    __m256i p[4], q[4];
    for (int v = 0; v < 4; ++v) p[v] = q[v] = _mm256_loadu_si256(a0 + v);
    quads_of_pair(p, q, wb, x0, x1, quads);  // quads >= 1: pw_supported has k > 0
    const int64_t first = b * pw_block;
    const int count = static_cast<int>(std::min<int64_t>(pw_block, pr.n - first));
    pw_avx2::requantize<DstSigned>(rq, p, pk.bias.data() + first, pk.scale.data() + first, out0 + first, count);
    pw_avx2::requantize<DstSigned>(rq, q, pk.bias.data() + first, pk.scale.data() + first, out1 + first, count);
}

/// Block b of `count` pixels from src into dst: pairs, then a last pixel alone.
template <bool DstSigned>
__attribute__((target("avx2,fma"))) inline void block_range(const pw_problem& pr, const pw_packed& pk, int64_t b, const uint8_t* src, uint8_t* dst,
                                                            int64_t count) {
    const pw_avx2::requant rq = pw_avx2::requant_of(pr, pk);
    int64_t p = 0;
    for (; p + 2 <= count; p += 2)
        pixel_pair<DstSigned>(pr, pk, rq, b, src + p * pr.k, src + (p + 1) * pr.k, dst + p * pr.n, dst + (p + 1) * pr.n);
    if (p < count) pw_avx2::block<0, DstSigned>(pr, pk, rq, b, src + p * pr.k, dst + p * pr.n);
}

/// Pixels per tile: as many as fit 128 KiB with their outputs (k + n bytes each: every block
/// passes over both), an even count, at least 2. Counting the inputs alone, MobileNet-V2's
/// 16 -> 96 took tiles of 8192 pixels whose 768 KiB of outputs left the second-level cache
/// between the blocks' passes.
inline int64_t tile_pixels(int64_t k, int64_t n) { return std::max<int64_t>(2, (128 * 1024 / (k + n)) & ~int64_t{1}); }

/// Pixels per tile for `threads` threads: tile_pixels on one thread; on two or more, at most
/// tile_pixels, tiles of equal size (to an even count) whose tasks (tiles x blocks) give each thread at
/// least two and the same number. The static schedule hands each thread a run of tasks, so a
/// short last tile or a task count that does not divide left one thread waiting: MobileNet-V2's
/// 14 x 14 96 -> 576 took a tile of 194 pixels and one of 2, and ran no faster on two threads
/// than on one. One block over a few pixels (a 1024 -> 32 layer at 7 x 7) gets smaller tiles.
inline int64_t tile_pixels_for(const pw_problem& pr, const pw_packed& pk, int threads) {
    const int64_t cap = tile_pixels(pr.k, pr.n);
    if (threads < 2) return cap;  // one thread: nothing to balance
    const int64_t t = threads, blocks = std::max<int64_t>(1, pk.blocks);
    int64_t tiles = std::max((pr.m + cap - 1) / cap, (2 * t + blocks - 1) / blocks);
    const int64_t step = t / std::gcd(t, blocks);  // tiles x blocks divides by t where step divides tiles
    tiles = (tiles + step - 1) / step * step;
    return std::max<int64_t>(2, ((pr.m + tiles - 1) / tiles + 1) & ~int64_t{1});
}

}  // namespace pw_avx2_tiles

/// Runs a plain 1x1 layer (pw_supported, no window) over `threads` OpenMP threads: tasks of one
/// block over one tile, tile by tile, so that threads share a tile's pixels and split its blocks.
inline void pointwise_avx2_tiles(const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    const int64_t per = pw_avx2_tiles::tile_pixels_for(pr, pk, threads), tiles = (pr.m + per - 1) / per, tasks = tiles * pk.blocks;
    parallel_for(threads, tasks, [&](int64_t t) {
        const int64_t tile = t / pk.blocks, b = t % pk.blocks, from = tile * per, count = std::min(per, pr.m - from);
        if (pr.dst_signed) pw_avx2_tiles::block_range<true>(pr, pk, b, src + from * pr.k, dst + from * pr.n, count);
        else pw_avx2_tiles::block_range<false>(pr, pk, b, src + from * pr.k, dst + from * pr.n, count);
    });
}

}  // namespace qint8::kernels
