#pragma once
/// @file depthwise.hpp  Depthwise layers run by qint8's own kernels (kernels/depthwise.hpp),
/// packed once here. NHWC in, NHWC out: oneDNN's int8 convolutions around them read and write
/// NHWC too, so no reorder runs between them.

#include <cstdlib>
#include <memory>

#include "qint8/compile/choice.hpp"
#include "qint8/compile/compiler.hpp"
#include "qint8/compile/int8_plan.hpp"
#include "qint8/io/bias_correction.hpp"

namespace qint8::detail {

/// The candidates for a depthwise layer, the path's default first: "onednn" or one of qint8's
/// kernel variants as "qint8_dw:<variant>". On AVX-512 VNNI paths the four-tap kernel is the
/// default: with its columns kept in registers it beat oneDNN's depthwise (brdgmm) on Zen 5, on
/// every MobileNet-V2 layer shape alone (1.05-2.05x) and on the depthwise layers inside MobileNet-V2
/// and V1 (1.23x and 1.45x; docs/performance.md, "Columns in registers").
/// On AMX, oneDNN's stays first: what was measured there (a Sapphire Rapids and an Emerald Rapids
/// Xeon) is the earlier four-tap kernel, at parity with oneDNN's on whole MobileNets, and the pair
/// kernel, slower. On AVX2 the column kernel is the default (faster than the pair kernel and
/// oneDNN's on MobileNet-V2's depthwise shapes on Zen 3, docs/performance.md), the pair kernel a
/// candidate; qint8's kernel is the default too where nothing was measured. The tuning cache
/// measures every candidate per layer on the user's CPU.
inline std::vector<std::string> dw_candidates(isa path) {
    const auto own = [](kernels::dw_variant v) { return std::string("qint8_dw:") + kernels::to_string(v); };
    const std::string quads = own(kernels::dw_variant::avx512vnni_quads), pairs = own(kernels::dw_variant::avx512vnni);
    if (path == isa::avx512_core_amx) return {"onednn", quads, pairs};
    if (has_int8_dot(path) && path != isa::avx2_vnni) return {quads, "onednn", pairs};
    if (path == isa::avx2 || path == isa::avx2_vnni) return {own(kernels::dw_variant_for(path)), "onednn", own(kernels::dw_variant::avx2)};
    return {own(kernels::dw_variant_for(path)), "onednn"};
}

/// Does qint8's own depthwise kernel take this layer, and which variant (dw_variant_)? It can when
/// the layer is integer in and out, one channel per group, without a residual sum (MobileNets'
/// depthwise layers); whether it does is the tuning's choice (choice.hpp), or
/// QINT8_DEPTHWISE=onednn|qint8 forces it (qint8: the path's widest variant).
inline bool compiler::own_depthwise(const layer& l) {
    if (l.kind != op::depthwise_conv2d || eff_prec(l) != precision::int8) return false;
    const where& w = at_.at(l.inputs[0]);
    const backend::dims& in_d = dims_.at(l.inputs[0]);
    if (w.type == dtype::f32 || !w.q || out_type(l) == dtype::f32 || in_d.size() != 4) return false;
    if (l.groups != in_d[1] || l.out_channels != in_d[1] || l.kernel[0] * l.kernel[1] > kernels::dw_max_taps) return false;
    for (const auto& p : l.post_ops)
        if (p.kind == post_op::sum) return false;
    dw_variant_ = kernels::dw_variant_for(c_.path);
    if (!kernels::dw_variant_runs(dw_variant_, detected_cpu().features)) return false;
    if (const char* e = std::getenv("QINT8_DEPTHWISE"); e && *e) {
        const std::string v(e);
        if (v != "onednn" && v != "qint8")
            fail(errc::invalid_argument, "environment variable QINT8_DEPTHWISE: expected onednn or qint8, found \"" + v + "\"");
        return v == "qint8";
    }
    const std::string sig = layer_signature(l, precision::int8, w.type, out_type(l), in_d, dims_.at(l.name), c_.threads);
    const std::string chosen = choose(l, "depthwise", sig, dw_candidates(c_.path));
    for (kernels::dw_variant v : {kernels::dw_variant::avx2, kernels::dw_variant::avx2_columns, kernels::dw_variant::avx512bw,
                                  kernels::dw_variant::avx512vnni, kernels::dw_variant::avx512vnni_quads})
        if (chosen == std::string("qint8_dw:") + kernels::to_string(v) && kernels::dw_variant_runs(v, detected_cpu().features)) {
            dw_variant_ = v;
            return true;
        }
    return false;
}

/// The kernel's problem description: shapes, signedness, zero points and the fused clamp.
inline kernels::dw_problem dw_problem_of(const layer& l, const backend::dims& in_d, const backend::dims& od, const quant_params& qin,
                                         dtype src_t, dtype dst_t) {
    kernels::dw_problem pr;
    pr.n = in_d[0]; pr.c = in_d[1]; pr.h = in_d[2]; pr.w = in_d[3]; pr.oh = od[2]; pr.ow = od[3];
    pr.kh = static_cast<int>(l.kernel[0]); pr.kw = static_cast<int>(l.kernel[1]);
    pr.sh = static_cast<int>(l.stride[0]); pr.sw = static_cast<int>(l.stride[1]);
    pr.pt = static_cast<int>(l.pad[0]); pr.pl = static_cast<int>(l.pad[1]);
    pr.src_signed = src_t == dtype::s8;
    set_output_stage(pr, l, qin, dst_t);
    return pr;
}

inline void compiler::depthwise(const layer& l) {
    kernel_inputs k;
    kernel_inputs_of(l, k);
    // 8-bit weights: the kernels multiply in int16 pairs summed exactly into int32.
    int8_weights q = layer_codes(*k.t.w, k.t.ws, full_range_qmax, &spare_codes_);
    check_weight_values(l, *k.t.w, q);
    int8_plan p = plan_int8(std::move(q), k.t.b, k.qin.scale, l.act->scale, l.float_bias);
    const std::vector<float> bias = p.bias_as_float();

    auto job = std::make_shared<dw_job>();
    job->variant = dw_variant_;
    job->pr = dw_problem_of(l, k.in_d, k.od, k.qin, k.src.type, k.dst_t);
    const kernels::dw_problem& pr = job->pr;
    job->pk = kernels::dw_pack(p.weights.data(), bias.data(), p.out_scales.data(), pr.c, pr.kh, pr.kw, kernels::dw_block(job->variant),
                               pr.src_zp, pr.src_signed);
    keep_spare(p.weights);

    step s;
    s.kind = step::depthwise;
    const std::string what = std::string("depthwise_conv2d int8 ") + to_string(k.src.type) + "->" + to_string(k.dst_t) + " qint8_dw:" +
                             kernels::to_string(job->variant);
    s.dw = std::move(job);
    add_kernel_step(std::move(s), l, k.src.type, k.qin, k.dst_t, what);
}

}  // namespace qint8::detail
