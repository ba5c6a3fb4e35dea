#pragma once
/// @file depthwise_avx512vnni_quads.hpp  INT8 depthwise convolution, AVX-512 VNNI variant with four
/// taps per int32 lane (vpdpbusd). Numerics as depthwise_common.hpp; weights from dw_pack(..., 64, ...).
///
/// What limits a depthwise layer is shuffles, not multiplies: NHWC puts one tap of 64 channels in
/// a zmm, while vpdpbusd sums four adjacent bytes. So each input column (the kernel's rows at one x,
/// four rows per group) is transposed once into four zmm of (row0, row1, row2, row3) byte quads,
/// 8 unpacks per 64 channels, and written to a small buffer; every output pixel that covers the
/// column then reads it with kw vpdpbusd per quad. A 3x3 stride-1 pixel costs 8 unpacks and
/// 12 vpdpbusd per 64 channels (the tap-pair variant: 40 widenings and unpacks, 20 vpdpwssd),
/// stride 2 costs 16 unpacks. For 3x3 at stride 1 or 2 (pixels3) the columns never leave the
/// registers: each is transposed once and handed from pixel to pixel, which saves the buffer's
/// 4 stores and 12 reloads per pixel (1.2-1.4x on Zen 5's MobileNet-V2 layers, same integers).
/// In the common requantization form (no bias outside the sums, no float clamp), whole 3x3 rows
/// run in row3_fast: no test per step, two pixels per step, the weights (64-byte aligned) and
/// constants held in locals; 2-2.9x oneDNN's brdgmm_dw on every MobileNet-V2 shape on Zen 5.
/// The small loops carry `#pragma GCC unroll`: without it GCC at -O2 (a header library is built
/// with its user's flags) keeps the four accumulators in memory and runs at half the speed.
/// A last block of at most 32 channels runs two pixels per zmm (the weights are packed into both
/// 256-bit halves), so 32-channel layers compute no empty lanes.
///
/// Requantization stays in registers and is exact: the accumulator starts at bias - comp (when
/// every |bias| <= 2^24, float(acc + bias) == float(acc) + float(bias)); v = float(acc) * os;
/// v + zp converts with round-half-even; the saturating int32 -> int16 -> int8 packs put the
/// quads back in channel order; the clamps are one byte max and one byte min. Every step is
/// monotone, so clamping after rounding equals rounding after clamping (the reference's order).
/// Only where |v| could pass 2^30 (dw_packed::v_bound: huge scales) is v also clamped above in
/// float, so the conversion cannot overflow (below, overflow gives INT_MIN: the bottom anyway).
/// Compiled with function-level target attributes; call it only where the CPU has AVX-512F,
/// AVX-512BW and AVX512_VNNI (kernels/depthwise.hpp checks).

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qint8/kernels/depthwise_common.hpp"
#include "qint8/kernels/unfused.hpp"

