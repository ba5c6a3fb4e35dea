#pragma once
/// @file builder.hpp  `qint8::graph_builder`: appends layers to a model_desc one call at a time and
/// infers every output shape as it goes, so topology templates read like the networks they
/// describe and a mistake (a residual of the wrong shape, a kernel larger than its input) is
/// reported at the call that makes it, naming the layer.
///
/// Also here, because every topology template shares them: `parameter_count` and the parameters
/// common to all classifier families (`qint8::models::common_params`) with their attribute codec.
///
///     model_desc m;
///     graph_builder b(m);
///     auto x = b.input({3, 224, 224});
///     x = b.conv2d("conv1", x, 64, 7, 2, 3, 1, activation::relu);
///     x = b.max_pool2d("maxpool", x, 3, 2, 1);

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "qint8/core/error.hpp"
#include "qint8/core/window.hpp"
#include "qint8/graph.hpp"

namespace qint8 {

/// The activation fused into a layer (BN is assumed folded into the convolution before it).
enum class activation { none, relu, relu6 };

inline const char* to_string(activation a) noexcept {
    return a == activation::relu ? "relu" : a == activation::relu6 ? "relu6" : "none";
}

/// A kernel or stride: `3` means 3x3, `{1, 7}` means 1 high and 7 wide.
struct window {
    int64_t h = 1, w = 1;
    window(int64_t s) : h(s), w(s) {}  // NOLINT: implicit on purpose, `conv2d(..., 3, 2)` reads best
    window(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};

/// Padding of a convolution or pooling window: symmetric (`1`), explicit [top, left, bottom,
/// right], or TensorFlow "SAME" (resolved from the input size, as TF does: the odd pixel goes
/// to the bottom/right).
class padding {
public:
    padding(int64_t all = 0) : v_{all, all, all, all} {}  // NOLINT: implicit, `conv2d(..., 3, 1, 1)`
    padding(int64_t top, int64_t left, int64_t bottom, int64_t right) : v_{top, left, bottom, right} {}
    static padding same() {
        padding p;
        p.same_ = true;
        return p;
    }
    bool is_same() const { return same_; }

    /// The [top, left, bottom, right] padding for an input of `h` x `w`.
    std::array<int64_t, 4> resolve(int64_t h, int64_t w, const window& k, const window& s) const {
        if (!same_) return v_;
        const int64_t th = detail::same_padding_total(h, k.h, s.h), tw = detail::same_padding_total(w, k.w, s.w);
        return {th / 2, tw / 2, th - th / 2, tw - tw / 2};
    }

private:
    std::array<int64_t, 4> v_{0, 0, 0, 0};
    bool same_ = false;
};

/// Appends layers to a model_desc. Every call returns the name of the tensor it wrote (the
/// layer's name), to be passed to the next call. Layers get no weights and no activation
/// quantization: that is the job of a converter or of qint8::models::synthesize.
class graph_builder {
public:
    /// Builds into `m`, which must outlive the builder. Layers already in `m` (with their
    /// out_shape filled) can be built upon.
    explicit graph_builder(model_desc& m) : m_(m) {
        if (!m_.input.shape.empty()) shapes_[m_.input.name] = m_.input.shape;
        for (const layer& l : m_.layers)
            if (!l.out_shape.empty()) shapes_[l.name] = l.out_shape;
    }

    /// Declares the model input, [C, H, W] (batch excluded).
    std::string input(std::vector<int64_t> chw, std::string name = "input") {
        if (chw.size() != 3 || chw[0] <= 0 || chw[1] <= 0 || chw[2] <= 0)
            detail::fail(errc::invalid_argument, "graph_builder::input: expected a positive [C,H,W] shape, found " + detail::shape_str(chw));
        m_.input.name = name;
        m_.input.shape = chw;
        shapes_[name] = std::move(chw);
        return name;
    }

