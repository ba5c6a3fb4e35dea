#pragma once
/// @file pointwise_avx512vnni.hpp  The 1x1 kernel on AVX-512 VNNI (qint8_pw:avx512vnni): the tile
/// variant's loop order (pointwise_avx2_tiles.hpp) with vpdpbusd, for the VNNI and AMX paths;
/// also over a model's first layer's gathered windows (pw_window), row by row.
///
/// vpdpbusd adds four u8 x s8 products into an int32 lane exactly, so the weights keep their
/// full 8-bit range (pw_pack with `dot`: no pair needs to fit int16) and one instruction does
/// what vpmaddubsw, vpmaddwd and vpaddd do on AVX2. The packed weights are the AVX2 variants'
/// (one quad of a 32-channel block is 128 bytes: vectors 0-1 and 2-3 are one zmm each), so a
/// block's sums for one pixel are two zmm. A task is one block over a tile of pixels; eight
/// pixels share each weight load (sixteen sums in registers, one asm loop so that none spills).
/// An s8 source is read as u8 (x ^ 0x80) with its zero point moved by 128 (pw_pack's src_zp).
///
/// The requantization is the AVX2 kernel's step for step at twice the width (float conversion,
/// bias, scale, residual with one fused multiply-add, upper clamp, zero point, round-half-even
/// conversion), then saturating int32 -> int16 (vpmovsdw) and int16 -> 8-bit packs, which give
/// the same bytes as the AVX2 kernel's two packs; one vpermd puts the 32 channels in order. The
/// common form (the bias folded into the sums, no upper float clamp) runs without a test per
/// step (requantize_fast).
///
/// Weights of at most 16 channels are packed narrow (pw_packed::narrow): one zmm of sums a pixel
/// in channel order, sixteen pixels a weight load, and int32 -> int16 -> 8-bit conversions as
/// above (vpmovsdb, the direct one, made MobileNet-V2's 32 -> 16 1.3x slower on a Zen 5 core).

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "qint8/kernels/pointwise_avx2_tiles.hpp"
#include "qint8/kernels/pointwise_common.hpp"
#include "qint8/kernels/pointwise_gather.hpp"
#include "qint8/kernels/unfused.hpp"

#include <immintrin.h>

#define QINT8_PW_VNNI_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define QINT8_PW_VNNI_INLINE __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"), always_inline))

