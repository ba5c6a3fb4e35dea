#pragma once
/// @file depthwise_common.hpp  What every INT8 depthwise kernel variant shares: the problem
/// description, the weights packed once at model compilation, and the per-pixel tap pointers.
///
/// Numerics (docs/manifest.md, as oneDNN computes them), per output element:
///   acc = sum over taps (q_src - zp_src) * q_w   (int32, exact; padded taps read zp_src, adding 0)
///   v   = (float(acc) + float(bias)) * os[c]
///   v   = min(max(v, lo), hi)                    (relu/clip post-ops folded into one clamp)
///   q   = round_half_even(v + zp_dst), saturated to u8/s8
/// The variants compute acc as sum(q_src * q_w) - zp_src * sum(q_w) over all taps: padded taps
/// point at a row of zp_src bytes, so the identity holds at the borders too.
///
/// Activations are NHWC bytes (channels innermost, C bytes per pixel); weights are s8.
///
/// The row loop (dw_row) is shared too: a variant supplies only its vector operations as a
/// struct `K` of static functions (block width; init, clear, pair and requantize on a `K::regs`
/// of vector registers) and an entry point per signedness that calls dw_row<K, ...> with the
/// attributes `target("<its ISA>"), flatten`. dw_row itself has no target attribute: `flatten`
/// inlines it and K's functions into the entry point, so the loop is compiled for the variant's
/// ISA (an always_inline K function could not be inlined into a template without that target).
/// K's functions take the registers by reference, never a vector by value: passing one by value
/// from a function compiled without AVX changes the ABI (GCC warns, clang refuses).

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "qint8/kernels/aligned.hpp"
#include "qint8/kernels/parallel.hpp"

