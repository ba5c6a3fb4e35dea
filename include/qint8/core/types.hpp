#pragma once
/// @file types.hpp  Data types, quantization parameters and overflow-checked size arithmetic.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "qint8/core/error.hpp"

namespace qint8 {

/// Element types, named as oneDNN names them.
enum class dtype { u8, s8, s32, f32 };

inline const char* to_string(dtype t) noexcept {
    switch (t) {
        case dtype::u8: return "u8";
        case dtype::s8: return "s8";
        case dtype::s32: return "s32";
        case dtype::f32: return "f32";
    }
    return "?";
}

inline std::optional<dtype> parse_dtype(const std::string& s) {
    if (s == "u8") return dtype::u8;
    if (s == "s8") return dtype::s8;
    if (s == "s32") return dtype::s32;
    if (s == "f32") return dtype::f32;
    return std::nullopt;
}

inline std::size_t dtype_size(dtype t) noexcept {
    return (t == dtype::u8 || t == dtype::s8) ? 1 : 4;
}

/// Range of an 8-bit integer type, as int32 (for clamping and zero-point validation).
inline int32_t dtype_min(dtype t) noexcept { return t == dtype::u8 ? 0 : -128; }
inline int32_t dtype_max(dtype t) noexcept { return t == dtype::u8 ? 255 : 127; }

/// Affine quantization of one activation tensor: real = scale * (q - zero_point).
struct quant_params {
    dtype type = dtype::u8;  ///< u8 or s8
    float scale = 1.0f;      ///< > 0, finite
    int32_t zero_point = 0;  ///< within the range of `type`
    bool operator==(const quant_params& o) const {
        return type == o.type && scale == o.scale && zero_point == o.zero_point;
    }
    bool operator!=(const quant_params& o) const { return !(*this == o); }
};

/// Per-layer compute precision.
enum class precision { int8, fp32 };

inline const char* to_string(precision p) noexcept { return p == precision::int8 ? "int8" : "fp32"; }

namespace detail {

/// Multiplies sizes, throwing instead of wrapping: shapes come from files.
inline std::size_t checked_mul(std::size_t a, std::size_t b, const std::string& what) {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a)
        fail(errc::manifest_field, what + ": size arithmetic overflows");
    return a * b;
}

/// Element count of a shape; every dimension must be positive and the product must fit
/// comfortably (below 2^40 elements, far beyond any real tensor, so later byte counts cannot wrap).
inline std::size_t element_count(const std::vector<int64_t>& shape, const std::string& what) {
    std::size_t n = 1;
    for (int64_t d : shape) {
        if (d <= 0) fail(errc::manifest_field, what + ": dimensions must be positive, found " + std::to_string(d));
        n = checked_mul(n, static_cast<std::size_t>(d), what);
        if (n > (std::size_t{1} << 40)) fail(errc::manifest_field, what + ": size arithmetic overflows (more than 2^40 elements)");
    }
    return n;
}

}  // namespace detail

/// A shape as messages print it: "[3,224,224]".
inline std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

namespace detail {
using qint8::shape_str;
}  // namespace detail
}  // namespace qint8
