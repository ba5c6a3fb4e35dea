#pragma once
// Image decoding (stb_image: JPEG, PNG, BMP, ...), resampling, and the two classifier preprocessing recipes:
// torchvision/Paddle (resize the short side, centre-crop) and TF/Inception (centre-crop a
// fraction of the short side, resize to the crop). Output: float CHW, (pixel/255 - mean)/std.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <qint8/core/error.hpp>

#include <stb_image.h>

namespace qint8::tools {

struct rgb_image {
    int w = 0, h = 0;
    std::vector<uint8_t> px;  ///< HWC, 3 channels
};

/// Images larger than this (8192 x 8192) are refused before decoding.
inline constexpr int64_t max_image_pixels = int64_t{1} << 26;

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
        qint8::fail(errc::image, path + ": truncated PNM: " + std::to_string(w) + " x " + std::to_string(h) + " pixels need " + std::to_string(need) +
                                      " bytes, the file has " + std::to_string(size));
}

/// Decodes any format stb_image knows; grey and grey+alpha become RGB, alpha is dropped.
inline rgb_image load_rgb(const std::string& path) {
    int w = 0, h = 0, c = 0;
    // The header's size is checked before decoding: a 100-byte file may claim 30000 x 30000
    // pixels, and stb_image would allocate all of them (up to 2 GB) first.
    if (stbi_info(path.c_str(), &w, &h, &c)) {
        // stb_image's PNM reader accepts a header without a height, and wraps a width of 20
        // digits into a negative int (fuzz_image): both are refused before any arithmetic.
        if (w < 1 || h < 1)
            qint8::fail(errc::image, path + ": image of " + std::to_string(w) + " x " + std::to_string(h) + " pixels: expected at least 1 x 1");
        if (static_cast<int64_t>(w) * h > max_image_pixels)
            qint8::fail(errc::image, path + ": image of " + std::to_string(w) + " x " + std::to_string(h) + " pixels: expected at most " +
                                       std::to_string(max_image_pixels) + " pixels");
        check_pnm_size(path, w, h, c);
    }
    // Decoded in the file's own channel count and expanded to RGB below: stb's own conversion
    // (asking for 3 channels) treats the 8-bit result of a 16-bit PNM's conversion as 16-bit and
    // reads past its buffer (fuzz_image: a 15-byte "P5 6 x 6624, maxval 4223" file).
    unsigned char* p = stbi_load(path.c_str(), &w, &h, &c, 0);
    if (!p) {
        const char* why = stbi_failure_reason();
        qint8::fail(errc::image, path + ": cannot decode image (" + std::string(why ? why : "unknown reason") + ")");
    }
    if (w < 1 || h < 1) {  // stb_image's PNM reader accepts a header with no height
        stbi_image_free(p);
        qint8::fail(errc::image, path + ": image of " + std::to_string(w) + " x " + std::to_string(h) + " pixels: expected at least 1 x 1");
    }
    if (c < 1 || c > 4) {
        stbi_image_free(p);
        qint8::fail(errc::image, path + ": " + std::to_string(c) + " channels: expected 1 to 4");
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

/// The taps of output pixels o0 .. o0+count-1 when `in` pixels become `out`: for each, the first
/// input pixel and the normalised weights. A triangle filter on pixel centres; with `antialias`
/// it widens by the shrink factor, averaging every source pixel (PIL's bilinear, which
/// torchvision uses); without it, it is plain bilinear interpolation (TF/OpenCV style).
struct resample_taps {
    std::vector<int> first;
    std::vector<std::vector<float>> w;
    resample_taps(int in, int out, int o0, int count, bool antialias) {
        const double scale = static_cast<double>(in) / out;
        const double support = antialias ? std::max(1.0, scale) : 1.0;
        for (int o = o0; o < o0 + count; ++o) {
            const double centre = (o + 0.5) * scale;
            int lo = std::max(static_cast<int>(std::floor(centre - support)), 0);
            const int hi = std::min(static_cast<int>(std::ceil(centre + support)), in);
            std::vector<float> wv;
            double sum = 0;
            for (int i = lo; i < hi; ++i) {
                const double t = std::max(0.0, 1.0 - std::fabs((i + 0.5 - centre) / support));
                wv.push_back(static_cast<float>(t));
                sum += t;
            }
            if (sum <= 0) {  // centre outside every tap's reach: take the nearest pixel
                lo = std::min(std::max(static_cast<int>(centre), 0), in - 1);
                wv.assign(1, 1.f);
                sum = 1;
            }
            for (auto& x : wv) x = static_cast<float>(x / sum);
            first.push_back(lo);
            w.push_back(std::move(wv));
        }
    }
};

/// The window [x0, x0+cw) x [y0, y0+ch) of `src` resampled to w x h (resample_taps), rounded back
/// to 8 bits. Only the window is computed: resizing a 2 x 333333 image's short side to 256 and
/// cropping the centre must not build the 256 x 42 million pixels in between (fuzz_image).
inline rgb_image resize_window(const rgb_image& src, int w, int h, int x0, int y0, int cw, int ch, bool antialias) {
    const resample_taps tx(src.w, w, x0, cw, antialias), ty(src.h, h, y0, ch, antialias);
    const int row_lo = ty.first.front(), row_hi = ty.first.back() + static_cast<int>(ty.w.back().size());  // source rows used
    const auto at = [](int a, int b, int width) { return (static_cast<std::size_t>(a) * static_cast<std::size_t>(width) + static_cast<std::size_t>(b)) * 3; };
    std::vector<float> tmp(static_cast<std::size_t>(row_hi - row_lo) * static_cast<std::size_t>(cw) * 3);  // horizontal pass
    for (int y = row_lo; y < row_hi; ++y)
        for (int x = 0; x < cw; ++x) {
            const auto& wv = tx.w[static_cast<std::size_t>(x)];
            for (int c = 0; c < 3; ++c) {
                float acc = 0;
                for (std::size_t k = 0; k < wv.size(); ++k) acc += wv[k] * src.px[at(y, tx.first[static_cast<std::size_t>(x)] + static_cast<int>(k), src.w) + static_cast<std::size_t>(c)];
                tmp[at(y - row_lo, x, cw) + static_cast<std::size_t>(c)] = acc;
            }
        }
    rgb_image r;
    r.w = cw;
    r.h = ch;
    r.px.resize(static_cast<std::size_t>(cw) * static_cast<std::size_t>(ch) * 3);
    for (int y = 0; y < ch; ++y)
        for (int x = 0; x < cw; ++x) {
            const auto& wv = ty.w[static_cast<std::size_t>(y)];
            for (int c = 0; c < 3; ++c) {
                float acc = 0;
                for (std::size_t k = 0; k < wv.size(); ++k)
                    acc += wv[k] * tmp[at(ty.first[static_cast<std::size_t>(y)] + static_cast<int>(k) - row_lo, x, cw) + static_cast<std::size_t>(c)];
                r.px[at(y, x, cw) + static_cast<std::size_t>(c)] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, std::nearbyint(acc))));
            }
        }
    return r;
}

