#pragma once
// Where the third-party real-data material lives (models and images that are read in place,
// never copied into the repository): $QINT8_DATA_DIR when set, else ../shared/data beside the
// source tree. Tests that need it and do not find it print "NOT RUN: ..." and ctest lists them
// as skipped (tests/CMakeLists.txt).

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace qint8::test {

inline std::string shared_data_dir() {
    if (const char* e = std::getenv("QINT8_DATA_DIR"); e && *e) return e;
    return std::string(QINT8_SOURCE_DIR) + "/../shared/data";
}

/// The data directory when it holds the ImageNet samples (imagenet-samples/val_list.txt) and the
/// TFLite models (tflite/), else nothing.
inline std::optional<std::string> imagenet_data_dir() {
    const std::string d = shared_data_dir();
    if (!std::filesystem::exists(d + "/imagenet-samples/val_list.txt") || !std::filesystem::exists(d + "/tflite")) return std::nullopt;
    return d;
}

}  // namespace qint8::test
