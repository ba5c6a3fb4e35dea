#pragma once
/// @file source.hpp  Reading a source model, from a file or from memory: a TFLite FlatBuffer
/// (recognised by its "TFL3" file identifier) or an ONNX protobuf.
///
/// The TFLite front end needs nothing beyond the runtime's own dependencies. The ONNX front end
/// needs libonnx and libprotobuf, so it is compiled in only where QINT8_WITH_ONNX is 1 (the CMake
/// target qint8::convert_onnx sets it and links both); without it an ONNX source is reported as
/// errc::unsupported, naming the file, instead of failing to compile or link.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <qint8/core/error.hpp>

#include <qint8/convert/import_graph.hpp>
#include <qint8/convert/tflite/frontend.hpp>

#ifndef QINT8_WITH_ONNX
#define QINT8_WITH_ONNX 0
#endif
#if QINT8_WITH_ONNX
#include <qint8/convert/onnx/frontend.hpp>
#endif

namespace qint8::convert {

/// True when the bytes start like a TFLite FlatBuffer ("TFL3" at byte 4).
inline bool is_tflite(const void* data, std::size_t size) {
    return size >= 8 && std::memcmp(static_cast<const char*>(data) + 4, "TFL3", 4) == 0;
}

namespace detail_source {
[[noreturn]] inline void no_onnx(const std::string& origin) {
    fail(errc::unsupported, origin + ": not a TFLite model (no \"TFL3\" identifier at byte 4), and this build of qint8::convert reads no ONNX: "
                                     "link qint8::convert_onnx (CMake), or define QINT8_WITH_ONNX=1 and link libonnx and libprotobuf");
}
}  // namespace detail_source

namespace detail_source {
/// /dev/zero or a FIFO never ends: the readers would take memory until the process is killed.
inline void expect_regular(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))  // a directory: the readers say so
        fail(errc::io, path + ": not a regular file (a device, FIFO or socket), expected an ONNX or TFLite model file");
}
}  // namespace detail_source

/// Reads a source model file: TFLite by its identifier, anything else as ONNX. Errors name the file.
inline import_graph import_file(const std::string& path) {
    detail_source::expect_regular(path);
    if (tflite_frontend::looks_like_tflite(path)) return tflite_frontend::load(path);
#if QINT8_WITH_ONNX
    return onnx_frontend::load(path);
#else
    detail_source::no_onnx(path);
#endif
}

/// Reads a source model held in memory (the bytes of a .tflite or .onnx file); `origin` names it
/// in messages.
inline import_graph import_memory(const void* data, std::size_t size, const std::string& origin) {
    if (is_tflite(data, size)) {
        const auto* p = static_cast<const uint8_t*>(data);
        return tflite_frontend::from_model(tflite::parse(std::vector<uint8_t>(p, p + size), origin));
    }
#if QINT8_WITH_ONNX
    return onnx_frontend::from_bytes(data, size, origin);
#else
    detail_source::no_onnx(origin);
#endif
}

}  // namespace qint8::convert