namespace qint8::kernels {

namespace pw_vnni {

/// Every lane: the zero-masked forms of the conversions, because GCC 12 warns on the unmasked
/// ones' undefined start (as depthwise_avx512vnni_quads.hpp).
constexpr __mmask16 all = 0xFFFF;

/// The requantization constants of a layer, broadcast once.
struct requant {
    __m512 hi, zp, sum_scale;
    __m512i sum_zp;
    __m256i lo8, top8;  ///< the byte clamps, or the type's ends where the plan has none (a max and min that change nothing)
    dw_requant_plan plan;
    bool sum = false;
    /// No bias to add (it folded into the sums) and no upper float clamp: the form of most layers,
    /// requantized by requantize_fast without a test per step.
    bool fast = false;
};

QINT8_PW_VNNI_TARGET inline requant requant_of(const pw_problem& pr, const pw_packed& pk) {
    requant rq;
    rq.plan = dw_requant_plan_of(pr, pk);
    rq.hi = _mm512_set1_ps(rq.plan.hi);
    rq.zp = _mm512_set1_ps(rq.plan.zp);
    rq.sum = pr.sum;
    rq.sum_scale = _mm512_set1_ps(pr.sum_scale);
    rq.sum_zp = _mm512_set1_epi32(pr.sum_zp);
    rq.lo8 = _mm256_set1_epi8(rq.plan.clamp_lo ? rq.plan.lo_byte : static_cast<char>(pr.dst_signed ? -128 : 0));
    rq.top8 = _mm256_set1_epi8(rq.plan.clamp_top ? rq.plan.top_byte : static_cast<char>(pr.dst_signed ? 127 : 255));
    rq.fast = !rq.plan.add_bias && !rq.plan.clamp_hi;
    return rq;
}

/// Every quad of eight pixels (x, x + d, ..., x + 7d) for one block: sums that start at `init`
/// (the block's 32 acc0 values), each weight zmm loaded once for all eight pixels, written to
/// `sums` ([8 pixels][32 lanes]) at the end. One asm loop on named registers: sixteen sums
/// (zmm0-15), two weights, a broadcast and the flip mask, 20 of the 32 registers, so that none
/// spills (GCC kept array sums on the stack, pointwise_avx2_tiles.hpp; and an asm statement may
/// not name 16 read-write vectors). Volatile: its results go through memory, and GCC drops an
/// asm statement whose outputs are unused. quads >= 1.
#define QINT8_PW_VNNI_STEP(A, B, ADDR, FLIP) \
    "vpbroadcastd " ADDR ", %%zmm18\n\t" FLIP "vpdpbusd %%zmm16, %%zmm18, %%" A "\n\t" "vpdpbusd %%zmm17, %%zmm18, %%" B "\n\t"
#define QINT8_PW_VNNI_LOOP(FLIP)                                                                                                                 \
    __asm__ volatile("vmovdqu64 (%[init]), %%zmm0\n\t"                                                                                                  \
            "vmovdqu64 64(%[init]), %%zmm8\n\t"                                                                                                  \
            "vmovdqa64 %%zmm0, %%zmm1\n\t" "vmovdqa64 %%zmm0, %%zmm2\n\t" "vmovdqa64 %%zmm0, %%zmm3\n\t" "vmovdqa64 %%zmm0, %%zmm4\n\t"         \
            "vmovdqa64 %%zmm0, %%zmm5\n\t" "vmovdqa64 %%zmm0, %%zmm6\n\t" "vmovdqa64 %%zmm0, %%zmm7\n\t"                                     \
            "vmovdqa64 %%zmm8, %%zmm9\n\t" "vmovdqa64 %%zmm8, %%zmm10\n\t" "vmovdqa64 %%zmm8, %%zmm11\n\t" "vmovdqa64 %%zmm8, %%zmm12\n\t"     \
            "vmovdqa64 %%zmm8, %%zmm13\n\t" "vmovdqa64 %%zmm8, %%zmm14\n\t" "vmovdqa64 %%zmm8, %%zmm15\n\t"                                  \
            "1:\n\t"                                                                                                                             \
            "vmovdqu64 (%[w]), %%zmm16\n\t"                                                                                                      \
            "vmovdqu64 64(%[w]), %%zmm17\n\t"                                                                                                    \
            QINT8_PW_VNNI_STEP("zmm0", "zmm8", "(%[x])", FLIP) QINT8_PW_VNNI_STEP("zmm1", "zmm9", "(%[x],%[d])", FLIP)                           \
            QINT8_PW_VNNI_STEP("zmm2", "zmm10", "(%[x],%[d],2)", FLIP) QINT8_PW_VNNI_STEP("zmm3", "zmm11", "(%[x],%[d3])", FLIP)                 \
            QINT8_PW_VNNI_STEP("zmm4", "zmm12", "(%[x4])", FLIP) QINT8_PW_VNNI_STEP("zmm5", "zmm13", "(%[x4],%[d])", FLIP)                       \
            QINT8_PW_VNNI_STEP("zmm6", "zmm14", "(%[x4],%[d],2)", FLIP) QINT8_PW_VNNI_STEP("zmm7", "zmm15", "(%[x4],%[d3])", FLIP)               \
            "add $4, %[x]\n\t"                                                                                                                  \
            "add $4, %[x4]\n\t"                                                                                                                 \
            "sub $-128, %[w]\n\t"                                                                                                               \
            "dec %[n]\n\t"                                                                                                                      \
            "jnz 1b\n\t"                                                                                                                        \
            "vmovdqu64 %%zmm0, 0*128(%[out])\n\t" "vmovdqu64 %%zmm8, 0*128+64(%[out])\n\t"                                                  \
            "vmovdqu64 %%zmm1, 1*128(%[out])\n\t" "vmovdqu64 %%zmm9, 1*128+64(%[out])\n\t"                                                  \
            "vmovdqu64 %%zmm2, 2*128(%[out])\n\t" "vmovdqu64 %%zmm10, 2*128+64(%[out])\n\t"                                                 \
            "vmovdqu64 %%zmm3, 3*128(%[out])\n\t" "vmovdqu64 %%zmm11, 3*128+64(%[out])\n\t"                                                 \
            "vmovdqu64 %%zmm4, 4*128(%[out])\n\t" "vmovdqu64 %%zmm12, 4*128+64(%[out])\n\t"                                                 \
            "vmovdqu64 %%zmm5, 5*128(%[out])\n\t" "vmovdqu64 %%zmm13, 5*128+64(%[out])\n\t"                                                 \
            "vmovdqu64 %%zmm6, 6*128(%[out])\n\t" "vmovdqu64 %%zmm14, 6*128+64(%[out])\n\t"                                                 \
            "vmovdqu64 %%zmm7, 7*128(%[out])\n\t" "vmovdqu64 %%zmm15, 7*128+64(%[out])\n\t"                                                 \
            : [w] "+r"(w), [x] "+r"(x), [x4] "+r"(x4), [n] "+r"(quads)                                                                       \
            : [d] "r"(d), [d3] "r"(d3), [init] "r"(init), [out] "r"(sums), [flip] "v"(flip)                                                  \
            : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",      \
              "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18")
template <bool SrcSigned>
QINT8_PW_VNNI_INLINE inline void quads_of_eight(int32_t* sums, const int32_t* init, const int8_t* w, const uint8_t* x, int64_t d, int64_t quads) {
    const uint8_t* x4 = x + 4 * d;
    const int64_t d3 = 3 * d;
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    if constexpr (SrcSigned) QINT8_PW_VNNI_LOOP("vpxord %[flip], %%zmm18, %%zmm18\n\t");
    else QINT8_PW_VNNI_LOOP("");
}
#undef QINT8_PW_VNNI_LOOP
#undef QINT8_PW_VNNI_STEP

/// One pixel's sums (the tail of a tile), with intrinsics: two sums do not spill.
template <bool SrcSigned>
QINT8_PW_VNNI_INLINE inline void quads_of_one(__m512i& a, __m512i& b, const int8_t* w, const uint8_t* x, int64_t quads) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t q = 0; q < quads; ++q, w += 128) {
        int32_t four;
        std::memcpy(&four, x + q * 4, 4);
        __m512i t = _mm512_set1_epi32(four);
        if (SrcSigned) t = _mm512_xor_si512(t, flip);
        a = _mm512_dpbusd_epi32(a, t, _mm512_loadu_si512(w));
        b = _mm512_dpbusd_epi32(b, t, _mm512_loadu_si512(w + 64));
    }
}

/// The first `count` of a block's 32 channels as a byte mask.
inline __mmask32 first_lanes(int count) { return static_cast<__mmask32>((uint64_t{1} << count) - 1); }

/// The residual's `count` codes at `at` as float(r - zp) in the sums' lane order: a holds
/// channels 0-3, 16-19, 4-7, 20-23 (dwords 0, 4, 1, 5 of the 32 bytes), b dwords 2, 6, 3, 7.
template <bool Signed>
QINT8_PW_VNNI_INLINE inline void residual(const requant& rq, const uint8_t* at, int count, __m512& ra, __m512& rb) {
    const __m256i raw = count == pw_block ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at))
                                          : _mm256_maskz_loadu_epi8(first_lanes(count), at);  // reads no further
    const __m256i r = _mm256_permutevar8x32_epi32(raw, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    const __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
    const __m512i xa = Signed ? _mm512_maskz_cvtepi8_epi32(all, lo) : _mm512_maskz_cvtepu8_epi32(all, lo);
    const __m512i xb = Signed ? _mm512_maskz_cvtepi8_epi32(all, hi) : _mm512_maskz_cvtepu8_epi32(all, hi);
    ra = _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(xa, rq.sum_zp));  // exact: |r - zp| <= 255
    rb = _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(xb, rq.sum_zp));
}

