// The buffers of sessions, packed weights and large weights files come from 2 MiB chunks advised
// as huge pages (detail/huge_arena.hpp): pieces must be aligned, disjoint and whole, and a large
// file must read back byte for byte.

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <qint8/detail/huge_arena.hpp>
#include <qint8/io/weights_file.hpp>

#include "support/scratch.hpp"

using namespace qint8;

namespace {

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

}  // namespace

TEST_CASE("huge_arena - pieces are 64-byte aligned and disjoint and new chunks open only when the rest is too small") {
    detail::huge_arena a;
    CHECK(a.chunks() == 0);
    const std::vector<std::size_t> sizes{0, 1, 63, 64, 65, 1000, std::size_t{1} << 20, 900 * 1024, 3 * (std::size_t{1} << 20), 5, 2 * (std::size_t{1} << 20)};
    std::vector<std::pair<std::uintptr_t, std::size_t>> got;
    std::vector<std::size_t> chunks_after;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        auto* p = static_cast<unsigned char*>(a.take(sizes[i]));
        REQUIRE(p != nullptr);
        CHECK(address(p) % detail::huge_arena::alignment == 0);
        std::memset(p, static_cast<int>(i + 1), sizes[i]);  // every byte is ours (ASan checks the bounds)
        got.push_back({address(p), sizes[i]});
        chunks_after.push_back(a.chunks());
    }
    // 0 + 1 + 63 + 64 + 65 + 1000 + 1 MiB + 900 KiB fit one 2 MiB chunk (64-byte pieces);
    // 3 MiB does not: a chunk of 4 MiB is opened, whose last MiB takes the 5 bytes; 2 MiB then
    // opens a third chunk.
    CHECK(chunks_after == std::vector<std::size_t>{1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3});
    CHECK(got[0].first % detail::huge_page_bytes == 0);
    CHECK(got[8].first % detail::huge_page_bytes == 0);
    CHECK(got[9].first == got[8].first + got[8].second);
    CHECK(got[10].first % detail::huge_page_bytes == 0);
    for (std::size_t i = 0; i < got.size(); ++i)
        for (std::size_t j = i + 1; j < got.size(); ++j) {
            const std::size_t li = std::max<std::size_t>(got[i].second, 1), lj = std::max<std::size_t>(got[j].second, 1);
            CHECK((got[i].first + li <= got[j].first || got[j].first + lj <= got[i].first));
        }
    // Nothing was overwritten by a later piece.
    for (std::size_t i = 0; i < got.size(); ++i) {
        const auto* p = reinterpret_cast<const unsigned char*>(got[i].first);
        std::size_t wrong = 0;
        for (std::size_t k = 0; k < got[i].second; ++k) wrong += p[k] != static_cast<unsigned char>(i + 1);
        CHECK(wrong == 0);
    }
}

TEST_CASE("read_whole_file - a file of several MiB (read into huge pages) and a small one read back byte for byte") {
    test::scratch_dir dir;
    for (const std::size_t n : {std::size_t{5000}, (std::size_t{5} << 20) + 17}) {
        std::vector<unsigned char> bytes(n);
        for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
        const std::string path = dir / ("file_" + std::to_string(n));
        {
            std::FILE* f = std::fopen(path.c_str(), "wb");
            REQUIRE(f != nullptr);
            REQUIRE(std::fwrite(bytes.data(), 1, n, f) == n);
            std::fclose(f);
        }
        const detail::loaded_file r = detail::read_whole_file(path);
        REQUIRE(r.size == n);
        CHECK(address(r.bytes.get()) % 64 == 0);
        CHECK(std::memcmp(r.bytes.get(), bytes.data(), n) == 0);
    }
}
