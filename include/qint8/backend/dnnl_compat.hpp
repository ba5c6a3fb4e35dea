#pragma once
/// @file dnnl_compat.hpp  Every call whose form depends on the oneDNN major version lives here
/// (oneDNN 2.x: operation descriptors and output scales; 3.x moved both). Everything else in
/// qint8 uses only calls common to both, through these helpers.

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "qint8/core/error.hpp"

#if DNNL_VERSION_MAJOR != 2
#error "qint8's backend is written for oneDNN 2.x (Debian 12 ships 2.6); port backend/dnnl_compat.hpp for other versions"
#endif

namespace qint8::backend {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

inline dnnl::cpu_isa to_cpu_isa(const std::string& n) {
    using ci = dnnl::cpu_isa;
    return n == "avx2"             ? ci::avx2
         : n == "avx2_vnni"        ? ci::avx2_vnni
         : n == "avx512_core"      ? ci::avx512_core
         : n == "avx512_core_vnni" ? ci::avx512_core_vnni
         : n == "avx512_core_bf16" ? ci::avx512_core_bf16
         : n == "avx512_core_amx"  ? ci::avx512_core_amx
                                   : ci::all;
}

/// Caps oneDNN at the named path (qint8::isa names, which are oneDNN's cpu_isa names), or lifts
/// every cap for nullptr.
inline void set_max_isa(const char* name) {
    // The C call reports through its status instead of throwing. It fails when the cap was
    // already fixed by an earlier oneDNN call in this process (e.g. ONEDNN_MAX_CPU_ISA or another
    // library); isa_allowed() then tells which paths oneDNN really takes.
    (void)dnnl_set_max_cpu_isa(static_cast<dnnl_cpu_isa_t>(to_cpu_isa(name ? name : "")));
}

/// Does oneDNN's effective cap admit the named path? (oneDNN's cpu_isa values are feature bit
/// masks, so a path is admitted when its bits are a subset of the cap's.)
inline bool isa_allowed(const std::string& name) {
    const auto eff = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto want = static_cast<unsigned>(to_cpu_isa(name));
    return eff == static_cast<unsigned>(dnnl::cpu_isa::all) || (want & eff) == want;
}

/// Attributes shared by every primitive qint8 creates: scratchpad owned by the session (so one
/// compiled primitive can run from many threads at once).
inline dnnl::primitive_attr base_attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
}

/// Per-output-channel (mask 2: dimension 1 of dst) or per-tensor requantization factors.
inline void set_output_scales(dnnl::primitive_attr& a, const std::vector<float>& s) {
    a.set_output_scales(s.size() == 1 ? 0 : 2, s);
}
inline void set_zero_point(dnnl::primitive_attr& a, int arg, int32_t zp) {
    if (zp != 0) a.set_zero_points(arg, 0, {zp});
}
/// A zero point given at run time (DNNL_ARG_ATTR_ZERO_POINTS | arg); none where zp is 0.
inline void set_runtime_zero_point(dnnl::primitive_attr& a, int arg, int32_t zp) {
    if (zp != 0) a.set_zero_points(arg, 0, {DNNL_RUNTIME_S32_VAL});
}
/// dst *= the tensor given at run time (DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1), broadcast as `d` says.
inline void append_mul(dnnl::post_ops& po, const dnnl::memory::desc& d) { po.append_binary(dnnl::algorithm::binary_mul, d); }
inline void append_sum(dnnl::post_ops& po, float scale, int32_t zp, dt type) { po.append_sum(scale, zp, type); }
inline void append_relu(dnnl::post_ops& po) { po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f); }
inline void append_clip(dnnl::post_ops& po, float lo, float hi) { po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, lo, hi); }
inline void append_scale(dnnl::post_ops& po, float alpha) { po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, alpha, 0.f); }
inline void append_round(dnnl::post_ops& po) { po.append_eltwise(1.f, dnnl::algorithm::eltwise_round, 0.f, 0.f); }
inline void append_clamp(dnnl::post_ops& po, float lo, float hi) { po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip_v2, lo, hi); }

inline dnnl::convolution_forward::desc conv_desc(const dnnl::memory::desc& src, const dnnl::memory::desc& wei, const dnnl::memory::desc* bias,
                                                 const dnnl::memory::desc& dst, const dims& strides, const dims& pad_l, const dims& pad_r) {
    using namespace dnnl;
    return bias ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, wei, *bias, dst, strides, pad_l,
                                            pad_r)
                : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, wei, dst, strides, pad_l, pad_r);
}

/// oneDNN's first implementation. Its next_impl() must not be called once this returns: the
/// iterator behind it refers to the operation and attributes, which lived in this call only
/// (for_each_conv_impl iterates).
inline dnnl::convolution_forward::primitive_desc conv_pd(const dnnl::engine& eng, const dnnl::memory::desc& src,
                                                         const dnnl::memory::desc& wei, const dnnl::memory::desc* bias,
                                                         const dnnl::memory::desc& dst, const dims& strides, const dims& pad_l,
                                                         const dims& pad_r, const dnnl::primitive_attr& attr) {
    return dnnl::convolution_forward::primitive_desc(conv_desc(src, wei, bias, dst, strides, pad_l, pad_r), attr, eng);
}