/// One zmm of sums to int32 codes: float, bias, scale, residual, upper clamp, zero point,
/// round-half-even conversion (the AVX2 kernel's requant_one).
QINT8_PW_VNNI_INLINE inline __m512i requant_one(const requant& rq, __m512i acc, const float* bias, const float* scale, __m512 res) {
    __m512 f = _mm512_maskz_cvtepi32_ps(all, acc);
    if (rq.plan.add_bias) f = _mm512_add_ps(f, _mm512_loadu_ps(bias));
    f = unfused(_mm512_mul_ps(f, _mm512_loadu_ps(scale)));  // rounded before the zero point (unfused.hpp)
    if (rq.sum) f = _mm512_fmadd_ps(rq.sum_scale, res, f);  // one rounding, as oneDNN's sum post-op
    if (rq.plan.clamp_hi) f = _mm512_maskz_min_ps(all, f, rq.hi);
    if (rq.plan.add_zp) f = _mm512_add_ps(f, rq.zp);
    return _mm512_maskz_cvtps_epi32(all, f);
}

/// Two zmm of int32 codes (lanes as the sums') to 32 bytes in channel order at `out` (`count` of
/// them): int16 halves, a giving channels 0-3 16-19 4-7 20-23 and b 8-11 24-27 12-15 28-31; the
/// 8-bit packs interleave them per 128-bit lane into dwords of channels 0 16 8 24 4 20 12 28
/// (x4), which one vpermd orders; then both byte clamps.
template <bool DstSigned>
QINT8_PW_VNNI_INLINE inline void pack_store(const requant& rq, __m512i qa, __m512i qb, uint8_t* out, int count) {
    const __m256i sa = _mm512_maskz_cvtsepi32_epi16(all, qa), sb = _mm512_maskz_cvtsepi32_epi16(all, qb);
    __m256i v = DstSigned ? _mm256_packs_epi16(sa, sb) : _mm256_packus_epi16(sa, sb);
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 2, 6, 1, 5, 3, 7));
    v = DstSigned ? _mm256_max_epi8(v, rq.lo8) : _mm256_max_epu8(v, rq.lo8);
    v = DstSigned ? _mm256_min_epi8(v, rq.top8) : _mm256_min_epu8(v, rq.top8);
    if (count == pw_block) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
    else _mm256_mask_storeu_epi8(out, first_lanes(count), v);  // the last block of n % 32 channels
}

