#pragma once
/// @file compiler.hpp  The compiler's state and bookkeeping: which slot holds each tensor, in which
/// type and quantization, and the conversions ("need") between forms. One instance per
/// compilation. The per-op parts are in conv.hpp, depthwise.hpp, pool.hpp, eltwise.hpp and
/// output.hpp; compile.hpp includes them all.

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "qint8/backend/chunked_pack.hpp"
#include "qint8/backend/requantizing.hpp"
#include "qint8/backend/status.hpp"
#include "qint8/backend/types.hpp"
#include "qint8/compile/buffer_plan.hpp"
#include "qint8/compile/program.hpp"
#include "qint8/detail/pair_sums.hpp"
#include "qint8/detail/quantize_weights.hpp"
#include "qint8/dispatch/isa.hpp"
#include "qint8/graph.hpp"
#include "qint8/io/bias_correction.hpp"
#include "qint8/validate.hpp"  // check_f32_values: the weight values validate_for_compile() leaves to quantization

namespace qint8::detail {

struct fc_conv_view;  // conv.hpp

class compiler {
public:
    compiler(program& c, const std::string& origin) : c_(c), origin_(origin) {}

    /// Compiles c.desc (validated) into c's slots, constants and steps.
    void run();

private:
    /// Where a tensor is during compilation: its slot, type and quantization.
    struct where {
        int slot;
        dtype type;
        std::optional<quant_params> q;
        std::string overwritten_by;  ///< a later layer wrote its result into this buffer (in place)
    };
    /// A residual fused into a layer as a sum post-op: the residual is in the layer's destination
    /// buffer (copied there, or already there when added in place), read there as `read_as`, and
    /// added as scale * (v - zero_point).
    struct residual_sum {
        std::string tensor;
        float scale;
        int32_t zero_point;
        dtype read_as;
    };

    program& c_;
    std::string origin_;
    code_vector spare_codes_;  ///< the last layer's weight codes, reused (quantize_weights' codes_buffer)
    /// Keeps the storage of a layer's own codes, once packed or copied, for the next layer (codes
    /// read in place from the file have none to give).
    void keep_spare(weight_codes& w) {
        if (!w.is_given() && !w.empty()) spare_codes_ = w.release();  // empty: packed in chunks, the storage already given back
    }
    /// validate_for_compile() leaves the NaN and infinity check of an INT8 layer's f32 weights
    /// to their quantization (int8_weights::all_finite): a bad tensor fails here with validate()'s
    /// message, its element found again. Every layer so checked is noted; check_unquantized_weights
    /// scans the f32 weights of any INT8 layer that was compiled without quantizing them.
    void check_weight_values(const layer& l, const tensor& w, const int8_weights& q) {
        if (w.type != dtype::f32) return;
        if (!q.all_finite) check_f32_values(w, l.name + ".weight", false, origin_);
        values_checked_.insert(l.name);
    }
    void check_unquantized_weights() const;
    std::set<std::string> values_checked_;
    int qmax_u8_ = 127;
    bool s8_src_as_u8_ = false;
    std::vector<layer> layers_;  ///< the description's layers, activations as stored on this path
    std::map<std::string, std::vector<const layer*>> consumers_;
    std::set<std::string> shared_code_;  ///< layers whose shape another layer repeats (plan_shared_code)
    std::map<std::string, backend::dims> dims_;
    std::map<std::string, where> at_;
    dnnl::stream compile_stream_{c_.eng};

