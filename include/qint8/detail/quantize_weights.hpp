#pragma once
/// @file quantize_weights.hpp  Turning a layer's weights and bias into what a primitive consumes.
///
/// INT8: weights are symmetric per output channel, q = round(w / ws[o]) with ws[o] = max|w[o]| / qmax;
/// the bias becomes s32 in accumulator units, round(b[o] / (s_src * ws[o])).
/// qmax is 127 for f32 weights. Weights already given as s8 are the file's and are kept as they
/// are, the code -128 included (full_range_qmax), wherever the path accumulates exactly: VNNI,
/// AMX, qint8's depthwise kernels, and on paths that pair products into int16 (no VNNI, see
/// isa.hpp) every channel whose pair sums provably fit. Only a channel whose pairs may saturate
/// is requantized, to the largest qmax that provably fits (quantize_weights_paired).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "qint8/detail/huge_arena.hpp"
#include "qint8/detail/pair_sums.hpp"
#include "qint8/detail/quantize_row.hpp"
#include "qint8/graph.hpp"

namespace qint8::detail {

/// The qmax that keeps s8 weights exactly as given (the code -128 included); f32 weights are
/// quantized to +-127 with it (a symmetric grid has no use for -128).
constexpr int full_range_qmax = 128;

/// A layer's weight codes: its own, or the file's s8 codes read where they lie (layer_codes).
/// Reads look the same either way; a write (mutable_data(), resize()) first copies given codes.
class weight_codes {
public:
    weight_codes() = default;
    explicit weight_codes(code_vector own) : own_(std::move(own)) {}
    /// `n` codes at `p`, not copied: whatever holds them must outlive this.
    static weight_codes given(const int8_t* p, std::size_t n) {
        weight_codes c;
        c.given_ = p;
        c.n_ = n;
        return c;
    }
    bool is_given() const { return given_ != nullptr; }
    const int8_t* data() const { return given_ ? given_ : own_.data(); }
    int8_t* mutable_data() { return own(); }
    std::size_t size() const { return given_ ? n_ : own_.size(); }
    bool empty() const { return size() == 0; }
    const int8_t* begin() const { return data(); }
    const int8_t* end() const { return data() + size(); }
    int8_t operator[](std::size_t i) const { return data()[i]; }
    void resize(std::size_t n) {
        own();
        own_.resize(n);
    }
    /// The storage of its own codes, for the next layer (codes_buffer); empty when given.
    code_vector release() {
        given_ = nullptr;
        n_ = 0;
        return std::move(own_);
    }
    friend bool operator==(const weight_codes& a, const weight_codes& b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }
    friend bool operator!=(const weight_codes& a, const weight_codes& b) { return !(a == b); }

private:
    int8_t* own() {
        if (given_) {
            own_.assign(given_, given_ + n_);
            given_ = nullptr;
            n_ = 0;
        }
        return own_.data();
    }
    code_vector own_;
    const int8_t* given_ = nullptr;
    std::size_t n_ = 0;
};

struct int8_weights {
    weight_codes q;           ///< [O, K] row-major (K = everything after the output channel)
    std::vector<float> scale; ///< [O]
    /// f32 weights: no NaN or infinity among them (found by the abs-max pass of quantization;
    /// the compiler reports a bad tensor as validate() does). Always true for s8 weights.
    bool all_finite = true;
};

inline float load_f32(const std::byte* p, std::size_t i) {
    float v;
    std::memcpy(&v, p + i * sizeof(float), sizeof v);
    return v;
}

/// Real-valued weights [O, K], dequantizing s8 if needed.
inline std::vector<float> real_weights(const tensor& w, const tensor* scales) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    std::vector<float> r(n);
    if (w.type == dtype::f32) {
        for (std::size_t i = 0; i < n; ++i) r[i] = load_f32(w.data, i);
    } else {
        const auto* q = reinterpret_cast<const int8_t*>(w.data);
        for (std::size_t c = 0; c < o; ++c) {
            const float s = load_f32(scales->data, c);
            for (std::size_t i = 0; i < k; ++i) r[c * k + i] = s * static_cast<float>(q[c * k + i]);
        }
    }
    return r;
}

/// One output channel's weights as quantization reads them: k floats, or k s8 codes with their
/// scale, and the largest magnitude among them (found once, whatever qmax is tried).
struct weight_channel {
    const std::byte* f32 = nullptr;  ///< k floats (any alignment), or null for s8
    const int8_t* s8 = nullptr;      ///< k codes when f32 is null
    float scale = 1.f;               ///< the codes' scale (s8)
    std::size_t k = 0;
    float absmax = 0.f;              ///< max |w| (float) or max |code| (s8)
    bool finite = true;              ///< f32: no NaN or infinity (absmax is then meaningless)
};

