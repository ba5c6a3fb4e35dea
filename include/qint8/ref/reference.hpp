#pragma once
/// @file reference.hpp  A naive interpreter of a model description: plain loops over NCHW arrays,
/// integer-exact on the INT8 path. It is the oracle the optimised oneDNN graph is tested
/// against, written from the numeric rules in docs/manifest.md, not from the backend code.
///
/// INT8 numerics, per output element of a conv/fc layer (oneDNN's order of operations):
///   acc = sum over taps (q_src - zp_src) * q_w            (int32; padded taps contribute 0)
///   v   = (float(acc) + float(bias_s32)) * os[o]          os[o] = s_src * s_w[o] / s_dst
///   post-ops in order, in dst units: sum v += (s_r/s_dst) * (q_r - zp_r); relu; clip(lo/s_dst, hi/s_dst)
///   q   = saturate(round_half_even(v + zp_dst))           (or v itself when the output stays f32)

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "qint8/detail/pair_sums.hpp"
#include "qint8/graph.hpp"
#include "qint8/validate.hpp"

namespace qint8::ref {

/// A tensor in the reference: real values, or integers with their quantization.
struct value {
    std::vector<int64_t> dims;   ///< [N, C, H, W] or [N, K]
    bool is_int = false;
    quant_params q;              ///< when is_int
    std::vector<float> f;        ///< when !is_int
    std::vector<int32_t> i;      ///< when is_int
    std::size_t size() const { std::size_t n = 1; for (auto d : dims) n *= static_cast<std::size_t>(d); return n; }
    float real(std::size_t k) const { return is_int ? q.scale * static_cast<float>(i[k] - q.zero_point) : f[k]; }
};

inline int32_t saturate_round(float v, dtype t) {
    const float r = std::nearbyint(v);
    const float lo = t == dtype::u8 ? 0.f : -128.f, hi = t == dtype::u8 ? 255.f : 127.f;
    return static_cast<int32_t>(std::min(hi, std::max(lo, r)));
}

/// q = saturate(round(x * (1/scale)) + zp): quantization multiplies by the reciprocal.
inline value quantize(const value& x, const quant_params& q) {
    value r;
    r.dims = x.dims;
    r.is_int = true;
    r.q = q;
    r.i.resize(x.size());
    const float inv = 1.f / q.scale;
    for (std::size_t k = 0; k < x.size(); ++k) {
        if (x.is_int && x.q == q) {
            r.i[k] = x.i[k];
        } else if (x.is_int) {  // requantize: scale ratio applied to the centred integer
            r.i[k] = saturate_round((x.q.scale / q.scale) * static_cast<float>(x.i[k] - x.q.zero_point) + static_cast<float>(q.zero_point), q.type);
        } else {
            r.i[k] = saturate_round(std::nearbyint(x.f[k] * inv) + static_cast<float>(q.zero_point), q.type);
        }
    }
    return r;
}

inline value to_real(const value& x) {
    if (!x.is_int) return x;
    value r;
    r.dims = x.dims;
    r.f.resize(x.size());
    for (std::size_t k = 0; k < x.size(); ++k) r.f[k] = x.q.scale * static_cast<float>(x.i[k] - x.q.zero_point);
    return r;
}

/// Options that mirror the compiled path's choices that are not in the manifest.
struct options {
    bool force_fp32 = false;
    /// 63 on paths without VNNI (see dispatch/isa.hpp; applies to s8 sources there too): then each
    /// output channel keeps the largest qmax in [63, 127] that provably fits int16 pair sums.
    int u8_weight_max = 127;
};

namespace detail {

inline float f32_at(const tensor& t, std::size_t i) {
    float v;
    std::memcpy(&v, t.data + i * 4, 4);
    return v;
}

/// Per-channel symmetric weights, written independently of the runtime's version.
inline void weights_int(const tensor& w, const tensor* ws, int qmax, std::vector<int32_t>& q, std::vector<float>& s) {
    const std::size_t o = static_cast<std::size_t>(w.shape[0]), k = w.elements() / o;
    q.assign(o * k, 0);
    s.assign(o, 1.f);
    for (std::size_t c = 0; c < o; ++c) {
        if (w.type == dtype::s8) {
            const int8_t* p = reinterpret_cast<const int8_t*>(w.data) + c * k;
            int mx = 0;
            for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, p[i] < 0 ? -p[i] : int(p[i]));
            s[c] = f32_at(*ws, c);
            if (mx > qmax) {
                for (std::size_t i = 0; i < k; ++i) q[c * k + i] = static_cast<int32_t>(std::nearbyint(float(p[i]) * (float(qmax) / float(mx))));
                s[c] = s[c] * float(mx) / float(qmax);
            } else {
                for (std::size_t i = 0; i < k; ++i) q[c * k + i] = p[i];
            }
        } else {
            float mx = 0;
            for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, std::fabs(f32_at(w, c * k + i)));
            s[c] = mx > 0 ? mx / float(qmax) : 1.f;
            for (std::size_t i = 0; i < k; ++i)
                q[c * k + i] = static_cast<int32_t>(std::max<float>(-qmax, std::min<float>(qmax, std::nearbyint(f32_at(w, c * k + i) / s[c]))));
        }
    }
}

