// qint8's 1x1 kernel (include/qint8/kernels/pointwise_avx2.hpp, and its tile variant
// pointwise_avx2_tiles.hpp) against the naive reference
// (include/qint8/ref/pointwise.hpp), bit-exactly: MobileNet-V1 and V2's 1x1 layers with few input
// channels, channel counts around the 32-channel block and the unrolled input counts, every
// post-op, both destination signednesses, large and fractional biases, huge scales, two threads.
// Weights reach the int16 pair bound the kernel relies on (and pw_pack refuses what passes it).
// On a CPU without AVX2 the kernel cases print NOT RUN and ctest lists them as skipped.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <qint8/dispatch/isa.hpp>
#include <qint8/kernels/pointwise.hpp>
#include <qint8/ref/pointwise.hpp>

#include "support/builder.hpp"

using namespace qint8;

namespace {

struct pw_case {
    int64_t m, k, n;
    bool dst_signed;
    int32_t src_zp, dst_zp;
    int post;               ///< 0 none, 1 relu, 2 relu6, 3 clip(-2, 3)
    int max_code = 255;     ///< the largest source code (weights are drawn to fit it)
    bool big_bias = false;  ///< biases past 2^24: no folding into the int32 sum
    bool big_scale = false;  ///< sums past the int32 conversion's range
    bool frac_bias = false;  ///< unrounded biases (layer::float_bias)
    int threads = 1;
    bool sum = false;  ///< a residual summed first (MobileNet-V2's projections with a shortcut)
    bool src_signed = false;  ///< s8 source codes (the VNNI variant only); src_zp is then in [-128, 127]
    std::string name() const {
        std::ostringstream s;
        s << m << " px " << k << "->" << n << (dst_signed ? " u8->s8" : " u8->u8") << " zp " << src_zp << "/" << dst_zp << " post " << post
          << " max code " << max_code << (big_bias ? " big bias" : "") << (big_scale ? " big scale" : "") << (frac_bias ? " fractional bias" : "")
          << " threads " << threads << (sum ? " residual sum" : "") << (src_signed ? " s8 source" : "");
        return s.str();
    }
};

/// Post-op code 0 none, 1 relu, 2 relu6, 3 clip(-2, 3) at a destination scale of 0.05: for the
/// reference in turn, for the kernel as one clamp.
struct pw_posts {
    std::vector<ref::dw_post_op> post;
    kernels::dw_clamp clamp;
};

pw_posts pw_posts_of(int code) {
    const float s_dst = 0.05f;
    pw_posts p;
    if (code == 1 || code == 2) { p.post.push_back({true, 0, 0}); p.clamp.relu(); }
    if (code == 2) { p.post.push_back({false, 0.f, 6.f / s_dst}); p.clamp.clip(0.f, 6.f / s_dst); }
    if (code == 3) { p.post.push_back({false, -2.f / s_dst, 3.f / s_dst}); p.clamp.clip(-2.f / s_dst, 3.f / s_dst); }
    return p;
}

/// The number of differing bytes; the first is reported.
std::size_t pw_differences(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const std::string& name) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && bad++ == 0) MESSAGE(name << ": first difference at byte " << i << ": got " << int(got[i]) << ", want " << int(want[i]));
    return bad;
}

/// Weights whose pairs (2j, 2j + 1) fit int16 for codes up to max_code, many at the bound: a
/// random first weight (-128 included), its partner shrunk toward zero until the pair fits.
std::vector<int8_t> pw_fitting_weights(test::rng& r, int64_t n, int64_t k, int max_code) {
    std::vector<int8_t> w(static_cast<std::size_t>(n * k));
    for (int64_t o = 0; o < n; ++o)
        for (int64_t c = 0; c < k; c += 2) {
            int a = r.integer(-128, 127), b = c + 1 < k ? r.integer(-128, 127) : 0;
            while (!kernels::pw_pair_fits(a, 0, max_code)) a += a > 0 ? -1 : 1;
            while (!kernels::pw_pair_fits(a, b, max_code)) b += b > 0 ? -1 : 1;
            w[static_cast<std::size_t>(o * k + c)] = static_cast<int8_t>(a);
            if (c + 1 < k) w[static_cast<std::size_t>(o * k + c + 1)] = static_cast<int8_t>(b);
        }
    return w;
}

/// Weights over the full s8 range, -128 included (the VNNI variant forms no int16 pairs).
std::vector<int8_t> pw_full_weights(test::rng& r, int64_t n, int64_t k) {
    std::vector<int8_t> w(static_cast<std::size_t>(n * k));
    for (auto& x : w) x = static_cast<int8_t>(r.integer(-128, 127));
    for (int64_t o = 0; o < n; o += 3) w[static_cast<std::size_t>(o * k)] = -128;
    return w;
}