inline weight_channel channel_of(const tensor& w, const tensor* scales, std::size_t c, std::size_t k) {
    weight_channel ch;
    ch.k = k;
    if (w.type == dtype::s8) {
        ch.s8 = reinterpret_cast<const int8_t*>(w.data) + c * k;
        ch.scale = load_f32(scales->data, c);
        int mx = 0;
        for (std::size_t i = 0; i < k; ++i) mx = std::max(mx, std::abs(static_cast<int>(ch.s8[i])));
        ch.absmax = static_cast<float>(mx);
    } else {
        ch.f32 = w.data + c * k * sizeof(float);
        const checked_abs_max m = abs_max_checked_f32(ch.f32, k);
        ch.absmax = m.value;
        ch.finite = m.finite;
    }
    return ch;
}

/// The channel as integers of at most `qmax` in magnitude, into `out` (k values); returns its scale.
/// s8 weights within qmax are kept as they are; otherwise the channel is requantized to qmax.
/// f32 weights take at most 127 (full_range_qmax only matters for given s8 codes).
inline float quantize_at(const weight_channel& ch, int qmax, int8_t* out) {
    if (ch.s8) {
        if (ch.absmax <= static_cast<float>(qmax)) {
            std::copy(ch.s8, ch.s8 + ch.k, out);
            return ch.scale;
        }
        round_mul_s8(ch.s8, ch.k, static_cast<float>(qmax) / ch.absmax, qmax, out);
        return ch.scale * ch.absmax / static_cast<float>(qmax);
    }
    qmax = std::min(qmax, 127);
    const float s = ch.absmax > 0.f ? ch.absmax / static_cast<float>(qmax) : 1.f;
    round_div_f32(ch.f32, ch.k, s, qmax, out);
    return s;
}

/// A channel with a NaN or an infinity is not quantized (the compilation fails on it: see
/// int8_weights::all_finite): zero codes and a scale of 1 instead.
inline float not_quantized(const weight_channel& ch, int8_t* out) {
    std::memset(out, 0, ch.k);
    return 1.f;
}

/// Channel `c` of `w` (k values per channel) quantized to at most `qmax`, into `out`; returns its scale.
inline float quantize_channel(const tensor& w, const tensor* scales, std::size_t c, std::size_t k, int qmax, int8_t* out) {
    return quantize_at(channel_of(w, scales, c, k), qmax, out);
}

/// A vector of `n` codes to fill, on `reuse`'s storage where given (it is left empty). A
/// compilation quantizes one layer after another: the memory one layer frees, malloc may hand back
/// to the system, and the next layer faults it in again, page by page (slow under a hypervisor:
/// docs/performance.md, loading). The capacity grows geometrically, so a model whose layers grow
/// reallocates a few times, not once per layer; a large one lands in huge pages (code_vector).
inline code_vector codes_buffer(code_vector* reuse, std::size_t n) {
    code_vector v;
    if (reuse) v.swap(*reuse);
    if (v.capacity() < n) {
        v.clear();
        v.reserve(std::max(n, 2 * v.capacity()));
    }
    v.resize(n);
    return v;
}

/// Where a layer's codes go when they are not kept whole: put(first, n, codes) receives output
/// channels [first, first + n) as [n, K] plain codes, `channels` at a time (the last chunk may be
/// smaller), and packs them (backend/chunked_pack.hpp). The codes pass through a buffer of one
/// chunk instead of one of the whole layer.
struct code_chunks {
    std::size_t channels = 1;
    std::function<void(std::size_t first, std::size_t n, const int8_t* codes)> put;
};

/// Calls each(c, out) for every output channel c of `o` (k codes each) to write its codes at
/// `out`. Without `chunks`, into codes of the whole layer (returned); with them, a chunk of
/// channels at a time, handed to chunks->put, in storage taken from `reuse` and given back to
/// it: nothing is returned (empty codes).
template <class Each>
weight_codes for_each_channel(std::size_t o, std::size_t k, code_vector* reuse, const code_chunks* chunks, Each each) {
    if (!chunks) {
        weight_codes q(codes_buffer(reuse, o * k));
        int8_t* out = q.mutable_data();
        for (std::size_t c = 0; c < o; ++c) each(c, out + c * k);
        return q;
    }
    const std::size_t per = std::min(std::max<std::size_t>(chunks->channels, 1), o);
    code_vector buf = codes_buffer(reuse, per * k);
    for (std::size_t first = 0; first < o; first += per) {
        const std::size_t n = std::min(per, o - first);
        for (std::size_t c = 0; c < n; ++c) each(first + c, buf.data() + c * k);
        chunks->put(first, n, buf.data());
    }
    if (reuse) *reuse = std::move(buf);
    return {};
}

