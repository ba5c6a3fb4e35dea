#pragma once
/// @file graph.hpp  The in-memory description of a model: layers, activation quantization and weight
/// tensors. A manifest file is this structure written as JSON plus a weights file; topology
/// builders and converters produce it; `qint8::model` compiles it for execution.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qint8/core/types.hpp"

namespace qint8 {

/// Layer operations. Convolutions use NCHW semantics with OIHW weights.
enum class op {
    conv2d,             ///< weights [O, C/groups, kh, kw]; `groups` divides C and O
    depthwise_conv2d,   ///< weights [C, 1, kh, kw]; out_channels == C
    max_pool2d,
    avg_pool2d,
    global_avg_pool2d,  ///< mean over H and W; output [C, 1, 1]
    fc,                 ///< weights [O, K], K = element count of the input (C*H*W, flattened in C,H,W order)
    add,                ///< element-wise sum of two tensors of equal shape
    softmax,            ///< over the class dimension; always computed in f32
};

inline const char* to_string(op o) noexcept {
    switch (o) {
        case op::conv2d: return "conv2d";
        case op::depthwise_conv2d: return "depthwise_conv2d";
        case op::max_pool2d: return "max_pool2d";
        case op::avg_pool2d: return "avg_pool2d";
        case op::global_avg_pool2d: return "global_avg_pool2d";
        case op::fc: return "fc";
        case op::add: return "add";
        case op::softmax: return "softmax";
    }
    return "?";
}

inline std::optional<op> parse_op(const std::string& s) {
    for (op o : {op::conv2d, op::depthwise_conv2d, op::max_pool2d, op::avg_pool2d, op::global_avg_pool2d,
                 op::fc, op::add, op::softmax})
        if (s == to_string(o)) return o;
    return std::nullopt;
}

/// True for ops that carry weights (`<layer>.weight`, optional `<layer>.bias`).
inline bool has_weights(op o) noexcept { return o == op::conv2d || o == op::depthwise_conv2d || o == op::fc; }

/// Something applied to a layer's result before it is stored, in order.
struct post_op {
    enum kind_t { relu, clip, sum };
    kind_t kind = relu;
    float lo = 0.f, hi = 0.f;  ///< clip bounds in real units (relu6 is clip 0..6)
    std::string input;         ///< sum: the tensor added (a residual connection)
    /// sum: the layer's result (after the post-ops before this one) is first rounded and clipped
    /// to this quantization, as a QDQ file rounds a residual branch before its Add; none: added
    /// as it is.
    std::optional<quant_params> rounded;

    static post_op make_relu() { return {relu, 0.f, 0.f, {}, std::nullopt}; }
    static post_op make_clip(float lo, float hi) { return {clip, lo, hi, {}, std::nullopt}; }
    static post_op make_relu6() { return make_clip(0.f, 6.f); }
    static post_op make_sum(std::string tensor, std::optional<quant_params> rounded = std::nullopt) {
        return {sum, 0.f, 0.f, std::move(tensor), rounded};
    }
};

/// One layer. It reads the tensors named in `inputs` and writes one tensor named after itself.
struct layer {
    std::string name;
    op kind = op::conv2d;
    std::vector<std::string> inputs;
    int64_t out_channels = 0;                ///< convolutions and fc
    std::array<int64_t, 2> kernel{1, 1};     ///< [h, w]: convolutions and pools
    std::array<int64_t, 2> stride{1, 1};     ///< [h, w]
    std::array<int64_t, 4> pad{0, 0, 0, 0};  ///< [top, left, bottom, right]; asymmetric allowed
    int64_t groups = 1;                      ///< conv2d only
    bool count_include_pad = false;          ///< avg_pool2d: divide by the full window (true) or by the valid taps
    std::vector<post_op> post_ops;
    precision prec = precision::int8;        ///< where the layer computes; fp32 layers may sit between int8 ones
    std::optional<quant_params> act;         ///< how this layer's output is represented in 8 bits
    /// conv/depthwise/fc on the INT8 path: add the bias unrounded (f32, in accumulator units) as
    /// the source file does where float ops sit between the convolution and its quantization;
    /// false: rounded to int32 accumulator units, as an integer (fused) convolution does.
    bool float_bias = false;
    std::vector<int64_t> out_shape;          ///< [C, H, W] or [K] (no batch); filled by validation
};

/// A tensor's bytes, shared between copies of a description (a loaded weights file, or data a
/// converter produced). Always little-endian, native x86 layout.
struct tensor {
    dtype type = dtype::f32;
    std::vector<int64_t> shape;
    std::shared_ptr<const void> owner;  ///< keeps `data` alive
    const std::byte* data = nullptr;
    std::size_t bytes = 0;

