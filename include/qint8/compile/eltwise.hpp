#pragma once
/// @file eltwise.hpp  A standalone residual add (through oneDNN, in f32) and the softmax (qint8's
/// vector kernel).

#include "qint8/compile/compiler.hpp"

namespace qint8::detail {

/// Computed in f32 from dequantized inputs, or in TFLite's arithmetic (tflite.hpp) (the converter fuses residual adds into the preceding
/// convolution as a sum post-op, which is the fast path).
inline void compiler::add(const layer& l) {
    const where a = at_.at(l.inputs[0]);
    if (tflite_arith() && eff_prec(l) == precision::int8 && l.act && a.type != dtype::f32 && at_.at(l.inputs[1]).type != dtype::f32) return tflite_add(l);
    const dnnl::memory::desc amd = backend::with_type(c_.slots[a.slot].md, dtype::f32);
    const int sa = need(l.inputs[0], dtype::f32, amd, std::nullopt, l.name);
    const int sb = need(l.inputs[1], dtype::f32, amd, std::nullopt, l.name);
    dnnl::primitive_attr attr = backend::requant_attr({}, fused_ops(l, dtype::f32, {}));
    auto pd = backend::add_pd(c_.eng, amd, amd, amd, attr);
    track(pd.scratchpad_desc().get_size());
    const int dst = new_slot(pd.dst_desc());
    add_step(dnnl::binary(pd), {operand::slot(DNNL_ARG_SRC_0, sa), operand::slot(DNNL_ARG_SRC_1, sb), operand::slot(DNNL_ARG_DST, dst)},
             l.name, std::string("add f32 ") + backend::impl_name(pd));
    put(l.name, dst, dtype::f32, l.act);
    const dtype want = out_type(l);
    if (want != dtype::f32) {
        const int s = need(l.name, want, backend::with_type(pd.dst_desc(), want), l.act, l.name);
        put(l.name, s, want, l.act);
    }
}

inline void compiler::softmax(const layer& l) {
    const backend::dims d = dims_.at(l.inputs[0]);
    step s;
    s.kind = step::softmax;
    s.src = need(l.inputs[0], dtype::f32, backend::make_desc(d, dtype::f32, true), std::nullopt, l.name);
    s.dst = new_slot(backend::make_desc(d, dtype::f32, true));
    s.rows = static_cast<std::size_t>(c_.opt.batch);
    s.cols = c_.slots[s.src].md.get_size() / sizeof(float) / s.rows;
    s.info = {l.name, "softmax f32 (vector kernel)"};
    // The file's Q/DQ after the softmax rounds the probabilities (not on the FP32 path, which
    // computes the source model).
    if (l.act && !c_.opt.force_fp32) {
        s.q = *l.act;
        s.rounded = true;
        s.info.what += ", rounded to " + std::string(to_string(l.act->type)) + " codes";
    }
    c_.steps.push_back(s);
    put(l.name, s.dst, dtype::f32, std::nullopt);
}

}  // namespace qint8::detail
