// libFuzzer target: the TFLite reader (FlatBuffer parsing) and front end, then the converter's
// passes to a manifest description (FP32, and INT8 from the file's own quantization), then
// compiling what validates.

#include <qint8/convert/convert.hpp>
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto m = qint8::convert::tflite::parse(std::vector<uint8_t>(data, data + size), "fuzz.tflite");
        const qint8::convert::import_graph g = qint8::convert::tflite_frontend::from_model(m);
        for (bool fp32 : {true, false}) {
            qint8::convert::options o;
            o.fp32 = fp32;
            o.arch = "custom";
            try {
                qint8::fuzz::compile_if_small(qint8::convert::convert_graph(g, o).m);
            } catch (const qint8::error&) {
            }
        }
    } catch (const qint8::error&) {
    }
    return 0;
}
