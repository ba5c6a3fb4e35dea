#pragma once
/// @file direct_pack.hpp  Packing s8 weights into the blocked layout a primitive chose with a
/// loop of our own instead of a oneDNN reorder.
///
/// Why: a reorder primitive generates code when it is created, about 60 microseconds per layer
/// shape on an AMD EPYC (Zen 3) guest, and a compilation creates one per layer: 2-3 ms of
/// MobileNet-V2's 13-18 ms INT8 compilation (2026-12-06, docs/performance.md, loading). Where
/// the layout keeps runs of 4, 8 or 16 input values of one output channel contiguous (1x1
/// convolutions and inner products on every path measured), copying those runs is as fast as the
/// reorder's own code, which the layer then never generates.
///
/// What a blocked layout is (oneDNN's blocking descriptor): the offset of logical element
/// (d_0, ..., d_n-1) is the sum over dimensions of (d_i / B_i) * strides[i] plus its place
/// inside the inner blocks, where B_i is the product of dimension i's inner blocks. Each term
/// depends on one coordinate only, so one table per dimension gives every offset.
/// Compensation (the "asymmetric source" extra of an INT8 convolution whose source has a zero
/// point) is, per output channel, minus the sum of its weights, as int32 right after the padded
/// weights. Layouts with anything else (s8 x s8 compensation, scale adjustment, offsets) are left
/// to the reorder, and so are large layers of layouts without runs of 4 (3x3 convolutions:
/// their input channels are not contiguous in the plain codes), where the reorder's code is
/// faster. tests/test_direct_pack.cpp compares the bytes with the reorder's for the layouts
/// oneDNN chooses on the running path and for those of the other paths.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/detail/transpose_quads.hpp"

namespace qint8::backend {

namespace direct_detail {

/// Is `d` a plain row-major (dense, unblocked) layout?
inline bool row_major(const dnnl_memory_desc_t& d) {
    if (d.format_kind != dnnl_blocked || d.format_desc.blocking.inner_nblks != 0 || d.offset0 != 0) return false;
    int64_t stride = 1;
    for (int i = d.ndims - 1; i >= 0; --i) {
        if (d.padded_dims[i] != d.dims[i] || d.format_desc.blocking.strides[i] != stride) return false;
        stride *= d.dims[i];
    }
    return true;
}

/// The offset in `d` that coordinate x of dimension `dim` contributes, for every x < dims[dim]:
/// its block's stride, and inside the inner blocks (innermost last) its digit of each block of
/// that dimension times the size of the blocks inside it. The digits are counted, not divided
/// out: a division per digit and value cost more than the packing of a small layer.
inline std::vector<int64_t> offsets_along(const dnnl_memory_desc_t& d, int dim) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    int64_t size[DNNL_MAX_NDIMS], weight[DNNL_MAX_NDIMS], digit[DNNL_MAX_NDIMS] = {};
    int digits = 0;
    for (int k = b.inner_nblks - 1, below = 1; k >= 0; below *= static_cast<int>(b.inner_blks[k]), --k)
        if (b.inner_idxs[k] == dim) size[digits] = b.inner_blks[k], weight[digits++] = below;
    std::vector<int64_t> t(static_cast<std::size_t>(d.dims[dim]));
    int64_t inner = 0, block = 0;
    for (std::size_t x = 0; x < t.size(); ++x) {
        t[x] = inner + block * b.strides[dim];
        int j = 0;  // x + 1: carry through the digits, innermost first
        for (; j < digits && ++digit[j] == size[j]; ++j) inner -= (size[j] - 1) * weight[j], digit[j] = 0;
        if (j < digits) inner += weight[j];
        else ++block;
    }
    return t;
}

/// `v` with each value followed by its sums with t[1..]: the offsets of one more dimension,
/// row-major (the new dimension varies fastest).
inline std::vector<int64_t> expand(const std::vector<int64_t>& v, const std::vector<int64_t>& t) {
    std::vector<int64_t> r;
    r.reserve(v.size() * t.size());
    for (int64_t a : v)
        for (int64_t x : t) r.push_back(a + x);
    return r;
}

/// The sum of k s8 values (psadbw sums bytes as u8: each is biased by 128 and the bias removed).
inline int32_t sum_s8(const int8_t* s, int64_t k) {
    int64_t j = 0, sum = 0;
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi8(static_cast<char>(0x80)), zero = _mm_setzero_si128();
    __m128i acc = zero;
    for (; j + 16 <= k; j += 16)
        acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + j)), bias), zero));
    sum = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)) - 128 * j;