    /// Convolution with bias (BN folded), `groups` groups, then `act`.
    std::string conv2d(std::string name, const std::string& src, int64_t out_channels, window kernel, window stride = 1,
                       padding pad = 0, int64_t groups = 1, activation act = activation::none) {
        layer l = window_layer(std::move(name), op::conv2d, src, kernel, stride, pad);
        const auto& in = need_chw(l.name, src);
        if (out_channels <= 0 || groups <= 0 || in[0] % groups || out_channels % groups)
            detail::fail(errc::invalid_argument, "graph_builder: layer '" + l.name + "': groups (" + std::to_string(groups) +
                                                     ") must divide input channels (" + std::to_string(in[0]) + ") and out_channels (" +
                                                     std::to_string(out_channels) + ")");
        l.out_channels = out_channels;
        l.groups = groups;
        append_activation(l, act);
        std::vector<int64_t> out = window_shape(l, in, out_channels);
        return finish(std::move(l), std::move(out));
    }

    /// Depthwise convolution (one filter per input channel), then `act`.
    std::string depthwise_conv2d(std::string name, const std::string& src, window kernel, window stride = 1, padding pad = 0,
                                 activation act = activation::none) {
        layer l = window_layer(std::move(name), op::depthwise_conv2d, src, kernel, stride, pad);
        const auto& in = need_chw(l.name, src);
        l.out_channels = in[0];
        l.groups = in[0];
        append_activation(l, act);
        std::vector<int64_t> out = window_shape(l, in, in[0]);
        return finish(std::move(l), std::move(out));
    }

    /// Convolution whose result has `residual` added (post-op sum, the fused residual connection),
    /// then `act`. `residual` must have the convolution's output shape.
    std::string conv2d_residual(std::string name, const std::string& src, const std::string& residual, int64_t out_channels,
                                window kernel, window stride = 1, padding pad = 0, activation act = activation::none) {
        layer l = window_layer(std::move(name), op::conv2d, src, kernel, stride, pad);
        const auto& in = need_chw(l.name, src);
        if (out_channels <= 0)
            detail::fail(errc::invalid_argument, "graph_builder: layer '" + l.name + "': out_channels must be positive, found " + std::to_string(out_channels));
        l.out_channels = out_channels;
        std::vector<int64_t> out = window_shape(l, in, out_channels);
        check_same(l.name, residual, out);
        l.post_ops.push_back(post_op::make_sum(residual));
        append_activation(l, act);
        return finish(std::move(l), std::move(out));
    }

    std::string max_pool2d(std::string name, const std::string& src, window kernel, window stride, padding pad = 0) {
        layer l = window_layer(std::move(name), op::max_pool2d, src, kernel, stride, pad);
        std::vector<int64_t> out = window_shape(l, need_chw(l.name, src), need_chw(l.name, src)[0]);
        return finish(std::move(l), std::move(out));
    }

    std::string avg_pool2d(std::string name, const std::string& src, window kernel, window stride, padding pad = 0,
                           bool count_include_pad = false) {
        layer l = window_layer(std::move(name), op::avg_pool2d, src, kernel, stride, pad);
        l.count_include_pad = count_include_pad;
        std::vector<int64_t> out = window_shape(l, need_chw(l.name, src), need_chw(l.name, src)[0]);
        return finish(std::move(l), std::move(out));
    }

    std::string global_avg_pool2d(std::string name, const std::string& src) {
        layer l = plain_layer(std::move(name), op::global_avg_pool2d, {src});
        std::vector<int64_t> out{need_chw(l.name, src)[0], 1, 1};
        return finish(std::move(l), std::move(out));
    }

    /// Fully connected over the flattened input (C*H*W), then `act`.
    std::string fc(std::string name, const std::string& src, int64_t out_features, activation act = activation::none) {
        layer l = plain_layer(std::move(name), op::fc, {src});
        need(l.name, src);
        if (out_features <= 0)
            detail::fail(errc::invalid_argument, "graph_builder: layer '" + l.name + "': out_features must be positive, found " + std::to_string(out_features));
        l.out_channels = out_features;
        append_activation(l, act);
        return finish(std::move(l), {out_features});
    }

    /// Standalone element-wise sum (use conv2d_residual for the fused form).
    std::string add(std::string name, const std::string& a, const std::string& b, activation act = activation::none) {
        layer l = plain_layer(std::move(name), op::add, {a, b});
        std::vector<int64_t> out = need(l.name, a);
        check_same(l.name, b, out);
        append_activation(l, act);
        return finish(std::move(l), std::move(out));
    }

