#pragma once
/// @file crc32.hpp  CRC-32 (IEEE 802.3 / zlib polynomial), as Python's zlib.crc32 computes it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace qint8::detail {

inline const std::array<uint32_t, 256>& crc32_table() {
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    return table;
}

/// Continues a CRC: crc32(b, crc32(a)) == crc32(a + b); start with 0.
inline uint32_t crc32(const void* data, std::size_t n, uint32_t crc = 0) {
    const auto& t = crc32_table();
    const auto* p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = t[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

inline std::string crc32_hex(uint32_t c) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", c);
    return buf;
}

}  // namespace qint8::detail