namespace qint8::kernels {

namespace avx512vnni_quads_detail {

/// Output pixels per pass: their columns (at most (chunk - 1) * sw + kw of them) stay in L1.
inline constexpr int64_t chunk = 32;

/// The transposed columns of one pass, 64-byte aligned, per thread.
inline uint8_t* column_buffer(std::size_t bytes) {
    thread_local std::vector<uint8_t> buf;
    if (buf.size() < bytes + 64) buf.resize(bytes + 64);
    const auto a = reinterpret_cast<std::uintptr_t>(buf.data());
    return buf.data() + ((64 - a % 64) % 64);
}

/// A row of `bytes` bytes of `zp` (the source's own zero-point byte), per thread, filled again
/// only when the size or the byte changes.
inline const uint8_t* padding_row(int64_t bytes, uint8_t zp) {
    thread_local std::vector<uint8_t> row;
    thread_local uint8_t filled = 0;
    if (static_cast<int64_t>(row.size()) < bytes || filled != zp) {
        row.assign(std::max<std::size_t>(row.size(), static_cast<std::size_t>(bytes)), zp);
        filled = zp;
    }
    return row.data();
}

/// What one output row's passes share.
struct row_args {
    const uint8_t* rows[dw_max_taps + 4];  ///< input rows of the kernel's rows, null where padded or past kh
    int64_t c, w;                          ///< channels, input width
    int kh, kw, sw, pl, groups;
    const uint8_t* pad = nullptr;          ///< a row of w x c zero-point bytes (row3_fast's padded rows)
    int64_t hoff = 0;                      ///< Half: how many columns the high 256 bits are ahead
    const dw_packed* pk;
    uint8_t* buf;
};

/// `p` moved back by `n` bytes, as an address: a masked access there touches only bytes past `p`.
inline const uint8_t* back(const uint8_t* p, int64_t n) { return reinterpret_cast<const uint8_t*>(reinterpret_cast<std::uintptr_t>(p) - n); }
inline uint8_t* back(uint8_t* p, int64_t n) { return reinterpret_cast<uint8_t*>(reinterpret_cast<std::uintptr_t>(p) - n); }

/// One row's 64 bytes at column x: channels k..k+63 (`m`: those below C), or with Half, channels
/// k..k+31 of column x in the low 256 bits and of column x + a.hoff in the high ones (two masked
/// loads, or two plain ones and an insert where both columns are inside and hold 32 channels);
/// s8 read as u8 + 128 (x ^ 0x80: comp has the 128 * sum(w)). Padding reads `zp` (already in
/// that form).
template <bool Signed, bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline __m512i load_row(const row_args& a, const uint8_t* p, int64_t x, int64_t k,
                                                                              __mmask64 m, __m512i zp) {
    const __m512i flip = _mm512_set1_epi8(Signed ? static_cast<char>(0x80) : 0);
    if (!Half) return _mm512_xor_si512(m == ~__mmask64{0} ? _mm512_loadu_si512(p + x * a.c + k) : _mm512_maskz_loadu_epi8(m, p + x * a.c + k), flip);
    const int64_t x1 = x + a.hoff;
    const __mmask64 lo = m & 0xFFFFFFFFu, hi = lo << 32;
    if (lo == 0xFFFFFFFFu && x >= 0 && x1 < a.w) {
        // 32 channels of two inside columns: two plain loads. Merging masked loads cost a third of
        // the speed of a 32-channel layer on Zen 5 (MobileNet-V2's first depthwise layer).
        const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + x * a.c + k));
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + x1 * a.c + k));
        // The masked insert: GCC 12 warns (maybe-uninitialized) on the unmasked one's undefined start.
        const __m512i both = _mm512_castsi256_si512(l);
        return _mm512_xor_si512(_mm512_mask_inserti64x4(both, 0xFF, both, h, 1), flip);
    }
    __m512i r = _mm512_xor_si512(zp, flip);  // the source's own zp byte, flipped back below with the rest
    if (x >= 0 && x < a.w) r = _mm512_mask_loadu_epi8(r, lo, p + x * a.c + k);
    if (x1 >= 0 && x1 < a.w) r = _mm512_mask_loadu_epi8(r, hi, back(p + x1 * a.c + k, 32));
    return _mm512_xor_si512(r, flip);
}

