// Every layer builder, INT8 and FP32, against the naive reference (include/qint8/ref) over a grid
// of shapes. INT8 outputs must equal the integer reference; FP32 within 1e-4 relative.

#include <doctest/doctest.h>

#include "support/chunk_everything.hpp"
#include "support/compare.hpp"
#include "support/layers.hpp"

using namespace qint8;
using namespace qint8::test;

namespace {

struct conv_case {
    int64_t batch = 1, c = 8, h = 9, w = 11, o = 16;
    int64_t kh = 3, kw = 3, sh = 1, sw = 1;
    std::array<int64_t, 4> pad{1, 1, 1, 1};
    int64_t groups = 1;
    bool depthwise = false;
    dtype src = dtype::u8, dst = dtype::u8;  // dst f32: the conv's output stays real
    int32_t zp_src = 0, zp_dst = 0;
    int post = 0;  // 0 none, 1 relu, 2 relu6, 3 sum (+relu), 4 sum rounded to the branch's quantization first (+relu)
    bool int_weights = true;
    int wmax = 63;
    std::optional<quant_params> branch;  // post 4: the branch's rounding before the sum
    bool minus128 = false;                // every 7th weight code -128 (the full s8 range)
    bool float_bias = false;              // the bias added unrounded (layer::float_bias)
    bool real_residual = false;           // post 3/4: the residual is an FP32 layer's real output (dst f32 only)
};

std::string describe(const conv_case& k) {
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "n%ld c%ld %ldx%ld o%ld k%ldx%ld s%ldx%ld pad[%ld,%ld,%ld,%ld] g%ld dw%d %s->%s zp%d/%d post%d intw%d wmax%d m128 %d",
                  long(k.batch), long(k.c), long(k.h), long(k.w), long(k.o), long(k.kh), long(k.kw), long(k.sh), long(k.sw),
                  long(k.pad[0]), long(k.pad[1]), long(k.pad[2]), long(k.pad[3]), long(k.groups), int(k.depthwise),
                  to_string(k.src), to_string(k.dst), k.zp_src, k.zp_dst, k.post, int(k.int_weights), k.wmax, int(k.minus128));
    return buf;
}

/// input -> [residual source conv when post==3] -> conv under test -> identity max-pool (an int8
/// reader, so the conv's output is stored in 8 bits and compared integer for integer).
model_desc conv_model(const conv_case& k, uint32_t seed) {
    rng r(seed);
    const float in_scale = 2.f / 255.f;
    model_desc m = input_only({k.c, k.h, k.w}, quant_params{k.src, in_scale, k.src == dtype::u8 ? 128 + k.zp_src / 4 : k.zp_src / 4});
    std::string src = "input";
    quant_params qa{k.src, 0.02f, k.zp_src};
    {
        // A first 1x1 conv turns the input into an activation of the requested type and zero point.
        layer l = conv_layer("pre", "input", k.c);
        l.act = qa;
        m.layers.push_back(l);
        add_weights(m, "pre", {k.c, k.c, 1, 1}, r, true, 63);
        src = "pre";
    }
    layer l = make_layer(k.depthwise ? op::depthwise_conv2d : op::conv2d, "conv", {src});
    l.out_channels = k.depthwise ? k.c : k.o;
    l.kernel = {k.kh, k.kw};
    l.stride = {k.sh, k.sw};
    l.pad = k.pad;
    l.groups = k.depthwise ? k.c : k.groups;
    const int64_t oh = (k.h + k.pad[0] + k.pad[2] - k.kh) / k.sh + 1, ow = (k.w + k.pad[1] + k.pad[3] - k.kw) / k.sw + 1;
    if (k.post == 1) l.post_ops.push_back(post_op::make_relu());
    if (k.post == 2) l.post_ops.push_back(post_op::make_relu6());
    if (k.post == 3 || k.post == 4) {
        // the residual branch: another conv producing the same shape
        layer rl = make_layer(op::conv2d, "residual", {src});
        rl.out_channels = l.out_channels;
        rl.kernel = {k.kh, k.kw};
        rl.stride = {k.sh, k.sw};
        rl.pad = k.pad;
        if (k.real_residual) rl.prec = precision::fp32;
        else rl.act = quant_params{dtype::s8, 0.03f, 3};
        m.layers.push_back(rl);
        add_weights(m, "residual", {l.out_channels, k.c, k.kh, k.kw}, r, true, 63);
        l.post_ops.push_back(post_op::make_sum("residual", k.post == 4 ? k.branch : std::nullopt));
        l.post_ops.push_back(post_op::make_relu());
    }
    if (k.dst != dtype::f32) l.act = quant_params{k.dst, k.post == 0 ? 0.05f : 0.025f, k.zp_dst};
    l.float_bias = k.float_bias;
    add_weights(m, "conv", {l.out_channels, k.c / l.groups, k.kh, k.kw}, r, k.int_weights, k.wmax);
    if (k.minus128) {
        tensor& w = m.tensors.at("conv.weight");
        const auto* p = reinterpret_cast<const int8_t*>(w.data);
        std::vector<int8_t> q(p, p + w.elements());
        for (std::size_t i = 0; i < q.size(); i += 7) q[i] = -128;
        w = tensor::from_vector(dtype::s8, w.shape, q);
    }
    m.layers.push_back(l);
    if (k.dst != dtype::f32) {
        layer p = window_layer(op::max_pool2d, "identity", "conv", 1);
        m.layers.push_back(p);
    }
    (void)oh;
    (void)ow;
    return m;
}