/// Runs one case on the kernel's variant v and on the reference; returns the number of differing
/// bytes. The VNNI variant gets full-range weights packed for it; an s8 source is given to the
/// reference as the u8 codes x + 128 with the zero point moved by 128 (the same differences).
std::size_t pw_mismatches(const pw_case& t, uint32_t seed, kernels::pw_variant v = kernels::pw_variant::avx2) {
    test::rng r(seed);
    const bool dot = v == kernels::pw_variant::avx512vnni;
    std::vector<uint8_t> src(static_cast<std::size_t>(t.m * t.k)), ref_src;
    for (auto& x : src) x = static_cast<uint8_t>(r.integer(0, t.src_signed ? 255 : t.max_code));
    ref_src = src;
    if (t.src_signed)
        for (auto& x : ref_src) x = static_cast<uint8_t>(int(static_cast<int8_t>(x)) + 128);
    const int32_t ref_zp = t.src_signed ? t.src_zp + 128 : t.src_zp;
    const std::vector<int8_t> w = dot ? pw_full_weights(r, t.n, t.k) : pw_fitting_weights(r, t.n, t.k, t.max_code);
    std::vector<float> bias(static_cast<std::size_t>(t.n));
    for (auto& x : bias) x = float(t.big_bias ? r.integer(-(1 << 28), 1 << 28) : r.integer(-20000, 20000));
    if (t.frac_bias)
        for (auto& x : bias) x += r.uniform(-0.5f, 0.5f);
    std::vector<float> os(static_cast<std::size_t>(t.n));
    for (auto& x : os) x = t.big_scale ? r.uniform(100.f, 100000.f) : r.uniform(0.0005f, 0.01f);
    const pw_posts ps = pw_posts_of(t.post);
    const std::vector<ref::dw_post_op>& post = ps.post;
    const kernels::dw_clamp& clamp = ps.clamp;

    // The residual: codes of the destination's type across their range, a zero point and a
    // scale ratio as a shortcut's quantization gives them.
    std::vector<uint8_t> res(static_cast<std::size_t>(t.m * t.n), 0xAB);
    ref::pointwise_residual rs;
    if (t.sum) {
        for (auto& x : res) x = static_cast<uint8_t>(r.integer(0, 255));
        rs.codes = &res;
        rs.scale = r.uniform(0.2f, 3.f);
        rs.zero_point = t.dst_signed ? r.integer(-128, 127) : r.integer(0, 255);
    }
    const std::vector<uint8_t> want = ref::pointwise_nhwc(ref_src, t.m, t.k, ref_zp, w, t.n, bias, os, post, t.dst_signed, t.dst_zp, rs);
    kernels::pw_problem pr;
    pr.m = t.m; pr.k = t.k; pr.n = t.n;
    pr.src_signed = t.src_signed;
    pr.dst_signed = t.dst_signed; pr.src_zp = t.src_zp; pr.dst_zp = t.dst_zp;
    pr.lo = clamp.lo; pr.hi = clamp.hi;
    pr.sum = t.sum; pr.sum_scale = rs.scale; pr.sum_zp = rs.zero_point;
    const kernels::pw_packed pk = kernels::pw_pack(w.data(), bias.data(), os.data(), t.n, t.k, ref_zp, t.max_code, dot);
    REQUIRE(kernels::pw_supported(pr, pk));
    std::vector<uint8_t> got = res;  // the layer adds to the residual in place
    kernels::pointwise_run(v, pr, pk, src.data(), got.data(), t.threads);
    return pw_differences(got, want, t.name() + " " + kernels::to_string(v));
}

/// MobileNet-V2's 1x1 layers from 16-96 channels and MobileNet-V1's first, at 224 x 224 (the
/// pixel counts of their layers), with PyTorch's relu6 and zero points.
std::vector<pw_case> pw_mobilenet_cases() {
    const int64_t shapes[][3] = {{12544, 16, 96}, {3136, 24, 144}, {784, 32, 192}, {196, 64, 384}, {196, 96, 576}, {12544, 32, 64}, {12544, 32, 16}};
    std::vector<pw_case> v;
    int i = 0;
    for (const auto& s : shapes) {
        pw_case t{};
        t.m = s[0]; t.k = s[1]; t.n = s[2];
        t.src_zp = 120 + i;  // a projection's output: s8 stored as u8, zero point near 128
        t.dst_zp = 0;
        t.post = 2;
        v.push_back(t);
        ++i;
    }
    return v;
}

/// Input counts 4-128 (the unrolled 16, 24, 32 and 64 and others), output counts around the
/// block, pixel counts around the 48-pixel task, every post-op and zero point, both signednesses.
std::vector<pw_case> pw_odd_cases() {
    std::vector<pw_case> v;
    const int64_t ks[] = {4, 8, 12, 16, 20, 24, 32, 40, 64, 96, 128};
    const int64_t ns[] = {1, 5, 16, 31, 32, 33, 63, 96, 144};
    const int64_t ms[] = {1, 7, 47, 48, 49, 100};
    int i = 0;
    for (int64_t k : ks)
        for (int64_t n : ns) {
            pw_case t{};
            t.m = ms[i % 6]; t.k = k; t.n = n;
            t.dst_signed = i % 3 == 1;
            t.src_zp = (i * 53) % 256;
            t.dst_zp = t.dst_signed ? (i * 11) % 256 - 128 : (i % 4 == 0 ? 0 : (i * 29) % 256);
            t.post = i % 4;
            t.max_code = i % 5 == 3 ? 120 : 255;  // a relu6 source: larger weights fit
            t.big_bias = i % 7 == 2;
            t.big_scale = i % 11 == 5;
            t.frac_bias = i % 3 == 2;
            t.threads = 1 + (i % 4 == 1);
            v.push_back(t);
            ++i;
        }
    return v;
}

/// Residual sums: MobileNet-V2's projections with a shortcut at their pixel counts (no
/// activation; the shortcut is s8 stored as u8, zero point near 128), then odd shapes with the
/// clamps after the sum, both signednesses, huge scales (the upper float clamp) and two threads.
std::vector<pw_case> pw_residual_cases() {
    const int64_t shapes[][3] = {{3136, 144, 24}, {784, 192, 32}, {196, 384, 64}, {196, 576, 96}, {49, 960, 160}};
    std::vector<pw_case> v;
    int i = 0;
    for (const auto& s : shapes) {
        pw_case t{};
        t.m = s[0]; t.k = s[1]; t.n = s[2];
        t.src_zp = 0;  // a relu6 output
        t.dst_zp = 126 + i++;
        t.max_code = 120;
        t.sum = true;
        v.push_back(t);
    }
    for (pw_case t : pw_odd_cases()) {
        if (i++ % 3 != 0) continue;  // a third of them: every k, n, post-op and signedness still occurs
        t.sum = true;
        v.push_back(t);
    }
    return v;
}

