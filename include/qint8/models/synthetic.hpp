#pragma once
/// @file synthetic.hpp  Deterministic pseudo-random weights and a plausible activation
/// quantization for a topology's structure, so the whole pipeline (manifest, compile, INT8 run,
/// FP32 baseline) can be exercised without a converter or a download.
///
/// Weights: He-style, uniform with variance gain / fan_in (gain 2 before relu/relu6, 1 for
/// linear layers), so activations stay O(1) through any depth. A residual branch (a conv with a
/// sum post-op) is further scaled by 1/sqrt(number of residual adds): a block's output is
/// identity + branch, and unscaled branches would double the variance per block (2^33 through
/// ResNet-101). Each tensor is seeded from (seed, layer name), so it does not depend on the rest
/// of the model.
///
/// Calibration: a few synthetic images are run through the model in FP32 on the compiled
/// backend, one layer at a time (run_layerwise_fp32), recording every tensor's abs-max:
/// u8 with zero point 0 after relu/relu6, s8 otherwise, pools inheriting their input's.
/// Layer at a time because qint8::session returns only the model's output: each conv/fc/pool
/// runs as a one-layer model (the same oneDNN primitives, weights packed once, so the cost is
/// one compile and one FP32 run), and residual sums are applied here, in plain loops.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qint8/builder.hpp"
#include "qint8/kernels/vector.hpp"
#include "qint8/session.hpp"
#include "qint8/validate.hpp"

