#pragma once
// One input of the ONNX target (fuzz_onnx.cpp, which adds its structure-aware mutator; also
// tests/fuzz/test_fuzz_corpora.cpp): the ONNX front end and the converter's graph passes.

#include <onnx/onnx_pb.h>

#include "fuzz_convert.hpp"

namespace qint8::fuzz {

inline void onnx_input(const uint8_t* data, size_t size) {
    onnx::ModelProto mp;
    if (!mp.ParseFromArray(data, static_cast<int>(size))) return;  // the protobuf library's own job
    try {
        convert_both_ways(qint8::convert::onnx_frontend::from_model(mp, "fuzz.onnx"));
    } catch (const qint8::error&) {
    }
}

}  // namespace qint8::fuzz
