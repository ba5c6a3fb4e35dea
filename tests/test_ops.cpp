// Every layer builder, INT8 and FP32, against the naive reference (include/qint8/ref) over a grid
// of shapes. INT8 outputs must equal the integer reference; FP32 within 1e-4 relative.

#include <doctest/doctest.h>

#include "support/compare.hpp"

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
    int post = 0;  // 0 none, 1 relu, 2 relu6, 3 sum (+relu)
    bool int_weights = true;
    int wmax = 63;
};

std::string describe(const conv_case& k) {
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "n%ld c%ld %ldx%ld o%ld k%ldx%ld s%ldx%ld pad[%ld,%ld,%ld,%ld] g%ld dw%d %s->%s zp%d/%d post%d intw%d wmax%d",
                  long(k.batch), long(k.c), long(k.h), long(k.w), long(k.o), long(k.kh), long(k.kw), long(k.sh), long(k.sw),
                  long(k.pad[0]), long(k.pad[1]), long(k.pad[2]), long(k.pad[3]), long(k.groups), int(k.depthwise),
                  to_string(k.src), to_string(k.dst), k.zp_src, k.zp_dst, k.post, int(k.int_weights), k.wmax);
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
        layer l;
        l.name = "pre";
        l.kind = op::conv2d;
        l.inputs = {"input"};
        l.out_channels = k.c;
        l.act = qa;
        m.layers.push_back(l);
        add_weights(m, "pre", {k.c, k.c, 1, 1}, r, true, 63);
        src = "pre";
    }
    layer l;
    l.name = "conv";
    l.kind = k.depthwise ? op::depthwise_conv2d : op::conv2d;
    l.inputs = {src};
    l.out_channels = k.depthwise ? k.c : k.o;
    l.kernel = {k.kh, k.kw};
    l.stride = {k.sh, k.sw};
    l.pad = k.pad;
    l.groups = k.depthwise ? k.c : k.groups;
    const int64_t oh = (k.h + k.pad[0] + k.pad[2] - k.kh) / k.sh + 1, ow = (k.w + k.pad[1] + k.pad[3] - k.kw) / k.sw + 1;
    if (k.post == 1) l.post_ops.push_back(post_op::make_relu());
    if (k.post == 2) l.post_ops.push_back(post_op::make_relu6());
    if (k.post == 3) {
        layer rl;  // the residual branch: another conv producing the same shape
        rl.name = "residual";
        rl.kind = op::conv2d;
        rl.inputs = {src};
        rl.out_channels = l.out_channels;
        rl.kernel = {k.kh, k.kw};
        rl.stride = {k.sh, k.sw};
        rl.pad = k.pad;
        rl.act = quant_params{dtype::s8, 0.03f, 3};
        m.layers.push_back(rl);
        add_weights(m, "residual", {l.out_channels, k.c, k.kh, k.kw}, r, true, 63);
        l.post_ops.push_back(post_op::make_sum("residual"));
        l.post_ops.push_back(post_op::make_relu());
    }
    if (k.dst != dtype::f32) l.act = quant_params{k.dst, k.post == 0 ? 0.05f : 0.025f, k.zp_dst};
    add_weights(m, "conv", {l.out_channels, k.c / l.groups, k.kh, k.kw}, r, k.int_weights, k.wmax);
    m.layers.push_back(l);
    if (k.dst != dtype::f32) {
        layer p;
        p.name = "identity";
        p.kind = op::max_pool2d;
        p.inputs = {"conv"};
        p.kernel = {1, 1};
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

TEST_CASE("conv2d grid: strides, odd sizes, asymmetric padding, groups, zero points, batch") {
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

TEST_CASE("conv2d 1x1, 5x5, 7x7 stride 2 (ResNet stem) and channels not multiple of 16") {
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

TEST_CASE("depthwise_conv2d: stride 1 and 2, asymmetric padding, relu6, zero points") {
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
}

}  // TEST_SUITE
