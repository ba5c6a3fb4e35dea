// bench_pointwise: GMAC/s of qint8's AVX2 1x1 kernel (qint8_pw:avx2), its tile variant
// (qint8_pw:avx2_tiles, plain 1x1 layers), its AVX-512 VNNI variant (qint8_pw:avx512vnni, where
// the CPU has it) and oneDNN's convolution on the layers the kernel is a
// candidate for: MobileNet-V2's 1x1 layers, the first layers of MobileNet, VGG and ResNet (run
// over gathered windows), MobileNet-V1's and ResNet50's 1x1 layers, at 224 x 224, u8 -> u8,
// relu6, one thread. Candidates run in turn within each round (a shared
// machine's speed drifts); the figures are the median and the best round.
//   bench_pointwise [--iterations=1] [--rounds=200]

#include <qint8/backend/requantizing.hpp>
#include <qint8/backend/types.hpp>
#include <qint8/dispatch/cpu_features.hpp>
#include <qint8/dispatch/isa.hpp>
#include <qint8/kernels/pointwise_avx2.hpp>
#include <qint8/kernels/pointwise_avx2_tiles.hpp>
#include <qint8/kernels/pointwise_avx512vnni.hpp>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kernel_rounds.hpp"
#include "onednn_conv.hpp"

namespace {

namespace k = qint8::kernels;
namespace be = qint8::backend;

/// One layer: input channels, height = width, output channels, kernel, stride, padding.
struct shape {
    const char* what;
    int64_t c, hw, n;
    int kernel, stride, pad;
};
const shape layers[] = {{"MobileNet-V2 expansion", 16, 112, 96, 1, 1, 0},  {"MobileNet-V2 expansion", 24, 56, 144, 1, 1, 0},
                        {"MobileNet-V2 expansion", 32, 28, 192, 1, 1, 0},  {"MobileNet-V2 expansion", 64, 14, 384, 1, 1, 0},
                        {"MobileNet-V2 expansion", 96, 14, 576, 1, 1, 0},  {"MobileNet-V2 expansion", 160, 7, 960, 1, 1, 0},
                        {"MobileNet-V1 pointwise", 32, 112, 64, 1, 1, 0},  {"MobileNet first layer", 3, 224, 32, 3, 2, 1},
                        {"VGG first layer", 3, 224, 64, 3, 1, 1},          {"ResNet stem", 3, 224, 64, 7, 2, 3},
                        {"MobileNet-V1 pointwise", 64, 56, 128, 1, 1, 0},  {"MobileNet-V1 pointwise", 128, 56, 128, 1, 1, 0},
                        {"MobileNet-V1 pointwise", 128, 28, 256, 1, 1, 0}, {"MobileNet-V1 pointwise", 256, 28, 256, 1, 1, 0},
                        {"MobileNet-V1 pointwise", 256, 14, 512, 1, 1, 0}, {"MobileNet-V1 pointwise", 512, 14, 512, 1, 1, 0},
                        {"MobileNet-V1 pointwise", 512, 7, 1024, 1, 1, 0}, {"MobileNet-V1 pointwise", 1024, 7, 1024, 1, 1, 0},
                        {"MobileNet-V2 projection", 144, 56, 24, 1, 1, 0}, {"MobileNet-V2 projection", 384, 14, 96, 1, 1, 0},
                        {"MobileNet-V2 projection", 960, 7, 160, 1, 1, 0}, {"MobileNet-V2 last 1x1", 320, 7, 1280, 1, 1, 0},
                        {"ResNet50 1x1", 256, 56, 64, 1, 1, 0},            {"ResNet50 1x1", 64, 56, 256, 1, 1, 0},
                        {"ResNet50 1x1", 512, 28, 128, 1, 1, 0},           {"ResNet50 1x1", 1024, 14, 256, 1, 1, 0},
                        {"ResNet50 1x1", 256, 14, 1024, 1, 1, 0},          {"ResNet50 1x1", 512, 7, 2048, 1, 1, 0}};

/// A layer's data: random u8 activations, s8 weights within +-63 (their pairs fit int16 for any
/// u8 input, as the 7-bit search makes them on this path), int32 bias, requantization factors.
struct layer_data {
    shape s;
    int64_t oh = 1;
    k::pw_problem pr;
    k::pw_packed pk, pk_dot;  ///< pk_dot: for the VNNI variant
    std::vector<uint8_t> src, dst;
    std::vector<int8_t> w;  ///< OIHW
    std::vector<int32_t> bias;
    std::vector<float> os;
};

layer_data make_layer(const shape& s, std::mt19937& rng) {
    layer_data d;
    d.s = s;
    d.oh = (s.hw + 2 * s.pad - s.kernel) / s.stride + 1;
    std::uniform_int_distribution<int> u8(0, 255), s8(-63, 63), b(-20000, 20000);
    d.src.resize(static_cast<std::size_t>(s.hw * s.hw * s.c));
    for (auto& x : d.src) x = static_cast<uint8_t>(u8(rng));
    d.w.resize(static_cast<std::size_t>(s.n * s.c * s.kernel * s.kernel));
    for (auto& x : d.w) x = static_cast<int8_t>(s8(rng));
    d.bias.resize(static_cast<std::size_t>(s.n));
    for (auto& x : d.bias) x = b(rng);
    d.os.assign(static_cast<std::size_t>(s.n), 0.002f);
    d.dst.resize(static_cast<std::size_t>(d.oh * d.oh * s.n));
    k::pw_problem& pr = d.pr;
    pr.m = d.oh * d.oh;
    pr.k = s.c;
    pr.n = s.n;
    pr.src_zp = 128;
    pr.lo = 0.f;
    pr.hi = 6.f / 0.05f;  // relu6 at a destination scale of 0.05
    const std::vector<float> bias(d.bias.begin(), d.bias.end());
    if (s.kernel == 1) {
        d.pk = k::pw_pack(d.w.data(), bias.data(), d.os.data(), s.n, s.c, pr.src_zp);
        d.pk_dot = k::pw_pack(d.w.data(), bias.data(), d.os.data(), s.n, s.c, pr.src_zp, 255, true);
        return d;
    }
    k::pw_window& win = pr.window;
    win.on = true;
    win.h = win.w = s.hw;
    win.c = s.c;
    win.kh = win.kw = s.kernel;
    win.sh = win.sw = s.stride;
    win.pt = win.pl = s.pad;
    win.oh = win.ow = d.oh;
    pr.k = k::pw_window_k(win);
    const std::vector<int8_t> gathered = k::pw_window_weights(d.w.data(), s.n, win);
    d.pk = k::pw_pack(gathered.data(), bias.data(), d.os.data(), s.n, pr.k, pr.src_zp);
    d.pk_dot = k::pw_pack(gathered.data(), bias.data(), d.os.data(), s.n, pr.k, pr.src_zp, 255, true);
    return d;
}

/// oneDNN's convolution of the layer, as the compiler creates it.
qint8::bench::onednn_conv onednn_of(layer_data& d) {
    const shape& s = d.s;
    be::requant rq;
    rq.out_scales = d.os;
    rq.src_zp = d.pr.src_zp;
    return qint8::bench::onednn_conv({1, s.c, s.hw, s.hw}, {1, s.n, d.oh, d.oh}, {s.n, s.c, s.kernel, s.kernel},
                                     {{s.stride, s.stride}, {s.pad, s.pad}, {s.pad, s.pad}}, rq, d.pr.lo, d.pr.hi, d.src.data(), d.w.data(),
                                     d.bias.data(), d.dst.data());
}


void bench_shape(const shape& s, int iterations, int rounds, std::mt19937& rng) {
    layer_data d = make_layer(s, rng);
    std::vector<qint8::bench::kernel_candidate> cands;
    if (qint8::cpu_info().features.avx2 && k::pw_supported(d.pr, d.pk))
        cands.push_back({"qint8_pw:avx2", [&d] { k::pointwise_avx2(d.pr, d.pk, d.src.data(), d.dst.data(), 1); }, {}});
    if (qint8::cpu_info().features.avx2 && k::pw_supported(d.pr, d.pk) && !d.pr.window.on)
        cands.push_back({"qint8_pw:avx2_tiles", [&d] { k::pointwise_avx2_tiles(d.pr, d.pk, d.src.data(), d.dst.data(), 1); }, {}});
    const qint8::cpu_features& f = qint8::cpu_info().features;
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512_vnni)
        cands.push_back({"qint8_pw:avx512vnni", [&d] { k::pointwise_avx512vnni(d.pr, d.pk_dot, d.src.data(), d.dst.data(), 1); }, {}});
    qint8::bench::onednn_conv dnn = onednn_of(d);
    cands.push_back({"onednn:" + dnn.made.impl, [&dnn] { dnn.run(); }, {}});
    qint8::bench::run_rounds(cands, iterations, rounds);
    const double macs = static_cast<double>(d.oh * d.oh * s.n * s.c * s.kernel * s.kernel);
    std::printf("%-24s %3lld x %3lldx%-3lld -> %-4lld %dx%d s%d\n", s.what, static_cast<long long>(s.c), static_cast<long long>(s.hw),
                static_cast<long long>(s.hw), static_cast<long long>(s.n), s.kernel, s.kernel, s.stride);
    qint8::bench::print_rounds(cands, macs);
}

}  // namespace

int main(int argc, char** argv) {
    return qint8::bench::kernel_bench_main(
        argc, argv,
        "GMAC/s of qint8's AVX2 1x1 kernel, its tile and AVX-512 VNNI variants and oneDNN's convolution on MobileNet, ResNet50 and VGG 1x1 and first layers, 1 thread",
        [](const qint8::cpu_info_t& ci) { return std::string(ci.features.avx2 ? "" : " (no AVX2: oneDNN only)"); },
        [](int iterations, int rounds) {
            std::mt19937 rng(1);
            for (const shape& s : layers) bench_shape(s, iterations, rounds, rng);
        });
}
