// Each INT8 depthwise kernel variant against the naive reference (include/qint8/ref/depthwise.hpp),
// bit-exactly, over every depthwise shape of MobileNet-V1 and V2 at 224 x 224 (PyTorch-style and
// TF-SAME padding), small odd shapes with ragged channel tails, and shapes around the 64-channel
// block with tall kernels, stride 3, large and fractional biases and two threads. A variant this CPU cannot
// execute prints NOT RUN and ctest lists it as skipped.

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include <qint8/dispatch/isa.hpp>
#include <qint8/kernels/depthwise.hpp>
#include <qint8/ref/depthwise.hpp>

#include "support/builder.hpp"

using namespace qint8;
using kernels::dw_variant;

namespace {

struct dw_case {
    int64_t n, h, w, c;
    int kh, kw, sh, sw, pt, pl, pb, pr;
    bool src_signed, dst_signed;
    int32_t src_zp, dst_zp;
    int post;  ///< 0 none, 1 relu, 2 relu6 (relu then clip), 3 clip(-2, 3)
    bool big_bias = false;  ///< biases past 2^24 (float(bias) rounds: no folding into the int32 sum)
    bool big_scale = false;  ///< requantization factors that take sums past the int32 conversion's range
    bool frac_bias = false;  ///< biases with a fraction (layer::float_bias: the file adds them unrounded)
    int threads = 1;
    std::string name() const {
        std::ostringstream s;
        s << n << "x" << h << "x" << w << "x" << c << " k" << kh << "x" << kw << " s" << sh << "x" << sw << " pad " << pt << "," << pl
          << "," << pb << "," << pr << (src_signed ? " s8" : " u8") << "->" << (dst_signed ? "s8" : "u8") << " zp " << src_zp << "/"
          << dst_zp << " post " << post << (big_bias ? " big bias" : "") << (big_scale ? " big scale" : "") << (frac_bias ? " fractional bias" : "") << " threads " << threads;
        return s.str();
    }
};

/// Runs one case on variant `v` and on the reference; returns the number of differing bytes.
std::size_t mismatches(dw_variant v, const dw_case& k, uint32_t seed) {
    test::rng r(seed);
    const int64_t oh = (k.h + k.pt + k.pb - k.kh) / k.sh + 1, ow = (k.w + k.pl + k.pr - k.kw) / k.sw + 1;
    std::vector<uint8_t> src(static_cast<std::size_t>(k.n * k.h * k.w * k.c));
    for (auto& x : src) x = static_cast<uint8_t>(r.integer(0, 255));
    std::vector<int8_t> w(static_cast<std::size_t>(k.c * k.kh * k.kw));
    for (auto& x : w) x = static_cast<int8_t>(r.integer(-128, 127));  // full 8-bit weights, both extremes
    std::vector<float> bias(static_cast<std::size_t>(k.c));
    for (auto& x : bias) x = float(k.big_bias ? r.integer(-(1 << 28), 1 << 28) : r.integer(-20000, 20000));
    if (k.frac_bias)
        for (auto& x : bias) x += r.uniform(-0.5f, 0.5f);
    std::vector<float> os(static_cast<std::size_t>(k.c));
    for (auto& x : os) x = k.big_scale ? r.uniform(100.f, 100000.f) : r.uniform(0.0005f, 0.01f);
    const float s_dst = 0.05f;
    std::vector<ref::dw_post_op> post;
    kernels::dw_clamp clamp;
    if (k.post == 1 || k.post == 2) { post.push_back({true, 0, 0}); clamp.relu(); }
    if (k.post == 2) { post.push_back({false, 0.f, 6.f / s_dst}); clamp.clip(0.f, 6.f / s_dst); }
    if (k.post == 3) { post.push_back({false, -2.f / s_dst, 3.f / s_dst}); clamp.clip(-2.f / s_dst, 3.f / s_dst); }

    const std::vector<uint8_t> want = ref::depthwise_nhwc(src, k.n, k.h, k.w, k.c, k.src_signed, k.src_zp, w, k.kh, k.kw, k.sh, k.sw, k.pt,
                                                          k.pl, oh, ow, bias, os, post, k.dst_signed, k.dst_zp);
    kernels::dw_problem pr;
    pr.n = k.n; pr.h = k.h; pr.w = k.w; pr.c = k.c; pr.oh = oh; pr.ow = ow;
    pr.kh = k.kh; pr.kw = k.kw; pr.sh = k.sh; pr.sw = k.sw; pr.pt = k.pt; pr.pl = k.pl;
    pr.src_signed = k.src_signed; pr.dst_signed = k.dst_signed; pr.src_zp = k.src_zp; pr.dst_zp = k.dst_zp;
    pr.lo = clamp.lo; pr.hi = clamp.hi;
    REQUIRE(kernels::dw_supported(pr));
    const kernels::dw_packed pk = kernels::dw_pack(w.data(), bias.data(), os.data(), k.c, k.kh, k.kw, kernels::dw_block(v), k.src_zp, k.src_signed);
    std::vector<uint8_t> got(want.size(), 0xAB);
    kernels::depthwise_run(v, pr, pk, src.data(), got.data(), k.threads);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && bad++ == 0) MESSAGE(k.name() << ": first difference at byte " << i << ": got " << int(got[i]) << ", want " << int(want[i]));
    return bad;
}

