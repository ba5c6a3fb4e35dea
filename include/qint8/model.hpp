#pragma once
/// @file model.hpp  Compiling a model description into oneDNN primitives (once), and running it.
///
/// `qint8::model` is immutable after construction and can be shared by any number of threads;
/// each thread runs it through its own `qint8::session`, which owns the activation buffers and
/// the scratchpad.

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <omp.h>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/detail/quantize_weights.hpp"
#include "qint8/dispatch/isa.hpp"
#include "qint8/graph.hpp"
#include "qint8/io/manifest.hpp"
#include "qint8/kernels/depthwise.hpp"
#include "qint8/kernels/vector.hpp"
#include "qint8/validate.hpp"

namespace qint8 {

/// How a description is compiled.
struct compile_options {
    int64_t batch = 1;        ///< images per run(); primitives are specialised for it
    bool force_fp32 = false;  ///< run every layer in f32 (dequantized weights): the FP32 baseline
    /// OpenMP threads the model is compiled for and runs with (0: the process default,
    /// omp_get_max_threads()). oneDNN splits work for the thread count it sees when a primitive
    /// is created, so this is the model's one thread setting: every session runs with it. More
    /// threads than the processors OpenMP may use (omp_get_num_procs()) only share cores, so the
    /// count is lowered to that; model::threads() reports the count in use.
    int threads = 0;
};

namespace detail {
/// The thread count a model compiled with `requested` threads runs with (see compile_options).
inline int resolve_threads(int requested) {
    const int n = requested > 0 ? requested : omp_get_max_threads();
    return std::max(1, std::min(n, omp_get_num_procs()));
}

/// Sets the calling thread's OpenMP thread count for a scope, then restores it.
class omp_threads_scope {
public:
    explicit omp_threads_scope(int n) : prev_(omp_get_max_threads()), set_(n > 0) {
        if (set_) omp_set_num_threads(n);
    }
    ~omp_threads_scope() {
        if (set_) omp_set_num_threads(prev_);
    }
    omp_threads_scope(const omp_threads_scope&) = delete;
    omp_threads_scope& operator=(const omp_threads_scope&) = delete;

private:
    int prev_;
    bool set_;
};
}  // namespace detail

/// One executed step, for profiles and diagnostics.
struct step_info {
    std::string layer;  ///< layer name, or "" for glue (input quantization, output conversion)
    std::string what;   ///< e.g. "conv2d int8 u8->u8 brg:avx512_core_vnni" or "reorder"
};

namespace detail {

struct slot_desc {
    dnnl::memory::desc md;
    int alias_of = -1;  ///< shares the bytes of another slot (a residual read in place as the sum input)
};

/// A depthwise layer run by qint8's own kernel (kernels/depthwise.hpp): packed once at compilation.
struct dw_job {
    kernels::dw_problem pr;
    kernels::dw_packed pk;
    kernels::dw_variant variant = kernels::dw_variant::avx2;
};

struct step {
    enum kind_t { prim, dequantize_output, softmax, copy_output, depthwise } kind = prim;
    std::shared_ptr<const dw_job> dw;
    dnnl::primitive p;
    std::vector<std::pair<int, int>> args;  ///< (DNNL_ARG_*, slot); slot < 0 is constant -1-slot
    int src = -1, dst = -1;                 ///< kernels
    std::size_t rows = 0, cols = 0;
    quant_params q;
    step_info info;
};

struct compiled {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    model_desc desc;
    compile_options opt;
    int threads = 1;  ///< OpenMP threads the primitives were created for and every run uses
    isa path = isa::avx2;
    std::vector<slot_desc> slots;
    std::vector<dnnl::memory> consts;
    std::vector<step> steps;
    std::size_t scratchpad_bytes = 0;
    int input_slot = -1;
    bool input_is_int = false;
    quant_params input_q;
    std::size_t input_elems = 0, output_elems = 0;  ///< per image
    /// Where every tensor ends up after a run (its final form), for session::read().
    struct tensor_loc {
        int slot;
        dtype type;
        std::optional<quant_params> q;
    };
    std::map<std::string, tensor_loc> tensors;
};

inline backend::dt to_dnnl(dtype t) {
    switch (t) {
        case dtype::u8: return backend::dt::u8;
        case dtype::s8: return backend::dt::s8;
        case dtype::s32: return backend::dt::s32;
        case dtype::f32: return backend::dt::f32;
    }
    return backend::dt::f32;
}

inline backend::tag plain_tag(std::size_t ndims) {
    return ndims == 2 ? backend::tag::nc : ndims == 4 ? backend::tag::nchw : ndims == 5 ? backend::tag::goihw : backend::tag::x;
}

/// Builds the step list. One instance per compilation.
class compiler {
public:
    compiler(compiled& c, const std::string& origin) : c_(c), origin_(origin) {}

