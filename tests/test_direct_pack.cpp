// Packing s8 weights without a reorder (backend/direct_pack.hpp): for the layouts oneDNN chooses
// on this process's code path for INT8 1x1, 3x3, grouped and fc layers, with and without a
// source zero point (the compensation oneDNN keeps after the weights), and for the layouts of the
// other paths, the bytes equal those of oneDNN's reorder, padding included; layouts it does not
// know are refused and left to the reorder. End to end, tests/test_topology_exact.cpp compiles the six topologies (their 1x1 and
// fc layers packed so) and compares them with the naive reference.

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <qint8/backend/direct_pack.hpp>
#include <qint8/backend/requantizing.hpp>

#include "support/builder.hpp"
#include <qint8/backend/types.hpp>

using namespace qint8;

namespace {

struct dp_layer {
    int64_t groups, o, c, kh, kw, hw;
    int32_t src_zp;
    bool fc;
};

std::string dp_name(const dp_layer& l) {
    return (l.fc ? "fc " : "conv ") + std::to_string(l.o) + "x" + std::to_string(l.c) + "x" + std::to_string(l.kh) + "x" + std::to_string(l.kw) +
           " groups " + std::to_string(l.groups) + " src zp " + std::to_string(l.src_zp);
}

backend::dims dp_weight_dims(const dp_layer& l) {
    if (l.fc) return {l.o, l.c};
    if (l.groups > 1) return {l.groups, l.o / l.groups, l.c / l.groups, l.kh, l.kw};
    return {l.o, l.c, l.kh, l.kw};
}

/// The weights layout oneDNN chooses for the INT8 layer `l` with a u8 source.
dnnl::memory::desc dp_chosen_layout(const dnnl::engine& eng, const dp_layer& l) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc wei(dp_weight_dims(l), dt::s8, tag::any), bias({l.o}, dt::s32, tag::x);
    backend::requant rq;
    rq.out_scales.assign(static_cast<std::size_t>(l.o), 0.25f);
    if (l.fc) {
        const dnnl::memory::desc src({1, l.c}, dt::u8, tag::any), dst({1, l.o}, dt::u8, tag::any);
        return backend::requantizing_ip(eng, src, wei, bias, dst, rq, {}).weights;
    }
    rq.src_zp = l.src_zp;
    const dnnl::memory::desc src({1, l.c, l.hw, l.hw}, dt::u8, tag::any), dst({1, l.o, l.hw - l.kh + 1, l.hw - l.kw + 1}, dt::u8, tag::any);
    return backend::requantizing_conv(eng, src, wei, bias, dst, backend::conv_geometry{{1, 1}, {0, 0}, {0, 0}}, rq, {}).weights;
}


}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("direct packing of s8 weights gives the bytes of oneDNN's reorder - or refuses the layout") {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream st(eng);
    // Channel counts on and off every block; the zero point adds oneDNN's compensation.
    const dp_layer layers[] = {{1, 64, 32, 1, 1, 4, 0, false},   {1, 64, 32, 1, 1, 4, 128, false}, {1, 36, 20, 1, 1, 4, 3, false},
                               {1, 1000, 1280, 1, 1, 1, 0, false}, {1, 24, 16, 3, 3, 6, 0, false},  {1, 19, 3, 3, 3, 8, 7, false},
                               {2, 32, 32, 1, 1, 4, 0, false},    {2, 48, 32, 1, 1, 4, 9, false},   {4, 64, 32, 3, 3, 6, 5, false},   {1, 1000, 512, 1, 1, 1, 0, true},
                               {1, 10, 36, 1, 1, 1, 0, true}};
    int direct = 0, compensated = 0;
    for (const dp_layer& l : layers) {
        CAPTURE(dp_name(l));
        const dnnl::memory::desc packed = dp_chosen_layout(eng, l);
        const dnnl::memory::desc plain(dp_weight_dims(l), dnnl::memory::data_type::s8, backend::plain_tag(dp_weight_dims(l).size()));
        const std::vector<int8_t> codes = test::rng(static_cast<unsigned>(l.o * 7 + l.c)).codes(static_cast<std::size_t>(l.o * l.c / l.groups * l.kh * l.kw));
        // Neither buffer is zero to begin with: padding must be written, not found.
        std::vector<uint8_t> want(packed.get_size(), 0xA5), got(packed.get_size(), 0xA5);
        backend::reorder_weights(eng, st, plain, codes.data(), packed, want.data());
        if (!backend::direct_pack_s8(plain, codes.data(), packed, got.data())) {
            MESSAGE("left to the reorder: " << dp_name(l));
            CHECK(got == std::vector<uint8_t>(packed.get_size(), 0xA5));  // refused: nothing written
            continue;
        }
        ++direct;
        CHECK(got == want);
        if (packed.data.extra.flags == 0) continue;
        // The compensation, against its definition: minus the sum of each output channel's weights.
        ++compensated;
        const std::size_t k = codes.size() / static_cast<std::size_t>(l.o);
        backend::direct_detail::plan p;
        REQUIRE(backend::direct_pack_plan(plain, packed, p));
        for (std::size_t o = 0; o < static_cast<std::size_t>(l.o); ++o) {
            int32_t sum = 0, stored = 0;
            for (std::size_t j = 0; j < k; ++j) sum += codes[o * k + j];
            std::memcpy(&stored, got.data() + p.weight_bytes + 4 * static_cast<std::size_t>(p.comp_index[o]), 4);
            CHECK(stored == -sum);
        }
    }
    // 1x1 convolutions and inner products keep runs of input channels on every path measured.
    MESSAGE(direct << " of " << std::size(layers) << " layouts packed directly, " << compensated << " with compensation");
    CHECK(direct >= 1);
}