/// Does oneDNN offer any implementation of the convolution with these attributes? Asked through
/// the C API, which answers with a status where the C++ one throws (and aborts without exceptions).
inline bool conv_offered(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& wei, const dnnl::memory::desc* bias,
                         const dnnl::memory::desc& dst, const dims& strides, const dims& pad_l, const dims& pad_r,
                         const dnnl::primitive_attr& attr) {
    const dnnl::convolution_forward::desc d = conv_desc(src, wei, bias, dst, strides, pad_l, pad_r);
    dnnl_primitive_desc_t pd = nullptr;
    const dnnl_status_t st = dnnl_primitive_desc_create(&pd, &d.data, attr.get(), eng.get(), nullptr);
    if (st == dnnl_success) dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success;
}

/// Calls f(pd) for each implementation oneDNN offers for the convolution, in its order of
/// preference, until f returns true; the operation and attributes stay alive meanwhile.
template <class F>
void for_each_conv_impl(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& wei, const dnnl::memory::desc* bias,
                        const dnnl::memory::desc& dst, const dims& strides, const dims& pad_l, const dims& pad_r, const dnnl::primitive_attr& attr,
                        F f) {
    const dnnl::convolution_forward::desc d = conv_desc(src, wei, bias, dst, strides, pad_l, pad_r);
    dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
    do {
        if (f(pd)) return;
    } while (pd.next_impl());
}

inline dnnl::inner_product_forward::primitive_desc ip_pd(const dnnl::engine& eng, const dnnl::memory::desc& src,
                                                         const dnnl::memory::desc& wei, const dnnl::memory::desc* bias,
                                                         const dnnl::memory::desc& dst, const dnnl::primitive_attr& attr) {
    using namespace dnnl;
    auto d = bias ? inner_product_forward::desc(prop_kind::forward_inference, src, wei, *bias, dst)
                  : inner_product_forward::desc(prop_kind::forward_inference, src, wei, dst);
    return inner_product_forward::primitive_desc(d, attr, eng);
}

enum class pool_kind { max, avg_include_pad, avg_exclude_pad };

inline dnnl::pooling_forward::primitive_desc pool_pd(const dnnl::engine& eng, pool_kind k, const dnnl::memory::desc& src,
                                                     const dnnl::memory::desc& dst, const dims& kernel, const dims& strides,
                                                     const dims& pad_l, const dims& pad_r, const dnnl::primitive_attr& attr) {
    using namespace dnnl;
    const algorithm alg = k == pool_kind::max ? algorithm::pooling_max
                        : k == pool_kind::avg_include_pad ? algorithm::pooling_avg_include_padding
                                                          : algorithm::pooling_avg_exclude_padding;
    pooling_forward::desc d(prop_kind::forward_inference, alg, src, dst, strides, kernel, pad_l, pad_r);
    return pooling_forward::primitive_desc(d, attr, eng);
}

inline dnnl::binary::primitive_desc add_pd(const dnnl::engine& eng, const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                           const dnnl::memory::desc& dst, const dnnl::primitive_attr& attr) {
    dnnl::binary::desc d(dnnl::algorithm::binary_add, a, b, dst);
    return dnnl::binary::primitive_desc(d, attr, eng);
}

/// dst = scale * (src - src_zp) + dst_zp, converted (round to nearest even, saturated) to dst's type.
inline dnnl::reorder::primitive_desc reorder_pd(const dnnl::engine& eng, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                float scale = 1.f, int32_t src_zp = 0, int32_t dst_zp = 0,
                                                const std::vector<float>* per_channel = nullptr, bool user_scratchpad = true) {
    dnnl::primitive_attr a;
    if (user_scratchpad) a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (per_channel) a.set_output_scales(1, *per_channel);
    else if (scale != 1.f) a.set_output_scales(0, {scale});
    set_zero_point(a, DNNL_ARG_SRC, src_zp);
    set_zero_point(a, DNNL_ARG_DST, dst_zp);
    return dnnl::reorder::primitive_desc(eng, src, eng, dst, a);
}

inline std::string impl_name(const dnnl::primitive_desc_base& pd) { return pd.impl_info_str(); }

/// Is `md` a "choose the layout for me" descriptor (format `any`)?
inline bool is_format_any(const dnnl::memory::desc& md) { return md.data.format_kind == dnnl_format_kind_any; }

/// `md` with another data type, same dims and layout (the bytes are read as that type).
inline dnnl::memory::desc with_data_type(dnnl::memory::desc md, dt t) {
    md.data.data_type = static_cast<dnnl_data_type_t>(t);
    return md;
}

}  // namespace qint8::backend