    void run() {
        const model_desc& m = c_.desc;
        c_.path = detail::active_isa();
        qmax_u8_ = has_int8_dot(c_.path) ? 127 : 63;
        // oneDNN halves s8 x s8 weights where it has no 512-bit vpdpbusd; see weighted().
        s8_src_as_u8_ = qmax_u8_ < 127 || c_.path == isa::avx2_vnni;
        layers_ = m.layers;
        if (s8_src_as_u8_) {
            // Every int8 reader would convert an s8 tensor to u8 (a reorder per inference), so
            // layers store it as u8 in the first place: q_u8 = q_s8 + 128 with zero point z + 128
            // is the same value, saturation bounds included. (fc keeps s8: its zero point is
            // folded in f32, see weighted().)
            for (layer& l : layers_)
                if (l.act && l.act->type == dtype::s8 && l.kind != op::fc && !c_.opt.force_fp32)
                    l.act = quant_params{dtype::u8, l.act->scale, l.act->zero_point + 128};
        }
        for (const layer& l : layers_) {
            for (const auto& i : l.inputs) consumers_[i].push_back(&l);
            for (const auto& p : l.post_ops)
                if (p.kind == post_op::sum) consumers_[p.input].push_back(&l);
        }
        dims_[m.input.name] = batch_dims(m.input.shape);
        // The input: quantized by the vector kernel if any int8 layer reads it.
        const bool int_in = m.input.act && needs_int(m.input.name);
        c_.input_is_int = int_in;
        if (int_in) c_.input_q = *m.input.act;
        c_.input_slot = new_slot(md(dims_[m.input.name], int_in ? m.input.act->type : dtype::f32, true));
        put(m.input.name, c_.input_slot, int_in ? m.input.act->type : dtype::f32, m.input.act);
        c_.input_elems = element_count(m.input.shape, "input");

        for (const layer& l : layers_) {
            dims_[l.name] = batch_dims(l.out_shape);
            try {
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
            } catch (const dnnl::error& e) {
                fail(errc::backend, origin_ + ": layer '" + l.name + "' (" + to_string(l.kind) + ", " + to_string(eff_prec(l)) +
                                        "): oneDNN refused it (status " + std::to_string(static_cast<int>(e.status)) + "): " + e.what());
            }
        }
        finish_output();
        for (const auto& [name, w] : at_) c_.tensors[name] = {w.slot, w.type, w.q};
    }

private:
    compiled& c_;
    std::string origin_;
    int qmax_u8_ = 127;
    bool s8_src_as_u8_ = false;
    std::vector<layer> layers_;  ///< the description's layers, activations as stored on this path
    std::map<std::string, std::vector<const layer*>> consumers_;
    std::map<std::string, backend::dims> dims_;
    struct where { int slot; dtype type; std::optional<quant_params> q; };
    std::map<std::string, where> at_;
    dnnl::stream compile_stream_{c_.eng};

    precision eff_prec(const layer& l) const { return c_.opt.force_fp32 ? precision::fp32 : l.prec; }

    backend::dims batch_dims(const std::vector<int64_t>& s) const {
        backend::dims d{c_.opt.batch};
        d.insert(d.end(), s.begin(), s.end());
        return d;
    }
    static dnnl::memory::desc md(const backend::dims& d, dtype t, bool plain) {
        return plain ? dnnl::memory::desc(d, to_dnnl(t), plain_tag(d.size())) : dnnl::memory::desc(d, to_dnnl(t), backend::tag::any);
    }
    int new_slot(const dnnl::memory::desc& d, int alias = -1) {
        c_.slots.push_back({d, alias});
        return static_cast<int>(c_.slots.size()) - 1;
    }
    int new_const(const dnnl::memory::desc& d, const void* data) {
        dnnl::memory m(d, c_.eng);
        std::memcpy(m.get_data_handle(), data, d.get_size());
        c_.consts.push_back(m);
        return -1 - static_cast<int>(c_.consts.size() - 1);
    }
    void put(const std::string& name, int slot, dtype t, std::optional<quant_params> q) { at_[name] = {slot, t, q}; }

    /// Is tensor `t` read by an int8 layer (so it is worth storing in 8 bits)?
    bool needs_int(const std::string& t) const {
        if (c_.opt.force_fp32) return false;
        auto it = consumers_.find(t);
        if (it == consumers_.end()) return false;
        for (const layer* l : it->second)
            if (l->prec == precision::int8 && l->kind != op::softmax) return true;
        return false;
    }
    /// The type a layer stores its output in.
    dtype out_type(const layer& l) const {
        return (eff_prec(l) == precision::int8 && l.act && needs_int(l.name)) ? l.act->type : dtype::f32;
    }

    void track(const dnnl::primitive_desc_base& pd) {
        c_.scratchpad_bytes = std::max(c_.scratchpad_bytes, pd.scratchpad_desc().get_size());
    }
    void add_step(dnnl::primitive p, std::vector<std::pair<int, int>> args, std::string layer, std::string what) {
        step s;
        s.p = std::move(p);
        s.args = std::move(args);
        s.info = {std::move(layer), std::move(what)};
        c_.steps.push_back(std::move(s));
    }

    /// Emits dst = scale * (src - szp) + dzp from one slot into another.
    void reorder(int src, int dst, float scale, int32_t szp, int32_t dzp, const std::string& why) {
        auto pd = backend::reorder_pd(c_.eng, c_.slots[src].md, c_.slots[dst].md, scale, szp, dzp);
        track(pd);
        add_step(dnnl::reorder(pd), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}}, why, "reorder " + backend::impl_name(pd));
    }

