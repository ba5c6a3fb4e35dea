// libFuzzer target: a manifest and its weights file (qint8::read_manifest), then compiling and
// running what loads. Input: u32 little-endian JSON length (bit 31: skip CRC checks, so that
// mutated weights reach the value checks), the JSON text, then the .q8w bytes.

#include <cstring>

#include <qint8/io/manifest.hpp>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    uint32_t head = 0;
    std::memcpy(&head, data, 4);
    const std::size_t json_len = std::min<std::size_t>(head & 0x7fffffffu, size - 4);
    qint8::read_options ro;
    ro.verify_checksums = (head >> 31) == 0;
    const std::string json = qint8::fuzz::write_file("m.json", data + 4, json_len);
    qint8::fuzz::write_file("m.q8w", data + 4 + json_len, size - 4 - json_len);
    try {
        const qint8::model_desc m = qint8::read_manifest(json, ro);
        qint8::fuzz::compile_if_small(m);
    } catch (const qint8::error&) {
    }
    return 0;
}