/// Large weights, the tile variant's layers: MobileNet-V1's and ResNet50's 1x1 layers at their
/// pixel counts (k up to pw_max_k), pixel counts that end in a part tile (tile_pixels: 128 for
/// 512 -> 512, 256 for 256 -> 256, 116 for 1024 -> 96) and odd ones, block counts that two
/// threads split unevenly, one block over few pixels on two threads (tiles cut smaller),
/// MobileNet-V2's shapes whose tiles two threads split evenly only when cut equal, with and
/// without a residual.
std::vector<pw_case> pw_large_cases() {
    const int64_t shapes[][3] = {{196, 512, 512},  {49, 1024, 1024}, {49, 512, 1024}, {784, 256, 256}, {129, 1024, 96},
                                 {257, 1024, 33},  {513, 256, 64},   {3, 1000, 200},  {1, 768, 32},    {49, 1024, 32},
                                 {1025, 128, 160}, {196, 96, 576},  {49, 960, 160},   {3136, 24, 144}};
    std::vector<pw_case> v;
    int i = 0;
    for (const auto& sh : shapes) {
        pw_case t{};
        t.m = sh[0]; t.k = sh[1]; t.n = sh[2];
        t.dst_signed = i % 3 == 2;
        t.src_zp = (i * 71) % 256;
        t.dst_zp = t.dst_signed ? (i * 13) % 256 - 128 : (i * 31) % 256;
        t.post = i % 4;
        t.max_code = i % 2 ? 120 : 255;
        t.frac_bias = i % 4 == 1;
        t.threads = 1 + i % 2;
        t.sum = i % 3 == 1;
        v.push_back(t);
        ++i;
    }
    return v;
}

/// A convolution with few input channels run over gathered windows (pw_window).
struct pw_win_case {
    int64_t b, h, w, c, n;
    int kh, kw, sh, sw, pt, pl, pb, pr;
    bool dst_signed;
    int32_t src_zp, dst_zp;
    int post;
    int max_code = 255;
    bool frac_bias = false;
    int threads = 1;
    bool src_signed = false;  ///< s8 source codes (the VNNI variant only); src_zp is then in [-128, 127]
    std::string name() const {
        std::ostringstream s;
        s << b << "x" << h << "x" << w << "x" << c << " -> " << n << " k" << kh << "x" << kw << " s" << sh << "x" << sw << " pad " << pt << ","
          << pl << "," << pb << "," << pr << " zp " << src_zp << "/" << dst_zp << " post " << post << (dst_signed ? " s8" : " u8")
          << (frac_bias ? " fractional bias" : "") << " threads " << threads << (src_signed ? " s8 source" : "");
        return s.str();
    }
};

/// Runs one window case on variant v and on the naive convolution; returns the differing bytes.
/// The VNNI variant gets full-range weights packed for it, and an s8 source is given to the
/// reference as u8 codes x + 128 with the zero point moved by 128, as pw_mismatches does.
std::size_t pw_win_mismatches(const pw_win_case& t, uint32_t seed, kernels::pw_variant v = kernels::pw_variant::avx2) {
    test::rng r(seed);
    const bool dot = v == kernels::pw_variant::avx512vnni;
    kernels::pw_window win;
    win.on = true;
    win.batch = t.b; win.h = t.h; win.w = t.w; win.c = t.c;
    win.kh = t.kh; win.kw = t.kw; win.sh = t.sh; win.sw = t.sw; win.pt = t.pt; win.pl = t.pl;
    win.oh = (t.h + t.pt + t.pb - t.kh) / t.sh + 1;
    win.ow = (t.w + t.pl + t.pr - t.kw) / t.sw + 1;
    const int64_t k = kernels::pw_window_k(win), taps = t.c * t.kh * t.kw;
    std::vector<uint8_t> src(static_cast<std::size_t>(t.b * t.h * t.w * t.c)), ref_src;
    for (auto& x : src) x = static_cast<uint8_t>(r.integer(0, t.src_signed ? 255 : t.max_code));
    ref_src = src;
    if (t.src_signed)
        for (auto& x : ref_src) x = static_cast<uint8_t>(int(static_cast<int8_t>(x)) + 128);
    const int32_t ref_zp = t.src_signed ? t.src_zp + 128 : t.src_zp;
    // Weights drawn to fit in the gathered order ([kh][kw][c], the pairs the kernel forms; any
    // s8 value for the VNNI variant), then written back as OIHW, the order a layer holds them in.
    // Taps outside the image read the zero point, which may pass the largest code of the image.
    const int code = std::max(t.max_code, t.src_zp);
    std::vector<int8_t> gathered = dot ? pw_full_weights(r, t.n, k) : pw_fitting_weights(r, t.n, k, code), oihw(static_cast<std::size_t>(t.n * taps));
    for (int64_t o = 0; o < t.n; ++o)
        for (int64_t j = 0; j < k; ++j) {
            int8_t& g = gathered[static_cast<std::size_t>(o * k + j)];
            if (j >= taps) { g = 0; continue; }
            const int64_t ch = j % t.c, kx = (j / t.c) % t.kw, ky = j / (t.c * t.kw);
            oihw[static_cast<std::size_t>(((o * t.c + ch) * t.kh + ky) * t.kw + kx)] = g;
        }
    std::vector<float> bias(static_cast<std::size_t>(t.n)), os(static_cast<std::size_t>(t.n));
    for (auto& x : bias) x = float(r.integer(-20000, 20000)) + (t.frac_bias ? r.uniform(-0.5f, 0.5f) : 0.f);
    for (auto& x : os) x = r.uniform(0.0005f, 0.01f);
    const pw_posts ps = pw_posts_of(t.post);
    const std::vector<ref::dw_post_op>& post = ps.post;
    const kernels::dw_clamp& clamp = ps.clamp;

    const std::vector<uint8_t> want = ref::conv_nhwc(ref_src, t.b, t.h, t.w, t.c, ref_zp, oihw, t.n, t.kh, t.kw, t.sh, t.sw, t.pt, t.pl, win.oh,
                                                     win.ow, bias, os, post, t.dst_signed, t.dst_zp);
    kernels::pw_problem pr;
    pr.m = t.b * win.oh * win.ow; pr.k = k; pr.n = t.n;
    pr.src_signed = t.src_signed;
    pr.dst_signed = t.dst_signed; pr.src_zp = t.src_zp; pr.dst_zp = t.dst_zp;
    pr.lo = clamp.lo; pr.hi = clamp.hi;
    pr.window = win;
    const std::vector<int8_t> packed_order = kernels::pw_window_weights(oihw.data(), t.n, win);
    REQUIRE(packed_order == gathered);
    const kernels::pw_packed pk = kernels::pw_pack(packed_order.data(), bias.data(), os.data(), t.n, k, ref_zp, code, dot);
    REQUIRE(kernels::pw_supported(pr, pk));
    std::vector<uint8_t> got(want.size(), 0xAB);
    kernels::pointwise_run(v, pr, pk, src.data(), got.data(), t.threads);
    return pw_differences(got, want, t.name() + " " + kernels::to_string(v));
}