    /// A slot holding tensor `name` as type `t` with layout `want` (layout of `want` ignored if it
    /// is format `any`), converting (and requantizing to `tq` for integer types) if needed.
    int need(const std::string& name, dtype t, const dnnl::memory::desc& want, const std::optional<quant_params>& tq, const std::string& reader) {
        const where w = at_.at(name);
        const dnnl::memory::desc& have = c_.slots[w.slot].md;
        dnnl::memory::desc target = want;
        if (target.data.format_kind == dnnl_format_kind_any)
            target = dnnl::memory::desc(have.dims(), to_dnnl(t), plain_tag(have.dims().size()));
        const bool same_q = (t == dtype::f32 && w.type == dtype::f32) || (t == w.type && w.q && tq && *w.q == *tq);
        if (same_q && have == target) return w.slot;
        float scale = 1.f;
        int32_t szp = 0, dzp = 0;
        if (w.type != dtype::f32) { scale *= w.q->scale; szp = w.q->zero_point; }
        if (t != dtype::f32) { scale /= tq->scale; dzp = tq->zero_point; }
        if (w.type != dtype::f32 && t != dtype::f32 && *w.q == *tq) scale = 1.f;
        int s = new_slot(target);
        reorder(w.slot, s, scale, szp, dzp, reader);
        return s;
    }

    /// Post-ops in the units of the stored result: real for f32, quantized for integer output.
    dnnl::post_ops make_post_ops(const layer& l, dtype dst_t, const std::vector<std::pair<float, std::pair<int32_t, dtype>>>& sums) {
        dnnl::post_ops po;
        const float k = dst_t == dtype::f32 ? 1.f : 1.f / l.act->scale;
        std::size_t si = 0;
        for (const auto& p : l.post_ops) {
            if (p.kind == post_op::relu) backend::append_relu(po);
            else if (p.kind == post_op::clip) backend::append_clip(po, p.lo * k, p.hi * k);
            else {
                const auto& s = sums.at(si++);
                backend::append_sum(po, s.first, s.second.first, to_dnnl(s.second.second));
            }
        }
        return po;
    }

    /// Does qint8's own depthwise kernel take this layer? Integer in and out, one channel per
    /// group, no residual sum (MobileNets' depthwise layers), unless QINT8_DEPTHWISE=onednn.
    bool own_depthwise(const layer& l) const {
        if (l.kind != op::depthwise_conv2d || eff_prec(l) != precision::int8) return false;
        if (const char* e = std::getenv("QINT8_DEPTHWISE"); e && std::string(e) == "onednn") return false;
        const where& w = at_.at(l.inputs[0]);
        const backend::dims& in_d = dims_.at(l.inputs[0]);
        if (w.type == dtype::f32 || !w.q || out_type(l) == dtype::f32 || in_d.size() != 4) return false;
        if (l.groups != in_d[1] || l.out_channels != in_d[1] || l.kernel[0] * l.kernel[1] > kernels::dw_max_taps) return false;
        for (const auto& p : l.post_ops)
            if (p.kind == post_op::sum) return false;
        return kernels::dw_variant_runs(kernels::dw_variant_for(c_.path), detected_cpu().features);
    }

    /// NHWC in, NHWC out (oneDNN's int8 convolutions around it read and write NHWC too, so no
    /// reorder runs between them).
    void depthwise(const layer& l) {
        const model_desc& m = c_.desc;
        const std::string& in = l.inputs[0];
        const where src_w = at_.at(in);
        const quant_params qin = *src_w.q;
        const backend::dims in_d = dims_.at(in), od = dims_.at(l.name);
        const tensor& w = m.tensors.at(l.name + ".weight");
        const tensor* ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
        const tensor* b = m.tensors.count(l.name + ".bias") ? &m.tensors.at(l.name + ".bias") : nullptr;
        tensor corrected_bias;
        b = int8_bias(m, l.name, b, l.out_channels, corrected_bias);  // the converter's INT8-only bias correction, as weighted()
        const dtype dst_t = out_type(l);
        // 8-bit weights: the kernels multiply in int16 pairs summed exactly into int32.
        const int8_weights q = quantize_weights(w, ws, 127);
        const std::vector<int32_t> b32 = quantize_bias(b, q.scale, qin.scale);
        std::vector<float> os(static_cast<std::size_t>(l.out_channels));
        for (std::size_t c = 0; c < os.size(); ++c) os[c] = qin.scale * q.scale[c] / l.act->scale;
        kernels::dw_clamp clamp;
        const float k = 1.f / l.act->scale;  // post-op bounds in destination units, as make_post_ops
        for (const auto& p : l.post_ops) {
            if (p.kind == post_op::relu) clamp.relu();
            else if (p.kind == post_op::clip) clamp.clip(p.lo * k, p.hi * k);
        }
        auto job = std::make_shared<dw_job>();
        job->variant = kernels::dw_variant_for(c_.path);
        kernels::dw_problem& pr = job->pr;
        pr.n = in_d[0]; pr.c = in_d[1]; pr.h = in_d[2]; pr.w = in_d[3]; pr.oh = od[2]; pr.ow = od[3];
        pr.kh = static_cast<int>(l.kernel[0]); pr.kw = static_cast<int>(l.kernel[1]);
        pr.sh = static_cast<int>(l.stride[0]); pr.sw = static_cast<int>(l.stride[1]);
        pr.pt = static_cast<int>(l.pad[0]); pr.pl = static_cast<int>(l.pad[1]);
        pr.src_signed = src_w.type == dtype::s8;
        pr.dst_signed = dst_t == dtype::s8;
        pr.src_zp = qin.zero_point;
        pr.dst_zp = l.act->zero_point;
        pr.lo = clamp.lo;
        pr.hi = clamp.hi;
        job->pk = kernels::dw_pack(q.q.data(), b32.data(), os.data(), pr.c, pr.kh, pr.kw, kernels::dw_block(job->variant), pr.src_zp, pr.src_signed);

        const int src = need(in, src_w.type, dnnl::memory::desc(in_d, to_dnnl(src_w.type), backend::tag::nhwc), qin, l.name);
        const int dst = new_slot(dnnl::memory::desc(od, to_dnnl(dst_t), backend::tag::nhwc));
        step s;
        s.kind = step::depthwise;
        s.dw = std::move(job);
        s.src = src;
        s.dst = dst;
        s.info = {l.name, std::string("depthwise_conv2d int8 ") + to_string(src_w.type) + "->" + to_string(dst_t) + " qint8_dw:" +
                              kernels::to_string(s.dw->variant)};
        c_.steps.push_back(std::move(s));
        put(l.name, dst, dst_t, l.act);
    }