/// Paths without VNNI: per output channel the largest qmax in [qmin, 127] whose integers pass
/// the int16 pair-sum proof (detail/pair_sums.hpp; the proof is shared, the rounding is not).
inline void weights_int_paired(const tensor& w, const tensor* ws, int qmin, const qint8::detail::pair_geometry& g,
                               std::vector<int32_t>& q, std::vector<float>& s) {
    weights_int(w, ws, 127, q, s);
    const std::size_t o = s.size(), k = q.size() / o;
    std::vector<int8_t> ch(k);
    std::vector<int32_t> q2;
    std::vector<float> s2;
    std::vector<bool> ok(o);
    auto fits = [&](const std::vector<int32_t>& v, std::size_t c) {
        for (std::size_t i = 0; i < k; ++i) ch[i] = static_cast<int8_t>(v[c * k + i]);
        return qint8::detail::pairs_fit_int16(ch.data(), g);
    };
    bool all = true;
    for (std::size_t c = 0; c < o; ++c) all = (ok[c] = fits(q, c)) && all;
    for (int qmax = 126; qmax >= qmin && !all; --qmax) {
        weights_int(w, ws, qmax, q2, s2);
        all = true;
        for (std::size_t c = 0; c < o; ++c) {
            if (ok[c]) continue;
            if (qmax == qmin || fits(q2, c)) {
                std::copy(q2.begin() + std::ptrdiff_t(c * k), q2.begin() + std::ptrdiff_t((c + 1) * k), q.begin() + std::ptrdiff_t(c * k));
                s[c] = s2[c];
                ok[c] = true;
            }
            all = all && ok[c];
        }
    }
}

inline std::vector<double> weights_real(const tensor& w, const tensor* ws) {
    const std::size_t o = static_cast<std::size_t>(w.shape[0]), k = w.elements() / o;
    std::vector<double> r(o * k);
    for (std::size_t c = 0; c < o; ++c)
        for (std::size_t i = 0; i < k; ++i)
            r[c * k + i] = w.type == dtype::f32 ? f32_at(w, c * k + i)
                                                : double(f32_at(*ws, c)) * double(reinterpret_cast<const int8_t*>(w.data)[c * k + i]);
    return r;
}

}  // namespace detail