namespace qint8::kernels {

/// Shape, quantization and post-ops of one depthwise layer (one input channel per output channel).
struct dw_problem {
    int64_t n = 1, h = 1, w = 1, c = 1;  ///< input
    int64_t oh = 1, ow = 1;              ///< output (the bottom/right padding follows from these)
    int kh = 3, kw = 3, sh = 1, sw = 1;
    int pt = 0, pl = 0;                  ///< top and left padding
    bool src_signed = false, dst_signed = false;
    int32_t src_zp = 0, dst_zp = 0;
    /// Clamp in destination units before the zero point is added (relu: lo = 0; relu6: hi = 6/s).
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
};

/// Folds a sequence of relu / clip(lo, hi) post-ops into one clamp: each is a clamp, and a clamp
/// of a clamp is a clamp, so min(max(v, lo), hi) gives the same floats as applying them in turn.
struct dw_clamp {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    void relu() { clip(0.f, std::numeric_limits<float>::infinity()); }
    void clip(float a, float b) {
        lo = std::min(std::max(lo, a), b);
        hi = std::min(std::max(hi, a), b);
    }
};

/// Largest kernel the variants take (taps per output pixel).
inline constexpr int dw_max_taps = 64;

/// Weights, bias and requantization factors packed for a block width of `block` channels
/// (16: one ymm of int16, 32: one zmm). Within a block the variants pair taps (t, t+1) of each
/// channel as int16 for vpmaddwd/vpdpwssd, which unpacks within 128-bit lanes: the "lo" half of a
/// block holds channels 8L+0..3 of every lane L, the "hi" half channels 8L+4..7. Every per-channel
/// array is stored in that order; channels past C are zero weights with zero scale.
struct dw_packed {
    int block = 16;
    int64_t c = 0, blocks = 0;
    int kh = 0, kw = 0, pairs = 0;        ///< pairs = ceil(kh * kw / 2)
    aligned_vector<int16_t> w;            ///< [blocks][pairs][block lo pairs | block hi pairs] = block * 2 per pair
    aligned_vector<int32_t> comp;         ///< [blocks][block]: src_zp * sum of the channel's weights
    aligned_vector<float> bias, scale;    ///< [blocks][block]: float(bias_s32), os
    std::vector<uint8_t> zp_row;          ///< blocks * block bytes of src_zp: what padded taps read
    /// Block 16 and 3x3 only (depthwise_avx2_columns.hpp, dw_pack_columns): [blocks][kx][pair lo |
    /// pair hi | single lo | single hi][16] int16, rows (0, 1) of column kx paired, row 2 beside a zero.
    aligned_vector<int16_t> wcol;
    // Block 64 (four taps per int32 lane, depthwise_avx512vnni_quads.hpp; see dw_pack_quads), and
    // acc0, bias_in_acc and v_bound for block 16 with 3x3 kernels too (dw_pack_columns):
    int groups = 0;                       ///< ceil(kh / 4): a column's rows in groups of four
    aligned_vector<int8_t> wq;            ///< [blocks][kw][groups][4 quads][64 bytes]
    aligned_vector<int32_t> acc0;         ///< [blocks][block]: the accumulator's start, bias - comp (bias_in_acc) or -comp
    bool bias_in_acc = false;             ///< every |bias| <= 2^24, so float(acc) + float(bias) == float(acc + bias)
    double v_bound = 0;                   ///< a bound on |(acc + bias) * os| over every input (the int32 conversion's range)
};

/// Position of channel `i` (0..block-1) of a block in the lo|hi order described above.
inline int dw_lane_order(int i, int block) {
    const int lane = i / 8, k = i % 8;
    return (k < 4 ? 0 : block / 2) + lane * 4 + (k % 4);
}

/// Position of channel `i` (0..63) of a 64-channel block in the four-tap layout: quad q = (i / 4) % 4
/// holds, at int32 lane 4L + j, channel 16L + 4q + j (what the byte and word unpacks of four rows
/// produce, and what the int32 -> int16 -> int8 packs put back in channel order).
inline int dw_quad_order(int i) { return ((i / 4) % 4) * 16 + (i / 16) * 4 + i % 4; }

/// Whether the bias can start the int32 accumulator (dw_packed::bias_in_acc): only integers of
/// at most 2^24 go in, so float(acc) + float(bias) == float(acc + bias); an unrounded bias stays
/// a float add.
inline bool dw_bias_folds(const float* bias, int64_t c) {
    for (int64_t ch = 0; bias && ch < c; ++ch)
        if (!(std::fabs(bias[ch]) <= float(int64_t{1} << 24) && bias[ch] == std::nearbyint(bias[ch]))) return false;
    return true;
}

/// One channel's share of dw_packed::v_bound: |q - zp| <= 255 per tap, so |(acc + bias) * os|
/// stays below this for every input; the margin covers the float roundings on the way.
inline double dw_channel_bound(int32_t abs_weight_sum, float bias, float os) {
    return (255.0 * abs_weight_sum + std::abs(static_cast<double>(bias))) * std::abs(static_cast<double>(os)) * 1.001 + 1;
}

/// The four-tap layout (block 64): for column kx and row group g, quad q's int32 lane of channel
/// ch holds the s8 weights of rows 4g..4g+3 (zero past kh), one byte each, so vpdpbusd adds a
/// whole column of four taps per lane. s8 sources are read as u8 (x ^ 0x80 = x + 128), which
/// adds 128 * sum(w): comp takes zp + 128 then. A last block of at most 32 channels is packed twice
/// (lanes 0-1 and 2-3), for two output pixels per zmm.
inline void dw_pack_quads(dw_packed& p, const int8_t* w, const float* bias, const float* os, int32_t src_zp, bool src_signed) {
    const int taps = p.kh * p.kw;
    p.groups = (p.kh + 3) / 4;
    p.wq.assign(static_cast<std::size_t>(p.blocks * p.kw * p.groups * 256), 0);
    p.acc0.assign(static_cast<std::size_t>(p.blocks * 64), 0);
    p.bias_in_acc = dw_bias_folds(bias, p.c);
    const int32_t zp = src_signed ? src_zp + 128 : src_zp;
    for (int64_t ch = 0; ch < p.c; ++ch) {
        const int64_t b = ch / 64;
        const int pos = dw_quad_order(static_cast<int>(ch % 64));
        // A last block of at most 32 channels (128-bit lanes 0 and 1) is packed twice, into lanes
        // 2 and 3 too (8 int32 further): the kernel runs it two pixels per zmm.
        const int copies = p.c - b * 64 <= 32 ? 8 : 64;
        int32_t sum = 0, abs_sum = 0;
        for (int ky = 0; ky < p.kh; ++ky)
            for (int kx = 0; kx < p.kw; ++kx) {
                const int8_t v = w[ch * taps + ky * p.kw + kx];
                sum += v;
                abs_sum += std::abs(v);
                for (int at = pos; at < 64; at += copies)
                    p.wq[static_cast<std::size_t>((((b * p.kw + kx) * p.groups + ky / 4) * 64 + at) * 4 + ky % 4)] = v;
            }
        const float bs = bias ? bias[ch] : 0.f;
        for (int at = pos; at < 64; at += copies) {
            const std::size_t k = static_cast<std::size_t>(b * 64 + at);
            p.comp[k] = zp * sum;
            p.acc0[k] = (p.bias_in_acc ? static_cast<int32_t>(bs) : 0) - zp * sum;  // zp in 0..255 (u8, or s8 + 128): no overflow
            p.bias[k] = bs;
            p.scale[k] = os[ch];
        }
        p.v_bound = std::max(p.v_bound, dw_channel_bound(abs_sum, bs, os[ch]));
    }
}

/// The column layout (block 16, 3x3; depthwise_avx2_columns.hpp): dw_packed::wcol, and acc0,
/// bias_in_acc and v_bound as dw_pack_quads makes them, in the block-16 channel order. Called by
/// dw_pack once comp, bias and scale are packed.
inline void dw_pack_columns(dw_packed& p, const int8_t* w, const float* bias, const float* os) {
    p.wcol.assign(static_cast<std::size_t>(p.blocks * 3 * 64), 0);
    p.acc0.assign(p.comp.size(), 0);
    p.bias_in_acc = dw_bias_folds(bias, p.c);
    for (int64_t ch = 0; ch < p.c; ++ch) {
        const int64_t b = ch / 16;
        const int pos = dw_lane_order(static_cast<int>(ch % 16), 16), half = pos < 8 ? 0 : 1, j = pos % 8;
        const int8_t* wc = w + ch * 9;
        int32_t abs_sum = 0;
        for (int t = 0; t < 9; ++t) abs_sum += std::abs(wc[t]);
        for (int kx = 0; kx < 3; ++kx) {
            int16_t* q = p.wcol.data() + (b * 3 + kx) * 64;
            q[half * 16 + 2 * j] = wc[kx];  // rows 0 and 1 paired
            q[half * 16 + 2 * j + 1] = wc[3 + kx];
            q[(2 + half) * 16 + 2 * j] = wc[6 + kx];  // row 2 beside a zero
        }
        const std::size_t k = static_cast<std::size_t>(b * 16 + pos);
        const float bs = bias ? bias[ch] : 0.f;
        p.acc0[k] = (p.bias_in_acc ? static_cast<int32_t>(bs) : 0) - p.comp[k];  // |comp| <= 255 * 9 * 128: no overflow
        p.v_bound = std::max(p.v_bound, dw_channel_bound(abs_sum, bs, os[ch]));
    }
}

/// `w`: C x kh x kw s8 (plain OIHW for groups = C); `bias`: C floats in accumulator units,
/// integers or not (may be null); `os`: C floats.
/// Block 16 or 32: tap pairs as int16 (the layout above); block 64: dw_pack_quads.
inline dw_packed dw_pack(const int8_t* w, const float* bias, const float* os, int64_t c, int kh, int kw, int block,
                         int32_t src_zp, bool src_signed) {
    dw_packed p;
    p.block = block;
    p.c = c;
    p.kh = kh;
    p.kw = kw;
    p.blocks = (c + block - 1) / block;
    const int taps = kh * kw;
    p.pairs = (taps + 1) / 2;
    p.w.assign(static_cast<std::size_t>(p.blocks * p.pairs * block * 2), 0);
    p.comp.assign(static_cast<std::size_t>(p.blocks * block), 0);
    p.bias.assign(p.comp.size(), 0.f);
    p.scale.assign(p.comp.size(), 0.f);
    // zp_row holds the zero point as the source's own byte (two's complement for s8).
    p.zp_row.assign(static_cast<std::size_t>(p.blocks * block), static_cast<uint8_t>(src_signed ? static_cast<int8_t>(src_zp) : src_zp));
    if (block == 64) {
        dw_pack_quads(p, w, bias, os, src_zp, src_signed);
        return p;
    }
    for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t b = ch / block;
        const int pos = dw_lane_order(static_cast<int>(ch % block), block);
        int32_t sum = 0;
        for (int t = 0; t < taps; ++t) {
            const int8_t v = w[ch * taps + t];
            sum += v;
            // Within a pair's lo (or hi) half, channel j sits at int16 index 2j (tap t) and 2j+1 (tap t+1).
            const int half = pos < block / 2 ? 0 : 1, j = pos % (block / 2);
            p.w[static_cast<std::size_t>(((b * p.pairs + t / 2) * 2 + half) * block + 2 * j + (t % 2))] = v;
        }
        const std::size_t k = static_cast<std::size_t>(b * block + pos);
        p.comp[k] = src_zp * sum;
        p.bias[k] = bias ? bias[ch] : 0.f;
        p.scale[k] = os[ch];
    }
    if (block == 16 && kh == 3 && kw == 3) dw_pack_columns(p, w, bias, os);
    return p;
}

