#pragma once
// One input of the data-file target (fuzz_datafile.cpp; also tests/fuzz/test_fuzz_corpora.cpp):
// the reader qint8-eval and --calib-data use (tools/common/dataset.hpp). Input: one byte choosing
// the model's image size (1..256 floats), then the file.

#include <vector>

#include "common/dataset.hpp"
#include "fuzz_common.hpp"

namespace qint8::fuzz {

inline void datafile_input(const uint8_t* data, size_t size) {
    if (size < 1) return;
    const std::size_t floats = 1 + data[0];
    const std::string path = write_file("data.bin", data + 1, size - 1);
    try {
        qint8::tools::dataset_reader r(path, floats);
        std::vector<float> img(floats);
        for (std::size_t i = 0; i < r.size(); ++i) {
            r.read(i, 1, img.data());
            (void)r.label(i);
        }
    } catch (const qint8::error&) {
    }
}

}  // namespace qint8::fuzz
