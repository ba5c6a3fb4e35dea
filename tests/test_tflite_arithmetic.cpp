// TFLite's integer arithmetic in the runtime (manifests with "requantization": "tflite").
// The kernels (kernels/tflite_requantize.hpp and its AVX-512 version, tflite_add.hpp, exact_conv.hpp),
// against the naive reference's TFLite functions (ref/tflite_ops.hpp, themselves checked against
// hand-computed values in test_tflite_fixed_point.cpp), element by element; then whole compiled
// models against the reference in its TFLite mode, code for code: a MobileNet-V2 block (depthwise,
// a residual ADD fused into the projection, global average pool, fc), a standalone ADD and a
// padded average pool on s8 activations, layers whose sums can pass 2^24 (exact_conv) or whose
// multiplier is at least 1 (a left shift: the scalar kernel), and 1x1 layers whose sums run in
// blocks of pixels (by default and when the tuning cache chooses it).

#include <doctest/doctest.h>

#include <limits>
#include <map>
#include <string>

#include <qint8/dispatch/isa.hpp>
#include <qint8/kernels/exact_conv.hpp>
#include <qint8/kernels/tflite_add.hpp>
#include <qint8/kernels/tflite_output.hpp>
#include <qint8/ref/tflite_ops.hpp>
#include <qint8/session.hpp>
#include <qint8/tune/cache.hpp>

#include "support/compare.hpp"
#include "support/layers.hpp"
#include "support/scratch.hpp"

using namespace qint8;
using namespace qint8::test;
namespace tf = qint8::ref::tflite;

namespace {

kernels::tfl_mult mult(int32_t m, int shift) { return {m, shift > 0 ? shift : 0, shift > 0 ? 0 : -shift}; }

/// A random multiplier: m in [2^30, 2^31) (every 5th exactly 2^30, whose products tie), shift in
/// [lo, hi].
tf::multiplier random_multiplier(rng& r, int lo, int hi) {
    const int32_t m = r.integer(0, 4) == 0 ? (1 << 30) : static_cast<int32_t>((int64_t{1} << 30) + r.integer(0, (1 << 30) - 1));
    return {m, r.integer(lo, hi)};
}

void check_requantize(bool add, bool left, uint32_t seed) {
    rng r(seed);
    kernels::tfl_output o;
    // 19, 32 or 45 channels: AVX-512 tails of 3, none and 13 lanes; AVX2 tails of 3, none and 5.
    o.channels = 19 + 13 * (seed % 3);
    std::vector<tf::multiplier> ms;
    for (std::size_t c = 0; c < o.channels; ++c) {
        ms.push_back(random_multiplier(r, left ? -3 : -31, left ? 3 : 0));
        const kernels::tfl_mult k = mult(ms.back().m, ms.back().shift);
        o.m.push_back(k.m);
        o.left.push_back(k.left);
        o.right.push_back(k.right);
        o.bias.push_back(r.integer(-70000, 70000));
    }
    o.zp = r.integer(-20, 140);
    o.lo = r.integer(0, 40);
    o.hi = r.integer(200, 255);
    o.add = add;
    tf::add_params ap;
    if (add) {
        ap = tf::make_add(quant_params{dtype::u8, 0.04f, o.zp}, quant_params{dtype::s8, 0.031f, -7}, quant_params{dtype::u8, 0.05f, 121}, {3, 250});
        o.ap = {mult(ap.a.m, ap.a.shift), mult(ap.b.m, ap.b.shift), mult(ap.out.m, ap.out.shift), ap.zp_a, ap.zp_b, ap.zp_out, ap.r.lo, ap.r.hi};
        o.res_signed = true;
    }
    // Within the vector kernels' bounds exactly where no multiplier shifts left.
    o.vector_ok = kernels::vector_safe(o, std::vector<int64_t>(o.channels, 1 << 22));
    REQUIRE(o.vector_ok == !left);
    // 433 pixels: blocks of 431 (19 channels), 256 (32) and 182 (45), the last one partly filled.
    const std::size_t pixels = 433, n = pixels * o.channels;
    std::vector<int32_t> acc(n);
    std::vector<int8_t> res(n);
    for (std::size_t i = 0; i < n; ++i) {
        // Small sums reach the ties of short shifts; a few near the int32 ends where only the scalar
        // kernel runs (vector_ok keeps the vector kernels within int32).
        acc[i] = left && i % 97 == 0 ? (i % 2 ? std::numeric_limits<int32_t>::max() - 5 : std::numeric_limits<int32_t>::min() + 5)
                             : r.integer(0, 3) == 0 ? r.integer(-64, 64) : r.integer(-(1 << 22), 1 << 22);
        res[i] = static_cast<int8_t>(r.integer(-128, 127));
    }
    std::vector<int32_t> want(n);
    for (std::size_t p = 0; p < pixels; ++p)
        for (std::size_t c = 0; c < o.channels; ++c) {
            const std::size_t i = p * o.channels + c;
            const int32_t q = tf::requantize(acc[i], o.bias[c], ms[c], o.zp, {o.lo, o.hi});
            want[i] = add ? tf::add(q, res[i], ap) : q;
        }
    const cpu_features& f = detail::detected_cpu().features;
    for (kernels::tfl_isa v : {kernels::tfl_isa::scalar, kernels::tfl_isa::avx2, kernels::tfl_isa::avx512}) {
        const char* name = v == kernels::tfl_isa::scalar ? "scalar" : v == kernels::tfl_isa::avx2 ? "avx2" : "avx512";
        if ((v == kernels::tfl_isa::avx2 && !f.avx2) || (v == kernels::tfl_isa::avx512 && !(f.avx512f && f.avx512bw))) {
            MESSAGE("SKIPPED: the " << name << " kernel (this CPU lacks it)");
            continue;
        }
        CAPTURE(name);
        std::vector<uint8_t> got(n);
        kernels::tflite_requantize(o, acc.data(), res.data(), got.data(), pixels, 2, v);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < n; ++i) differ += int32_t(got[i]) != want[i];
        CHECK(differ == 0);
    }
}

