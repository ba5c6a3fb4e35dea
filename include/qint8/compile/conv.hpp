#pragma once
/// @file conv.hpp  conv2d, grouped conv2d and fc through oneDNN: scale planning, primitive
/// creation, weight packing and residual wiring, each in its own function.

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>

#include "qint8/backend/chunked_pack.hpp"
#include "qint8/compile/choice.hpp"
#include "qint8/compile/compiler.hpp"
#include "qint8/compile/int8_plan.hpp"
#include "qint8/detail/pair_sums.hpp"
#include "qint8/detail/quantize_weights.hpp"
#include "qint8/io/bias_correction.hpp"

namespace qint8::detail {

/// Where int16 pair sums are possible (no VNNI): one output channel's weight geometry and the
/// largest input code, for quantize_weights_paired.
inline pair_geometry compiler::pair_geometry_of(const layer& l, const backend::dims& in_d, const quant_params& qin) const {
    pair_geometry g;
    g.c = in_d[1] / (l.kind == op::fc ? 1 : l.groups);
    g.kh = l.kind == op::fc ? (in_d.size() == 4 ? in_d[2] : 1) : l.kernel[0];
    g.kw = l.kind == op::fc ? (in_d.size() == 4 ? in_d[3] : 1) : l.kernel[1];
    g.max_code = max_input_code(layers_, l.inputs[0], qin.scale, qin.zero_point);
    return g;
}

/// Does the INT8 convolution `l` take its scales and zero points at run time (backend::requant::
/// runtime), so that it shares oneDNN's generated code with the other layers of its shape? Where
/// that was measured (docs/performance.md, "Code shared by layers of one shape"): 3x3 layers on
/// the AVX-512 VNNI paths, 0-3% slower to run, 0.5-1 ms less to compile for each repeat. So only
/// a layer whose shape repeats takes it. Not 1x1 layers (the multiply as a post-op cost 2-20%
/// there); not the other paths, unmeasured (AMX) or slower (AVX2, AVX-512 without VNNI: 1-6%).
inline bool compiler::runtime_requant(const layer& l) const { return shared_code_.count(l.name) != 0; }

/// The bits of `v`: a key that tells every float apart.
inline uint32_t float_bits(float v) {
    uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    return u;
}

/// Fills shared_code_: the INT8 convolutions that runtime_requant() may give run-time scales (s32
/// bias, no residual sum, a spatial kernel, one group, an AVX-512 VNNI path) whose shape, types,
/// zero points present and fused clip bounds another such layer repeats: what oneDNN's primitive
/// cache keys on once the scales are out of the primitive. A layer matched here that still gets
/// code of its own (another layout or implementation chosen) is only slower by the post-op.
inline void compiler::plan_shared_code() {
    if (!(c_.path == isa::avx512_core_vnni || c_.path == isa::avx512_core_bf16) || c_.opt.force_fp32) return;
    std::map<std::string, const std::vector<int64_t>*> shapes{{c_.desc.input.name, &c_.desc.input.shape}};
    std::map<std::string, const std::optional<quant_params>*> acts{{c_.desc.input.name, &c_.desc.input.act}};
    std::map<std::string, std::vector<std::string>> by_key;
    const auto q = [](const std::optional<quant_params>& a) {
        return std::to_string(static_cast<int>(a->type)) + (a->zero_point != 0 ? "z" : "") + ";";  // a zero point or none
    };
    for (const layer& l : layers_) {
        shapes[l.name] = &l.out_shape;
        acts[l.name] = &l.act;
        const bool eligible = l.kind == op::conv2d && l.groups == 1 && l.kernel[0] * l.kernel[1] > 1 && !l.float_bias &&
                              l.prec == precision::int8 && l.act && *acts.at(l.inputs[0]);
        if (!eligible) continue;
        std::string key = q(*acts.at(l.inputs[0])) + q(l.act);
        for (int64_t d : *shapes.at(l.inputs[0])) key += std::to_string(d) + ",";
        for (int64_t d : {l.out_channels, l.kernel[0], l.kernel[1], l.stride[0], l.stride[1], l.pad[0], l.pad[1], l.pad[2], l.pad[3]})
            key += std::to_string(d) + ",";
        bool sum = false;
        for (const post_op& p : l.post_ops) {
            sum = sum || p.kind == post_op::sum;
            // The clip's bounds as fused_ops() gives them to oneDNN, in the output's units, exactly.
            const auto bits = [&](float v) { return std::to_string(float_bits(v * (1.f / l.act->scale))); };
            key += p.kind == post_op::clip ? "c" + bits(p.lo) + ":" + bits(p.hi) + ";" : "r;";
        }
        if (!sum) by_key[key].push_back(l.name);
    }
    for (const auto& [key, names] : by_key)
        if (names.size() > 1) shared_code_.insert(names.begin(), names.end());
}

/// The residuals of `l`'s sum post-ops and how the destination buffer reads each.
inline std::vector<compiler::residual_sum> compiler::plan_residuals(const layer& l, dtype dst_t) const {
    std::vector<residual_sum> sums;
    for (const auto& p : l.post_ops) {
        if (p.kind != post_op::sum) continue;
        const where& r = at_.at(p.input);
        if (dst_t == dtype::f32) sums.push_back({p.input, 1.f, 0, dtype::f32});
        // Same byte size: the output buffer is read as the residual's own type and scale.
        else if (r.type != dtype::f32) sums.push_back({p.input, r.q->scale / l.act->scale, r.q->zero_point, r.type});
        else sums.push_back({p.input, 1.f, l.act->zero_point, dst_t});
    }
    return sums;
}

/// Copies each residual into the destination buffer (through an alias slot of the residual's
/// read type) before the layer's primitive runs and adds to it.
inline void compiler::wire_residuals(const layer& l, int dst, const dnnl::memory::desc& dst_md, const std::vector<residual_sum>& sums) {
    for (const residual_sum& s : sums) {
        const int alias = new_slot(backend::with_type(dst_md, s.read_as), dst);
        const where r = at_.at(s.tensor);
        float scale = 1.f;
        int32_t szp = 0, dzp = 0;
        if (r.type != dtype::f32 && s.read_as == dtype::f32) { scale = r.q->scale; szp = r.q->zero_point; }
        if (r.type == dtype::f32 && s.read_as != dtype::f32) { scale = 1.f / l.act->scale; dzp = l.act->zero_point; }
        reorder(r.slot, alias, scale, szp, dzp, l.name);
    }
}

/// Is `tensor` read by a layer after `l`, or is it the model's output?
inline bool compiler::read_after(const std::string& tensor, const layer& l) const {
    if (tensor == c_.desc.output_name()) return true;
    const std::ptrdiff_t at = &l - layers_.data();
    auto it = consumers_.find(tensor);
    if (it == consumers_.end()) return false;
    for (const layer* r : it->second)
        if (r - layers_.data() > at) return true;
    return false;
}

/// The slot of a residual whose buffer `l` can write its result into and add to in place, or -1.
/// That takes one residual, stored as the sum reads it (same type, same layout: the copy would
/// be plain), read by nothing after `l`, not the model's input, and a compilation that need not
/// keep every tensor readable. It saves the copy of the residual on every inference.
inline int compiler::in_place_residual(const layer& l, const dnnl::memory::desc& dst_md, const std::vector<residual_sum>& sums) {
    if (c_.opt.keep_intermediates || sums.size() != 1) return -1;
    const residual_sum& s = sums[0];
    const where& r = at_.at(s.tensor);
    if (r.type != s.read_as || r.slot == c_.input_slot || read_after(s.tensor, l)) return -1;
    if (!(c_.slots[static_cast<std::size_t>(r.slot)].md == backend::with_type(dst_md, s.read_as))) return -1;
    at_.at(s.tensor).overwritten_by = l.name;
    return r.slot;
}

/// `made`, or the same primitive reading its input in the layout that input already has, when
/// oneDNN offers the same implementation for it: no reorder before the layer on every run (the
/// FP32 classifier after a pool in a blocked layout). Only a layout can differ: a conversion of
/// type or quantization stays a reorder. Without exceptions the alternative is not tried (a
/// refusal would abort).
template <class Make>
backend::made_primitive compiler::in_input_layout(backend::made_primitive made, const std::string& in, dtype src_t, const std::optional<quant_params>& q,
                                                  const Make& make) const {
    const where& w = at_.at(in);
    const dnnl::memory::desc& have = c_.slots[static_cast<std::size_t>(w.slot)].md;
    if (!same_values(w, src_t, q) || made.src == have) return made;
#if QINT8_EXCEPTIONS
    try {
        backend::made_primitive alt = make(have);
        if (alt.impl == made.impl) {
            alt.primitive();  // created here, where oneDNN's refusal falls back to `made`
            return alt;
        }
    } catch (const dnnl::error&) {
    }
#else
    (void)make;
#endif
    return made;
}

/// The weights' dims as the primitive sees them: [O, C(, H, W)] for fc, OIHW, or GOIHW for groups.
inline backend::dims weight_dims(const layer& l, const backend::dims& in_d) {
    const int64_t o = l.out_channels;
    if (l.kind == op::fc) {
        backend::dims wd{o};
        wd.insert(wd.end(), in_d.begin() + 1, in_d.end());
        return wd;
    }
    if (l.groups == 1) return {o, in_d[1], l.kernel[0], l.kernel[1]};
    return {l.groups, o / l.groups, in_d[1] / l.groups, l.kernel[0], l.kernel[1]};
}

/// The requantization of an INT8 conv/fc layer reading `qin`, with the output scales `out_scales`.
inline backend::requant compiler::int8_requant(const layer& l, const quant_params& qin, dtype dst_t, bool split_zp, bool ip,
                                               std::vector<float> out_scales) const {
    backend::requant rq;
    if (!ip) rq.src_zp = qin.zero_point;
    rq.out_scales = std::move(out_scales);
    if (dst_t != dtype::f32 && !split_zp) rq.dst_zp = l.act->zero_point;
    return rq;
}

/// Weights, bias and requantization of an INT8 conv/fc layer reading `qin`; `ip`: run by an
/// inner product, which reads no source zero point (it is folded into the bias instead).
/// `chunks`: where the codes go instead of layer_params::wq (which is then empty), unless they
/// are the file's, read in place; never for an inner product that folds a source zero point
/// (it sums the codes).
inline compiler::layer_params compiler::int8_params(const layer& l, const tensor& w, const tensor* ws, const tensor* b,
                                                    const backend::dims& in_d, const quant_params& qin, dtype dst_t, bool split_zp, bool ip,
                                                    const code_chunks* chunks) {
    // Depthwise kernels widen every product to int32 (no int16 pair sums), so they keep full
    // 8-bit weights on every path; see dispatch/isa.hpp. VNNI and AMX accumulate u8 x s8 in
    // int32 exactly: the file's s8 codes are kept, -128 included.
    const bool paired = qin.type == dtype::u8 && l.kind != op::depthwise_conv2d && qmax_u8_ < 127;
    if (ip && qin.zero_point != 0) chunks = nullptr;
    int8_weights q = paired ? quantize_weights_paired(w, ws, pair_geometry_of(l, in_d, qin), &spare_codes_, chunks)
                            : layer_codes(w, ws, full_range_qmax, &spare_codes_, chunks);
    check_weight_values(l, w, q);
    int8_plan p = plan_int8(std::move(q), b, qin.scale, stage_scale(l, dst_t), l.float_bias);
    layer_params r;
    if (ip) fold_source_zero_point(p, qin.zero_point);
    r.rq = int8_requant(l, qin, dst_t, split_zp, ip, std::move(p.out_scales));
    r.wq = std::move(p.weights);
    r.b32 = std::move(p.bias);
    r.bf = std::move(p.bias_f);  // float_bias: oneDNN takes it as an f32 bias in accumulator units
    return r;
}

/// Real weights and bias of an FP32 conv/fc layer: f32 weights are packed from where they lie
/// (VGG16's 553 MB were copied into fresh memory first), s8 ones dequantized into `wf`.
inline compiler::layer_params compiler::fp32_params(const layer& l, const tensor& w, const tensor* ws, const tensor* b) const {
    layer_params r;
    if (w.type == dtype::f32 && reinterpret_cast<std::uintptr_t>(w.data) % alignof(float) == 0) r.wf_in_place = w.data;
    else r.wf = real_weights(w, ws);
    r.bf.assign(static_cast<std::size_t>(l.out_channels), 0.f);
    if (b) for (std::size_t c = 0; c < r.bf.size(); ++c) r.bf[c] = load_f32(b->data, c);
    return r;
}

/// An INT8 fc runs as a convolution whose kernel covers its whole input (1x1 on one pixel per
/// image or on a [N, C] input, 7x7 on VGG's pooled 7x7): on the avx2 path oneDNN's int8 inner
/// product at batch 1 is a gemm at 2-9 GMAC/s, its convolution ran the MobileNet-V2
/// classifier 3.3x faster (0.066 against 0.215 ms). Same integers: the convolution subtracts
/// the source zero point where the inner product had it folded into the bias
/// (fold_source_zero_point), and both sums are exact. Its output [N, O, 1, 1] channels-last has
/// the bytes of the fc's plain [N, O].
struct fc_conv_view {
    bool on = false;
    backend::dims src, weights;  ///< [N, C, H, W] and [O, C, H, W]
};

/// The candidates for an INT8 fc, the path's default first. As a convolution (measured faster on
/// AVX2, 3.3x on MobileNet-V2's classifier), except on paths that sum u8 x s8 in int32 (VNNI,
/// AMX) for an fc over a spatial input (VGG's 512x7x7 -> 4096): there oneDNN's inner product
/// was faster on every CPU measured (3.90 against 5.05 ms on Zen 5; 6.4-6.5 against 8.8 ms on a
/// Sapphire Rapids Xeon, AMX and VNNI paths), while on [N, C] inputs the two are within a few
/// percent either way. Not where the output has a zero point: the inner product then needs a
/// reorder to add it (split_zp).
inline std::vector<std::string> fc_candidates(isa path, const backend::dims& in_d, const layer& l) {
    const bool spatial = in_d.size() == 4 && in_d[2] * in_d[3] > 1;
    const bool no_dst_zp = !l.act || l.act->zero_point == 0;
    if (has_int8_dot(path) && path != isa::avx2_vnni && spatial && no_dst_zp) return {"inner_product", "conv"};
    return {"conv", "inner_product"};
}

inline fc_conv_view fc_as_conv(const layer& l, bool i8, const backend::dims& in_d, bool has_sums) {
    if (l.kind != op::fc || !i8 || has_sums || (in_d.size() != 4 && in_d.size() != 2)) return {};
    const backend::dims src = in_d.size() == 4 ? in_d : backend::dims{in_d[0], in_d[1], 1, 1};
    return {true, src, {l.out_channels, src[1], src[2], src[3]}};
}

/// The slot the primitive reads: `in` converted as `want` asks, or for an fc run as a
/// convolution on a [N, C] tensor, a [N, C, 1, 1] channels-last view of its plain bytes.
inline int compiler::weighted_src(const std::string& in, dtype src_t, const dnnl::memory::desc& want, const std::optional<quant_params>& q,
                                  const layer& l, const fc_conv_view& cv) {
    if (!cv.on || dims_.at(in).size() == 4) return need(in, src_t, want, q, l.name);
    const int flat = need(in, src_t, backend::make_desc(dims_.at(in), src_t, true), q, l.name);
    return new_slot(want, flat);
}

/// Records where layer `l`'s result is: the primitive's destination `dst`, viewed as [N, O] for
/// an fc run as a convolution, or requantized by a reorder that adds the zero point (split_zp).
inline void compiler::put_weighted(const layer& l, int dst, const dnnl::memory::desc& dst_md, dtype dst_t, bool as_conv, bool split_zp) {
    if (as_conv) {
        put(l.name, new_slot(backend::make_desc(dims_.at(l.name), dst_t, true), dst), dst_t, l.act);
    } else if (split_zp) {
        const int q = new_slot(backend::with_type(dst_md, dst_t));
        reorder(dst, q, 1.f, 0, l.act->zero_point, l.name);
        put(l.name, q, dst_t, l.act);
    } else {
        put(l.name, dst, dst_t, l.act);
    }
}

/// INT8 weights of this many codes or more are packed chunk by chunk (backend/chunked_pack.hpp):
/// VGG's classifier layers (103 and 17 MB), none of the MobileNets' or ResNets' (2.4 MB at
/// most), for which the extra primitive descriptor that tells the layout would cost more than
/// the memory saves. The tests lower it to pack every layer so.
inline std::size_t chunked_pack_from_bytes = std::size_t{8} << 20;
/// About how many bytes of codes one chunk holds: a size that stays in a core's L2 cache.
inline std::size_t chunked_pack_bytes = std::size_t{512} << 10;

/// Sets `cw` up for an INT8 layer's weights `w` (dims `wd`) large enough to be packed chunk by
/// chunk (chunked_pack_from_bytes) into the layout `guess()` gives, where that layout allows it;
/// otherwise leaves it off. The quantization's chunks are of output channels, so the layout's
/// first dimension must be them: a grouped convolution's is the group ([G, O/G, ...]), and it is
/// packed whole. `cw` must stay where it is: its chunks feed its own packer.
template <class Guess>
void compiler::chunk_large_weights(chunked_weights& cw, const tensor& w, const backend::dims& wd, const Guess& guess) {
    const int64_t o = w.shape[0];
    if (w.elements() < chunked_pack_from_bytes || wd[0] != o) return;
    const dnnl::memory::desc packed = guess();
    if (!backend::chunkable(packed) || packed.data.dims[0] != o || packed.data.ndims != static_cast<int>(wd.size())) return;
    cw.packer.emplace(c_.eng, backend::make_desc(wd, dtype::s8, true), packed, [this](std::size_t n) { return c_.const_bytes.take(n); });
    cw.chunks.channels = static_cast<std::size_t>(cw.packer->channels_for(chunked_pack_bytes, w.elements() / static_cast<std::size_t>(o)));
    cw.chunks.put = [this, &cw](std::size_t first, std::size_t n, const int8_t* codes) { cw.packer->put(compile_stream_, first, n, codes); };
}

/// The weights packed chunk by chunk, in the layout the primitive chose: the guessed one (always
/// so far), or else converted to it by a reorder (another copy, in memory of its own).
inline dnnl::memory compiler::chunked_result(const backend::chunked_packer& p, const dnnl::memory::desc& want) {
    const dnnl::memory& got = p.result();
    if (got.get_desc() == want) return got;
    return backend::pack_weights(c_.eng, compile_stream_, got.get_desc(), got.get_data_handle(), want, c_.const_bytes.take(want.get_size()));
}

/// A layer's weights (`lp`, dims `wd`) packed once into the layout `packed` the primitive chose.
inline dnnl::memory compiler::packed_weights(const layer_params& lp, bool i8, const backend::dims& wd, const dnnl::memory::desc& packed) {
    const void* data = i8 ? static_cast<const void*>(lp.wq.data()) : lp.wf_in_place ? lp.wf_in_place : static_cast<const void*>(lp.wf.data());
    return backend::pack_weights(c_.eng, compile_stream_, backend::make_desc(wd, i8 ? dtype::s8 : dtype::f32, true), data, packed,
                                 c_.const_bytes.take(packed.get_size()));
}

inline void compiler::weighted(const layer& l) {
    if (tflite_weighted_layer(l)) return tflite_weighted(l);
    if (own_depthwise(l)) return depthwise(l);
    if (own_pointwise(l) && pointwise(l)) return;
    const model_desc& m = c_.desc;
    const bool i8 = eff_prec(l) == precision::int8, is_fc = l.kind == op::fc;
    const std::string& in = l.inputs[0];
    const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
    const tensor& w = m.tensors.at(l.name + ".weight");
    const tensor* ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
    const tensor* b = m.tensors.count(l.name + ".bias") ? &m.tensors.at(l.name + ".bias") : nullptr;
    const int64_t o = l.out_channels;
    tensor corrected_bias;
    if (i8) b = int8_bias(m, l.name, b, o, corrected_bias, qmax_u8_ < 127);  // the converter's INT8-only bias correction

    const std::optional<quant_params> qin = weighted_qin(in, i8);
    const dtype src_t = i8 ? qin->type : dtype::f32, dst_t = out_type(l);
    const std::vector<residual_sum> sums = plan_residuals(l, dst_t);
    fc_conv_view cv = fc_as_conv(l, i8, in_d, !sums.empty());
    // The tuning may measure otherwise, except for an unrounded bias, which the inner product
    // would have to fold the source zero point into in float (fold_source_zero_point): the
    // convolution keeps the reference's sums.
    const std::string sig = layer_signature(l, eff_prec(l), src_t, dst_t, in_d, od, c_.threads);
    if (cv.on && !l.float_bias && choose(l, "fc", sig, fc_candidates(c_.path, in_d, l)) != "conv") cv = {};
    const bool ip = is_fc && !cv.on;
    // oneDNN 2.6's inner product has no destination zero point: compute in f32 (already in
    // destination units) and let a reorder add the zero point and round, which is the same
    // arithmetic in the same order.
    const bool split_zp = ip && dst_t != dtype::f32 && l.act->zero_point != 0;
    if (split_zp && !sums.empty())
        fail(errc::unsupported, origin_ + ": layer '" + l.name + "': fc with a residual sum and an output zero point is not supported");
    const dtype prim_dst_t = split_zp ? dtype::f32 : dst_t;
    const backend::dims wd = cv.on ? cv.weights : weight_dims(l, in_d);

    layer_params lp;
    const auto nhwc = [](const backend::dims& d, dtype t) { return dnnl::memory::desc(d, backend::to_dnnl(t), backend::tag::nhwc); };
    const dnnl::memory::desc src_any = !cv.on ? backend::make_desc(in_d, src_t, false) : in_d.size() == 2 ? nhwc(cv.src, src_t) : backend::make_desc(cv.src, src_t, false);
    const dnnl::memory::desc dst_any = cv.on ? nhwc({od[0], od[1], 1, 1}, prim_dst_t) : backend::make_desc(od, prim_dst_t, false);
    const dnnl::memory::desc wei_any = backend::make_desc(wd, i8 ? dtype::s8 : dtype::f32, false);
    const bool s32_bias = i8 && !l.float_bias;
    const dnnl::memory::desc bias_md = backend::make_desc({o}, s32_bias ? dtype::s32 : dtype::f32, true);
    const std::vector<backend::fused_op> ops = fused_ops(l, dst_t, sums);
    const backend::conv_geometry g = is_fc ? backend::conv_geometry{{1, 1}, {0, 0}, {0, 0}}
                                           : backend::conv_geometry{{l.stride[0], l.stride[1]}, {l.pad[0], l.pad[1]}, {l.pad[2], l.pad[3]}};
    const auto make_with = [&](const dnnl::memory::desc& src_md, const backend::requant& rq) {
        if (ip) return backend::requantizing_ip(c_.eng, src_md, i8 ? wei_any : ip_weights(src_md, wei_any, bias_md, dst_any, rq, ops), bias_md, dst_any, rq, ops);
        return backend::requantizing_conv(c_.eng, src_md, wei_any, bias_md, dst_any, g, rq, ops);
    };
    const auto make = [&](const dnnl::memory::desc& src_md) { return make_with(src_md, lp.rq); };
    chunked_weights cw;
    // The layout the primitive will choose for the weights, from one made with unit scales
    // (scales do not choose it): large weights are packed into it as they are quantized.
    if (i8) chunk_large_weights(cw, w, wd, [&] { return make_with(src_any, int8_requant(l, *qin, dst_t, split_zp, ip, std::vector<float>(static_cast<std::size_t>(o), 1.f))).weights; });
    lp = i8 ? int8_params(l, w, ws, b, in_d, *qin, dst_t, split_zp, ip, cw.packer ? &cw.chunks : nullptr) : fp32_params(l, w, ws, b);
    if (i8 && !ip && !cv.on && runtime_requant(l)) {  // where oneDNN offers it for these types
        backend::requant rt = lp.rq;
        rt.runtime = true;
        lp.rq.runtime = backend::requantizing_conv_offered(c_.eng, src_any, wei_any, bias_md, dst_any, g, rt, ops);
    }
    backend::made_primitive made = cv.on && in_d.size() == 2 ? make(src_any) : in_input_layout(make(src_any), in, src_t, qin, make);
    if (!ip && l.kind == op::conv2d && impl_choices()) made = chosen_impl(l, sig, std::move(made), wei_any, bias_md, g, lp.rq, ops, i8);
    track(made.scratchpad_bytes);

    const bool in_chunks = cw.packer && cw.packer->started();
    const int wconst = new_const(in_chunks ? chunked_result(*cw.packer, made.weights) : packed_weights(lp, i8, wd, made.weights));
    const int bconst = s32_bias ? new_const(bias_md, lp.b32.data()) : new_const(bias_md, lp.bf.data());
    if (i8) keep_spare(lp.wq);

    const int src = weighted_src(in, src_t, made.src, qin, l, cv);
    const int in_place = in_place_residual(l, made.dst, sums);
    const int dst = new_slot(made.dst, in_place);
    if (in_place < 0) wire_residuals(l, dst, made.dst, sums);
    add_weighted_step(l, made, {src, dst, wconst, bconst}, lp.rq,
                      std::string(to_string(l.kind)) + " " + to_string(eff_prec(l)) + " " + to_string(src_t) + "->" + to_string(prim_dst_t) + " " +
                          (cv.on ? "as conv " : "") + made.impl + (in_chunks ? " (weights packed in chunks)" : "") +
                          (lp.rq.runtime ? " (run-time scales)" : ""));
    if (ip && !i8) c_.steps.back().by_count = fewer_images(made, bias_md, lp.rq, ops);
    put_weighted(l, dst, made.dst, dst_t, cv.on, split_zp);
}

/// The quantization a weighted layer reads tensor `in` with (none in FP32).
inline std::optional<quant_params> compiler::weighted_qin(const std::string& in, bool i8) const {
    std::optional<quant_params> qin = at_.at(in).q;
    if (i8 && qin->type == dtype::s8 && s8_src_as_u8_) {
        // Without AVX-512 VNNI, oneDNN's s8 x s8 path may halve the weights (its scale_adjust); on
        // avx2_vnni that is not documented either way, so it is avoided there too. An s8
        // activation with zero point z is exactly a u8 activation with zero point z + 128.
        qin = quant_params{dtype::u8, qin->scale, qin->zero_point + 128};
    }
    return qin;
}

/// oneDNN's implementation of a convolution: its first choice (`made`), or one the tuning
/// measured faster, among those that use the same layouts (oneDNN lists them only for fixed
/// layouts).
inline backend::made_primitive compiler::chosen_impl(const layer& l, const std::string& sig, backend::made_primitive made,
                                                     const dnnl::memory::desc& wei_any, const dnnl::memory::desc& bias_md,
                                                     const backend::conv_geometry& g, const backend::requant& rq,
                                                     const std::vector<backend::fused_op>& ops, bool i8) {
    std::vector<std::string> impls = backend::conv_impls(c_.eng, made.src, wei_any, bias_md, made.dst, g, rq, ops);
    // With 8-bit weights only kernels that sum u8 x s8 products in int32 are exact: those of
    // oneDNN's AVX2 and SSE4.1 kernels sum pairs into int16 (vpmaddubsw) and saturate
    // (tests/test_tuning.cpp caught it). 7-bit paths chose weights whose pair sums fit.
    if (i8 && qmax_u8_ == 127)
        impls.erase(std::remove_if(impls.begin() + 1, impls.end(),
                                   [](const std::string& n) { return n.find("vnni") == std::string::npos && n.find("amx") == std::string::npos; }),
                    impls.end());
    if (impls.size() < 2) return made;
    const std::string impl = choose(l, "impl", sig, impls);
    if (impl == made.impl) return made;
    return backend::requantizing_conv(c_.eng, made.src, wei_any, bias_md, made.dst, g, rq, ops, impl);
}

/// A weighted layer's step: its source and destination slots, its packed weights and bias, and
/// the constants of a run-time requantization (backend::runtime_args).
inline void compiler::add_weighted_step(const layer& l, backend::made_primitive& made, const weighted_operands& at, const backend::requant& rq,
                                        std::string what) {
    std::vector<operand> args{operand::slot(DNNL_ARG_SRC, at.src), operand::constant(DNNL_ARG_WEIGHTS, at.weights),
                              operand::constant(DNNL_ARG_BIAS, at.bias), operand::slot(DNNL_ARG_DST, at.dst)};
    for (const backend::runtime_arg& a : backend::runtime_args(rq)) args.push_back(operand::constant(a.arg, new_const(a.desc, a.data)));
    add_step(made.primitive(), std::move(args), l.name, std::move(what));
}

/// The weights layout of an FP32 inner product: oneDNN's choice for a batch of two or more at
/// every batch. On gemm it stores the weights transposed for a batch of two or more, plain for
/// one, and the two sum in different orders: a model compiled for one image would then differ in
/// the last bits from a larger batch's first row (and fewer_images() could not share its weights).
inline dnnl::memory::desc compiler::ip_weights(const dnnl::memory::desc& src, const dnnl::memory::desc& wei_any, const dnnl::memory::desc& bias_md,
                                               const dnnl::memory::desc& dst, const backend::requant& rq,
                                               const std::vector<backend::fused_op>& ops) const {
    if (c_.opt.batch != 1) return wei_any;
    const auto src2 = backend::with_batch(src, 2), dst2 = backend::with_batch(dst, 2);
    if (!src2 || !dst2) return wei_any;
    const backend::made_primitive two = backend::requantizing_ip(c_.eng, *src2, wei_any, bias_md, *dst2, rq, ops);
    return backend::on_gemm(two.impl) ? two.weights : wei_any;
}

/// An FP32 inner product on oneDNN's gemm for each image count below the batch (program.hpp's
/// step::by_count): gemm picks its blocking, and with it the order of the sums, by the number of
/// rows, so the full-batch primitive's first n rows differ in the last bits from those of a model
/// compiled for n images (seen on the avx2 path). The other implementations, and INT8 (exact
/// sums), give equal rows at any batch. The weights keep their one packed copy: each variant is
/// asked for the same layout, and is left out (the full batch runs) if it would want another.
inline std::vector<dnnl::primitive> compiler::fewer_images(const backend::made_primitive& made, const dnnl::memory::desc& bias_md,
                                                           const backend::requant& rq, const std::vector<backend::fused_op>& ops) {
    std::vector<dnnl::primitive> r;
    if (!backend::on_gemm(made.impl)) return r;
    for (int64_t n = 1; n < c_.opt.batch; ++n) {
        const auto src = backend::with_batch(made.src, n), dst = backend::with_batch(made.dst, n);
        if (!src || !dst) return {};
        backend::made_primitive m = backend::requantizing_ip(c_.eng, *src, made.weights, bias_md, *dst, rq, ops);
        if (!(m.weights == made.weights) || !(m.src == *src) || !(m.dst == *dst)) return {};
        track(m.scratchpad_bytes);
        r.push_back(m.primitive());
    }
    return r;
}

}  // namespace qint8::detail
