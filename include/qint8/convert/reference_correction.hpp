#pragma once
/// @file reference_correction.hpp  The bias correction of 8-bit weights measured on a machine
/// whose own code path cannot run them exactly (no VNNI: its u8 weights are pair-safe, so its
/// integers differ). The naive reference (qint8/ref/) computes the integers of the VNNI and AMX
/// paths bit for bit; this pass walks it layer by layer over all images at once, so each layer
/// is computed once and corrected before the next one reads it (correct_biases runs the compiled
/// model once per corrected layer instead, which the naive loops could not afford).
///
/// Convolutions and fully connected layers take their accumulators from a matrix product of the
/// integers held in f32 (oneDNN's sgemm over an im2col copy): every product of a u8/s8 code and
/// an 8-bit weight is exact in f32, and so is every partial sum below 2^24 in magnitude. Above
/// that an accumulator may be off by one part in 2^24, which changes a rounded output only at a
/// tie and cannot move a channel mean measurably. The output stage is the reference's own
/// (ref/output_stage.hpp). Depthwise layers, pools and adds run the reference's loops as they are.

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <qint8/convert/bias_correction_step.hpp>
#include <qint8/io/bias_correction.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/ref/reference.hpp>

namespace qint8::convert::detail_conv {

/// A weighted layer's accumulators before its output stage, [N, O, OH, OW] or [N, O].
struct accumulators {
    std::vector<int64_t> dims;
    std::vector<float> v;
};

/// Row-major C[M x N] = A[M x K] * op(B), op(B) = B[K x N] or (transposed_b) B[N x K].
inline void sgemm(int64_t M, int64_t N, int64_t K, const float* a, const float* b, bool transposed_b, float* c) {
    const dnnl_status_t st = dnnl_sgemm('N', transposed_b ? 'T' : 'N', M, N, K, 1.f, a, K, b, transposed_b ? K : N, 0.f, c, N);
    if (st != dnnl_success) qint8::detail::fail(errc::backend, "bias correction (reference): oneDNN sgemm failed with status " + std::to_string(int(st)));
}

/// The layer's weights as f32, [O, K]: the 8-bit codes (INT8) or the real values (FP32).
inline std::vector<float> weights_f32(const ref::detail::weighted_operands& a) {
    std::vector<float> w(a.st.int8 ? a.wt.q.size() : a.wt.real.size());
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = a.st.int8 ? float(a.wt.q[k]) : float(a.wt.real[k]);
    return w;
}

/// Element `k` of the source as the accumulator reads it: the code minus its zero point, or the real value.
inline float source_at(const ref::detail::weighted_operands& a, std::size_t k) { return a.st.int8 ? float(a.src.i[k] - a.zp_src) : a.src.f[k]; }

inline accumulators fc_accumulators(const ref::detail::weighted_operands& a, int64_t out_channels) {
    const int64_t N = a.src.dims[0], K = int64_t(a.src.size()) / N;
    std::vector<float> x(a.src.size());
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = source_at(a, k);
    accumulators r{{N, out_channels}, std::vector<float>(std::size_t(N * out_channels))};
    sgemm(N, out_channels, K, x.data(), weights_f32(a).data(), true, r.v.data());
    return r;
}

/// One image's im2col for group `grp`: rows (ci, ky, kx) in the weights' order, columns the output pixels.
inline void im2col(const ref::detail::weighted_operands& a, const ref::window& g, int64_t n, int64_t grp, int64_t cg, int64_t oh, int64_t ow,
                   std::vector<float>& col) {
    const int64_t C = a.src.dims[1], H = a.src.dims[2], W = a.src.dims[3], P = oh * ow;
    for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t ky = 0; ky < g.kh; ++ky)
            for (int64_t kx = 0; kx < g.kw; ++kx) {
                float* row = col.data() + ((ci * g.kh + ky) * g.kw + kx) * P;
                const std::size_t plane = std::size_t((n * C + grp * cg + ci) * H * W);
                for (int64_t oy = 0; oy < oh; ++oy)
                    for (int64_t ox = 0; ox < ow; ++ox) {
                        const int64_t iy = oy * g.sh - g.pad[0] + ky, ix = ox * g.sw - g.pad[1] + kx;
                        const bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;  // padded taps add 0 (the source is centred)
                        row[oy * ow + ox] = inside ? source_at(a, plane + std::size_t(iy * W + ix)) : 0.f;
                    }
            }
}