#endif
    for (; j < k; ++j) sum += s[j];
    return static_cast<int32_t>(sum);
}

/// Where each value of a plain [outer][k] tensor goes: row o starts at `row[o]`, its values
/// j..j+run-1 (j a multiple of run) at `col[j]` from there, one after the other.
struct plan {
    std::vector<int64_t> row;
    std::vector<int64_t> col;
    std::vector<int64_t> comp_index;  ///< each row's compensation entry (empty: none)
    int run = 1;
    std::size_t weight_bytes = 0;     ///< the padded weights; compensation follows
    std::size_t written_bytes = 0;    ///< weights and compensation (the reorder leaves any rest as it is)
    bool padded = false;              ///< some bytes of the weights are padding (zeros)
};

/// Does row o start a group of four whose runs of 4 lie side by side (row[o + t] = row[o] + 4t:
/// neighbouring output channels of one block, as every 1x1 and inner-product layout met has them)?
inline bool side_by_side4(const plan& p, std::size_t o) {
    return o + 4 <= p.row.size() && p.row[o + 1] == p.row[o] + 4 && p.row[o + 2] == p.row[o] + 8 && p.row[o + 3] == p.row[o] + 12;
}

/// Rows o .. o + 3 (side_by_side4) at `s` (k values each): sixteen values of each row at a time as
/// one 4 x 4 transpose of int32, four 16-byte stores; one 4-byte copy per run had taken a tenth
/// of MobileNet-V2's compilation.
inline void copy_four_rows(const plan& p, const int8_t* s, int64_t k, int8_t* dst) {
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) {
        const auto c = p.col.begin() + j;
        int8_t* const to[4] = {dst + c[0], dst + c[4], dst + c[8], dst + c[12]};
        detail::transpose_quads4(s + j, k, to);
    }
    for (; j < k; j += 4)
        for (int t = 0; t < 4; ++t) std::memcpy(dst + p.col[static_cast<std::size_t>(j)] + 4 * t, s + t * k + j, 4);
}

/// Copies every row's runs to their places and, with `comp`, writes each row's compensation there
/// (int32, native byte order, as the reorder writes it).
template <int Run>
inline void copy_runs(const plan& p, const int8_t* src, int8_t* out, int8_t* comp) {
    const int64_t k = static_cast<int64_t>(p.col.size());
    for (std::size_t o = 0; o < p.row.size();) {
        const std::size_t rows = Run == 4 && side_by_side4(p, o) ? 4 : 1;
        const int8_t* s = src + static_cast<int64_t>(o) * k;
        int8_t* dst = out + p.row[o];
        if (rows == 4) copy_four_rows(p, s, k, dst);
        else
            for (int64_t j = 0; j < k; j += Run) std::memcpy(dst + p.col[static_cast<std::size_t>(j)], s + j, Run);
        for (std::size_t t = 0; comp && t < rows; ++t) {
            const int32_t c = -sum_s8(s + static_cast<int64_t>(t) * k, k);
            std::memcpy(comp + 4 * p.comp_index[o + t], &c, sizeof c);
        }
        o += rows;
    }
}

/// The longest run (16, 8 or 4) that every group of `col` keeps contiguous, or 1 (some runs are
/// longer, but a layout with runs of 2 was not met).
inline int longest_run(const std::vector<int64_t>& col) {
    const std::size_t k = col.size();
    for (std::size_t run : {16u, 8u, 4u}) {
        bool ok = k % run == 0;
        for (std::size_t j = 0; ok && j < k; j += run)
            for (std::size_t q = 1; q < run && ok; ++q) ok = col[j + q] == col[j] + static_cast<int64_t>(q);
        if (ok) return static_cast<int>(run);
    }
    return 1;
}

/// Row and column offsets for `d`, whose first `outer` dimensions index rows (the output channel,
/// after the group if any) and the rest columns, both in row-major order; and each row's place
/// among the compensation entries (row-major over the padded outer dimensions).
inline void fill_offsets(const dnnl_memory_desc_t& d, int outer, plan& p) {
    p.row = p.col = p.comp_index = {0};
    for (int i = 0; i < d.ndims; ++i) {
        std::vector<int64_t>& v = i < outer ? p.row : p.col;
        v = expand(v, offsets_along(d, i));
    }
    for (int i = 0; i < outer; ++i) {
        std::vector<int64_t> t(static_cast<std::size_t>(d.dims[i]));
        for (std::size_t x = 0; x < t.size(); ++x) t[x] = static_cast<int64_t>(x);
        for (int64_t& c : p.comp_index) c *= d.padded_dims[i];
        p.comp_index = expand(p.comp_index, t);
    }
}

}  // namespace direct_detail