/// One input column at x (channels k..k+63 of the kernel's rows 4g..4g+3) transposed into four
/// zmm `c` whose int32 lane holds one channel's four rows. With Half (a block of at most 32
/// channels), each zmm holds columns x and x + a.hoff (load_row).
template <bool Signed, bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void column(const row_args& a, int64_t x, int64_t k, __mmask64 m,
                                                                                       __m512i zp, int g, __m512i* c) {
    if ((x < 0 || x >= a.w) && !(Half && x + a.hoff >= 0 && x + a.hoff < a.w)) {
        c[0] = c[1] = c[2] = c[3] = zp;
        return;
    }
    __m512i r[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        const uint8_t* p = a.rows[4 * g + j];
        r[j] = p ? load_row<Signed, Half>(a, p, x, k, m, zp) : zp;
    }
    const __m512i lo01 = _mm512_unpacklo_epi8(r[0], r[1]), hi01 = _mm512_unpackhi_epi8(r[0], r[1]);
    const __m512i lo23 = _mm512_unpacklo_epi8(r[2], r[3]), hi23 = _mm512_unpackhi_epi8(r[2], r[3]);
    c[0] = _mm512_unpacklo_epi16(lo01, lo23);
    c[1] = _mm512_unpackhi_epi16(lo01, lo23);
    c[2] = _mm512_unpacklo_epi16(hi01, hi23);
    c[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/// Transposes `ncols` input columns from x = x0 into buf: per column and row group, the four zmm
/// of column().
template <bool Signed, bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void transpose_columns(const row_args& a, int64_t x0, int64_t ncols, int64_t k,
                                                                                     __mmask64 m, __m512i zp) {
    __m512i* out = reinterpret_cast<__m512i*>(a.buf);
    for (int64_t i = 0; i < ncols; ++i)
        for (int g = 0; g < a.groups; ++g, out += 4) column<Signed, Half>(a, x0 + i, k, m, zp, g, out);
}

/// The requantization constants of one 64-channel block.
struct requant {
    __m512i acc0[4];
    __m512 bias[4], scale[4], hi, zp;
    __m512i lo, top;  ///< the clamps as destination bytes
    bool add_bias, add_zp, clamp_hi;
    bool clamp_lo, clamp_top;  ///< the byte clamps, where narrower than the packs' saturation
};

/// Requantizes four quads of sums (see the file comment) into 64 destination bytes.
template <bool DstSigned>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline __m512i requantize(const requant& rq, const __m512i (&acc)[4]) {
    constexpr __mmask16 all = 0xFFFF;  // zero-masked forms: GCC 12 warns on the unmasked ones' undefined start
    __m512i q[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        __m512 v = _mm512_maskz_cvtepi32_ps(all, acc[i]);
        if (rq.add_bias) v = _mm512_add_ps(v, rq.bias[i]);
        v = unfused(_mm512_mul_ps(v, rq.scale[i]));  // rounded before the zero point (unfused.hpp)
        if (rq.clamp_hi) v = _mm512_maskz_min_ps(all, v, rq.hi);
        if (rq.add_zp) v = _mm512_add_ps(v, rq.zp);
        q[i] = _mm512_maskz_cvtps_epi32(all, v);
    }
    const __m512i w01 = _mm512_packs_epi32(q[0], q[1]), w23 = _mm512_packs_epi32(q[2], q[3]);
    __m512i b = DstSigned ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
    if (rq.clamp_lo) b = DstSigned ? _mm512_max_epi8(b, rq.lo) : _mm512_max_epu8(b, rq.lo);
    if (rq.clamp_top) b = DstSigned ? _mm512_min_epi8(b, rq.top) : _mm512_min_epu8(b, rq.top);
    return b;
}

/// Stores one pixel's 64 destination bytes `b` (channels under `m`), or with Half two pixels: the
/// low 256 bits at `out`, the high ones `second` bytes further (none where second < 0).
template <bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void store(__m512i b, uint8_t* out, __mmask64 m, int64_t second) {
    // Plain stores where every lane is stored: a masked store costs several times more on Zen 5.
    if (!Half) {
        if (m == ~__mmask64{0}) _mm512_storeu_si512(out, b);
        else _mm512_mask_storeu_epi8(out, m, b);
        return;
    }
    const __mmask64 lo = m & 0xFFFFFFFFu;
    if (lo == 0xFFFFFFFFu) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_maskz_extracti64x4_epi64(0xF, b, 0));
        if (second >= 0) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + second), _mm512_maskz_extracti64x4_epi64(0xF, b, 1));
        return;
    }
    _mm512_mask_storeu_epi8(out, lo, b);
    if (second >= 0) _mm512_mask_storeu_epi8(back(out + second, 32), lo << 32, b);
}

