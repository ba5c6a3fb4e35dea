// Requantization given at run time (backend::requant::runtime: the scales as a multiply that is
// the first post-op, the zero points as oneDNN's run-time values), which lets layers of one shape
// share generated code. On every code path oneDNN offers it, a 3x3 convolution gives the bytes of
// the same convolution with the scales and zero points in the primitive, and both give what a
// plain loop computes: (acc + bias) * scale, then the residual sum and ReLU, then the zero point,
// rounded to nearest even and saturated. In a model, the compiler gives that form to the 3x3
// layers whose shape repeats, on the AVX-512 VNNI paths only, and the model still computes the
// reference's integers.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include <map>
#include <string>

#include <qint8/backend/requantizing.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>

#include "support/builder.hpp"
#include "support/compare.hpp"
#include "support/scratch.hpp"
#include "support/small_topology.hpp"

using namespace qint8;

namespace {

/// One requantizing 3x3 convolution, NHWC u8 in and out, stride 1, padding 1.
struct rt_case {
    int64_t c = 0, o = 0, hw = 0;
    backend::requant rq;
    bool relu = false;
    bool sum = false;  ///< dst += sum_scale * (prior dst - sum_zp), before the ReLU
    float sum_scale = 0.75f;  ///< times a small integer, exact: fused or not, the add rounds once
    int32_t sum_zp = 5;
};

/// The naive computation, in the order oneDNN documents for its int8 convolutions.
std::vector<uint8_t> rt_reference(const rt_case& t, const std::vector<uint8_t>& src, const std::vector<int8_t>& w,
                                  const std::vector<int32_t>& bias, const std::vector<uint8_t>& prior) {
    std::vector<uint8_t> out(prior.size());
    for (int64_t y = 0; y < t.hw; ++y)
        for (int64_t x = 0; x < t.hw; ++x)
            for (int64_t oc = 0; oc < t.o; ++oc) {
                int32_t acc = bias[static_cast<std::size_t>(oc)];
                for (int64_t ky = 0; ky < 3; ++ky)
                    for (int64_t kx = 0; kx < 3; ++kx)
                        for (int64_t ic = 0; ic < t.c; ++ic) {
                            const int64_t iy = y + ky - 1, ix = x + kx - 1;
                            // Padding holds the source zero point: it contributes nothing.
                            const int32_t v = (iy < 0 || ix < 0 || iy >= t.hw || ix >= t.hw)
                                                  ? 0
                                                  : int32_t{src[static_cast<std::size_t>((iy * t.hw + ix) * t.c + ic)]} - t.rq.src_zp;
                            acc += v * w[static_cast<std::size_t>(((oc * t.c + ic) * 3 + ky) * 3 + kx)];
                        }
                const std::size_t di = static_cast<std::size_t>((y * t.hw + x) * t.o + oc);
                const float scale = t.rq.out_scales.size() == 1 ? t.rq.out_scales[0] : t.rq.out_scales[static_cast<std::size_t>(oc)];
                float v = static_cast<float>(acc) * scale;
                if (t.sum) v += t.sum_scale * static_cast<float>(int32_t{prior[di]} - t.sum_zp);
                if (t.relu) v = std::max(v, 0.f);
                v += static_cast<float>(t.rq.dst_zp);
                out[di] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, std::nearbyint(v))));
            }
    return out;
}