inline accumulators conv_accumulators(const ref::detail::weighted_operands& a, const layer& l) {
    const ref::window g = ref::detail::window_of(l);
    const int64_t N = a.src.dims[0], C = a.src.dims[1], O = l.out_channels, G = l.groups;
    const int64_t OH = ref::out_height(a.src.dims[2], g), OW = ref::out_width(a.src.dims[3], g);
    const int64_t CG = C / G, OG = O / G, K = CG * g.kh * g.kw, P = OH * OW;
    const std::vector<float> w = weights_f32(a);
    std::vector<float> col(std::size_t(K * P));
    accumulators r{{N, O, OH, OW}, std::vector<float>(std::size_t(N * O * P))};
    for (int64_t n = 0; n < N; ++n)
        for (int64_t grp = 0; grp < G; ++grp) {
            im2col(a, g, n, grp, CG, OH, OW, col);
            sgemm(OG, P, K, w.data() + grp * OG * K, col.data(), false, r.v.data() + (n * O + grp * OG) * P);
        }
    return r;
}

/// The stored output from the accumulators, through the reference's output stage.
inline ref::value store_all(const accumulators& acc, const ref::output_stage& st) {
    ref::value out = st.make_output(acc.dims);
    const std::size_t O = std::size_t(acc.dims[1]), inner = acc.v.size() / std::size_t(acc.dims[0]) / O;
    for (std::size_t i = 0; i < acc.v.size(); ++i)
        st.store(out, i, int64_t(i / inner % O), st.int8 ? int64_t(std::nearbyint(acc.v[i])) : 0, double(acc.v[i]));
    return out;
}

/// Where each tensor is read last (layer index); the model's output is kept to the end.
inline std::map<std::string, std::size_t> last_reads(const model_desc& m) {
    std::map<std::string, std::size_t> last;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        for (const auto& t : m.layers[i].inputs) last[t] = i;
        for (const auto& p : m.layers[i].post_ops)
            if (p.kind == post_op::sum) last[p.input] = i;
    }
    last[m.output_name()] = m.layers.size();
    return last;
}

/// The most bytes one image holds at once in reference_correction_pass (4 per element of every
/// live tensor, plus a layer's accumulators): what bounds the images it takes.
inline std::size_t reference_bytes_per_image(const model_desc& m) {
    const auto last = last_reads(m);
    const auto elements = [](const std::vector<int64_t>& s) { std::size_t e = 1; for (auto d : s) e *= std::size_t(d); return e; };
    std::map<std::string, std::size_t> live{{m.input.name, elements(m.input.shape)}};
    std::size_t peak = 0;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        const layer& l = m.layers[i];
        live[l.name] = elements(l.out_shape);
        std::size_t sum = elements(l.out_shape);  // the accumulators
        for (const auto& [name, e] : live) sum += e;
        peak = std::max(peak, sum);
        for (auto it = live.begin(); it != live.end();) it = last.count(it->first) && last.at(it->first) <= i ? live.erase(it) : std::next(it);
    }
    return 4 * peak;
}

/// The memory reference_correction_pass may hold for its images' tensors.
constexpr std::size_t reference_correction_bytes = std::size_t(2) << 30;

/// The images reference_correction_pass takes of `n`: as many as reference_correction_bytes
/// holds, in whole batches of `batch` (at least one batch, or `n` when fewer).
inline std::size_t reference_correction_images(const model_desc& m, std::size_t n, std::size_t batch) {
    const std::size_t fit = reference_correction_bytes / std::max<std::size_t>(1, reference_bytes_per_image(m));
    return n <= batch ? n : std::min(n, std::max(batch, fit / batch * batch));
}

