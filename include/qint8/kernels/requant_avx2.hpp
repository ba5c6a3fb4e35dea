#pragma once
/// @file requant_avx2.hpp  The requantization constants that AVX2 kernels requantizing in
/// registers (the column depthwise kernel, the 1x1 kernel) broadcast once per layer, from the
/// plan of which steps run (dw_requant_plan_of in depthwise_common.hpp).

#include <immintrin.h>

#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

struct avx2_requant_consts {
    __m256 hi, zp;         ///< the upper float clamp and the zero point
    __m256i lo8, top8;     ///< the clamps as destination bytes
    dw_requant_plan plan;  ///< which steps run
};

/// For a dw_problem with its dw_packed, or a pw_problem with its pw_packed.
template <class Problem, class Packed>
__attribute__((target("avx2"))) inline avx2_requant_consts avx2_requant_consts_of(const Problem& pr, const Packed& pk) {
    avx2_requant_consts c{};
    c.plan = dw_requant_plan_of(pr, pk);
    c.hi = _mm256_set1_ps(c.plan.hi);
    c.zp = _mm256_set1_ps(c.plan.zp);
    c.lo8 = _mm256_set1_epi8(c.plan.lo_byte);
    c.top8 = _mm256_set1_epi8(c.plan.top_byte);
    return c;
}

}  // namespace qint8::kernels
