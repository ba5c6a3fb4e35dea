#pragma once
/// @file crc32_clmul.hpp  CRC-32 (crc32.hpp's) by carry-less multiplication: 64 bytes per step.
///
/// Why: the table version runs at about 2 GB/s, so checking VGG16's 138 MB took 70 ms of its
/// load; PCLMULQDQ folds at several times that. crc32() calls this for long blocks where the CPU
/// has PCLMULQDQ; crc32_bytes() is the reference it must equal bit for bit (tests/test_crc32.cpp).
///
/// The arithmetic. A 16-byte register R stands for the polynomial with byte 0's bit 0 as its
/// highest coefficient, x^127 (the CRC's reflected order), so its low 8 bytes l are R's high
/// terms: R = l(x) x^64 + h(x). The processed message M satisfies M == R (mod P), and the CRC
/// register is M x^32 mod P. Moving R ahead by D bits, R x^D = l x^(D+64) + h x^D, replaces each
/// power by its residue mod P (degree < 32), so each product fits in 96 bits. PCLMULQDQ of two
/// 64-bit values in this order yields the product times x (bit k of the result stands for
/// x^(127-k), the operands' bits for x^(63-j)), so the keys are x^(D+63) and x^(D-1) mod P.
/// No Barrett step: the final 16 bytes of R go through the table, which computes R x^32 mod P.

#include <cstddef>
#include <cstdint>

#include "qint8/io/crc32_table.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QINT8_CRC32_CLMUL 1
#else
#define QINT8_CRC32_CLMUL 0
#endif

namespace qint8::detail {

/// x^e mod P as a folding key: crc32_mulmod's order (bit 31 is x^0) in the top half of 64 bits,
/// where the coefficient of x^d lands on bit 63 - d, as PCLMULQDQ's operands read it.
inline uint64_t crc32_fold_key(uint32_t e) {
    uint32_t r = 0x80000000u, sq = 0x40000000u;  // x^0; x^1, then x^2, x^4, ...
    for (; e; e >>= 1, sq = crc32_mulmod(sq, sq))
        if (e & 1u) r = crc32_mulmod(r, sq);
    return static_cast<uint64_t>(r) << 32;
}

#if QINT8_CRC32_CLMUL

struct crc32_fold_keys {
    uint64_t by512_l, by512_h, by128_l, by128_h;
};

inline const crc32_fold_keys& crc32_keys() {
    static const crc32_fold_keys k{crc32_fold_key(512 + 63), crc32_fold_key(512 - 1), crc32_fold_key(128 + 63), crc32_fold_key(128 - 1)};
    return k;
}

/// R x^D + next, with `key` holding D's keys (low: for l, high: for h).
__attribute__((target("pclmul,sse4.1"))) inline __m128i crc32_fold(__m128i r, __m128i key, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(r, key, 0x00), _mm_clmulepi64_si128(r, key, 0x11)), next);
}

/// crc32() for n >= 64 bytes.
__attribute__((target("pclmul,sse4.1"))) inline uint32_t crc32_clmul(const unsigned char* p, std::size_t n, uint32_t crc) {
    const crc32_fold_keys& k = crc32_keys();
    const __m128i by512 = _mm_set_epi64x(static_cast<long long>(k.by512_h), static_cast<long long>(k.by512_l));
    const __m128i by128 = _mm_set_epi64x(static_cast<long long>(k.by128_h), static_cast<long long>(k.by128_l));
    auto load = [](const unsigned char* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); };
    // The register before the message, ~crc, is the same as ~crc added to its first 4 bytes.
    __m128i r0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(~crc)));
    __m128i r1 = load(p + 16), r2 = load(p + 32), r3 = load(p + 48);
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
        r0 = crc32_fold(r0, by512, load(p));
        r1 = crc32_fold(r1, by512, load(p + 16));
        r2 = crc32_fold(r2, by512, load(p + 32));
        r3 = crc32_fold(r3, by512, load(p + 48));
    }
    __m128i r = crc32_fold(crc32_fold(crc32_fold(r0, by128, r1), by128, r2), by128, r3);
    for (; n >= 16; p += 16, n -= 16) r = crc32_fold(r, by128, load(p));
    unsigned char rest[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(rest), r);
    // crc32_bytes inverts on entry and exit: ~0 starts the register at 0 for R itself.
    return crc32_bytes(p, n, crc32_bytes(rest, 16, ~0u));
}

/// Whether this CPU runs crc32_clmul (asked once).
inline bool crc32_has_clmul() {
    static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    return yes;
}

#endif

}  // namespace qint8::detail
