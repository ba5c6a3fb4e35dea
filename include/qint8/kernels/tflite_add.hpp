#pragma once
/// @file tflite_add.hpp  TFLite's ADD of two 8-bit tensors of the same shape (a residual add the
/// converter could not fuse into the convolution before it), in TFLite's fixed point: each input
/// less its zero point, moved left by 20 bits and scaled, the sum scaled to the output
/// (tflite_requantize.hpp has the arithmetic). Scalar and AVX2 (8 elements per vector).

#include "qint8/kernels/parallel.hpp"
#include "qint8/kernels/tflite_requantize.hpp"

namespace qint8::kernels {

struct tfl_add_job {
    tfl_add_params p;  ///< zp_a / zp_b: the two inputs' zero points; lo / hi: the fused activation's range
    bool a_signed = false, b_signed = false, dst_signed = false;
    bool vector_ok = false;  ///< no left shifts and right shifts up to 31 in the three multipliers (vector_safe())
};

/// The vector part of one block: elements [i, end) 8 at a time; returns where the scalar loop
/// goes on. Its own function with the AVX2 target, so that no vector value passes through a
/// function compiled without AVX (that changes the ABI: a program built without -mavx2 would
/// hand the AVX2 helpers their arguments in the wrong registers).
__attribute__((target("avx2"))) inline std::size_t tflite_add_avx2(const tfl_add_job& j, const void* a, const void* b, void* dst, std::size_t i,
                                                                   std::size_t end) {
    const tfl::add8_consts p = tfl::add8_of(j.p);
    for (; i + 8 <= end; i += 8) {
        const __m256i q = tfl::load_codes(static_cast<const char*>(a) + i, j.a_signed);
        const __m256i r = tfl::load_codes(static_cast<const char*>(b) + i, j.b_signed);
        tfl::store_codes(static_cast<char*>(dst) + i, tfl::add8(q, r, p), j.dst_signed);
    }
    return i;
}

/// dst[i] = ADD(a[i], b[i]) for i < n, split over `threads` OpenMP threads in blocks of 4096.
inline void tflite_add(const tfl_add_job& j, const void* a, const void* b, void* dst, std::size_t n, int threads, bool avx2, bool scalar_only = false) {
    const bool vec = avx2 && j.vector_ok && !scalar_only;
    constexpr std::size_t block = 4096;
    const auto blocks = static_cast<int64_t>((n + block - 1) / block);
    parallel_for(threads, blocks, [&](int64_t k) {
        std::size_t i = static_cast<std::size_t>(k) * block;
        const std::size_t end = std::min(n, i + block);
        if (vec) i = tflite_add_avx2(j, a, b, dst, i, end);
        for (; i < end; ++i) {
            const int32_t v = tfl::add(tfl::code_at(a, i, j.a_signed), tfl::code_at(b, i, j.b_signed), j.p);
            if (j.dst_signed) static_cast<int8_t*>(dst)[i] = static_cast<int8_t>(v);
            else static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(v);
        }
    });
}

}  // namespace qint8::kernels
