// Packing weights a chunk of output channels at a time (backend/chunked_pack.hpp): the packed
// bytes equal those of one oneDNN reorder of the whole tensor, for the layouts oneDNN chooses
// for INT8 convolutions on this process's code path, and every chunk size; layouts that cannot be
// split so are refused. End to end, tests/test_topology_exact.cpp compiles the six topologies
// with every INT8 layer packed so and compares them with the naive reference.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <qint8/backend/chunked_pack.hpp>
#include <qint8/backend/requantizing.hpp>

#include "support/builder.hpp"

using namespace qint8;

namespace {

/// The weights layout oneDNN chooses for an INT8 convolution (u8 or s8 source, `o` x `c` x kh x kw).
dnnl::memory::desc conv_weights_layout(const dnnl::engine& eng, dnnl::memory::data_type src_t, int64_t o, int64_t c, int64_t kh, int64_t kw,
                                       int64_t hw) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc src({1, c, hw, hw}, src_t, tag::any), wei({o, c, kh, kw}, dt::s8, tag::any),
        bias({o}, dt::s32, tag::x), dst({1, o, hw - kh + 1, hw - kw + 1}, dt::u8, tag::any);
    backend::requant rq;
    rq.out_scales.assign(static_cast<std::size_t>(o), 0.5f);
    return backend::requantizing_conv(eng, src, wei, bias, dst, backend::conv_geometry{{1, 1}, {0, 0}, {0, 0}}, rq, {}).weights;
}


/// The bytes of `m` (its whole buffer, padding included).
std::vector<uint8_t> bytes_of(const dnnl::memory& m) {
    const auto* p = static_cast<const uint8_t*>(m.get_data_handle());
    return std::vector<uint8_t>(p, p + m.get_desc().get_size());
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("chunked packing gives the bytes of one reorder of the whole tensor - for every chunk size") {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream st(eng);
    struct shape {
        int64_t o, c, kh, kw, hw;
    };
    // An fc as a 7x7 convolution, a 3x3 and a 1x1 convolution, channel counts off every block.
    const shape shapes[] = {{40, 16, 7, 7, 7}, {36, 24, 3, 3, 9}, {1000, 64, 1, 1, 1}, {19, 3, 3, 3, 8}};
    int chunked_layouts = 0;
    for (const shape& s : shapes) {
        CAPTURE(s.o);
        CAPTURE(s.c);
        const dnnl::memory::desc packed = conv_weights_layout(eng, dnnl::memory::data_type::u8, s.o, s.c, s.kh, s.kw, s.hw);
        if (!backend::chunkable(packed)) continue;
        ++chunked_layouts;
        const dnnl::memory::desc plain({s.o, s.c, s.kh, s.kw}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::abcd);
        const std::size_t k = static_cast<std::size_t>(s.c * s.kh * s.kw);
        const std::vector<int8_t> codes = test::rng(static_cast<unsigned>(s.o + s.c)).codes(static_cast<std::size_t>(s.o) * k);
        const std::vector<uint8_t> want = bytes_of(backend::reorder_weights(eng, st, plain, codes.data(), packed));
        std::vector<uint8_t> buffer;
        for (int64_t blocks : {int64_t{1}, int64_t{3}, int64_t{1000}}) {
            CAPTURE(blocks);
            buffer.assign(packed.get_size(), 0xA5);  // not zero: padding must be written, not found
            backend::chunked_packer p(eng, plain, packed, [&](std::size_t n) {
                REQUIRE(n == buffer.size());
                return static_cast<void*>(buffer.data());
            });
            CHECK_FALSE(p.started());
            CHECK(p.channels_for(1, k) == p.block());  // at least one block, however small the budget
            CHECK(p.channels_for(static_cast<std::size_t>(blocks * p.block()) * k, k) == blocks * p.block());
            const std::size_t per = static_cast<std::size_t>(std::min(blocks * p.block(), s.o));
            for (std::size_t first = 0; first < static_cast<std::size_t>(s.o); first += per)
                p.put(st, first, std::min(per, static_cast<std::size_t>(s.o) - first), codes.data() + first * k);
            CHECK(p.started());
            CHECK(bytes_of(p.result()) == want);
        }
    }
    // The INT8 convolutions of every path measured so far block the output channel outermost: if
    // none of these layouts could be chunked, VGG's classifier would be loaded the slow way
    // without any test noticing.
    CHECK(chunked_layouts >= 1);
}

TEST_CASE("chunked packing refuses layouts it cannot split by output channel and chunks that do not start on a block") {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    CHECK(backend::chunkable(dnnl::memory::desc({8, 4, 3, 3}, dt::s8, tag::abcd)));       // plain OIHW: each channel is one row
    CHECK_FALSE(backend::chunkable(dnnl::memory::desc({8, 4, 3, 3}, dt::s8, tag::cdba)));  // HWIO: a channel is spread over the buffer
    CHECK_FALSE(backend::chunkable(dnnl::memory::desc({8, 4, 3, 3}, dt::f32, tag::abcd))); // packs s8 codes only
    CHECK_FALSE(backend::chunkable(dnnl::memory::desc({8, 4, 3, 3}, dt::s8, tag::any)));
    // An s8 source on a path without VNNI: oneDNN stores a compensation after the weights.
    const dnnl::memory::desc s8s8 = conv_weights_layout(eng, dt::s8, 32, 16, 3, 3, 8);
    if (s8s8.data.extra.flags != 0) CHECK_FALSE(backend::chunkable(s8s8));

    const dnnl::memory::desc packed = conv_weights_layout(eng, dt::u8, 40, 16, 3, 3, 8);
    REQUIRE(backend::chunkable(packed));
    std::vector<uint8_t> buffer(packed.get_size());
    backend::chunked_packer p(eng, dnnl::memory::desc({40, 16, 3, 3}, dt::s8, tag::abcd), packed, [&](std::size_t) { return static_cast<void*>(buffer.data()); });
    dnnl::stream st(eng);
    const std::vector<int8_t> codes(40 * 16 * 9, 1);
    if (p.block() > 1) {
        CHECK_THROWS_AS(p.put(st, 1, static_cast<std::size_t>(p.block()), codes.data()), qint8::error);           // does not start on a block
        CHECK_THROWS_AS(p.put(st, 0, static_cast<std::size_t>(p.block()) + 1, codes.data()), qint8::error);       // ends inside a block, not the last
    }
    CHECK_NOTHROW(p.put(st, 0, 40, codes.data()));
}

}  // TEST_SUITE