/// The first layers of MobileNet-V1/V2 (PyTorch and TF padding), VGG and ResNet, and small odd
/// windows: 1-8 channels, kernels of 1x3 to 7x7, strides 1-3, images smaller than the kernel,
/// batches of two, two threads, every post-op.
std::vector<pw_win_case> pw_win_cases() {
    std::vector<pw_win_case> v;
    v.push_back({1, 224, 224, 3, 32, 3, 3, 2, 2, 1, 1, 1, 1, false, 114, 0, 2});   // MobileNet, PyTorch
    v.push_back({1, 224, 224, 3, 32, 3, 3, 2, 2, 0, 0, 1, 1, false, 127, 0, 2});   // TF SAME
    v.push_back({1, 56, 56, 3, 64, 3, 3, 1, 1, 1, 1, 1, 1, false, 120, 0, 1});     // VGG (smaller image)
    v.push_back({1, 40, 40, 3, 64, 7, 7, 2, 2, 3, 3, 3, 3, false, 118, 0, 1});     // ResNet's stem
    const int64_t chans[] = {1, 2, 3, 4, 8};
    const int win[][4] = {{3, 3, 1, 1}, {5, 5, 2, 2}, {1, 3, 1, 2}, {2, 2, 2, 2}, {7, 7, 3, 3}, {3, 1, 1, 1}};
    int i = 0;
    for (int64_t c : chans)
        for (const auto& kk : win) {
            pw_win_case t{};
            t.b = 1 + i % 2; t.h = 3 + (i * 5) % 11; t.w = 2 + (i * 7) % 13; t.c = c; t.n = 1 + (i * 13) % 70;
            t.kh = kk[0]; t.kw = kk[1]; t.sh = kk[2]; t.sw = kk[3];
            t.pt = i % t.kh; t.pl = (i / 2) % t.kw; t.pb = (t.kh - 1) / 2; t.pr = (i / 3) % t.kw;
            if (t.h + t.pt + t.pb < t.kh) t.pb = t.kh - t.h - t.pt;
            if (t.w + t.pl + t.pr < t.kw) t.pr = t.kw - t.w - t.pl;
            t.dst_signed = i % 3 == 1;
            t.src_zp = (i * 37) % 256;
            t.dst_zp = t.dst_signed ? (i * 11) % 256 - 128 : (i * 29) % 256;
            t.post = i % 4;
            t.max_code = i % 4 == 3 ? 100 : 255;
            t.frac_bias = i % 5 == 2;
            t.threads = 1 + i % 2;
            v.push_back(t);
            ++i;
        }
    return v;
}

bool pw_cpu_runs_avx512vnni() {
    const cpu_info_t ci = cpu_info();
    if (ci.features.avx512f && ci.features.avx512bw && ci.features.avx512vl && ci.features.avx512_vnni && ci.features.avx2 && ci.features.fma) return true;
    MESSAGE("NOT RUN: 1x1 avx512vnni kernel: this CPU (" << ci.cpu_name << ") lacks AVX-512 VNNI");
    return false;
}

bool pw_cpu_runs_avx2() {
    const cpu_info_t ci = cpu_info();
    if (ci.features.avx2) return true;
    MESSAGE("NOT RUN: 1x1 avx2 kernel: this CPU (" << ci.cpu_name << ") lacks AVX2");
    return false;
}

