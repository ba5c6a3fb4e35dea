#pragma once
/// @file classifier.hpp  `qint8::classifier`: a compiled image classifier with its session, for
/// the common case of one model run from one thread; `check_topology`, which tells whether a
/// loaded manifest is the topology it claims to be; and `qint8::load<Topology>`, which does both.
///
///     auto net = qint8::load<qint8::resnet50>("resnet50.json");   // #include <qint8/resnet50.hpp>
///     for (auto& p : net.classify(image_nchw, 5))                 // or an 8-bit RGB image_view
///         std::printf("%lld %.3f\n", (long long)p.class_id, p.probability);

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qint8/graph.hpp"
#include "qint8/io/manifest.hpp"
#include "qint8/kernels/vector.hpp"
#include "qint8/preprocess.hpp"
#include "qint8/session.hpp"

namespace qint8 {

struct classifier_options {
    int64_t batch = 1;             ///< images per run()
    int threads = 0;               ///< OpenMP threads the model is built and run with; 0: the process default
    bool force_fp32 = false;       ///< run the FP32 baseline instead of INT8
    bool verify_checksums = true;  ///< when loading from a manifest
};

/// One of the top-k answers for an image.
struct prediction {
    int64_t index = 0;        ///< model output index
    int64_t class_id = 0;     ///< class number: index, minus one for background-class models (background is -1)
    float probability = 0.f;  ///< softmax over all outputs (background included)
};

namespace detail {

inline std::string post_ops_str(const layer& l) {
    std::string s = "[";
    for (const auto& p : l.post_ops) {
        if (s.size() > 1) s += ", ";
        if (p.kind == post_op::relu) s += "relu";
        else if (p.kind == post_op::sum) s += "sum(" + p.input + ")";
        else if (p.lo == 0.f && p.hi == 6.f) s += "relu6";
        else s += "clip(" + std::to_string(p.lo) + ", " + std::to_string(p.hi) + ")";
    }
    return s + "]";
}

inline std::string layer_brief(const layer& l) {
    return "'" + l.name + "' (" + to_string(l.kind) + (l.out_shape.empty() ? std::string() : ", output " + shape_str(l.out_shape)) + ")";
}

inline std::string names_str(const std::vector<std::string>& v) {
    std::string s = "[";
    for (const auto& x : v) s += (s.size() > 1 ? ", '" : "'") + x + "'";
    return s + "]";
}

}  // namespace detail

/// Checks that `loaded` has exactly the layers of `expected_structure` (names, ops, inputs,
/// kernels, strides, padding, groups, channels, post-ops, output shapes; weights and
/// quantization are not compared). Throws qint8::error (errc::topology) naming the FIRST layer
/// that differs, with the expected and the found op and shape. `origin` names the manifest.
inline void check_topology(const model_desc& loaded, const model_desc& expected_structure, const std::string& origin = "model") {
    using detail::shape_str;
    const model_desc& e = expected_structure;
    const std::string what = e.variant.empty() ? e.architecture : e.variant;
    std::string claims = loaded.variant.empty() ? loaded.architecture : loaded.variant;
    const std::string head = origin + (claims.empty() ? "" : " (" + claims + ")") + ": does not match " + what + ": ";
    auto mismatch = [&](const std::string& msg) { detail::fail(errc::topology, head + msg); };

    if (loaded.input.shape != e.input.shape)
        mismatch("input: expected shape " + shape_str(e.input.shape) + ", found " + shape_str(loaded.input.shape));
    if (loaded.input.name != e.input.name)
        mismatch("input: expected the name '" + e.input.name + "', found '" + loaded.input.name + "'");
    const std::size_t n = std::max(loaded.layers.size(), e.layers.size());
    for (std::size_t i = 0; i < n; ++i) {
        const std::string at = "layer " + std::to_string(i) + ": ";
        if (i >= loaded.layers.size())
            mismatch(at + "expected " + detail::layer_brief(e.layers[i]) + ", found the end of the model (" +
                     std::to_string(loaded.layers.size()) + " layers, " + std::to_string(e.layers.size()) + " expected)");
        if (i >= e.layers.size())
            mismatch(at + "expected the end of the model (" + std::to_string(e.layers.size()) + " layers), found " +
                     detail::layer_brief(loaded.layers[i]));
        const layer& x = e.layers[i];
        const layer& y = loaded.layers[i];
        const bool shapes_known = !x.out_shape.empty() && !y.out_shape.empty();
        if (x.name != y.name || x.kind != y.kind || (shapes_known && x.out_shape != y.out_shape))
            mismatch(at + "expected " + detail::layer_brief(x) + ", found " + detail::layer_brief(y));
        const std::string in = at + "'" + x.name + "' (" + to_string(x.kind) + "): ";
        auto pair = [](int64_t a, int64_t b) { return shape_str({a, b}); };
        if (x.inputs != y.inputs) mismatch(in + "inputs: expected " + detail::names_str(x.inputs) + ", found " + detail::names_str(y.inputs));
        if (has_weights(x.kind) && x.out_channels != y.out_channels)
            mismatch(in + "out_channels: expected " + std::to_string(x.out_channels) + ", found " + std::to_string(y.out_channels));
        const bool windowed = x.kind == op::conv2d || x.kind == op::depthwise_conv2d || x.kind == op::max_pool2d || x.kind == op::avg_pool2d;
        if (windowed && x.kernel != y.kernel)
            mismatch(in + "kernel: expected " + pair(x.kernel[0], x.kernel[1]) + ", found " + pair(y.kernel[0], y.kernel[1]));
        if (windowed && x.stride != y.stride)
            mismatch(in + "stride: expected " + pair(x.stride[0], x.stride[1]) + ", found " + pair(y.stride[0], y.stride[1]));
        if (windowed && x.pad != y.pad)
            mismatch(in + "pad: expected " + shape_str({x.pad[0], x.pad[1], x.pad[2], x.pad[3]}) + ", found " +
                     shape_str({y.pad[0], y.pad[1], y.pad[2], y.pad[3]}));
        if (x.kind == op::conv2d && x.groups != y.groups)
            mismatch(in + "groups: expected " + std::to_string(x.groups) + ", found " + std::to_string(y.groups));
        if (x.kind == op::avg_pool2d && x.count_include_pad != y.count_include_pad)
            mismatch(in + "count_include_pad: expected " + std::string(x.count_include_pad ? "true" : "false") + ", found " +
                     (y.count_include_pad ? "true" : "false"));
        if (detail::post_ops_str(x) != detail::post_ops_str(y))
            mismatch(in + "post_ops: expected " + detail::post_ops_str(x) + ", found " + detail::post_ops_str(y));
    }
    if (!e.layers.empty() && loaded.output_name() != e.output_name())
        mismatch("output: expected '" + e.output_name() + "', found '" + loaded.output_name() + "'");
}

/// A compiled classifier and the session that runs it. Not for concurrent use: share
/// compiled_model() and give each thread its own qint8::session instead.
class classifier {
public:
    /// Compiles `desc`. `origin` names the model in error messages.
    explicit classifier(model_desc desc, const classifier_options& opt = {}, const std::string& origin = "model")
        : opt_(opt), origin_(origin), model_(std::move(desc), compile_opts(opt), origin), session_(model_, session_opts(opt)) {
        const model_desc& d = model_.desc();
        const layer* out = d.find_layer(d.output_name());
        probabilities_out_ = out && out->kind == op::softmax;
        background_ = d.classes.background_class ? 1 : 0;
    }