/// The 32 channels of one pixel from its sums a and b into `out` (`count` bytes, at most 32);
/// where the layer sums a residual, its codes are at `res` (`res_count` of them: the count, or
/// a whole block where requantize_pixels staged them).
template <bool DstSigned>
QINT8_PW_VNNI_INLINE inline void requantize(const requant& rq, __m512i a, __m512i b, const float* bias, const float* scale, uint8_t* out, int count,
                                            const uint8_t* res, int res_count) {
    __m512 ra = _mm512_setzero_ps(), rb = _mm512_setzero_ps();
    if (rq.sum) residual<DstSigned>(rq, res, res_count, ra, rb);
    pack_store<DstSigned>(rq, requant_one(rq, a, bias, scale, ra), requant_one(rq, b, bias + 16, scale + 16, rb), out, count);
}

/// requantize for the fast form (requant::fast): float conversion, scale, [residual], [zero
/// point], rounding conversion, the packs, and both byte clamps (at the type's ends where the plan
/// has none): the same bytes in about half the instructions of requantize's tested steps, which
/// took most of the time of layers with few input channels (MobileNet-V2's 16 -> 96: 57% of its
/// samples).
template <bool DstSigned, bool AddZp, bool Sum>
QINT8_PW_VNNI_INLINE inline void requantize_fast(const requant& rq, __m512i a, __m512i b, const float* scale, uint8_t* out, int count,
                                                 const uint8_t* res, int res_count) {
    __m512 fa = unfused(_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, a), _mm512_loadu_ps(scale)));  // rounded before the zero point
    __m512 fb = unfused(_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, b), _mm512_loadu_ps(scale + 16)));
    if (Sum) {
        __m512 ra, rb;
        residual<DstSigned>(rq, res, res_count, ra, rb);
        fa = _mm512_fmadd_ps(rq.sum_scale, ra, fa);  // one rounding, as oneDNN's sum post-op
        fb = _mm512_fmadd_ps(rq.sum_scale, rb, fb);
    }
    if (AddZp) fa = _mm512_add_ps(fa, rq.zp), fb = _mm512_add_ps(fb, rq.zp);
    pack_store<DstSigned>(rq, _mm512_maskz_cvtps_epi32(all, fa), _mm512_maskz_cvtps_epi32(all, fb), out, count);
}

/// The residual codes of `px` pixels (`count` of each at out, out + stride, ...) copied into
/// `staged` ([px][32], zeros beyond count), all read before any pixel is written. With fewer
/// than 32 channels a layer's pixels lie closer than a block's 32 bytes, so a pixel's masked
/// residual load spans the bytes of the previous pixel's masked store; read in turn (load, then
/// store, then the next load) each load waited for that store: MobileNet-V2's 144 -> 24 with its
/// residual took 0.071 ms against 0.039 without on a Zen 5 core, 0.040 staged.
QINT8_PW_VNNI_INLINE inline void stage_residuals(const uint8_t* out, int64_t stride, int px, int count, uint8_t (*staged)[pw_block]) {
    const __mmask32 lanes = first_lanes(count);
    for (int i = 0; i < px; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(staged[i]), _mm256_maskz_loadu_epi8(lanes, out + i * stride));
}

/// The sums of `px` pixels (at most 8) in `sums` ([px][32]) requantized into out, out + stride, ...
template <bool DstSigned>
QINT8_PW_VNNI_INLINE inline void requantize_pixels(const requant& rq, const int32_t* sums, int px, const float* bias, const float* scale, uint8_t* out,
                                                   int64_t stride, int count) {
    alignas(32) uint8_t staged[8][pw_block];
    const bool stage = rq.sum && count < pw_block;
    if (stage) stage_residuals(out, stride, px, count, staged);
    // Pixel i's residual: in the staged copy (a whole block) or where it is written.
    const int res_count = stage ? pw_block : count;
    const int64_t res_stride = stage ? pw_block : stride;
    const uint8_t* res = stage ? &staged[0][0] : out;
    if (rq.fast) {
        const int form = (rq.plan.add_zp ? 2 : 0) + (rq.sum ? 1 : 0);
#define QINT8_PW_VNNI_FAST(Z, S)                                                                                                               \
    _Pragma("GCC unroll 8") for (int i = 0; i < px; ++i)                                                                                      \
        requantize_fast<DstSigned, Z, S>(rq, _mm512_load_si512(sums + i * pw_block), _mm512_load_si512(sums + i * pw_block + 16), scale,   \
                                         out + i * stride, count, res + i * res_stride, res_count)
        if (form == 0) QINT8_PW_VNNI_FAST(false, false);
        else if (form == 1) QINT8_PW_VNNI_FAST(false, true);
        else if (form == 2) QINT8_PW_VNNI_FAST(true, false);
        else QINT8_PW_VNNI_FAST(true, true);
#undef QINT8_PW_VNNI_FAST
    } else {
#pragma GCC unroll 8
        for (int i = 0; i < px; ++i)
            requantize<DstSigned>(rq, _mm512_load_si512(sums + i * pw_block), _mm512_load_si512(sums + i * pw_block + 16), bias, scale, out + i * stride,
                                  count, res + i * res_stride, res_count);
    }
}