/// The same with an int32 bias (rounded to accumulator units).
inline dw_packed dw_pack(const int8_t* w, const int32_t* bias, const float* os, int64_t c, int kh, int kw, int block,
                         int32_t src_zp, bool src_signed) {
    std::vector<float> bf;
    if (bias) bf.assign(bias, bias + c);
    return dw_pack(w, bias ? bf.data() : nullptr, os, c, kh, kw, block, src_zp, src_signed);
}

/// The tap pointers of output pixel (oy, ox) of image `img`, padded taps pointing at the zero
/// point row, the list padded to an even length (pairs) with the zero point row as well.
inline void dw_taps(const dw_problem& pr, const dw_packed& pk, const uint8_t* img, int64_t oy, int64_t ox,
                    const uint8_t* taps[dw_max_taps + 1]) {
    int k = 0;
    for (int ky = 0; ky < pr.kh; ++ky) {
        const int64_t iy = oy * pr.sh - pr.pt + ky;
        for (int kx = 0; kx < pr.kw; ++kx, ++k) {
            const int64_t ix = ox * pr.sw - pr.pl + kx;
            taps[k] = (iy < 0 || iy >= pr.h || ix < 0 || ix >= pr.w) ? pk.zp_row.data() : img + (iy * pr.w + ix) * pr.c;
        }
    }
    if (k % 2) taps[k] = pk.zp_row.data();
}

