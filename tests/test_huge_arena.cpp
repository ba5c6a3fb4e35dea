// The buffers of sessions, packed weights, large weights files and weight codes during
// compilation come from 2 MiB chunks advised as huge pages (detail/huge_arena.hpp): pieces must be
// aligned, disjoint and whole, a large file must read back byte for byte, and a reused codes
// buffer must give the codes a fresh one gives.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <qint8/detail/huge_arena.hpp>
#include <qint8/detail/quantize_weights.hpp>
#include <qint8/io/weights_file.hpp>

#include "support/scratch.hpp"

using namespace qint8;

namespace {

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

}  // namespace

TEST_SUITE("memory") {

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

TEST_CASE("huge_arena - a copy shares the chunks but takes its pieces from a chunk of its own") {
    detail::huge_arena a;
    auto* first = static_cast<unsigned char*>(a.take(100));
    std::memset(first, 1, 100);
    detail::huge_arena b = a;  // both could take from the rest of a's chunk: they must not
    auto* pa = static_cast<unsigned char*>(a.take(1000));
    auto* pb = static_cast<unsigned char*>(b.take(1000));
    std::memset(pa, 2, 1000);
    std::memset(pb, 3, 1000);
    CHECK(b.chunks() == 2);
    CHECK(a.chunks() == 1);
    CHECK((address(pa) + 1000 <= address(pb) || address(pb) + 1000 <= address(pa)));
    CHECK(address(pb) % detail::huge_page_bytes == 0);
    detail::huge_arena c;
    c = b;  // assignment likewise
    auto* pc = static_cast<unsigned char*>(c.take(10));
    std::memset(pc, 4, 10);
    CHECK(c.chunks() == 3);
    CHECK(address(pc) % detail::huge_page_bytes == 0);
    a = detail::huge_arena();  // the copies keep the chunks alive: every byte is still as written
    CHECK(std::count(first, first + 100, 1) == 100);
    CHECK(std::count(pa, pa + 1000, 2) == 1000);
    CHECK(std::count(pb, pb + 1000, 3) == 1000);
    detail::huge_arena moved = std::move(c);  // a move carries the room left with it
    CHECK(moved.chunks() == 3);
    CHECK(address(moved.take(10)) == address(pc) + 64);
}

TEST_CASE("read_whole_file - files of several MiB (mapped) and a small one (read) come back byte for byte - with 64 readable bytes past the end") {
    test::scratch_dir dir;
    // 5 MiB exactly: the file ends on a page boundary, so the 64 bytes past it lie in the
    // anonymous page reserved after the mapping.
    for (const std::size_t n : {std::size_t{5000}, (std::size_t{5} << 20) + 17, std::size_t{5} << 20}) {
        CAPTURE(n);
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
#if defined(__linux__)
        CHECK(r.mapped == (n >= detail::map_from_bytes));
        if (r.mapped) {
            unsigned past = 0;
            for (std::size_t i = 0; i < 64; ++i) past |= static_cast<unsigned>(r.bytes.get()[n + i]);
            CHECK(past == 0);  // zeros: beyond the end of the file in its last page, or the reserved page
        }
#endif
    }
}

TEST_CASE("code_vector - from 1 MiB on its storage is 2 MiB aligned and growing keeps every code") {
    detail::code_vector small(1000, 7);
    CHECK(small.size() == 1000);
    detail::code_vector big;
    for (std::size_t i = 0; i < (std::size_t{3} << 20); ++i) big.push_back(static_cast<int8_t>(i % 251));
    CHECK(address(big.data()) % detail::huge_page_bytes == 0);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < big.size(); ++i) wrong += big[i] != static_cast<int8_t>(i % 251);
    CHECK(wrong == 0);
}

TEST_CASE("codes_buffer - a spare with room is reused in place and left empty and one without room grows geometrically") {
    detail::code_vector spare;
    spare.reserve(5000);
    const int8_t* storage = spare.data();
    detail::code_vector got = detail::codes_buffer(&spare, 4000);
    CHECK(got.size() == 4000);
    CHECK(got.data() == storage);
    CHECK(spare.empty());
    spare = std::move(got);
    detail::code_vector grown = detail::codes_buffer(&spare, 6000);
    CHECK(grown.size() == 6000);
    CHECK(grown.capacity() >= 10000);  // twice the spare's 5000: a model whose layers grow reallocates a few times
    CHECK(detail::codes_buffer(nullptr, 10).size() == 10);
}

TEST_CASE("quantize_weights - the same codes and scales with a reused buffer as with a fresh one") {
    std::vector<float> values(15);
    for (int i = 0; i < 15; ++i) values[static_cast<std::size_t>(i)] = static_cast<float>((i * 37) % 23) - 11.f;
    const tensor w = tensor::from_vector(dtype::f32, {3, 5}, values);
    detail::code_vector spare(100, 99);  // stale codes from an earlier layer: every one must be overwritten
    const detail::int8_weights fresh = detail::quantize_weights(w, nullptr, 127);
    const detail::int8_weights reused = detail::quantize_weights(w, nullptr, 127, &spare);
    CHECK(fresh.q == reused.q);
    CHECK(fresh.scale == reused.scale);
    CHECK(reused.q.size() == 15);
}

}  // TEST_SUITE