void check_conv(const conv_case& k, uint32_t seed) {
    model_desc m = conv_model(k, seed);
    CAPTURE(describe(k));
    for (bool fp32 : {false, true}) {
        CAPTURE(fp32);
        comparison c = compare(m, k.batch, seed + 1, fp32);
        if (fp32) {
            CHECK(c.max_abs <= 1e-4 * std::max(1.0, c.max_ref));
        } else if (c.int_output) {
            CAPTURE(c.max_lsb);
            CAPTURE(c.off_by_one);
            CHECK(c.max_lsb == 0.0);
        } else {
            CHECK(c.max_abs <= 1e-5 * std::max(1.0, c.max_ref));
        }
    }
}

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("conv2d int8 and fp32 match the reference: basic 3x3") {
    conv_case k;
    check_conv(k, 1);
}

TEST_CASE("conv2d grid: strides / odd sizes / asymmetric padding / groups / zero points / batch") {
    std::vector<conv_case> cases;
    for (int64_t batch : {1, 2})
        for (int64_t stride : {1, 2})
            for (int pad_mode = 0; pad_mode < 3; ++pad_mode)
                for (int zp = 0; zp < 2; ++zp) {
                    conv_case k;
                    k.batch = batch;
                    k.c = 13;
                    k.o = 21;
                    k.h = 9;
                    k.w = 7;
                    k.sh = k.sw = stride;
                    k.pad = pad_mode == 0 ? std::array<int64_t, 4>{0, 0, 0, 0}
                          : pad_mode == 1 ? std::array<int64_t, 4>{1, 1, 1, 1}
                                          : std::array<int64_t, 4>{0, 0, 1, 1};  // TF "SAME" with stride 2
                    k.zp_src = zp ? 5 : 0;
                    k.zp_dst = zp ? 7 : 0;
                    k.post = int(batch + stride + pad_mode) % 4;
                    cases.push_back(k);
                }
    uint32_t seed = 10;
    for (const auto& k : cases) check_conv(k, seed++);
}

TEST_CASE("conv2d 1x1 / 5x5 / 7x7 stride 2 (ResNet stem) and channels not multiple of 16") {
    conv_case a; a.kh = a.kw = 1; a.pad = {0, 0, 0, 0}; a.c = 19; a.o = 35;
    conv_case b; b.kh = b.kw = 5; b.pad = {2, 2, 2, 2}; b.c = 3; b.o = 17;
    conv_case c; c.kh = c.kw = 7; c.sh = c.sw = 2; c.pad = {3, 3, 3, 3}; c.c = 3; c.o = 24; c.h = 23; c.w = 23;
    conv_case d; d.kh = 1; d.kw = 3; d.pad = {0, 1, 0, 1}; d.c = 5; d.o = 6;  // non-square kernel
    check_conv(a, 100);
    check_conv(b, 101);
    check_conv(c, 102);
    check_conv(d, 103);
}

TEST_CASE("conv2d groups") {
    conv_case k; k.c = 12; k.o = 18; k.groups = 3;
    check_conv(k, 200);
    k.groups = 2; k.sh = k.sw = 2; k.pad = {0, 0, 1, 1};
    check_conv(k, 201);
}

