#pragma once
/// @file depthwise_avx512vnni.hpp  INT8 depthwise convolution, AVX-512 VNNI variant (see
/// depthwise_common.hpp for the numerics, the packed weights and the shared row loop).
///
/// The AVX-512BW variant's operations (32 channels per zmm, tap pairs interleaved as int16) with
/// the multiply-add done in one vpdpwssd (exact int32 products and pair sums, no saturation:
/// the saturating form is vpdpwssds).
/// Compiled with function-level target attributes, so callers' own flags need not enable
/// AVX-512F, AVX-512BW and AVX512_VNNI; call it only where the CPU has those features (kernels/depthwise.hpp checks).

#include <immintrin.h>

#include "qint8/kernels/depthwise_avx512bw.hpp"
#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

/// The AVX-512BW operations with vpdpwssd for the multiply-add, for dw_row. The shared
/// functions' targets (avx512f, avx512bw) are a subset of this variant's, so they inline into it.
struct dw_avx512vnni_ops : dw_avx512_ops<dw_avx512vnni_ops> {
    /// acc += x[2j] * w[2j] + x[2j+1] * w[2j+1] per int32 lane j, in one vpdpwssd (signed int16
    /// pairs, exact int32: no saturation, unlike vpdpwssds).
    __attribute__((target("avx512f,avx512bw,avx512vnni"))) static void dot(__m512i& acc, __m512i x, __m512i w) { acc = _mm512_dpwssd_epi32(acc, x, w); }
};

namespace avx512vnni_detail {
template <bool Signed, bool DstSigned>
__attribute__((target("avx512f,avx512bw,avx512vnni"), flatten)) inline void row(const dw_problem& pr, const dw_packed& pk, const uint8_t* src,
                                                                                uint8_t* dst, int64_t r) {
    dw_row<dw_avx512vnni_ops, Signed, DstSigned>(pr, pk, src, dst, r);
}
}  // namespace avx512vnni_detail

/// Runs the layer over all images: `src` n x h x w x c bytes, `dst` n x oh x ow x c bytes. `pk`
/// must be packed with block 32 (dw_pack(..., 32, ...)).
inline void depthwise_avx512vnni(const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    using namespace avx512vnni_detail;
    static constexpr dw_row_fn rows[2][2] = {{row<false, false>, row<false, true>}, {row<true, false>, row<true, true>}};
    dw_run_rows(pr, pk, src, dst, threads, rows);
}

}  // namespace qint8::kernels
