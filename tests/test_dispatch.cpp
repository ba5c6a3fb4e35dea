// CPU detection and the ISA cap. The process's path is fixed by QINT8_MAX_ISA (set per ctest
// entry), so these tests check what this process runs on, not a path switched at run time.

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include <qint8/dispatch/isa.hpp>
#include <qint8/session.hpp>
#include <qint8/ref/reference.hpp>

#include <cmath>

#include <cpuinfo.h>

#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;

TEST_SUITE("dispatch") {

TEST_CASE("cpu_info reports what cpuinfo sees and a path no better than the CPU and the cap") {
    const cpu_info_t c = cpu_info();
    MESSAGE("cpu: " << c.cpu_name << ", detected " << std::string(to_string(c.detected)) << ", chosen " << std::string(to_string(c.chosen))
                    << ", u8 weight bits " << c.u8_weight_bits);
    MESSAGE("features: avx512bw " << c.has_avx512bw << ", avx512_vnni " << c.has_avx512_vnni << ", avx_vnni " << c.has_avx_vnni
                                   << ", avx512_bf16 " << c.has_avx512_bf16 << ", amx_int8 " << c.has_amx_int8);
    CHECK(c.has_avx2);
    CHECK(static_cast<int>(c.chosen) <= static_cast<int>(c.detected));
    // Independent of decode_cpuid's path logic: the cpuinfo library's own view of the CPU.
    CHECK(c.has_avx2 == (cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3()));
    CHECK(c.has_avx512bw == cpuinfo_has_x86_avx512bw());
    CHECK(c.has_avx512_vnni == (c.has_avx512 && cpuinfo_has_x86_avx512vnni()));
    CHECK(c.has_avx512_bf16 == cpuinfo_has_x86_avx512bf16());
    if (c.has_amx_int8) CHECK(c.detected == isa::avx512_core_amx);
    else if (c.has_avx512_bf16 && c.has_avx512_vnni) CHECK(c.detected == isa::avx512_core_bf16);
    else if (c.has_avx512_vnni) CHECK(c.detected == isa::avx512_core_vnni);
    else if (c.has_avx512) CHECK(c.detected == isa::avx512_core);
    else if (c.has_avx_vnni) CHECK(c.detected == isa::avx2_vnni);
    else CHECK(c.detected == isa::avx2);
    const char* e = std::getenv("QINT8_MAX_ISA");
    const isa want = e && *e ? parse_isa(e, "QINT8_MAX_ISA") : isa::avx512_core_amx;
    CHECK(static_cast<int>(c.chosen) <= static_cast<int>(want));
    CHECK(c.chosen == best_path(c.features, want));
    const bool dot = c.chosen == isa::avx2_vnni || c.chosen == isa::avx512_core_vnni || c.chosen == isa::avx512_core_bf16 ||
                     c.chosen == isa::avx512_core_amx;
    CHECK(c.u8_weight_bits == (dot ? 8 : 7));
}

TEST_CASE("the ISA cannot be changed once fixed / and the error says so") {
    const isa now = cpu_info().chosen;
    CHECK_NOTHROW(set_max_isa(now));
    const isa other = now == isa::avx2 ? isa::avx512_core_amx : isa::avx2;
    if (detail::cap(other) != now) {
        CHECK_THROWS_WITH_AS(set_max_isa(other), doctest::Contains("already fixed"), qint8::error);
    } else {
        MESSAGE("only one path exists on this CPU; the change-after-fix check has nothing to change");
    }
}

TEST_CASE("unknown ISA names are rejected naming the value") {
    CHECK_THROWS_WITH_AS(parse_isa("sse9", "QINT8_MAX_ISA"), doctest::Contains("found \"sse9\""), qint8::error);
}

namespace {
// cpuid words of real CPU generations, written from the Intel SDM / AMD APM bit positions
// (independently of cpu_features.hpp's decoder): leaf 1 ECX FMA 12, OSXSAVE 27, AVX 28; leaf 7
// EBX AVX2 5, AVX512F 16, DQ 17, BW 30, VL 31; ECX AVX512_VNNI 11; EDX AMX-BF16 22, AMX-TILE 24,
// AMX-INT8 25; leaf 7 subleaf 1 EAX AVX-VNNI 4, AVX512_BF16 5; XCR0 YMM 0x6, ZMM 0xE0, tiles 0x60000.
constexpr uint32_t b(int i) { return uint32_t(1) << i; }
cpuid_words zen3() {
    cpuid_words w;
    w.l1_ecx = b(12) | b(27) | b(28);
    w.l7_ebx = b(5);
    w.xcr0 = 0x7;
    return w;
}
cpuid_words alder_lake() {
    cpuid_words w = zen3();
    w.l7s1_eax = b(4);
    return w;
}
cpuid_words skylake_x() {
    cpuid_words w = zen3();
    w.l7_ebx |= b(16) | b(17) | b(30) | b(31);
    w.xcr0 = 0xE7;
    return w;
}
cpuid_words cascade_lake() {
    cpuid_words w = skylake_x();
    w.l7_ecx |= b(11);
    return w;
}
cpuid_words zen4() {
    cpuid_words w = cascade_lake();
    w.l7s1_eax |= b(5);
    return w;
}
cpuid_words sapphire_rapids() {
    cpuid_words w = zen4();
    w.l7s1_eax |= b(4);
    w.l7_edx |= b(22) | b(24) | b(25);
    w.xcr0 |= 0x60000;
    return w;
}
isa path_of(const cpuid_words& w, isa limit = isa::avx512_core_amx) { return best_path(decode_cpuid(w), limit); }
}  // namespace

TEST_CASE("path detection from synthetic cpuid words: every generation gets its best path") {
    CHECK(path_of(zen3()) == isa::avx2);
    CHECK(path_of(alder_lake()) == isa::avx2_vnni);
    CHECK(path_of(skylake_x()) == isa::avx512_core);
    CHECK(path_of(cascade_lake()) == isa::avx512_core_vnni);
    CHECK(path_of(zen4()) == isa::avx512_core_bf16);
    CHECK(path_of(sapphire_rapids()) == isa::avx512_core_amx);
    const cpu_features spr = decode_cpuid(sapphire_rapids());
    CHECK(spr.avx_vnni);
    CHECK(spr.avx512_bf16);
    CHECK(spr.amx_int8);
    CHECK(spr.avx512bw);
    CHECK_FALSE(decode_cpuid(cascade_lake()).avx_vnni);
    CHECK_FALSE(decode_cpuid(alder_lake()).avx512f);
}

TEST_CASE("path detection: features the OS does not enable are not used") {
    cpuid_words w = sapphire_rapids();
    w.xcr0 &= ~uint64_t(0x60000);  // no tile state: AMX unusable
    CHECK(path_of(w) == isa::avx512_core_bf16);
    w.xcr0 = 0x7;  // no ZMM state: AVX-512 unusable, AVX-VNNI (256-bit) still fine
    CHECK(path_of(w) == isa::avx2_vnni);
    w = cascade_lake();
    w.l1_ecx &= ~b(27);  // no OSXSAVE: not even AVX2 may run
    CHECK_FALSE(supports(decode_cpuid(w), isa::avx2));
}

TEST_CASE("path detection: a cap picks the best path the CPU has at or below it") {
    CHECK(path_of(sapphire_rapids(), isa::avx512_core_vnni) == isa::avx512_core_vnni);
    CHECK(path_of(sapphire_rapids(), isa::avx512_core) == isa::avx512_core);
    CHECK(path_of(sapphire_rapids(), isa::avx2_vnni) == isa::avx2_vnni);
    CHECK(path_of(skylake_x(), isa::avx2_vnni) == isa::avx2);  // no AVX-VNNI on Skylake-X
    CHECK(path_of(alder_lake(), isa::avx512_core_amx) == isa::avx2_vnni);
    CHECK(path_of(alder_lake(), isa::avx2) == isa::avx2);
    CHECK(path_of(zen3(), isa::avx512_core_amx) == isa::avx2);
}

TEST_CASE("8-bit weights exactly where vpdpbusd or AMX multiplies") {
    CHECK_FALSE(has_int8_dot(isa::avx2));
    CHECK_FALSE(has_int8_dot(isa::avx512_core));
    CHECK(has_int8_dot(isa::avx2_vnni));
    CHECK(has_int8_dot(isa::avx512_core_vnni));
    CHECK(has_int8_dot(isa::avx512_core_bf16));
    CHECK(has_int8_dot(isa::avx512_core_amx));
}

TEST_CASE("ISA names round-trip - best means uncapped") {
    for (isa i : all_isas) CHECK(parse_isa(to_string(i), "test") == i);
    CHECK(parse_isa("best", "test") == isa::avx512_core_amx);
    CHECK(parse_isa("AVX512_CORE_VNNI", "test") == isa::avx512_core_vnni);
}

TEST_CASE("compiled primitives run on the chosen path (oneDNN implementation names)") {
    test::rng r(5);
    model_desc m = test::input_only({16, 8, 8}, quant_params{dtype::u8, 0.01f, 0});
    layer l = test::conv_layer("conv", "input", 16, 3, 1);
    m.layers.push_back(l);
    test::add_weights(m, "conv", {16, 16, 3, 3}, r, true);
    model net(m);
    std::string impl;
    for (const auto& s : net.steps())
        if (s.layer == "conv") impl = s.what;
    MESSAGE("conv runs on: " << impl);
    const isa path = net.code_path();
    // oneDNN names its kernels after the ISA they were generated for.
    if (path == isa::avx2 || path == isa::avx2_vnni) CHECK(impl.find("avx512") == std::string::npos);
    else CHECK(impl.find("avx512") != std::string::npos);
    if (path == isa::avx2_vnni) CHECK(impl.find("avx2_vnni") != std::string::npos);
    if (path == isa::avx2) CHECK(impl.find("vnni") == std::string::npos);
    if (path == isa::avx512_core) CHECK(impl.find("vnni") == std::string::npos);
    if (path == isa::avx512_core_vnni) CHECK(impl.find("vnni") != std::string::npos);
    if (path == isa::avx512_core_amx) CHECK(impl.find("amx") != std::string::npos);
}

TEST_CASE("the u8 path stays within rounding of exact 8-bit arithmetic on every ISA (no int16 saturation)") {
    // Inputs near 255 and weights near +-127 are the case where vpmaddubsw pair sums saturate
    // (2 * 255 * 127 = 64770 > 32767). Whatever the path, the result must stay close to the exact
    // integer result with 8-bit weights: identical on VNNI, within 7-bit weight rounding elsewhere.
    test::rng r(77);
    model_desc m = test::input_only({32, 6, 6}, quant_params{dtype::u8, 1.f / 255.f, 0});
    layer l = test::conv_layer("conv", "input", 8, 3);
    m.layers.push_back(l);
    std::vector<int8_t> w(8 * 32 * 9);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>((i / 2) % 2 ? 127 : 126);  // same sign: sums add up
    m.tensors["conv.weight"] = tensor::from_vector(dtype::s8, {8, 32, 3, 3}, w);
    m.tensors["conv.weight.scales"] = tensor::from_vector(dtype::f32, {8}, std::vector<float>(8, 0.001f));
    std::vector<float> in(32 * 36);
    for (auto& v : in) v = r.uniform(0.95f, 1.f);
    model net(m);
    session s(net);
    std::vector<float> got = s.run(in);
    ref::options exact;
    exact.u8_weight_max = 127;
    std::vector<float> want = ref::run(m, in, 1, exact);
    double dot = 0, ng = 0, nw = 0, worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        dot += double(got[i]) * want[i];
        ng += double(got[i]) * got[i];
        nw += double(want[i]) * want[i];
        worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / std::fabs(double(want[i])));
    }
    MESSAGE("path " << std::string(to_string(net.code_path())) << ": worst relative difference to exact 8-bit arithmetic " << worst);
    CHECK(dot / std::sqrt(ng * nw) > 0.99999);
    CHECK(worst < 1.0 / 63);  // a saturated int16 sum would be off by far more than one 7-bit step
    if (has_int8_dot(net.code_path())) CHECK(worst < 1e-6);
}