    std::string softmax(std::string name, const std::string& src) {
        layer l = plain_layer(std::move(name), op::softmax, {src});
        l.prec = precision::fp32;  // always computed in f32
        std::vector<int64_t> out = need(l.name, src);
        return finish(std::move(l), std::move(out));
    }

    /// Shape of a tensor built so far ([C,H,W] or [K]).
    const std::vector<int64_t>& shape(const std::string& tensor) const {
        auto it = shapes_.find(tensor);
        if (it == shapes_.end()) detail::fail(errc::invalid_argument, "graph_builder::shape: no tensor named '" + tensor + "'");
        return it->second;
    }
    model_desc& desc() { return m_; }

private:
    model_desc& m_;
    std::map<std::string, std::vector<int64_t>> shapes_;

    const std::vector<int64_t>& need(const std::string& who, const std::string& t) const {
        auto it = shapes_.find(t);
        if (it == shapes_.end())
            detail::fail(errc::invalid_argument, "graph_builder: layer '" + who + "' reads tensor '" + t + "', which no earlier call produced");
        return it->second;
    }
    const std::vector<int64_t>& need_chw(const std::string& who, const std::string& t) const {
        const auto& s = need(who, t);
        if (s.size() != 3)
            detail::fail(errc::shape_mismatch, "graph_builder: layer '" + who + "' needs a [C,H,W] input, tensor '" + t + "' is " + detail::shape_str(s));
        return s;
    }
    void check_same(const std::string& who, const std::string& t, const std::vector<int64_t>& want) const {
        const auto& s = need(who, t);
        if (s != want)
            detail::fail(errc::shape_mismatch, "graph_builder: layer '" + who + "': tensor '" + t + "' must have shape " +
                                                   detail::shape_str(want) + ", found " + detail::shape_str(s));
    }
    layer plain_layer(std::string name, op kind, std::vector<std::string> inputs) const {
        if (name.empty()) detail::fail(errc::invalid_argument, "graph_builder: a layer name must not be empty");
        if (shapes_.count(name)) detail::fail(errc::invalid_argument, "graph_builder: tensor name '" + name + "' is used twice");
        layer l;
        l.name = std::move(name);
        l.kind = kind;
        l.inputs = std::move(inputs);
        return l;
    }
    layer window_layer(std::string name, op kind, const std::string& src, const window& k, const window& s, const padding& p) const {
        layer l = plain_layer(std::move(name), kind, {src});
        const auto& in = need_chw(l.name, src);
        if (k.h <= 0 || k.w <= 0 || s.h <= 0 || s.w <= 0)
            detail::fail(errc::invalid_argument, "graph_builder: layer '" + l.name + "': kernel and stride must be positive");
        l.kernel = {k.h, k.w};
        l.stride = {s.h, s.w};
        l.pad = p.resolve(in[1], in[2], k, s);
        for (int64_t v : l.pad)
            if (v < 0) detail::fail(errc::invalid_argument, "graph_builder: layer '" + l.name + "': padding must not be negative");
        return l;
    }
    static std::vector<int64_t> window_shape(const layer& l, const std::vector<int64_t>& in, int64_t c_out) {
        std::vector<int64_t> out{c_out, 0, 0};
        for (int i = 0; i < 2; ++i) {
            out[1 + i] = detail::window_output_size(in[1 + i], l.kernel[i], l.stride[i], l.pad[i], l.pad[2 + i]);
            if (out[1 + i] < 0)
                detail::fail(errc::shape_mismatch, "graph_builder: layer '" + l.name + "': kernel " + detail::shape_str({l.kernel[0], l.kernel[1]}) +
                                                       " is larger than its padded input " + detail::shape_str(in));
        }
        return out;
    }
    static void append_activation(layer& l, activation a) {
        if (a == activation::relu) l.post_ops.push_back(post_op::make_relu());
        if (a == activation::relu6) l.post_ops.push_back(post_op::make_relu6());
    }
    std::string finish(layer l, std::vector<int64_t> out) {
        l.out_shape = out;
        shapes_[l.name] = std::move(out);
        m_.layers.push_back(std::move(l));
        return m_.layers.back().name;
    }
};

namespace detail {

/// The [C,H,W] or [K] shape of every tensor of `m`, from out_shape (filled by the builder or
/// by validate()).
inline std::map<std::string, std::vector<int64_t>> tensor_shapes(const model_desc& m) {
    std::map<std::string, std::vector<int64_t>> s{{m.input.name, m.input.shape}};
    for (const layer& l : m.layers) {
        if (l.out_shape.empty())
            fail(errc::invalid_argument, "layer '" + l.name + "' has no output shape: build it with graph_builder or validate() the model first");
        s[l.name] = l.out_shape;
    }
    return s;
}

/// Elements of one input of a weighted layer that one output element sees: C/groups*kh*kw or K.
inline int64_t fan_in(const layer& l, const std::vector<int64_t>& in) {
    if (l.kind == op::fc) {
        int64_t k = 1;
        for (int64_t d : in) k *= d;
        return k;
    }
    const int64_t groups = l.kind == op::depthwise_conv2d ? in.at(0) : l.groups;
    return in.at(0) / groups * l.kernel[0] * l.kernel[1];
}

}  // namespace detail

/// Learnable parameters of `m` as deployed: every conv/fc weight plus one bias per output
/// channel (BN folded), whether or not tensors are attached. This is the figure papers quote
/// minus BN's second parameter per channel.
inline int64_t parameter_count(const model_desc& m) {
    const auto shapes = detail::tensor_shapes(m);
    int64_t n = 0;
    for (const layer& l : m.layers)
        if (has_weights(l.kind)) n += l.out_channels * (detail::fan_in(l, shapes.at(l.inputs.at(0))) + 1);
    return n;
}

namespace models {

/// How a classifier's last layer is implemented; the layer keeps its reference name either way.
enum class classifier_kind { fc, conv1x1 };

/// Parameters every classifier family takes.
struct common_params {
    int64_t input_channels = 3;
    int64_t input_height = 224;  ///< >= 32
    int64_t input_width = 224;   ///< >= 32
    int64_t num_classes = 1000;  ///< real classes
    bool background_class = false;  ///< one extra output, index 0 (TF-slim's 1001-class models)
    classifier_kind classifier = classifier_kind::fc;
    bool softmax = false;        ///< end with a softmax layer (the model then outputs probabilities)
    activation act = activation::relu;

