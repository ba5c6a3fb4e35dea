#pragma once
/// @file tflite_ops.hpp  What TFLite's integer kernels compute for each op of a uint8/int8 file,
/// one plain function per op, on codes (integers with their zero points). The reference uses them
/// when options::tflite_integer is set (output_stage.hpp, pool.hpp, reference.hpp); the
/// arithmetic is tflite_fixed_point.hpp's. Softmax is not here: the reference keeps its float
/// softmax in this mode.

#include <algorithm>
#include <cstdint>
#include <limits>

#include "qint8/ref/tflite_fixed_point.hpp"

namespace qint8::ref::tflite {

/// The multiplier of a conv / depthwise / fully-connected output channel, computed as TFLite
/// computes it from the file's float32 scales: (double(s_in) * double(s_w)) / double(s_out).
inline multiplier conv_multiplier(float s_in, float s_w, float s_out) {
    return quantize_multiplier(double(s_in) * double(s_w) / double(s_out));
}

/// CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: the int32 accumulator sum (q_in - zp_in) * q_w
/// plus the int32 bias (in accumulator units), times M in fixed point, plus the output zero point,
/// clamped to the fused activation's range.
/// Bound: TFLite holds acc + bias in int32; validate() bounds the accumulator by 255 * sum |q_w| <=
/// 2^31 - 1 per channel (conv.hpp), and a file's bias is a small multiple of it. Here the sum is
/// formed in int64 and saturated to int32 before the multiply (TFLite's is undefined there).
inline int32_t requantize(int64_t acc, int32_t bias, multiplier M, int32_t zp_out, range r) {
    const int64_t sum = acc + int64_t(bias);
    const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
    const int32_t x = static_cast<int32_t>(std::min<int64_t>(hi, std::max<int64_t>(lo, sum)));
    return clamp(int64_t(multiply_by_quantized_multiplier(x, M)) + zp_out, r);
}

/// AVERAGE_POOL_2D (and a MEAN over H, W with the input's quantization): the integer sum of the
/// codes in the window over the count of taps inside the input, rounded half away from zero,
/// clamped. Bound: `count` 8-bit codes, |sum| <= 255 * count, in int64 here (TFLite's int32 holds
/// any window up to 2^23 taps).
inline int32_t average(int64_t sum, int64_t count, range r) { return clamp(divide_round_half_away(sum, count), r); }

/// ADD of two 8-bit tensors, as TFLite prepares it: both inputs are moved left by 20 bits and
/// scaled by s_i / (2 * max(s_a, s_b)) (each multiplier <= 1/2), summed, and the sum scaled by
/// 2 * max(s_a, s_b) / (2^20 * s_out) to the output.
struct add_params {
    static constexpr int left_shift = 20;
    multiplier a, b, out;
    int32_t zp_a = 0, zp_b = 0, zp_out = 0;
    range r;
};

inline add_params make_add(const quant_params& qa, const quant_params& qb, const quant_params& qout, range r) {
    add_params p;
    const double twice_max = 2.0 * double(std::max(qa.scale, qb.scale));
    p.a = quantize_multiplier(double(qa.scale) / twice_max);
    p.b = quantize_multiplier(double(qb.scale) / twice_max);
    // 2^20 * s_out is a float product in TFLite, exact (a power of two).
    p.out = quantize_multiplier(twice_max / double(float(1 << add_params::left_shift) * qout.scale));
    p.zp_a = qa.zero_point;
    p.zp_b = qb.zero_point;
    p.zp_out = qout.zero_point;
    p.r = r;
    return p;
}

/// One output code of ADD from the input codes `xa`, `xb`.
/// Bound: |x - zp| <= 255, so (x - zp) * 2^20 < 2^28; each scaled input is at most half of that,
/// their sum below 2^28: int32 throughout, as in TFLite.
inline int32_t add(int32_t xa, int32_t xb, const add_params& p) {
    const int32_t a = multiply_by_quantized_multiplier((xa - p.zp_a) * (1 << add_params::left_shift), p.a);
    const int32_t b = multiply_by_quantized_multiplier((xb - p.zp_b) * (1 << add_params::left_shift), p.b);
    return clamp(int64_t(multiply_by_quantized_multiplier(a + b, p.out)) + p.zp_out, p.r);
}

}  // namespace qint8::ref::tflite