    /// Loads any manifest as a classifier, without a topology check (see qint8::load<Topology>).
    static classifier load(const std::string& manifest_path, const classifier_options& opt = {}) {
        read_options ro;
        ro.verify_checksums = opt.verify_checksums;
        return classifier(read_manifest(manifest_path, ro), opt, manifest_path);
    }

    const model& compiled_model() const { return model_; }
    const model_desc& desc() const { return model_.desc(); }
    const classifier_options& options() const { return opt_; }
    int64_t batch() const { return model_.batch(); }
    /// Floats per image: C*H*W, NCHW, preprocessed as desc().input.preprocess says.
    std::size_t input_size() const { return model_.input_size(); }
    /// Outputs per image (classes, plus background if the model has it).
    std::size_t num_outputs() const { return model_.output_size(); }
    /// True if the model ends in softmax, so run() already returns probabilities.
    bool outputs_probabilities() const { return probabilities_out_; }

    /// Runs `images` images (1 .. batch(); all of them by default: images x input_size() floats)
    /// and returns images x num_outputs() values: logits, or probabilities if the model ends in
    /// softmax. A partly filled batch gives what a model compiled for that batch gives
    /// (session::run).
    std::vector<float> run(const float* images_nchw, std::size_t images = 0) {
        if (images == 0) images = static_cast<std::size_t>(batch());
        std::vector<float> out(num_outputs() * images);
        session_.run(images_nchw, images, out.data());
        return out;
    }