    /// Where int16 pair sums are possible (no VNNI): one output channel's weight geometry and
    /// the largest input code, for quantize_weights_paired.
    pair_geometry pair_geometry_of(const layer& l, const backend::dims& in_d, const quant_params& qin) const {
        pair_geometry g;
        g.c = in_d[1] / (l.kind == op::fc ? 1 : l.groups);
        g.kh = l.kind == op::fc ? (in_d.size() == 4 ? in_d[2] : 1) : l.kernel[0];
        g.kw = l.kind == op::fc ? (in_d.size() == 4 ? in_d[3] : 1) : l.kernel[1];
        g.max_code = max_input_code(layers_, l.inputs[0], qin.scale, qin.zero_point);
        return g;
    }

    void weighted(const layer& l) {
        if (own_depthwise(l)) return depthwise(l);
        const model_desc& m = c_.desc;
        const bool i8 = eff_prec(l) == precision::int8;
        const std::string& in = l.inputs[0];
        const backend::dims in_d = dims_.at(in);
        const tensor& w = m.tensors.at(l.name + ".weight");
        const tensor* ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
        const tensor* b = m.tensors.count(l.name + ".bias") ? &m.tensors.at(l.name + ".bias") : nullptr;
        const int64_t o = l.out_channels;
        const bool is_fc = l.kind == op::fc;
        tensor corrected_bias;
        if (i8) b = int8_bias(m, l.name, b, o, corrected_bias);  // the converter's INT8-only bias correction

        std::optional<quant_params> qin = at_.at(in).q;
        if (i8 && qin->type == dtype::s8 && s8_src_as_u8_) {
            // Without AVX-512 VNNI, oneDNN's s8 x s8 path may halve the weights (its
            // scale_adjust); on avx2_vnni that is not documented either way, so it is avoided
            // there too. An s8 activation with zero point z is exactly a u8 activation with zero
            // point z + 128, so read it as u8 instead and stay on the exact u8 path.
            qin = quant_params{dtype::u8, qin->scale, qin->zero_point + 128};
        }
        const dtype src_t = i8 ? qin->type : dtype::f32;
        const dtype dst_t = out_type(l);
        // oneDNN 2.6's inner product has no destination zero point: compute in f32 (already in
        // destination units) and let a reorder add the zero point and round, which is the same
        // arithmetic in the same order.
        const bool split_zp = is_fc && dst_t != dtype::f32 && l.act->zero_point != 0;
        if (split_zp)
            for (const auto& p : l.post_ops)
                if (p.kind == post_op::sum)
                    fail(errc::unsupported, origin_ + ": layer '" + l.name + "': fc with a residual sum and an output zero point is not supported");
        const dtype prim_dst_t = split_zp ? dtype::f32 : dst_t;
        backend::dims wd;
        if (is_fc) {
            wd = {o};
            wd.insert(wd.end(), in_d.begin() + 1, in_d.end());
        } else if (l.groups == 1) {
            wd = {o, in_d[1], l.kernel[0], l.kernel[1]};
        } else {
            wd = {l.groups, o / l.groups, in_d[1] / l.groups, l.kernel[0], l.kernel[1]};
        }
        const backend::dims od = dims_.at(l.name);
        dnnl::memory::desc src_any = md(in_d, src_t, false), dst_any = md(od, prim_dst_t, false);
        dnnl::memory::desc wei_any(wd, i8 ? backend::dt::s8 : backend::dt::f32, backend::tag::any);
        dnnl::memory::desc bias_md({o}, i8 ? backend::dt::s32 : backend::dt::f32, backend::tag::x);

        // Weights, bias and requantization factors.
        std::vector<int8_t> wq;
        std::vector<float> wf, os;
        std::vector<int32_t> b32;
        std::vector<float> bf;
        dnnl::primitive_attr attr = backend::base_attr();
        if (i8) {
            // Depthwise kernels widen every product to int32 (no int16 pair sums), so they keep
            // full 8-bit weights on every path; see dispatch/isa.hpp.
            const bool paired = src_t == dtype::u8 && l.kind != op::depthwise_conv2d && qmax_u8_ < 127;
            int8_weights q = paired ? quantize_weights_paired(w, ws, pair_geometry_of(l, in_d, *qin)) : quantize_weights(w, ws, 127);
            b32 = quantize_bias(b, q.scale, qin->scale);
            const float s_dst = dst_t == dtype::f32 ? 1.f : l.act->scale;
            os.resize(static_cast<std::size_t>(o));
            for (std::size_t c = 0; c < os.size(); ++c) os[c] = qin->scale * q.scale[c] / s_dst;
            if (is_fc && qin->zero_point != 0) {
                // No padding in fc, so sum_k w*(x - zp) = sum_k w*x - zp*sum_k w exactly: fold it into the bias.
                const std::size_t k = q.q.size() / static_cast<std::size_t>(o);
                for (std::size_t c = 0; c < os.size(); ++c) {
                    int64_t sw = 0;
                    for (std::size_t i = 0; i < k; ++i) sw += q.q[c * k + i];
                    int64_t v = int64_t(b32[c]) - int64_t(qin->zero_point) * sw;
                    b32[c] = static_cast<int32_t>(std::min<int64_t>(INT32_MAX, std::max<int64_t>(INT32_MIN, v)));
                }
            } else if (!is_fc) {
                backend::set_zero_point(attr, DNNL_ARG_SRC, qin->zero_point);
            }
            backend::set_output_scales(attr, os);
            if (dst_t != dtype::f32 && !split_zp) backend::set_zero_point(attr, DNNL_ARG_DST, l.act->zero_point);
            wq = std::move(q.q);
        } else {
            wf = real_weights(w, ws);
            bf.assign(static_cast<std::size_t>(o), 0.f);
            if (b) for (std::size_t c = 0; c < bf.size(); ++c) bf[c] = load_f32(b->data, c);
        }

        // Residuals fused as sum post-ops: the residual is first copied into the output buffer.
        std::vector<std::pair<float, std::pair<int32_t, dtype>>> sums;
        std::vector<std::pair<std::string, dtype>> sum_inputs;
        for (const auto& p : l.post_ops) {
            if (p.kind != post_op::sum) continue;
            const where r = at_.at(p.input);
            if (dst_t == dtype::f32) {
                sums.push_back({1.f, {0, dtype::f32}});
                sum_inputs.push_back({p.input, dtype::f32});
            } else if (r.type != dtype::f32) {
                // Same byte size: the output buffer is read as the residual's own type and scale.
                sums.push_back({r.q->scale / l.act->scale, {r.q->zero_point, r.type}});
                sum_inputs.push_back({p.input, r.type});
            } else {
                sums.push_back({1.f, {l.act->zero_point, dst_t}});
                sum_inputs.push_back({p.input, dst_t});
            }
        }
        attr.set_post_ops(make_post_ops(l, dst_t, sums));

        std::string impl;
        dnnl::primitive prim;
        dnnl::memory::desc src_md, wei_md, dst_md;
        if (is_fc) {
            auto pd = backend::ip_pd(c_.eng, src_any, wei_any, &bias_md, dst_any, attr);
            src_md = pd.src_desc(); wei_md = pd.weights_desc(); dst_md = pd.dst_desc();
            impl = backend::impl_name(pd); prim = dnnl::inner_product_forward(pd); track(pd);
        } else {
            auto pd = backend::conv_pd(c_.eng, src_any, wei_any, &bias_md, dst_any, {l.stride[0], l.stride[1]},
                                       {l.pad[0], l.pad[1]}, {l.pad[2], l.pad[3]}, attr);
            src_md = pd.src_desc(); wei_md = pd.weights_desc(); dst_md = pd.dst_desc();
            impl = backend::impl_name(pd); prim = dnnl::convolution_forward(pd); track(pd);
        }

        // Weights reordered once into the primitive's preferred layout.
        dnnl::memory::desc wplain(wd, i8 ? backend::dt::s8 : backend::dt::f32, plain_tag(wd.size()));
        dnnl::memory user(wplain, c_.eng, i8 ? static_cast<void*>(wq.data()) : static_cast<void*>(wf.data()));
        dnnl::memory packed(wei_md, c_.eng);
        dnnl::reorder(backend::reorder_pd(c_.eng, wplain, wei_md, 1.f, 0, 0, nullptr, false)).execute(compile_stream_, user, packed);
        compile_stream_.wait();
        c_.consts.push_back(packed);
        const int wslot = -1 - static_cast<int>(c_.consts.size() - 1);
        const int bslot = i8 ? new_const(bias_md, b32.data()) : new_const(bias_md, bf.data());

        const int src = need(in, src_t, src_md, qin, l.name);
        const int dst = new_slot(dst_md);
        for (std::size_t i = 0; i < sum_inputs.size(); ++i) {
            const auto& si = sum_inputs[i];
            const int alias = new_slot(with_type(dst_md, si.second), dst);
            const where r = at_.at(si.first);
            float scale = 1.f;
            int32_t szp = 0, dzp = 0;
            if (r.type != dtype::f32 && si.second == dtype::f32) { scale = r.q->scale; szp = r.q->zero_point; }
            if (r.type == dtype::f32 && si.second != dtype::f32) { scale = 1.f / l.act->scale; dzp = l.act->zero_point; }
            reorder(r.slot, alias, scale, szp, dzp, l.name);
        }
        add_step(prim, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wslot}, {DNNL_ARG_BIAS, bslot}, {DNNL_ARG_DST, dst}}, l.name,
                 std::string(to_string(l.kind)) + " " + to_string(eff_prec(l)) + " " + to_string(src_t) + "->" + to_string(prim_dst_t) + " " + impl);
        if (split_zp) {
            const int q = new_slot(with_type(dst_md, dst_t));
            reorder(dst, q, 1.f, 0, l.act->zero_point, l.name);
            put(l.name, q, dst_t, l.act);
        } else {
            put(l.name, dst, dst_t, l.act);
        }
    }

    void pool(const layer& l) {
        const std::string& in = l.inputs[0];
        const where w = at_.at(in);
        const bool i8 = eff_prec(l) == precision::int8;
        const backend::dims in_d = dims_.at(in);
        backend::pool_kind k = l.kind == op::max_pool2d ? backend::pool_kind::max
                             : (l.kind == op::avg_pool2d && l.count_include_pad) ? backend::pool_kind::avg_include_pad
                                                                                : backend::pool_kind::avg_exclude_pad;
        backend::dims kernel{l.kernel[0], l.kernel[1]}, stride{l.stride[0], l.stride[1]};
        backend::dims pl{l.pad[0], l.pad[1]}, pr{l.pad[2], l.pad[3]};
        if (l.kind == op::global_avg_pool2d) { kernel = {in_d[2], in_d[3]}; stride = {1, 1}; pl = pr = {0, 0}; }
        // Integer pooling keeps the input's scale: max commutes with the affine map, and the mean
        // does as long as padded taps are not counted (they would read as 0, not as the zero point).
        const bool has_pad = pl[0] || pl[1] || pr[0] || pr[1];
        bool int_pool = i8 && w.type != dtype::f32 &&
                        !(k == backend::pool_kind::avg_include_pad && has_pad && w.q->zero_point != 0);
        const dtype t = int_pool ? w.type : dtype::f32;
        const int src = int_pool ? w.slot : need(in, dtype::f32, with_type(c_.slots[w.slot].md, dtype::f32), std::nullopt, l.name);
        auto pd = backend::pool_pd(c_.eng, k, c_.slots[src].md, md(dims_.at(l.name), t, false), kernel, stride, pl, pr, backend::base_attr());
        track(pd);
        const int dst = new_slot(pd.dst_desc());
        add_step(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, l.name,
                 std::string(to_string(l.kind)) + " " + to_string(t) + " " + backend::impl_name(pd));
        put(l.name, dst, t, int_pool ? w.q : l.act);
        // A declared output quantization that differs from the input's is honoured by requantizing.
        const dtype want = out_type(l);
        if (want != dtype::f32 && !(int_pool && *w.q == *l.act)) {
            const int s = need(l.name, want, with_type(pd.dst_desc(), want), l.act, l.name);
            put(l.name, s, want, l.act);
        } else if (want != dtype::f32) {
            put(l.name, dst, t, l.act);
        }
    }

    static dnnl::memory::desc with_type(dnnl::memory::desc d, dtype t) {
        d.data.data_type = static_cast<dnnl_data_type_t>(to_dnnl(t));
        return d;
    }

    void add(const layer& l) {
        // Computed in f32 from dequantized inputs (the converter fuses residual adds into the
        // preceding convolution as a sum post-op, which is the fast path).
        const where a = at_.at(l.inputs[0]);
        const dnnl::memory::desc amd = with_type(c_.slots[a.slot].md, dtype::f32);
        const int sa = need(l.inputs[0], dtype::f32, amd, std::nullopt, l.name);
        const int sb = need(l.inputs[1], dtype::f32, amd, std::nullopt, l.name);
        dnnl::primitive_attr attr = backend::base_attr();
        attr.set_post_ops(make_post_ops(l, dtype::f32, {}));
        auto pd = backend::add_pd(c_.eng, amd, amd, amd, attr);
        track(pd);
        const int dst = new_slot(pd.dst_desc());
        add_step(dnnl::binary(pd), {{DNNL_ARG_SRC_0, sa}, {DNNL_ARG_SRC_1, sb}, {DNNL_ARG_DST, dst}}, l.name,
                 std::string("add f32 ") + backend::impl_name(pd));
        put(l.name, dst, dtype::f32, l.act);
        const dtype want = out_type(l);
        if (want != dtype::f32) {
            const int s = need(l.name, want, with_type(pd.dst_desc(), want), l.act, l.name);
            put(l.name, s, want, l.act);
        }
    }

    void softmax(const layer& l) {
        const backend::dims d = dims_.at(l.inputs[0]);
        const int src = need(l.inputs[0], dtype::f32, md(d, dtype::f32, true), std::nullopt, l.name);
        const int dst = new_slot(md(d, dtype::f32, true));
        step s;
        s.kind = step::softmax;
        s.src = src;
        s.dst = dst;
        s.rows = static_cast<std::size_t>(c_.opt.batch);
        s.cols = c_.slots[src].md.get_size() / sizeof(float) / s.rows;
        s.info = {l.name, "softmax f32 (vector kernel)"};
        c_.steps.push_back(s);
        put(l.name, dst, dtype::f32, std::nullopt);
    }

    void finish_output() {
        const std::string& out = c_.desc.output_name();
        const where w = at_.at(out);
        const backend::dims d = dims_.at(out);
        const int src = need(out, w.type, md(d, w.type, true), w.q, "");
        step s;
        s.kind = w.type == dtype::f32 ? step::copy_output : step::dequantize_output;
        s.src = src;
        s.rows = static_cast<std::size_t>(c_.opt.batch);
        s.cols = c_.slots[src].md.get_size() / dtype_size(w.type) / s.rows;
        if (w.q) s.q = *w.q;
        s.info = {"", w.type == dtype::f32 ? "output copy" : std::string("output dequantize ") + to_string(w.type) + " (vector kernel)"};
        c_.steps.push_back(s);
        c_.output_elems = s.cols;
    }
};

}  // namespace detail

