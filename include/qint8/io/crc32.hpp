#pragma once
/// @file crc32.hpp  CRC-32 (IEEE 802.3 / zlib polynomial), as Python's zlib.crc32 computes it.
///
/// Eight bytes per step from eight tables ("slicing"): checking the weights of a large model
/// byte by byte took longer than compiling it. crc32_concat gives the CRC of two blocks laid end
/// to end from their own CRCs, so a file's CRC follows from its parts' without a second pass.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace qint8::detail {

inline constexpr uint32_t crc32_poly = 0xEDB88320u;  ///< reflected: bit 31 is x^0, bit 0 is x^31

/// tables[0] advances the register by one byte; tables[k] by one byte followed by k zero bytes.
inline const std::array<std::array<uint32_t, 256>, 8>& crc32_tables() {
    static const auto tables = [] {
        std::array<std::array<uint32_t, 256>, 8> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? crc32_poly ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        for (std::size_t k = 1; k < 8; ++k)
            for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
        return t;
    }();
    return tables;
}

inline const std::array<uint32_t, 256>& crc32_table() { return crc32_tables()[0]; }

/// Continues a CRC: crc32(b, crc32(a)) == crc32(a + b); start with 0.
inline uint32_t crc32(const void* data, std::size_t n, uint32_t crc = 0) {
    const auto& t = crc32_tables();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        // The register takes the next four bytes little-endian first (the byte loop's order).
        const uint32_t lo = crc ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
        crc = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^
              t[0][p[7]];
    }
    for (; n > 0; --n, ++p) crc = t[0][(crc ^ *p) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

/// a * b modulo the polynomial, both reflected.
inline uint32_t crc32_mulmod(uint32_t a, uint32_t b) {
    uint32_t p = 0;
    for (int i = 0; i < 32; ++i) {
        if (a & (0x80000000u >> i)) p ^= b;    // term x^i of a
        b = (b & 1u) ? (b >> 1) ^ crc32_poly : b >> 1;  // b *= x
    }
    return p;
}

/// The CRC of A followed by B from crc(A), crc(B) and B's length: the register after A, carried
/// through len(B) more bytes, is crc(A) times x^(8 len(B)); the start and end inversions cancel.
inline uint32_t crc32_concat(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
    uint32_t shift = 0x80000000u, x8k = 0x00800000u;  // x^0; x^8, then x^16, x^32, ...
    for (; len_b; len_b >>= 1, x8k = crc32_mulmod(x8k, x8k))
        if (len_b & 1u) shift = crc32_mulmod(shift, x8k);
    return crc32_mulmod(crc_a, shift) ^ crc_b;
}

inline std::string crc32_hex(uint32_t c) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", c);
    return buf;
}

}  // namespace qint8::detail