/// The start of the models below, in TFLite's arithmetic: a u8 input, a 3x3 stem convolution to
/// 16 channels and a 1x1 expand to `expand` channels, both with relu6; their weights drawn first.
model_desc stem_and_expand(const std::vector<int64_t>& input, int64_t expand, rng& r) {
    model_desc m = input_only(input, quant_params{dtype::u8, 2.f / 255.f, 128});
    m.requant = requantization::tflite;
    const quant_params six{dtype::u8, 6.f / 255.f, 0};
    layer stem = conv_layer("stem", "input", 16, 3, 1);
    stem.post_ops = {post_op::make_relu6()};
    stem.act = six;
    layer ex = conv_layer("expand", "stem", expand);
    ex.post_ops = {post_op::make_relu6()};
    ex.act = six;
    m.layers = {stem, ex};
    add_weights(m, "stem", {16, input[0], 3, 3}, r, true, 127);
    add_weights(m, "expand", {expand, 16, 1, 1}, r, true, 127);
    return m;
}

/// A MobileNet-V2 block and its classifier: stem conv, expand 1x1, depthwise 3x3, a projection
/// 1x1 with the stem added as TFLite's ADD (the branch rounded first), a stride-2 depthwise, the
/// global average pool and the fc.
model_desc block_model(uint32_t seed) {
    rng r(seed);
    model_desc m = stem_and_expand({3, 10, 9}, 48, r);
    const quant_params six{dtype::u8, 6.f / 255.f, 0};
    layer dw = depthwise_layer("dw", "expand", 48);
    dw.groups = 48;
    dw.post_ops = {post_op::make_relu6()};
    dw.act = six;
    layer project = conv_layer("project", "dw", 16);
    project.post_ops = {post_op::make_sum("stem", quant_params{dtype::u8, 0.09f, 126})};
    project.act = quant_params{dtype::u8, 0.11f, 119};
    layer dw2 = depthwise_layer("dw2", "project", 16, 3, 1, 2);
    dw2.groups = 16;
    dw2.act = quant_params{dtype::u8, 0.07f, 122};
    layer pool = make_layer(op::global_avg_pool2d, "pool", {"dw2"});
    layer fc = fc_layer("fc", "pool", 10);
    fc.act = quant_params{dtype::u8, 0.2f, 131};
    for (const layer& l : {dw, project, dw2, pool, fc}) m.layers.push_back(l);
    add_weights(m, "dw", {48, 1, 3, 3}, r, true, 127);
    add_weights(m, "project", {16, 48, 1, 1}, r, true, 127);
    add_weights(m, "dw2", {16, 1, 3, 3}, r, true, 127);
    add_weights(m, "fc", {10, 16}, r, true, 127);
    return m;
}