namespace qint8::models {

struct synth_options {
    bool int8_weights = false;    ///< store s8 weights + per-channel scales instead of f32
    int calibration_images = 8;   ///< synthetic images for the abs-max and the classifier's centring (>= 1)
    std::function<void(const std::string&)> progress;  ///< called with one line per stage (may be empty)
};

namespace detail {

/// splitmix64: tiny, fast, and the same on every platform (std:: distributions are not).
struct splitmix {
    uint64_t s;
    explicit splitmix(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /// Uniform in [-1, 1).
    float symmetric() { return static_cast<float>(static_cast<double>(next() >> 40) * (1.0 / 8388608.0) - 1.0); }
};

inline uint64_t name_seed(uint32_t seed, const std::string& name) {
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t{seed} * 0x100000001b3ull);  // FNV-1a
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

/// A tensor that takes ownership of `v` (no copy: weights of big models are hundreds of MB).
template <class T>
tensor owned_tensor(dtype t, std::vector<int64_t> shape, std::vector<T>&& v) {
    return tensor::from_vector(t, std::move(shape), std::move(v));
}

inline bool ends_non_negative(const layer& l) {
    if (l.post_ops.empty()) return false;
    const post_op& p = l.post_ops.back();
    return p.kind == post_op::relu || (p.kind == post_op::clip && p.lo >= 0.f);
}

inline void say(const synth_options& o, const std::string& s) {
    if (o.progress) o.progress(s);
}

}  // namespace detail

/// `n` synthetic images for `m`'s input, [n, C, H, W], about unit variance: per channel a few
/// random low-frequency waves (up to 3 cycles across the image) plus pixel noise. Like natural
/// images, most of their energy is at large scales, which is what deep layers (large receptive
/// fields) see; i.i.d. pixel noise would average out there and make every image look alike.
inline std::vector<float> synthetic_images(const model_desc& m, int64_t n, uint32_t seed) {
    const auto& s = m.input.shape;
    const int64_t c = s.at(0), h = s.at(1), w = s.at(2);
    const std::size_t plane = static_cast<std::size_t>(h * w);
    std::vector<float> v(static_cast<std::size_t>(n * c) * plane);
    detail::splitmix r(detail::name_seed(seed, "images"));
    constexpr double two_pi = 6.283185307179586;
    const float k = std::sqrt(3.f);  // uniform [-k, k) has unit variance
    for (std::size_t p = 0; p < v.size() / plane; ++p) {
        double fy[4], fx[4], ph[4], amp[4];
        for (int j = 0; j < 4; ++j) {
            fy[j] = 3.0 * r.symmetric();
            fx[j] = 3.0 * r.symmetric();
            ph[j] = two_pi * r.symmetric();
            amp[j] = 0.6 * (1.0 + r.symmetric());  // 4 waves of mean square amp^2/2: about 0.9 in all
        }
        const double offset = 0.5 * r.symmetric();
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
                double val = offset;
                for (int j = 0; j < 4; ++j) val += amp[j] * std::sin(two_pi * (fy[j] * double(y) / double(h) + fx[j] * double(x) / double(w)) + ph[j]);
                v[p * plane + static_cast<std::size_t>(y * w + x)] = static_cast<float>(val) + 0.3f * k * r.symmetric();
            }
    }
    return v;
}

/// Fills `<layer>.weight` and `<layer>.bias` of every conv/fc layer of `m` (replacing any).
inline void fill_weights(model_desc& m, uint32_t seed, bool int8_weights) {
    const auto shapes = qint8::detail::tensor_shapes(m);
    int64_t residuals = 0;
    for (const layer& l : m.layers)
        for (const auto& p : l.post_ops) residuals += p.kind == post_op::sum;
    for (const layer& l : m.layers) {
        if (!has_weights(l.kind)) continue;
        const int64_t k = qint8::detail::fan_in(l, shapes.at(l.inputs.at(0))), o = l.out_channels;
        bool relu_before_sum = false, residual = false;
        for (const auto& p : l.post_ops) {
            if (p.kind == post_op::sum) { residual = true; break; }
            relu_before_sum = relu_before_sum || p.kind == post_op::relu || p.kind == post_op::clip;
        }
        const bool rectified = residual ? relu_before_sum : detail::ends_non_negative(l);
        double stdev = std::sqrt((rectified ? 2.0 : 1.0) / static_cast<double>(k));
        if (residual) stdev /= std::sqrt(static_cast<double>(std::max<int64_t>(residuals, 1)));
        const float amp = static_cast<float>(stdev * std::sqrt(3.0));
        detail::splitmix r(detail::name_seed(seed, l.name));
        const std::size_t n = static_cast<std::size_t>(o * k);
        std::vector<float> w(n);
        for (auto& x : w) x = amp * r.symmetric();
        std::vector<float> bias(static_cast<std::size_t>(o));
        for (auto& x : bias) x = 0.05f * r.symmetric();
        std::vector<int64_t> wshape = l.kind == op::fc ? std::vector<int64_t>{o, k}
                                                       : std::vector<int64_t>{o, k / (l.kernel[0] * l.kernel[1]), l.kernel[0], l.kernel[1]};
        m.tensors.erase(l.name + ".weight.scales");
        if (int8_weights) {
            std::vector<int8_t> q(n);
            std::vector<float> sc(static_cast<std::size_t>(o));
            const std::size_t kk = static_cast<std::size_t>(k);
            for (std::size_t c = 0; c < sc.size(); ++c) {
                float mx = 0.f;
                for (std::size_t i = 0; i < kk; ++i) mx = std::max(mx, std::fabs(w[c * kk + i]));
                sc[c] = mx > 0.f ? mx / 127.f : 1.f;
                for (std::size_t i = 0; i < kk; ++i)
                    q[c * kk + i] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, std::nearbyint(w[c * kk + i] / sc[c]))));
            }
            m.tensors[l.name + ".weight"] = detail::owned_tensor(dtype::s8, wshape, std::move(q));
            m.tensors[l.name + ".weight.scales"] = detail::owned_tensor(dtype::f32, {o}, std::move(sc));
        } else {
            m.tensors[l.name + ".weight"] = detail::owned_tensor(dtype::f32, wshape, std::move(w));
        }
        m.tensors[l.name + ".bias"] = detail::owned_tensor(dtype::f32, {o}, std::move(bias));
    }
}

/// Called with each layer and its FP32 output, [batch x out_shape] plain NCHW floats.
using layer_observer = std::function<void(const layer&, const std::vector<float>&)>;