    int64_t outputs() const { return num_classes + (background_class ? 1 : 0); }
};

namespace detail {

inline std::string format_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

/// A width multiplier as model names spell it: "1.0", "0.75", "0.5".
inline std::string format_width(double w) {
    std::string s = format_number(w);
    return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
}

/// Reads topology attributes of a manifest, naming the attribute in errors.
class attribute_reader {
public:
    explicit attribute_reader(const model_desc& m) : m_(m) {}
    bool has(const std::string& k) const { return m_.attributes.count(k) != 0; }
    std::string str(const std::string& k, const std::string& dflt) const { return has(k) ? m_.attributes.at(k) : dflt; }
    double number(const std::string& k, double dflt) const {
        if (!has(k)) return dflt;
        const std::string& s = m_.attributes.at(k);
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !std::isfinite(v)) bad(k, "a number", s);
        return v;
    }
    int64_t integer(const std::string& k, int64_t dflt) const {
        const double v = number(k, static_cast<double>(dflt));
        if (v != std::floor(v) || std::fabs(v) > 1e15) bad(k, "an integer", m_.attributes.at(k));
        return static_cast<int64_t>(v);
    }
    bool boolean(const std::string& k, bool dflt) const {
        if (!has(k)) return dflt;
        const std::string& s = m_.attributes.at(k);
        if (s == "true" || s == "1") return true;
        if (s == "false" || s == "0") return false;
        bad(k, "true or false", s);
    }
    std::vector<int64_t> integers(const std::string& k, std::vector<int64_t> dflt) const {
        if (!has(k)) return dflt;
        const std::string& s = m_.attributes.at(k);
        std::vector<int64_t> r;
        std::size_t i = 0;
        while (i <= s.size()) {
            const std::size_t j = std::min(s.find(',', i), s.size());
            const std::string part = s.substr(i, j - i);
            char* end = nullptr;
            const long long v = std::strtoll(part.c_str(), &end, 10);
            if (part.empty() || *end != '\0') bad(k, "comma-separated integers", s);
            r.push_back(v);
            i = j + 1;
        }
        return r;
    }
    activation act(const std::string& k, activation dflt) const {
        const std::string s = str(k, to_string(dflt));
        if (s == "relu") return activation::relu;
        if (s == "relu6") return activation::relu6;
        bad(k, "\"relu\" or \"relu6\"", s);
    }
    [[noreturn]] void bad(const std::string& k, const std::string& expected, const std::string& found) const {
        qint8::detail::fail(errc::manifest_field, "attributes." + k + ": expected " + expected + ", found \"" + found + "\"");
    }

private:
    const model_desc& m_;
};

inline void check_common(const common_params& p, const char* family) {
    const std::string f = family;
    if (p.input_channels < 1 || p.input_channels > 4096)
        qint8::detail::fail(errc::invalid_argument, f + ": input_channels: expected 1..4096, found " + std::to_string(p.input_channels));
    if (p.input_height < 32 || p.input_width < 32 || p.input_height > 8192 || p.input_width > 8192)
        qint8::detail::fail(errc::invalid_argument, f + ": input size: expected 32..8192 pixels per side, found " +
                                                        std::to_string(p.input_height) + "x" + std::to_string(p.input_width));
    if (p.num_classes < 1 || p.num_classes > (int64_t{1} << 20))
        qint8::detail::fail(errc::invalid_argument, f + ": num_classes: expected 1..1048576, found " + std::to_string(p.num_classes));
    if (p.act == activation::none)
        qint8::detail::fail(errc::invalid_argument, f + ": activation: expected relu or relu6, found none");
}

/// Writes the common parameters as attributes and fills input and classes.
inline void record_common(model_desc& m, const common_params& p) {
    m.attributes["input_channels"] = std::to_string(p.input_channels);
    m.attributes["input_height"] = std::to_string(p.input_height);
    m.attributes["input_width"] = std::to_string(p.input_width);
    m.attributes["num_classes"] = std::to_string(p.num_classes);
    m.attributes["background_class"] = p.background_class ? "true" : "false";
    m.attributes["classifier"] = p.classifier == classifier_kind::fc ? "fc" : "conv1x1";
    m.attributes["softmax"] = p.softmax ? "true" : "false";
    m.attributes["activation"] = to_string(p.act);
    m.classes.count = p.outputs();
    m.classes.background_class = p.background_class;
    m.producer = m.producer.empty() ? "qint8::models" : m.producer;
}

/// Reads the common parameters back. Input shape and class count come from the manifest's own
/// fields (always present); the rest from attributes, with the family's defaults when absent
/// (a converter may not have written them).
inline void read_common(const model_desc& m, common_params& p) {
    attribute_reader a(m);
    if (m.input.shape.size() == 3) {
        p.input_channels = m.input.shape[0];
        p.input_height = m.input.shape[1];
        p.input_width = m.input.shape[2];
    }
    p.background_class = a.boolean("background_class", m.classes.background_class);
    if (m.classes.count > 0) p.num_classes = m.classes.count - (p.background_class ? 1 : 0);
    else p.num_classes = a.integer("num_classes", p.num_classes);
    const std::string c = a.str("classifier", p.classifier == classifier_kind::fc ? "fc" : "conv1x1");
    if (c == "fc") p.classifier = classifier_kind::fc;
    else if (c == "conv1x1" || c == "conv") p.classifier = classifier_kind::conv1x1;
    else a.bad("classifier", "\"fc\" or \"conv1x1\"", c);
    const bool ends_in_softmax = !m.layers.empty() && m.layers.back().kind == op::softmax;
    p.softmax = a.boolean("softmax", ends_in_softmax);
    p.act = a.act("activation", p.act);
}

/// Global average pool, the classifier layer `name` (fc, or 1x1 conv on the pooled [C,1,1])
/// and the optional softmax.
inline std::string classifier_head(graph_builder& b, const common_params& p, std::string x, const std::string& pool_name,
                                   const std::string& name) {
    x = b.global_avg_pool2d(pool_name, x);
    x = p.classifier == classifier_kind::fc ? b.fc(name, x, p.outputs()) : b.conv2d(name, x, p.outputs(), 1);
    if (p.softmax) x = b.softmax("softmax", x);
    return x;
}

}  // namespace detail
}  // namespace models
}  // namespace qint8
