#pragma once
/// @file reference.hpp  The naive reference interpreter: a thin driver that runs a model
/// description layer by layer through the per-op reference functions (conv.hpp, depthwise.hpp,
/// pool.hpp, fc.hpp, add.hpp, softmax.hpp), integer-exact on the INT8 path. It is the oracle the
/// compiled oneDNN graph is tested against, written from the numeric rules in docs/manifest.md,
/// not from the backend code. output_stage.hpp states the INT8 order of operations.
///
/// Each op computes its own output shape; the driver checks it against the one validate()
/// inferred, so a shape bug in either shows as an error rather than as agreeing numbers.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qint8/detail/pair_sums.hpp"
#include "qint8/graph.hpp"
#include "qint8/io/bias_correction.hpp"
#include "qint8/ref/add.hpp"
#include "qint8/ref/conv.hpp"
#include "qint8/ref/depthwise.hpp"
#include "qint8/ref/fc.hpp"
#include "qint8/ref/pool.hpp"
#include "qint8/ref/softmax.hpp"
#include "qint8/ref/value.hpp"
#include "qint8/validate.hpp"

namespace qint8::ref {
namespace detail {

/// What the driver knows while it walks the layers.
struct run_state {
    const model_desc& m;
    const options& opt;
    std::map<std::string, value> t;                         ///< every tensor so far
    std::map<std::string, std::optional<quant_params>> acts;

