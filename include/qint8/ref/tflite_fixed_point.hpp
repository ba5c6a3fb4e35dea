#pragma once
/// @file tflite_fixed_point.hpp  The integer arithmetic of TFLite's quantized kernels, written from
/// TFLite's quantization specification and the documented behaviour of its reference kernels (a
/// real multiplier held as a Q31 integer and a power-of-two shift, gemmlowp's rounding rules). Used
/// by the naive reference when options::tflite_integer is set (tflite_ops.hpp); unit-tested against
/// hand-computed values in tests/test_tflite_fixed_point.cpp.
///
/// Rounding, as TFLite has it:
///   quantize_multiplier           the Q31 significand rounds half away from zero (std::round)
///   rounding_doubling_high_mul    round(a * b / 2^31), a tie goes up (toward +infinity)
///   rounding_divide_by_pot        round(x / 2^e), a tie goes away from zero
///   divide_round_half_away        round(sum / count), a tie goes away from zero (average pooling)
///   quantize_bound                zp + round(real / scale) in float, a tie away from zero

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "qint8/graph.hpp"

namespace qint8::ref::tflite {

/// A positive real multiplier M ~= m * 2^(shift - 31), m in [2^30, 2^31) (or 0 for M = 0 and for
/// M < 2^-32, which TFLite flushes to zero rather than shift right by more than 31).
struct multiplier {
    int32_t m = 0;
    int shift = 0;  ///< > 0: shift left before the multiply; <= 0: shift right after it
};

/// M split as frexp does into q * 2^e, q in [0.5, 1); q * 2^31 rounded half away from zero; a q
/// that rounds up to 2^31 becomes 2^30 with e + 1.
inline multiplier quantize_multiplier(double real) {
    if (!(real > 0.0)) return {};
    int e = 0;
    const double q = std::frexp(real, &e);
    int64_t fixed = static_cast<int64_t>(std::round(q * double(int64_t{1} << 31)));
    if (fixed == (int64_t{1} << 31)) {
        fixed /= 2;
        ++e;
    }
    if (e < -31) return {};
    return {static_cast<int32_t>(fixed), e};
}

/// round(a * b / 2^31) with a tie rounded up, saturated: only a = b = INT32_MIN leaves int32
/// (its result, 2^31, becomes INT32_MAX). The product |a * b| <= 2^62 fits int64.
inline int32_t rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == std::numeric_limits<int32_t>::min() && b == a) return std::numeric_limits<int32_t>::max();
    const int64_t ab = int64_t(a) * int64_t(b);
    const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30);
    return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));  // C++ division truncates toward zero
}

/// round(x / 2^exponent), 0 <= exponent <= 31, a tie away from zero: the floor shift, plus one when
/// the remainder is above half (or at half, for x >= 0).
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
    const int64_t mask = (int64_t{1} << exponent) - 1;
    const int64_t remainder = int64_t(x) & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return static_cast<int32_t>((int64_t(x) >> exponent) + (remainder > threshold ? 1 : 0));
}

/// x * M as TFLite's MultiplyByQuantizedMultiplier computes it: x * 2^shift (shift > 0), the
/// rounding doubling high multiply by m, then the rounding right shift by -shift (shift <= 0).
/// Bound: TFLite forms x * 2^shift in int32, so |x| * 2^shift must be below 2^31 (always for
/// M < 1, where shift <= 0); beyond it TFLite's result is undefined and this one saturates.
inline int32_t multiply_by_quantized_multiplier(int32_t x, multiplier q) {
    const int left = q.shift > 0 ? q.shift : 0, right = q.shift > 0 ? 0 : -q.shift;
    const int64_t shifted = int64_t(x) * (int64_t{1} << left);
    const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
    const int32_t xs = static_cast<int32_t>(std::min<int64_t>(hi, std::max<int64_t>(lo, shifted)));
    return rounding_divide_by_pot(rounding_doubling_high_mul(xs, q.m), right);
}

/// round(sum / count), count > 0, a tie away from zero: TFLite's integer average pooling. The sum of
/// at most 2^23 8-bit codes fits the int64 here (TFLite's int32 holds 2^23 taps of 255).
inline int64_t divide_round_half_away(int64_t sum, int64_t count) {
    return sum >= 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/// The code of a real bound under `q`: zp + round(real / scale), the quotient in float and rounded
/// half away from zero, as TFLite computes the range of a fused activation.
inline int64_t quantize_bound(float real, const quant_params& q) { return int64_t(q.zero_point) + int64_t(std::round(real / q.scale)); }

/// The clamp of a stored code: the type's range narrowed by each relu / clip, in order.
struct range {
    int32_t lo = 0, hi = 255;
};

inline range type_range(dtype t) { return t == dtype::u8 ? range{0, 255} : range{-128, 127}; }

/// The fused activation's integer range: [max(qmin, zp + round(lo / s)), min(qmax, zp + round(hi / s))]
/// for a clip (relu6 is clip 0..6), [max(qmin, zp), qmax] for a relu. Sums are skipped.
inline range activation_range(const std::vector<post_op>& post_ops, const quant_params& q) {
    range r = type_range(q.type);
    for (const post_op& p : post_ops) {
        if (p.kind == post_op::relu) r.lo = std::max<int32_t>(r.lo, q.zero_point);
        if (p.kind != post_op::clip) continue;
        r.lo = int32_t(std::max<int64_t>(r.lo, quantize_bound(p.lo, q)));
        r.hi = int32_t(std::min<int64_t>(r.hi, quantize_bound(p.hi, q)));
    }
    return r;
}

inline int32_t clamp(int64_t v, range r) { return int32_t(std::min<int64_t>(r.hi, std::max<int64_t>(r.lo, v))); }

}  // namespace qint8::ref::tflite
