#pragma once
/// @file validate.hpp  Checks a model description for consistency and infers every layer's output
/// shape. Whatever reaches the backend has passed through here, so the backend can trust shapes,
/// tensor sizes and scales.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstdio>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "qint8/core/window.hpp"
#include "qint8/detail/quantize_row.hpp"
#include "qint8/graph.hpp"
#include "qint8/io/bias_correction.hpp"

namespace qint8 {
namespace detail {

inline void check_quant(const quant_params& q, const std::string& where) {
    if (q.type != dtype::u8 && q.type != dtype::s8)
        fail(errc::dtype_mismatch, where + ".dtype: expected u8 or s8, found " + to_string(q.type));
    // Quantization multiplies by 1/scale: a denormal scale would make it infinite.
    if (!std::isfinite(q.scale) || !(q.scale >= std::numeric_limits<float>::min())) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(q.scale));
        fail(errc::manifest_field, where + ".scale: expected a finite positive number (a normal f32), found " + buf);
    }
    if (q.zero_point < dtype_min(q.type) || q.zero_point > dtype_max(q.type))
        fail(errc::manifest_field, where + ".zero_point: expected " + std::to_string(dtype_min(q.type)) + ".." +
                                       std::to_string(dtype_max(q.type)) + " for " + to_string(q.type) +
                                       ", found " + std::to_string(q.zero_point));
}

inline const tensor& need_tensor(const model_desc& m, const std::string& name, const std::string& who,
                                 const std::string& origin) {
    auto it = m.tensors.find(name);
    if (it == m.tensors.end())
        fail(errc::tensor_missing, origin + ": layer '" + who + "' needs tensor '" + name + "', which is not in the manifest");
    return it->second;
}

inline void check_tensor(const tensor& t, const std::string& name, std::vector<int64_t> shape,
                         std::initializer_list<dtype> types, const std::string& origin) {
    bool ok = false;
    std::string expected;
    for (dtype d : types) {
        ok = ok || t.type == d;
        expected += (expected.empty() ? "" : " or ") + std::string(to_string(d));
    }
    if (!ok)
        fail(errc::dtype_mismatch, origin + ": tensor '" + name + "': expected dtype " + expected + ", found " + to_string(t.type));
    if (t.shape != shape)
        fail(errc::shape_mismatch, origin + ": tensor '" + name + "': expected shape " + shape_str(shape) + ", found " + shape_str(t.shape));
    std::size_t want = checked_mul(element_count(shape, origin + ": tensor '" + name + "'"), dtype_size(t.type), name);
    if (t.bytes != want || (t.data == nullptr && want != 0))
        fail(errc::weights_file, origin + ": tensor '" + name + "': expected " + std::to_string(want) + " bytes, found " + std::to_string(t.bytes));
}

#if QINT8_ROW_AVX2
/// all_finite_f32's vector loop over the first multiple of 16 floats, eight lanes at a time in
/// two independent chains: at 4 floats a step the SSE2 loop reads about 28 GB/s from the
/// last-level cache on a Zen 3 core, this one 47. Returns 0 or, where a value is bad, nonzero.
__attribute__((target("avx2"))) inline uint32_t non_finite_avx2(const std::byte* p, std::size_t n, std::size_t& i) {
    const __m256i exp = _mm256_set1_epi32(0x7f800000);
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (; i + 16 <= n; i += 16) {
        const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i * sizeof(float)));
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + (i + 8) * sizeof(float)));
        a = _mm256_or_si256(a, _mm256_cmpeq_epi32(_mm256_and_si256(u, exp), exp));
        b = _mm256_or_si256(b, _mm256_cmpeq_epi32(_mm256_and_si256(v, exp), exp));
    }
    return static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(a, b)));
}
#endif

