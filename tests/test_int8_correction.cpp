// The converter's INT8-only bias correction (`L.bias.int8_correction`) reaches every kind of int8
// weighted layer, including those run by qint8's own depthwise kernels, exactly as the naive
// reference applies it.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <qint8/io/bias_correction.hpp>
#include <qint8/ref/reference.hpp>
#include <qint8/session.hpp>

#include "support/compare.hpp"
#include "support/layers.hpp"

using namespace qint8;

namespace {

/// u8 input -> int8 1x1 conv "pre" (ReLU; weights up to `pre_qmax`) -> int8 depthwise "dw" (ReLU6):
/// an int8 producer, so the depthwise layer reads and writes integers (own kernels).
model_desc conv_then_depthwise(test::rng& r, int pre_qmax) {
    model_desc m = test::input_only({8, 10, 10}, quant_params{dtype::u8, 2.f / 255.f, 128});
    layer pre = test::conv_layer("pre", "input", 8);
    pre.act = quant_params{dtype::u8, 0.02f, 0};
    pre.post_ops = {post_op::make_relu()};
    m.layers.push_back(pre);
    test::add_weights(m, "pre", {8, 8, 1, 1}, r, true, pre_qmax);
    layer dw = test::depthwise_layer("dw", "pre", 8);
    dw.groups = 8;
    dw.act = quant_params{dtype::u8, 0.03f, 10};
    dw.post_ops = {post_op::make_relu6()};
    m.layers.push_back(dw);
    test::add_weights(m, "dw", {8, 1, 3, 3}, r, true, 127);
    return m;
}

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("int8 bias correction on a depthwise layer (own kernels) and a conv: equal to the reference - and it takes effect") {
    test::rng r(21);
    model_desc m = conv_then_depthwise(r, 63);
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

TEST_CASE("the pair-safe bias correction replaces the 8-bit one where u8 weights are pair-safe - as in the reference") {
    // A manifest corrected on a VNNI or AMX machine holds both (convert.hpp, correct_biases): the
    // paths without VNNI, and any path compiled with pair_safe_weights, take `.pair_safe`.
    test::rng r(23);
    model_desc m = conv_then_depthwise(r, 127);  // 8-bit weights: the pair-safe scheme narrows some
    const auto per_channel = [](float a) { return tensor::from_vector(dtype::f32, {8}, std::vector<float>{a, -a, a / 2, 0.f, a, -a / 2, a, -a}); };
    m.tensors[int8_bias_correction_name("pre")] = per_channel(0.1f);
    m.tensors[int8_bias_correction_name("dw")] = per_channel(0.2f);
    model_desc base_only = m;
    m.tensors[int8_bias_correction_pair_safe_name("pre")] = per_channel(-0.15f);
    m.tensors[int8_bias_correction_pair_safe_name("dw")] = per_channel(0.3f);
    validate(m, "test");
    validate(base_only, "test");
    const int64_t batch = 2;
    const std::vector<float> in = r.floats(static_cast<std::size_t>(batch * 8 * 10 * 10), -1.f, 1.f);
    const auto run = [&](const model_desc& d, bool pair_safe) {
        compile_options co;
        co.batch = batch;
        co.pair_safe_weights = pair_safe;
        model net(d, co, "test");
        session s(net);
        return s.run(in);
    };
    const auto reference = [&](const model_desc& d, int u8_weight_max) {
        ref::options o = test::ref_options(false);
        o.u8_weight_max = u8_weight_max;
        return ref::to_real(ref::run_all(d, in, batch, o).at(d.output_name())).f;
    };
    // Bit for bit against the naive reference with each weight scheme.
    const std::vector<float> pair_safe = run(m, true);
    CHECK(pair_safe == reference(m, 63));
    CHECK(run(m, false) == reference(m, test::ref_options(false).u8_weight_max));
    // The pair-safe tensor takes effect with pair-safe weights and only there.
    CHECK(pair_safe != run(base_only, true));
    CHECK(reference(m, 127) == reference(base_only, 127));
    CHECK((run(m, false) == run(base_only, false)) == (cpu_info().u8_weight_bits == 8));
}

}  // TEST_SUITE
