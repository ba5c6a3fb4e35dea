#pragma once
// One input of the TFLite target (fuzz_tflite.cpp; also tests/fuzz/test_fuzz_corpora.cpp): the
// TFLite reader (FlatBuffer parsing) and front end, then the converter's passes to a manifest
// description (FP32, and INT8 from the file's own quantization), then compiling what validates.

#include <vector>

#include "fuzz_convert.hpp"

namespace qint8::fuzz {

inline void tflite_input(const uint8_t* data, size_t size) {
    try {
        const auto m = qint8::convert::tflite::parse(std::vector<uint8_t>(data, data + size), "fuzz.tflite");
        convert_both_ways(qint8::convert::tflite_frontend::from_model(m));
    } catch (const qint8::error&) {
    }
}

}  // namespace qint8::fuzz