namespace detail {

/// Called for each conv/fc layer with its output before post-ops ([batch x out_shape]); may
/// change the layer's tensors in `m` as long as it changes the values to match.
using layer_adjuster = std::function<void(model_desc& m, const layer&, std::vector<float>& pre_activation)>;

/// One layer as a one-layer model reading "input": no post-ops, f32, no quantization.
inline model_desc single_layer(const model_desc& m, const layer& l, const std::vector<int64_t>& in_shape, std::size_t in_elems) {
    model_desc s;
    s.architecture = "custom";
    // fc may read a flat [K] (an fc after an fc); a model input is [C,H,W], and fc flattens anyway.
    s.input.shape = in_shape.size() == 3 ? in_shape : std::vector<int64_t>{static_cast<int64_t>(in_elems), 1, 1};
    layer c = l;
    c.inputs = {s.input.name};
    c.post_ops.clear();
    c.prec = precision::fp32;
    c.act.reset();
    c.out_shape.clear();
    s.layers.push_back(std::move(c));
    for (const char* suffix : {".weight", ".weight.scales", ".bias"}) {
        auto it = m.tensors.find(l.name + suffix);
        if (it != m.tensors.end()) s.tensors.insert(*it);
    }
    return s;
}

/// The engine of run_layerwise_fp32, with an optional adjuster (see synthesize).
inline void layerwise(model_desc& m, const std::vector<float>& input, int64_t batch, const layer_adjuster& adjust,
                      const layer_observer& observe) {
    for (const layer& l : m.layers)
        if (l.out_shape.empty()) {
            validate(m, "run_layerwise_fp32");
            break;
        }
    const auto shapes = qint8::detail::tensor_shapes(m);
    const std::size_t in_elems = qint8::detail::element_count(m.input.shape, "input") * static_cast<std::size_t>(batch);
    if (input.size() != in_elems)
        qint8::detail::fail(errc::invalid_argument, "run_layerwise_fp32: expected " + std::to_string(in_elems) + " input floats, found " +
                                                        std::to_string(input.size()));
    std::map<std::string, std::size_t> last_use;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
        for (const auto& in : m.layers[i].inputs) last_use[in] = i;
        for (const auto& p : m.layers[i].post_ops)
            if (p.kind == post_op::sum) last_use[p.input] = i;
    }
    const std::size_t rows = static_cast<std::size_t>(batch);
    std::map<std::string, std::vector<float>> values{{m.input.name, input}};
    for (std::size_t li = 0; li < m.layers.size(); ++li) {
        const layer& l = m.layers[li];
        const std::vector<float>& x = values.at(l.inputs.at(0));
        std::vector<float> out;
        if (l.kind == op::add) {
            const std::vector<float>& y = values.at(l.inputs.at(1));
            out.resize(x.size());
            for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] + y[i];
        } else if (l.kind == op::softmax) {
            out.resize(x.size());
            const std::size_t cols = x.size() / rows;
            for (std::size_t r = 0; r < rows; ++r) kernels::softmax(x.data() + r * cols, out.data() + r * cols, cols);
        } else {
            compile_options co;
            co.batch = batch;
            co.force_fp32 = true;
            model net(single_layer(m, l, shapes.at(l.inputs[0]), x.size() / rows), co, "run_layerwise_fp32: layer '" + l.name + "'");
            session ses(net);
            out = ses.run(x);
            if (adjust && has_weights(l.kind)) adjust(m, l, out);
        }
        // Post-ops here rather than in the primitive: the adjuster needs the value before them,
        // and a sum reads a tensor the one-layer model does not have.
        for (const post_op& p : l.post_ops) {
            if (p.kind == post_op::sum) {
                const std::vector<float>& r = values.at(p.input);
                for (std::size_t k = 0; k < out.size(); ++k) out[k] += r[k];
            } else if (p.kind == post_op::relu) {
                for (auto& v : out) v = std::max(v, 0.f);
            } else {
                for (auto& v : out) v = std::min(std::max(v, p.lo), p.hi);
            }
        }
        if (observe) observe(l, out);
        values[l.name] = std::move(out);
        for (auto it = values.begin(); it != values.end();) {
            auto u = last_use.find(it->first);
            it = (u != last_use.end() && u->second <= li && it->first != m.output_name()) ? values.erase(it) : std::next(it);
        }
    }
}

inline float absmax(const std::vector<float>& v) {
    float a = 0.f;
    for (float x : v) a = std::max(a, std::fabs(x));
    return a;
}

/// An observer that records each layer's abs-max in `seen` and reports progress every 16 of
/// the model's `layers` layers (and at the last).
inline layer_observer absmax_recorder(std::map<std::string, float>& seen, std::size_t layers, const synth_options& opt) {
    auto done = std::make_shared<std::size_t>(0);  // the observer is copied into std::function
    return [&seen, &opt, layers, done](const layer& l, const std::vector<float>& v) {
        seen[l.name] = absmax(v);
        if (opt.progress && (++*done % 16 == 0 || *done == layers))
            opt.progress("calibrating: " + std::to_string(*done) + "/" + std::to_string(layers) + " layers");
    };
}