/// A compiled model: primitives created and weights packed once; immutable and shareable.
class model {
public:
    /// Compiles `desc` (validated first). `origin` names the model in error messages.
    explicit model(model_desc desc, const compile_options& opt = {}, const std::string& origin = "model") {
        if (opt.batch < 1 || opt.batch > 65536)
            detail::fail(errc::invalid_argument, origin + ": batch: expected 1..65536, found " + std::to_string(opt.batch));
        if (opt.threads < 0 || opt.threads > 4096)
            detail::fail(errc::invalid_argument, origin + ": threads: expected 0..4096, found " + std::to_string(opt.threads));
        auto c = std::make_shared<detail::compiled>();
        c->threads = detail::resolve_threads(opt.threads);
        detail::omp_threads_scope threads(c->threads);
        // The FP32 baseline needs no quantization parameters: an unquantized model compiles too.
        if (opt.force_fp32)
            for (auto& l : desc.layers) l.prec = precision::fp32;
        validate(desc, origin);
        c->desc = std::move(desc);
        c->opt = opt;
        detail::compiler(*c, origin).run();
        impl_ = std::move(c);
    }

    /// Reads a manifest and its weights file and compiles them.
    static model load(const std::string& manifest_path, const compile_options& opt = {}, const read_options& ropt = {}) {
        return model(read_manifest(manifest_path, ropt), opt, manifest_path);
    }