/// Every depthwise layer of MobileNet-V1 and V2 at 224: channels, input size, stride.
std::vector<dw_case> mobilenet_cases() {
    const int shapes[][3] = {{32, 112, 1}, {64, 112, 2}, {128, 56, 1}, {128, 56, 2}, {256, 28, 1}, {256, 28, 2}, {512, 14, 1}, {512, 14, 2},
                             {1024, 7, 1},  // V1
                             {96, 112, 2},  {144, 56, 1}, {144, 56, 2}, {192, 28, 1}, {192, 28, 2}, {384, 14, 1}, {576, 14, 1},
                             {576, 14, 2},  {960, 7, 1}};  // V2 (its first, 32 x 112 stride 1, is V1's)
    std::vector<dw_case> v;
    int i = 0;
    for (const auto& s : shapes)
        for (bool tf : {false, true}) {
            dw_case k{};
            k.n = 1; k.h = k.w = s[1]; k.c = s[0];
            k.kh = k.kw = 3; k.sh = k.sw = s[2];
            // PyTorch pads 1 all round; TF SAME pads stride-2 layers on even inputs bottom/right only.
            const bool asym = tf && s[2] == 2;
            k.pt = k.pl = asym ? 0 : 1;
            k.pb = k.pr = 1;
            k.src_signed = tf && (i % 2);  // TFLite int8 models: s8 activations
            k.dst_signed = k.src_signed;
            k.src_zp = k.src_signed ? -128 + (i % 5) : (tf ? 0 : 3 + i);
            k.dst_zp = k.dst_signed ? -128 : 0;
            k.post = tf ? 2 : 1;
            v.push_back(k);
            ++i;
        }
    return v;
}

/// Small and odd: ragged channel tails, 1x1 to 9x4 inputs, 1x1 / 3x3 / 5x5 / 3x5 / 7x7 kernels,
/// asymmetric padding, both signednesses and every post-op.
std::vector<dw_case> odd_cases() {
    std::vector<dw_case> v;
    const int64_t chans[] = {1, 3, 8, 17, 31, 33, 47};
    const int64_t sizes[][2] = {{1, 1}, {2, 3}, {5, 7}, {9, 4}};
    const int kernels_[][2] = {{3, 3}, {5, 5}, {1, 1}, {3, 5}, {7, 7}};
    int i = 0;
    for (int64_t c : chans)
        for (const auto& hw : sizes)
            for (const auto& kk : kernels_) {
                dw_case k{};
                k.n = 2; k.h = hw[0]; k.w = hw[1]; k.c = c;
                k.kh = kk[0]; k.kw = kk[1];
                k.sh = 1 + (i % 2); k.sw = 1 + ((i / 2) % 2);
                k.pt = i % kk[0]; k.pl = (i / 3) % kk[1];
                k.pb = (kk[0] - 1) - k.pt / 2; k.pr = (i / 5) % kk[1];
                if (k.h + k.pt + k.pb < k.kh) k.pb = k.kh - k.h - k.pt;
                if (k.w + k.pl + k.pr < k.kw) k.pr = k.kw - k.w - k.pl;
                k.src_signed = i % 3 == 1;
                k.dst_signed = i % 4 == 2;
                k.src_zp = k.src_signed ? (i * 37) % 256 - 128 : (i * 53) % 256;
                k.dst_zp = k.dst_signed ? (i * 11) % 256 - 128 : (i * 29) % 256;
                k.post = i % 4;
                v.push_back(k);
                ++i;
            }
    return v;
}