/// Sets the input's and every layer's activation quantization from observed abs-max values:
/// u8 (zero point 0) where the layer ends in relu/relu6, s8 otherwise, pools as their input,
/// softmax none (it is computed and returned in f32).
inline void assign_activations(model_desc& m, const std::map<std::string, float>& seen, float input_absmax, bool input_non_negative) {
    auto make = [](dtype t, float amax) {
        // A tensor that never leaves zero still needs a valid (positive) scale.
        return quant_params{t, std::max(amax, 1e-6f) / static_cast<float>(t == dtype::u8 ? 255 : 127), 0};
    };
    m.input.act = make(input_non_negative ? dtype::u8 : dtype::s8, input_absmax);
    std::map<std::string, std::optional<quant_params>> acts{{m.input.name, m.input.act}};
    for (layer& l : m.layers) {
        if (l.kind == op::softmax) {
            l.act.reset();
        } else if (l.kind == op::max_pool2d || l.kind == op::avg_pool2d || l.kind == op::global_avg_pool2d) {
            // Same quantization as the input: integer pooling then needs no requantization.
            l.act = acts.at(l.inputs[0]);
        } else {
            l.act = make(ends_non_negative(l) ? dtype::u8 : dtype::s8, seen.at(l.name));
        }
        acts[l.name] = l.act;
    }
}

/// The classifier: the last layer with weights, when only a softmax follows it and it yields
/// one value per class with no post-ops. nullptr if the model has none.
inline const layer* find_classifier(const model_desc& m) {
    for (std::size_t i = m.layers.size(); i-- > 0;) {
        const layer& l = m.layers[i];
        if (l.kind == op::softmax) continue;
        const bool per_class = l.out_shape.size() == 1 || (l.out_shape.size() == 3 && l.out_shape[1] == 1 && l.out_shape[2] == 1);
        return has_weights(l.kind) && l.post_ops.empty() && per_class ? &l : nullptr;
    }
    return nullptr;
}

/// Re-biases and rescales layer `l` so that, on the images `pre` came from, each output channel
/// has mean 0 and the layer as a whole standard deviation `gain`: the pre-activation becomes
/// f * (pre - mean[c]); `pre` is changed to match. s8 weights are scaled exactly through their
/// per-channel scales.
inline void center_and_scale(model_desc& m, const layer& l, std::vector<float>& pre, std::size_t rows, float gain) {
    const std::size_t o = static_cast<std::size_t>(l.out_channels), per = pre.size() / rows / o;
    std::vector<double> f(o, 1.0), mean(o, 0.0);
    if (rows * per < 2) return;  // one sample per channel: nothing to centre on
    double var = 0;
    for (std::size_t c = 0; c < o; ++c) {
        double s = 0, ss = 0;
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t i = 0; i < per; ++i) {
                const double v = pre[(r * o + c) * per + i];
                s += v;
                ss += v * v;
            }
        const double cnt = double(rows * per);
        mean[c] = s / cnt;
        var += std::max(ss / cnt - mean[c] * mean[c], 0.0) / double(o);
    }
    // One factor for the whole layer: per-channel deviations from a handful of samples would
    // blow up channels whose few samples happen to agree.
    const double sd = std::sqrt(var);
    for (auto& x : f) x = sd > 1e-12 ? double(gain) / sd : 1.0;
    const tensor& w = m.tensors.at(l.name + ".weight");
    const auto bit = m.tensors.find(l.name + ".bias");
    std::vector<float> bias(o);
    for (std::size_t c = 0; c < o; ++c) {
        const double b = bit == m.tensors.end() ? 0.0 : double(qint8::detail::load_f32(bit->second.data, c));
        bias[c] = static_cast<float>(f[c] * (b - mean[c]));
    }
    if (w.type == dtype::s8) {
        const tensor& sc = m.tensors.at(l.name + ".weight.scales");
        std::vector<float> ns(o);
        for (std::size_t c = 0; c < o; ++c) ns[c] = static_cast<float>(f[c] * double(qint8::detail::load_f32(sc.data, c)));
        m.tensors[l.name + ".weight.scales"] = owned_tensor(dtype::f32, {l.out_channels}, std::move(ns));
    } else {
        const std::size_t k = w.elements() / o;
        std::vector<float> nw(w.elements());
        for (std::size_t c = 0; c < o; ++c)
            for (std::size_t i = 0; i < k; ++i) nw[c * k + i] = static_cast<float>(f[c] * double(qint8::detail::load_f32(w.data, c * k + i)));
        std::vector<int64_t> shape = w.shape;
        m.tensors[l.name + ".weight"] = owned_tensor(dtype::f32, std::move(shape), std::move(nw));
    }
    m.tensors[l.name + ".bias"] = owned_tensor(dtype::f32, {l.out_channels}, std::move(bias));
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < o; ++c)
            for (std::size_t i = 0; i < per; ++i) {
                float& v = pre[(r * o + c) * per + i];
                v = static_cast<float>(f[c] * (double(v) - mean[c]));
            }
}

}  // namespace detail