    const model_desc& desc() const { return impl_->desc; }
    int64_t batch() const { return impl_->opt.batch; }
    /// OpenMP threads this model's primitives were built for; every session runs with this many.
    int threads() const { return impl_->threads; }
    /// Floats per image in run()'s input: C*H*W of the manifest's input, NCHW.
    std::size_t input_size() const { return impl_->input_elems; }
    /// Floats per image in run()'s output.
    std::size_t output_size() const { return impl_->output_elems; }
    isa code_path() const { return impl_->path; }
    bool fp32() const { return impl_->opt.force_fp32; }
    std::vector<step_info> steps() const {
        std::vector<step_info> r;
        for (const auto& s : impl_->steps) r.push_back(s.info);
        return r;
    }
    const std::shared_ptr<const detail::compiled>& impl() const { return impl_; }

private:
    std::shared_ptr<const detail::compiled> impl_;
};

struct session_options {
    /// Kept for source compatibility: a session always runs with the model's thread count
    /// (compile_options::threads, fixed when the primitives were built). 0 means "the model's";
    /// any other value must equal compile_options::threads or model::threads(), or the session
    /// is refused: set the count once, in compile_options.
    int threads = 0;
    bool profile = false;  ///< time every step (adds a stream wait per step)
};

/// Per-thread execution state for one model: activation buffers and scratchpad.
class session {
public:
    explicit session(const model& m, const session_options& opt = {}) : c_(m.impl()), opt_(opt), stream_(c_->eng) {
        check_threads();
        mem_.resize(c_->slots.size());
        for (std::size_t i = 0; i < c_->slots.size(); ++i)
            if (c_->slots[i].alias_of < 0) mem_[i] = dnnl::memory(c_->slots[i].md, c_->eng);
        for (std::size_t i = 0; i < c_->slots.size(); ++i)
            if (c_->slots[i].alias_of >= 0)
                mem_[i] = dnnl::memory(c_->slots[i].md, c_->eng, mem_[static_cast<std::size_t>(c_->slots[i].alias_of)].get_data_handle());
        dnnl::memory::desc sp({static_cast<dnnl::memory::dim>(std::max<std::size_t>(c_->scratchpad_bytes, 1))}, backend::dt::u8, backend::tag::x);
        scratch_ = dnnl::memory(sp, c_->eng);
        for (const auto& s : c_->steps) {
            std::unordered_map<int, dnnl::memory> a;
            for (const auto& [arg, slot] : s.args)
                a[arg] = slot >= 0 ? mem_[static_cast<std::size_t>(slot)] : c_->consts[static_cast<std::size_t>(-1 - slot)];
            if (s.kind == detail::step::prim) a[DNNL_ARG_SCRATCHPAD] = scratch_;
            args_.push_back(std::move(a));
        }
        times_.assign(c_->steps.size(), 0.0);
    }