/// Pixels each of `threads` threads computes (times the blocks it runs them through) for tiles of
/// `per` pixels under OpenMP's static schedule: runs of tasks, the first (tasks % threads) one
/// task longer, tasks tile-major as the tile kernels number them.
std::vector<int64_t> pw_thread_work(int64_t m, int64_t blocks, int64_t per, int threads) {
    const int64_t tiles = (m + per - 1) / per, tasks = tiles * blocks, q = tasks / threads, extra = tasks % threads;
    std::vector<int64_t> work(static_cast<std::size_t>(threads), 0);
    int64_t t = 0;
    for (int th = 0; th < threads; ++th)
        for (int64_t k = 0; k < q + (th < extra ? 1 : 0); ++k, ++t) work[static_cast<std::size_t>(th)] += std::min(per, m - (t / blocks) * per);
    return work;
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("1x1 avx2 kernel is bit-exact against the reference (MobileNet shapes / odd shapes)") {
    if (!pw_cpu_runs_avx2()) return;
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 1;
    for (const auto& t : pw_mobilenet_cases()) { ++cases; failed += pw_mismatches(t, seed++) != 0; }
    for (const auto& t : pw_odd_cases()) { ++cases; failed += pw_mismatches(t, seed++) != 0; }
    MESSAGE("1x1 avx2: " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(cases == 7 + 11 * 9);
    CHECK(failed == 0);
}

TEST_CASE("1x1 avx2 tile variant is bit-exact against the reference (MobileNet shapes / odd shapes / large weights / residuals)") {
    if (!pw_cpu_runs_avx2()) return;
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 2000;
    const kernels::pw_variant tiles = kernels::pw_variant::avx2_tiles;
    for (const auto& t : pw_mobilenet_cases()) { ++cases; failed += pw_mismatches(t, seed++, tiles) != 0; }
    for (const auto& t : pw_odd_cases()) { ++cases; failed += pw_mismatches(t, seed++, tiles) != 0; }
    for (const auto& t : pw_residual_cases()) { ++cases; failed += pw_mismatches(t, seed++, tiles) != 0; }
    for (const auto& t : pw_large_cases()) {
        ++cases;
        failed += pw_mismatches(t, seed, tiles) != 0;
        failed += pw_mismatches(t, seed++) != 0;  // and the pixel variant on the same data
    }
    MESSAGE("1x1 avx2_tiles: " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(cases == 7 + 11 * 9 + 38 + 14);
    CHECK(failed == 0);
}

TEST_CASE("1x1 tiles: the cache bound on one thread - equal tiles on two and four threads with even shares on MobileNet and ResNet shapes") {
    const int64_t shapes[][3] = {{12544, 32, 16}, {12544, 16, 96}, {3136, 24, 144}, {3136, 144, 24}, {784, 32, 192},  {784, 192, 32},
                                 {196, 64, 384},  {196, 96, 576},  {196, 576, 96},  {49, 960, 160},  {49, 160, 960},  {49, 320, 1280},
                                 {3136, 64, 256}, {784, 512, 128}, {196, 1024, 256}, {49, 2048, 512}, {7, 1024, 32},  {1, 768, 32}};
    for (const auto& sh : shapes) {
        kernels::pw_problem pr{};
        pr.m = sh[0];
        pr.k = sh[1];
        pr.n = sh[2];
        kernels::pw_packed pk{};
        pk.blocks = (pr.n + kernels::pw_block - 1) / kernels::pw_block;
        for (int threads : {1, 2, 4}) {
            CAPTURE(pr.m);
            CAPTURE(pr.k);
            CAPTURE(pr.n);
            CAPTURE(threads);
            const int64_t per = kernels::pw_avx2_tiles::tile_pixels_for(pr, pk, threads);
            CHECK(per >= 2);
            CHECK(per % 2 == 0);
            CHECK(per <= std::max<int64_t>(2, kernels::pw_avx2_tiles::tile_pixels(pr.k, pr.n)));
            if (threads == 1) {
                CHECK(per == std::max<int64_t>(2, kernels::pw_avx2_tiles::tile_pixels(pr.k, pr.n)));  // the cache bound alone
                continue;
            }
            const int64_t tiles = (pr.m + per - 1) / per;
            CHECK(pr.m - (tiles - 1) * per >= per - 2 * tiles);  // the last tile is not a scrap
            if (pr.m < 8 * threads) continue;
            const std::vector<int64_t> w = pw_thread_work(pr.m, pk.blocks, per, threads);
            const double mean = static_cast<double>(pr.m * pk.blocks) / threads;
            const double slack = 2.0 * static_cast<double>(pk.blocks * tiles);  // even tile sizes: up to 2 pixels a tile
            CHECK(static_cast<double>(*std::max_element(w.begin(), w.end())) <= 1.1 * mean + slack);
        }
    }
}

TEST_CASE("1x1 avx512vnni variant is bit-exact against the reference (MobileNet shapes / odd shapes / residuals / large weights / s8 sources)") {
    if (!pw_cpu_runs_avx512vnni()) return;
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 3000;
    const kernels::pw_variant vnni = kernels::pw_variant::avx512vnni;
    std::vector<pw_case> all = pw_mobilenet_cases();
    for (const auto& list : {pw_odd_cases(), pw_residual_cases(), pw_large_cases()}) all.insert(all.end(), list.begin(), list.end());
    const std::size_t plain = all.size();
    for (std::size_t i = 0; i < plain; i += 2) {  // every other case again over s8 codes, zero points across their range
        pw_case t = all[i];
        t.src_signed = true;
        t.src_zp = static_cast<int32_t>((i * 37) % 256) - 128;
        all.push_back(t);
    }
    // Pixel counts around the eight pixels that share a weight load, one tile and two threads.
    for (int64_t m : {1, 7, 8, 9, 15, 16, 17, 1023}) {
        pw_case t{};
        t.m = m; t.k = 40; t.n = 72; t.src_zp = 3; t.dst_zp = 5; t.post = 1; t.threads = m % 2 ? 2 : 1;
        all.push_back(t);
    }
    // Narrow weights (at most 16 channels, pw_packed::narrow): pixel counts around the sixteen that
    // share a weight load, fewer channels than a store's 16 bytes, residuals (staged first where
    // pixels lie closer than 16 bytes), both signednesses, two threads.
    const int64_t narrow_ms[] = {1, 15, 16, 17, 33, 47, 12544};
    const int64_t narrow_ns[] = {16, 1, 5, 8, 12, 16, 15};
    for (int i = 0; i < 7; ++i) {
        pw_case t{};
        t.m = narrow_ms[i]; t.k = 4 * (1 + (i * 5) % 9); t.n = narrow_ns[i];
        if (t.m == 12544) t.k = 32;  // MobileNet-V2's 32 -> 16 at 112 x 112
        t.dst_signed = i % 2 == 0; t.src_signed = i % 3 == 1;
        t.src_zp = t.src_signed ? -5 - i : 100 + i; t.dst_zp = t.dst_signed ? 3 - i : 20 * i;
        t.post = i % 4; t.frac_bias = i % 3 == 2; t.threads = 1 + i % 2;
        all.push_back(t);
        t.sum = true;
        all.push_back(t);
    }
    for (const auto& t : all) { ++cases; failed += pw_mismatches(t, seed++, vnni) != 0; }
    MESSAGE("1x1 avx512vnni: " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(cases == 7 + 11 * 9 + 38 + 14 + 79 + 8 + 14);
    CHECK(failed == 0);
}

TEST_CASE("1x1 packing for vpdpbusd takes weights whose pairs overflow int16 and s8 sources - and only that kernel runs them") {
    const int64_t n = 40, k = 8;
    std::vector<int8_t> w(static_cast<std::size_t>(n * k), -128);  // every pair -256 x 255: past int16
    const std::vector<float> os(static_cast<std::size_t>(n), 0.01f);
    kernels::pw_problem pr;
    pr.m = 4; pr.k = k; pr.n = n;
    const kernels::pw_packed paired = kernels::pw_pack(w.data(), nullptr, os.data(), n, k, 0);
    const kernels::pw_packed dot = kernels::pw_pack(w.data(), nullptr, os.data(), n, k, 0, 255, true);
    CHECK_FALSE(paired.exact);
    CHECK_FALSE(kernels::pw_supported(pr, paired));
    CHECK(dot.exact);
    CHECK(dot.dot);
    CHECK(kernels::pw_supported(pr, dot));
    CHECK(dot.w == paired.w);  // the same layout
    pr.src_signed = true;
    CHECK(kernels::pw_supported(pr, dot));
    std::fill(w.begin(), w.end(), int8_t{1});
    CHECK_FALSE(kernels::pw_supported(pr, kernels::pw_pack(w.data(), nullptr, os.data(), n, k, 0)));  // s8 codes: the VNNI kernel's alone
    pr.src_signed = false;
    pr.window.on = true;  // gathered windows: the pixel variant's and the VNNI variant's, not the tiles'
    pr.window.c = 8;
    pr.m = pr.window.batch * pr.window.oh * pr.window.ow;
    CHECK(kernels::pw_supported(pr, kernels::pw_pack(w.data(), nullptr, os.data(), n, k, 0)));
    CHECK(kernels::pw_supported(pr, kernels::pw_pack(w.data(), nullptr, os.data(), n, k, 0, 255, true)));
    CHECK(kernels::pw_variant_takes(kernels::pw_variant::avx512vnni, pr));
    CHECK(kernels::pw_variant_takes(kernels::pw_variant::avx2, pr));
    CHECK_FALSE(kernels::pw_variant_takes(kernels::pw_variant::avx2_tiles, pr));
}

TEST_CASE("1x1 avx2 kernel adds a residual in place bit-exactly (MobileNet-V2 projections / odd shapes)") {
    if (!pw_cpu_runs_avx2()) return;
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 500;
    for (const auto& t : pw_residual_cases()) { ++cases; failed += pw_mismatches(t, seed++) != 0; }
    MESSAGE("1x1 avx2 with a residual sum: " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(cases == 5 + 33);
    CHECK(failed == 0);
}

TEST_CASE("1x1 avx2 kernel sums the residual with one rounding as oneDNN does (ties that a product rounded first would move)") {
    if (!pw_cpu_runs_avx2()) return;
    // Weights 0 and os 1 make v the bias. Per channel the residual's product p = s * d rounds in
    // float to pf with an error e; v = K + 0.5 - pf puts pf + v on a tie that rounds to even, while
    // the fused p + v = K + 0.5 + e rounds the other way for K chosen by e's sign. Random data
    // meets such ties about once in a million outputs.
    const int64_t m = 3, k = 4, n = 40;
    const float s = 1.7123f;
    const int32_t zp = 20;
    std::vector<uint8_t> res(static_cast<std::size_t>(m * n)), src(static_cast<std::size_t>(m * k), 200);
    std::vector<float> bias(static_cast<std::size_t>(n)), os(static_cast<std::size_t>(n), 1.f);
    std::vector<int8_t> w(static_cast<std::size_t>(n * k), 0);
    int64_t sensitive = 0;
    for (int64_t o = 0; o < n; ++o) {
        const int32_t d = 60 + static_cast<int32_t>(o) * 2;
        volatile float pf = s * float(d);
        const double e = double(s) * double(d) - double(pf);
        const int kk = e > 0 ? 0 : 1;
        bias[static_cast<std::size_t>(o)] = float(double(kk) + 0.5 - double(pf));
        for (int64_t p = 0; p < m; ++p) res[static_cast<std::size_t>(p * n + o)] = static_cast<uint8_t>(zp + d);
        volatile float apart = pf + bias[static_cast<std::size_t>(o)];
        sensitive += e != 0 && std::nearbyint(apart) != std::nearbyint(std::fma(s, float(d), bias[static_cast<std::size_t>(o)]));
    }
    CHECK(sensitive >= n / 2);  // the data does reach the difference
    ref::pointwise_residual rs;
    rs.codes = &res;
    rs.scale = s;
    rs.zero_point = zp;
    const std::vector<uint8_t> want = ref::pointwise_nhwc(src, m, k, 0, w, n, bias, os, {}, false, 0, rs);
    kernels::pw_problem pr;
    pr.m = m; pr.k = k; pr.n = n;
    pr.sum = true; pr.sum_scale = s; pr.sum_zp = zp;
    const kernels::pw_packed pk = kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 0);
    REQUIRE(kernels::pw_supported(pr, pk));
    std::vector<uint8_t> got = res;
    kernels::pointwise_avx2(pr, pk, src.data(), got.data(), 1);
    CHECK(pw_differences(got, want, "fma ties") == 0);
}

TEST_CASE("1x1 avx2 kernel over gathered windows is bit-exact against a naive convolution (first layers / odd windows)") {
    if (!pw_cpu_runs_avx2()) return;
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 1000;
    for (const auto& t : pw_win_cases()) { ++cases; failed += pw_win_mismatches(t, seed++) != 0; }
    MESSAGE("1x1 avx2 over windows: " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(cases == 4 + 5 * 6);
    CHECK(failed == 0);
}

TEST_CASE("1x1 avx512vnni variant over gathered windows is bit-exact against a naive convolution (first layers / odd windows / s8 sources)") {
    if (!pw_cpu_runs_avx512vnni()) return;
    std::size_t cases = 0, failed = 0;
    uint32_t seed = 5000;
    std::vector<pw_win_case> all = pw_win_cases();
    const std::size_t plain = all.size();
    for (std::size_t i = 0; i < plain; i += 2) {  // every other case again over s8 codes
        pw_win_case t = all[i];
        t.src_signed = true;
        t.src_zp = static_cast<int32_t>((i * 41) % 256) - 128;
        all.push_back(t);
    }
    pw_win_case stem{1, 224, 224, 3, 32, 3, 3, 2, 2, 1, 1, 1, 1, false, -5, 0, 2};  // MobileNet-V2's, its s8 input
    stem.src_signed = true;
    stem.threads = 2;
    all.push_back(stem);
    for (const auto& t : all) { ++cases; failed += pw_win_mismatches(t, seed++, kernels::pw_variant::avx512vnni) != 0; }
    MESSAGE("1x1 avx512vnni over windows: " << cases - failed << " of " << cases << " shapes bit-exact");
    CHECK(cases == 4 + 5 * 6 + 17 + 1);
    CHECK(failed == 0);
}

TEST_CASE("1x1 packing: lane order - compensation and bias in the start - pairs that may saturate are refused") {
    // The saturating packs put vector v, lane l at byte (l < 4 ? 0 : 16) + 4 v + l % 4.
    std::vector<int> seen(32, 0);
    for (int v = 0; v < 4; ++v)
        for (int l = 0; l < 8; ++l) {
            const int ch = kernels::pw_lane_channel(v, l);
            REQUIRE(ch >= 0);
            REQUIRE(ch < 32);
            ++seen[static_cast<std::size_t>(ch)];
        }
    CHECK(std::count(seen.begin(), seen.end(), 1) == 32);
    CHECK(kernels::pw_lane_channel(1, 0) == 4);
    CHECK(kernels::pw_lane_channel(0, 4) == 16);

    const int64_t n = 40, k = 8;  // two blocks, the second 8 channels full
    std::vector<int8_t> w(static_cast<std::size_t>(n * k));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i * 7 % 61) - 30);
    std::vector<float> bias(static_cast<std::size_t>(n), 1000.f), os(static_cast<std::size_t>(n), 0.01f);
    kernels::pw_packed p = kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 7);
    CHECK(p.exact);
    CHECK(p.bias_in_acc);
    CHECK(p.blocks == 2);
    // Channel 4 is vector 1, lane 0: its first four weights, and bias - zp * sum(w) to start from.
    int32_t sum = 0;
    for (int64_t c = 0; c < k; ++c) sum += w[static_cast<std::size_t>(4 * k + c)];
    for (int j = 0; j < 4; ++j) CHECK(p.w[static_cast<std::size_t>(32 + j)] == w[static_cast<std::size_t>(4 * k + j)]);
    CHECK(p.acc0[8] == 1000 - 7 * sum);
    CHECK(p.acc0[32 + 7] == 0);  // past the last channel: nothing
    bias[3] = 0.5f;
    p = kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 7);
    CHECK_FALSE(p.bias_in_acc);

    // 127 + 127 at code 255 can pass int16; at code 128 (say a relu6 source) it cannot.
    w[0] = 127;
    w[1] = 127;
    p = kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 7, 255);
    CHECK_FALSE(p.exact);
    kernels::pw_problem pr;
    pr.m = 10; pr.k = k; pr.n = n;
    CHECK_FALSE(kernels::pw_supported(pr, p));
    p = kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 7, 128);
    CHECK(p.exact);
    CHECK(kernels::pw_supported(pr, p));
    pr.k = 6;  // not a multiple of 4
    CHECK_FALSE(kernels::pw_supported(pr, p));
}

