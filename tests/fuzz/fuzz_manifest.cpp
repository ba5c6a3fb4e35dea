// libFuzzer target: a manifest and its weights file (input_manifest.hpp).

#include "input_manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qint8::fuzz::manifest_input(data, size);
    return 0;
}
