#pragma once
/// @file crc32_table.hpp  CRC-32 (IEEE 802.3 / zlib polynomial) from tables, eight bytes per step
/// ("slicing"), and products modulo the polynomial. Every CPU runs it; crc32.hpp uses it for
/// short blocks and where the CPU lacks carry-less multiplication (crc32_clmul.hpp).

#include <array>
#include <cstddef>
#include <cstdint>

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

/// Continues a CRC: crc32_bytes(b, crc32_bytes(a)) == crc32_bytes(a + b); start with 0.
inline uint32_t crc32_bytes(const void* data, std::size_t n, uint32_t crc = 0) {
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

}  // namespace qint8::detail
