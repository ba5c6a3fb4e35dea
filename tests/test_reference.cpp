// The per-op reference functions themselves (include/qint8/ref): their own window arithmetic
// against hand-counted sizes, a hand-computed convolution, and the int32 accumulator bound that
// validate() enforces for every weighted layer.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <qint8/ref/reference.hpp>

#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;

namespace {

/// One fc layer of `k` inputs (a [k, 1, 1] input) with s8 weights all equal to `w`.
model_desc wide_fc(int64_t k, int8_t w, precision prec = precision::int8) {
    model_desc m = test::input_only({k, 1, 1}, quant_params{dtype::u8, 0.01f, 128});
    layer l = test::fc_layer("fc", "input", 2);
    l.prec = prec;
    m.layers.push_back(l);
    m.tensors["fc.weight"] = tensor::from_vector(dtype::s8, {2, k}, std::vector<int8_t>(std::size_t(2 * k), w));
    m.tensors["fc.weight.scales"] = tensor::from_vector(dtype::f32, {2}, std::vector<float>{0.01f, 0.01f});
    return m;
}

std::string error_of(model_desc m) {
    try {
        validate(m, "wide.json");
    } catch (const error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("reference window arithmetic: sizes counted by hand") {
    ref::window g;
    g.kh = g.kw = 3;
    g.sh = g.sw = 2;
    g.pad = {1, 1, 1, 1};
    CHECK(ref::out_height(224, g) == 112);  // starts -1, 1, ..., 221: 112 windows end inside 225
    CHECK(ref::out_width(7, g) == 4);       // starts -1, 1, 3, 5
    g.pad = {0, 0, 1, 0};                   // TF SAME, odd pixel at the bottom
    CHECK(ref::out_height(8, g) == 4);
    CHECK(ref::out_width(8, g) == 3);
    g.kh = 9;                               // larger than the padded input: no window fits
    CHECK(ref::out_height(7, g) == 0);
}

TEST_CASE("reference conv2d: a 2x2 kernel over a 3x3 image - integer accumulator and requantization") {
    ref::value src = ref::make_value({1, 1, 3, 3}, true, quant_params{dtype::u8, 1.f, 10});
    src.i = {11, 12, 13, 14, 15, 16, 17, 18, 19};  // centred: 1..9
    ref::weights w;
    w.q = {1, -1, 2, 0};
    ref::window g;
    g.kh = g.kw = 2;
    ref::output_stage st;
    st.os = {0.5f};
    st.bias = {1.f};
    st.out_int = true;
    st.act = quant_params{dtype::u8, 1.f, 3};
    const ref::value out = ref::conv2d(src, 10, w, 1, 1, g, st);
    REQUIRE(out.dims == std::vector<int64_t>{1, 1, 2, 2});
    // acc at (0,0): 1 - 2 + 2*4 = 7; (7 + 1) * 0.5 + 3 = 7. (0,1): 2 - 3 + 10 = 9 -> 8. (1,0): 4 - 5 + 14 = 13 -> 10. (1,1): 5 - 6 + 16 = 15 -> 11.
    CHECK(out.i == std::vector<int32_t>{7, 8, 10, 11});
}

TEST_CASE("validate: the int32 accumulator bound 255 x sum|w| per output channel") {
    // 66311 full-range taps: 255 * 127 * 66311 = 2147481615 fits; one more does not.
    CHECK(error_of(wide_fc(66311, 127)) == "(no error)");
    const std::string e = error_of(wide_fc(66312, 127));
    CHECK(e.find("[qint8.unsupported] wide.json: layers[0] 'fc': output channel 0: 255 x sum|weight| = 2147514120 exceeds the int32 accumulator") == 0);
    CHECK(e.find("66312 taps per channel") != std::string::npos);
    // Smaller weights leave room for more taps; an FP32 layer has no integer accumulator.
    CHECK(error_of(wide_fc(132000, 63)) == "(no error)");
    CHECK(error_of(wide_fc(66312, 127, precision::fp32)) == "(no error)");
}

}  // TEST_SUITE
