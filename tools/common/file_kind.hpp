#pragma once
// What kind of file a path holds, from its first bytes and name, so that a file given to the
// wrong option (a JPEG as --data, an ONNX model as --model) is reported as such, with the
// command that makes the right file, instead of as a parser's complaint about its contents.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>

#include <qint8/core/error.hpp>

namespace qint8::tools {

/// "a JPEG image", "an ONNX model", ...; empty when the kind is not recognised.
inline std::string file_kind(const std::string& path) {
    unsigned char b[16] = {};
    std::size_t n = 0;
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        n = std::fread(b, 1, sizeof b, f);
        std::fclose(f);
    }
    auto ends_with = [&](const char* ext) {
        const std::string e(ext);
        return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
    };
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "a JPEG image";
    if (n >= 4 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return "a PNG image";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "a BMP image";
    if (n >= 3 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F') return "a GIF image";
    if (n >= 8 && b[4] == 'T' && b[5] == 'F' && b[6] == 'L' && b[7] == '3') return "a TFLite model";
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return ends_with("idx3-ubyte.gz") || ends_with("idx1-ubyte.gz") ? "a gzip'd IDX file" : "a gzip file";
    if (n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08 && b[3] >= 1 && b[3] <= 4) return "an IDX file";
    if (ends_with(".onnx")) return "an ONNX model";
    if (ends_with(".tflite")) return "a TFLite model";
    if (ends_with(".q8w")) return "a qint8 weights file";
    std::size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) ++i;
    if (i < n && b[i] == '{') return "a JSON file";
    return "";
}

/// Fails (errc::io, naming `option`) unless `path` is a regular file: /dev/zero, a FIFO or a
/// terminal never ends, and reading one whole would grow memory until the process is killed.
inline void expect_regular_file(const std::string& path, const std::string& option) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) qint8::fail(errc::io, path + ": " + option + ": cannot open for reading (" + std::strerror(errno) + ")");
    if (S_ISDIR(st.st_mode)) qint8::fail(errc::io, path + ": " + option + ": is a directory, expected a file");
    if (!S_ISREG(st.st_mode))
        qint8::fail(errc::io, path + ": " + option + ": not a regular file (a device, FIFO or socket may never end), expected a file");
}

/// Fails (errc::model_file, naming `option`) unless `path` can be a source model of
/// qint8-convert (ONNX or TFLite): an image, a data file or a manifest is named as what it is.
inline void expect_source_model(const std::string& path, const std::string& option) {
    expect_regular_file(path, option);
    const std::string k = file_kind(path);
    if (k.empty() || k == "an ONNX model" || k == "a TFLite model") return;  // the model readers give the details
    std::string hint;
    if (k == "a JSON file" || k == "a qint8 weights file") hint = " (a qint8 manifest is already converted: give it to qint8-eval or classify)";
    qint8::fail(errc::model_file, path + ": " + option + ": expected an ONNX (.onnx) or TFLite (.tflite) model, found " + k + hint);
}

/// Fails (errc::model_file, naming `option`) unless `path` can be a qint8 manifest: source
/// models and weights files get the command that makes a manifest from them.
inline void expect_manifest(const std::string& path, const std::string& option) {
    const std::string k = file_kind(path);
    if (k.empty() || k == "a JSON file") return;  // the manifest reader gives the details
    std::string hint;
    if (k == "an ONNX model" || k == "a TFLite model")
        hint = "; convert it first: qint8-convert --input " + path + " --output DIR/model.json";
    else if (k == "a qint8 weights file")
        hint = "; give the .json file beside it";
    qint8::fail(errc::model_file, path + ": " + option + ": expected a qint8 manifest (model.json), found " + k + hint);
}

/// Fails (errc::data, naming `option`) when `path` is recognisably not a data file
/// of qint8-preprocess (which has no magic number of its own).
inline void expect_data_file(const std::string& path, const std::string& option) {
    const std::string k = file_kind(path);
    if (k.empty()) return;
    qint8::fail(errc::data, path + ": " + option + ": expected a data file from qint8-preprocess (int64 N, N float32 CHW images, "
                                                                "N int64 labels), found " + k +
                                             "; make one with qint8-preprocess (see qint8-preprocess --help)");
}

}  // namespace qint8::tools