inline int8_weights quantize_weights(const tensor& w, const tensor* scales, int qmax, code_vector* reuse = nullptr, const code_chunks* chunks = nullptr) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    int8_weights r;
    r.scale.resize(o);
    r.q = for_each_channel(o, k, reuse, chunks, [&](std::size_t c, int8_t* out) {
        const weight_channel ch = channel_of(w, scales, c, k);
        r.all_finite = r.all_finite && ch.finite;
        r.scale[c] = ch.finite ? quantize_at(ch, qmax, out) : not_quantized(ch, out);
    });
    return r;
}

/// quantize_weights for a compilation: where the file gives s8 codes that all fit `qmax` (always
/// so for full_range_qmax), quantizing would copy them unchanged, so the result reads them in
/// place instead (VGG16's 138 MB were copied on their way to packing). The result then points
/// into `w`, which must outlive it, and `chunks` is not used; otherwise the codes go to `chunks`
/// where given (empty codes returned).
inline int8_weights layer_codes(const tensor& w, const tensor* scales, int qmax, code_vector* reuse, const code_chunks* chunks = nullptr) {
    if (w.type != dtype::s8 || !scales || qmax < 127) return quantize_weights(w, scales, qmax, reuse, chunks);
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]);
    const int8_t* codes = w.as<int8_t>();
    if (qmax < full_range_qmax && std::find(codes, codes + n, int8_t{-128}) != codes + n) return quantize_weights(w, scales, qmax, reuse, chunks);
    int8_weights r;
    r.q = weight_codes::given(codes, n);
    r.scale.resize(o);
    for (std::size_t c = 0; c < o; ++c) r.scale[c] = load_f32(scales->data, c);
    return r;
}

/// Single elements of the channel as quantize_at(ch, qmax, ...) writes them (qmax <= 127): the
/// same factor and the same IEEE operation, clamped before rounding and rounded by cvtss2si in
/// the current mode, as the SSE2 rows do (quantize_row.hpp); std::nearbyint is a library call
/// on baseline x86-64, and the search calls this for every kept pair at every qmax it tries.
class codes_at {
public:
    codes_at(const weight_channel& ch, int qmax)
        : ch_(ch), qmax_(qmax), keep_(ch.s8 && ch.absmax <= static_cast<float>(qmax)),
          factor_(ch.s8 ? static_cast<float>(qmax) / ch.absmax : ch.absmax > 0.f ? ch.absmax / static_cast<float>(qmax) : 1.f) {}

    int operator()(std::size_t i) const {
        if (keep_) return ch_.s8[i];
        float v;
        if (ch_.s8) {
            v = static_cast<float>(ch_.s8[i]) * factor_;
        } else {
            std::memcpy(&v, ch_.f32 + i * sizeof(float), sizeof v);
            v /= factor_;
        }
        const float q = static_cast<float>(qmax_);
        v = std::min<float>(q, std::max<float>(-q, v));  // NaN becomes -qmax, as in the rows
#if defined(__SSE2__)
        return _mm_cvtss_si32(_mm_set_ss(v));
#else
        return static_cast<int>(std::nearbyint(v));
#endif
    }

private:
    const weight_channel& ch_;
    int qmax_;
    bool keep_;
    float factor_;  ///< multiplies s8 codes, divides f32 weights
};

/// Whether the channel quantized to `qmax` fits, judged on the pairs that can hold its extreme
/// sums (extreme_pairs): exactly what pairs_fit_int16 says of the whole channel at that qmax.
inline bool pairs_fit_at(const weight_channel& ch, const std::vector<std::pair<int64_t, int64_t>>& pairs, int max_code, int qmax) {
    const codes_at code(ch, qmax);
    pair_extremes e;
    for (const auto& [i, j] : pairs) {
        const int a = code(static_cast<std::size_t>(i)), b = j < 0 ? 0 : code(static_cast<std::size_t>(j));
        e.pos = std::max(e.pos, std::max(a, 0) + std::max(b, 0));
        e.neg = std::min(e.neg, std::min(a, 0) + std::min(b, 0));
    }
    return fits_int16(e, max_code);
}