/// Output pixels ox0..ox0+n-1 of one channel block from the transposed columns in a.buf; with
/// Half, two pixels per zmm: i in the low 256 bits, i + h in the high ones (h = ceil(n / 2), so
/// a.hoff = h * sw and every transposed column serves kw pixel pairs).
template <bool DstSigned, bool Half, int KW, int G>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void pixels(const row_args& a, const requant& rq, const int8_t* wq, uint8_t* out,
                                                                         int64_t n, __mmask64 m, int kw_rt, int g_rt) {
    const int kw = KW ? KW : kw_rt, groups = G ? G : g_rt;
    const __m512i* cols = reinterpret_cast<const __m512i*>(a.buf);
    const __m512i* w = reinterpret_cast<const __m512i*>(wq);
    const int64_t step = static_cast<int64_t>(a.sw) * groups * 4, C = a.c, h = Half ? (n + 1) / 2 : n;
    for (int64_t i = 0; i < h; ++i, cols += step, out += C) {
        __m512i acc[4] = {rq.acc0[0], rq.acc0[1], rq.acc0[2], rq.acc0[3]};
        for (int t = 0; t < kw * groups; ++t)
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) acc[q] = _mm512_dpbusd_epi32(acc[q], cols[4 * t + q], _mm512_loadu_si512(w + 4 * t + q));
        const __m512i b = requantize<DstSigned>(rq, acc);
        store<Half>(b, out, m, i + h < n ? h * C : -1);
    }
}

/// 3x3 kernels (kh <= 4, one row group) at stride SW of 1 or 2, as pixels() computes them, but the
/// columns stay in registers: each is transposed once and passed from pixel to pixel (no buffer
/// store and reload).
template <bool Signed, bool DstSigned, bool Half, int SW>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void pixels3(row_args& a, const requant& rq, const int8_t* wq, uint8_t* out,
                                                                          int64_t n, __mmask64 m, int64_t x0, int64_t k, __m512i zp) {
    const __m512i* w = reinterpret_cast<const __m512i*>(wq);
    const int64_t C = a.c, h = Half ? (n + 1) / 2 : n;
    a.hoff = h * SW;
    __m512i c0[4], c1[4], c2[4];
    column<Signed, Half>(a, x0, k, m, zp, 0, c0);
    if (SW == 1) column<Signed, Half>(a, x0 + 1, k, m, zp, 0, c1);
    for (int64_t i = 0; i < h; ++i, out += C) {
        const int64_t x = x0 + i * SW;
        if (SW == 2) column<Signed, Half>(a, x + 1, k, m, zp, 0, c1);
        column<Signed, Half>(a, x + 2, k, m, zp, 0, c2);
        __m512i acc[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
            acc[q] = _mm512_dpbusd_epi32(rq.acc0[q], c0[q], _mm512_loadu_si512(w + q));
            acc[q] = _mm512_dpbusd_epi32(acc[q], c1[q], _mm512_loadu_si512(w + 4 + q));
            acc[q] = _mm512_dpbusd_epi32(acc[q], c2[q], _mm512_loadu_si512(w + 8 + q));
        }
        const __m512i b = requantize<DstSigned>(rq, acc);
        store<Half>(b, out, m, i + h < n ? h * C : -1);
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
            c0[q] = SW == 1 ? c1[q] : c2[q];
            if (SW == 1) c1[q] = c2[q];
        }
    }
}

