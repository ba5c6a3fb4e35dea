#pragma once
/// @file cpu_features.hpp  Instruction-set features from raw cpuid words, and the code paths they
/// allow. Decoding is a pure function of the words, so tests can feed it any CPU's bits; only
/// read_cpuid() touches the real processor.
///
/// cpuid is read directly because Debian's cpuinfo has no query for AVX-VNNI (leaf 7 subleaf 1
/// EAX bit 4), AVX512_BF16 on every version, or AMX.

#include <cpuid.h>

#include <cstdint>

namespace qint8 {

/// Code paths, ordered from least to most capable. avx2_vnni (AVX-VNNI, 256-bit vpdpbusd without
/// AVX-512, e.g. Alder Lake) sorts below avx512_core; a cap picks the best path the CPU has at or
/// below it in this order.
enum class isa { avx2 = 0, avx2_vnni = 1, avx512_core = 2, avx512_core_vnni = 3, avx512_core_bf16 = 4, avx512_core_amx = 5 };

inline constexpr isa all_isas[] = {isa::avx2, isa::avx2_vnni, isa::avx512_core, isa::avx512_core_vnni, isa::avx512_core_bf16,
                                   isa::avx512_core_amx};

inline const char* to_string(isa i) noexcept {
    switch (i) {
        case isa::avx2: return "avx2";
        case isa::avx2_vnni: return "avx2_vnni";
        case isa::avx512_core: return "avx512_core";
        case isa::avx512_core_vnni: return "avx512_core_vnni";
        case isa::avx512_core_bf16: return "avx512_core_bf16";
        case isa::avx512_core_amx: return "avx512_core_amx";
    }
    return "?";
}

/// Does the path multiply u8 x s8 with vpdpbusd or AMX (exact int32 sums), rather than with
/// vpmaddubsw (pairs summed into int16, which saturate with 8-bit weights)?
inline constexpr bool has_int8_dot(isa i) noexcept { return i != isa::avx2 && i != isa::avx512_core; }

/// The cpuid words qint8 reads (leaf 1, leaf 7 subleaves 0 and 1, and XCR0 from xgetbv).
struct cpuid_words {
    uint32_t l1_ecx = 0;
    uint32_t l7_ebx = 0, l7_ecx = 0, l7_edx = 0;
    uint32_t l7s1_eax = 0;  ///< 0 when leaf 7 has no subleaf 1
    uint64_t xcr0 = 0;      ///< 0 when the OS does not enable xgetbv (OSXSAVE clear)
};

/// Features usable by this process: the CPU has them and the OS saves their registers.
struct cpu_features {
    bool avx2 = false, fma = false;
    bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512_vnni = false, avx512_bf16 = false;
    bool avx_vnni = false;
    bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
};

inline constexpr bool bit(uint64_t w, int b) noexcept { return (w >> b) & 1u; }

inline cpu_features decode_cpuid(const cpuid_words& w) noexcept {
    cpu_features f;
    const bool osxsave = bit(w.l1_ecx, 27);
    const uint64_t xcr0 = osxsave ? w.xcr0 : 0;
    const bool os_avx = (xcr0 & 0x6) == 0x6;              // XMM and YMM state
    const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM0-15 upper halves, ZMM16-31
    const bool os_amx = (xcr0 & 0x60000) == 0x60000;        // TILECFG and TILEDATA
    const bool avx = os_avx && bit(w.l1_ecx, 28);
    f.avx2 = avx && bit(w.l7_ebx, 5);
    f.fma = avx && bit(w.l1_ecx, 12);
    f.avx512f = os_avx512 && bit(w.l7_ebx, 16);
    f.avx512dq = f.avx512f && bit(w.l7_ebx, 17);
    f.avx512bw = f.avx512f && bit(w.l7_ebx, 30);
    f.avx512vl = f.avx512f && bit(w.l7_ebx, 31);
    f.avx512_vnni = f.avx512f && bit(w.l7_ecx, 11);
    f.avx512_bf16 = f.avx512f && bit(w.l7s1_eax, 5);
    f.avx_vnni = f.avx2 && bit(w.l7s1_eax, 4);
    f.amx_bf16 = os_amx && bit(w.l7_edx, 22);
    f.amx_tile = os_amx && bit(w.l7_edx, 24);
    f.amx_int8 = os_amx && bit(w.l7_edx, 25);
    return f;
}

/// Can this CPU run path `i`? (Every path needs AVX2 + FMA.)
inline constexpr bool supports(const cpu_features& f, isa i) noexcept {
    const bool base = f.avx2 && f.fma;
    const bool core = base && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
    switch (i) {
        case isa::avx2: return base;
        case isa::avx2_vnni: return base && f.avx_vnni;
        case isa::avx512_core: return core;
        case isa::avx512_core_vnni: return core && f.avx512_vnni;
        case isa::avx512_core_bf16: return core && f.avx512_vnni && f.avx512_bf16;
        case isa::avx512_core_amx: return core && f.avx512_vnni && f.avx512_bf16 && f.amx_tile && f.amx_int8;
    }
    return false;
}

/// The best path the CPU supports at or below `limit` (avx2 if it supports none: callers check
/// supports(f, isa::avx2) first).
inline constexpr isa best_path(const cpu_features& f, isa limit = isa::avx512_core_amx) noexcept {
    isa best = isa::avx2;
    for (isa i : all_isas)
        if (static_cast<int>(i) <= static_cast<int>(limit) && supports(f, i)) best = i;
    return best;
}

/// Reads this processor's words.
inline cpuid_words read_cpuid() noexcept {
    cpuid_words w;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) w.l1_ecx = c;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        w.l7_ebx = b;
        w.l7_ecx = c;
        w.l7_edx = d;
        const unsigned max_sub = a;
        if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) w.l7s1_eax = a;
    }
    if (bit(w.l1_ecx, 27)) {
        uint32_t lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        w.xcr0 = (uint64_t(hi) << 32) | lo;
    }
    return w;
}

}  // namespace qint8
