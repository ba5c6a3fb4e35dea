#pragma once
/// @file requantizing.hpp  The backend at the level the compiler thinks in: a convolution or inner
/// product that reads integer (or f32) activations, accumulates in int32 and writes its result
/// requantized to the destination's scale and zero point, with ReLU/clip and a residual sum fused.
/// A port to another oneDNN major version changes this file and dnnl_compat.hpp only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "qint8/backend/direct_pack.hpp"
#include "qint8/backend/dnnl_compat.hpp"

namespace qint8::backend {

/// How int32 accumulators become destination values: dst = out_scales[c] * (acc over (src -
/// src_zp)) + dst_zp. Empty out_scales: an f32 primitive (no requantization).
struct requant {
    std::vector<float> out_scales;  ///< one per output channel, or one for all
    int32_t src_zp = 0;
    int32_t dst_zp = 0;
    /// The scales and zero points given at run time (runtime_args()) instead of in the primitive:
    /// the scales as a multiply that is the first post-op, the zero points as oneDNN's run-time
    /// values. oneDNN's primitive cache keys on the attributes' values, so with constant scales
    /// every layer generates its own code; this way layers of one shape and fused steps share it
    /// (a cache hit instead of 0.5-1 ms of code generation per 3x3 layer on a Zen 5 core). The
    /// arithmetic is the same: (acc + bias) * scale, then the other post-ops, then the zero point.
    bool runtime = false;
};

/// The run-time scales' tensor: one f32 per output channel of a 4-D destination, or one for all.
inline dnnl::memory::desc runtime_scales_desc(const requant& rq) {
    const int64_t n = static_cast<int64_t>(rq.out_scales.size());
    return dnnl::memory::desc({1, n, 1, 1}, dt::f32, tag::abcd);
}

/// What a run of a primitive made with rq.runtime reads besides its source, weights, bias and
/// destination: the scales and each non-zero zero point (as oneDNN's argument numbers).
struct runtime_arg {
    int arg;
    dnnl::memory::desc desc;
    const void* data;
};
inline std::vector<runtime_arg> runtime_args(const requant& rq) {
    std::vector<runtime_arg> r;
    if (!rq.runtime) return r;
    r.push_back({DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, runtime_scales_desc(rq), rq.out_scales.data()});
    const dnnl::memory::desc one({1}, dt::s32, tag::x);
    if (rq.src_zp != 0) r.push_back({DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, one, &rq.src_zp});
    if (rq.dst_zp != 0) r.push_back({DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, one, &rq.dst_zp});
    return r;
}

/// An element-wise step fused after the requantization, in destination units.
struct fused_op {
    enum class kind_t { relu, clip, sum, scale, round, clamp } kind = kind_t::relu;
    float lo = 0.f, hi = 0.f;  ///< clip bounds; scale: lo is the factor
    float sum_scale = 1.f;     ///< sum: dst += sum_scale * (prior dst contents - sum_zp)
    int32_t sum_zp = 0;
    dt sum_type = dt::f32;  ///< sum: the type the prior destination bytes are read as

    static fused_op relu() { return {}; }
    static fused_op clip(float lo, float hi) { return {kind_t::clip, lo, hi}; }
    static fused_op sum(float scale, int32_t zp, dt type) { return {kind_t::sum, 0.f, 0.f, scale, zp, type}; }
    /// v * factor (one f32 multiply).
    static fused_op scale(float factor) { return {kind_t::scale, factor, 0.f}; }
    /// To the nearest integer, ties to even.
    static fused_op round() { return {kind_t::round, 0.f, 0.f}; }
    /// Clamp to [lo, hi] as a different oneDNN algorithm than clip(): oneDNN 2.6's jit kernels
    /// give every post-op of one element-wise algorithm the parameters of the first.
    static fused_op clamp(float lo, float hi) { return {kind_t::clamp, lo, hi}; }
};

/// Convolution geometry (2-D): strides and padding before/after.
struct conv_geometry {
    dims strides, pad_l, pad_r;
};

/// A primitive's descriptor with the layouts it chose and what the profile shows of it. The
/// primitive itself is created on the first call of primitive(): that generates its code, most of
/// a compilation's time, so a candidate that is looked at and then dropped (another layout, a
/// tuned implementation) costs no code.
struct made_primitive {
    std::function<dnnl::primitive()> create;
    dnnl::memory::desc src, weights, dst;
    std::string impl;
    std::size_t scratchpad_bytes = 0;
    dnnl::primitive prim;  ///< empty until primitive()