/// Block b of `count` pixels from src into dst: eight at a time, then the rest one at a time.
template <bool SrcSigned, bool DstSigned>
QINT8_PW_VNNI_TARGET inline void block_range(const pw_problem& pr, const pw_packed& pk, const requant& rq, int64_t b, const uint8_t* src, uint8_t* dst,
                                             int64_t count) {
    const int64_t quads = pk.quads, first = b * pw_block;
    const int n = static_cast<int>(std::min<int64_t>(pw_block, pr.n - first));
    const int8_t* wb = pk.w.data() + b * quads * 128;
    const float *bias = pk.bias.data() + first, *scale = pk.scale.data() + first;
    alignas(64) int32_t sums[8 * pw_block];
    int64_t p = 0;
    for (; p + 8 <= count; p += 8) {
        quads_of_eight<SrcSigned>(sums, pk.acc0.data() + first, wb, src + p * pr.k, pr.k, quads);
        requantize_pixels<DstSigned>(rq, sums, 8, bias, scale, dst + p * pr.n + first, pr.n, n);
    }
    if (p == count) return;
    const __m512i a0 = _mm512_loadu_si512(pk.acc0.data() + first), b0 = _mm512_loadu_si512(pk.acc0.data() + first + 16);
    const int rest = static_cast<int>(count - p);
    for (int i = 0; i < rest; ++i) {
        __m512i a = a0, s = b0;
        quads_of_one<SrcSigned>(a, s, wb, src + (p + i) * pr.k, quads);
        _mm512_store_si512(sums + i * pw_block, a);
        _mm512_store_si512(sums + i * pw_block + 16, s);
    }
    requantize_pixels<DstSigned>(rq, sums, rest, bias, scale, dst + p * pr.n + first, pr.n, n);
}

/// Narrow weights (pw_packed::narrow, at most 16 channels): one zmm of sums a pixel, in channel
/// order. Sixteen pixels share each weight load: the sums of quads_of_eight's sixteen registers,
/// written to `sums` ([16 pixels][16 lanes]). quads >= 1.
#define QINT8_PW_NARROW_STEP(A, ADDR, FLIP) "vpbroadcastd " ADDR ", %%zmm17\n\t" FLIP "vpdpbusd %%zmm16, %%zmm17, %%" A "\n\t"
#define QINT8_PW_NARROW_FOUR(A, B, C, D, X, FLIP)                                                                                              \
    QINT8_PW_NARROW_STEP(A, "(%[" X "])", FLIP) QINT8_PW_NARROW_STEP(B, "(%[" X "],%[d])", FLIP)                                               \
    QINT8_PW_NARROW_STEP(C, "(%[" X "],%[d],2)", FLIP) QINT8_PW_NARROW_STEP(D, "(%[" X "],%[d3])", FLIP)
