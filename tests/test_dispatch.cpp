// CPU detection and the ISA cap. The process's path is fixed by QINT8_MAX_ISA (set per ctest
// entry), so these tests check what this process runs on, not a path switched at run time.

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include <qint8/dispatch/isa.hpp>
#include <qint8/model.hpp>

#include "support/builder.hpp"

using namespace qint8;

TEST_SUITE("dispatch") {

TEST_CASE("cpu_info reports what cpuinfo sees and a path no better than the CPU and the cap") {
    const cpu_info_t c = cpu_info();
    MESSAGE("cpu: " << c.cpu_name << ", detected " << std::string(to_string(c.detected)) << ", chosen " << std::string(to_string(c.chosen))
                    << ", u8 weight bits " << c.u8_weight_bits);
    CHECK(c.has_avx2);
    CHECK(static_cast<int>(c.chosen) <= static_cast<int>(c.detected));
    if (c.has_avx512_vnni) CHECK(c.detected == isa::avx512_core_vnni);
    else if (c.has_avx512) CHECK(c.detected == isa::avx512_core);
    else CHECK(c.detected == isa::avx2);
    if (const char* e = std::getenv("QINT8_MAX_ISA")) {
        const isa want = parse_isa(e, "QINT8_MAX_ISA");
        CHECK(static_cast<int>(c.chosen) <= static_cast<int>(want));
        CHECK(c.chosen == (static_cast<int>(want) < static_cast<int>(c.detected) ? want : c.detected));
    }
    CHECK(c.u8_weight_bits == (c.chosen == isa::avx512_core_vnni ? 8 : 7));
}

TEST_CASE("the ISA cannot be changed once fixed, and the error says so") {
    const isa now = cpu_info().chosen;
    CHECK_NOTHROW(set_max_isa(now));
    const isa other = now == isa::avx2 ? isa::avx512_core_vnni : isa::avx2;
    if (detail::cap(other) != now) {
        CHECK_THROWS_WITH_AS(set_max_isa(other), doctest::Contains("already fixed"), qint8::error);
    } else {
        MESSAGE("only one path exists on this CPU; the change-after-fix check has nothing to change");
    }
}

TEST_CASE("unknown ISA names are rejected naming the value") {
    CHECK_THROWS_WITH_AS(parse_isa("sse9", "QINT8_MAX_ISA"), doctest::Contains("found \"sse9\""), qint8::error);
}

TEST_CASE("compiled primitives run on the chosen path (oneDNN implementation names)") {
    test::rng r(5);
    model_desc m = test::input_only({16, 8, 8}, quant_params{dtype::u8, 0.01f, 0});
    layer l;
    l.name = "conv";
    l.kind = op::conv2d;
    l.inputs = {"input"};
    l.out_channels = 16;
    l.kernel = {3, 3};
    l.pad = {1, 1, 1, 1};
    m.layers.push_back(l);
    test::add_weights(m, "conv", {16, 16, 3, 3}, r, true);
    model net(m);
    std::string impl;
    for (const auto& s : net.steps())
        if (s.layer == "conv") impl = s.what;
    MESSAGE("conv runs on: " << impl);
    const isa path = net.code_path();
    if (path == isa::avx2) {
        CHECK(impl.find("avx512") == std::string::npos);
    } else {
        CHECK(impl.find("avx512") != std::string::npos);
    }
    if (path == isa::avx512_core_vnni) CHECK(impl.find("vnni") != std::string::npos);
}

}  // TEST_SUITE
