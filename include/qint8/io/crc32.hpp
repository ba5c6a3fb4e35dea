#pragma once
/// @file crc32.hpp  CRC-32 (IEEE 802.3 / zlib polynomial), as Python's zlib.crc32 computes it.
///
/// Long blocks by carry-less multiplication where the CPU has it (crc32_clmul.hpp), the rest from
/// tables (crc32_table.hpp): checking the weights of a large model byte by byte took longer than
/// compiling it. crc32_concat gives the CRC of two blocks laid end to end from their own CRCs, so
/// a file's CRC follows from its parts' without a second pass.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "qint8/io/crc32_clmul.hpp"
#include "qint8/io/crc32_table.hpp"

namespace qint8::detail {

/// Continues a CRC: crc32(b, crc32(a)) == crc32(a + b); start with 0.
inline uint32_t crc32(const void* data, std::size_t n, uint32_t crc = 0) {
#if QINT8_CRC32_CLMUL
    // Below a few hundred bytes the keys' set-up and the 16-byte tail cost more than they save.
    if (n >= 256 && crc32_has_clmul()) return crc32_clmul(static_cast<const unsigned char*>(data), n, crc);
#endif
    return crc32_bytes(data, n, crc);
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
