#pragma once
/// @file roofline.hpp  A short probe of this core's INT8 and FP32 multiply-accumulate peak, for
/// printing a model's share of the hardware limit beside its images/s.
///
/// Each probe runs independent register-resident accumulator chains (no memory traffic) on the
/// widest instructions of the path qint8 runs: INT8 as AMX tdpbusd (avx512_core_amx), vpdpbusd
/// (AVX-512 VNNI zmm, AVX-VNNI ymm) or vpmaddubsw + vpmaddwd + vpaddd (AVX2, ymm: 32 u8 x s8 MACs
/// per sequence, as oneDNN's AVX2 INT8 kernels compute); FP32 as
/// vfmadd231ps (zmm or ymm). The inputs are all ones, so every accumulator lane ends at exactly
/// the number of MACs it did: `checksum` lets a test prove the MAC count the rate is based on.
/// The inputs of the integer sequences pass through an empty `asm volatile` each time, so the
/// compiler can neither hoist the products nor fold the chains (a plain asm with the same input
/// is pure to GCC: it merged all of them into one product outside the loop, and the probe timed
/// vpaddd alone); the accumulators stay in registers. They start from the setzero intrinsics:
/// written `= {}`, GCC 12 proved the FP32 chains equal and merged them into one (a latency probe).
/// One thread, or `threads` threads at once for the limit of a model run on that many: the rate of
/// all of them together over the wall time, which is what the threads share. On a 2-vCPU Zen 5
/// guest two threads reached 2.0x one thread's vpdpbusd rate at some times and 1.0x at others (the
/// host ran both vCPUs on one core's two hardware threads), so N times one thread's peak is not
/// the limit of N threads. Run it on otherwise idle cores for a meaningful peak. Build it optimized as the
/// project builds (Release, -O3): at -O2 GCC 12 stores the FP32 accumulators to the stack on
/// every iteration, and the probe measures those stores (a third of the peak).

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <omp.h>

#include <qint8/dispatch/isa.hpp>

