// libFuzzer target: the data-file reader (input_datafile.hpp).

#include "input_datafile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qint8::fuzz::datafile_input(data, size);
    return 0;
}