/// The common requantization form (the bias folded into acc0, no float clamp above: rq.add_bias
/// and rq.clamp_hi false) without a test per step: v * scale + zp (two roundings, as the
/// reference: adding a zero point of 0 changes no conversion), then the packs and both byte
/// clamps, whose constants are the packs' own bounds where the plan has no clamp.
template <bool DstSigned>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline __m512i requantize_fast(const requant& rq, const __m512i (&acc)[4]) {
    constexpr __mmask16 all = 0xFFFF;
    __m512i q[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
        q[i] = _mm512_maskz_cvtps_epi32(all, _mm512_add_ps(unfused(_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, acc[i]), rq.scale[i])), rq.zp));
    const __m512i w01 = _mm512_packs_epi32(q[0], q[1]), w23 = _mm512_packs_epi32(q[2], q[3]);
    const __m512i b = DstSigned ? _mm512_packs_epi16(w01, w23) : _mm512_packus_epi16(w01, w23);
    return DstSigned ? _mm512_min_epi8(_mm512_max_epi8(b, rq.lo), rq.top) : _mm512_min_epu8(_mm512_max_epu8(b, rq.lo), rq.top);
}

/// Column x of the three rows p[0..2] (channels under `m`; with Half, columns x and x + a.hoff
/// as load_row reads them), transposed as column() does with the fourth row the zero point;
/// outside the image the zero point. No row may be null (a padded row reads a.pad).
template <bool Signed, bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void column3(const row_args& a, const uint8_t* const (&p)[3], int64_t x,
                                                                                        __mmask64 m, __m512i zp, __m512i* out) {
    if ((x < 0 || x >= a.w) && !(Half && x + a.hoff >= 0 && x + a.hoff < a.w)) {
        out[0] = out[1] = out[2] = out[3] = zp;
        return;
    }
    const __m512i r0 = load_row<Signed, Half>(a, p[0], x, 0, m, zp), r1 = load_row<Signed, Half>(a, p[1], x, 0, m, zp);
    const __m512i r2 = load_row<Signed, Half>(a, p[2], x, 0, m, zp);
    const __m512i lo01 = _mm512_unpacklo_epi8(r0, r1), hi01 = _mm512_unpackhi_epi8(r0, r1);
    const __m512i lo23 = _mm512_unpacklo_epi8(r2, zp), hi23 = _mm512_unpackhi_epi8(r2, zp);
    out[0] = _mm512_unpacklo_epi16(lo01, lo23);
    out[1] = _mm512_unpackhi_epi16(lo01, lo23);
    out[2] = _mm512_unpacklo_epi16(hi01, hi23);
    out[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/// One output pixel (with Half two: the second `second` bytes further, none where second < 0)
/// from its three columns: 12 vpdpbusd, the fast requantization, the store.
template <bool DstSigned, bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void pixel3(const requant& rq, const __m512i* w, const __m512i (&c0)[4],
                                                                                       const __m512i (&c1)[4], const __m512i (&c2)[4], uint8_t* out,
                                                                                       __mmask64 m, int64_t second) {
    __m512i acc[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
        acc[q] = _mm512_dpbusd_epi32(rq.acc0[q], c0[q], w[q]);
        acc[q] = _mm512_dpbusd_epi32(acc[q], c1[q], w[4 + q]);
        acc[q] = _mm512_dpbusd_epi32(acc[q], c2[q], w[8 + q]);
    }
    store<Half>(requantize_fast<DstSigned>(rq, acc), out, m, second);
}

/// Two output pixels (a from columns a0..a2, b from b0..b2) as pixel3 computes them, their
/// instructions interleaved: two independent chains in one stream (1.05-1.15x on Zen 5).
template <bool DstSigned, bool Half>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void pixel3x2(const requant& rq, const __m512i* w, const __m512i (&a0)[4],
                                                                                         const __m512i (&a1)[4], const __m512i (&a2)[4],
                                                                                         const __m512i (&b0)[4], const __m512i (&b1)[4],
                                                                                         const __m512i (&b2)[4], uint8_t* out_a, uint8_t* out_b,
                                                                                         __mmask64 m, int64_t second_a, int64_t second_b) {
    __m512i acc_a[4], acc_b[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
        acc_a[q] = _mm512_dpbusd_epi32(rq.acc0[q], a0[q], w[q]);
        acc_b[q] = _mm512_dpbusd_epi32(rq.acc0[q], b0[q], w[q]);
        acc_a[q] = _mm512_dpbusd_epi32(acc_a[q], a1[q], w[4 + q]);
        acc_b[q] = _mm512_dpbusd_epi32(acc_b[q], b1[q], w[4 + q]);
        acc_a[q] = _mm512_dpbusd_epi32(acc_a[q], a2[q], w[8 + q]);
        acc_b[q] = _mm512_dpbusd_epi32(acc_b[q], b2[q], w[8 + q]);
    }
    const __m512i ra = requantize_fast<DstSigned>(rq, acc_a), rb = requantize_fast<DstSigned>(rq, acc_b);
    store<Half>(ra, out_a, m, second_a);
    store<Half>(rb, out_b, m, second_b);
}

/// A whole output row of one channel block for 3x3 kernels in the fast requantization form:
/// pixels3's work without its tests per row pointer and per requantization step, padded rows
/// read from a.pad, two pixels per step (pixel3x2). With Half (at most 32 channels), pixels i and
/// i + h share a zmm (h = ceil(ow / 2)), as in pixels(). The row's arguments, the constants and
/// the block's twelve weight zmm are copied to locals first: the stores go through uint8_t*,
/// which may alias anything reached through a pointer, so the compiler would reload every one of
/// them after each store (1.2-1.3x on Zen 5).
template <bool Signed, bool DstSigned, bool Half, int SW>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void row3_fast(const row_args& args, const requant& rq_in, const int8_t* wq,
                                                                            uint8_t* out, int64_t ow, __mmask64 m, int64_t k, __m512i zp) {
    row_args a = args;
    const requant rq = rq_in;
    __m512i w[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) w[i] = _mm512_load_si512(wq + 64 * i);  // pk.wq is 64-byte aligned (aligned.hpp)
    const uint8_t* const p[3] = {(a.rows[0] ? a.rows[0] : a.pad) + k, (a.rows[1] ? a.rows[1] : a.pad) + k, (a.rows[2] ? a.rows[2] : a.pad) + k};
    const int64_t C = a.c, x0 = -a.pl, h = Half ? (ow + 1) / 2 : ow;
    a.hoff = h * SW;
    const auto second = [&](int64_t i) { return i + h < ow ? h * C : int64_t{-1}; };
    __m512i c0[4], c1[4], c2[4], c3[4], c4[4];
    column3<Signed, Half>(a, p, x0, m, zp, c0);
    if (SW == 1) column3<Signed, Half>(a, p, x0 + 1, m, zp, c1);
    int64_t i = 0;
    for (; i + 2 <= h; i += 2) {
        if (SW == 1) {
            column3<Signed, Half>(a, p, x0 + i + 2, m, zp, c2);
            column3<Signed, Half>(a, p, x0 + i + 3, m, zp, c3);
            pixel3x2<DstSigned, Half>(rq, w, c0, c1, c2, c1, c2, c3, out + i * C, out + (i + 1) * C, m, second(i), second(i + 1));
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) c0[q] = c2[q], c1[q] = c3[q];
        } else {
            column3<Signed, Half>(a, p, x0 + 2 * i + 1, m, zp, c1);
            column3<Signed, Half>(a, p, x0 + 2 * i + 2, m, zp, c2);
            column3<Signed, Half>(a, p, x0 + 2 * i + 3, m, zp, c3);
            column3<Signed, Half>(a, p, x0 + 2 * i + 4, m, zp, c4);
            pixel3x2<DstSigned, Half>(rq, w, c0, c1, c2, c2, c3, c4, out + i * C, out + (i + 1) * C, m, second(i), second(i + 1));
#pragma GCC unroll 4
            for (int q = 0; q < 4; ++q) c0[q] = c4[q];
        }
    }
    if (i < h) {  // the last pixel of an odd count: its columns start at c0 (and c1 at stride 1)
        if (SW == 2) column3<Signed, Half>(a, p, x0 + 2 * i + 1, m, zp, c1);
        column3<Signed, Half>(a, p, x0 + SW * i + 2, m, zp, c2);
        pixel3<DstSigned, Half>(rq, w, c0, c1, c2, out + i * C, m, second(i));
    }
}

template <bool Signed, bool DstSigned>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void block(row_args& a, const requant& rq, int64_t b, uint8_t* out,
                                                                        int64_t ow) {
    const dw_packed& pk = *a.pk;
    const int64_t k = b * 64, rem = a.c - k;
    const __mmask64 m = rem >= 64 ? ~__mmask64{0} : (__mmask64{1} << rem) - 1;
    const __m512i zp = _mm512_xor_si512(_mm512_set1_epi8(static_cast<char>(pk.zp_row[0])), _mm512_set1_epi8(Signed ? static_cast<char>(0x80) : 0));
    const int8_t* wq = pk.wq.data() + b * a.kw * a.groups * 256;
    const bool mobilenet = a.kw == 3 && a.groups == 1;  // MobileNets' 3x3: registers only, constant trip counts
    if (mobilenet && a.kh == 3 && a.sw <= 2 && !rq.add_bias && !rq.clamp_hi) {  // the fast form (requantize_fast)
        uint8_t* o = out + k;
        if (rem <= 32) {
            if (a.sw == 1) row3_fast<Signed, DstSigned, true, 1>(a, rq, wq, o, ow, m, k, zp);
            else row3_fast<Signed, DstSigned, true, 2>(a, rq, wq, o, ow, m, k, zp);
        } else if (a.sw == 1) row3_fast<Signed, DstSigned, false, 1>(a, rq, wq, o, ow, m, k, zp);
        else row3_fast<Signed, DstSigned, false, 2>(a, rq, wq, o, ow, m, k, zp);
        return;
    }
    for (int64_t ox0 = 0; ox0 < ow; ox0 += chunk) {
        const int64_t n = std::min(chunk, ow - ox0);
        uint8_t* o = out + ox0 * a.c + k;
        if (mobilenet && a.sw <= 2) {
            const int64_t x0 = ox0 * a.sw - a.pl;
            if (rem <= 32) {
                if (a.sw == 1) pixels3<Signed, DstSigned, true, 1>(a, rq, wq, o, n, m, x0, k, zp);
                else pixels3<Signed, DstSigned, true, 2>(a, rq, wq, o, n, m, x0, k, zp);
            } else if (a.sw == 1) pixels3<Signed, DstSigned, false, 1>(a, rq, wq, o, n, m, x0, k, zp);
            else pixels3<Signed, DstSigned, false, 2>(a, rq, wq, o, n, m, x0, k, zp);
        } else if (rem <= 32) {  // the weights of channels 0..31 are packed twice (dw_pack_quads): two pixels per zmm
            const int64_t h = (n + 1) / 2;
            a.hoff = h * a.sw;
            transpose_columns<Signed, true>(a, ox0 * a.sw - a.pl, (h - 1) * a.sw + a.kw, k, m, zp);
            if (mobilenet) pixels<DstSigned, true, 3, 1>(a, rq, wq, o, n, m, 3, 1);
            else pixels<DstSigned, true, 0, 0>(a, rq, wq, o, n, m, a.kw, a.groups);
        } else {
            transpose_columns<Signed, false>(a, ox0 * a.sw - a.pl, (n - 1) * a.sw + a.kw, k, m, zp);
            if (mobilenet) pixels<DstSigned, false, 3, 1>(a, rq, wq, o, n, m, 3, 1);
            else pixels<DstSigned, false, 0, 0>(a, rq, wq, o, n, m, a.kw, a.groups);
        }
    }
}

/// The requantization constants that every block shares (the clamps in destination bytes as the
/// store computes them; see the file comment).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline requant requant_of(const dw_problem& pr, const dw_packed& pk) {
    const dw_requant_plan q = dw_requant_plan_of(pr, pk);
    requant rq;
    rq.hi = _mm512_set1_ps(q.hi);
    rq.zp = _mm512_set1_ps(q.zp);
    rq.add_zp = q.add_zp;
    rq.add_bias = q.add_bias;
    rq.clamp_hi = q.clamp_hi;
    rq.lo = _mm512_set1_epi8(q.lo_byte);
    rq.top = _mm512_set1_epi8(q.top_byte);
    rq.clamp_lo = q.clamp_lo;
    rq.clamp_top = q.clamp_top;
    return rq;
}