/// No NaN or infinity among n floats at p (any alignment). Four at a time with SSE2 (every x86-64
/// CPU has it), without branches: compilers vectorize the plain loop only at -O3, and at -O2
/// (which a header library's users may build with) it took 0.6 ns a float, 2 ms of MobileNet-V2's
/// loading; sixteen at a time with AVX2 where the CPU has it (`isa`; the tests run each). Only a
/// bad tensor is scanned again, element by element, for the message.
inline bool all_finite_f32(const std::byte* p, std::size_t n, row_isa isa = best_row_isa()) {
    std::size_t i = 0;
    uint32_t bad = 0;
#if QINT8_ROW_AVX2
    if (isa == row_isa::avx2) bad = non_finite_avx2(p, n, i);
#else
    (void)isa;
#endif
#if defined(__SSE2__)
    const __m128i exp = _mm_set1_epi32(0x7f800000);
    __m128i acc = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) {
        const __m128i u = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i * sizeof(float)));
        acc = _mm_or_si128(acc, _mm_cmpeq_epi32(_mm_and_si128(u, exp), exp));  // all exponent bits set: NaN or infinity
    }
    bad |= static_cast<uint32_t>(_mm_movemask_epi8(acc));
#endif
    for (; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, p + i * sizeof u, sizeof u);
        bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

/// All values finite; for scales also strictly positive.
inline void check_f32_values(const tensor& t, const std::string& name, bool positive, const std::string& origin) {
    if (!positive && all_finite_f32(t.data, t.elements())) return;
    const float* v = t.as<float>();
    for (std::size_t i = 0; i < t.elements(); ++i) {
        float x;
        std::memcpy(&x, v + i, sizeof x);  // data may be unaligned only in hand-built tensors
        if (!std::isfinite(x) || (positive && x <= 0.f))
            fail(errc::manifest_field, origin + ": tensor '" + name + "' element " + std::to_string(i) + ": expected " +
                                           (positive ? "a finite positive scale" : "a finite number") + ", found " + std::to_string(x));
    }
}

/// The int32 accumulator bound of ref/conv.hpp, per output channel on the actual weights:
/// 255 * sum_k |q_w[o, k]| <= 2^31 - 1, where q_w are the 8-bit weights the layer computes with
/// (s8 as stored; f32 quantized per channel to +-127, each rounded up here to stay an upper bound).
inline void check_accumulator_range(const tensor& w, const std::string& where) {
    const std::size_t o = static_cast<std::size_t>(w.shape[0]), k = o ? w.elements() / o : 0;
    const double limit = static_cast<double>(std::numeric_limits<int32_t>::max());
    // No code exceeds 128 in magnitude, so up to 65 793 taps per channel fit whatever the weights
    // (every layer of the six models): the sum is only needed past that.
    if (255.0 * 128.0 * static_cast<double>(k) <= limit) return;
    for (std::size_t c = 0; c < o; ++c) {
        double sum = 0;
        if (w.type == dtype::s8) {
            const int8_t* p = w.as<int8_t>() + c * k;
            for (std::size_t i = 0; i < k; ++i) sum += std::abs(int(p[i]));
        } else {
            std::vector<float> v(k);
            std::memcpy(v.data(), w.data + c * k * sizeof(float), k * sizeof(float));  // may be unaligned
            float mx = 0;
            for (float x : v) mx = std::max(mx, std::fabs(x));
            for (std::size_t i = 0; mx > 0 && i < k; ++i) sum += std::ceil(double(std::fabs(v[i])) * 127.0 / double(mx));
        }
        if (255.0 * sum > limit)
            fail(errc::unsupported, where + ": output channel " + std::to_string(c) + ": 255 x sum|weight| = " + std::to_string(static_cast<long long>(255.0 * sum)) +
                                        " exceeds the int32 accumulator, expected at most " + std::to_string(static_cast<long long>(limit)) + " (" +
                                        std::to_string(k) + " taps per channel; 66311 full-range taps always fit)");
    }
}

inline std::vector<int64_t> window_out(const layer& l, const std::vector<int64_t>& in, int64_t c_out, const std::string& where) {
    if (in.size() != 3) fail(errc::shape_mismatch, where + ": expected a [C,H,W] input, found " + shape_str(in));
    for (int i = 0; i < 2; ++i) {
        if (l.kernel[i] <= 0 || l.stride[i] <= 0)
            fail(errc::manifest_field, where + ": kernel and stride must be positive, found kernel " +
                                           shape_str({l.kernel[0], l.kernel[1]}) + " stride " + shape_str({l.stride[0], l.stride[1]}));
    }
    for (int64_t p : l.pad)
        if (p < 0 || p > 1024) fail(errc::manifest_field, where + ".pad: expected values in 0..1024, found " + std::to_string(p));
    std::vector<int64_t> out{c_out, 0, 0};
    for (int i = 0; i < 2; ++i) {
        out[1 + i] = window_output_size(in[1 + i], l.kernel[i], l.stride[i], l.pad[i], l.pad[2 + i]);
        if (out[1 + i] < 0)
            fail(errc::shape_mismatch, where + ": kernel " + shape_str({l.kernel[0], l.kernel[1]}) + " is larger than the padded input " + shape_str(in));
    }
    return out;
}

