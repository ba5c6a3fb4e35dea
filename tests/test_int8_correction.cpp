// The converter's INT8-only bias correction (`L.bias.int8_correction`) reaches every kind of int8
// weighted layer, including those run by qint8's own depthwise kernels, exactly as the naive
// reference applies it.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <qint8/io/bias_correction.hpp>

#include "support/compare.hpp"
#include "support/layers.hpp"

using namespace qint8;

TEST_SUITE("ops") {

TEST_CASE("int8 bias correction on a depthwise layer (own kernels) and a conv: equal to the reference, and it takes effect") {
    test::rng r(21);
    model_desc m = test::input_only({8, 10, 10}, quant_params{dtype::u8, 2.f / 255.f, 128});
    // an int8 producer, so the depthwise layer reads and writes integers (own kernels)
    layer pre = test::conv_layer("pre", "input", 8);
    pre.act = quant_params{dtype::u8, 0.02f, 0};
    pre.post_ops = {post_op::make_relu()};
    m.layers.push_back(pre);
    test::add_weights(m, "pre", {8, 8, 1, 1}, r, true, 63);
    layer dw = test::depthwise_layer("dw", "pre", 8);
    dw.groups = 8;
    dw.act = quant_params{dtype::u8, 0.03f, 10};
    dw.post_ops = {post_op::make_relu6()};
    m.layers.push_back(dw);
    test::add_weights(m, "dw", {8, 1, 3, 3}, r, true, 127);
    model_desc plain = m;
    // Corrections of several output steps, of both signs, on both layers.
    m.tensors[int8_bias_correction_name("dw")] = tensor::from_vector(dtype::f32, {8}, std::vector<float>{0.3f, -0.2f, 0.15f, -0.3f, 0.25f, 0.1f, -0.1f, 0.2f});
    m.tensors[int8_bias_correction_name("pre")] = tensor::from_vector(dtype::f32, {8}, std::vector<float>{0.1f, -0.1f, 0.05f, 0.f, 0.1f, -0.05f, 0.1f, 0.f});
    const test::comparison c = test::compare(m, 2, 5, false, 0.f, 1.f);
    CAPTURE(c.max_lsb);
    CHECK(c.max_lsb == 0.0);
    // The correction changes the INT8 output (so the comparison above covers it) ...
    validate(plain, "test");
    validate(m, "test");
    const std::vector<float> in = r.floats(8 * 100, 0.f, 1.f);
    model a(m), b(plain);
    session sa(a), sb(b);
    const std::vector<float> with = sa.run(in), without = sb.run(in);
    std::size_t changed = 0;
    for (std::size_t i = 0; i < with.size(); ++i) changed += with[i] != without[i];
    CHECK(changed > with.size() / 4);
    // ... and not the FP32 path.
    compile_options fp;
    fp.force_fp32 = true;
    model fa(m, fp), fb(plain, fp);
    session sfa(fa), sfb(fb);
    CHECK(sfa.run(in) == sfb.run(in));
}

}  // TEST_SUITE