/// Output rows r0..r1-1 (row r: image r / oh, row r % oh) of the layer. What the rows share (the
/// requantization plan, the buffers) is made once per call: on the 7x7 and 14x14 layers of
/// MobileNets a row is a few hundred nanoseconds of work.
template <bool Signed, bool DstSigned>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void rows(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst,
                                                                       int64_t r0, int64_t r1) {
    row_args a;
    a.c = pr.c;
    a.w = pr.w;
    a.kh = pr.kh;
    a.kw = pr.kw;
    a.sw = pr.sw;
    a.pl = pr.pl;
    a.groups = pk.groups;
    a.pk = &pk;
    a.buf = column_buffer(static_cast<std::size_t>(((chunk - 1) * pr.sw + pr.kw) * a.groups * 256));
    a.pad = padding_row(pr.w * pr.c, pk.zp_row[0]);
    requant rq = requant_of(pr, pk);
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t oy = r % pr.oh;
        const uint8_t* in = src + (r / pr.oh) * pr.h * pr.w * pr.c;
        for (int ky = 0; ky < 4 * a.groups; ++ky) {
            const int64_t iy = oy * pr.sh - pr.pt + ky;
            a.rows[ky] = ky < pr.kh && iy >= 0 && iy < pr.h ? in + iy * pr.w * pr.c : nullptr;
        }
        uint8_t* out = dst + r * pr.ow * pr.c;
        for (int64_t b = 0; b < pk.blocks; ++b) {
            for (int i = 0; i < 4; ++i) {
                rq.acc0[i] = _mm512_loadu_si512(pk.acc0.data() + b * 64 + 16 * i);
                rq.bias[i] = _mm512_loadu_ps(pk.bias.data() + b * 64 + 16 * i);
                rq.scale[i] = _mm512_loadu_ps(pk.scale.data() + b * 64 + 16 * i);
            }
            block<Signed, DstSigned>(a, rq, b, out, pr.ow);
        }
    }
}

}  // namespace avx512vnni_quads_detail

/// Runs the layer over all images: `src` n x h x w x c bytes, `dst` n x oh x ow x c bytes. `pk`
/// must be packed with block 64 (dw_pack(..., 64, ...)).
inline void depthwise_avx512vnni_quads(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    using namespace avx512vnni_quads_detail;
    using fn = void (*)(const dw_problem&, const dw_packed&, const uint8_t*, uint8_t*, int64_t, int64_t);
    static constexpr fn forms[2][2] = {{rows<false, false>, rows<false, true>}, {rows<true, false>, rows<true, true>}};
    const fn f = forms[pr.src_signed ? 1 : 0][pr.dst_signed ? 1 : 0];
    const int64_t n = pr.n * pr.oh, parts = std::min<int64_t>(threads, n);  // one range of rows per thread
    parallel_for(threads, parts, [&](int64_t t) { f(pr, pk, src, dst, n * t / parts, n * (t + 1) / parts); });
}

}  // namespace qint8::kernels
