#pragma once
/// @file version.hpp  Library version; CMake reads the three numbers from here.

#define QINT8_VERSION_MAJOR 0
#define QINT8_VERSION_MINOR 1
#define QINT8_VERSION_PATCH 0

namespace qint8 {
/// Library version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace qint8