TEST_CASE("conv2d packed chunk by chunk as its codes are quantized: plain / groups / 1x1 / zero points") {
    // Grouped convolutions have a [G, O/G, ...] layout that is not split by output channel: they
    // must be packed whole, and every other convolution give the same integers in chunks.
    const chunk_everything scope;
    conv_case a;
    a.int_weights = false;
    conv_case b = a;
    b.c = 12, b.o = 18, b.groups = 3;
    conv_case c = a;
    c.kh = c.kw = 1, c.pad = {0, 0, 0, 0}, c.c = 19, c.o = 35, c.zp_src = 5, c.zp_dst = 7;
    conv_case d = b;
    d.int_weights = true, d.groups = 2, d.o = 20;
    check_conv(a, 300);
    check_conv(b, 301);
    check_conv(c, 302);
    check_conv(d, 303);
}

TEST_CASE("depthwise_conv2d: stride 1 and 2 / asymmetric padding / relu6 / zero points") {
    for (int64_t stride : {1, 2})
        for (int zp = 0; zp < 2; ++zp) {
            conv_case k;
            k.depthwise = true;
            k.c = 24;
            k.h = k.w = 11;
            k.sh = k.sw = stride;
            k.pad = stride == 2 ? std::array<int64_t, 4>{0, 0, 1, 1} : std::array<int64_t, 4>{1, 1, 1, 1};
            k.post = 2;
            k.zp_src = zp ? 9 : 0;
            k.zp_dst = zp ? 4 : 0;
            check_conv(k, 300 + uint32_t(stride * 2 + zp));
        }
}

TEST_CASE("conv2d signed activations (s8 src and dst)") {
    conv_case k; k.src = dtype::s8; k.dst = dtype::s8; k.zp_src = -3; k.zp_dst = 2;
    check_conv(k, 400);
    k.post = 3;
    check_conv(k, 401);
    k.post = 0;
    k.wmax = 127;  // full 8-bit weights on an s8 source: the non-VNNI paths read it as u8 and use 7 bits
    check_conv(k, 402);
}

TEST_CASE("conv2d with f32 output (int8 layer read only by fp32 consumers)") {
    conv_case k; k.dst = dtype::f32;
    check_conv(k, 500);
}

TEST_CASE("conv2d from f32 weights quantized at load (per-channel abs-max)") {
    conv_case k; k.int_weights = false;
    check_conv(k, 600);
    k.post = 3;
    check_conv(k, 601);
}

TEST_CASE("conv2d with full 8-bit weights (requantized to 7 bits where the path lacks VNNI)") {
    conv_case k; k.wmax = 127;
    check_conv(k, 700);
    k.minus128 = true;  // the file's -128 kept where the path accumulates exactly
    check_conv(k, 701);
    k.depthwise = true;
    check_conv(k, 702);
}

TEST_CASE("conv2d with a residual sum rounded to the branch's own quantization first (a QDQ branch before its Add)") {
    for (const quant_params& b : {quant_params{dtype::u8, 0.04f, 120}, quant_params{dtype::s8, 0.01f, 5}}) {
        for (dtype dst : {dtype::u8, dtype::f32}) {
            conv_case k; k.post = 4; k.branch = b; k.dst = dst;
            check_conv(k, 800 + (b.type == dtype::s8 ? 1 : 0) + (dst == dtype::f32 ? 2 : 0));
        }
    }
    conv_case k; k.post = 4; k.branch = quant_params{dtype::u8, 0.03f, 128}; k.src = dtype::s8; k.dst = dtype::s8; k.zp_src = -3; k.zp_dst = 2;
    check_conv(k, 810);
}

TEST_CASE("an int8 conv with a real output sums a real residual as it is (a file that adds in float after the branch's Q/DQ)") {
    for (int post : {3, 4}) {
        conv_case k; k.post = post; k.real_residual = true; k.dst = dtype::f32; k.branch = quant_params{dtype::u8, 0.04f, 120};
        check_conv(k, 820 + uint32_t(post));
        k.depthwise = true; k.c = 24; k.float_bias = true;
        check_conv(k, 830 + uint32_t(post));
    }
}