/// Can the variants run this problem? (Otherwise the caller uses oneDNN.)
inline bool dw_supported(const dw_problem& pr) { return pr.kh * pr.kw <= dw_max_taps && pr.kh > 0 && pr.kw > 0 && pr.c > 0; }

/// The saturating clamp folded into [lo, hi]: results equal saturate(round(v + zp)) because the
/// bounds are integers once the zero point is added.
template <class Problem>  // dw_problem or pw_problem (pointwise_common.hpp)
inline std::array<float, 2> dw_bounds(const Problem& pr) {
    const float qmin = pr.dst_signed ? -128.f : 0.f, qmax = pr.dst_signed ? 127.f : 255.f;
    const float zp = static_cast<float>(pr.dst_zp);
    const float lo = std::max(pr.lo, qmin - zp), hi = std::min(pr.hi, qmax - zp);
    return {lo, std::max(lo, hi)};
}

/// What the kernels that requantize in registers (four-tap and column) need to know beyond the
/// per-channel arrays, as scalars: the upper float clamp and the zero point, the clamps in
/// destination bytes, and which steps can be left out exactly.
struct dw_requant_plan {
    float hi = 0, zp = 0;
    char lo_byte = 0, top_byte = 0;  ///< saturate(round(bound + zp)), as the conversion computes them
    bool add_bias = false;           ///< the bias did not fold into acc0 (pk.bias_in_acc false)
    bool add_zp = false;             ///< v + 0.f == v (a -0.f converts to 0 as well)
    bool clamp_hi = false;           ///< only where |v| could pass 2^30 (pk.v_bound): the int32 conversion's range
    bool clamp_lo = false, clamp_top = false;  ///< the byte clamps, where narrower than the packs' saturation
};

/// How far a residual added after the scaling can move v: depthwise layers add none (a
/// pw_problem's overload is in pointwise_common.hpp).
inline double requant_residual_bound(const dw_problem&) { return 0.0; }

template <class Problem, class Packed>  // dw_problem, dw_packed or pw_problem, pw_packed
inline dw_requant_plan dw_requant_plan_of(const Problem& pr, const Packed& pk) {
    dw_requant_plan q;
    const auto bounds = dw_bounds(pr);
    q.hi = bounds[1];
    q.zp = static_cast<float>(pr.dst_zp);
    q.add_zp = pr.dst_zp != 0;
    q.add_bias = !pk.bias_in_acc;
    q.clamp_hi = !(pk.v_bound + requant_residual_bound(pr) + std::abs(static_cast<double>(pr.dst_zp)) < 1073741824.0);
    const float qmin = pr.dst_signed ? -128.f : 0.f, qmax = pr.dst_signed ? 127.f : 255.f;
    const auto byte = [&](float b) { return static_cast<char>(static_cast<int32_t>(std::min(qmax, std::max(qmin, std::nearbyint(b + q.zp))))); };
    q.lo_byte = byte(bounds[0]);
    q.top_byte = byte(bounds[1]);
    q.clamp_lo = q.lo_byte != static_cast<char>(static_cast<int32_t>(qmin));
    q.clamp_top = q.top_byte != static_cast<char>(static_cast<int32_t>(qmax));
    return q;
}

