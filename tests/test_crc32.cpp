// CRC-32 eight bytes at a time, by carry-less multiplication, and the CRC of concatenated blocks,
// against a bit-at-a-time CRC written here and the polynomial's published check value.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <qint8/io/crc32.hpp>

#include "support/builder.hpp"

using namespace qint8;

namespace {

/// One bit at a time, no table: the definition (reflected 0xEDB88320, inverted at start and end).
uint32_t crc_bitwise(const uint8_t* p, std::size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

std::vector<uint8_t> random_bytes(std::size_t n, uint32_t seed) {
    test::rng r(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(r.integer(0, 255));
    return v;
}

}  // namespace

TEST_SUITE("manifest") {

TEST_CASE("crc32: the check value of \"123456789\" and the bitwise CRC at every length and alignment") {
    const std::string check = "123456789";
    CHECK(detail::crc32(check.data(), check.size()) == 0xCBF43926u);
    CHECK(detail::crc32(nullptr, 0) == 0u);
    const std::vector<uint8_t> b = random_bytes(300, 3);
    for (std::size_t at = 0; at < 9; ++at)
        for (std::size_t n = 0; at + n <= b.size(); n += (n < 40 ? 1 : 37)) {
            CAPTURE(at);
            CAPTURE(n);
            CHECK(detail::crc32(b.data() + at, n) == crc_bitwise(b.data() + at, n));
        }
    // continuing a CRC equals one CRC over both parts
    CHECK(detail::crc32(b.data() + 100, 200, detail::crc32(b.data(), 100)) == crc_bitwise(b.data(), 300));
}

TEST_CASE("crc32_clmul: the bitwise CRC at every length from 64 bytes - every alignment and start value") {
#if QINT8_CRC32_CLMUL
    if (!detail::crc32_has_clmul()) {
        MESSAGE("skipped: this CPU has no PCLMULQDQ");
        return;
    }
    const std::vector<uint8_t> b = random_bytes(1200, 5);
    // 64 is the shortest block it takes; lengths pass every count of 16-byte and 64-byte steps
    // and every tail up to 15 bytes.
    for (std::size_t at : {0u, 1u, 5u, 8u, 15u})
        for (uint32_t start : {0u, 0xFFFFFFFFu, 0x1234ABCDu})
            for (std::size_t n = 64; at + n <= b.size(); n += (n < 300 ? 1 : 61)) {
                CAPTURE(at);
                CAPTURE(n);
                CAPTURE(start);
                const uint32_t want = start == 0 ? crc_bitwise(b.data() + at, n) : detail::crc32_bytes(b.data() + at, n, start);
                CHECK(detail::crc32_clmul(b.data() + at, n, start) == want);
            }
    // a long block, as a large model's weights are, through the dispatching crc32()
    const std::vector<uint8_t> big = random_bytes(3 << 20, 6);
    CHECK(detail::crc32(big.data(), big.size()) == crc_bitwise(big.data(), big.size()));
    CHECK(detail::crc32(big.data() + 3, big.size() - 3, 77u) == detail::crc32_bytes(big.data() + 3, big.size() - 3, 77u));
    // the zero block: the folds' keys alone carry the start value through
    const std::vector<uint8_t> zeros(100000, 0);
    CHECK(detail::crc32_clmul(zeros.data(), zeros.size(), 0xCAFEF00Du) == detail::crc32_bytes(zeros.data(), zeros.size(), 0xCAFEF00Du));
#else
    MESSAGE("skipped: not an x86 build (no PCLMULQDQ)");
#endif
}

TEST_CASE("crc32_concat: the CRC of A then B from crc(A) - crc(B) and B's length") {
    const std::vector<uint8_t> b = random_bytes(5000, 4);
    for (std::size_t split : {0u, 1u, 7u, 64u, 1000u, 4999u, 5000u}) {
        CAPTURE(split);
        const uint32_t a = detail::crc32(b.data(), split), c = detail::crc32(b.data() + split, b.size() - split);
        CHECK(detail::crc32_concat(a, c, b.size() - split) == crc_bitwise(b.data(), b.size()));
    }
    const std::vector<uint8_t> zeros(70000, 0);  // long runs, as zero padding between tensors can be
    CHECK(detail::crc32_concat(detail::crc32(b.data(), 10), detail::crc32(zeros.data(), zeros.size()), zeros.size()) ==
          detail::crc32(zeros.data(), zeros.size(), detail::crc32(b.data(), 10)));
}

}  // TEST_SUITE