/// The packing written out weight by weight, as pw_packed's comments describe it: the reference
/// pw_pack's vectorized facts and sequential copy must equal.
kernels::pw_packed pw_pack_naive(const int8_t* w, const float* bias, const float* os, int64_t n, int64_t k, int32_t src_zp, int max_code) {
    kernels::pw_packed p;
    p.k = k;
    p.n = n;
    p.quads = (k + 3) / 4;
    p.blocks = (n + 31) / 32;
    p.w.assign(static_cast<std::size_t>(p.blocks * p.quads * 128), 0);
    p.acc0.assign(static_cast<std::size_t>(p.blocks * 32), 0);
    p.bias.assign(p.acc0.size(), 0.f);
    p.scale.assign(p.acc0.size(), 0.f);
    p.bias_in_acc = true;
    for (int64_t o = 0; bias && o < n; ++o)
        if (bias[o] != std::nearbyint(bias[o]) || std::fabs(bias[o]) > 16777216.f) p.bias_in_acc = false;
    p.exact = true;
    for (int64_t b = 0; b < p.blocks; ++b)
        for (int v = 0; v < 4; ++v)
            for (int l = 0; l < 8; ++l) {
                const int64_t o = b * 32 + (l < 4 ? 0 : 16) + v * 4 + l % 4;
                if (o >= n) continue;
                int32_t sum = 0, abs_sum = 0;
                for (int64_t c = 0; c < k; ++c) {
                    const int x = w[o * k + c];
                    sum += x;
                    abs_sum += std::abs(x);
                    p.w[static_cast<std::size_t>((((b * p.quads + c / 4) * 4 + v) * 8 + l) * 4 + c % 4)] = static_cast<int8_t>(x);
                }
                for (int64_t c = 0; c < k; c += 2) {
                    const int a = w[o * k + c], x = c + 1 < k ? w[o * k + c + 1] : 0;
                    if (max_code * (std::max(a, 0) + std::max(x, 0)) > 32767 || max_code * (std::min(a, 0) + std::min(x, 0)) < -32768) p.exact = false;
                }
                const std::size_t at = static_cast<std::size_t>(b * 32 + v * 8 + l);
                const float bs = bias ? bias[o] : 0.f;
                p.acc0[at] = (p.bias_in_acc ? static_cast<int32_t>(bs) : 0) - src_zp * sum;
                p.bias[at] = bs;
                p.scale[at] = os[o];
                p.v_bound = std::max(p.v_bound, (255.0 * abs_sum + std::abs(static_cast<double>(bs))) * std::abs(static_cast<double>(os[o])) * 1.001 + 1);
            }
    return p;
}