    bool is_int8(const layer& l) const { return !opt.force_fp32 && l.prec == precision::int8 && l.kind != op::softmax; }
    /// The storage rule: the input and an INT8 layer's output are held in 8 bits when they have a
    /// quantization, whoever reads them (the model's output included): the file's Q/DQ rounds them.
    bool stored_int(const std::optional<quant_params>& q) const { return q && !opt.force_fp32; }
};

inline window window_of(const layer& l) {
    window g;
    g.kh = l.kernel[0];
    g.kw = l.kernel[1];
    g.sh = l.stride[0];
    g.sw = l.stride[1];
    g.pad = l.pad;
    return g;
}

/// The int16 pairing a path without VNNI applies to layer `l`'s products (detail/pair_sums.hpp):
/// input channels per group, the kernel window (an fc's is its whole input), and the largest
/// input code the layer can see, with s8 activations read as u8 (zero point + 128).
inline qint8::detail::pair_geometry pair_geometry_of(const model_desc& m, const layer& l, const value& in, const quant_params& qs) {
    const bool fc = l.kind == op::fc;
    const int64_t C = in.dims[1], H = in.dims.size() == 4 ? in.dims[2] : 1, W = in.dims.size() == 4 ? in.dims[3] : 1;
    const int64_t G = fc ? 1 : l.groups;
    const int zp_u8 = qs.zero_point + (qs.type == dtype::s8 ? 128 : 0);
    return qint8::detail::pair_geometry{C / G, fc ? H : l.kernel[0], fc ? W : l.kernel[1],
                                        qint8::detail::max_input_code(m.layers, l.inputs[0], qs.scale, zp_u8)};
}

/// What a conv, depthwise or fc layer computes with: its source in the accumulator's form
/// (integers centred on `zp_src`, or real), its weights and its output stage.
struct weighted_operands {
    value src;
    int32_t zp_src = 0;
    weights wt;
    output_stage st;
    tensor corrected_bias;  ///< keeps the bias plus its INT8 correction alive while `st` is built
};

/// options::tflite_integer: `st` computes TFLite's integer requantization where the layer has an
/// 8-bit output and TFLite's post-ops: relu / clip (its fused activation), optionally after a
/// first sum of a rounded branch with an 8-bit residual (an ADD fused into the conv before it).
/// The multipliers use the manifest's float32 scales: the input's, the weight channel's (the
/// narrowed one on a path without VNNI) and the output's (the branch's before a sum).
inline void tflite_stage(const layer& l, const quant_params& qs, const weights& wt, output_stage& st) {
    if (!st.int8 || !st.out_int) return;
    const bool branch = !l.post_ops.empty() && l.post_ops[0].kind == post_op::sum && l.post_ops[0].rounded;
    const std::vector<post_op> after(l.post_ops.begin() + (branch ? 1 : 0), l.post_ops.end());
    for (const post_op& p : after)
        if (p.kind == post_op::sum) return;
    if (branch && !st.sums[0]->is_int) return;
    const quant_params& q_conv = branch ? *l.post_ops[0].rounded : st.act;
    for (float s_w : wt.s) st.tfl_m.push_back(tflite::conv_multiplier(qs.scale, s_w, q_conv.scale));
    st.tfl_range = branch ? tflite::type_range(q_conv.type) : tflite::activation_range(after, st.act);
    if (branch) st.tfl_add = tflite::make_add(q_conv, st.sums[0]->q, st.act, tflite::activation_range(after, st.act));
    st.tflite = true;
}

/// The operands of layer `l` reading `in`.
inline weighted_operands weighted_operands_of(const run_state& s, const layer& l, const value& in) {
    const model_desc& m = s.m;
    weighted_operands r;
    const tensor& w = m.tensors.at(l.name + ".weight");
    const tensor* ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
    const tensor* b = m.tensors.count(l.name + ".bias") ? &m.tensors.at(l.name + ".bias") : nullptr;
    output_stage& st = r.st;
    st.int8 = s.is_int8(l);
    st.post_ops = l.post_ops;
    for (const auto& p : l.post_ops)
        if (p.kind == post_op::sum) st.sums.push_back(&s.t.at(p.input));
    value& src = r.src;
    src = in;
    weights& wt = r.wt;
    quant_params qs;
    if (st.int8) {
        b = int8_bias(m, l.name, b, l.out_channels, r.corrected_bias, s.opt.u8_weight_max < 127);  // INT8 only
        qs = *s.acts.at(l.inputs[0]);
        if (!src.is_int || src.q != qs) src = quantize(src, qs);
        // Paths without VNNI read s8 activations as u8 (zero point + 128), so both use the u8 limit there.
        // Depthwise layers keep 8-bit weights everywhere (their kernels do not pair products).
        const bool narrow = l.kind != op::depthwise_conv2d && (qs.type == dtype::u8 || s.opt.u8_weight_max < 127);
        wt = narrow && s.opt.u8_weight_max < 127 ? weights_int_paired(w, ws, s.opt.u8_weight_max, pair_geometry_of(m, l, in, qs)) : weights_int(w, ws, 128);
        st.out_int = s.stored_int(l.act);
        if (st.out_int) st.act = *l.act;
        st.s8_as_u8 = st.out_int && s.opt.s8_stored_as_u8 && st.act.type == dtype::s8 && l.kind != op::fc;  // fc keeps s8
        // A first post-op that sums a rounded branch starts on the branch's grid (output_stage.hpp).
        const bool branch_first = !l.post_ops.empty() && l.post_ops[0].kind == post_op::sum && l.post_ops[0].rounded;
        const float s_dst = branch_first ? l.post_ops[0].rounded->scale : st.out_int ? l.act->scale : 1.f;
        for (int64_t o = 0; o < l.out_channels; ++o) {
            const std::size_t c = std::size_t(o);
            st.os.push_back(qs.scale * wt.s[c] / s_dst);
            // In accumulator units: rounded to an integer, or kept unrounded (float_bias).
            const double bq = b ? double(qint8::ref::detail::f32_at(*b, c)) / (double(qs.scale) * wt.s[c]) : 0.0;
            if (b) st.bias.push_back(float(l.float_bias ? bq : std::nearbyint(bq)));
            // TFLite mode: the int32 bias (rounded even where float_bias keeps the float one).
            if (b) st.tfl_bias.push_back(int32_t(std::min(2147483647.0, std::max(-2147483648.0, std::nearbyint(bq)))));
        }
        if (s.opt.tflite_integer) tflite_stage(l, qs, wt, st);
    } else {
        src = to_real(src);
        wt = weights_real(w, ws);
        for (int64_t o = 0; b && o < l.out_channels; ++o) st.bias.push_back(qint8::ref::detail::f32_at(*b, std::size_t(o)));
    }
    r.zp_src = qs.zero_point;
    return r;
}

/// A conv, depthwise or fc layer, one output element at a time.
inline value run_weighted(const run_state& s, const layer& l, const value& in) {
    const weighted_operands a = weighted_operands_of(s, l, in);
    if (l.kind == op::fc) return fc(a.src, a.zp_src, a.wt, l.out_channels, a.st);
    if (l.kind == op::depthwise_conv2d) return depthwise_conv2d(a.src, a.zp_src, a.wt, window_of(l), a.st);
    return conv2d(a.src, a.zp_src, a.wt, l.out_channels, l.groups, window_of(l), a.st);
}

/// A pooling layer: on integers when the input is held in 8 bits (the scale is unchanged), except
/// a zero-padded average over a non-zero zero point, which is only right in real values, and an
/// average quantized differently from its input: the file averages real values and rounds once,
/// to its own quantization.
inline value run_pool(const run_state& s, const layer& l, const value& in) {
    const bool i8 = s.is_int8(l);
    const bool any_pad = l.pad[0] || l.pad[1] || l.pad[2] || l.pad[3];
    const bool same_q = l.kind == op::max_pool2d || !l.act || *l.act == in.q;
    const bool int_pool = i8 && in.is_int && same_q && !(l.kind == op::avg_pool2d && l.count_include_pad && any_pad && in.q.zero_point != 0);
    const value src = int_pool ? in : to_real(in);
    const bool tfl = s.opt.tflite_integer;  // TFLite's rounding of an integer average
    value out = l.kind == op::global_avg_pool2d ? global_avg_pool2d(src, tfl)
                                                : pool2d(src, l.kind == op::max_pool2d ? pool_kind::max : pool_kind::avg, window_of(l), l.count_include_pad, tfl);
    if (i8 && s.stored_int(l.act) && (!out.is_int || out.q != *l.act)) out = quantize(out, *l.act);
    return out;
}

inline value run_layer(const run_state& s, const layer& l) {
    const value& in = s.t.at(l.inputs[0]);
    switch (l.kind) {
        case op::conv2d:
        case op::depthwise_conv2d:
        case op::fc: return run_weighted(s, l, in);
        case op::max_pool2d:
        case op::avg_pool2d:
        case op::global_avg_pool2d: return run_pool(s, l, in);
        case op::add: {
            const value& other = s.t.at(l.inputs[1]);
            if (s.opt.tflite_integer && s.is_int8(l) && s.stored_int(l.act) && in.is_int && other.is_int) return add_tflite(in, other, *l.act, l.post_ops);
            value out = add(in, other, l.post_ops);
            return s.is_int8(l) && s.stored_int(l.act) ? quantize(out, *l.act) : out;
        }
        case op::softmax: {
            value out = softmax(in);  // the file's Q/DQ after it rounds the probabilities
            return l.act && !s.opt.force_fp32 ? quantize(out, *l.act) : out;
        }
    }
    return {};
}

/// The op's own output shape must be validate()'s (which the runtime compiles to).
inline void check_shape(const layer& l, const value& out, int64_t batch) {
    std::vector<int64_t> want{batch};
    want.insert(want.end(), l.out_shape.begin(), l.out_shape.end());
    if (out.dims != want)
        qint8::detail::fail(errc::shape_mismatch, "reference: layer '" + l.name + "': validate() inferred " + qint8::detail::shape_str(want) +
                                                      ", the reference op computes " + qint8::detail::shape_str(out.dims));
}

}  // namespace detail

/// Runs `desc` on `input` ([N, C, H, W] plain floats) and returns every tensor by name.
inline std::map<std::string, value> run_all(const model_desc& desc, const std::vector<float>& input, int64_t batch, const options& opt = {}) {
    model_desc m = desc;  // validation fills in output shapes and inherited pool quantization
    options o = opt;
    if (desc.requant == requantization::tflite) o.tflite_integer = true;  // the manifest says how it requantizes
    if (o.force_fp32)
        for (auto& l : m.layers) l.prec = precision::fp32;
    validate(m, "reference");
    detail::run_state s{m, o, {}, {}};
    value x = make_value({batch, m.input.shape[0], m.input.shape[1], m.input.shape[2]}, false);
    x.f = input;
    s.t[m.input.name] = s.stored_int(m.input.act) ? quantize(x, *m.input.act) : x;
    s.acts[m.input.name] = m.input.act;
    for (const layer& l : m.layers) {
        value out = detail::run_layer(s, l);
        detail::check_shape(l, out, batch);
        s.t[l.name] = std::move(out);
        s.acts[l.name] = l.act;
    }
    return std::move(s.t);
}

/// The model's output as real values, [N, K] flattened.
inline std::vector<float> run(const model_desc& m, const std::vector<float>& input, int64_t batch, const options& opt = {}) {
    return to_real(run_all(m, input, batch, opt).at(m.output_name())).f;
}

}  // namespace qint8::ref
