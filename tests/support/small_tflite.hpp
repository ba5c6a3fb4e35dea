#pragma once
// The smallest valid TFLite classifier, built in memory: the bad-input tests break one thing in
// it, the fuzz seeds start from it, and the converter's TFLite-only build converts it. No ONNX.

#include <cstdint>
#include <vector>

#include "support/tflite_builder.hpp"

namespace qint8::test {

namespace tb = test::tflite_build;
namespace tfl = qint8::convert::tflite;

/// input [1,1,1,48] float -> RESHAPE to [1,48] -> SOFTMAX.
inline tb::t_model small_tflite() {
    tb::t_model m;
    m.buffers.resize(1);  // buffer 0: empty, as the converter writes it
    m.codes.resize(2);
    m.codes[0].builtin = static_cast<int32_t>(tfl::builtin::RESHAPE);
    m.codes[1].builtin = static_cast<int32_t>(tfl::builtin::SOFTMAX);
    const char* names[] = {"input", "flat", "prob"};
    const std::vector<int32_t> shapes[] = {{1, 1, 1, 48}, {1, 48}, {1, 48}};
    for (int k = 0; k < 3; ++k) {
        tb::t_tensor t;
        t.name = names[k];
        t.shape = shapes[k];
        t.type = tfl::tensor_type::float32;
        m.tensors.push_back(t);
    }
    tb::t_op reshape;
    reshape.opcode = 0;
    reshape.inputs = {0};
    reshape.outputs = {1};
    reshape.options_type = static_cast<uint8_t>(tfl::options_type::ReshapeOptions);
    reshape.opts = tfl::reshape_options{};
    tb::t_op softmax;
    softmax.opcode = 1;
    softmax.inputs = {1};
    softmax.outputs = {2};
    softmax.options_type = static_cast<uint8_t>(tfl::options_type::SoftmaxOptions);
    tfl::softmax_options so;
    so.beta = 1.f;
    softmax.opts = so;
    m.ops = {reshape, softmax};
    m.inputs = {0};
    m.outputs = {2};
    return m;
}

}  // namespace qint8::test