/// Runs `m` on `input` ([N, C, H, W] plain floats) and returns every tensor by name.
inline std::map<std::string, value> run_all(const model_desc& desc, const std::vector<float>& input, int64_t batch, const options& opt = {}) {
    model_desc m = desc;  // validation fills in output shapes and inherited pool quantization
    if (opt.force_fp32)
        for (auto& l : m.layers) l.prec = precision::fp32;
    validate(m, "reference");
    std::map<std::string, value> t;
    std::map<std::string, std::vector<const layer*>> readers;
    for (const auto& l : m.layers) {
        for (const auto& i : l.inputs) readers[i].push_back(&l);
        for (const auto& p : l.post_ops) if (p.kind == post_op::sum) readers[p.input].push_back(&l);
    }
    auto is_int8 = [&](const layer& l) { return !opt.force_fp32 && l.prec == precision::int8 && l.kind != op::softmax; };
    // The storage rule: a tensor is held in 8 bits when it has a quantization and an int8 layer reads it.
    auto stored_int = [&](const std::string& name, const std::optional<quant_params>& q) {
        if (!q || opt.force_fp32) return false;
        for (const layer* r : readers[name]) if (is_int8(*r)) return true;
        return false;
    };

    value x;
    x.dims = {batch, m.input.shape[0], m.input.shape[1], m.input.shape[2]};
    x.f = input;
    t[m.input.name] = stored_int(m.input.name, m.input.act) ? quantize(x, *m.input.act) : x;
    std::map<std::string, std::optional<quant_params>> acts{{m.input.name, m.input.act}};

    for (const layer& l : m.layers) {
        const bool i8 = is_int8(l);
        const value& in = t.at(l.inputs[0]);
        value out;
        out.dims = {batch};
        out.dims.insert(out.dims.end(), l.out_shape.begin(), l.out_shape.end());
        const std::size_t n_out = out.size();
        const bool out_int = i8 && stored_int(l.name, l.act);
        const std::size_t per_n = n_out / static_cast<std::size_t>(batch);

        if (has_weights(l.kind)) {
            const tensor& w = m.tensors.at(l.name + ".weight");
            const tensor* ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
            const tensor* b = m.tensors.count(l.name + ".bias") ? &m.tensors.at(l.name + ".bias") : nullptr;
            tensor corrected_bias;
            if (i8) b = int8_bias(m, l.name, b, l.out_channels, corrected_bias);  // INT8 only
            const bool fc = l.kind == op::fc;
            const int64_t C = in.dims[1], H = in.dims.size() == 4 ? in.dims[2] : 1, W = in.dims.size() == 4 ? in.dims[3] : 1;
            const int64_t O = l.out_channels, OH = fc ? 1 : l.out_shape[1], OW = fc ? 1 : l.out_shape[2];
            const int64_t G = fc ? 1 : l.groups, KH = fc ? H : l.kernel[0], KW = fc ? W : l.kernel[1];
            const int64_t SH = fc ? 1 : l.stride[0], SW = fc ? 1 : l.stride[1], PT = fc ? 0 : l.pad[0], PL = fc ? 0 : l.pad[1];
            const int64_t CG = C / G, OG = O / G;

            value src = in;
            std::vector<int32_t> wq;
            std::vector<float> wsc, os;
            std::vector<double> wr;
            quant_params qs;
            float s_dst = 1.f;
            if (i8) {
                qs = *acts.at(l.inputs[0]);
                if (!src.is_int || src.q != qs) src = quantize(src, qs);
                // Paths without VNNI read s8 activations as u8 (zero point + 128), so both use the u8 limit there.
                // Depthwise layers keep 8-bit weights everywhere (their kernels do not pair products).
                const bool narrow = l.kind != op::depthwise_conv2d && (qs.type == dtype::u8 || opt.u8_weight_max < 127);
                if (narrow && opt.u8_weight_max < 127) {
                    const int zp_u8 = qs.zero_point + (qs.type == dtype::s8 ? 128 : 0);
                    const qint8::detail::pair_geometry g{CG, KH, KW, qint8::detail::max_input_code(m.layers, l.inputs[0], qs.scale, zp_u8)};
                    detail::weights_int_paired(w, ws, opt.u8_weight_max, g, wq, wsc);
                } else {
                    detail::weights_int(w, ws, 127, wq, wsc);
                }
                s_dst = out_int ? l.act->scale : 1.f;
                for (int64_t o = 0; o < O; ++o) os.push_back(qs.scale * wsc[size_t(o)] / s_dst);
            } else {
                src = to_real(src);
                wr = detail::weights_real(w, ws);
            }
            // Residual inputs, in the form the sum reads them.
            std::vector<const value*> sums;
            for (const auto& p : l.post_ops) if (p.kind == post_op::sum) sums.push_back(&t.at(p.input));

            out.is_int = out_int;
            if (out_int) { out.q = *l.act; out.i.resize(n_out); } else { out.f.resize(n_out); }
            for (int64_t n = 0; n < batch; ++n)
                for (int64_t o = 0; o < O; ++o) {
                    const int64_t g = o / OG;
                    for (int64_t oy = 0; oy < OH; ++oy)
                        for (int64_t ox = 0; ox < OW; ++ox) {
                            int64_t acc = 0;
                            double accf = 0;
                            for (int64_t ci = 0; ci < CG; ++ci)
                                for (int64_t ky = 0; ky < KH; ++ky)
                                    for (int64_t kx = 0; kx < KW; ++kx) {
                                        const int64_t iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
                                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                        const int64_t c = g * CG + ci;
                                        const std::size_t si = size_t(((n * C + c) * H + iy) * W + ix);
                                        const std::size_t wi = size_t(((o * CG + ci) * KH + ky) * KW + kx);
                                        if (i8) acc += int64_t(src.i[si] - qs.zero_point) * wq[wi];
                                        else accf += double(src.f[si]) * wr[wi];
                                    }
                            const std::size_t oi = size_t(((n * O + o) * OH + oy) * OW + ox);
                            float v;
                            if (i8) {
                                const float bias = b ? float(std::nearbyint(double(detail::f32_at(*b, size_t(o))) / (double(qs.scale) * wsc[size_t(o)]))) : 0.f;
                                v = (float(acc) + bias) * os[size_t(o)];
                            } else {
                                v = float(accf + (b ? detail::f32_at(*b, size_t(o)) : 0.f));
                            }
                            std::size_t si = 0;
                            const float k = out_int ? 1.f / s_dst : 1.f;
                            for (const auto& p : l.post_ops) {
                                if (p.kind == post_op::relu) v = std::max(v, 0.f);
                                else if (p.kind == post_op::clip) v = std::min(std::max(v, p.lo * k), p.hi * k);
                                else {
                                    const value& r = *sums[si++];
                                    if (out_int && r.is_int) v += (r.q.scale / s_dst) * float(r.i[oi] - r.q.zero_point);
                                    else if (out_int) v += float(saturate_round(std::nearbyint(r.f[oi] * (1.f / s_dst)) + float(l.act->zero_point), l.act->type) - l.act->zero_point);
                                    else v += r.real(oi);
                                }
                            }
                            if (out_int) out.i[oi] = saturate_round(v + float(l.act->zero_point), l.act->type);
                            else out.f[oi] = v;
                        }
                }
        } else if (l.kind == op::max_pool2d || l.kind == op::avg_pool2d || l.kind == op::global_avg_pool2d) {
            const bool glob = l.kind == op::global_avg_pool2d;
            const int64_t C = in.dims[1], H = in.dims[2], W = in.dims[3];
            const int64_t OH = l.out_shape[1], OW = l.out_shape[2];
            const int64_t KH = glob ? H : l.kernel[0], KW = glob ? W : l.kernel[1];
            const int64_t SH = glob ? 1 : l.stride[0], SW = glob ? 1 : l.stride[1], PT = glob ? 0 : l.pad[0], PL = glob ? 0 : l.pad[1];
            const bool any_pad = !glob && (l.pad[0] || l.pad[1] || l.pad[2] || l.pad[3]);
            const bool int_pool = i8 && in.is_int && !(l.kind == op::avg_pool2d && l.count_include_pad && any_pad && in.q.zero_point != 0);
            value src = int_pool ? in : to_real(in);
            out.is_int = int_pool;
            out.q = in.q;
            if (int_pool) out.i.resize(n_out); else out.f.resize(n_out);
            for (int64_t n = 0; n < batch; ++n)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t oy = 0; oy < OH; ++oy)
                        for (int64_t ox = 0; ox < OW; ++ox) {
                            double best = -INFINITY, sum = 0;
                            int64_t cnt = 0;
                            for (int64_t ky = 0; ky < KH; ++ky)
                                for (int64_t kx = 0; kx < KW; ++kx) {
                                    const int64_t iy = oy * SH - PT + ky, ix = ox * SW - PL + kx;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    const std::size_t si = size_t(((n * C + c) * H + iy) * W + ix);
                                    const double v = int_pool ? double(src.i[si]) : double(src.f[si]);
                                    best = std::max(best, v);
                                    sum += v;
                                    ++cnt;
                                }
                            if (l.kind == op::avg_pool2d && l.count_include_pad) {
                                // The window clipped to the padded input, as oneDNN counts it.
                                const int64_t y0 = oy * SH - PT, x0 = ox * SW - PL;
                                const int64_t y1 = std::min(y0 + KH, H + l.pad[2]), x1 = std::min(x0 + KW, W + l.pad[3]);
                                cnt = (y1 - y0) * (x1 - x0);
                            }
                            const std::size_t oi = size_t(((n * C + c) * OH + oy) * OW + ox);
                            const double r = l.kind == op::max_pool2d ? best : sum / double(cnt);
                            if (int_pool) out.i[oi] = l.kind == op::max_pool2d ? int32_t(best) : saturate_round(float(sum) / float(cnt), in.q.type);
                            else out.f[oi] = float(r);
                        }
            if (i8 && stored_int(l.name, l.act) && (!out.is_int || out.q != *l.act)) out = quantize(out, *l.act);
        } else if (l.kind == op::add) {
            const value a = to_real(in), b = to_real(t.at(l.inputs[1]));
            out.f.resize(n_out);
            for (std::size_t k = 0; k < n_out; ++k) {
                float v = a.f[k] + b.f[k];
                for (const auto& p : l.post_ops) {
                    if (p.kind == post_op::relu) v = std::max(v, 0.f);
                    else if (p.kind == post_op::clip) v = std::min(std::max(v, p.lo), p.hi);
                }
                out.f[k] = v;
            }
            if (out_int) out = quantize(out, *l.act);
        } else if (l.kind == op::softmax) {
            const value a = to_real(in);
            out.f.resize(n_out);
            for (int64_t n = 0; n < batch; ++n) {
                const float* s = a.f.data() + size_t(n) * per_n;
                float* d = out.f.data() + size_t(n) * per_n;
                double mx = *std::max_element(s, s + per_n), sum = 0;
                for (std::size_t k = 0; k < per_n; ++k) sum += std::exp(double(s[k]) - mx);
                for (std::size_t k = 0; k < per_n; ++k) d[k] = float(std::exp(double(s[k]) - mx) / sum);
            }
        }
        t[l.name] = std::move(out);
        acts[l.name] = l.act;
    }
    return t;
}

/// The model's output as real values, [N, K] flattened.
inline std::vector<float> run(const model_desc& m, const std::vector<float>& input, int64_t batch, const options& opt = {}) {
    return to_real(run_all(m, input, batch, opt).at(m.output_name())).f;
}

}  // namespace qint8::ref