/// INT8 outputs equal code for code; FP32 (which ignores "requantization") within 1e-4.
void check_model(const model_desc& m, int64_t batch, uint32_t seed) {
    for (bool fp32 : {false, true}) {
        CAPTURE(fp32);
        const comparison c = compare(m, batch, seed, fp32);
        if (fp32) {
            CHECK(c.max_abs <= 1e-4 * std::max(1.0, c.max_ref));
        } else {
            REQUIRE(c.int_output);
            CAPTURE(c.max_lsb);
            CHECK(c.max_lsb == 0.0);
        }
    }
}

/// The reference's TFLite mode changes `m`'s output somewhere (or the equality above would not
/// show that the runtime follows it).
bool tflite_mode_matters(const model_desc& d, uint32_t seed) {
    model_desc m = d;
    validate(m, "test");
    rng r(seed);
    const std::vector<float> x = r.floats(static_cast<std::size_t>(m.input.shape[0] * m.input.shape[1] * m.input.shape[2]), -1.f, 1.f);
    model_desc plain = m;
    plain.requant = requantization::float_scale;
    return ref::run(m, x, 1, ref_options(false)) != ref::run(plain, x, 1, ref_options(false));
}

/// Layers whose int32 sums can run a block of pixels at a time (detail::tfl_blocks), at batch 3:
/// an expand 1x1 to 96 channels over 3 x 48 x 48 pixels (2.65 MB of sums: blocks by default, 20
/// of 341 pixels and a last one of 92) and a projection to 16 channels with a fused ADD (0.44 MB:
/// whole by default, 3 blocks of 2048 and one of 768 when chosen).
model_desc blocks_model(uint32_t seed) {
    rng r(seed);
    model_desc m = stem_and_expand({3, 48, 48}, 96, r);
    layer project = conv_layer("project", "expand", 16);
    project.post_ops = {post_op::make_sum("stem", quant_params{dtype::u8, 0.09f, 126})};
    project.act = quant_params{dtype::u8, 0.11f, 119};
    m.layers.push_back(project);
    add_weights(m, "project", {16, 96, 1, 1}, r, true, 127);
    return m;
}

/// `net`'s choices of how to form sums ("tflite sums"), as layer -> chosen.
std::map<std::string, std::string> sums_choices(const model& net) {
    std::map<std::string, std::string> r;
    for (const tuning_choice& ch : net.tuning_choices())
        if (ch.what == "tflite sums") r[ch.layer] = ch.chosen;
    return r;
}

}  // namespace

TEST_SUITE("tflite_arithmetic") {

TEST_CASE("tflite requantize kernel - scalar - AVX2 and AVX-512 - equals the reference's TFLite requantization (ties / both signs / shifts 0 to 31 / left shifts / fused ADD)") {
    for (uint32_t seed = 0; seed < 6; ++seed) {
        CAPTURE(seed);
        check_requantize(false, false, 10 + seed);
        check_requantize(true, false, 20 + seed);
        check_requantize(false, true, 30 + seed);
        check_requantize(true, true, 40 + seed);
    }
}

TEST_CASE("tflite requantize kernel - the vector versions' bounds (vector_safe) - left shifts - shifts past 31 - sums that could pass int32") {
    kernels::tfl_output o;
    o.channels = 2;
    o.bias = {1000, -1000};
    o.m = {1 << 30, 1 << 30};
    o.left = {0, 0};
    o.right = {31, 0};
    // |acc + bias| + 2^(right - 1) must stay below 2^31: channel 0 rounds with a nudge of 2^30.
    const int64_t limit0 = (int64_t{1} << 30) - 1000;
    CHECK(kernels::vector_safe(o, {limit0 - 1, (int64_t{1} << 31) - 1001}));
    CHECK_FALSE(kernels::vector_safe(o, {limit0, 0}));
    CHECK_FALSE(kernels::vector_safe(o, {0, (int64_t{1} << 31) - 1000}));
    CHECK_FALSE(kernels::vector_safe(o, {0}));  // one bound per channel
    o.right = {32, 0};
    CHECK_FALSE(kernels::vector_safe(o, {0, 0}));
    o.right = {0, 0};
    o.left = {1, 0};
    CHECK_FALSE(kernels::vector_safe(o, {0, 0}));
    o.left = {0, 0};
    CHECK(kernels::vector_safe(o, {0, 0}));
    o.add = true;
    o.ap.out = {1 << 30, 0, 31};
    CHECK(kernels::vector_safe(o, {0, 0}));
    o.ap.out = {1 << 30, 0, 32};
    CHECK_FALSE(kernels::vector_safe(o, {0, 0}));
    o.ap.out = {1 << 30, 0, 20};
    o.ap.a = {1 << 30, 2, 0};
    CHECK_FALSE(kernels::vector_safe(o, {0, 0}));
}

TEST_CASE("tflite add kernel - scalar and AVX2 - equals the reference's TFLite ADD") {
    rng r(50);
    kernels::tfl_add_job j;
    const tf::add_params p = tf::make_add(quant_params{dtype::s8, 0.03f, 4}, quant_params{dtype::u8, 0.021f, 130}, quant_params{dtype::s8, 0.05f, -3}, {-100, 127});
    j.p = {mult(p.a.m, p.a.shift), mult(p.b.m, p.b.shift), mult(p.out.m, p.out.shift), p.zp_a, p.zp_b, p.zp_out, p.r.lo, p.r.hi};
    j.a_signed = true;
    j.dst_signed = true;
    j.vector_ok = true;
    const std::size_t n = 9000 + 5;  // blocks of 4096 and a tail
    std::vector<int8_t> a(n);
    std::vector<uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) {
        a[i] = static_cast<int8_t>(r.integer(-128, 127));
        b[i] = static_cast<uint8_t>(r.integer(0, 255));
    }
    for (bool scalar : {true, false}) {
        CAPTURE(scalar);
        std::vector<int8_t> got(n);
        kernels::tflite_add(j, a.data(), b.data(), got.data(), n, 2, detail::detected_cpu().features.avx2, scalar);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < n; ++i) differ += got[i] != tf::add(a[i], b[i], p);
        CHECK(differ == 0);
    }
}

