#pragma once
/// @file tflite_output.hpp  Runs TFLite's output stage (tflite_requantize.hpp) with the widest
/// version the code path allows: AVX-512 on the avx512_* paths, AVX2 on the others, scalar where a
/// layer's bounds rule the vector versions out (tfl_output::vector_ok). Following the path, as the
/// depthwise kernels do, lets QINT8_MAX_ISA lower it too.

#include <algorithm>
#include <cstddef>

#include "qint8/dispatch/isa.hpp"
#include "qint8/kernels/parallel.hpp"
#include "qint8/kernels/tflite_requantize.hpp"
#include "qint8/kernels/tflite_requantize_avx512.hpp"

namespace qint8::kernels {

inline tfl_isa tfl_isa_for(isa path) noexcept {
    switch (path) {
        case isa::avx2:
        case isa::avx2_vnni: return tfl_isa::avx2;
        default: return tfl_isa::avx512;
    }
}

/// Pixels per block: a block's accumulators (about 32 KB) stay in the first-level cache while
/// each channel group passes over them.
inline std::size_t tfl_block_pixels(std::size_t channels) noexcept { return std::clamp<std::size_t>(8192 / std::max<std::size_t>(1, channels), 4, 256); }

/// `pixels` pixels of `o.channels` channels: `acc` int32 NHWC, `residual` (o.add) and `dst` 8-bit
/// NHWC, in blocks of pixels split over `threads` OpenMP threads.
inline void tflite_requantize(const tfl_output& o, const int32_t* acc, const void* residual, void* dst, std::size_t pixels, int threads, tfl_isa widest) {
    const tfl_isa v = o.vector_ok ? widest : tfl_isa::scalar;
    const std::size_t per = tfl_block_pixels(o.channels);
    const auto blocks = static_cast<int64_t>((pixels + per - 1) / per);
    parallel_for(threads, blocks, [&](int64_t b) {
        const std::size_t p0 = static_cast<std::size_t>(b) * per, p1 = std::min(pixels, p0 + per);
        if (v == tfl_isa::avx512) tfl::block_avx512(o, acc, residual, dst, p0, p1);
        else if (v == tfl_isa::avx2) tfl::block_avx2(o, acc, residual, dst, p0, p1);
        else
            for (std::size_t p = p0; p < p1; ++p) tfl::pixel_scalar(o, acc, residual, dst, p * o.channels, 0);
    });
}

}  // namespace qint8::kernels