/// `src` resampled to w x h (resize_window over the whole output).
inline rgb_image resize(const rgb_image& src, int w, int h, bool antialias = true) { return resize_window(src, w, h, 0, 0, w, h, antialias); }

inline rgb_image crop(const rgb_image& src, int x0, int y0, int w, int h) {
    rgb_image r;
    r.w = w;
    r.h = h;
    r.px.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    for (int y = 0; y < h; ++y)
        std::copy_n(src.px.data() + (static_cast<std::size_t>(y0 + y) * static_cast<std::size_t>(src.w) + static_cast<std::size_t>(x0)) * 3,
                    static_cast<std::size_t>(w) * 3, r.px.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(w) * 3);
    return r;
}

struct preprocess_spec {
    int resize_short = 256;      ///< torchvision style: resize the short side to this, then crop; 0 (and no crop_fraction): resize the whole image to crop x crop
    double crop_fraction = 0.0;  ///< > 0: TF style: centre-crop this fraction of the short side, then resize to `crop`
    bool antialias = true;       ///< false: plain bilinear (TF's resize_bilinear); true: PIL/torchvision style
    int crop = 224;
    float mean[3] = {0.485f, 0.456f, 0.406f};
    float std[3] = {0.229f, 0.224f, 0.225f};
    bool bgr = false;
};

/// The float CHW tensor the model takes (3 x crop x crop).
inline std::vector<float> preprocess(const rgb_image& img, const preprocess_spec& s) {
    rgb_image x;
    if (s.crop_fraction > 0) {
        const int side = std::max(1, static_cast<int>(std::lround(s.crop_fraction * std::min(img.w, img.h))));
        x = resize(crop(img, (img.w - side) / 2, (img.h - side) / 2, side, side), s.crop, s.crop, s.antialias);
    } else if (s.resize_short == 0) {
        x = img.w == s.crop && img.h == s.crop ? img : resize(img, s.crop, s.crop, s.antialias);
    } else {
        const double k = static_cast<double>(s.resize_short) / std::min(img.w, img.h);
        if (std::max(img.w, img.h) * k > static_cast<double>(max_image_pixels))  // keeps the sizes below in int
            qint8::fail(errc::image, "image of " + std::to_string(img.w) + " x " + std::to_string(img.h) + " pixels: resizing its short side to " +
                                       std::to_string(s.resize_short) + " gives a long side above " + std::to_string(max_image_pixels) + " pixels");
        const int w = std::max(s.crop, static_cast<int>(std::lround(img.w * k)));
        const int h = std::max(s.crop, static_cast<int>(std::lround(img.h * k)));
        x = resize_window(img, w, h, (w - s.crop) / 2, (h - s.crop) / 2, s.crop, s.crop, s.antialias);
    }
    const std::size_t plane = static_cast<std::size_t>(s.crop) * static_cast<std::size_t>(s.crop);
    std::vector<float> chw(plane * 3);
    for (std::size_t i = 0; i < plane; ++i)
        for (int c = 0; c < 3; ++c) {
            const int from = s.bgr ? 2 - c : c;
            chw[static_cast<std::size_t>(c) * plane + i] = (static_cast<float>(x.px[i * 3 + static_cast<std::size_t>(from)]) / 255.f - s.mean[c]) / s.std[c];
        }
    return chw;
}

}  // namespace qint8::tools