/// Channel counts around the 64-channel block (and MobileNet-V2's 96 and 144), 8 and 9 rows
/// (two and three groups of four rows), 3-wide kernels of 2 and 4 rows, stride 3 (a tall kernel and
/// a 3x3, which the register path leaves to the buffered one), large biases and scales, two threads.
std::vector<dw_case> block_cases() {
    std::vector<dw_case> v;
    const int64_t chans[] = {63, 64, 65, 96, 130, 144};
    const int kernels_[][4] = {{3, 3, 1, 1}, {3, 3, 2, 2}, {5, 5, 2, 1}, {9, 2, 1, 2}, {8, 3, 3, 3}, {1, 7, 1, 1}, {4, 3, 1, 2}, {2, 3, 2, 1},
                               {3, 3, 3, 3}};
    int i = 0;
    for (int64_t c : chans)
        for (const auto& kk : kernels_) {
            dw_case k{};
            k.n = 1 + i % 2; k.h = 11 + i % 3; k.w = 13 + 19 * (i % 3); k.c = c;  // widths past one 32-pixel pass
            k.kh = kk[0]; k.kw = kk[1]; k.sh = kk[2]; k.sw = kk[3];
            k.pt = (i % 3) % k.kh; k.pl = (k.kw - 1) / 2; k.pb = (k.kh - 1) / 2; k.pr = (i / 2) % k.kw;
            k.src_signed = i % 2 == 1;
            k.dst_signed = i % 3 == 0;
            k.src_zp = k.src_signed ? (i * 41) % 256 - 128 : (i * 13) % 256;
            k.dst_zp = k.dst_signed ? (i * 7) % 256 - 128 : (i % 4 == 0 ? 0 : (i * 31) % 256);
            k.post = i % 4;
            k.big_bias = i % 5 == 2;
            k.big_scale = i % 7 == 3;
            k.frac_bias = i % 3 == 1;
            k.threads = 1 + i % 2;
            v.push_back(k);
            ++i;
        }
    return v;
}

