#pragma once
// Shared by the converter's libFuzzer targets (ONNX, TFLite): once a front end has read a graph,
// the same passes run on it whatever the format.

#include <qint8/convert/convert.hpp>

#include "fuzz_common.hpp"

namespace qint8::fuzz {

/// Converts `g` to a manifest description twice (FP32, and INT8 from the file's own
/// quantization) and compiles what validates; a qint8::error from either conversion is the
/// expected end of a bad input.
inline void convert_both_ways(const convert::import_graph& g) {
    for (bool fp32 : {true, false}) {
        convert::options o;
        o.fp32 = fp32;
        o.arch = "custom";
        try {
            compile_if_small(convert::convert_graph(g, o).m);
        } catch (const qint8::error&) {
        }
    }
}

}  // namespace qint8::fuzz