/// The given s8 codes (-128 included) when they pass the int16 pair-sum proof, else the largest
/// qmax in [64, 127] whose codes for `ch` pass it, else 63 (always safe for u8 codes:
/// 63 + 63 codes x 255 <= 32767); its codes go to `out`. Every |q| grows with qmax
/// (round(w * qmax / max|w|) is monotone), so whether the pairs fit is monotone too, and any
/// search that keeps "lo fits, hi + 1 does not" finds the same qmax as trying each from 127
/// down. The first try is 127 (most channels on most models), on the whole channel. After that
/// only the pairs that can hold the extreme sums are requantized per try (extreme_pairs: a few
/// of the channel's thousands), and the channel once more at the qmax found. The pair sums
/// scale nearly in proportion to qmax, so the largest sum at 127 predicts the answer to within
/// a step or two; the search walks from that guess (bisecting if the walk is long). Loading
/// ResNet-50 on the avx2 path spent seconds here when it tried each qmax in turn on the whole
/// channel, and most of its load time while it requantized the whole channel per try.
inline float quantize_paired_channel(const weight_channel& ch, const pair_geometry& g, int8_t* out,
                                     std::vector<std::pair<int64_t, int64_t>>& pairs) {
    if (ch.s8 && ch.absmax > 127.f) {
        const float s_full = quantize_at(ch, full_range_qmax, out);
        if (fits_int16(pair_sum_extremes(out, g), g.max_code)) return s_full;
    }
    const float s127 = quantize_at(ch, 127, out);
    const pair_extremes e = pair_sum_extremes(out, g);
    if (fits_int16(e, g.max_code)) return s127;
    extreme_pairs(out, g, e, pairs);
    const double worst = std::max(static_cast<double>(g.max_code) * e.pos / 32767.0, static_cast<double>(g.max_code) * -e.neg / 32768.0);
    int guess = static_cast<int>(127.0 / worst);
    int lo = 63, hi = 126;  // lo fits; every qmax above hi does not
    for (int probes = 0; lo < hi; ++probes) {
        const int m = probes < 3 ? std::clamp(guess, lo + 1, hi) : (lo + hi + 1) / 2;
        if (pairs_fit_at(ch, pairs, g.max_code, m)) lo = m, guess = m + 1;
        else hi = m - 1, guess = m - 1;
    }
    return quantize_at(ch, lo, out);
}

/// 8-bit weights where int16 pair sums provably cannot saturate (pair_sums.hpp), and per output
/// channel the largest qmax in [64, 127] for which they cannot, else 63. With `chunks`, the codes
/// go there (empty codes returned).
inline int8_weights quantize_weights_paired(const tensor& w, const tensor* scales, const pair_geometry& g, code_vector* reuse = nullptr,
                                            const code_chunks* chunks = nullptr) {
    const std::size_t n = w.elements(), o = static_cast<std::size_t>(w.shape[0]), k = n / o;
    int8_weights r;
    r.scale.resize(o);
    std::vector<std::pair<int64_t, int64_t>> pairs;  // one channel's at a time, its storage kept
    r.q = for_each_channel(o, k, reuse, chunks, [&](std::size_t c, int8_t* out) {
        const weight_channel ch = channel_of(w, scales, c, k);
        r.all_finite = r.all_finite && ch.finite;
        r.scale[c] = ch.finite ? quantize_paired_channel(ch, g, out, pairs) : not_quantized(ch, out);
    });
    return r;
}

/// Bias in accumulator units: round(b / (s_src * ws[o])), saturated to int32.
/// The bias in accumulator units, unrounded (layer::float_bias): bias / (s_src * s_w[c]) in
/// double, stored as f32 (what oneDNN and the depthwise kernels add to float(acc)).
inline std::vector<float> bias_in_acc_units(const tensor* b, const std::vector<float>& wscale, float src_scale) {
    std::vector<float> r(wscale.size(), 0.f);
    if (!b) return r;
    for (std::size_t c = 0; c < r.size(); ++c)
        r[c] = static_cast<float>(static_cast<double>(load_f32(b->data, c)) / (static_cast<double>(src_scale) * wscale[c]));
    return r;
}

inline std::vector<int32_t> quantize_bias(const tensor* b, const std::vector<float>& wscale, float src_scale) {
    std::vector<int32_t> r(wscale.size(), 0);
    if (!b) return r;
    for (std::size_t c = 0; c < r.size(); ++c) {
        const double v = std::nearbyint(static_cast<double>(load_f32(b->data, c)) / (static_cast<double>(src_scale) * wscale[c]));
        r[c] = static_cast<int32_t>(std::min<double>(std::numeric_limits<int32_t>::max(), std::max<double>(std::numeric_limits<int32_t>::min(), v)));
    }
    return r;
}

}  // namespace qint8::detail
