#pragma once
/// @file add.hpp  Naive element-wise sum of two tensors of equal shape, in real values, then the
/// post-ops (relu, clip) in order. The caller quantizes the result when it is stored in 8 bits.

#include <algorithm>
#include <vector>

#include "qint8/ref/tflite_ops.hpp"
#include "qint8/ref/value.hpp"

namespace qint8::ref {

inline value add(const value& a, const value& b, const std::vector<post_op>& post_ops) {
    const value ra = to_real(a), rb = to_real(b);
    value out = make_value(ra.dims, false);
    for (std::size_t k = 0; k < out.size(); ++k) {
        float v = ra.f[k] + rb.f[k];
        for (const auto& p : post_ops) {
            if (p.kind == post_op::relu) v = std::max(v, 0.f);
            else if (p.kind == post_op::clip) v = std::min(std::max(v, p.lo), p.hi);
        }
        out.f[k] = v;
    }
    return out;
}

/// options::tflite_integer: TFLite's integer ADD of two 8-bit tensors into `q_out`
/// (tflite_ops.hpp), the relu / clip post-ops as its fused activation's range.
inline value add_tflite(const value& a, const value& b, const quant_params& q_out, const std::vector<post_op>& post_ops) {
    value out = make_value(a.dims, true, q_out);
    const tflite::add_params p = tflite::make_add(a.q, b.q, q_out, tflite::activation_range(post_ops, q_out));
    for (std::size_t k = 0; k < out.size(); ++k) out.i[k] = tflite::add(a.i[k], b.i[k], p);
    return out;
}

}  // namespace qint8::ref