/// Layer `l`'s output in the reference, with the corrections in `s.m` as they are now.
inline ref::value reference_layer(const ref::detail::run_state& s, const layer& l) {
    const bool gemm = l.kind == op::conv2d || l.kind == op::fc;
    if (!gemm) return ref::detail::run_layer(s, l);
    const ref::detail::weighted_operands a = ref::detail::weighted_operands_of(s, l, s.t.at(l.inputs[0]));
    return store_all(l.kind == op::fc ? fc_accumulators(a, l.out_channels) : conv_accumulators(a, l), a.st);
}

/// Layer `l`'s output with its 8-bit correction measured first (against the FP32 statistics
/// `want` of its output, over the `n` images) and written into `s.m` and `m`. A conv or fc layer's
/// accumulators are formed once and stored twice, without and with the correction.
inline ref::value corrected_layer(ref::detail::run_state& s, model_desc& d, model_desc& m, const layer& l, const channel_stats& want, std::size_t n) {
    const std::string name = int8_bias_correction_name(l.name);
    const std::size_t C = std::size_t(l.out_channels);
    d.tensors[name] = models::detail::owned_tensor(dtype::f32, {l.out_channels}, std::vector<float>(C, 0.f));
    const bool gemm = l.kind == op::conv2d || l.kind == op::fc;
    accumulators acc;
    if (gemm) {
        const ref::detail::weighted_operands a = ref::detail::weighted_operands_of(s, l, s.t.at(l.inputs[0]));
        acc = l.kind == op::fc ? fc_accumulators(a, l.out_channels) : conv_accumulators(a, l);
    }
    const auto stored = [&] { return gemm ? store_all(acc, ref::detail::weighted_operands_of(s, l, s.t.at(l.inputs[0])).st) : ref::detail::run_layer(s, l); };
    channel_stats got;
    add_output(got, ref::to_real(stored()).f, n, l, l.act.has_value());
    std::vector<float> delta = bias_steps(want, got);
    d.tensors[name] = models::detail::owned_tensor(dtype::f32, {l.out_channels}, std::vector<float>(delta));
    m.tensors[name] = models::detail::owned_tensor(dtype::f32, {l.out_channels}, std::move(delta));
    return stored();
}

/// The 8-bit correction (`int8_bias_correction_name`) of every layer in `targets`, measured in
/// the reference on `n` images against the FP32 statistics `want`, written into `m`: the
/// reference walks the layers once, with all images at once, correcting each target before the
/// next layer reads it, and keeps a tensor only until its last reader. `progress(done, total)`
/// per layer.
inline void reference_correction_pass(model_desc& m, const std::vector<std::string>& targets, const std::map<std::string, channel_stats>& want,
                                      const float* images, std::size_t n, const std::function<void(std::size_t, std::size_t)>& progress) {
    model_desc d = m;
    validate(d, "bias correction (reference)");
    ref::options opt;
    opt.u8_weight_max = 127;  // the 8-bit weights of the VNNI and AMX paths
    ref::detail::run_state s{d, opt, {}, {}};
    const int64_t N = int64_t(n);
    ref::value x = ref::make_value({N, d.input.shape[0], d.input.shape[1], d.input.shape[2]}, false);
    x.f.assign(images, images + x.size());
    s.t[d.input.name] = s.stored_int(d.input.act) ? ref::quantize(x, *d.input.act) : x;
    s.acts[d.input.name] = d.input.act;
    const auto last = last_reads(d);
    for (std::size_t i = 0; i < d.layers.size(); ++i) {
        const layer& l = d.layers[i];
        const bool target = std::find(targets.begin(), targets.end(), l.name) != targets.end();
        ref::value out = target ? corrected_layer(s, d, m, l, want.at(l.name), n) : reference_layer(s, l);
        ref::detail::check_shape(l, out, N);
        s.t[l.name] = std::move(out);
        s.acts[l.name] = l.act;
        for (auto it = s.t.begin(); it != s.t.end();) it = last.count(it->first) && last.at(it->first) <= i ? s.t.erase(it) : std::next(it);
        if (progress) progress(i + 1, d.layers.size());
    }
}

}  // namespace qint8::convert::detail_conv