TEST_CASE("direct packing of a fixed blocked layout with padding equals the reorder - whatever this path chooses") {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream st(eng);
    // [O][I/8][kh][kw][8 I] with 20 input channels padded to 24: runs of 4 of one channel.
    const backend::dims d{24, 20, 1, 1};
    const dnnl::memory::desc plain(d, dnnl::memory::data_type::s8, backend::plain_tag(4)),
        packed(d, dnnl::memory::data_type::s8, dnnl::memory::format_tag::aBcd8b);
    const std::vector<int8_t> codes = test::rng(11).codes(24 * 20);
    backend::direct_detail::plan p;
    REQUIRE(backend::direct_pack_plan(plain, packed, p));
    CHECK(p.run == 4);
    CHECK(p.padded);
    std::vector<uint8_t> want(packed.get_size(), 0xA5), got(packed.get_size(), 0x5A);
    backend::reorder_weights(eng, st, plain, codes.data(), packed, want.data());
    REQUIRE(backend::direct_pack_s8(plain, codes.data(), packed, got.data()));
    CHECK(got == want);
    CHECK(got[20] == 0);  // the padding of channel 0
}

TEST_CASE("direct packing equals the reorder on the blocked layouts of every path - with and without compensation") {
    // The layouts oneDNN's INT8 kernels choose on AVX2 (2b8a4b), AVX-512 (4b16a4b), VNNI and AMX
    // brgemm (16b16a4b, 16b64a4b, 16b32a4b), their inner-product and grouped forms, on 1x1 and on
    // larger kernels: the layout
    // is only a descriptor, so a CPU without those kernels still checks them against the reorder.
    using tag = dnnl::memory::format_tag;
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream st(eng);
    struct layout {
        backend::dims d;
        tag t;
    };
    const layout layouts[] = {{{36, 20, 1, 1}, tag::ABcd2b8a4b},   {{64, 64, 1, 1}, tag::ABcd4b16a4b},  {{40, 36, 1, 1}, tag::ABcd16b16a4b},
                              {{72, 72, 1, 1}, tag::ABcd16b64a4b}, {{24, 40, 1, 1}, tag::ABcd16b32a4b}, {{100, 36}, tag::AB16b64a4b},
                              {{1000, 64}, tag::AB4b16a4b},        {{2, 24, 20, 1, 1}, tag::aBCde2c8b4c}, {{3, 16, 12, 1, 1}, tag::aBCde4c16b4c},
                              // 3x3 and 7x7 layers, packed byte by byte
                              {{24, 16, 3, 3}, tag::ABcd2b8a4b},   {{19, 3, 7, 7}, tag::ABcd4b16a4b},   {{40, 36, 3, 3}, tag::ABcd16b16a4b},
                              {{2, 16, 12, 3, 3}, tag::aBCde2c8b4c}};
    int checked = 0;
    for (const layout& l : layouts) {
        for (bool comp : {false, true}) {
            CAPTURE(static_cast<int>(l.t));
            CAPTURE(comp);
            dnnl_memory_desc_t md = dnnl::memory::desc(l.d, dnnl::memory::data_type::s8, l.t).data;
            if (comp) {  // the source zero point's compensation over the output channels (and groups)
                md.extra.flags = dnnl_memory_extra_flag_compensation_conv_asymmetric_src;
                md.extra.asymm_compensation_mask = l.d.size() == 5 ? 3 : 1;
            }
            const dnnl::memory::desc packed(md), plain(l.d, dnnl::memory::data_type::s8, backend::plain_tag(l.d.size()));
            std::size_t n = 1;
            for (int64_t x : l.d) n *= static_cast<std::size_t>(x);
            const std::vector<int8_t> codes = test::rng(static_cast<unsigned>(n)).codes(n);
            std::vector<uint8_t> want(packed.get_size(), 0xA5), got(packed.get_size(), 0xA5);
            try {
                backend::reorder_weights(eng, st, plain, codes.data(), packed, want.data());
            } catch (const dnnl::error&) {
                MESSAGE("oneDNN has no reorder to this layout here: " << static_cast<int>(l.t) << (comp ? " with compensation" : ""));
                continue;
            }
            REQUIRE(backend::direct_pack_s8(plain, codes.data(), packed, got.data()));
            CHECK(got == want);
            ++checked;
        }
    }
    MESSAGE(checked << " layouts checked against the reorder");
    CHECK(checked >= static_cast<int>(std::size(layouts)));  // every layout at least without compensation
}

