// The naive reference's TFLite integer mode (ref::options::tflite_integer): the fixed-point helpers
// of include/qint8/ref/tflite_fixed_point.hpp and the per-op functions of tflite_ops.hpp against
// values computed by hand: known multipliers, ties (which TFLite rounds up in the doubling high
// multiply, away from zero in the shifts and in average pooling, where qint8 rounds an f32 value
// half to even), negative values, a multiplier flushed to zero (a right shift beyond 31) and
// multipliers >= 1 (a left shift). tests/test_tflite_oracle.cpp uses the mode on real files.

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include <qint8/ref/reference.hpp>

using namespace qint8;
namespace tfl = qint8::ref::tflite;

namespace {

constexpr int32_t two30 = int32_t{1} << 30;
constexpr int32_t i32_min = std::numeric_limits<int32_t>::min(), i32_max = std::numeric_limits<int32_t>::max();

bool same(tfl::multiplier a, int32_t m, int shift) { return a.m == m && a.shift == shift; }

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("reference TFLite mode: quantize_multiplier splits M into a Q31 significand and a shift") {
    CHECK(same(tfl::quantize_multiplier(0.5), two30, 0));
    CHECK(same(tfl::quantize_multiplier(0.75), 1610612736, 0));          // 0.75 * 2^31
    CHECK(same(tfl::quantize_multiplier(0.1), 1717986918, -3));          // 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4
    CHECK(same(tfl::quantize_multiplier(1.0), two30, 1));                // M >= 1: a left shift
    CHECK(same(tfl::quantize_multiplier(3.0), 1610612736, 2));
    CHECK(same(tfl::quantize_multiplier(1.0 - 0x1p-33), two30, 1));      // q * 2^31 = 2^31 - 0.25 rounds to 2^31: carried
    CHECK(same(tfl::quantize_multiplier(0x1p-32), two30, -31));          // the smallest kept: a right shift of 31
    CHECK(same(tfl::quantize_multiplier(0x1p-33), 0, 0));                // a right shift of 32: flushed to zero
    CHECK(same(tfl::quantize_multiplier(0.0), 0, 0));
}

TEST_CASE("reference TFLite mode: rounding doubling high multiply and rounding divide by a power of two") {
    // round(a * b / 2^31): a tie goes up, toward +infinity.
    CHECK(tfl::rounding_doubling_high_mul(3, two30) == 2);     // 1.5
    CHECK(tfl::rounding_doubling_high_mul(-3, two30) == -1);   // -1.5
    CHECK(tfl::rounding_doubling_high_mul(5, two30) == 3);     // 2.5
    CHECK(tfl::rounding_doubling_high_mul(-5, two30) == -2);   // -2.5
    CHECK(tfl::rounding_doubling_high_mul(1000, 1717986918) == 800);    // 799.99999981
    CHECK(tfl::rounding_doubling_high_mul(-1000, 1717986918) == -800);
    CHECK(tfl::rounding_doubling_high_mul(i32_min, i32_min) == i32_max);  // the one saturating case
    CHECK(tfl::rounding_doubling_high_mul(i32_min, i32_max) == -i32_max);
    // round(x / 2^e): a tie goes away from zero.
    CHECK(tfl::rounding_divide_by_pot(5, 1) == 3);     // 2.5
    CHECK(tfl::rounding_divide_by_pot(-5, 1) == -3);   // -2.5
    CHECK(tfl::rounding_divide_by_pot(3, 1) == 2);     // 1.5
    CHECK(tfl::rounding_divide_by_pot(-3, 1) == -2);   // -1.5
    CHECK(tfl::rounding_divide_by_pot(-1, 1) == -1);   // -0.5
    CHECK(tfl::rounding_divide_by_pot(7, 2) == 2);     // 1.75
    CHECK(tfl::rounding_divide_by_pot(-7, 2) == -2);
    CHECK(tfl::rounding_divide_by_pot(5, 2) == 1);     // 1.25
    CHECK(tfl::rounding_divide_by_pot(-5, 2) == -1);
    CHECK(tfl::rounding_divide_by_pot(9, 0) == 9);
    CHECK(tfl::rounding_divide_by_pot(two30, 31) == 1);    // 0.5
    CHECK(tfl::rounding_divide_by_pot(-two30, 31) == -1);  // -0.5
    CHECK(tfl::rounding_divide_by_pot(two30 - 1, 31) == 0);
    CHECK(tfl::rounding_divide_by_pot(i32_min, 31) == -1);
}

TEST_CASE("reference TFLite mode: multiply_by_quantized_multiplier - with M < 1 and M >= 1") {
    const tfl::multiplier tenth = tfl::quantize_multiplier(0.1), quarter = tfl::quantize_multiplier(0.25);
    CHECK(tfl::multiply_by_quantized_multiplier(100, tenth) == 10);    // high mul 80, then 80 / 8
    CHECK(tfl::multiply_by_quantized_multiplier(-100, tenth) == -10);
    CHECK(tfl::multiply_by_quantized_multiplier(6, quarter) == 2);     // 1.5: away from zero
    CHECK(tfl::multiply_by_quantized_multiplier(-6, quarter) == -2);   // -1.5
    CHECK(tfl::multiply_by_quantized_multiplier(-2, quarter) == -1);   // -0.5: half to even would give 0
    CHECK(tfl::multiply_by_quantized_multiplier(10, quarter) == 3);    // 2.5: half to even would give 2
    // M = 0.5 has no shift: the tie is the high multiply's, which rounds up.
    CHECK(tfl::multiply_by_quantized_multiplier(5, tfl::quantize_multiplier(0.5)) == 3);
    CHECK(tfl::multiply_by_quantized_multiplier(-5, tfl::quantize_multiplier(0.5)) == -2);
    // M >= 1: x << shift, then the high multiply by the significand (ties up, so -4.5 -> -4).
    CHECK(tfl::multiply_by_quantized_multiplier(7, tfl::quantize_multiplier(3.0)) == 21);
    CHECK(tfl::multiply_by_quantized_multiplier(-7, tfl::quantize_multiplier(3.0)) == -21);
    CHECK(tfl::multiply_by_quantized_multiplier(3, tfl::quantize_multiplier(1.5)) == 5);
    CHECK(tfl::multiply_by_quantized_multiplier(-3, tfl::quantize_multiplier(1.5)) == -4);
    CHECK(tfl::multiply_by_quantized_multiplier(1234, tfl::quantize_multiplier(1.0)) == 1234);
    CHECK(tfl::multiply_by_quantized_multiplier(1234, tfl::quantize_multiplier(0x1p-33)) == 0);  // flushed
}

TEST_CASE("reference TFLite mode: average pooling divisions and activation ranges") {
    CHECK(tfl::divide_round_half_away(8, 16) == 1);      // 0.5
    CHECK(tfl::divide_round_half_away(7, 16) == 0);
    CHECK(tfl::divide_round_half_away(40, 16) == 3);     // 2.5: half to even would give 2
    CHECK(tfl::divide_round_half_away(24, 16) == 2);     // 1.5
    CHECK(tfl::divide_round_half_away(-8, 16) == -1);
    CHECK(tfl::divide_round_half_away(-40, 16) == -3);
    CHECK(tfl::divide_round_half_away(97, 49) == 2);     // 1.98
    CHECK(tfl::average(300 * 16, 16, tfl::type_range(dtype::u8)) == 255);
    // zp + round(real / s), a tie away from zero; relu6 at scale 6/255 is the whole u8 range.
    CHECK(tfl::quantize_bound(1.25f, quant_params{dtype::s8, 0.5f, 0}) == 3);
    CHECK(tfl::quantize_bound(-1.25f, quant_params{dtype::s8, 0.5f, 0}) == -3);
    const std::vector<post_op> relu6{post_op::make_relu6()}, relu{post_op::make_relu()};
    const tfl::range r6 = tfl::activation_range(relu6, quant_params{dtype::u8, 6.f / 255.f, 0});
    CHECK((r6.lo == 0 && r6.hi == 255));
    const tfl::range r = tfl::activation_range(relu6, quant_params{dtype::u8, 0.05f, 10});
    CHECK((r.lo == 10 && r.hi == 130));
    const tfl::range rr = tfl::activation_range(relu, quant_params{dtype::u8, 0.05f, 10});
    CHECK((rr.lo == 10 && rr.hi == 255));
    const tfl::range rc = tfl::activation_range({post_op::make_clip(-1.f, 1.f)}, quant_params{dtype::s8, 0.125f, -5});
    CHECK((rc.lo == -13 && rc.hi == 3));
    const tfl::range none = tfl::activation_range({}, quant_params{dtype::s8, 0.125f, -5});
    CHECK((none.lo == -128 && none.hi == 127));
}

TEST_CASE("reference TFLite mode: requantize and add") {
    const tfl::range u8 = tfl::type_range(dtype::u8);
    CHECK(tfl::requantize(95, 5, tfl::quantize_multiplier(0.1), 7, u8) == 17);   // (95 + 5) / 10 + 7
    CHECK(tfl::requantize(-95, -5, tfl::quantize_multiplier(0.1), 7, u8) == 0);  // -3, clamped
    CHECK(tfl::requantize(5000, 0, tfl::quantize_multiplier(0.1), 7, u8) == 255);
    CHECK(tfl::requantize(-2, 0, tfl::quantize_multiplier(0.25), 10, u8) == 9);  // -0.5 -> -1
    // Scales 1, 1 -> 1: 3 + 4 = 7; -> 2: (1 + 2) / 2 = 1.5 -> 2.
    const quant_params one{dtype::u8, 1.f, 0}, two{dtype::u8, 2.f, 0};
    CHECK(tfl::add(3, 4, tfl::make_add(one, one, one, u8)) == 7);
    CHECK(tfl::add(1, 2, tfl::make_add(one, one, two, u8)) == 2);
    // Zero points: a = 0.5 * (130 - 128) = 1, b = 0.25 * (96 - 100) = -1; their sum 0 is code 120.
    const tfl::add_params p = tfl::make_add({dtype::u8, 0.5f, 128}, {dtype::u8, 0.25f, 100}, {dtype::u8, 0.5f, 120}, u8);
    CHECK(p.a.m == two30);
    CHECK(p.a.shift == 0);
    CHECK(p.b.shift == -1);
    CHECK(p.out.shift == -18);  // 1 / (2^20 * 0.5) = 2^-19
    CHECK(tfl::add(130, 96, p) == 120);
    CHECK(tfl::add(134, 96, p) == 124);  // 0.5 * 6 + (-1) = 2 real: 4 steps of 0.5
    CHECK(tfl::add(255, 255, p) == 255);
}

TEST_CASE("reference TFLite mode: a conv output stage and an average pool on ties - against the default rules") {
    ref::value src = ref::make_value({1, 1, 2, 2}, true, quant_params{dtype::u8, 1.f, 0});
    src.i = {0, 0, 1, 1};
    ref::window g1;  // 1x1 kernel
    ref::weights w;
    w.q = {-1};
    w.s = {0.25f};
    ref::output_stage st;
    st.os = {0.25f};
    st.bias = {-1.f};
    st.out_int = true;
    st.act = quant_params{dtype::u8, 1.f, 10};
    // acc + bias: -1, -1, -2, -2; times 0.25: -0.25, -0.25, -0.5, -0.5; + 10.
    CHECK(ref::conv2d(src, 0, w, 1, 1, g1, st).i == std::vector<int32_t>{10, 10, 10, 10});  // 9.5: half to even
    st.tflite = true;
    st.tfl_bias = {-1};  // TFLite mode adds the int32 bias
    st.tfl_m = {tfl::conv_multiplier(1.f, 0.25f, 1.f)};
    st.tfl_range = tfl::type_range(dtype::u8);
    CHECK(ref::conv2d(src, 0, w, 1, 1, g1, st).i == std::vector<int32_t>{10, 10, 9, 9});    // -0.5 -> -1
    // The mean of 0, 0, 1, 1 is 0.5; of 2, 2, 3, 3 is 2.5.
    CHECK(ref::global_avg_pool2d(src).i == std::vector<int32_t>{0});
    CHECK(ref::global_avg_pool2d(src, true).i == std::vector<int32_t>{1});
    src.i = {2, 2, 3, 3};
    CHECK(ref::global_avg_pool2d(src).i == std::vector<int32_t>{2});
    CHECK(ref::global_avg_pool2d(src, true).i == std::vector<int32_t>{3});
}

}  // TEST_SUITE