/// Runs `m` (with weights) in FP32 one layer at a time and hands every layer's output (after
/// its post-ops) to `observe`. Each conv/fc/pool runs as a one-layer qint8::model compiled with
/// force_fp32, so this goes at the backend's speed (each layer's weights are packed once, as in a
/// normal compile) and needs nothing from the compiled model's internals. `input`: [batch, C, H, W].
/// Tensors are freed after their last reader.
inline void run_layerwise_fp32(const model_desc& desc, const std::vector<float>& input, int64_t batch, const layer_observer& observe) {
    model_desc m = desc;  // tensors are shared, not copied
    detail::layerwise(m, input, batch, {}, observe);
}

/// Sets the input's and every layer's activation quantization (softmax excepted: it is computed
/// and returned in f32) from the abs-max each tensor reaches on `images` ([n, C, H, W]), for a
/// model that already has its weights.
inline void calibrate(model_desc& m, const std::vector<float>& images, int64_t n, const synth_options& opt = {}) {
    std::map<std::string, float> seen;
    run_layerwise_fp32(m, images, n, detail::absmax_recorder(seen, m.layers.size(), opt));
    const bool non_negative = std::all_of(images.begin(), images.end(), [](float v) { return v >= 0.f; });
    detail::assign_activations(m, seen, detail::absmax(images), non_negative);
}

/// Weights and activation quantization for `structure` (as built by qint8::models::*), seeded
/// by `seed`: the same arguments give the same bytes. Every layer computes in int8 (softmax in
/// f32). The result validates and compiles.
///
/// The calibration pass also centres the classifier on the calibration images (per class mean
/// 0, logits' standard deviation 3). A random deep ReLU network maps all inputs to similar
/// features (the positive mean of ReLU outputs dominates), so uncentred logits would rank the
/// classes almost the same way for every image and an INT8-vs-FP32 top-1 comparison would say
/// little; centring keeps the input-dependent part, as a trained classifier's logits are.
/// (Centring every layer, BN-style, makes random networks chaotic instead: perturbations, and
/// so quantization noise, then grow layer after layer.)
inline model_desc synthesize(model_desc structure, uint32_t seed, const synth_options& opt = {}) {
    if (opt.calibration_images < 1 || opt.calibration_images > 1024)
        qint8::detail::fail(errc::invalid_argument, "synthesize: calibration_images: expected 1..1024, found " + std::to_string(opt.calibration_images));
    model_desc m = std::move(structure);
    detail::say(opt, "synthesizing weights: " + std::to_string(parameter_count(m)) + " parameters, seed " + std::to_string(seed));
    fill_weights(m, seed, opt.int8_weights);
    for (layer& l : m.layers) l.prec = l.kind == op::softmax ? precision::fp32 : precision::int8;

    const int64_t n = opt.calibration_images;
    detail::say(opt, "calibrating on " + std::to_string(n) + " synthetic images");
    const std::vector<float> images = synthetic_images(m, n, seed);
    const layer* cls = detail::find_classifier(m);
    const std::string cls_name = cls ? cls->name : std::string();
    std::map<std::string, float> seen;
    auto adjust = [&](model_desc& mm, const layer& l, std::vector<float>& pre) {
        if (l.name == cls_name) detail::center_and_scale(mm, l, pre, static_cast<std::size_t>(n), 3.f);
    };
    detail::layerwise(m, images, n, adjust, detail::absmax_recorder(seen, m.layers.size(), opt));
    detail::assign_activations(m, seen, detail::absmax(images), false);

    m.producer = "qint8::models::synthesize";
    m.attributes["synthetic_seed"] = std::to_string(seed);
    validate(m, "synthesize");
    return m;
}

}  // namespace qint8::models