    dnnl::primitive primitive() {
        if (!prim) prim = create();
        return prim;
    }
};

inline dnnl::primitive_attr requant_attr(const requant& rq, const std::vector<fused_op>& ops) {
    dnnl::primitive_attr attr = base_attr();
    dnnl::post_ops po;
    if (!rq.out_scales.empty() && rq.runtime) {
        set_runtime_zero_point(attr, DNNL_ARG_SRC, rq.src_zp);
        append_mul(po, runtime_scales_desc(rq));
        set_runtime_zero_point(attr, DNNL_ARG_DST, rq.dst_zp);
    } else if (!rq.out_scales.empty()) {
        set_zero_point(attr, DNNL_ARG_SRC, rq.src_zp);
        set_output_scales(attr, rq.out_scales);
        set_zero_point(attr, DNNL_ARG_DST, rq.dst_zp);
    }
    for (const fused_op& o : ops) {
        if (o.kind == fused_op::kind_t::relu) append_relu(po);
        else if (o.kind == fused_op::kind_t::clip) append_clip(po, o.lo, o.hi);
        else if (o.kind == fused_op::kind_t::scale) append_scale(po, o.lo);
        else if (o.kind == fused_op::kind_t::round) append_round(po);
        else if (o.kind == fused_op::kind_t::clamp) append_clamp(po, o.lo, o.hi);
        else append_sum(po, o.sum_scale, o.sum_zp, o.sum_type);
    }
    attr.set_post_ops(po);
    return attr;
}

template <class PD, class Prim>
made_primitive made_from(const PD& pd) {
    // The copy of `pd` keeps its implementation when an iteration over implementations moves on.
    return {[pd] { return dnnl::primitive(Prim(pd)); }, pd.src_desc(), pd.weights_desc(), pd.dst_desc(), impl_name(pd), pd.scratchpad_desc().get_size(), {}};
}

/// A requantizing convolution; `src`, `weights` and `dst` may be format `any`. `impl` names one
/// of the implementations conv_impls() lists; empty (or not offered): oneDNN's first choice.
inline made_primitive requantizing_conv(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
                                        const dnnl::memory::desc& bias, const dnnl::memory::desc& dst, const conv_geometry& g,
                                        const requant& rq, const std::vector<fused_op>& ops, const std::string& impl = {}) {
    using pd_t = dnnl::convolution_forward::primitive_desc;
    const dnnl::primitive_attr attr = requant_attr(rq, ops);
    if (impl.empty()) return made_from<pd_t, dnnl::convolution_forward>(conv_pd(eng, src, weights, &bias, dst, g.strides, g.pad_l, g.pad_r, attr));
    // The first choice is kept in case no later one matches (made_primitive creates no code).
    std::optional<pd_t> chosen;
    for_each_conv_impl(eng, src, weights, &bias, dst, g.strides, g.pad_l, g.pad_r, attr, [&](const pd_t& pd) {
        const bool match = impl_name(pd) == impl;
        if (!chosen || match) chosen = pd;
        return match;
    });
    return made_from<pd_t, dnnl::convolution_forward>(*chosen);
}

/// Does oneDNN offer the requantizing convolution at all (rq.runtime: whether it takes its
/// scales and zero points at run time for these layouts and types)?
inline bool requantizing_conv_offered(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
                                      const dnnl::memory::desc& bias, const dnnl::memory::desc& dst, const conv_geometry& g, const requant& rq,
                                      const std::vector<fused_op>& ops) {
    return conv_offered(eng, src, weights, &bias, dst, g.strides, g.pad_l, g.pad_r, requant_attr(rq, ops));
}

/// The implementations oneDNN offers for a requantizing convolution, its first choice first,
/// keeping those that read and write the layouts the first one does: choosing among them changes
/// nothing for the layers around (no reorder appears or disappears). The reference ("ref")
/// implementations are left out: they are never faster, and measuring one on a large layer
/// takes seconds.
inline std::vector<std::string> conv_impls(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
                                           const dnnl::memory::desc& bias, const dnnl::memory::desc& dst, const conv_geometry& g,
                                           const requant& rq, const std::vector<fused_op>& ops) {
    std::vector<std::string> names;
    dnnl::memory::desc src0, dst0;
    for_each_conv_impl(eng, src, weights, &bias, dst, g.strides, g.pad_l, g.pad_r, requant_attr(rq, ops),
                       [&](const dnnl::convolution_forward::primitive_desc& pd) {
                           const std::string n = impl_name(pd);
                           if (names.empty()) {
                               src0 = pd.src_desc();
                               dst0 = pd.dst_desc();
                           } else if (n.rfind("ref", 0) == 0 || !(pd.src_desc() == src0 && pd.dst_desc() == dst0) ||
                                      std::find(names.begin(), names.end(), n) != names.end()) {
                               return false;
                           }
                           names.push_back(n);
                           return false;
                       });
    return names;
}

/// A requantizing inner product (oneDNN 2.x has no source or destination zero point here: the
/// caller folds them; rq.src_zp and rq.dst_zp must be 0).
inline made_primitive requantizing_ip(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& weights,
                                      const dnnl::memory::desc& bias, const dnnl::memory::desc& dst, const requant& rq,
                                      const std::vector<fused_op>& ops) {
    auto pd = ip_pd(eng, src, weights, &bias, dst, requant_attr(rq, ops));
    return made_from<dnnl::inner_product_forward::primitive_desc, dnnl::inner_product_forward>(pd);
}

/// Does the implementation named `impl` run on oneDNN's gemm (not its brgemm kernels)?
inline bool on_gemm(const std::string& impl) { return impl.find("gemm") != std::string::npos && impl.find("brg") == std::string::npos; }

/// Packs plain weights (`plain`, bytes at `data`) once into the layout a primitive chose with a
/// oneDNN reorder, in the buffer `into` (packed_md.get_size() bytes that outlive the returned
/// memory) or, if null, in one that oneDNN allocates.
inline dnnl::memory reorder_weights(const dnnl::engine& eng, dnnl::stream& st, const dnnl::memory::desc& plain, const void* data,
                                    const dnnl::memory::desc& packed_md, void* into = nullptr) {
    dnnl::memory user(plain, eng, const_cast<void*>(data));
    dnnl::memory packed = into ? dnnl::memory(packed_md, eng, into) : dnnl::memory(packed_md, eng);
    dnnl::reorder(reorder_pd(eng, plain, packed_md, 1.f, 0, 0, nullptr, false)).execute(st, user, packed);
    st.wait();
    return packed;
}

/// reorder_weights(), or for the s8 layouts direct_pack.hpp knows the same bytes without
/// creating a reorder (no code generated for it).
inline dnnl::memory pack_weights(const dnnl::engine& eng, dnnl::stream& st, const dnnl::memory::desc& plain, const void* data,
                                 const dnnl::memory::desc& packed_md, void* into = nullptr) {
    direct_detail::plan p;
    if (!direct_pack_plan(plain, packed_md, p)) return reorder_weights(eng, st, plain, data, packed_md, into);
    dnnl::memory packed = into ? dnnl::memory(packed_md, eng, into) : dnnl::memory(packed_md, eng);
    direct_pack(p, static_cast<const int8_t*>(data), packed.get_data_handle());
    return packed;
}

}  // namespace qint8::backend