TEST_CASE("1x1 packing for vpdpbusd of at most 16 channels is narrow: quads of 16 channels in order") {
    for (const int64_t n : {1, 7, 16, 17}) {
        const int64_t k = 12;
        CAPTURE(n);
        std::vector<int8_t> w(static_cast<std::size_t>(n * k));
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 255) - 127);
        std::vector<float> bias(static_cast<std::size_t>(n)), os(static_cast<std::size_t>(n));
        for (int64_t o = 0; o < n; ++o) bias[static_cast<std::size_t>(o)] = static_cast<float>(10 * o), os[static_cast<std::size_t>(o)] = 0.01f * static_cast<float>(o + 1);
        const kernels::pw_packed p = kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 5, 255, true);
        CHECK(p.narrow == (n <= 16));
        CHECK_FALSE(kernels::pw_pack(w.data(), bias.data(), os.data(), n, k, 5).narrow);  // paired weights: never
        if (!p.narrow) continue;
        REQUIRE(p.w.size() == static_cast<std::size_t>(3 * 16 * 4));
        for (int64_t q = 0; q < 3; ++q)
            for (int64_t o = 0; o < 16; ++o)
                for (int64_t j = 0; j < 4; ++j)
                    CHECK(p.w[static_cast<std::size_t>((q * 16 + o) * 4 + j)] == (o < n ? w[static_cast<std::size_t>(o * k + 4 * q + j)] : 0));
        for (int64_t o = 0; o < n; ++o) {
            int32_t sum = 0;
            for (int64_t c = 0; c < k; ++c) sum += w[static_cast<std::size_t>(o * k + c)];
            CHECK(p.acc0[static_cast<std::size_t>(o)] == 10 * o - 5 * sum);  // channel order, bias folded
            CHECK(p.scale[static_cast<std::size_t>(o)] == os[static_cast<std::size_t>(o)]);
        }
    }
}