    /// Class probabilities for `images` images (all of batch() by default), images x num_outputs().
    std::vector<float> probabilities(const float* images_nchw, std::size_t images = 0) {
        std::vector<float> v = run(images_nchw, images);
        if (!probabilities_out_)
            for (std::size_t r = 0; r < v.size() / num_outputs(); ++r)
                kernels::softmax(v.data() + r * num_outputs(), v.data() + r * num_outputs(), num_outputs());
        return v;
    }

    /// The k most probable classes of one image, most probable first. Needs batch() == 1.
    std::vector<prediction> classify(const float* image_nchw, std::size_t k = 5) {
        if (batch() != 1)
            detail::fail(errc::invalid_argument, "classifier::classify: expected a batch-1 classifier, this one runs batches of " +
                                                     std::to_string(batch()) + " (use classify_batch)");
        return classify_batch(image_nchw, k).front();
    }

    /// The same for an image held in a vector, which must hold exactly input_size() floats.
    std::vector<prediction> classify(const std::vector<float>& image_nchw, std::size_t k = 5) {
        if (image_nchw.size() != input_size())
            detail::fail(errc::invalid_argument, "classifier::classify: image: expected " + std::to_string(input_size()) +
                                                     " floats (C x H x W of the model's input), found " + std::to_string(image_nchw.size()));
        return classify(image_nchw.data(), k);
    }

    /// The k most probable classes of an 8-bit RGB image of any size, prepared as preprocessing()
    /// says (by default the manifest's input.preprocess). Needs batch() == 1.
    std::vector<prediction> classify(const image_view& image, std::size_t k = 5) { return classify(preprocess(image, preprocessing()), k); }

    /// How classify(image_view) prepares images: set_preprocessing()'s, or the manifest's
    /// (preprocess_spec_of; fails when the manifest records it as unknown).
    const preprocess_spec& preprocessing() {
        if (!spec_) spec_ = preprocess_spec_of(desc(), origin_);
        return *spec_;
    }
    /// Prepares images as `s` says instead, e.g. for a model whose manifest says "known": false.
    void set_preprocessing(const preprocess_spec& s) {
        if (static_cast<std::size_t>(s.crop) * static_cast<std::size_t>(s.crop) * 3 != input_size())
            detail::fail(errc::invalid_argument, "classifier::set_preprocessing: crop " + std::to_string(s.crop) + " gives 3 x " + std::to_string(s.crop) +
                                                     " x " + std::to_string(s.crop) + " floats, expected the model's input " + shape_str(desc().input.shape));
        spec_ = s;
    }

    /// The k most probable classes of each of `images` images (all of batch() by default).
    std::vector<std::vector<prediction>> classify_batch(const float* images_nchw, std::size_t k = 5, std::size_t images = 0) {
        const std::vector<float> p = probabilities(images_nchw, images);
        std::vector<std::vector<prediction>> r(p.size() / num_outputs());
        for (std::size_t i = 0; i < r.size(); ++i)
            for (const auto& [idx, prob] : kernels::top_k(p.data() + i * num_outputs(), num_outputs(), k))
                r[i].push_back({idx, idx - background_, prob});
        return r;
    }

private:
    static compile_options compile_opts(const classifier_options& o) {
        compile_options c;
        c.batch = o.batch;
        c.force_fp32 = o.force_fp32;
        c.threads = o.threads;
        return c;
    }
    static session_options session_opts(const classifier_options& o) {
        session_options s;
        s.threads = o.threads;
        return s;
    }

    classifier_options opt_;
    std::string origin_;
    std::optional<preprocess_spec> spec_;
    model model_;
    session session_;
    bool probabilities_out_ = false;
    int64_t background_ = 0;
};

/// Loads a manifest as `Topology` (qint8::resnet50, qint8::mobilenet_v2, ... from their
/// headers): reads it, rebuilds the topology's structure from the manifest's own parameters
/// (input size, classes, width, ...), checks that they match layer for layer, and compiles it.
/// A manifest of another topology fails with errc::topology naming the first differing layer.
template <class Topology>
classifier load(const std::string& manifest_path, const classifier_options& opt = {}) {
    read_options ro;
    ro.verify_checksums = opt.verify_checksums;
    model_desc m = read_manifest(manifest_path, ro);
    model_desc expected;
#if QINT8_EXCEPTIONS
    try {
        expected = Topology::structure(Topology::params_from(m));
    } catch (const error& e) {
        detail::fail(errc::topology, manifest_path + ": cannot be a " + Topology::name + ": " + e.what());
    }
#else
    expected = Topology::structure(Topology::params_from(m));  // a failure reports its own cause
#endif
    check_topology(m, expected, manifest_path);
    return classifier(std::move(m), opt, manifest_path);
}

}  // namespace qint8