#define QINT8_PW_NARROW_LOOP(FLIP)                                                                                                               \
    __asm__ volatile("vmovdqu64 (%[init]), %%zmm0\n\t"                                                                                        \
            "vmovdqa64 %%zmm0, %%zmm1\n\t" "vmovdqa64 %%zmm0, %%zmm2\n\t" "vmovdqa64 %%zmm0, %%zmm3\n\t" "vmovdqa64 %%zmm0, %%zmm4\n\t"         \
            "vmovdqa64 %%zmm0, %%zmm5\n\t" "vmovdqa64 %%zmm0, %%zmm6\n\t" "vmovdqa64 %%zmm0, %%zmm7\n\t" "vmovdqa64 %%zmm0, %%zmm8\n\t"         \
            "vmovdqa64 %%zmm0, %%zmm9\n\t" "vmovdqa64 %%zmm0, %%zmm10\n\t" "vmovdqa64 %%zmm0, %%zmm11\n\t" "vmovdqa64 %%zmm0, %%zmm12\n\t"      \
            "vmovdqa64 %%zmm0, %%zmm13\n\t" "vmovdqa64 %%zmm0, %%zmm14\n\t" "vmovdqa64 %%zmm0, %%zmm15\n\t"                                      \
            "1:\n\t"                                                                                                                             \
            "vmovdqu64 (%[w]), %%zmm16\n\t"                                                                                                      \
            QINT8_PW_NARROW_FOUR("zmm0", "zmm1", "zmm2", "zmm3", "x", FLIP) QINT8_PW_NARROW_FOUR("zmm4", "zmm5", "zmm6", "zmm7", "x4", FLIP)     \
            QINT8_PW_NARROW_FOUR("zmm8", "zmm9", "zmm10", "zmm11", "x8", FLIP) QINT8_PW_NARROW_FOUR("zmm12", "zmm13", "zmm14", "zmm15", "x12", FLIP) \
            "add $4, %[x]\n\t" "add $4, %[x4]\n\t" "add $4, %[x8]\n\t" "add $4, %[x12]\n\t"                                                   \
            "add $64, %[w]\n\t"                                                                                                                  \
            "dec %[n]\n\t"                                                                                                                       \
            "jnz 1b\n\t"                                                                                                                         \
            "vmovdqa64 %%zmm0, 0*64(%[out])\n\t" "vmovdqa64 %%zmm1, 1*64(%[out])\n\t" "vmovdqa64 %%zmm2, 2*64(%[out])\n\t"                        \
            "vmovdqa64 %%zmm3, 3*64(%[out])\n\t" "vmovdqa64 %%zmm4, 4*64(%[out])\n\t" "vmovdqa64 %%zmm5, 5*64(%[out])\n\t"                        \
            "vmovdqa64 %%zmm6, 6*64(%[out])\n\t" "vmovdqa64 %%zmm7, 7*64(%[out])\n\t" "vmovdqa64 %%zmm8, 8*64(%[out])\n\t"                        \
            "vmovdqa64 %%zmm9, 9*64(%[out])\n\t" "vmovdqa64 %%zmm10, 10*64(%[out])\n\t" "vmovdqa64 %%zmm11, 11*64(%[out])\n\t"                    \
            "vmovdqa64 %%zmm12, 12*64(%[out])\n\t" "vmovdqa64 %%zmm13, 13*64(%[out])\n\t" "vmovdqa64 %%zmm14, 14*64(%[out])\n\t"                  \
            "vmovdqa64 %%zmm15, 15*64(%[out])\n\t"                                                                                               \
            : [w] "+r"(w), [x] "+r"(x), [x4] "+r"(x4), [x8] "+r"(x8), [x12] "+r"(x12), [n] "+r"(quads)                                           \
            : [d] "r"(d), [d3] "r"(d3), [init] "r"(init), [out] "r"(sums), [flip] "v"(flip)                                                  \
            : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",      \
              "xmm13", "xmm14", "xmm15", "xmm16", "xmm17")
template <bool SrcSigned>
QINT8_PW_VNNI_INLINE inline void narrow_sixteen(int32_t* sums, const int32_t* init, const int8_t* w, const uint8_t* x, int64_t d, int64_t quads) {
    const uint8_t *x4 = x + 4 * d, *x8 = x + 8 * d, *x12 = x + 12 * d;
    const int64_t d3 = 3 * d;
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    if constexpr (SrcSigned) QINT8_PW_NARROW_LOOP("vpxord %[flip], %%zmm17, %%zmm17\n\t");
    else QINT8_PW_NARROW_LOOP("");
}
#undef QINT8_PW_NARROW_LOOP
#undef QINT8_PW_NARROW_FOUR
#undef QINT8_PW_NARROW_STEP

/// One pixel's narrow sums (the tail of a tile).
template <bool SrcSigned>
QINT8_PW_VNNI_INLINE inline __m512i narrow_one(__m512i a, const int8_t* w, const uint8_t* x, int64_t quads) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t q = 0; q < quads; ++q, w += 64) {
        int32_t four;
        std::memcpy(&four, x + q * 4, 4);
        __m512i t = _mm512_set1_epi32(four);
        if (SrcSigned) t = _mm512_xor_si512(t, flip);
        a = _mm512_dpbusd_epi32(a, t, _mm512_load_si512(w));
    }
    return a;
}

/// A narrow pixel's 16 int32 codes (channel order) to bytes at `out` (`count` of them): int32 ->
/// 8-bit with saturation (what pack_store's int16 step and packs give), then both byte clamps.
template <bool DstSigned>
QINT8_PW_VNNI_INLINE inline void store_narrow(const requant& rq, __m512i q, uint8_t* out, int count) {
    const __m256i h = _mm512_maskz_cvtsepi32_epi16(all, q);
    const __m128i h0 = _mm256_castsi256_si128(h), h1 = _mm256_extracti128_si256(h, 1);
    __m128i v = DstSigned ? _mm_packs_epi16(h0, h1) : _mm_packus_epi16(h0, h1);
    const __m128i lo = _mm256_castsi256_si128(rq.lo8), top = _mm256_castsi256_si128(rq.top8);
    v = DstSigned ? _mm_max_epi8(v, lo) : _mm_max_epu8(v, lo);
    v = DstSigned ? _mm_min_epi8(v, top) : _mm_min_epu8(v, top);
    if (count == 16) _mm_storeu_si128(reinterpret_cast<__m128i*>(out), v);
    else _mm_mask_storeu_epi8(out, static_cast<__mmask16>(first_lanes(count)), v);
}