TEST_CASE("1x1 packing equals the packing written out weight by weight (odd k and n / weights at the pair bound)") {
    struct shape { int64_t n, k; };
    const shape shapes[] = {{1, 1}, {3, 2}, {32, 4}, {33, 5}, {40, 8}, {96, 16}, {17, 18}, {64, 30}, {31, 31}, {144, 24}, {65, 33}, {24, 144}, {160, 960}, {5, 1024}};
    uint32_t seed = 12345;
    const auto next = [&seed] { seed = seed * 1664525u + 1013904223u; return seed >> 8; };
    for (const shape& sh : shapes)
        for (int max_code : {255, 128, 64}) {
            CAPTURE(sh.n);
            CAPTURE(sh.k);
            CAPTURE(max_code);
            std::vector<int8_t> w(static_cast<std::size_t>(sh.n * sh.k));
            // Mostly within the pair bound for max_code, with a few pairs just past it.
            const int lim = 32767 / max_code / 2;
            for (auto& x : w) x = static_cast<int8_t>(static_cast<int>(next() % static_cast<uint32_t>(2 * lim + 1)) - lim);
            // Half the cases get one pair past the bound, positive or negative.
            if (next() % 2 && w.size() >= 2) {
                const std::size_t at = next() % (w.size() / 2) * 2;
                const int big = (next() % 2 ? 1 : -1) * std::min(127, lim + 40);
                w[at] = static_cast<int8_t>(big);
                w[at + 1] = static_cast<int8_t>(big);
            }
            std::vector<float> bias(static_cast<std::size_t>(sh.n)), os(static_cast<std::size_t>(sh.n));
            for (std::size_t i = 0; i < bias.size(); ++i) {
                bias[i] = static_cast<float>(static_cast<int>(next() % 20001u) - 10000);
                os[i] = 1e-3f * static_cast<float>(1 + next() % 100u);
            }
            if (sh.n > 2) bias[1] += 0.25f;  // one unrounded bias: nothing folds
            for (const float* b : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data())}) {
                const kernels::pw_packed got = kernels::pw_pack(w.data(), b, os.data(), sh.n, sh.k, 77, max_code);
                const kernels::pw_packed want = pw_pack_naive(w.data(), b, os.data(), sh.n, sh.k, 77, max_code);
                CHECK(got.quads == want.quads);
                CHECK(got.blocks == want.blocks);
                CHECK(got.w == want.w);
                CHECK(got.acc0 == want.acc0);
                CHECK(got.bias == want.bias);
                CHECK(got.scale == want.scale);
                CHECK(got.bias_in_acc == want.bias_in_acc);
                CHECK(got.exact == want.exact);
                CHECK(got.v_bound == want.v_bound);
            }
        }
}

}  // TEST_SUITE
