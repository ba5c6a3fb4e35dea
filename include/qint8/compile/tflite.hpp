#pragma once
/// @file tflite.hpp  The layers of a manifest with "requantization": "tflite" (model_desc::requant):
/// TFLite's integer arithmetic, where the naive reference's TFLite mode applies it
/// (ref/reference.hpp, tflite_stage). A conv / depthwise / fc first forms exact int32
/// accumulators: oneDNN with an s32 destination and no scales where every sum provably stays
/// within 2^24 (oneDNN passes its accumulators through f32, exact up to there), exact_conv.hpp
/// elsewhere. kernels/tflite_requantize.hpp then makes the codes, with TFLite's ADD of a fused
/// residual; average pools and unfused adds run tflite_avg_pool.hpp and tflite_add.hpp.

#include <cstdlib>
#include <memory>

#include "qint8/compile/choice.hpp"
#include "qint8/compile/compiler.hpp"
#include "qint8/compile/conv.hpp"
#include "qint8/detail/quantize_weights.hpp"
#include "qint8/io/bias_correction.hpp"
#include "qint8/ref/tflite_ops.hpp"  // the parameters (multipliers, ranges) as TFLite derives them

namespace qint8::detail {

inline kernels::tfl_mult tfl_mult_of(ref::tflite::multiplier q) { return {q.m, q.shift > 0 ? q.shift : 0, q.shift > 0 ? 0 : -q.shift}; }

/// NHWC for 4D dims, plain for [N, C] (the same bytes as [N, C, 1, 1] channels-last).
inline dnnl::memory::desc channels_last(const backend::dims& d, dtype t) {
    return d.size() == 4 ? dnnl::memory::desc(d, backend::to_dnnl(t), backend::tag::nhwc) : backend::make_desc(d, t, true);
}

inline int64_t product(const backend::dims& d) {
    int64_t n = 1;
    for (int64_t v : d) n *= v;
    return n;
}

/// Per output channel, sum |w|: with 8-bit codes, |acc| <= 256 * sum |w| bounds every partial sum.
inline std::vector<int64_t> channel_abs_sums(const int8_weights& q) {
    const std::size_t o = q.scale.size(), k = q.q.size() / std::max<std::size_t>(1, o);
    std::vector<int64_t> r(o, 0);
    for (std::size_t c = 0; c < o; ++c)
        for (std::size_t i = 0; i < k; ++i) r[c] += std::abs(int(q.q[c * k + i]));
    return r;
}

inline bool compiler::tflite_arith() const { return c_.desc.requant == requantization::tflite && !c_.opt.force_fp32; }

/// Does a conv / depthwise / fc compute TFLite's integers? Where the reference's TFLite mode does:
/// an INT8 layer with an 8-bit output whose post-ops are relu / clip, optionally after a first
/// sum of a rounded branch with an 8-bit residual (TFLite's ADD).
inline bool compiler::tflite_weighted_layer(const layer& l) const {
    if (!tflite_arith() || eff_prec(l) != precision::int8 || !l.act) return false;
    const bool branch = !l.post_ops.empty() && l.post_ops[0].kind == post_op::sum && l.post_ops[0].rounded;
    for (std::size_t i = branch ? 1 : 0; i < l.post_ops.size(); ++i)
        if (l.post_ops[i].kind == post_op::sum) return false;
    return !branch || at_.at(l.post_ops[0].input).type != dtype::f32;
}

/// The output stage's parameters: per channel the int32 bias and the multiplier
/// s_src * s_w[c] / s_conv (s_conv: the rounded branch's scale before an ADD, else the output's),
/// the code's range, and the ADD's parameters.
inline kernels::tfl_output compiler::tflite_output_of(const layer& l, const int8_weights& q, const tensor* b, const quant_params& qin) const {
    namespace tf = ref::tflite;
    const bool branch = !l.post_ops.empty() && l.post_ops[0].kind == post_op::sum && l.post_ops[0].rounded;
    const std::vector<post_op> after(l.post_ops.begin() + (branch ? 1 : 0), l.post_ops.end());
    const quant_params& q_conv = branch ? *l.post_ops[0].rounded : *l.act;
    kernels::tfl_output o;
    o.channels = q.scale.size();
    o.bias = quantize_bias(b, q.scale, qin.scale);
    for (float s_w : q.scale) {
        const kernels::tfl_mult k = tfl_mult_of(tf::conv_multiplier(qin.scale, s_w, q_conv.scale));
        o.m.push_back(k.m);
        o.left.push_back(k.left);
        o.right.push_back(k.right);
    }
    const tf::range r = branch ? tf::type_range(q_conv.type) : tf::activation_range(after, *l.act);
    o.zp = q_conv.zero_point;
    o.lo = r.lo;
    o.hi = r.hi;
    o.dst_signed = l.act->type == dtype::s8;
    if (branch) {
        const where& res = at_.at(l.post_ops[0].input);
        const tf::add_params p = tf::make_add(q_conv, *res.q, *l.act, tf::activation_range(after, *l.act));
        o.add = true;
        o.ap = {tfl_mult_of(p.a), tfl_mult_of(p.b), tfl_mult_of(p.out), p.zp_a, p.zp_b, p.zp_out, p.r.lo, p.r.hi};
        o.res_signed = res.type == dtype::s8;
    }
    // The vector kernels add in int32 without saturating and have no left shifts.
    std::vector<int64_t> max_abs = channel_abs_sums(q);
    for (int64_t& v : max_abs) v *= 256;
    o.vector_ok = kernels::vector_safe(o, max_abs);
    return o;
}

/// Can oneDNN form the layer's accumulators exactly? It converts them to f32 before it writes an
/// s32 destination; every partial sum (codes times weights, the zero-point compensation) is an
/// integer below 256 * sum |w| per channel, exact in f32 up to 2^24.
inline bool onednn_sums_exact(const int8_weights& q) {
    for (int64_t s : channel_abs_sums(q))
        if (256 * s > (int64_t{1} << 24)) return false;
    return true;
}

/// A slot for int32 sums of `md`, a view of the shared arena (acc_arena_).
inline int compiler::acc_slot(const dnnl::memory::desc& md) {
    if (acc_arena_ < 0) acc_arena_ = new_slot(backend::make_desc({1}, dtype::u8, true));  // sized in run()
    acc_arena_bytes_ = std::max(acc_arena_bytes_, md.get_size());
    return new_slot(md, acc_arena_);
}

/// oneDNN's convolution (an fc as one whose kernel covers its input) with an s32 destination,
/// the source zero point and no scales: the accumulators, NHWC. Returns their slot.
inline int compiler::tflite_onednn_sums(const layer& l, const int8_weights& q, const quant_params& qin, std::string& how) {
    const std::string& in = l.inputs[0];
    const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
    const fc_conv_view cv = fc_as_conv(l, true, in_d, false);
    const backend::dims wd = cv.on ? cv.weights : weight_dims(l, in_d);
    const backend::dims acc_d = cv.on ? backend::dims{od[0], od[1], 1, 1} : od;
    const dnnl::memory::desc src_any = cv.on && in_d.size() == 2 ? channels_last(cv.src, qin.type) : backend::make_desc(cv.on ? cv.src : in_d, qin.type, false);
    const dnnl::memory::desc wei_any = backend::make_desc(wd, dtype::s8, false);
    const dnnl::memory::desc bias_md = backend::make_desc({l.out_channels}, dtype::s32, true);
    backend::requant rq;
    rq.out_scales = {1.f};
    rq.src_zp = qin.zero_point;
    const backend::conv_geometry g = l.kind == op::fc ? backend::conv_geometry{{1, 1}, {0, 0}, {0, 0}}
                                                      : backend::conv_geometry{{l.stride[0], l.stride[1]}, {l.pad[0], l.pad[1]}, {l.pad[2], l.pad[3]}};
    backend::made_primitive made = backend::requantizing_conv(c_.eng, src_any, wei_any, bias_md, channels_last(acc_d, dtype::s32), g, rq, {});
    track(made.scratchpad_bytes);
    const int wconst = new_const(backend::pack_weights(c_.eng, compile_stream_, backend::make_desc(wd, dtype::s8, true), q.q.data(), made.weights, c_.const_bytes.take(made.weights.get_size())));
    const std::vector<int32_t> zeros(static_cast<std::size_t>(l.out_channels), 0);
    const int bconst = new_const(bias_md, zeros.data());
    const int src = weighted_src(in, qin.type, made.src, qin, l, cv);
    const int acc = acc_slot(made.dst);
    how = "s32 " + made.impl;
    add_step(made.primitive(),
             {operand::slot(DNNL_ARG_SRC, src), operand::constant(DNNL_ARG_WEIGHTS, wconst), operand::constant(DNNL_ARG_BIAS, bconst),
              operand::slot(DNNL_ARG_DST, acc)},
             l.name, std::string(to_string(l.kind)) + " int8 " + to_string(qin.type) + "->s32 (tflite sums) " + made.impl);
    return acc;
}

/// Bytes of int32 sums per block of a layer run in blocks (tfl_blocks): with the block's source
/// codes and the layer's weights they stay within a core's second-level cache.
constexpr std::size_t tflite_block_bytes = 128 * 1024;

/// Pixels per block where `l` runs in blocks: a 1x1 stride-1 convolution without padding whose
/// sums take at least two blocks; else 0.
inline std::size_t tflite_block_pixels(const layer& l, const backend::dims& od) {
    const bool pointwise = l.kind == op::conv2d && l.groups == 1 && l.kernel == std::array<int64_t, 2>{1, 1} &&
                           l.stride == std::array<int64_t, 2>{1, 1} && l.pad == std::array<int64_t, 4>{0, 0, 0, 0};
    if (!pointwise || od.size() != 4) return 0;
    const auto pixels = static_cast<std::size_t>(od[0] * od[2] * od[3]);
    const std::size_t per = std::max<std::size_t>(16, tflite_block_bytes / (4 * static_cast<std::size_t>(od[1])));
    return pixels >= 2 * per ? per : 0;
}

/// Where a layer can run in blocks, the candidates, the default first: blocks where its sums take
/// 2 MB or more. Measured on Zen 5 (mobilenet_v2_1.0_224_quant.tflite, 1 thread): the 112x112
/// layer of 96 channels (4.8 MB of sums) took 0.39-0.55 ms in blocks against 0.47-1.0 whole; the
/// 56x56 layers of 144 channels (1.8 MB) 0.15-0.23 against 0.14-0.24, where each block's own
/// oneDNN call costs about as much as it saves. The tuning cache decides per CPU.
inline std::vector<std::string> tflite_sums_candidates(const backend::dims& od) {
    const auto bytes = static_cast<std::size_t>(od[0] * od[1] * od[2] * od[3]) * sizeof(int32_t);
    if (bytes >= (std::size_t{2} << 20)) return {"blocks", "whole"};
    return {"whole", "blocks"};
}

/// The block primitive of a layer run in blocks: `pixels` NHWC pixels as a 1 x C x 1 x pixels
/// convolution into int32 sums, the source zero point and no scales.
inline backend::made_primitive compiler::tflite_block_conv(const layer& l, const quant_params& qin, int64_t pixels) {
    const int64_t c = dims_.at(l.inputs[0])[1];
    backend::requant rq;
    rq.out_scales = {1.f};
    rq.src_zp = qin.zero_point;
    const backend::made_primitive made = backend::requantizing_conv(
        c_.eng, channels_last({1, c, 1, pixels}, qin.type), backend::make_desc({l.out_channels, c, 1, 1}, dtype::s8, false),
        backend::make_desc({l.out_channels}, dtype::s32, true), channels_last({1, l.out_channels, 1, pixels}, dtype::s32),
        backend::conv_geometry{{1, 1}, {0, 0}, {0, 0}}, rq, {});
    track(made.scratchpad_bytes);
    return made;
}

/// A 1x1 stride-1 layer's sums a block of `per` pixels at a time (tfl_blocks), into `job`; returns
/// the slot of its NHWC source.
inline int compiler::tflite_blocked_sums(const layer& l, const int8_weights& q, const quant_params& qin, std::size_t per, tflite_job& job,
                                         std::string& how) {
    const std::string& in = l.inputs[0];
    const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
    tfl_blocks& b = job.blocks;
    b.per = per;
    b.pixels = static_cast<std::size_t>(od[0] * od[2] * od[3]);
    b.in_channels = static_cast<std::size_t>(in_d[1]);
    const backend::dims wd{l.out_channels, in_d[1], 1, 1};
    const auto pack = [&](const backend::made_primitive& made) {
        return new_const(backend::pack_weights(c_.eng, compile_stream_, backend::make_desc(wd, dtype::s8, true), q.q.data(), made.weights, c_.const_bytes.take(made.weights.get_size())));
    };
    backend::made_primitive whole = tflite_block_conv(l, qin, static_cast<int64_t>(per));
    b.whole = whole.primitive();
    b.src_whole = whole.src;
    b.acc_whole = whole.dst;
    b.wconst_whole = pack(whole);
    how = whole.impl;
    if (const std::size_t rest = b.pixels % per; rest > 0) {
        backend::made_primitive last = tflite_block_conv(l, qin, static_cast<int64_t>(rest));
        b.last = last.primitive();
        b.src_last = last.src;
        b.acc_last = last.dst;
        b.wconst_last = last.weights == whole.weights ? b.wconst_whole : pack(last);
    }
    const std::vector<int32_t> zeros(static_cast<std::size_t>(l.out_channels), 0);
    b.bconst = new_const(backend::make_desc({l.out_channels}, dtype::s32, true), zeros.data());
    b.acc = acc_slot(whole.dst);
    return need(in, qin.type, channels_last(in_d, qin.type), qin, l.name);
}

/// exact_conv.hpp's accumulators, NHWC; an fc is a convolution whose kernel covers its input.
/// Returns their slot.
inline int compiler::tflite_exact_sums(const layer& l, const int8_weights& q, const quant_params& qin, std::string& how) {
    const std::string& in = l.inputs[0];
    const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
    const bool fc = l.kind == op::fc, four = in_d.size() == 4;
    auto job = std::make_shared<tflite_job>();
    kernels::exact_conv_problem& p = job->conv;
    p.n = in_d[0]; p.c = in_d[1]; p.h = four ? in_d[2] : 1; p.w = four ? in_d[3] : 1;
    p.o = l.out_channels;
    p.groups = fc ? 1 : l.groups;
    p.kh = fc ? p.h : l.kernel[0]; p.kw = fc ? p.w : l.kernel[1];
    p.sh = fc ? 1 : l.stride[0]; p.sw = fc ? 1 : l.stride[1];
    p.pt = fc ? 0 : l.pad[0]; p.pl = fc ? 0 : l.pad[1];
    p.oh = fc ? 1 : od[2]; p.ow = fc ? 1 : od[3];
    p.zp = qin.zero_point;
    p.src_signed = qin.type == dtype::s8;
    // [O][C/G][kh][kw] (the manifest's order; an fc's input is C, H, W) to [O][kh][kw][C/G].
    const int64_t cg = p.c / p.groups, taps = p.kh * p.kw;
    job->weights.resize(q.q.size());
    for (int64_t o = 0; o < p.o; ++o)
        for (int64_t k = 0; k < cg; ++k)
            for (int64_t t = 0; t < taps; ++t) job->weights[std::size_t((o * taps + t) * cg + k)] = q.q[std::size_t((o * cg + k) * taps + t)];
    step s;
    s.kind = step::exact_conv;
    s.src = need(in, qin.type, channels_last(in_d, qin.type), qin, l.name);
    s.dst = acc_slot(channels_last({p.n, p.o, p.oh, p.ow}, dtype::s32));
    s.info = {l.name, std::string(to_string(l.kind)) + " int8 " + to_string(qin.type) + "->s32 (tflite sums) exact_conv: sums may pass 2^24"};
    s.tfl = std::move(job);
    how = "s32 exact_conv";
    c_.steps.push_back(s);
    return s.dst;
}

/// A conv / depthwise / fc in TFLite's arithmetic: accumulators, then the fixed-point output
/// stage (and the ADD of a fused residual) into 8-bit codes, NHWC.
inline void compiler::tflite_weighted(const layer& l) {
    const std::string& in = l.inputs[0];
    const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
    weighted_tensors t;
    int8_tensors_of(l, t);
    quant_params qin = *at_.at(in).q;
    if (qin.type == dtype::s8 && s8_src_as_u8_) qin = quant_params{dtype::u8, qin.scale, qin.zero_point + 128};  // as weighted()
    // The weights as weighted() has them: pairs that fit int16 on paths without VNNI.
    const bool paired = qin.type == dtype::u8 && l.kind != op::depthwise_conv2d && qmax_u8_ < 127;
    int8_weights q = paired ? quantize_weights_paired(*t.w, t.ws, pair_geometry_of(l, in_d, qin), &spare_codes_)
                            : layer_codes(*t.w, t.ws, full_range_qmax, &spare_codes_);
    check_weight_values(l, *t.w, q);

    auto job = std::make_shared<tflite_job>();
    job->isa = kernels::tfl_isa_for(c_.path);
    job->out = tflite_output_of(l, q, t.b, qin);
    const bool fc_view = l.kind != op::fc || fc_as_conv(l, true, in_d, false).on;
    const bool onednn = fc_view && onednn_sums_exact(q);
    std::size_t per = onednn ? tflite_block_pixels(l, od) : 0;
    if (per > 0) {
        const std::string sig = layer_signature(l, precision::int8, qin.type, l.act->type, in_d, od, c_.threads);
        if (choose(l, "tflite sums", sig, tflite_sums_candidates(od)) != "blocks") per = 0;
    }
    step s;
    std::string how;
    if (per > 0) {
        s.kind = step::tflite_blocks;
        s.src = tflite_blocked_sums(l, q, qin, per, *job, how);
    } else {
        s.kind = step::tflite_requant;
        s.src = onednn ? tflite_onednn_sums(l, q, qin, how) : tflite_exact_sums(l, q, qin, how);
        const backend::dims acc_d = od.size() == 4 ? od : backend::dims{od[0], od[1], 1, 1};
        job->pixels = static_cast<std::size_t>(acc_d[0] * acc_d[2] * acc_d[3]);
    }
    const dtype dst_t = l.act->type;
    if (job->out.add) {
        const std::string& r = l.post_ops[0].input;
        const where& rw = at_.at(r);
        s.src2 = need(r, rw.type, channels_last(dims_.at(r), rw.type), rw.q, l.name);
    }
    s.dst = new_slot(channels_last(od, dst_t));
    const char* stage = !job->out.vector_ok ? " (scalar)" : job->isa == kernels::tfl_isa::avx512 ? " (avx512)" : " (avx2)";
    if (per > 0)
        s.info = {l.name, "conv2d int8 " + std::string(to_string(qin.type)) + "->" + to_string(dst_t) + " in blocks of " + std::to_string(per) +
                              " pixels: s32 sums " + how + ", tflite requantize" + (job->out.add ? " + add" : "") + stage};
    else
        s.info = {l.name, std::string("tflite requantize s32->") + to_string(dst_t) + (job->out.add ? " + add" : "") + stage};
    s.tfl = std::move(job);
    c_.steps.push_back(s);
    put(l.name, s.dst, dst_t, l.act);
    keep_spare(q.q);
}

/// An integer average pool (or global average pool) in TFLite's rounding.
inline void compiler::tflite_pool(const layer& l, const backend::dims& kernel, const backend::dims& stride, const backend::dims& pl,
                                  const backend::dims& pr) {
    const std::string& in = l.inputs[0];
    const where w = at_.at(in);
    const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
    auto job = std::make_shared<tflite_job>();
    kernels::tfl_pool& p = job->pool;
    p.n = in_d[0]; p.c = in_d[1]; p.h = in_d[2]; p.w = in_d[3]; p.oh = od[2]; p.ow = od[3];
    p.kh = kernel[0]; p.kw = kernel[1]; p.sh = stride[0]; p.sw = stride[1];
    p.pt = pl[0]; p.pl = pl[1]; p.pb = pr[0]; p.pr = pr[1];
    p.include_pad = l.kind == op::avg_pool2d && l.count_include_pad;
    p.is_signed = w.type == dtype::s8;
    // An s8 tensor stored as u8 (store_s8_as_u8) is averaged as the s8 codes it holds.
    const layer* producer = c_.desc.find_layer(in);
    const std::optional<quant_params>& declared = producer ? producer->act : c_.desc.input.act;
    if (declared && declared->type == dtype::s8 && w.type == dtype::u8) p.offset = 128;
    step s;
    s.kind = step::tflite_avg_pool;
    s.src = need(in, w.type, channels_last(in_d, w.type), w.q, l.name);
    s.dst = new_slot(channels_last(od, w.type));
    s.info = {l.name, std::string(to_string(l.kind)) + " " + to_string(w.type) + " tflite average"};
    s.tfl = std::move(job);
    c_.steps.push_back(s);
    put(l.name, s.dst, w.type, l.act ? l.act : w.q);  // an int pool keeps its input's quantization (pool())
}

/// A residual add the converter did not fuse, as TFLite's ADD of two 8-bit tensors.
inline void compiler::tflite_add(const layer& l) {
    namespace tf = ref::tflite;
    const where a = at_.at(l.inputs[0]), b = at_.at(l.inputs[1]);
    const backend::dims d = dims_.at(l.name);
    auto job = std::make_shared<tflite_job>();
    job->isa = kernels::tfl_isa_for(c_.path);
    const tf::add_params p = tf::make_add(*a.q, *b.q, *l.act, tf::activation_range(l.post_ops, *l.act));
    job->add.p = {tfl_mult_of(p.a), tfl_mult_of(p.b), tfl_mult_of(p.out), p.zp_a, p.zp_b, p.zp_out, p.r.lo, p.r.hi};
    job->add.a_signed = a.type == dtype::s8;
    job->add.b_signed = b.type == dtype::s8;
    job->add.dst_signed = l.act->type == dtype::s8;
    job->add.vector_ok = p.a.shift <= 0 && p.b.shift <= 0 && p.out.shift <= 0 && p.a.shift >= -31 && p.b.shift >= -31 && p.out.shift >= -31;
    job->elems = static_cast<std::size_t>(product(d));
    step s;
    s.kind = step::tflite_add;
    s.src = need(l.inputs[0], a.type, channels_last(d, a.type), a.q, l.name);
    s.src2 = need(l.inputs[1], b.type, channels_last(d, b.type), b.q, l.name);
    s.dst = new_slot(channels_last(d, l.act->type));
    s.info = {l.name, std::string("add ") + to_string(l.act->type) + " tflite"};
    s.tfl = std::move(job);
    c_.steps.push_back(s);
    put(l.name, s.dst, l.act->type, l.act);
}

}  // namespace qint8::detail