TEST_CASE("exact_conv equals a plain sum - padding and groups included - with sums past 2^24") {
    rng r(60);
    kernels::exact_conv_problem p;
    p.n = 2; p.h = 5; p.w = 4; p.c = 8; p.o = 6; p.groups = 2; p.kh = 3; p.kw = 2; p.sh = 2; p.sw = 1; p.pt = 1; p.pl = 1;
    p.oh = (p.h + 2 - p.kh) / p.sh + 1;
    p.ow = (p.w + 1 - p.kw) / p.sw + 1;
    p.zp = 3;
    std::vector<uint8_t> x(std::size_t(p.n * p.h * p.w * p.c));
    for (auto& v : x) v = static_cast<uint8_t>(r.integer(0, 255));
    const int64_t cg = p.c / p.groups, og = p.o / p.groups;
    std::vector<int8_t> w(std::size_t(p.o * p.kh * p.kw * cg));
    for (auto& v : w) v = static_cast<int8_t>(r.integer(-128, 127));
    std::vector<int32_t> acc(std::size_t(p.n * p.oh * p.ow * p.o));
    kernels::exact_conv(p, w, x.data(), acc.data(), 2);
    std::size_t differ = 0;
    for (int64_t n = 0; n < p.n; ++n)
        for (int64_t oy = 0; oy < p.oh; ++oy)
            for (int64_t ox = 0; ox < p.ow; ++ox)
                for (int64_t o = 0; o < p.o; ++o) {
                    int64_t s = 0;
                    for (int64_t ky = 0; ky < p.kh; ++ky)
                        for (int64_t kx = 0; kx < p.kw; ++kx)
                            for (int64_t k = 0; k < cg; ++k) {
                                const int64_t y = oy * p.sh - p.pt + ky, xx = ox * p.sw - p.pl + kx;
                                const int64_t code = (y < 0 || y >= p.h || xx < 0 || xx >= p.w) ? p.zp : x[std::size_t(((n * p.h + y) * p.w + xx) * p.c + (o / og) * cg + k)];
                                s += (code - p.zp) * w[std::size_t(((o * p.kh + ky) * p.kw + kx) * cg + k)];
                            }
                    differ += acc[std::size_t(((n * p.oh + oy) * p.ow + ox) * p.o + o)] != s;
                }
    CHECK(differ == 0);
    // A sum past 2^24 stays exact (f32 would round it).
    kernels::exact_conv_problem big;
    big.c = 1200;
    std::vector<uint8_t> ones(1200, 255);
    std::vector<int8_t> wmax(1200, 127);
    int32_t s = 0;
    kernels::exact_conv(big, wmax, ones.data(), &s, 1);
    CHECK(s == 255 * 127 * 1200 + 0);
    CHECK(s > (1 << 24));
}