/// Shapes and activation quantizations of the tensors produced so far (the input, then layers).
using shape_map = std::map<std::string, std::vector<int64_t>>;
using act_map = std::map<std::string, const std::optional<quant_params>*>;

inline void check_model_input(const model_desc& m, const std::string& origin) {
    if (m.layers.empty()) fail(errc::manifest_field, origin + ": layers: expected at least one layer, found none");
    if (m.input.shape.size() != 3)
        fail(errc::shape_mismatch, origin + ": input.shape: expected [C,H,W], found " + shape_str(m.input.shape));
    element_count(m.input.shape, origin + ": input.shape");
    if (m.input.act) check_quant(*m.input.act, origin + ": input.activation");
}

/// A unique non-empty name, the op's number of inputs, each produced by an earlier layer.
inline void check_layer_inputs(const layer& l, std::size_t li, const shape_map& shapes, const std::string& origin, const std::string& where) {
    if (l.name.empty()) fail(errc::manifest_field, origin + ": layers[" + std::to_string(li) + "].name: expected a non-empty name");
    if (shapes.count(l.name)) fail(errc::manifest_field, where + ": name is used twice");
    const std::size_t want_inputs = l.kind == op::add ? 2 : 1;
    if (l.inputs.size() != want_inputs)
        fail(errc::manifest_field, where + ".inputs: expected " + std::to_string(want_inputs) + " input(s), found " + std::to_string(l.inputs.size()));
    for (const auto& in : l.inputs)
        if (!shapes.count(in)) fail(errc::manifest_field, where + ".inputs: tensor '" + in + "' is not produced by an earlier layer");
}

inline std::vector<int64_t> conv_out_shape(layer& l, const std::vector<int64_t>& in, const std::string& where) {
    if (in.size() != 3) fail(errc::shape_mismatch, where + ": expected a [C,H,W] input, found " + shape_str(in));
    const int64_t c = in[0];
    if (l.kind == op::depthwise_conv2d) {
        if (l.out_channels != c)
            fail(errc::shape_mismatch, where + ".out_channels: depthwise expects " + std::to_string(c) + ", found " + std::to_string(l.out_channels));
        l.groups = c;
    }
    if (l.out_channels <= 0 || l.groups <= 0 || c % l.groups || l.out_channels % l.groups)
        fail(errc::manifest_field, where + ": groups (" + std::to_string(l.groups) + ") must divide input channels (" +
                                       std::to_string(c) + ") and out_channels (" + std::to_string(l.out_channels) + ")");
    return window_out(l, in, l.out_channels, where);
}

/// The layer's output shape from its input shape `in` (a depthwise layer's groups are set here;
/// softmax is computed in f32 whatever the manifest says).
inline std::vector<int64_t> layer_out_shape(layer& l, const std::vector<int64_t>& in, const shape_map& shapes, const std::string& where) {
    switch (l.kind) {
        case op::conv2d:
        case op::depthwise_conv2d: return conv_out_shape(l, in, where);
        case op::max_pool2d:
        case op::avg_pool2d: return window_out(l, in, in.at(0), where);
        case op::global_avg_pool2d:
            if (in.size() != 3) fail(errc::shape_mismatch, where + ": expected a [C,H,W] input, found " + shape_str(in));
            return {in[0], 1, 1};
        case op::fc:
            if (l.out_channels <= 0) fail(errc::manifest_field, where + ".out_channels: expected a positive number");
            return {l.out_channels};
        case op::add:
            if (shapes.at(l.inputs[1]) != in)
                fail(errc::shape_mismatch, where + ": inputs must have equal shapes, found " + shape_str(in) + " and " + shape_str(shapes.at(l.inputs[1])));
            return in;
        case op::softmax:
            if (l.prec != precision::fp32) l.prec = precision::fp32;  // computed in f32 by definition
            return in;
    }
    return {};
}

