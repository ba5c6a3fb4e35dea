#pragma once
/// @file tflite_output.hpp  Runs TFLite's output stage (tflite_requantize.hpp) with the widest
/// version the code path allows: AVX-512 on the avx512_* paths, AVX2 on the others, scalar where a
/// layer's bounds rule the vector versions out (tfl_output::vector_ok). Following the path, as the
/// depthwise kernels do, lets QINT8_MAX_ISA lower it too.

#include "qint8/dispatch/isa.hpp"
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

/// `pixels` pixels of `o.channels` channels: `acc` int32 NHWC, `residual` (o.add) and `dst` 8-bit
/// NHWC, split over `threads` OpenMP threads.
inline void tflite_requantize(const tfl_output& o, const int32_t* acc, const void* residual, void* dst, std::size_t pixels, int threads, tfl_isa widest) {
    const tfl_isa v = o.vector_ok ? widest : tfl_isa::scalar;
    const auto n = static_cast<int64_t>(pixels);
#pragma omp parallel for num_threads(threads) if (threads > 1 && n > 64) schedule(static)
    for (int64_t p = 0; p < n; ++p) {
        const std::size_t base = static_cast<std::size_t>(p) * o.channels;
        if (v == tfl_isa::avx512) tfl::pixel_avx512(o, acc, residual, dst, base);
        else if (v == tfl_isa::avx2) tfl::pixel_avx2(o, acc, residual, dst, base);
        else tfl::pixel_scalar(o, acc, residual, dst, base, 0);
    }
}

}  // namespace qint8::kernels
