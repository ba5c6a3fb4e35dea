#pragma once
/// @file unfused.hpp  Keeps a rounded product apart from the add that follows it.
///
/// The requantization computes v = float(acc) * scale, rounds it to float, then adds the zero
/// point and rounds again, as the reference and oneDNN do. GCC's default for C++
/// (-ffp-contract=fast) fuses a * b + c into one FMA wherever the function may use FMA
/// instructions, which every AVX-512 kernel and every caller built with -mfma does; the fused form
/// rounds once, and where the product lies a quarter step above a tie, an add that shrinks it
/// keeps what the separate rounding dropped (2.5 + 2^-24 - 2 rounds to 1 fused, to 0 unfused).
/// unfused(v) passes v through an empty asm statement that the compiler cannot see through, so
/// the kernels compute what the reference does under any flags, at no cost.

#include <immintrin.h>

namespace qint8::kernels {

/// `v`, as a value the compiler cannot fuse into a following add (one overload per vector width,
/// each compiled for the instructions that width needs).
__attribute__((target("avx"), always_inline)) inline __m256 unfused(__m256 v) {
    __asm__("" : "+x"(v));
    return v;
}
__attribute__((target("avx512f"), always_inline)) inline __m512 unfused(__m512 v) {
    __asm__("" : "+v"(v));
    return v;
}

}  // namespace qint8::kernels