/// Sums of tap pairs for one block of one output pixel into v.lo / v.hi (lo|hi channel order).
template <class K, bool Signed>
inline void dw_accumulate(typename K::regs& v, const uint8_t* const* taps, int pairs, int64_t off, const int16_t* w) {
    K::clear(v);
    for (int p = 0; p < pairs; ++p, w += 2 * K::block) K::template pair<Signed>(v, taps[2 * p] + off, taps[2 * p + 1] + off, w);
}

/// Output row r (image r / oh, row r % oh) of the layer, for variant K (see the file comment),
/// from block `first` on (the blocks before it are left to the caller).
template <class K, bool Signed, bool DstSigned>
inline void dw_row(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int64_t r, int64_t first = 0) {
    constexpr int block = K::block;
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
    typename K::regs v;
    K::init(v, bounds[0], bounds[1], static_cast<float>(pr.dst_zp));
    const int64_t full = C / block, rem = C % block;
    // Input rows of this output row (null where padded).
    const uint8_t* rows[dw_max_taps];
    bool rows_valid = true;
    for (int ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * pr.sh - pr.pt + ky;
        rows[ky] = iy >= 0 && iy < H ? in + iy * W * C : nullptr;
        rows_valid = rows_valid && rows[ky];
    }
    const uint8_t* taps[dw_max_taps + 1];
    const uint8_t* tail_taps[dw_max_taps + 1];
    alignas(64) uint8_t tail[dw_max_taps + 1][block];
    alignas(64) uint8_t tail_out[block];
    taps[ntaps - 1] = zrow;  // the pad tap of an odd count
    bool moved = false;      // taps[] holds the previous pixel's interior taps
    for (int64_t ox = 0; ox < OW; ++ox, out += C) {
        const int64_t ix0 = ox * SW - pr.pl;
        const bool interior = rows_valid && ix0 >= 0 && ix0 + KW <= W;
        if (interior && moved) {
            for (int k = 0; k < KH * KW; ++k) taps[k] += SW * C;  // every tap moves right by the stride
        } else {
            for (int ky = 0, k = 0; ky < KH; ++ky)
                for (int kx = 0; kx < KW; ++kx, ++k) {
                    const int64_t ix = ix0 + kx;
                    taps[k] = rows[ky] && ix >= 0 && ix < W ? rows[ky] + ix * C : zrow;
                }
            moved = interior;
        }
        for (int64_t b = first; b < full; ++b) {
            const int64_t k = b * block;
            // 3x3 (five pairs) with a constant count, so the pair loop unrolls.
            if (pairs == 5) dw_accumulate<K, Signed>(v, taps, 5, k, wts + b * 5 * 2 * block);
            else dw_accumulate<K, Signed>(v, taps, pairs, k, wts + b * pairs * 2 * block);
            K::template requantize<DstSigned>(v, out + k, comp + k, bias + k, scale + k);
        }
        if (rem) {
            // Ragged last block: copy its channels next to zero-point bytes, so no load crosses the tensor.
            const int64_t k = full * block;
            for (int t = 0; t < ntaps; ++t) {
                std::memcpy(tail[t], zrow, block);
                std::memcpy(tail[t], taps[t] + k, static_cast<std::size_t>(rem));
                tail_taps[t] = tail[t];
            }
            dw_accumulate<K, Signed>(v, tail_taps, pairs, 0, wts + full * pairs * 2 * block);
            K::template requantize<DstSigned>(v, tail_out, comp + k, bias + k, scale + k);
            std::memcpy(out + k, tail_out, static_cast<std::size_t>(rem));
        }
    }
}

/// One row entry point per (source, destination) signedness, as a variant instantiates them.
using dw_row_fn = void (*)(const dw_problem&, const dw_packed&, const uint8_t*, uint8_t*, int64_t);

/// Runs all n x oh output rows, split over `threads` OpenMP threads. `rows[s][d]` is the entry
/// point for source signedness s and destination signedness d.
inline void dw_run_rows(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads, const dw_row_fn (&rows)[2][2]) {
    const dw_row_fn f = rows[pr.src_signed ? 1 : 0][pr.dst_signed ? 1 : 0];
    parallel_for(threads, pr.n * pr.oh, [&](int64_t r) { f(pr, pk, src, dst, r); });
}

}  // namespace qint8::kernels
