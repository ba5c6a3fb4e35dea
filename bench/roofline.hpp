#pragma once
/// @file roofline.hpp  A short probe of this core's INT8 and FP32 multiply-accumulate peak, for
/// printing a model's share of the hardware limit beside its images/s.
///
/// Each probe runs independent register-resident accumulator chains (no memory traffic) on the
/// widest instructions of the path qint8 runs: INT8 as vpdpbusd (AVX-512 VNNI, zmm) or
/// vpmaddubsw + vpmaddwd + vpaddd (AVX2, ymm: 32 u8 x s8 MACs per sequence, as oneDNN's AVX2
/// INT8 kernels compute); FP32 as
/// vfmadd231ps (zmm or ymm). The inputs are all ones, so every accumulator lane ends at exactly
/// the number of MACs it did: `checksum` lets a test prove the MAC count the rate is based on.
/// The inputs of the integer sequences pass through an empty `asm volatile` each time, so the
/// compiler can neither hoist the products nor fold the chains (a plain asm with the same input
/// is pure to GCC: it merged all of them into one product outside the loop, and the probe timed
/// vpaddd alone); the accumulators stay in registers. They start from the setzero intrinsics:
/// written `= {}`, GCC 12 proved the FP32 chains equal and merged them into one (a latency probe).
/// One thread; run it on an otherwise idle core for a meaningful peak. Build it optimized as the
/// project builds (Release, -O3): at -O2 GCC 12 stores the FP32 accumulators to the stack on
/// every iteration, and the probe measures those stores (a third of the peak).

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <qint8/dispatch/isa.hpp>

namespace qint8::bench {

struct probe_result {
    double gmacs = 0;       ///< best rate over the repeats, in 10^9 MACs per second
    double checksum = 0;    ///< sum over all accumulator lanes of one repeat
    double macs = 0;        ///< MACs of one repeat (what checksum must equal)
    const char* how = "";  ///< the instruction sequence measured
};

namespace roofline_detail {

/// The sum of every lane of the accumulators, read as `Lane` (int32_t or float): what checksum
/// reports. Copied out with memcpy, so this needs no instruction set of its own.
template <class Lane, class Vec, std::size_t N>
inline double lane_sum(const Vec (&acc)[N]) {
    double sum = 0;
    for (const Vec& x : acc) {
        Lane v[sizeof(Vec) / sizeof(Lane)];
        std::memcpy(v, &x, sizeof x);
        for (Lane e : v) sum += e;
    }
    return sum;
}

__attribute__((target("avx2,fma"))) inline double int8_avx2(int64_t iters) {
    const __m256i a = _mm256_set1_epi8(1), b = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
    // Four chains: only vpaddd (1 cycle) is loop-carried, so four keep both multiply ports busy;
    // eight chains need 8 + 8 + 3 of the 16 ymm registers and the spills were timed instead.
    __m256i acc[4];
    for (auto& x : acc) x = _mm256_setzero_si256();
    for (int64_t i = 0; i < iters; ++i)
#pragma GCC unroll 16
        for (auto& x : acc) {
            // 32 u8 x s8 products summed in pairs (int16), then pairs of those into int32.
            __m256i u = a;
            __asm__ volatile("" : "+x"(u));  // an opaque copy: the product cannot be hoisted out of the loop
            __m256i p = _mm256_maddubs_epi16(u, b);
            x = _mm256_add_epi32(x, _mm256_madd_epi16(p, ones));
        }
    return lane_sum<int32_t>(acc);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline double int8_vnni(int64_t iters) {
    const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
    __m512i acc[8];
    for (auto& x : acc) x = _mm512_setzero_si512();
    for (int64_t i = 0; i < iters; ++i)
#pragma GCC unroll 16
        for (auto& x : acc) {
            __m512i u = a;
            __asm__ volatile("" : "+v"(u));
            x = _mm512_dpbusd_epi32(x, u, b);  // 64 u8 x s8 MACs
        }
    return lane_sum<int32_t>(acc);
}

__attribute__((target("avx2,fma"))) inline double fp32_avx2(int64_t iters) {
    const __m256 a = _mm256_set1_ps(1.f), b = _mm256_set1_ps(1.f);
    __m256 acc[10];
    for (auto& x : acc) x = _mm256_setzero_ps();
    for (int64_t i = 0; i < iters; ++i)
#pragma GCC unroll 16
        for (auto& x : acc) {
            x = _mm256_fmadd_ps(a, b, x);  // not folded: float addition is not reassociated
        }
    return lane_sum<float>(acc);
}

__attribute__((target("avx512f"))) inline double fp32_avx512(int64_t iters) {
    const __m512 a = _mm512_set1_ps(1.f), b = _mm512_set1_ps(1.f);
    __m512 acc[12];
    for (auto& x : acc) x = _mm512_setzero_ps();
    for (int64_t i = 0; i < iters; ++i)
#pragma GCC unroll 16
        for (auto& x : acc) {
            x = _mm512_fmadd_ps(a, b, x);
        }
    return lane_sum<float>(acc);
}

/// Best of `repeats` timed calls of f(iters), as GMAC/s for `macs` MACs per call.
template <class F>
probe_result time_best(F f, int64_t iters, double macs, int repeats, const char* how) {
    probe_result r;
    r.macs = macs;
    r.how = how;
    double best = 1e30;
    // The chains are pure register arithmetic, which the compiler may schedule across the clock
    // calls or merge between repeats (an -O3 build timed 415 GMAC/s INT8, 259 FP32: impossible).
    // A volatile read after the first clock call and a volatile write before the second pin the
    // work between them; observable accesses keep their order around calls.
    volatile int64_t count = iters;
    volatile double sink = 0;
    for (int k = 0; k < repeats; ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        sink = f(count);
        const auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
    }
    r.checksum = sink;
    r.gmacs = macs / best / 1e9;
    return r;
}

}  // namespace roofline_detail

/// INT8 peak of one core on the path qint8 runs (`iters` x 8 VNNI or 4 AVX2 chains; a few ms at the default).
/// Lanes stay far below 2^31 for any iters below 10^7.
inline probe_result int8_peak(int64_t iters = 200000, int repeats = 5) {
    using namespace roofline_detail;
    const cpu_info_t c = cpu_info();
    if (has_int8_dot(c.chosen) && c.has_avx512_vnni && static_cast<int>(c.chosen) >= static_cast<int>(isa::avx512_core_vnni))
        return time_best(int8_vnni, iters, double(iters) * 8 * 64, repeats, "vpdpbusd zmm");
    return time_best(int8_avx2, iters, double(iters) * 4 * 32, repeats, "vpmaddubsw+vpmaddwd+vpaddd ymm");
}

/// FP32 peak of one core (`iters` x 10 or 12 FMA chains). Each float lane counts to `iters`,
/// exact while iters <= 2^24.
inline probe_result fp32_peak(int64_t iters = 200000, int repeats = 5) {
    using namespace roofline_detail;
    const cpu_info_t c = cpu_info();
    if (c.has_avx512 && static_cast<int>(c.chosen) >= static_cast<int>(isa::avx512_core))
        return time_best(fp32_avx512, iters, double(iters) * 12 * 16, repeats, "vfmadd231ps zmm");
    return time_best(fp32_avx2, iters, double(iters) * 10 * 8, repeats, "vfmadd231ps ymm");
}

}  // namespace qint8::bench