    // compiler.hpp: bookkeeping
    void store_s8_as_u8();
    void plan_input();
    void compile_layer(const layer& l);
    void compile_op(const layer& l);
    precision eff_prec(const layer& l) const { return c_.opt.force_fp32 ? precision::fp32 : l.prec; }
    backend::dims batch_dims(const std::vector<int64_t>& s) const;
    int new_slot(const dnnl::memory::desc& d, int alias = -1);
    int new_const(dnnl::memory m);
    int new_const(const dnnl::memory::desc& d, const void* data);
    void put(const std::string& name, int slot, dtype t, std::optional<quant_params> q) { at_[name] = {slot, t, q, {}}; }
    /// Does tensor `w` already hold the values as type `t` with quantization `tq` (no conversion)?
    static bool same_values(const where& w, dtype t, const std::optional<quant_params>& tq) {
        return (t == dtype::f32 && w.type == dtype::f32) || (t == w.type && w.q && tq && *w.q == *tq);
    }
    dtype out_type(const layer& l) const;
    const quant_params* leading_rounding(const layer& l) const;
    float stage_scale(const layer& l, dtype dst_t) const;
    void track(std::size_t scratchpad_bytes) { c_.scratchpad_bytes = std::max(c_.scratchpad_bytes, scratchpad_bytes); }
    void add_step(dnnl::primitive p, std::vector<operand> args, std::string layer, std::string what);
    void add_kernel_step(step s, const layer& l, dtype src_t, const quant_params& qin, dtype dst_t, std::string what);
    void reorder(int src, int dst, float scale, int32_t szp, int32_t dzp, const std::string& why);
    int need(const std::string& name, dtype t, const dnnl::memory::desc& want, const std::optional<quant_params>& tq,
             const std::string& reader);
    std::vector<backend::fused_op> fused_ops(const layer& l, dtype dst_t, const std::vector<residual_sum>& sums) const;
    // choice.hpp: which implementation a layer with several gets
    std::string choose(const layer& l, const std::string& what, const std::string& signature, const std::vector<std::string>& candidates);
    bool impl_choices() const;

    /// A weighted layer's tensors: weights, their per-channel scales (or null) and the bias (or
    /// null); an INT8 layer's bias with the converter's INT8-only correction, held in `corrected`.
    struct weighted_tensors {
        const tensor* w = nullptr;
        const tensor* ws = nullptr;
        const tensor* b = nullptr;
        tensor corrected;
    };
    void int8_tensors_of(const layer& l, weighted_tensors& t) const {
        const model_desc& m = c_.desc;
        t.w = &m.tensors.at(l.name + ".weight");
        t.ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
        t.b = m.tensors.count(l.name + ".bias") ? &m.tensors.at(l.name + ".bias") : nullptr;
        t.b = int8_bias(m, l.name, t.b, l.out_channels, t.corrected, qmax_u8_ < 127);
    }

    /// What a layer run by one of qint8's kernels reads: its input's codes and both shapes, its
    /// output type, and its weights and bias (filled in place: `t.b` may point into `t`).
    struct kernel_inputs {
        std::string in;
        where src;
        quant_params qin;
        backend::dims in_d, od;
        dtype dst_t = dtype::u8;
        weighted_tensors t;
    };
    void kernel_inputs_of(const layer& l, kernel_inputs& k) const {
        k.in = l.inputs[0];
        k.src = at_.at(k.in);
        k.qin = *k.src.q;
        k.in_d = dims_.at(k.in);
        k.od = dims_.at(l.name);
        k.dst_t = out_type(l);
        int8_tensors_of(l, k.t);  // the bias with the converter's INT8-only correction, as weighted()
    }

    /// A conv/fc layer's weights (s8 or f32), bias (s32 or f32) and requantization.
    struct layer_params {
        backend::requant rq;
        weight_codes wq;
        std::vector<float> wf, bf;
        const void* wf_in_place = nullptr;  ///< FP32: the tensor's own f32 weights, read where they lie instead of wf
        std::vector<int32_t> b32;
    };

