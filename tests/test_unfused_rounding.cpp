// The kernels' requantization rounds the scaled sum to float before it adds the destination zero
// point, as the reference and oneDNN do, also where the compiler may fuse a * b + c into one FMA.
// This file is compiled with -ffp-contract=fast (tests/CMakeLists.txt), GCC's default for C++,
// while the rest of the suite turns fusion off; so a kernel that leaves the product and the add
// open to fusion computes something else here (kernels/unfused.hpp).
//
// The values are worked out by hand: with every source at its zero point a sum is its bias.
// - s8: 16933 * (2477 * 2^-24) = 2.5 + 2^-24 exactly (41943041 = 16933 * 2477). Rounded to float
//   that is 2.5; 2.5 - 2 = 0.5 rounds to even, 0. Fused, 0.5 + 2^-24 is exact and rounds to 1.
// - u8: -13 * (2903749 * 2^-23) = -(4.5 + 2^-23) (37748737 = 13 * 2903749), a quarter step of
//   float above -4.5, so it rounds to -4.5; -4.5 + 6 = 1.5 rounds to even, 2. Fused,
//   1.5 - 2^-23 is exact and rounds to 1.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <qint8/dispatch/isa.hpp>
#include <qint8/kernels/depthwise.hpp>
#include <qint8/kernels/pointwise.hpp>

using namespace qint8;

namespace {

/// One destination type's case: the bias, the requantization factor (mantissa * 2^exponent), the
/// destination zero point, the code every output must hold.
struct unfused_case {
    bool dst_signed;
    float bias;
    float mantissa;
    int exponent;
    int32_t dst_zp;
    int expected;
    float scale() const { return std::ldexp(mantissa, exponent); }
};

const unfused_case unfused_cases[] = {{true, 16933.f, 2477.f, -24, -2, 0}, {false, -13.f, 2903749.f, -23, 6, 2}};

/// How many of `out`'s codes differ from `expected` (read as the destination's type).
std::size_t unfused_wrong(const std::vector<uint8_t>& out, const unfused_case& u) {
    std::size_t bad = 0;
    for (uint8_t b : out) bad += (u.dst_signed ? int(static_cast<int8_t>(b)) : int(b)) != u.expected;
    return bad;
}

/// A 1x1 layer of 9 pixels (one group of eight and a tail), 8 inputs, 40 outputs (a block of
/// 32 and a tail), every source at its zero point.
std::size_t unfused_pointwise(kernels::pw_variant v, const unfused_case& u) {
    kernels::pw_problem pr;
    pr.m = 9;
    pr.k = 8;
    pr.n = 40;
    pr.src_zp = 5;
    pr.dst_signed = u.dst_signed;
    pr.dst_zp = u.dst_zp;
    const std::vector<int8_t> w(static_cast<std::size_t>(pr.n * pr.k), 3);
    const std::vector<float> bias(static_cast<std::size_t>(pr.n), u.bias), os(static_cast<std::size_t>(pr.n), u.scale());
    const bool dot = v == kernels::pw_variant::avx512vnni;
    const kernels::pw_packed pk = kernels::pw_pack(w.data(), bias.data(), os.data(), pr.n, pr.k, pr.src_zp, dot ? 255 : 127, dot);
    REQUIRE(kernels::pw_supported(pr, pk));
    const std::vector<uint8_t> src(static_cast<std::size_t>(pr.m * pr.k), 5);
    std::vector<uint8_t> dst(static_cast<std::size_t>(pr.m * pr.n), 0xAB);
    kernels::pointwise_run(v, pr, pk, src.data(), dst.data(), 1);
    return unfused_wrong(dst, u);
}

/// A 9x9 depthwise layer of 80 channels (a block of 64 and a tail of 16), kernel k x k at stride
/// s, padded, every source at its zero point (padded taps read it too).
std::size_t unfused_depthwise(kernels::dw_variant v, const unfused_case& u, int k, int s) {
    kernels::dw_problem pr;
    pr.h = pr.w = 9;
    pr.c = 80;
    pr.kh = pr.kw = k;
    pr.sh = pr.sw = s;
    pr.pt = pr.pl = k / 2;
    pr.oh = pr.ow = (9 + 2 * (k / 2) - k) / s + 1;
    pr.src_zp = 7;
    pr.dst_signed = u.dst_signed;
    pr.dst_zp = u.dst_zp;
    const std::vector<int8_t> w(static_cast<std::size_t>(pr.c * k * k), -5);
    const std::vector<float> bias(static_cast<std::size_t>(pr.c), u.bias), os(static_cast<std::size_t>(pr.c), u.scale());
    REQUIRE(kernels::dw_supported(pr));
    const kernels::dw_packed pk = kernels::dw_pack(w.data(), bias.data(), os.data(), pr.c, k, k, kernels::dw_block(v), pr.src_zp, false);
    const std::vector<uint8_t> src(static_cast<std::size_t>(pr.h * pr.w * pr.c), 7);
    std::vector<uint8_t> dst(static_cast<std::size_t>(pr.oh * pr.ow * pr.c), 0xAB);
    kernels::depthwise_run(v, pr, pk, src.data(), dst.data(), 1);
    return unfused_wrong(dst, u);
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("1x1 kernels round the scaled sum before the zero point under -ffp-contract=fast") {
    const cpu_info_t ci = cpu_info();
    int run = 0;
    for (kernels::pw_variant v : {kernels::pw_variant::avx2, kernels::pw_variant::avx2_tiles, kernels::pw_variant::avx512vnni}) {
        const bool vnni = v == kernels::pw_variant::avx512vnni;
        const bool runs = vnni ? ci.features.avx512f && ci.features.avx512bw && ci.features.avx512vl && ci.features.avx512_vnni && ci.features.fma
                               : ci.features.avx2 && ci.features.fma;
        if (!runs) {
            MESSAGE("NOT RUN: 1x1 " << kernels::to_string(v) << " kernel: this CPU (" << ci.cpu_name << ") lacks its instructions");
            continue;
        }
        ++run;
        for (const unfused_case& u : unfused_cases) {
            CAPTURE(std::string(kernels::to_string(v)));
            CAPTURE(u.dst_signed);
            CHECK(unfused_pointwise(v, u) == 0);
        }
    }
    if (run == 0) MESSAGE("NOT RUN: no 1x1 kernel variant runs on this CPU");
}

TEST_CASE("depthwise kernels round the scaled sum before the zero point under -ffp-contract=fast") {
    const cpu_info_t ci = cpu_info();
    int run = 0;
    for (kernels::dw_variant v : {kernels::dw_variant::avx2, kernels::dw_variant::avx2_columns, kernels::dw_variant::avx512bw,
                                  kernels::dw_variant::avx512vnni, kernels::dw_variant::avx512vnni_quads}) {
        if (!kernels::dw_variant_runs(v, ci.features)) {
            MESSAGE("NOT RUN: depthwise " << kernels::to_string(v) << " kernel: this CPU (" << ci.cpu_name << ") lacks its instructions");
            continue;
        }
        ++run;
        for (const unfused_case& u : unfused_cases)
            for (const int ks : {3, 5})  // 3x3: the register paths; 5x5: the buffered ones
                for (const int s : {1, 2}) {
                    CAPTURE(std::string(kernels::to_string(v)));
                    CAPTURE(u.dst_signed);
                    CAPTURE(ks);
                    CAPTURE(s);
                    CHECK(unfused_depthwise(v, u, ks, s) == 0);
                }
    }
    if (run == 0) MESSAGE("NOT RUN: no depthwise kernel variant runs on this CPU");
}

}  // TEST_SUITE