    /// Runs one batch. `src`: batch x C x H x W floats (NCHW, preprocessed as the manifest says);
    /// `dst`: batch x output_size() floats.
    void run(const float* src, float* dst) {
        detail::omp_threads_scope threads(c_->threads);
        const std::size_t n_in = c_->input_elems * static_cast<std::size_t>(c_->opt.batch);
        dnnl::memory& in = mem_[static_cast<std::size_t>(c_->input_slot)];
        if (c_->input_is_int) {
            const float inv = 1.f / c_->input_q.scale;
            if (c_->input_q.type == dtype::u8) kernels::quantize(src, static_cast<uint8_t*>(in.get_data_handle()), n_in, inv, c_->input_q.zero_point);
            else kernels::quantize(src, static_cast<int8_t*>(in.get_data_handle()), n_in, inv, c_->input_q.zero_point);
        } else {
            std::memcpy(in.get_data_handle(), src, n_in * sizeof(float));
        }
        for (std::size_t i = 0; i < c_->steps.size(); ++i) {
            const auto& s = c_->steps[i];
            auto t0 = std::chrono::steady_clock::now();
            switch (s.kind) {
                case detail::step::prim: s.p.execute(stream_, args_[i]); break;
                case detail::step::softmax: {
                    stream_.wait();
                    const float* a = static_cast<const float*>(mem_[static_cast<std::size_t>(s.src)].get_data_handle());
                    float* b = static_cast<float*>(mem_[static_cast<std::size_t>(s.dst)].get_data_handle());
                    for (std::size_t r = 0; r < s.rows; ++r) kernels::softmax(a + r * s.cols, b + r * s.cols, s.cols);
                    break;
                }
                case detail::step::copy_output:
                    stream_.wait();
                    std::memcpy(dst, mem_[static_cast<std::size_t>(s.src)].get_data_handle(), s.rows * s.cols * sizeof(float));
                    break;
                case detail::step::dequantize_output: {
                    stream_.wait();
                    const void* a = mem_[static_cast<std::size_t>(s.src)].get_data_handle();
                    if (s.q.type == dtype::u8) kernels::dequantize(static_cast<const uint8_t*>(a), dst, s.rows * s.cols, s.q.scale, s.q.zero_point);
                    else kernels::dequantize(static_cast<const int8_t*>(a), dst, s.rows * s.cols, s.q.scale, s.q.zero_point);
                    break;
                }
                case detail::step::depthwise:
                    stream_.wait();
                    kernels::depthwise_run(s.dw->variant, s.dw->pr, s.dw->pk, static_cast<const uint8_t*>(mem_[static_cast<std::size_t>(s.src)].get_data_handle()),
                                           static_cast<uint8_t*>(mem_[static_cast<std::size_t>(s.dst)].get_data_handle()), c_->threads);
                    break;
            }
            if (opt_.profile) {
                stream_.wait();
                times_[i] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            }
        }
        stream_.wait();
        ++runs_;
    }