TEST_CASE("a MobileNet-V2 block in TFLite arithmetic (conv / depthwise / fused ADD / global average pool / fc) equals the reference's TFLite mode code for code") {
    int matters = 0;
    for (uint32_t seed : {100u, 101u, 102u}) {
        CAPTURE(seed);
        const model_desc m = block_model(seed);
        matters += tflite_mode_matters(m, seed + 7);
        check_model(m, 1, seed + 7);
        check_model(m, 3, seed + 8);
    }
    CHECK(matters >= 1);
}

TEST_CASE("TFLite arithmetic: a standalone ADD with relu - a padded average pool - s8 activations with zero points") {
    rng r(200);
    model_desc m = input_only({12, 7, 6}, quant_params{dtype::s8, 2.f / 255.f, 0});
    m.requant = requantization::tflite;
    layer a = conv_layer("a", "input", 12);
    a.act = quant_params{dtype::s8, 0.02f, -9};
    layer b = conv_layer("b", "input", 12, 3, 1);
    b.act = quant_params{dtype::s8, 0.03f, 6};
    layer s = make_layer(op::add, "sum", {"a", "b"});
    s.post_ops = {post_op::make_relu()};
    s.act = quant_params{dtype::s8, 0.04f, -20};
    layer pool = window_layer(op::avg_pool2d, "pool", "sum", 3, 1, 2);
    layer c = conv_layer("c", "pool", 8);
    c.act = quant_params{dtype::u8, 0.05f, 100};
    m.layers = {a, b, s, pool, c};
    add_weights(m, "a", {12, 12, 1, 1}, r, true, 127);
    add_weights(m, "b", {12, 12, 3, 3}, r, true, 127);
    add_weights(m, "c", {8, 12, 1, 1}, r, true, 127);
    CHECK(tflite_mode_matters(m, 201));
    check_model(m, 1, 201);
    check_model(m, 2, 202);
}

TEST_CASE("TFLite arithmetic: sums that can pass 2^24 (exact_conv) and multipliers of at least 1 (left shifts)") {
    rng r(300);
    model_desc m = input_only({512, 3, 3}, quant_params{dtype::u8, 2.f / 255.f, 128});
    m.requant = requantization::tflite;
    layer big = conv_layer("big", "input", 16, 3, 1);  // 4608 taps of up to 127: 256 * sum |w| passes 2^24
    big.act = quant_params{dtype::u8, 8.f, 128};         // a coarse grid: codes near 128 for the fc
    layer fc = fc_layer("fc", "big", 12);  // M = s_in * s_w / s_out of 0.5 to 5: left shifts, and codes in range
    fc.act = quant_params{dtype::u8, 0.03f, 128};
    m.layers = {big, fc};
    add_weights(m, "big", {16, 512, 3, 3}, r, true, 127);
    add_weights(m, "fc", {12, 16 * 3 * 3}, r, true, 2);
    check_model(m, 1, 301);
    check_model(m, 2, 302);
}

TEST_CASE("TFLite arithmetic: 1x1 layers whose sums run in blocks of pixels equal the reference's TFLite mode code for code - by default and when the tuning cache chooses") {
    test::single_thread one;
    test::scratch_dir dir;
    const model_desc m = blocks_model(400);
    CHECK(tflite_mode_matters(m, 401));
    check_model(m, 3, 402);
    model_desc v = m;
    validate(v, "test");
    rng r(403);
    const std::vector<float> in = r.floats(static_cast<std::size_t>(3 * 3 * 48 * 48), -1.f, 1.f);
    const std::vector<float> want = ref::run(v, in, 3, ref_options(false));
    compile_options co;
    co.batch = 3;
    const model by_default(v, co, "default");
    CHECK(sums_choices(by_default) == std::map<std::string, std::string>{{"expand", "blocks"}, {"project", "whole"}});
    // The other candidate of each layer, through a tuning cache.
    detail::tuning_cache cache;
    for (const tuning_choice& ch : by_default.tuning_choices())
        cache.put({detail::detected_cpu().cpu_name, to_string(by_default.code_path()), detail::tuning_version(), ch.signature},
                  {ch.candidates.back(), {}});
    co.tuning_cache = dir / "other.json";
    cache.save(co.tuning_cache);
    const model other(v, co, "other");
    CHECK(sums_choices(other) == std::map<std::string, std::string>{{"expand", "whole"}, {"project", "blocks"}});
    for (const model* net : {&by_default, &other}) {
        std::size_t blocked = 0;
        for (const auto& st : net->steps()) blocked += st.what.find("in blocks of") != std::string::npos;
        CHECK(blocked == 1);
        session s(*net);
        CHECK(s.run(in) == want);
    }
}

}  // TEST_SUITE
