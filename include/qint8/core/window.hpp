#pragma once
/// @file window.hpp  The output size of a sliding window (convolutions and pools) and TF SAME padding, written once:
/// validate(), the graph builder and the converter's shape inference use it. (The naive reference
/// counts window positions itself, on purpose: see ref/window.hpp.)

#include <cstdint>

namespace qint8 {

/// Windows of `kernel` taps at `stride` that fit in `in + pad_begin + pad_end` pixels (floor
/// rounding, as oneDNN and PyTorch by default), or -1 when even one does not fit.
/// `ceil_mode` (ONNX pools) also counts a last window that starts inside the padded input.
constexpr int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_begin, int64_t pad_end, bool ceil_mode = false) {
    const int64_t span = in + pad_begin + pad_end - kernel;
    if (span < 0) return -1;
    return (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
}

/// TF "SAME" / ONNX SAME_*: the total padding along one axis that gives ceil(in / stride)
/// outputs (TF and SAME_UPPER put the odd pixel at the end, SAME_LOWER at the start).
constexpr int64_t same_padding_total(int64_t in, int64_t kernel, int64_t stride) {
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = (out - 1) * stride + kernel - in;
    return total > 0 ? total : 0;
}

namespace detail {
using qint8::same_padding_total;
using qint8::window_output_size;
}  // namespace detail

}  // namespace qint8
