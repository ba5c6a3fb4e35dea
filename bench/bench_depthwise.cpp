// bench_depthwise: GMAC/s of each INT8 depthwise kernel variant this CPU runs and of oneDNN's
// depthwise convolution, on MobileNet-V2's depthwise layers at 224 x 224 (3x3, u8 -> u8, relu6),
// one thread. Candidates run in turn within each round (a shared machine's speed drifts); the
// figures are the median and the best round. Short rounds (one run each by default) keep a
// preempted run (a shared machine takes the core away for milliseconds) out of the median.
//   bench_depthwise [--iterations=1] [--rounds=200]

#include <qint8/backend/requantizing.hpp>
#include <qint8/backend/types.hpp>
#include <qint8/dispatch/cpu_features.hpp>
#include <qint8/dispatch/isa.hpp>
#include <qint8/kernels/depthwise.hpp>

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

/// One depthwise layer of MobileNet-V2: channels, input height = width, stride, how many layers share it.
struct shape {
    int64_t c, hw;
    int stride, count;
};
const shape mobilenet_v2[] = {{32, 112, 1, 1}, {96, 112, 2, 1}, {144, 56, 1, 1}, {144, 56, 2, 1}, {192, 28, 1, 2},
                              {192, 28, 2, 1}, {384, 14, 1, 4}, {576, 14, 1, 2}, {576, 14, 2, 1}, {960, 7, 1, 3}};

/// A layer's data: random u8 activations, s8 weights, int32 bias, requantization factors.
struct layer_data {
    k::dw_problem pr;
    std::vector<uint8_t> src, dst;
    std::vector<int8_t> w;
    std::vector<int32_t> bias;
    std::vector<float> os;
};

layer_data make_layer(const shape& s, std::mt19937& rng) {
    layer_data d;
    k::dw_problem& pr = d.pr;
    pr.c = s.c;
    pr.h = pr.w = s.hw;
    pr.sh = pr.sw = s.stride;
    pr.pt = pr.pl = 1;
    pr.oh = pr.ow = (s.hw + 2 - 3) / s.stride + 1;
    pr.lo = 0.f;
    pr.hi = 6.f / 0.05f;  // relu6 at a destination scale of 0.05
    std::uniform_int_distribution<int> u8(0, 255), s8(-128, 127), b(-20000, 20000);
    d.src.resize(static_cast<std::size_t>(pr.h * pr.w * pr.c));
    for (auto& x : d.src) x = static_cast<uint8_t>(u8(rng));
    d.w.resize(static_cast<std::size_t>(pr.c * 9));
    for (auto& x : d.w) x = static_cast<int8_t>(s8(rng));
    d.bias.resize(static_cast<std::size_t>(pr.c));
    for (auto& x : d.bias) x = b(rng);
    d.os.assign(static_cast<std::size_t>(pr.c), 0.002f);
    d.dst.resize(static_cast<std::size_t>(pr.oh * pr.ow * pr.c));
    return d;
}

/// oneDNN's convolution with groups = channels, as the compiler creates it for a depthwise layer.
qint8::bench::onednn_conv onednn_of(layer_data& d) {
    const k::dw_problem& pr = d.pr;
    be::requant rq;
    rq.out_scales = d.os;
    return qint8::bench::onednn_conv({1, pr.c, pr.h, pr.w}, {1, pr.c, pr.oh, pr.ow}, {pr.c, 1, 1, 3, 3}, {{pr.sh, pr.sw}, {1, 1}, {1, 1}}, rq, pr.lo,
                                     pr.hi, d.src.data(), d.w.data(), d.bias.data(), d.dst.data());
}


void bench_shape(const shape& s, int iterations, int rounds, std::mt19937& rng) {
    layer_data d = make_layer(s, rng);
    std::vector<qint8::bench::kernel_candidate> cands;
    std::vector<k::dw_packed> packs;
    packs.reserve(5);  // the candidates keep pointers into it
    const qint8::cpu_features f = qint8::cpu_info().features;
    for (k::dw_variant v : {k::dw_variant::avx2, k::dw_variant::avx2_columns, k::dw_variant::avx512bw, k::dw_variant::avx512vnni,
                            k::dw_variant::avx512vnni_quads}) {
        if (!k::dw_variant_runs(v, f)) continue;
        packs.push_back(k::dw_pack(d.w.data(), d.bias.data(), d.os.data(), d.pr.c, 3, 3, k::dw_block(v), 0, false));
        const k::dw_packed* pk = &packs.back();
        cands.push_back({std::string("qint8_dw:") + k::to_string(v), [&d, pk, v] { k::depthwise_run(v, d.pr, *pk, d.src.data(), d.dst.data(), 1); }, {}});
    }
    qint8::bench::onednn_conv dnn = onednn_of(d);
    cands.push_back({"onednn:" + dnn.made.impl, [&dnn] { dnn.run(); }, {}});
    qint8::bench::run_rounds(cands, iterations, rounds);
    const double macs = static_cast<double>(d.pr.oh * d.pr.ow * d.pr.c * 9);
    std::printf("c=%-4lld %3lldx%-3lld s%d (x%d)\n", static_cast<long long>(s.c), static_cast<long long>(s.hw), static_cast<long long>(s.hw), s.stride,
                s.count);
    qint8::bench::print_rounds(cands, macs);
}

}  // namespace

int main(int argc, char** argv) {
    return qint8::bench::kernel_bench_main(
        argc, argv, "GMAC/s of qint8's INT8 depthwise kernels and oneDNN's on MobileNet-V2's depthwise layers, 1 thread",
        [](const qint8::cpu_info_t&) { return std::string(); },
        [](int iterations, int rounds) {
            std::mt19937 rng(1);
            for (const shape& s : mobilenet_v2) bench_shape(s, iterations, rounds, rng);
        });
}