inline bool is_pooling(op k) { return k == op::max_pool2d || k == op::avg_pool2d || k == op::global_avg_pool2d; }

inline void check_post_ops(const layer& l, const std::vector<int64_t>& out, const shape_map& shapes, const act_map& acts, const std::string& where) {
    for (const auto& p : l.post_ops) {
        // The branch's rounding starts the post-ops on its grid (docs/manifest.md, "Convolution and fc").
        if (p.kind == post_op::sum && p.rounded && &p != &l.post_ops.front())
            fail(errc::unsupported, where + ".post_ops: a sum with \"rounded\" must be the first post-op");
        if (p.kind == post_op::sum) {
            if (!shapes.count(p.input)) fail(errc::manifest_field, where + ".post_ops: sum input '" + p.input + "' is not produced by an earlier layer");
            if (shapes.at(p.input) != out)
                fail(errc::shape_mismatch, where + ".post_ops: sum input '" + p.input + "' has shape " + shape_str(shapes.at(p.input)) + ", expected " + shape_str(out));
            if (l.kind != op::conv2d && l.kind != op::depthwise_conv2d && l.kind != op::fc)
                fail(errc::unsupported, where + ".post_ops: sum is supported after conv2d, depthwise_conv2d and fc only");
            // A real residual is added as it is to a real output; an 8-bit output stores it on its grid.
            if (l.prec == precision::int8 && l.act && !*acts.at(p.input))
                fail(errc::manifest_field, where + ".post_ops: sum input '" + p.input + "' has no activation quantization, which an int8 layer with an 8-bit output needs");
        } else if (p.kind == post_op::clip) {
            if (!std::isfinite(p.lo) || !std::isfinite(p.hi) || !(p.lo < p.hi))
                fail(errc::manifest_field, where + ".post_ops: clip needs finite min < max, found " + std::to_string(p.lo) + ", " + std::to_string(p.hi));
        }
    }
    if (l.kind == op::softmax && !l.post_ops.empty()) fail(errc::manifest_field, where + ".post_ops: softmax takes none");
    // The backend and the reference apply no post-ops after pooling: refuse rather than ignore them.
    if (is_pooling(l.kind) && !l.post_ops.empty())
        fail(errc::unsupported, where + ".post_ops: pooling layers take none, found " + std::to_string(l.post_ops.size()));
}

/// An optional per-output-channel f32 tensor (bias, bias correction), checked when present.
inline void check_optional_channel_tensor(const model_desc& m, const std::string& name, int64_t out_channels, std::set<std::string>& used,
                                          const std::string& origin) {
    if (!m.tensors.count(name)) return;
    const tensor& b = m.tensors.at(name);
    check_tensor(b, name, {out_channels}, {dtype::f32}, origin);
    check_f32_values(b, name, false, origin);
    used.insert(name);
}

/// The weight (and its scales when s8), bias and bias correction of a conv or fc layer.
/// `int8_weight_values`: false leaves the NaN and infinity check of an INT8 layer's f32 weights
/// to the compilation that follows (validate_for_compile).
inline void check_layer_weights(const model_desc& m, const layer& l, const std::vector<int64_t>& in, std::set<std::string>& used,
                                const std::string& origin, const std::string& where, bool int8_weight_values) {
    const int64_t k_in = l.kind == op::fc ? static_cast<int64_t>(element_count(in, where)) : in[0] / l.groups;
    std::vector<int64_t> wshape = l.kind == op::fc ? std::vector<int64_t>{l.out_channels, k_in}
                                                   : std::vector<int64_t>{l.out_channels, k_in, l.kernel[0], l.kernel[1]};
    const std::string wn = l.name + ".weight", sn = l.name + ".weight.scales", bn = l.name + ".bias";
    const tensor& w = need_tensor(m, wn, l.name, origin);
    check_tensor(w, wn, wshape, {dtype::f32, dtype::s8}, origin);
    used.insert(wn);
    if (l.prec == precision::int8) check_accumulator_range(w, where);
    if (w.type == dtype::s8) {
        const tensor& s = need_tensor(m, sn, l.name, origin);
        check_tensor(s, sn, {l.out_channels}, {dtype::f32}, origin);
        check_f32_values(s, sn, true, origin);
        used.insert(sn);
    } else if (int8_weight_values || l.prec != precision::int8) {
        check_f32_values(w, wn, false, origin);
    }
    check_optional_channel_tensor(m, bn, l.out_channels, used, origin);
    check_optional_channel_tensor(m, int8_bias_correction_name(l.name), l.out_channels, used, origin);  // added to the bias in INT8 only
    check_optional_channel_tensor(m, int8_bias_correction_pair_safe_name(l.name), l.out_channels, used, origin);  // instead, with pair-safe weights
}

