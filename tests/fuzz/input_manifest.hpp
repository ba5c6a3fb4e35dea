#pragma once
// One input of the manifest target (fuzz_manifest.cpp; also tests/fuzz/test_fuzz_corpora.cpp): a
// manifest and its weights file (qint8::read_manifest), then compiling and running what loads,
// and loading it again with model::load.
// Input: u32 little-endian JSON length (bit 31: skip CRC checks, so that mutated weights reach the
// value checks), the JSON text, then the .q8w bytes.

#include <algorithm>
#include <cstring>

#include <qint8/io/manifest.hpp>

#include "fuzz_common.hpp"

namespace qint8::fuzz {

inline void manifest_input(const uint8_t* data, size_t size) {
    if (size < 4) return;
    uint32_t head = 0;
    std::memcpy(&head, data, 4);
    const std::size_t json_len = std::min<std::size_t>(head & 0x7fffffffu, size - 4);
    qint8::read_options ro;
    ro.verify_checksums = (head >> 31) == 0;
    const std::string json = write_file("m.json", data + 4, json_len);
    write_file("m.q8w", data + 4 + json_len, size - 4 - json_len);
    qint8::model_desc m;
    try {
        m = qint8::read_manifest(json, ro);
        compile_if_small(m);
    } catch (const qint8::error&) {
        return;
    }
    load_if_small(m, json, ro);  // what read_manifest accepted and compiled, model::load must too
}

}  // namespace qint8::fuzz