TEST_CASE("conv2d and depthwise_conv2d with an unrounded bias (float_bias: float ops between the file's conv and its Q/DQ)") {
    // The reference itself must tell the two biases apart, or the comparison would prove nothing.
    const auto changes_output = [](const model_desc& m) {
        model_desc rounded = m;
        for (auto& l : rounded.layers) l.float_bias = false;
        validate(rounded, "test");
        model_desc unrounded = m;
        validate(unrounded, "test");
        rng r(77);
        const int64_t n = 16;  // a shift below one accumulator unit changes few roundings: enough images to see one
        const std::vector<float> in = r.floats(static_cast<std::size_t>(n * m.input.shape[0] * m.input.shape[1] * m.input.shape[2]), -1.f, 1.f);
        return ref::run(rounded, in, n, ref_options(false)) != ref::run(unrounded, in, n, ref_options(false));
    };
    for (int post : {0, 1, 3}) {
        conv_case k; k.float_bias = true; k.post = post; k.batch = 2; k.zp_src = 5;
        CHECK(changes_output(conv_model(k, 900)));
        check_conv(k, 900 + uint32_t(post));
    }
    conv_case d; d.float_bias = true; d.depthwise = true; d.c = 40; d.post = 2; d.zp_src = 9; d.zp_dst = 4;
    CHECK(changes_output(conv_model(d, 910)));
    check_conv(d, 910);
    d.src = dtype::s8; d.dst = dtype::s8; d.zp_src = -3; d.post = 0;
    check_conv(d, 911);
    d.c = 70; d.h = d.w = 6; d.src = dtype::u8; d.dst = dtype::u8; d.zp_src = 0;  // a tail block on every variant
    check_conv(d, 912);
}

}  // TEST_SUITE

namespace {

/// input(u8 or s8) -> pre conv (makes an activation with the requested zero point) -> layer -> identity reader
model_desc single(layer l, std::vector<int64_t> chw, quant_params qa, uint32_t seed, bool int_reader = true,
                  std::vector<int64_t> w_shape = {}) {
    rng r(seed);
    model_desc m = input_only(chw, quant_params{dtype::u8, 2.f / 255.f, 128});
    layer pre = conv_layer("pre", "input", chw[0]);
    pre.act = qa;
    m.layers.push_back(pre);
    add_weights(m, "pre", {chw[0], chw[0], 1, 1}, r, true, 63);
    l.inputs[0] = "pre";
    if (!w_shape.empty()) add_weights(m, l.name, w_shape, r, true, 63);
    const std::string name = l.name;
    m.layers.push_back(l);
    if (int_reader && l.act) {
        // An int8 reader keeps the result stored in 8 bits, so it is compared integer for integer.
        layer p = make_layer(op::conv2d, "reader", {name});
        if (l.kind == op::fc) {
            p.kind = op::fc;
            p.out_channels = 3;
            add_weights(m, "reader", {3, l.out_channels}, r, true, 63);
        } else {
            p.kind = op::max_pool2d;
            p.kernel = {1, 1};
        }
        m.layers.push_back(p);
        m.output = name;
    }
    return m;
}

void check_exact(const model_desc& m, int64_t batch, uint32_t seed, double int_tol_lsb = 0.0) {
    for (bool fp32 : {false, true}) {
        CAPTURE(fp32);
        comparison c = compare(m, batch, seed, fp32);
        CAPTURE(c.max_abs);
        CAPTURE(c.max_lsb);
        if (fp32) CHECK(c.max_abs <= 1e-4 * std::max(1.0, c.max_ref));
        else if (c.int_output) CHECK(c.max_lsb <= int_tol_lsb);
        else CHECK(c.max_abs <= 1e-5 * std::max(1.0, c.max_ref));
    }
}

}  // namespace