/// The convolution run by oneDNN with `rq` as given (runtime or not).
std::vector<uint8_t> rt_run(const rt_case& t, const backend::requant& rq, const std::vector<uint8_t>& src, const std::vector<int8_t>& w,
                            const std::vector<int32_t>& bias, const std::vector<uint8_t>& prior) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream st(eng);
    const dnnl::memory::desc src_md({1, t.c, t.hw, t.hw}, dt::u8, tag::nhwc), wei_any({t.o, t.c, 3, 3}, dt::s8, tag::any),
        bias_md({t.o}, dt::s32, tag::x), dst_md({1, t.o, t.hw, t.hw}, dt::u8, tag::nhwc);
    std::vector<backend::fused_op> ops;
    if (t.sum) ops.push_back(backend::fused_op::sum(t.sum_scale, t.sum_zp, dt::u8));
    if (t.relu) ops.push_back(backend::fused_op::relu());
    backend::made_primitive made = backend::requantizing_conv(eng, src_md, wei_any, bias_md, dst_md, backend::conv_geometry{{1, 1}, {1, 1}, {1, 1}}, rq, ops);
    const dnnl::memory::desc plain({t.o, t.c, 3, 3}, dt::s8, tag::abcd);
    dnnl::memory wm = backend::reorder_weights(eng, st, plain, w.data(), made.weights);
    std::vector<uint8_t> s = src, d = prior;
    std::vector<int32_t> b = bias;
    std::vector<uint8_t> scratch(made.scratchpad_bytes + 64);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(made.src, eng, s.data())},
                                               {DNNL_ARG_WEIGHTS, wm},
                                               {DNNL_ARG_BIAS, dnnl::memory(bias_md, eng, b.data())},
                                               {DNNL_ARG_DST, dnnl::memory(made.dst, eng, d.data())},
                                               {DNNL_ARG_SCRATCHPAD, dnnl::memory({{static_cast<int64_t>(scratch.size())}, dt::u8, tag::x}, eng, scratch.data())}};
    const std::vector<backend::runtime_arg> extra = backend::runtime_args(rq);
    CHECK(extra.size() == (rq.runtime ? 1u + (rq.src_zp != 0) + (rq.dst_zp != 0) : 0u));
    for (const backend::runtime_arg& a : extra) args.emplace(a.arg, dnnl::memory(a.desc, eng, const_cast<void*>(a.data)));
    made.primitive().execute(st, args);
    st.wait();
    return d;
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("run-time requantization gives the bytes of constant scales and of the naive loop - 3x3 convolutions") {
    struct variant {
        int64_t c, o, hw;
        int32_t src_zp, dst_zp;
        bool per_channel, relu, sum;
    };
    // Channel counts off every block; zero points present and absent; one scale and per channel.
    const variant variants[] = {{16, 32, 6, 0, 0, true, true, false}, {24, 40, 5, 7, 3, true, false, false},
                                {13, 19, 7, 0, 11, false, true, false}, {32, 48, 4, 2, 0, true, true, true},
                                {64, 64, 8, 0, 4, true, false, true}};
    int n = 0;
    for (const variant& v : variants) {
        CAPTURE(n++);
        rt_case t{v.c, v.o, v.hw, {}, v.relu, v.sum};
        t.rq.src_zp = v.src_zp;
        t.rq.dst_zp = v.dst_zp;
        test::rng r(static_cast<uint32_t>(v.c * 131 + v.o));
        // Scales that spread the results over the u8 range: a sum of c * 9 products of about
        // +-128 x +-36 has a spread of sqrt(c * 9) * 128 * 36 (sums stay below 2^24, where every
        // int32 is a float: the reference's conversion is exact).
        const float base = 64.f / (std::sqrt(static_cast<float>(v.c) * 9.f) * 128.f * 36.f);
        for (int64_t i = 0; i < (v.per_channel ? v.o : 1); ++i) t.rq.out_scales.push_back(base * r.uniform(0.5f, 2.f));
        std::vector<uint8_t> src(static_cast<std::size_t>(v.hw * v.hw * v.c)), prior(static_cast<std::size_t>(v.hw * v.hw * v.o));
        for (auto& x : src) x = static_cast<uint8_t>(r.integer(0, 255));
        for (auto& x : prior) x = static_cast<uint8_t>(r.integer(0, 255));
        std::vector<int8_t> w(static_cast<std::size_t>(v.o * v.c * 9));
        for (auto& x : w) x = static_cast<int8_t>(r.integer(-63, 63));  // pair sums fit int16 on every path
        std::vector<int32_t> bias(static_cast<std::size_t>(v.o));
        for (auto& x : bias) x = r.integer(-2000, 2000);

        const std::vector<uint8_t> want = rt_reference(t, src, w, bias, prior);
        backend::requant constant = t.rq, runtime = t.rq;
        runtime.runtime = true;
        const std::vector<uint8_t> got_constant = rt_run(t, constant, src, w, bias, prior);
        const std::vector<uint8_t> got_runtime = rt_run(t, runtime, src, w, bias, prior);
        CHECK(got_runtime == got_constant);
        CHECK(got_runtime == want);
        // The case is not trivial: outputs spread over the range, not all clamped.
        const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
        CHECK(*hi - *lo > 100);
    }
}

}  // TEST_SUITE

TEST_SUITE("models") {

TEST_CASE("run-time scales go to the repeated 3x3 shapes on the AVX-512 VNNI paths and the model computes the reference") {
    test::small_request r;
    r.calibration_images = 2;
    model_desc m = test::small_topology("resnet50", r, 3);
    validate(m, "resnet50");
    // The 3x3 layers and how often each one's shape (input shape, output channels, stride) occurs.
    std::map<std::string, std::vector<int64_t>> shape_of{{m.input.name, m.input.shape}};
    std::map<std::string, std::string> key_of;
    std::map<std::string, int> repeats;
    for (const layer& l : m.layers) {
        shape_of[l.name] = l.out_shape;
        if (l.kind != op::conv2d || l.kernel[0] != 3 || l.groups != 1) continue;
        std::string k;
        for (int64_t d : shape_of.at(l.inputs[0])) k += std::to_string(d) + ",";
        k += std::to_string(l.out_channels) + "/" + std::to_string(l.stride[0]);
        key_of[l.name] = k;
        ++repeats[k];
    }
    REQUIRE(key_of.size() == 16);  // ResNet50's bottleneck blocks

    test::single_thread one;
    const model net(m, {}, "resnet50");
    const isa path = net.code_path();
    const bool vnni512 = path == isa::avx512_core_vnni || path == isa::avx512_core_bf16;
    int runtime = 0, repeated = 0;
    for (const step_info& s : net.steps()) {
        const bool marked = s.what.find("(run-time scales)") != std::string::npos;
        runtime += marked;
        const auto k = key_of.find(s.layer);
        if (k == key_of.end() || s.what.find("conv2d") == std::string::npos) {
            CHECK_FALSE(marked);  // never a 1x1 layer, a pool or glue
            continue;
        }
        CAPTURE(s.layer);
        CAPTURE(s.what);
        const bool repeats_shape = repeats.at(k->second) > 1;
        repeated += repeats_shape;
        CHECK(marked == (vnni512 && repeats_shape));
    }
    CHECK(repeated == 9 + 4);  // 2 + 3 + 5 + 2 blocks after each stage's first, and layer1's first
    if (vnni512) CHECK(runtime == repeated);
    else {
        CHECK(runtime == 0);
        MESSAGE("skipped: run-time scales are given on the AVX-512 VNNI paths only, this process runs " << std::string(to_string(path)));
    }
    const test::comparison c = test::compare(m, 2, 11, false);
    CHECK(c.max_lsb == 0);
}

}  // TEST_SUITE