    std::size_t elements() const { return bytes / dtype_size(type); }
    template <class T> const T* as() const { return reinterpret_cast<const T*>(data); }

    /// A tensor owning `values`: moved in when the caller passes an rvalue (weights of big
    /// models are hundreds of MB), copied otherwise.
    template <class T>
    static tensor from_vector(dtype t, std::vector<int64_t> shape, std::vector<T> values) {
        auto buf = std::make_shared<std::vector<T>>(std::move(values));
        tensor r;
        r.type = t;
        r.shape = std::move(shape);
        r.data = reinterpret_cast<const std::byte*>(buf->data());
        r.bytes = buf->size() * sizeof(T);
        r.owner = std::shared_ptr<const void>(buf, buf->data());
        return r;
    }
};

/// How the model expects images to be prepared before `input` quantization.
struct preprocess_desc {
    /// false: nobody said how the model wants its pixels (a converted ONNX or float TFLite model
    /// without --mean/--std); the values below are then meaningless, and image tools refuse to
    /// guess. Hand-written manifests without a preprocess block keep the ImageNet defaults.
    bool known = true;
    std::vector<float> mean{0.485f, 0.456f, 0.406f};  ///< per channel, after scaling pixels to [0, 1]
    std::vector<float> std{0.229f, 0.224f, 0.225f};
    std::string color_order = "rgb";
    int64_t resize_short = 256;   ///< 0: not used (see crop_fraction)
    double crop_fraction = 0.0;   ///< > 0: TF style, centre-crop this fraction of the short side
};

struct input_desc {
    std::string name = "input";
    std::vector<int64_t> shape;          ///< [C, H, W]
    std::optional<quant_params> act;     ///< needed when a layer reading the input is int8
    preprocess_desc preprocess;
};

struct classes_desc {
    int64_t count = 0;              ///< number of model outputs
    bool background_class = false;  ///< output 0 is "background" (TF 1001-class models)
    std::string labels;             ///< label file, relative to the manifest; empty if none
};

/// How an INT8 layer turns its int32 accumulators into 8-bit codes (docs/manifest.md, "Requantization").
enum class requantization {
    float_scale,  ///< v = float(acc + bias) * (s_src * s_w / s_dst), rounded half to even: ONNX's QuantizeLinear, oneDNN's output scales
    tflite,       ///< TFLite's integer kernels: a Q31 multiplier with rounding shifts, integer average pools, TFLite's ADD
};

inline const char* to_string(requantization r) noexcept { return r == requantization::tflite ? "tflite" : "float"; }

/// A whole model.
struct model_desc {
    /// 2: "requantization" (a reader of version 1 would ignore it and compute other integers).
    /// A manifest is written as version 1 unless it needs version 2.
    static constexpr int current_format_version = 2;
    int format_version = current_format_version;
    requantization requant = requantization::float_scale;
    std::string architecture;   ///< topology family: mobilenet_v1, mobilenet_v2, resnet, vgg, or custom
    std::string variant;        ///< e.g. resnet50
    std::map<std::string, std::string> attributes;  ///< topology parameters (width multiplier, ...)
    std::string producer;
    input_desc input;
    classes_desc classes;
    std::vector<layer> layers;  ///< in execution order; each reads only tensors written before it
    std::string output;         ///< name of the tensor returned by run(); the last layer if empty
    std::map<std::string, tensor> tensors;  ///< `<layer>.weight`, `<layer>.weight.scales`, `<layer>.bias`

    const std::string& output_name() const { return output.empty() ? layers.back().name : output; }
    const layer* find_layer(const std::string& n) const {
        for (const auto& l : layers)
            if (l.name == n) return &l;
        return nullptr;
    }
};

}  // namespace qint8