TEST_SUITE("ops") {

TEST_CASE("max_pool2d: 3x3 stride 2 pad 1 (ResNet) / 2x2 stride 2 / odd sizes / zero points") {
    for (int zp = 0; zp < 2; ++zp)
        for (int variant = 0; variant < 3; ++variant)
            for (int64_t batch : {1, 3}) {
                layer l = make_layer(op::max_pool2d, "pool", {"x"});
                l.kernel = variant == 1 ? std::array<int64_t, 2>{2, 2} : std::array<int64_t, 2>{3, 3};
                l.stride = {2, 2};
                l.pad = variant == 0 ? std::array<int64_t, 4>{1, 1, 1, 1} : variant == 1 ? std::array<int64_t, 4>{0, 0, 0, 0} : std::array<int64_t, 4>{0, 0, 1, 1};
                l.act = quant_params{zp ? dtype::s8 : dtype::u8, 0.02f, zp ? -5 : 0};
                CAPTURE(zp); CAPTURE(variant); CAPTURE(batch);
                check_exact(single(l, {19, 13, 11}, *l.act, 900 + uint32_t(variant)), batch, 31);
            }
}

TEST_CASE("avg_pool2d: exclude and include padding / zero points / global average pool") {
    // The integer mean is rounded once from float(sum)/count. Bit-exact on the AVX2 path; the
    // AVX-512 pooling kernels may multiply by 1/count instead, which can land on the other side
    // of a .5 tie, so 1 LSB is allowed there (and nowhere else in this file).
    const double tol = cpu_info().chosen == isa::avx2 ? 0.0 : 1.0;
    for (int zp = 0; zp < 2; ++zp)
        for (bool include : {false, true}) {
            layer l = window_layer(op::avg_pool2d, "pool", "x", 3, 1, 2);
            l.count_include_pad = include;
            l.act = quant_params{dtype::u8, 0.02f, zp ? 10 : 0};
            CAPTURE(zp); CAPTURE(include);
            check_exact(single(l, {17, 9, 9}, *l.act, 950), 2, 32, tol);
        }
    layer g = make_layer(op::global_avg_pool2d, "gap", {"x"});
    g.act = quant_params{dtype::u8, 0.02f, 0};
    check_exact(single(g, {37, 7, 7}, *g.act, 960), 2, 33, tol);
}

TEST_CASE("pool with a declared output quantization different from its input's requantizes") {
    layer l = window_layer(op::max_pool2d, "pool", "x", 2, 0, 2);
    l.act = quant_params{dtype::u8, 0.05f, 3};
    model_desc m = single(l, {8, 6, 6}, quant_params{dtype::u8, 0.02f, 0}, 970);
    check_exact(m, 1, 34);
}

TEST_CASE("fc: 4D input flattened in C/H/W order / 2D input / zero points folded / f32 and int8 output") {
    for (int zp = 0; zp < 2; ++zp)
        for (bool int_out : {false, true}) {
            layer l = fc_layer("fc", "x", 10);
            if (int_out) l.act = quant_params{dtype::s8, 0.1f, 1};
            CAPTURE(zp); CAPTURE(int_out);
            check_exact(single(l, {6, 3, 5}, quant_params{dtype::u8, 0.02f, zp ? 12 : 0}, 980, true, {10, 6 * 3 * 5}), 2, 35);
        }
    // An unrounded bias with a source zero point: the fc runs as a convolution (no zero point
    // folded into the bias), whatever the tuning prefers.
    for (bool int_out : {false, true}) {
        layer l = fc_layer("fc", "x", 10);
        l.float_bias = true;
        if (int_out) l.act = quant_params{dtype::s8, 0.1f, 1};
        CAPTURE(int_out);
        check_exact(single(l, {6, 3, 5}, quant_params{dtype::u8, 0.02f, 12}, 985, true, {10, 6 * 3 * 5}), 2, 37);
    }
    // fc -> fc (VGG classifier), second fc on a 2D input, with relu in between.
    rng r(990);
    model_desc m = input_only({16, 1, 1}, quant_params{dtype::u8, 2.f / 255.f, 128});
    layer a; a.name = "fc1"; a.kind = op::fc; a.inputs = {"input"}; a.out_channels = 33; a.post_ops = {post_op::make_relu()};
    a.act = quant_params{dtype::u8, 0.05f, 0};
    layer b; b.name = "fc2"; b.kind = op::fc; b.inputs = {"fc1"}; b.out_channels = 7;
    m.layers = {a, b};
    add_weights(m, "fc1", {33, 16}, r, false);
    add_weights(m, "fc2", {7, 33}, r, false);
    check_exact(m, 4, 36);
}

TEST_CASE("add: standalone residual add with relu / int8 and fp32") {
    rng r(1000);
    model_desc m = input_only({12, 5, 7}, quant_params{dtype::u8, 2.f / 255.f, 128});
    layer a; a.name = "a"; a.kind = op::conv2d; a.inputs = {"input"}; a.out_channels = 12; a.act = quant_params{dtype::u8, 0.02f, 0};
    a.post_ops = {post_op::make_relu()};
    layer b; b.name = "b"; b.kind = op::conv2d; b.inputs = {"input"}; b.out_channels = 12; b.kernel = {3, 3}; b.pad = {1, 1, 1, 1};
    b.act = quant_params{dtype::s8, 0.03f, -2};
    layer s; s.name = "sum"; s.kind = op::add; s.inputs = {"a", "b"}; s.post_ops = {post_op::make_relu()};
    s.act = quant_params{dtype::u8, 0.04f, 0};
    layer p; p.name = "reader"; p.kind = op::max_pool2d; p.inputs = {"sum"}; p.kernel = {1, 1};
    m.layers = {a, b, s, p};
    add_weights(m, "a", {12, 12, 1, 1}, r, true);
    add_weights(m, "b", {12, 12, 3, 3}, r, true);
    check_exact(m, 2, 37);
}

TEST_CASE("softmax at the end of an int8 graph") {
    rng r(1010);
    model_desc m = input_only({8, 4, 4}, quant_params{dtype::u8, 2.f / 255.f, 128});
    layer g; g.name = "gap"; g.kind = op::global_avg_pool2d; g.inputs = {"input"};
    layer f; f.name = "fc"; f.kind = op::fc; f.inputs = {"gap"}; f.out_channels = 10;
    layer s; s.name = "prob"; s.kind = op::softmax; s.inputs = {"fc"};
    m.layers = {g, f, s};
    add_weights(m, "fc", {10, 8}, r, true);
    model_desc v = m;
    validate(v, "test");
    comparison c = compare(v, 2, 38, false);
    CHECK(c.max_abs <= 1e-6);  // probabilities: vector exp vs libm exp
    comparison d = compare(v, 2, 38, true);
    CHECK(d.max_abs <= 1e-6);
    // With the file's Q/DQ after it (1/256, u8), the probabilities are rounded to that grid, as
    // in the reference; the FP32 path keeps them unrounded.
    v.layers.back().act = quant_params{dtype::u8, 1.f / 256.f, 0};
    comparison e = compare(v, 2, 38, false);
    CHECK(e.int_output);
    CHECK(e.max_lsb == 0.0);
    comparison g32 = compare(v, 2, 38, true);
    CHECK(g32.max_abs <= 1e-6);
    CHECK_FALSE(g32.int_output);
}

TEST_CASE("mixed precision: an fp32 layer between int8 neighbours") {
    rng r(1020);
    model_desc m = input_only({6, 9, 9}, quant_params{dtype::u8, 2.f / 255.f, 128});
    layer a; a.name = "a"; a.kind = op::conv2d; a.inputs = {"input"}; a.out_channels = 10; a.kernel = {3, 3}; a.pad = {1, 1, 1, 1};
    a.post_ops = {post_op::make_relu()}; a.act = quant_params{dtype::u8, 0.03f, 0};
    layer b = a; b.name = "b"; b.inputs = {"a"}; b.prec = precision::fp32; b.act = quant_params{dtype::u8, 0.05f, 0};
    b.stride = {2, 2};
    layer c = a; c.name = "c"; c.inputs = {"b"}; c.post_ops = {post_op::make_sum("a2"), post_op::make_relu()};
    // c adds a residual that an fp32 layer produced and stored in f32
    layer a2 = b; a2.name = "a2"; a2.inputs = {"a"}; a2.kernel = {1, 1}; a2.pad = {0, 0, 0, 0};
    c.act = quant_params{dtype::u8, 0.06f, 0};
    layer p; p.name = "reader"; p.kind = op::max_pool2d; p.inputs = {"c"}; p.kernel = {1, 1};
    m.layers = {a, b, a2, c, p};
    add_weights(m, "a", {10, 6, 3, 3}, r, true);
    add_weights(m, "b", {10, 10, 3, 3}, r, false);
    add_weights(m, "a2", {10, 10, 1, 1}, r, false);
    add_weights(m, "c", {10, 10, 3, 3}, r, true);
    check_exact(m, 1, 39);
    model_desc v = m;
    validate(v, "test");
    model net(v);
    int fp32_convs = 0;
    for (const auto& s : net.steps()) fp32_convs += s.what.find("conv2d fp32") != std::string::npos;
    CHECK(fp32_convs == 2);
}

}  // TEST_SUITE
