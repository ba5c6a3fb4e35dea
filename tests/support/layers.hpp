#pragma once
// Layers for hand-written test models, one call each. A field a helper does not take keeps
// qint8::layer's default; tests set the rest (activation, post-ops, groups) on the result.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <qint8/graph.hpp>

namespace qint8::test {

/// A layer of kind `kind` named `name` reading `inputs`.
inline layer make_layer(op kind, std::string name, std::vector<std::string> inputs) {
    layer l;
    l.name = std::move(name);
    l.kind = kind;
    l.inputs = std::move(inputs);
    return l;
}

/// A sliding-window layer of kind `kind`: a square k x k window at stride `stride`, `pad` on every side.
inline layer window_layer(op kind, std::string name, std::string input, int64_t k, int64_t pad = 0, int64_t stride = 1) {
    layer l = make_layer(kind, std::move(name), {std::move(input)});
    l.kernel = {k, k};
    l.stride = {stride, stride};
    l.pad = {pad, pad, pad, pad};
    return l;
}

/// A conv2d with `out` output channels.
inline layer conv_layer(std::string name, std::string input, int64_t out, int64_t k = 1, int64_t pad = 0, int64_t stride = 1) {
    layer l = window_layer(op::conv2d, std::move(name), std::move(input), k, pad, stride);
    l.out_channels = out;
    return l;
}

/// A depthwise conv2d over `channels` channels (groups stays as qint8::layer's default).
inline layer depthwise_layer(std::string name, std::string input, int64_t channels, int64_t k = 3, int64_t pad = 1, int64_t stride = 1) {
    layer l = window_layer(op::depthwise_conv2d, std::move(name), std::move(input), k, pad, stride);
    l.out_channels = channels;
    return l;
}

/// A fully connected layer with `out` outputs.
inline layer fc_layer(std::string name, std::string input, int64_t out) {
    layer l = make_layer(op::fc, std::move(name), {std::move(input)});
    l.out_channels = out;
    return l;
}

}  // namespace qint8::test
