#pragma once
/// @file pool.hpp  Max, average and global average pooling through oneDNN.

#include "qint8/compile/compiler.hpp"

namespace qint8::detail {

inline backend::pool_kind pool_kind_of(const layer& l) {
    if (l.kind == op::max_pool2d) return backend::pool_kind::max;
    return (l.kind == op::avg_pool2d && l.count_include_pad) ? backend::pool_kind::avg_include_pad : backend::pool_kind::avg_exclude_pad;
}

inline void compiler::pool(const layer& l) {
    const std::string& in = l.inputs[0];
    const where w = at_.at(in);
    const bool i8 = eff_prec(l) == precision::int8;
    const backend::dims in_d = dims_.at(in);
    const backend::pool_kind k = pool_kind_of(l);
    backend::dims kernel{l.kernel[0], l.kernel[1]}, stride{l.stride[0], l.stride[1]};
    backend::dims pl{l.pad[0], l.pad[1]}, pr{l.pad[2], l.pad[3]};
    if (l.kind == op::global_avg_pool2d) { kernel = {in_d[2], in_d[3]}; stride = {1, 1}; pl = pr = {0, 0}; }
    // Integer pooling keeps the input's scale: max commutes with the affine map, and the mean
    // does as long as padded taps are not counted (they would read as 0, not as the zero point).
    // A mean quantized differently from its input is averaged in f32 and rounded once, to its
    // own quantization (rounding on the input's grid first would round twice).
    const bool has_pad = pl[0] || pl[1] || pr[0] || pr[1];
    const bool same_q = l.kind == op::max_pool2d || !l.act || (w.q && *l.act == *w.q);
    const bool int_pool = i8 && w.type != dtype::f32 && same_q && !(k == backend::pool_kind::avg_include_pad && has_pad && w.q->zero_point != 0);
    if (int_pool && k != backend::pool_kind::max && tflite_arith()) return tflite_pool(l, kernel, stride, pl, pr);
    const dtype t = int_pool ? w.type : dtype::f32;
    const int src = int_pool ? w.slot : need(in, dtype::f32, backend::with_type(c_.slots[w.slot].md, dtype::f32), std::nullopt, l.name);
    auto pd = backend::pool_pd(c_.eng, k, c_.slots[src].md, backend::make_desc(dims_.at(l.name), t, false), kernel, stride, pl, pr,
                               backend::base_attr());
    track(pd.scratchpad_desc().get_size());
    const int dst = new_slot(pd.dst_desc());
    add_step(dnnl::pooling_forward(pd), {operand::slot(DNNL_ARG_SRC, src), operand::slot(DNNL_ARG_DST, dst)}, l.name,
             std::string(to_string(l.kind)) + " " + to_string(t) + " " + backend::impl_name(pd));
    put(l.name, dst, t, int_pool ? w.q : l.act);
    // A declared output quantization that differs from the input's is honoured by requantizing.
    const dtype want = out_type(l);
    if (want != dtype::f32 && !(int_pool && *w.q == *l.act)) {
        const int s = need(l.name, want, backend::with_type(pd.dst_desc(), want), l.act, l.name);
        put(l.name, s, want, l.act);
    } else if (want != dtype::f32) {
        put(l.name, dst, t, l.act);
    }
}

}  // namespace qint8::detail
