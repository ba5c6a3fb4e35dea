#pragma once
/// @file error.hpp  The one exception type qint8 throws.

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

/// QINT8_EXCEPTIONS is 1 when qint8 reports failures by throwing qint8::error, 0 when it prints
/// the same message to stderr and aborts: define QINT8_NO_EXCEPTIONS, or build with
/// -fno-exceptions (as nlohmann/json and oneDNN do in that case). oneDNN then reports its own
/// failures by printing and trapping; nlohmann/json aborts.
#if defined(QINT8_NO_EXCEPTIONS) || !(defined(__cpp_exceptions) || defined(__EXCEPTIONS))
#define QINT8_EXCEPTIONS 0
#else
#define QINT8_EXCEPTIONS 1
#endif

namespace qint8 {

/// What kind of failure an error reports; the message says the details. The codes for damaged
/// input name the kind of source: the manifest (manifest_*, tensor_*, shape_/dtype_mismatch), its
/// weights file (weights_file, checksum), a TFLite or ONNX model (tflite, onnx), a model file of no
/// known kind (model_file), a data set or data file (data) and an image (image).
enum class errc {
    io,                ///< a file could not be opened, read or written
    manifest_parse,    ///< the manifest is not valid JSON or a field has the wrong JSON type
    manifest_version,  ///< the manifest or weights file is of a format version this reader does not know
    manifest_field,    ///< a field is missing or its value is out of range
    tensor_missing,    ///< a layer needs a tensor the manifest does not list
    tensor_extra,      ///< the manifest lists a tensor that no layer uses
    shape_mismatch,    ///< a tensor or layer shape differs from what the graph implies
    dtype_mismatch,    ///< a tensor has a data type the layer cannot use
    weights_file,      ///< the weights file is truncated, misaligned or does not match the manifest
    checksum,          ///< a CRC-32 does not match the bytes
    unsupported,       ///< a valid request this build or CPU cannot serve
    topology,          ///< a manifest does not describe the topology it was loaded as
    backend,           ///< oneDNN refused a primitive
    invalid_argument,  ///< a run-time argument (input size, option) is wrong
    model_file,        ///< a file given as a model is none of the kinds qint8 reads (ONNX, TFLite, manifest)
    tflite,            ///< a TFLite FlatBuffer is damaged or malformed
    onnx,              ///< an ONNX protobuf is damaged or malformed
    data,              ///< a data file (qint8-preprocess output, IDX, label list) is damaged or malformed
    image,             ///< an image cannot be decoded or has an unusable size
    output,            ///< an output file or directory could not be created or written
};

/// Text name of an error code, as it appears in messages: "[qint8.<name>] ...".
inline const char* to_string(errc c) noexcept {
    switch (c) {
        case errc::io: return "io";
        case errc::manifest_parse: return "manifest_parse";
        case errc::manifest_version: return "manifest_version";
        case errc::manifest_field: return "manifest_field";
        case errc::tensor_missing: return "tensor_missing";
        case errc::tensor_extra: return "tensor_extra";
        case errc::shape_mismatch: return "shape_mismatch";
        case errc::dtype_mismatch: return "dtype_mismatch";
        case errc::weights_file: return "weights_file";
        case errc::checksum: return "checksum";
        case errc::unsupported: return "unsupported";
        case errc::topology: return "topology";
        case errc::backend: return "backend";
        case errc::invalid_argument: return "invalid_argument";
        case errc::model_file: return "model_file";
        case errc::tflite: return "tflite";
        case errc::onnx: return "onnx";
        case errc::data: return "data";
        case errc::image: return "image";
        case errc::output: return "output";
    }
    return "unknown";
}

/// Every failure qint8 reports is a qint8::error. `what()` reads
/// "[qint8.<code>] <file>: <field or tensor>: expected <...>, found <...>".
class error : public std::runtime_error {
public:
    error(errc code, const std::string& message)
        : std::runtime_error("[qint8." + std::string(to_string(code)) + "] " + message), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

/// Reports a failure the way qint8 itself does: throws qint8::error, or in a build without
/// exceptions (QINT8_NO_EXCEPTIONS, -fno-exceptions) prints its message and aborts. Public so that
/// programs built on qint8 (its own tools among them) report their input errors in the same form.
[[noreturn]] inline void fail(errc code, const std::string& message) {
#if QINT8_EXCEPTIONS
    throw error(code, message);
#else
    std::fprintf(stderr, "%s\n", error(code, message).what());
    std::abort();
#endif
}

namespace detail {
using qint8::fail;
}  // namespace detail

}  // namespace qint8