/// A narrow pixel's residual codes (16 at `res`; where fewer, staged with zeros past the count)
/// as float(r - zp).
template <bool Signed>
QINT8_PW_VNNI_INLINE inline __m512 residual_narrow(const requant& rq, const uint8_t* res) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(res));
    const __m512i x = Signed ? _mm512_maskz_cvtepi8_epi32(all, raw) : _mm512_maskz_cvtepu8_epi32(all, raw);
    return _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(x, rq.sum_zp));  // exact: |r - zp| <= 255
}

/// The narrow sums of `px` pixels (at most 16) requantized into out, out + stride, ...: the fast
/// form (requant::fast) with its steps chosen at compile time, as requantize_fast, or
/// requant_one's tested steps. With fewer than 16 channels a residual's codes are all read first
/// (stage_residuals' reason).
template <bool DstSigned, int Form>
QINT8_PW_VNNI_INLINE inline void requantize_narrow_form(const requant& rq, const int32_t* sums, int px, const float* bias, const float* scale,
                                                        uint8_t* out, int64_t stride, int count) {
    constexpr bool fast = Form >= 0, add_zp = Form >= 2, sum = Form == 1 || Form == 3;
    alignas(16) uint8_t staged[16][16];
    const bool stage = (fast ? sum : rq.sum) && count < 16;
    if (stage)
        for (int i = 0; i < px; ++i)
            _mm_store_si128(reinterpret_cast<__m128i*>(staged[i]), _mm_maskz_loadu_epi8(static_cast<__mmask16>(first_lanes(count)), out + i * stride));
    const uint8_t* res = stage ? &staged[0][0] : out;
    const int64_t res_stride = stage ? 16 : stride;
    const __m512 s = _mm512_loadu_ps(scale);
#pragma GCC unroll 16
    for (int i = 0; i < px; ++i) {
        const __m512i acc = _mm512_load_si512(sums + i * 16);
        __m512i q;
        if constexpr (fast) {
            __m512 f = unfused(_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, acc), s));  // rounded before the zero point
            if (sum) f = _mm512_fmadd_ps(rq.sum_scale, residual_narrow<DstSigned>(rq, res + i * res_stride), f);  // one rounding, as oneDNN's sum post-op
            if (add_zp) f = _mm512_add_ps(f, rq.zp);
            q = _mm512_maskz_cvtps_epi32(all, f);
        } else {
            q = requant_one(rq, acc, bias, scale, rq.sum ? residual_narrow<DstSigned>(rq, res + i * res_stride) : _mm512_setzero_ps());
        }
        store_narrow<DstSigned>(rq, q, out + i * stride, count);
    }
}

template <bool DstSigned>
QINT8_PW_VNNI_INLINE inline void requantize_narrow_pixels(const requant& rq, const int32_t* sums, int px, const float* bias, const float* scale,
                                                          uint8_t* out, int64_t stride, int count) {
    if (!rq.fast) return requantize_narrow_form<DstSigned, -1>(rq, sums, px, bias, scale, out, stride, count);
    switch ((rq.plan.add_zp ? 2 : 0) + (rq.sum ? 1 : 0)) {
        case 0: return requantize_narrow_form<DstSigned, 0>(rq, sums, px, bias, scale, out, stride, count);
        case 1: return requantize_narrow_form<DstSigned, 1>(rq, sums, px, bias, scale, out, stride, count);
        case 2: return requantize_narrow_form<DstSigned, 2>(rq, sums, px, bias, scale, out, stride, count);
        default: return requantize_narrow_form<DstSigned, 3>(rq, sums, px, bias, scale, out, stride, count);
    }
}

/// `count` pixels of a narrow layer from src into dst: sixteen at a time, then one at a time.
template <bool SrcSigned, bool DstSigned>
QINT8_PW_VNNI_TARGET inline void narrow_range(const pw_problem& pr, const pw_packed& pk, const requant& rq, const uint8_t* src, uint8_t* dst,
                                              int64_t count) {
    const int n = static_cast<int>(pr.n);
    const float *bias = pk.bias.data(), *scale = pk.scale.data();
    alignas(64) int32_t sums[16 * 16];
    int64_t p = 0;
    for (; p + 16 <= count; p += 16) {
        narrow_sixteen<SrcSigned>(sums, pk.acc0.data(), pk.w.data(), src + p * pr.k, pr.k, pk.quads);
        requantize_narrow_pixels<DstSigned>(rq, sums, 16, bias, scale, dst + p * pr.n, pr.n, n);
    }
    if (p == count) return;
    const __m512i a0 = _mm512_load_si512(pk.acc0.data());
    const int rest = static_cast<int>(count - p);
    for (int i = 0; i < rest; ++i) _mm512_store_si512(sums + i * 16, narrow_one<SrcSigned>(a0, pk.w.data(), src + (p + i) * pr.k, pk.quads));
    requantize_narrow_pixels<DstSigned>(rq, sums, rest, bias, scale, dst + p * pr.n, pr.n, n);
}