/// Every tensor used, the output layer named, classes.count equal to the output's size.
inline void check_model_output(const model_desc& m, const shape_map& shapes, const std::set<std::string>& used, const std::string& origin) {
    for (const auto& kv : m.tensors)
        if (!used.count(kv.first))
            fail(errc::tensor_extra, origin + ": tensor '" + kv.first + "' is not used by any layer");
    if (!m.output.empty() && !m.find_layer(m.output))
        fail(errc::manifest_field, origin + ": output: no layer named '" + m.output + "'");
    const auto& oshape = shapes.at(m.output_name());
    if (m.classes.count != 0 && static_cast<int64_t>(element_count(oshape, "output")) != m.classes.count)
        fail(errc::shape_mismatch, origin + ": classes.count: expected " + std::to_string(element_count(oshape, "output")) +
                                       " (the output layer's size), found " + std::to_string(m.classes.count));
}

}  // namespace detail

/// The [C,H,W] output of a window layer (convolution, depthwise or pool) with `c_out` channels,
/// from its [C,H,W] input: the shape rule validate() applies, for programs that count work or
/// plan buffers from a structure without weights.
inline std::vector<int64_t> window_shape(const layer& l, const std::vector<int64_t>& in, int64_t c_out) {
    return detail::window_out(l, in, c_out, l.name);
}

namespace detail {

/// validate(), which passes `int8_weight_values` true; validate_for_compile() passes false.
inline void validate_model(model_desc& m, const std::string& origin, bool int8_weight_values) {
    check_model_input(m, origin);
    shape_map shapes{{m.input.name, m.input.shape}};
    act_map acts{{m.input.name, &m.input.act}};
    std::set<std::string> used;

    for (std::size_t li = 0; li < m.layers.size(); ++li) {
        layer& l = m.layers[li];
        const std::string where = origin + ": layers[" + std::to_string(li) + "] '" + l.name + "'";
        check_layer_inputs(l, li, shapes, origin, where);
        const auto& in = shapes.at(l.inputs[0]);
        if (l.act) check_quant(*l.act, where + ".activation");

        const std::vector<int64_t> out = layer_out_shape(l, in, shapes, where);
        element_count(out, where + ": output shape");
        if (!l.out_shape.empty() && l.out_shape != out)
            fail(errc::shape_mismatch, where + ".output_shape: expected " + shape_str(out) + ", found " + shape_str(l.out_shape));
        l.out_shape = out;
        check_post_ops(l, out, shapes, acts, where);
        if (l.prec == precision::int8) {
            for (const auto& i : l.inputs)
                if (!*acts.at(i))
                    fail(errc::manifest_field, where + ": int8 layer reads '" + i + "', which has no activation quantization (scale, zero point)");
        }
        if (has_weights(l.kind)) check_layer_weights(m, l, in, used, origin, where, int8_weight_values);
        // Pooling does not change the scale: a pool without its own quantization inherits its input's.
        if (!l.act && is_pooling(l.kind) && *acts.at(l.inputs[0])) l.act = *acts.at(l.inputs[0]);
        shapes[l.name] = out;
        acts[l.name] = &l.act;
    }
    check_model_output(m, shapes, used, origin);
}

/// validate() for a description that is compiled right after: everything but the NaN and
/// infinity check of INT8 layers' f32 weights, which quantization makes in the pass over them
/// it makes anyway (abs_max_checked_f32); the compiler then fails with validate()'s message
/// (compiler::check_weight_values). One read of every weight less at load.
inline void validate_for_compile(model_desc& m, const std::string& origin) { validate_model(m, origin, false); }

}  // namespace detail

/// Validates `m` in place: fills every layer's `out_shape` (checking any shape already there) and
/// throws qint8::error naming `origin` (usually the manifest path) on the first problem.
inline void validate(model_desc& m, const std::string& origin) { detail::validate_model(m, origin, true); }

}  // namespace qint8