TEST_CASE("direct packing refuses what it does not know - f32 weights and s8 x s8 compensation and blocked sources") {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    const dp_layer l{1, 64, 32, 1, 1, 4, 0, false};
    const dnnl::memory::desc packed = dp_chosen_layout(eng, l);
    const dnnl::memory::desc plain(dp_weight_dims(l), dnnl::memory::data_type::s8, backend::plain_tag(4));
    backend::direct_detail::plan p;
    const bool known = backend::direct_pack_plan(plain, packed, p);
    if (!known) {
        MESSAGE("this path's 1x1 layout is left to the reorder: the refusals below are still checked");
    }
    // f32 on either side.
    CHECK_FALSE(backend::direct_pack_plan(dnnl::memory::desc(dp_weight_dims(l), dnnl::memory::data_type::f32, backend::plain_tag(4)), packed, p));
    // A source that is not row-major: the packed layout itself.
    CHECK_FALSE(backend::direct_pack_plan(packed, packed, p));
    // The same layout with s8 x s8 compensation (and its scale adjustment) asked for.
    dnnl_memory_desc_t s8s8 = packed.data;
    s8s8.extra.flags |= dnnl_memory_extra_flag_compensation_conv_s8s8 | dnnl_memory_extra_flag_scale_adjust;
    s8s8.extra.compensation_mask = 1;
    s8s8.extra.scale_adjust = 0.5f;
    CHECK_FALSE(backend::direct_pack_plan(plain, dnnl::memory::desc(s8s8), p));
    // A layout that keeps no run of 4 contiguous (a 3x3 layer's weights as [O][kh][kw][I] read
    // from [O][I][kh][kw] put consecutive values 32 bytes apart) is packed byte by byte up to
    // direct_pack_bytewise_max weights, and left to the reorder above.
    const dnnl::memory::desc plain3(backend::dims{64, 32, 3, 3}, dnnl::memory::data_type::s8, backend::plain_tag(4));
    const dnnl::memory::desc ohwi({64, 32, 3, 3}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::acdb);
    const std::int64_t limit = backend::direct_pack_bytewise_max;
    backend::direct_pack_bytewise_max = 64 * 32 * 9;
    CHECK(backend::direct_pack_plan(plain3, ohwi, p));
    CHECK(p.run == 1);
    backend::direct_pack_bytewise_max = 64 * 32 * 9 - 1;
    CHECK_FALSE(backend::direct_pack_plan(plain3, ohwi, p));
    backend::direct_pack_bytewise_max = limit;
}

}  // TEST_SUITE