void check_variant(dw_variant v) {
    const cpu_info_t ci = cpu_info();
    if (!kernels::dw_variant_runs(v, ci.features)) {
        MESSAGE("NOT RUN: depthwise " << std::string(kernels::to_string(v)) << " kernel: this CPU (" << ci.cpu_name << ") lacks its instructions");
        return;
    }
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 1;
    for (const auto& k : mobilenet_cases()) { ++cases; failed += mismatches(v, k, seed++) != 0; }
    for (const auto& k : odd_cases()) { ++cases; failed += mismatches(v, k, seed++) != 0; }
    for (const auto& k : block_cases()) { ++cases; failed += mismatches(v, k, seed++) != 0; }
    MESSAGE("depthwise " << std::string(kernels::to_string(v)) << ": " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(failed == 0);
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("depthwise avx2 kernel is bit-exact against the reference (MobileNet shapes / odd shapes)") { check_variant(dw_variant::avx2); }
TEST_CASE("depthwise avx2_columns kernel is bit-exact against the reference (MobileNet shapes / odd shapes)") {
    check_variant(dw_variant::avx2_columns);
}
TEST_CASE("depthwise avx512bw kernel is bit-exact against the reference (MobileNet shapes / odd shapes)") { check_variant(dw_variant::avx512bw); }
TEST_CASE("depthwise avx512vnni kernel is bit-exact against the reference (MobileNet shapes / odd shapes)") { check_variant(dw_variant::avx512vnni); }
TEST_CASE("depthwise avx512vnni_quads kernel is bit-exact against the reference (MobileNet shapes / odd shapes)") {
    check_variant(dw_variant::avx512vnni_quads);
}

TEST_CASE("depthwise four-tap packing: the bias folds only where exact - the float clamp only for large scales - half blocks twice") {
    const int64_t c = 20;  // one block of at most 32 channels: packed into both 256-bit halves
    std::vector<int8_t> w(static_cast<std::size_t>(c * 9));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 255) - 127);
    std::vector<int32_t> bias(static_cast<std::size_t>(c), 1 << 24);
    std::vector<float> os(static_cast<std::size_t>(c), 0.01f);
    kernels::dw_packed p = kernels::dw_pack(w.data(), bias.data(), os.data(), c, 3, 3, 64, 5, false);
    CHECK(p.bias_in_acc);  // |bias| <= 2^24: float(bias) is exact
    CHECK(p.v_bound < 1073741824.0);
    // Channel 0 sits at int32 lane 0 of quad 0 and again 8 lanes on (the high half); column 0, rows 0..2.
    for (int half : {0, 8})
        for (int ky = 0; ky < 3; ++ky) CHECK(p.wq[static_cast<std::size_t>(half * 4 + ky)] == w[static_cast<std::size_t>(ky * 3)]);
    CHECK(p.acc0[0] == p.acc0[8]);
    bias[3] = (1 << 24) + 2;  // exact as a float, but past 2^24: stays a float add
    os[7] = 1e5f;
    p = kernels::dw_pack(w.data(), bias.data(), os.data(), c, 3, 3, 64, 5, false);
    CHECK_FALSE(p.bias_in_acc);
    CHECK(p.v_bound > 1073741824.0);
    // An unrounded bias stays a float add, whatever its size.
    std::vector<float> fb(static_cast<std::size_t>(c), 100.f);
    p = kernels::dw_pack(w.data(), fb.data(), os.data(), c, 3, 3, 64, 5, false);
    CHECK(p.bias_in_acc);
    fb[5] = 100.25f;
    p = kernels::dw_pack(w.data(), fb.data(), os.data(), c, 3, 3, 64, 5, false);
    CHECK_FALSE(p.bias_in_acc);
    CHECK(p.bias[static_cast<std::size_t>(kernels::dw_quad_order(5))] == 100.25f);
}

TEST_CASE("depthwise relu/clip folding equals applying the post-ops in turn") {
    const float vals[] = {-1e9f, -7.5f, -2.f, -0.f, 0.f, 0.25f, 5.999f, 6.f, 6.5f, 1e9f};
    kernels::dw_clamp c;
    c.relu();
    c.clip(0.f, 6.f);
    c.clip(-1.f, 5.f);
    for (float v : vals) {
        float seq = std::max(v, 0.f);
        seq = std::min(std::max(seq, 0.f), 6.f);
        seq = std::min(std::max(seq, -1.f), 5.f);
        CHECK(std::min(std::max(v, c.lo), c.hi) == seq);
    }
}

TEST_CASE("depthwise variant per code path") {
    CHECK(kernels::dw_variant_for(isa::avx2) == dw_variant::avx2_columns);
    CHECK(kernels::dw_variant_for(isa::avx2_vnni) == dw_variant::avx2_columns);
    CHECK(kernels::dw_variant_for(isa::avx512_core) == dw_variant::avx512bw);
    CHECK(kernels::dw_variant_for(isa::avx512_core_vnni) == dw_variant::avx512vnni_quads);
    CHECK(kernels::dw_variant_for(isa::avx512_core_bf16) == dw_variant::avx512vnni_quads);
    CHECK(kernels::dw_variant_for(isa::avx512_core_amx) == dw_variant::avx512vnni_quads);
}

}  // TEST_SUITE
