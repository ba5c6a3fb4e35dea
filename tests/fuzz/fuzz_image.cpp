// libFuzzer target: decoding and preprocessing images (input_image.hpp).

#include "input_image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qint8::fuzz::image_input(data, size);
    return 0;
}