    /// Convenience: runs `src` (exactly batch x input_size() floats) and returns the output.
    std::vector<float> run(const std::vector<float>& src) {
        const std::size_t want = c_->input_elems * static_cast<std::size_t>(c_->opt.batch);
        if (src.size() != want)
            detail::fail(errc::invalid_argument, "session::run: expected " + std::to_string(want) + " input floats (batch " +
                                                     std::to_string(c_->opt.batch) + " x " + std::to_string(c_->input_elems) + "), found " + std::to_string(src.size()));
        std::vector<float> out(c_->output_elems * static_cast<std::size_t>(c_->opt.batch));
        run(src.data(), out.data());
        return out;
    }

    /// Any tensor of the last run() (the input or a layer's output), as real values in plain
    /// NCHW (or NC) order: for calibration, debugging and per-layer error reports. Not for the
    /// hot path: it creates a reorder on each call.
    std::vector<float> read(const std::string& tensor) const {
        auto it = c_->tensors.find(tensor);
        if (it == c_->tensors.end()) detail::fail(errc::invalid_argument, "session::read: no tensor named '" + tensor + "'");
        const auto& loc = it->second;
        const dnnl::memory& src = mem_[static_cast<std::size_t>(loc.slot)];
        const dnnl::memory::desc smd = src.get_desc();
        const dnnl::memory::dims d = smd.dims();
        dnnl::memory::desc plain(d, backend::dt::f32, detail::plain_tag(d.size()));
        std::vector<float> out(plain.get_size() / sizeof(float));
        dnnl::memory dst(plain, c_->eng, out.data());
        const bool q = loc.type != dtype::f32;
        auto pd = backend::reorder_pd(c_->eng, smd, plain, q ? loc.q->scale : 1.f, q ? loc.q->zero_point : 0, 0, nullptr, false);
        dnnl::stream st(c_->eng);
        dnnl::reorder(pd).execute(st, const_cast<dnnl::memory&>(src), dst);
        st.wait();
        return out;
    }

    /// Accumulated milliseconds per step (profile mode), aligned with model::steps().
    const std::vector<double>& step_times_ms() const { return times_; }
    std::size_t runs() const { return runs_; }

private:
    void check_threads() const {
        const int t = opt_.threads;
        if (t == 0 || t == c_->threads || t == c_->opt.threads) return;
        detail::fail(errc::invalid_argument,
                     "session_options::threads: the model was compiled for " + std::to_string(c_->threads) +
                         " OpenMP thread(s) (compile_options::threads = " + std::to_string(c_->opt.threads) +
                         ") and runs with exactly that many, found " + std::to_string(t) +
                         "; set compile_options::threads = " + std::to_string(t) + " and compile again, or leave session_options::threads at 0");
    }

    std::shared_ptr<const detail::compiled> c_;
    session_options opt_;
    dnnl::stream stream_;
    std::vector<dnnl::memory> mem_;
    dnnl::memory scratch_;
    std::vector<std::unordered_map<int, dnnl::memory>> args_;
    std::vector<double> times_;
    std::size_t runs_ = 0;
};

}  // namespace qint8