TEST_CASE("depthwise conv keeps exact 8-bit weights on every ISA (no int16 saturation)") {
    // The same worst case as above for a depthwise layer: inputs near 255, weights +-126/127.
    // Depthwise kernels multiply in int32, so the result must equal exact 8-bit integer
    // arithmetic on every path, not just within 7-bit rounding.
    test::rng r(78);
    model_desc m = test::input_only({32, 6, 6}, quant_params{dtype::u8, 1.f / 255.f, 3});
    layer l = test::depthwise_layer("dw", "input", 32);
    l.groups = 32;
    l.act = quant_params{dtype::s8, 0.05f, -7};
    m.layers.push_back(l);
    std::vector<int8_t> w(32 * 9);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>((i / 9) % 2 ? ((i % 2) ? 127 : 126) : ((i % 3) ? -127 : -125));
    m.tensors["dw.weight"] = tensor::from_vector(dtype::s8, {32, 1, 3, 3}, w);
    std::vector<float> sc(32);
    for (std::size_t c = 0; c < sc.size(); ++c) sc[c] = 0.0004f * static_cast<float>(1 + c % 5);
    m.tensors["dw.weight.scales"] = tensor::from_vector(dtype::f32, {32}, sc);
    std::vector<float> in(32 * 36);
    for (auto& v : in) v = r.uniform(0.9f, 1.f);
    model net(m);
    session s(net);
    const std::vector<float> got = s.run(in);
    ref::options exact;
    exact.u8_weight_max = 63;  // what the other layers use without VNNI; depthwise must ignore it
    const std::vector<float> want = ref::run(m, in, 1, exact);
    REQUIRE(got.size() == want.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
    MESSAGE("path " << std::string(to_string(net.code_path())) << ": " << differ << " of " << got.size() << " outputs differ from exact 8-bit arithmetic");
    CHECK(differ == 0);
    // The comparison can see saturation: every channel's weights share a sign, so adjacent
    // products pair to ~2 * 240 * 126 > 32767, and the outputs (up to ~2.2) sit inside the
    // output range (+-6.7), so an int16-saturated sum would come out visibly smaller.
    float amax = 0;
    for (float v : want) amax = std::max(amax, std::fabs(v));
    CHECK(amax > 1.f);
    CHECK(amax < 0.05f * 127);
}

}  // TEST_SUITE
