// libFuzzer target: TFLite files through the converter (input_tflite.hpp).

#include "input_tflite.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qint8::fuzz::tflite_input(data, size);
    return 0;
}