    // conv.hpp: conv2d, grouped conv and fc through oneDNN
    void weighted(const layer& l);
    int weighted_src(const std::string& in, dtype src_t, const dnnl::memory::desc& want, const std::optional<quant_params>& q, const layer& l,
                     const fc_conv_view& cv);
    void put_weighted(const layer& l, int dst, const dnnl::memory::desc& dst_md, dtype dst_t, bool as_conv, bool split_zp);
    std::optional<quant_params> weighted_qin(const std::string& in, bool i8) const;
    backend::made_primitive chosen_impl(const layer& l, const std::string& sig, backend::made_primitive made, const dnnl::memory::desc& wei_any,
                                        const dnnl::memory::desc& bias_md, const backend::conv_geometry& g, const backend::requant& rq,
                                        const std::vector<backend::fused_op>& ops, bool i8);
    struct weighted_operands {
        int src, dst;       ///< slots
        int weights, bias;  ///< constants
    };
    void add_weighted_step(const layer& l, backend::made_primitive& made, const weighted_operands& at, const backend::requant& rq,
                           std::string what);
    layer_params int8_params(const layer& l, const tensor& w, const tensor* ws, const tensor* b, const backend::dims& in_d,
                             const quant_params& qin, dtype dst_t, bool split_zp, bool ip, const code_chunks* chunks);
    backend::requant int8_requant(const layer& l, const quant_params& qin, dtype dst_t, bool split_zp, bool ip, std::vector<float> out_scales) const;
    /// A layer's weights packed chunk by chunk as they are quantized (conv.hpp), when `packer` is set.
    struct chunked_weights {
        std::optional<backend::chunked_packer> packer;
        code_chunks chunks;  ///< feeds `packer`
    };
    template <class Guess>
    void chunk_large_weights(chunked_weights& cw, const tensor& w, const backend::dims& wd, const Guess& guess);
    dnnl::memory chunked_result(const backend::chunked_packer& p, const dnnl::memory::desc& want);
    dnnl::memory packed_weights(const layer_params& lp, bool i8, const backend::dims& wd, const dnnl::memory::desc& packed);
    layer_params fp32_params(const layer& l, const tensor& w, const tensor* ws, const tensor* b) const;
    std::vector<residual_sum> plan_residuals(const layer& l, dtype dst_t) const;
    void wire_residuals(const layer& l, int dst, const dnnl::memory::desc& dst_md, const std::vector<residual_sum>& sums);
    int in_place_residual(const layer& l, const dnnl::memory::desc& dst_md, const std::vector<residual_sum>& sums);
    bool read_after(const std::string& tensor, const layer& l) const;
    template <class Make>
    backend::made_primitive in_input_layout(backend::made_primitive made, const std::string& in, dtype src_t, const std::optional<quant_params>& q,
                                            const Make& make) const;
    pair_geometry pair_geometry_of(const layer& l, const backend::dims& in_d, const quant_params& qin) const;
    bool runtime_requant(const layer& l) const;
    void plan_shared_code();
    dnnl::memory::desc ip_weights(const dnnl::memory::desc& src, const dnnl::memory::desc& wei_any, const dnnl::memory::desc& bias_md,
                                  const dnnl::memory::desc& dst, const backend::requant& rq, const std::vector<backend::fused_op>& ops) const;
    std::vector<dnnl::primitive> fewer_images(const backend::made_primitive& made, const dnnl::memory::desc& bias_md, const backend::requant& rq,
                                              const std::vector<backend::fused_op>& ops);
    // depthwise.hpp: qint8's own depthwise kernels
    bool own_depthwise(const layer& l);
    kernels::dw_variant dw_variant_ = kernels::dw_variant::avx2;  ///< the variant own_depthwise chose
    kernels::pw_variant pw_variant_ = kernels::pw_variant::avx2;  ///< the variant own_pointwise chose
    void depthwise(const layer& l);
    // pointwise.hpp: qint8's own 1x1 kernel
    bool own_pointwise(const layer& l);
    bool pointwise(const layer& l);
    // tflite.hpp: TFLite's integer arithmetic (model_desc::requant)
    bool tflite_arith() const;
    bool tflite_weighted_layer(const layer& l) const;
    kernels::tfl_output tflite_output_of(const layer& l, const int8_weights& q, const tensor* b, const quant_params& qin) const;
    int tflite_onednn_sums(const layer& l, const int8_weights& q, const quant_params& qin, std::string& how);
    int tflite_exact_sums(const layer& l, const int8_weights& q, const quant_params& qin, std::string& how);
    backend::made_primitive tflite_block_conv(const layer& l, const quant_params& qin, int64_t pixels);
    int tflite_blocked_sums(const layer& l, const int8_weights& q, const quant_params& qin, std::size_t per, tflite_job& job, std::string& how);
    void tflite_weighted(const layer& l);
    void tflite_pool(const layer& l, const backend::dims& kernel, const backend::dims& stride, const backend::dims& pl, const backend::dims& pr);
    void tflite_add(const layer& l);
    int acc_slot(const dnnl::memory::desc& md);
    /// One buffer that every TFLite layer's int32 sums view in turn (each is read right after it is
    /// written): it stays in cache where a buffer per layer would not. Sized at the end of run().
    int acc_arena_ = -1;
    std::size_t acc_arena_bytes_ = 0;
    // pool.hpp, eltwise.hpp, output.hpp
    void pool(const layer& l);
    void add(const layer& l);
    void softmax(const layer& l);
    void finish_output();
};

inline void compiler::run() {
    c_.path = active_isa();
    qmax_u8_ = has_int8_dot(c_.path) && !c_.opt.pair_safe_weights ? 127 : 63;
    // oneDNN halves s8 x s8 weights where it has no 512-bit vpdpbusd; see weighted().
    s8_src_as_u8_ = qmax_u8_ < 127 || c_.path == isa::avx2_vnni;
    layers_ = c_.desc.layers;
    if (s8_src_as_u8_) store_s8_as_u8();
    for (const layer& l : layers_) {
        for (const auto& i : l.inputs) consumers_[i].push_back(&l);
        for (const auto& p : l.post_ops)
            if (p.kind == post_op::sum) consumers_[p.input].push_back(&l);
    }
    plan_shared_code();
    plan_input();
    for (const layer& l : layers_) compile_layer(l);
    check_unquantized_weights();
    finish_output();
    if (acc_arena_ >= 0) c_.slots[static_cast<std::size_t>(acc_arena_)].md = backend::make_desc({static_cast<int64_t>(acc_arena_bytes_)}, dtype::u8, true);
    for (const auto& [name, w] : at_) c_.tensors[name] = {w.slot, w.type, w.q, w.overwritten_by};
    const buffer_plan plan = plan_buffers(c_, !c_.opt.keep_intermediates);
    c_.slot_offset = plan.offset;
    c_.slot_bytes = plan.bytes;
    if (!c_.opt.keep_intermediates) mark_reused(c_, plan);
}

/// The f32 weights of INT8 layers that no quantization read (a layer compiled in FP32 after all):
/// checked as validate() checks them, since validate_for_compile() left them out.
inline void compiler::check_unquantized_weights() const {
    for (const layer& l : c_.desc.layers) {
        if (!has_weights(l.kind) || l.prec != precision::int8 || values_checked_.count(l.name)) continue;
        const tensor& w = c_.desc.tensors.at(l.name + ".weight");
        if (w.type == dtype::f32) check_f32_values(w, l.name + ".weight", false, origin_);
    }
}

/// Every int8 reader would convert an s8 tensor to u8 (a reorder per inference), so layers store
/// it as u8 in the first place: q_u8 = q_s8 + 128 with zero point z + 128 is the same value,
/// saturation bounds included. (fc keeps s8: its zero point is folded in f32, see weighted().)
inline void compiler::store_s8_as_u8() {
    for (layer& l : layers_)
        if (l.act && l.act->type == dtype::s8 && l.kind != op::fc && !c_.opt.force_fp32)
            l.act = quant_params{dtype::u8, l.act->scale, l.act->zero_point + 128};
}

/// The input: quantized by the vector kernel when the description quantizes it (then even an
/// FP32 first layer reads the rounded values, as the file says). Codes of an image input are
/// stored NHWC, the layout oneDNN's int8 convolutions read: quantizing into it costs a transpose
/// on the way, where a plain buffer cost the first layer a reorder of its own (0.17 ms of
/// mobilenet_v2_1.0_224_quant's 4 ms on Zen 5).
inline void compiler::plan_input() {
    const model_desc& m = c_.desc;
    const backend::dims d = batch_dims(m.input.shape);
    dims_[m.input.name] = d;
    const bool int_in = m.input.act && !c_.opt.force_fp32;
    c_.input_is_int = int_in;
    std::optional<quant_params> act = int_in ? m.input.act : std::nullopt;
    // s8 input codes are quantized as u8 (zero point + 128, the same values) where layers store
    // s8 as u8 (store_s8_as_u8): else the first layer converts them with a reorder on every run.
    const auto& readers = consumers_[m.input.name];
    if (act && s8_src_as_u8_ && act->type == dtype::s8 && std::none_of(readers.begin(), readers.end(), [](const layer* r) { return r->kind == op::fc; }))
        act = quant_params{dtype::u8, act->scale, act->zero_point + 128};
    if (act) c_.input_q = *act;
    const dtype t = act ? act->type : dtype::f32;
    c_.input_nhwc = int_in && d.size() == 4;
    c_.input_slot = new_slot(c_.input_nhwc ? dnnl::memory::desc(d, backend::to_dnnl(t), backend::tag::nhwc) : backend::make_desc(d, t, true));
    put(m.input.name, c_.input_slot, t, act ? act : m.input.act);
    c_.input_elems = element_count(m.input.shape, "input");
}

inline void compiler::compile_layer(const layer& l) {
    dims_[l.name] = batch_dims(l.out_shape);
    backend::guarded([&] { compile_op(l); },
                     [&] { return origin_ + ": layer '" + l.name + "' (" + to_string(l.kind) + ", " + to_string(eff_prec(l)) + ")"; });
}

inline void compiler::compile_op(const layer& l) {
    switch (l.kind) {
        case op::conv2d:
        case op::depthwise_conv2d:
        case op::fc: weighted(l); break;
        case op::max_pool2d:
        case op::avg_pool2d:
        case op::global_avg_pool2d: pool(l); break;
        case op::add: add(l); break;
        case op::softmax: softmax(l); break;
    }
}

inline backend::dims compiler::batch_dims(const std::vector<int64_t>& s) const {
    backend::dims d{c_.opt.batch};
    d.insert(d.end(), s.begin(), s.end());
    return d;
}

inline int compiler::new_slot(const dnnl::memory::desc& d, int alias) {
    c_.slots.push_back({d, alias});
    return static_cast<int>(c_.slots.size()) - 1;
}

inline int compiler::new_const(dnnl::memory m) {
    c_.consts.push_back(std::move(m));
    return static_cast<int>(c_.consts.size()) - 1;
}

inline int compiler::new_const(const dnnl::memory::desc& d, const void* data) {
    dnnl::memory m(d, c_.eng, c_.const_bytes.take(d.get_size()));
    std::memcpy(m.get_data_handle(), data, d.get_size());
    return new_const(std::move(m));
}

/// The type a layer stores its output in: an INT8 layer with an output quantization stores it
/// quantized, whoever reads it (an FP32 layer, a softmax, or nobody: the model's logits), so the
/// rounding and clipping the description asks for happen on every path.
inline dtype compiler::out_type(const layer& l) const {
    return (eff_prec(l) == precision::int8 && l.act) ? l.act->type : dtype::f32;
}

/// The rounding of an INT8 layer's first post-op, a sum whose branch the file rounds first
/// (validate() allows `rounded` there only), or null.
inline const quant_params* compiler::leading_rounding(const layer& l) const {
    if (eff_prec(l) != precision::int8 || l.post_ops.empty() || l.post_ops[0].kind != post_op::sum || !l.post_ops[0].rounded) return nullptr;
    return &*l.post_ops[0].rounded;
}

/// The scale the primitive's output scales map the accumulator to: the branch's when the layer
/// rounds it before a sum (the post-ops then start on that grid), else the stored output's.
inline float compiler::stage_scale(const layer& l, dtype dst_t) const {
    if (const quant_params* r = leading_rounding(l)) return r->scale;
    return dst_t == dtype::f32 ? 1.f : l.act->scale;
}

/// A layer's relu / clip post-ops as one clamp in destination units, for qint8's kernels (the
/// bounds compiler::fused_ops gives oneDNN).
inline kernels::dw_clamp kernel_clamp(const layer& l) {
    kernels::dw_clamp clamp;
    const float k = 1.f / l.act->scale;
    for (const auto& p : l.post_ops) {
        if (p.kind == post_op::relu) clamp.relu();
        else if (p.kind == post_op::clip) clamp.clip(p.lo * k, p.hi * k);
    }
    return clamp;
}

/// The output stage of a kernel's problem (dw_problem, pw_problem): signedness of the output,
/// zero points and the fused clamp.
template <class Problem>
inline void set_output_stage(Problem& pr, const layer& l, const quant_params& qin, dtype dst_t) {
    const kernels::dw_clamp clamp = kernel_clamp(l);
    pr.dst_signed = dst_t == dtype::s8;
    pr.src_zp = qin.zero_point;
    pr.dst_zp = l.act->zero_point;
    pr.lo = clamp.lo;
    pr.hi = clamp.hi;
}

/// Adds step `s` of one of qint8's kernels, which reads `l`'s input as NHWC `src_t` codes of
/// `qin` and writes its output as NHWC `dst_t`, described as `what`.
inline void compiler::add_kernel_step(step s, const layer& l, dtype src_t, const quant_params& qin, dtype dst_t, std::string what) {
    const std::string& in = l.inputs[0];
    const backend::dims& in_d = dims_.at(in);
    const backend::dims& od = dims_.at(l.name);
    s.src = need(in, src_t, dnnl::memory::desc(in_d, backend::to_dnnl(src_t), backend::tag::nhwc), qin, l.name);
    // A residual the kernel sums (the 1x1 kernel's pw_problem::sum) is in the destination first:
    // written there by the layer that made it, or copied there before the step.
    const dnnl::memory::desc dst_md(od, backend::to_dnnl(dst_t), backend::tag::nhwc);
    const std::vector<residual_sum> sums = plan_residuals(l, dst_t);
    const int in_place = in_place_residual(l, dst_md, sums);
    s.dst = new_slot(dst_md, in_place);
    if (in_place < 0) wire_residuals(l, s.dst, dst_md, sums);
    s.info = {l.name, std::move(what)};
    const int dst = s.dst;
    c_.steps.push_back(std::move(s));
    put(l.name, dst, dst_t, l.act);
}

inline void compiler::add_step(dnnl::primitive p, std::vector<operand> args, std::string layer, std::string what) {
    step s;
    s.p = std::move(p);
    s.args = std::move(args);
    s.info = {std::move(layer), std::move(what)};
    c_.steps.push_back(std::move(s));
}

/// Emits dst = scale * (src - szp) + dzp from one slot into another.
inline void compiler::reorder(int src, int dst, float scale, int32_t szp, int32_t dzp, const std::string& why) {
    auto pd = backend::reorder_pd(c_.eng, c_.slots[src].md, c_.slots[dst].md, scale, szp, dzp);
    track(pd.scratchpad_desc().get_size());
    add_step(dnnl::reorder(pd), {operand::slot(DNNL_ARG_FROM, src), operand::slot(DNNL_ARG_TO, dst)}, why,
             "reorder " + backend::impl_name(pd));
}

/// A slot holding tensor `name` as type `t` with layout `want` (layout of `want` ignored if it is
/// format `any`), converting (and requantizing to `tq` for integer types) if needed.
inline int compiler::need(const std::string& name, dtype t, const dnnl::memory::desc& want, const std::optional<quant_params>& tq,
                          const std::string& reader) {
    const where w = at_.at(name);
    const dnnl::memory::desc& have = c_.slots[w.slot].md;
    dnnl::memory::desc target = want;
    if (backend::is_format_any(target)) target = backend::make_desc(have.dims(), t, true);
    if (same_values(w, t, tq) && have == target) return w.slot;
    float scale = 1.f;
    int32_t szp = 0, dzp = 0;
    if (w.type != dtype::f32) { scale *= w.q->scale; szp = w.q->zero_point; }
    if (t != dtype::f32) { scale /= tq->scale; dzp = tq->zero_point; }
    if (w.type != dtype::f32 && t != dtype::f32 && *w.q == *tq) scale = 1.f;
    const int s = new_slot(target);
    reorder(w.slot, s, scale, szp, dzp, reader);
    return s;
}

/// The layer's ReLU/clip and residual sums, in the units of the stored result: real for f32,
/// quantized for an integer destination.
inline std::vector<backend::fused_op> compiler::fused_ops(const layer& l, dtype dst_t, const std::vector<residual_sum>& sums) const {
    std::vector<backend::fused_op> ops;
    const float k = dst_t == dtype::f32 ? 1.f : 1.f / l.act->scale;
    std::size_t si = 0;
    for (const auto& p : l.post_ops) {
        if (p.kind == post_op::relu) ops.push_back(backend::fused_op::relu());
        else if (p.kind == post_op::clip) ops.push_back(backend::fused_op::clip(p.lo * k, p.hi * k));
        else {
            if (const quant_params* r = leading_rounding(l); r && si == 0) {
                // The branch's own rounding before the add (docs/manifest.md, "Convolution and
                // fc"): the output scales put the result on the branch's grid; round, clamp to its
                // type's range there, and scale to stored units. INT8 layers only, like activations.
                const float s_dst = dst_t == dtype::f32 ? 1.f : l.act->scale;
                ops.push_back(backend::fused_op::round());
                ops.push_back(backend::fused_op::clamp(float(dtype_min(r->type) - r->zero_point), float(dtype_max(r->type) - r->zero_point)));
                ops.push_back(backend::fused_op::scale(r->scale / s_dst));
            }
            const residual_sum& s = sums.at(si++);
            ops.push_back(backend::fused_op::sum(s.scale, s.zero_point, backend::to_dnnl(s.read_as)));
        }
    }
    return ops;
}

}  // namespace qint8::detail