/// Up to this many weights a layout without runs of 4 (a 3x3 or 7x7 layer's: input channels are
/// blocked, but not contiguous in [O][I][kh][kw]) is packed byte by byte too: at about a
/// nanosecond a byte that costs less than creating the reorder (60-300 microseconds, the first
/// of a process the most), which is faster per byte only on larger layers.
inline std::int64_t direct_pack_bytewise_max = 65536;

/// The plan for packing `plain` (row-major s8) into `packed` directly, or false where the layout
/// is one the reorder keeps (see the file comment). Weights of 5 dimensions are grouped
/// ([G, O/G, I, kh, kw]): their rows are (group, output channel).
inline bool direct_pack_plan(const dnnl::memory::desc& plain, const dnnl::memory::desc& packed, direct_detail::plan& p) {
    const dnnl_memory_desc_t &s = plain.data, &d = packed.data;
    constexpr uint64_t asym = dnnl_memory_extra_flag_compensation_conv_asymmetric_src;
    if (s.data_type != dnnl_s8 || d.data_type != dnnl_s8 || d.format_kind != dnnl_blocked || d.offset0 != 0 || d.ndims != s.ndims ||
        d.ndims < 2 || !direct_detail::row_major(s) || (d.extra.flags & ~asym) != 0)
        return false;
    const int outer = d.ndims == 5 ? 2 : 1;
    const bool comp = (d.extra.flags & asym) != 0;
    if (comp && d.extra.asymm_compensation_mask != (1 << outer) - 1) return false;
    int64_t padded = 1, real = 1, comp_n = 1;
    for (int i = 0; i < d.ndims; ++i) {
        if (d.padded_offsets[i] != 0 || d.dims[i] != s.dims[i]) return false;
        padded *= d.padded_dims[i];
        real *= d.dims[i];
        if (i < outer) comp_n *= d.padded_dims[i];
    }
    // The layout must be dense: its size is the padded weights (and the compensation after them).
    if (static_cast<std::size_t>(padded + (comp ? 4 * comp_n : 0)) > packed.get_size()) return false;
    if (!comp && static_cast<std::size_t>(padded) != packed.get_size()) return false;
    direct_detail::fill_offsets(d, outer, p);
    p.run = direct_detail::longest_run(p.col);
    if (p.run < 4 && real > direct_pack_bytewise_max) return false;
    // Every weight lands inside the padded weights, before any compensation.
    if (*std::max_element(p.row.begin(), p.row.end()) + *std::max_element(p.col.begin(), p.col.end()) >= padded) return false;
    if (!comp) p.comp_index.clear();
    p.weight_bytes = static_cast<std::size_t>(padded);
    p.written_bytes = static_cast<std::size_t>(padded + (comp ? 4 * comp_n : 0));
    p.padded = padded != real;
    return true;
}

/// Writes the s8 weights at `src` (row-major) into `into` as `p` plans them (direct_pack_plan).
/// Like the reorder it writes the weights, their padding and the compensation, and leaves any
/// bytes oneDNN's size adds after those untouched.
inline void direct_pack(const direct_detail::plan& p, const int8_t* src, void* into) {
    auto* out = static_cast<int8_t*>(into);
    // Only padding needs zeros: without any, every weight byte is written below.
    const std::size_t from = p.padded ? 0 : p.weight_bytes;
    std::memset(out + from, 0, p.written_bytes - from);
    int8_t* comp = p.comp_index.empty() ? nullptr : out + p.weight_bytes;
    if (p.run == 16) direct_detail::copy_runs<16>(p, src, out, comp);
    else if (p.run == 8) direct_detail::copy_runs<8>(p, src, out, comp);
    else if (p.run == 4) direct_detail::copy_runs<4>(p, src, out, comp);
    else direct_detail::copy_runs<1>(p, src, out, comp);
}

/// Packs the s8 weights at `src` (row-major, as `plain`) into `into` (packed.get_size() bytes)
/// in the layout `packed`, or returns false without writing where direct_pack_plan() refuses it.
inline bool direct_pack_s8(const dnnl::memory::desc& plain, const int8_t* src, const dnnl::memory::desc& packed, void* into) {
    direct_detail::plan p;
    if (!direct_pack_plan(plain, packed, p)) return false;
    direct_pack(p, src, into);
    return true;
}

}  // namespace qint8::backend