/// Block b of `count` pixels from s (pr.k bytes each) into d (pr.n bytes each), in the
/// instantiation of the layer's signednesses and packing.
QINT8_PW_VNNI_TARGET inline void range(const pw_problem& pr, const pw_packed& pk, const requant& rq, int64_t b, const uint8_t* s, uint8_t* d,
                                       int64_t count) {
    if (pk.narrow) {  // one block
        if (pr.src_signed) {
            if (pr.dst_signed) narrow_range<true, true>(pr, pk, rq, s, d, count);
            else narrow_range<true, false>(pr, pk, rq, s, d, count);
        } else {
            if (pr.dst_signed) narrow_range<false, true>(pr, pk, rq, s, d, count);
            else narrow_range<false, false>(pr, pk, rq, s, d, count);
        }
        return;
    }
    if (pr.src_signed) {
        if (pr.dst_signed) block_range<true, true>(pr, pk, rq, b, s, d, count);
        else block_range<true, false>(pr, pk, rq, b, s, d, count);
    } else {
        if (pr.dst_signed) block_range<false, true>(pr, pk, rq, b, s, d, count);
        else block_range<false, false>(pr, pk, rq, b, s, d, count);
    }
}

/// Task t of a layer: block t % blocks of tile t / blocks (`per` pixels a tile).
QINT8_PW_VNNI_TARGET inline void task(const pw_problem& pr, const pw_packed& pk, const requant& rq, int64_t per, int64_t t, const uint8_t* src,
                                      uint8_t* dst) {
    const int64_t tile = t / pk.blocks, b = t % pk.blocks, from = tile * per;
    range(pr, pk, rq, b, src + from * pr.k, dst + from * pr.n, std::min(per, pr.m - from));
}

/// Output row r of a layer over gathered windows (pw_window): its windows into the thread's
/// buffer (pointwise_gather.hpp; an s8 source's zero point as its s8 byte, which the kernel flips
/// with the codes), then every block over them.
QINT8_PW_VNNI_TARGET inline void window_row(const pw_problem& pr, const pw_packed& pk, const requant& rq, int64_t r, const uint8_t* src,
                                            int64_t src_bytes, uint8_t* dst) {
    const pw_window& w = pr.window;
    // The buffer stays with the thread: no allocation per run once it has grown.
    static thread_local std::vector<uint8_t> buf;
    buf.resize(static_cast<std::size_t>(w.ow * pr.k + pw_gather_slack));
    pw_gather_row(w, pr.k, static_cast<uint8_t>(pr.src_zp), src, src_bytes, r, buf.data());
    for (int64_t b = 0; b < pk.blocks; ++b) range(pr, pk, rq, b, buf.data(), dst + r * w.ow * pr.n, w.ow);
}

}  // namespace pw_vnni

/// Runs a 1x1 layer (pw_supported; weights packed with `dot`) over `threads` OpenMP threads, in
/// the tasks of the AVX2 tile variant, or over gathered windows (a model's first layer) one
/// output row a task, as the pixel variant does. Call it only where the CPU has
/// AVX-512F, BW, VL and VNNI. The requantization constants are made once per call, and one
/// thread runs without entering OpenMP (parallel_for): on a 32 x 32 ResNet101, whose 1x1 layers have 1-64
/// pixels, both per-call costs made the model 1.2x slower than with oneDNN's 1x1 layers.
QINT8_PW_VNNI_TARGET inline void pointwise_avx512vnni(const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    if (pr.window.on) {
        const pw_window& w = pr.window;
        const pw_vnni::requant rq = pw_vnni::requant_of(pr, pk);
        const int64_t src_bytes = w.batch * w.h * w.w * w.c;
        parallel_for(threads, w.batch * w.oh, [&](int64_t r) { pw_vnni::window_row(pr, pk, rq, r, src, src_bytes, dst); });
        return;
    }
    const int64_t per = pw_avx2_tiles::tile_pixels_for(pr, pk, threads), tiles = (pr.m + per - 1) / per, tasks = tiles * pk.blocks;
    const pw_vnni::requant rq = pw_vnni::requant_of(pr, pk);
    parallel_for(threads, tasks, [&](int64_t t) { pw_vnni::task(pr, pk, rq, per, t, src, dst); });
}

}  // namespace qint8::kernels

#undef QINT8_PW_VNNI_TARGET
#undef QINT8_PW_VNNI_INLINE
