#pragma once
/// @file image_file.hpp  Image files (JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PNM) decoded to 8-bit
/// RGB with stb_image, for qint8::preprocess. Optional: the rest of qint8 does not include it.
/// A program that includes it links stb (Debian libstb-dev: `pkg-config --cflags --libs stb`,
/// or `-I/usr/include/stb -lstb`), or compiles stb_image's implementation itself.
///
///     const qint8::rgb_image photo = qint8::read_image("photo.jpg");
///     for (const auto& p : net.classify(photo, 5)) ...

#include <cstdint>
#include <fstream>
#include <string>

#include <stb_image.h>

#include "qint8/core/error.hpp"
#include "qint8/preprocess.hpp"

namespace qint8 {
namespace detail {

/// stb_image reads a binary PNM (P5/P6) shorter than its header promises without a word, and
/// the missing pixels are whatever memory held: such a file is refused as truncated (the pixel
/// payload alone must fit in the file).
inline void check_pnm_size(const std::string& path, int w, int h, int c) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    const std::streamoff size = f ? static_cast<std::streamoff>(f.tellg()) : -1;
    f.seekg(0);
    char magic[2] = {0, 0};
    if (size < 2 || !f.read(magic, 2) || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '6')) return;
    const int64_t need = int64_t{w} * h * c * (stbi_is_16_bit(path.c_str()) ? 2 : 1);
    if (size < need)
        fail(errc::image, path + ": truncated PNM: " + size_str(w, h) + " pixels need " + std::to_string(need) + " bytes, the file has " +
                              std::to_string(size));
}

/// The header's size is checked before decoding: a 100-byte file may claim 30000 x 30000
/// pixels, and stb_image would allocate all of them (up to 2 GB) first.
inline void check_image_header(const std::string& path) {
    int w = 0, h = 0, c = 0;
    if (!stbi_info(path.c_str(), &w, &h, &c)) return;  // stbi_load says why below
    // stb_image's PNM reader accepts a header without a height, and wraps a width of 20
    // digits into a negative int: both are refused before any arithmetic.
    if (w < 1 || h < 1) fail(errc::image, path + ": image of " + size_str(w, h) + " pixels: expected at least 1 x 1");
    if (static_cast<int64_t>(w) * h > max_image_pixels)
        fail(errc::image, path + ": image of " + size_str(w, h) + " pixels: expected at most " + std::to_string(max_image_pixels) + " pixels");
    check_pnm_size(path, w, h, c);
}

}  // namespace detail

/// Decodes any format stb_image knows; grey and grey+alpha become RGB, alpha is dropped.
/// Failures are errc::io (no such file) or errc::image, naming the file.
inline rgb_image read_image(const std::string& path) {
    if (!std::ifstream(path, std::ios::binary)) fail(errc::io, path + ": cannot open the image for reading");
    detail::check_image_header(path);
    int w = 0, h = 0, c = 0;
    // Decoded in the file's own channel count and expanded to RGB below: stb's own conversion
    // (asking for 3 channels) treats the 8-bit result of a 16-bit PNM's conversion as 16-bit and
    // reads past its buffer (a 15-byte "P5 6 x 6624, maxval 4223" file).
    unsigned char* p = stbi_load(path.c_str(), &w, &h, &c, 0);
    if (!p) {
        const char* why = stbi_failure_reason();
        fail(errc::image, path + ": cannot decode image (" + std::string(why ? why : "unknown reason") + ")");
    }
    if (w < 1 || h < 1) {  // stb_image's PNM reader accepts a header with no height
        stbi_image_free(p);
        fail(errc::image, path + ": image of " + detail::size_str(w, h) + " pixels: expected at least 1 x 1");
    }
    if (c < 1 || c > 4) {
        stbi_image_free(p);
        fail(errc::image, path + ": " + std::to_string(c) + " channels: expected 1 to 4");
    }
    rgb_image r;
    r.w = w;
    r.h = h;
    const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h), cs = static_cast<std::size_t>(c);
    r.px.resize(n * 3);
    for (std::size_t i = 0; i < n; ++i)  // grey (+ alpha) is replicated, alpha dropped
        for (std::size_t k = 0; k < 3; ++k) r.px[i * 3 + k] = p[i * cs + (cs >= 3 ? k : 0)];
    stbi_image_free(p);
    return r;
}

}  // namespace qint8