namespace qint8::bench {

struct probe_result {
    double gmacs = 0;       ///< best rate over the repeats, in 10^9 MACs per second
    double checksum = 0;    ///< sum over all accumulator lanes of one repeat
    double macs = 0;        ///< MACs of one repeat (what checksum must equal)
    const char* how = "";  ///< the instruction sequence measured
    int threads = 1;        ///< threads that ran it at once (gmacs and macs are all of theirs)
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

/// 6 chains of vpmaddubsw + vpmaddwd + vpaddd ymm (32 u8 x s8 MACs each) per iteration, in
/// assembly like the probes below: from intrinsics, with an opaque copy of the input per sequence
/// so that the compiler could not hoist the products, it reached 54% of this loop on a Xeon.
__attribute__((target("avx2,fma"))) inline double int8_avx2(int64_t iters) {
    alignas(32) int32_t out[6][8];
    __asm__ volatile(
        "movl $0x01010101, %%eax\n\t vmovd %%eax, %%xmm15\n\t vpbroadcastd %%xmm15, %%ymm13\n\t vmovdqa %%ymm13, %%ymm14\n\t"
        "movl $0x00010001, %%eax\n\t vmovd %%eax, %%xmm15\n\t vpbroadcastd %%xmm15, %%ymm15\n\t"
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t vmovdqa %%ymm0, %%ymm1\n\t vmovdqa %%ymm0, %%ymm2\n\t"
        "vmovdqa %%ymm0, %%ymm3\n\t vmovdqa %%ymm0, %%ymm4\n\t vmovdqa %%ymm0, %%ymm5\n\t"
        "testq %[n], %[n]\n\t jle 2f\n\t"
        "1:\n\t"
        "vpmaddubsw %%ymm14, %%ymm13, %%ymm6\n\t vpmaddubsw %%ymm14, %%ymm13, %%ymm7\n\t vpmaddubsw %%ymm14, %%ymm13, %%ymm8\n\t"
        "vpmaddubsw %%ymm14, %%ymm13, %%ymm9\n\t vpmaddubsw %%ymm14, %%ymm13, %%ymm10\n\t vpmaddubsw %%ymm14, %%ymm13, %%ymm11\n\t"
        "vpmaddwd %%ymm15, %%ymm6, %%ymm6\n\t vpmaddwd %%ymm15, %%ymm7, %%ymm7\n\t vpmaddwd %%ymm15, %%ymm8, %%ymm8\n\t"
        "vpmaddwd %%ymm15, %%ymm9, %%ymm9\n\t vpmaddwd %%ymm15, %%ymm10, %%ymm10\n\t vpmaddwd %%ymm15, %%ymm11, %%ymm11\n\t"
        "vpaddd %%ymm6, %%ymm0, %%ymm0\n\t vpaddd %%ymm7, %%ymm1, %%ymm1\n\t vpaddd %%ymm8, %%ymm2, %%ymm2\n\t"
        "vpaddd %%ymm9, %%ymm3, %%ymm3\n\t vpaddd %%ymm10, %%ymm4, %%ymm4\n\t vpaddd %%ymm11, %%ymm5, %%ymm5\n\t"
        "decq %[n]\n\t jnz 1b\n\t"
        "2:\n\t"
        "vmovdqa %%ymm0, 0(%[o])\n\t vmovdqa %%ymm1, 32(%[o])\n\t vmovdqa %%ymm2, 64(%[o])\n\t"
        "vmovdqa %%ymm3, 96(%[o])\n\t vmovdqa %%ymm4, 128(%[o])\n\t vmovdqa %%ymm5, 160(%[o])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(iters)
        : [o] "r"(&out[0][0])
        : "eax", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm13",
          "xmm14", "xmm15");
    double sum = 0;
    for (const auto& row : out)
        for (int32_t v : row) sum += v;
    return sum;
}

/// The same sequence on zmm (64 MACs each): the avx512_core path (AVX-512BW without VNNI).
__attribute__((target("avx512f,avx512bw"))) inline double int8_avx512bw(int64_t iters) {
    alignas(64) int32_t out[6][16];
    __asm__ volatile(
        "movl $0x01010101, %%eax\n\t vpbroadcastd %%eax, %%zmm13\n\t vmovdqa64 %%zmm13, %%zmm14\n\t"
        "movl $0x00010001, %%eax\n\t vpbroadcastd %%eax, %%zmm15\n\t"
        "vpxord %%zmm0, %%zmm0, %%zmm0\n\t vmovdqa64 %%zmm0, %%zmm1\n\t vmovdqa64 %%zmm0, %%zmm2\n\t"
        "vmovdqa64 %%zmm0, %%zmm3\n\t vmovdqa64 %%zmm0, %%zmm4\n\t vmovdqa64 %%zmm0, %%zmm5\n\t"
        "testq %[n], %[n]\n\t jle 2f\n\t"
        "1:\n\t"
        "vpmaddubsw %%zmm14, %%zmm13, %%zmm6\n\t vpmaddubsw %%zmm14, %%zmm13, %%zmm7\n\t vpmaddubsw %%zmm14, %%zmm13, %%zmm8\n\t"
        "vpmaddubsw %%zmm14, %%zmm13, %%zmm9\n\t vpmaddubsw %%zmm14, %%zmm13, %%zmm10\n\t vpmaddubsw %%zmm14, %%zmm13, %%zmm11\n\t"
        "vpmaddwd %%zmm15, %%zmm6, %%zmm6\n\t vpmaddwd %%zmm15, %%zmm7, %%zmm7\n\t vpmaddwd %%zmm15, %%zmm8, %%zmm8\n\t"
        "vpmaddwd %%zmm15, %%zmm9, %%zmm9\n\t vpmaddwd %%zmm15, %%zmm10, %%zmm10\n\t vpmaddwd %%zmm15, %%zmm11, %%zmm11\n\t"
        "vpaddd %%zmm6, %%zmm0, %%zmm0\n\t vpaddd %%zmm7, %%zmm1, %%zmm1\n\t vpaddd %%zmm8, %%zmm2, %%zmm2\n\t"
        "vpaddd %%zmm9, %%zmm3, %%zmm3\n\t vpaddd %%zmm10, %%zmm4, %%zmm4\n\t vpaddd %%zmm11, %%zmm5, %%zmm5\n\t"
        "decq %[n]\n\t jnz 1b\n\t"
        "2:\n\t"
        "vmovdqa64 %%zmm0, 0(%[o])\n\t vmovdqa64 %%zmm1, 64(%[o])\n\t vmovdqa64 %%zmm2, 128(%[o])\n\t"
        "vmovdqa64 %%zmm3, 192(%[o])\n\t vmovdqa64 %%zmm4, 256(%[o])\n\t vmovdqa64 %%zmm5, 320(%[o])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(iters)
        : [o] "r"(&out[0][0])
        : "eax", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm13",
          "xmm14", "xmm15");
    double sum = 0;
    for (const auto& row : out)
        for (int32_t v : row) sum += v;
    return sum;
}

// The VNNI and AMX probes are written in assembly: compiled from intrinsics, the chains needed an
// opaque copy of an input per instruction (see int8_avx2), and those copies, the compiler's
// schedule and too few chains for vpdpbusd's latency (5 cycles, two ports on some cores) kept the
// probe at 48-83% of what a plain loop of the instruction reaches (159 against 334 GMAC/s on a
// Xeon, 323-353 against 425 on Zen 5). Sixteen accumulators cover latency x ports on every core
// measured; the inputs are two registers of ones that the loop never writes.

/// 16 chains of vpdpbusd zmm (64 u8 x s8 MACs each) per iteration.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline double int8_vnni(int64_t iters) {
    alignas(64) int32_t out[16][16];
    __asm__ volatile(
        "movl $0x01010101, %%eax\n\t"
        "vpbroadcastd %%eax, %%zmm16\n\t"
        "vmovdqa64 %%zmm16, %%zmm17\n\t"
        "vpxord %%zmm0, %%zmm0, %%zmm0\n\t vmovdqa64 %%zmm0, %%zmm1\n\t vmovdqa64 %%zmm0, %%zmm2\n\t vmovdqa64 %%zmm0, %%zmm3\n\t"
        "vmovdqa64 %%zmm0, %%zmm4\n\t vmovdqa64 %%zmm0, %%zmm5\n\t vmovdqa64 %%zmm0, %%zmm6\n\t vmovdqa64 %%zmm0, %%zmm7\n\t"
        "vmovdqa64 %%zmm0, %%zmm8\n\t vmovdqa64 %%zmm0, %%zmm9\n\t vmovdqa64 %%zmm0, %%zmm10\n\t vmovdqa64 %%zmm0, %%zmm11\n\t"
        "vmovdqa64 %%zmm0, %%zmm12\n\t vmovdqa64 %%zmm0, %%zmm13\n\t vmovdqa64 %%zmm0, %%zmm14\n\t vmovdqa64 %%zmm0, %%zmm15\n\t"
        "testq %[n], %[n]\n\t jle 2f\n\t"
        "1:\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm0\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm1\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm2\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm3\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm4\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm5\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm6\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm7\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm8\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm9\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm10\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm11\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm12\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm13\n\t vpdpbusd %%zmm17, %%zmm16, %%zmm14\n\t"
        "vpdpbusd %%zmm17, %%zmm16, %%zmm15\n\t"
        "decq %[n]\n\t jnz 1b\n\t"
        "2:\n\t"
        "vmovdqa64 %%zmm0, 0(%[o])\n\t vmovdqa64 %%zmm1, 64(%[o])\n\t vmovdqa64 %%zmm2, 128(%[o])\n\t vmovdqa64 %%zmm3, 192(%[o])\n\t"
        "vmovdqa64 %%zmm4, 256(%[o])\n\t vmovdqa64 %%zmm5, 320(%[o])\n\t vmovdqa64 %%zmm6, 384(%[o])\n\t vmovdqa64 %%zmm7, 448(%[o])\n\t"
        "vmovdqa64 %%zmm8, 512(%[o])\n\t vmovdqa64 %%zmm9, 576(%[o])\n\t vmovdqa64 %%zmm10, 640(%[o])\n\t vmovdqa64 %%zmm11, 704(%[o])\n\t"
        "vmovdqa64 %%zmm12, 768(%[o])\n\t vmovdqa64 %%zmm13, 832(%[o])\n\t vmovdqa64 %%zmm14, 896(%[o])\n\t vmovdqa64 %%zmm15, 960(%[o])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(iters)
        : [o] "r"(&out[0][0])
        : "eax", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15", "xmm16", "xmm17");
    double sum = 0;
    for (const auto& row : out)
        for (int32_t v : row) sum += v;
    return sum;
}

/// 16 chains of vpdpbusd ymm in its VEX form (AVX-VNNI: 32 u8 x s8 MACs each) per iteration.
__attribute__((target("avx2,avxvnni"))) inline double int8_avx_vnni(int64_t iters) {
    alignas(32) int32_t out[16][8];
    __asm__ volatile(
        "movl $0x01010101, %%eax\n\t"
        "vmovd %%eax, %%xmm15\n\t vpbroadcastd %%xmm15, %%ymm14\n\t vmovdqa %%ymm14, %%ymm15\n\t"
        "vpxor %%ymm0, %%ymm0, %%ymm0\n\t vmovdqa %%ymm0, %%ymm1\n\t vmovdqa %%ymm0, %%ymm2\n\t vmovdqa %%ymm0, %%ymm3\n\t"
        "vmovdqa %%ymm0, %%ymm4\n\t vmovdqa %%ymm0, %%ymm5\n\t vmovdqa %%ymm0, %%ymm6\n\t vmovdqa %%ymm0, %%ymm7\n\t"
        "vmovdqa %%ymm0, %%ymm8\n\t vmovdqa %%ymm0, %%ymm9\n\t vmovdqa %%ymm0, %%ymm10\n\t vmovdqa %%ymm0, %%ymm11\n\t"
        "vmovdqa %%ymm0, %%ymm12\n\t vmovdqa %%ymm0, %%ymm13\n\t"
        "testq %[n], %[n]\n\t jle 2f\n\t"
        "1:\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm0\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm1\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm2\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm3\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm4\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm5\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm6\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm7\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm8\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm9\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm10\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm11\n\t"
        "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm12\n\t %{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm13\n\t"
        "decq %[n]\n\t jnz 1b\n\t"
        "2:\n\t"
        "vmovdqa %%ymm0, 0(%[o])\n\t vmovdqa %%ymm1, 32(%[o])\n\t vmovdqa %%ymm2, 64(%[o])\n\t vmovdqa %%ymm3, 96(%[o])\n\t"
        "vmovdqa %%ymm4, 128(%[o])\n\t vmovdqa %%ymm5, 160(%[o])\n\t vmovdqa %%ymm6, 192(%[o])\n\t vmovdqa %%ymm7, 224(%[o])\n\t"
        "vmovdqa %%ymm8, 256(%[o])\n\t vmovdqa %%ymm9, 288(%[o])\n\t vmovdqa %%ymm10, 320(%[o])\n\t vmovdqa %%ymm11, 352(%[o])\n\t"
        "vmovdqa %%ymm12, 384(%[o])\n\t vmovdqa %%ymm13, 416(%[o])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(iters)
        : [o] "r"(&out[0][0])
        : "eax", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15");
    double sum = 0;
    for (int i = 0; i < 14; ++i)
        for (int32_t v : out[i]) sum += v;
    return sum;
}

/// Linux hands out AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
/// XTILEDATA); without it the first tile instruction faults. oneDNN asks for itself as well.
inline bool amx_permitted() {
    static const bool ok = [] {
        constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
        return ::syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
    }();
    return ok;
}

/// The tile configuration for the AMX probe: tiles 0-7 of 16 rows x 64 bytes.
struct alignas(64) amx_tile_config {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
    uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

/// 4 independent tdpbusd per iteration, each 16 x 16 int32 += 16 x 64 u8 . 64 x 16 s8 (16384
/// MACs): four accumulator tiles (0-3) and two A (4, 5) and two B tiles (6, 7) of ones.
__attribute__((target("amx-tile,amx-int8"))) inline double int8_amx(int64_t iters) {
    const amx_tile_config cfg;
    alignas(64) uint8_t src[16 * 64];
    std::memset(src, 1, sizeof src);
    alignas(64) int32_t out[4][16 * 16];
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, src, 64);
    _tile_loadd(5, src, 64);
    _tile_loadd(6, src, 64);
    _tile_loadd(7, src, 64);
    for (int64_t i = 0; i < iters; ++i) {
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
    }
    _tile_stored(0, out[0], 64);
    _tile_stored(1, out[1], 64);
    _tile_stored(2, out[2], 64);
    _tile_stored(3, out[3], 64);
    _tile_release();
    double sum = 0;
    for (const auto& t : out)
        for (int32_t v : t) sum += v;
    return sum;
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

/// time_best on `threads` threads at once: each repeat starts them together (a barrier) and is
/// timed from that barrier to the one after the last thread's calls, so a thread the host held
/// back lowers the rate as it lowers a model's. checksum and macs are the team's sums.
template <class F>
probe_result time_best_team(F f, int64_t iters, double macs, int repeats, const char* how, int threads) {
    if (threads <= 1) return time_best(f, iters, macs, repeats, how);
    probe_result r;
    r.how = how;
    double best = 1e30, checksum = 0;
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
        volatile int64_t count = iters;
        for (int k = 0; k < repeats; ++k) {
            std::chrono::steady_clock::time_point t0;
#pragma omp barrier
#pragma omp master
            t0 = std::chrono::steady_clock::now();
            const double sum = f(count);
#pragma omp barrier
#pragma omp master
            {
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                team = omp_get_num_threads();
                checksum = 0;
            }
#pragma omp barrier
#pragma omp atomic
            checksum += sum;
        }
    }
    r.threads = team;
    r.macs = macs * team;
    r.checksum = checksum;
    r.gmacs = r.macs / best / 1e9;
    return r;
}

}  // namespace roofline_detail

/// INT8 peak of one core on the path qint8 runs: AMX tdpbusd on avx512_core_amx (when Linux
/// grants the tile state), vpdpbusd zmm on the AVX-512 VNNI paths, vpdpbusd ymm on avx2_vnni,
/// vpmaddubsw+vpmaddwd+vpaddd ymm otherwise (`iters` loop iterations: a few ms at the default),
/// on `threads` threads at once (their rate together).
/// Lanes stay far below 2^31 for any iters below 10^7.
inline probe_result int8_peak(int64_t iters = 200000, int repeats = 5, int threads = 1) {
    using namespace roofline_detail;
    const cpu_info_t c = cpu_info();
    if (c.chosen == isa::avx512_core_amx && c.has_amx_int8 && amx_permitted()) {
        const int64_t n = std::max<int64_t>(iters / 16, 1);  // one iteration: 64 Ki MACs, ~30 ns
        return time_best_team(int8_amx, n, double(n) * 4 * 16 * 16 * 64, repeats, "tdpbusd (AMX)", threads);
    }
    if (has_int8_dot(c.chosen) && c.has_avx512_vnni && static_cast<int>(c.chosen) >= static_cast<int>(isa::avx512_core_vnni))
        return time_best_team(int8_vnni, iters, double(iters) * 16 * 64, repeats, "vpdpbusd zmm", threads);
    if (c.chosen == isa::avx512_core && c.has_avx512bw) return time_best_team(int8_avx512bw, iters, double(iters) * 6 * 64, repeats, "vpmaddubsw+vpmaddwd+vpaddd zmm", threads);
    if (c.chosen == isa::avx2_vnni && c.has_avx_vnni) return time_best_team(int8_avx_vnni, iters, double(iters) * 14 * 32, repeats, "vpdpbusd ymm (AVX-VNNI)", threads);
    return time_best_team(int8_avx2, iters, double(iters) * 6 * 32, repeats, "vpmaddubsw+vpmaddwd+vpaddd ymm", threads);
}

/// FP32 peak of one core (`iters` x 10 or 12 FMA chains), or of `threads` threads at once. Each
/// float lane counts to `iters`, exact while iters <= 2^24.
inline probe_result fp32_peak(int64_t iters = 200000, int repeats = 5, int threads = 1) {
    using namespace roofline_detail;
    const cpu_info_t c = cpu_info();
    if (c.has_avx512 && static_cast<int>(c.chosen) >= static_cast<int>(isa::avx512_core))
        return time_best_team(fp32_avx512, iters, double(iters) * 12 * 16, repeats, "vfmadd231ps zmm", threads);
    return time_best_team(fp32_avx2, iters, double(iters) * 10 * 8, repeats, "vfmadd231ps ymm", threads);
}

}  // namespace qint8::bench
