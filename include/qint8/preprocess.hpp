#pragma once
/// @file preprocess.hpp  From 8-bit RGB pixels of any size to the float C x H x W input a model
/// takes, as its manifest's `input.preprocess` records: resize the short side and centre-crop
/// (torchvision), or centre-crop a fraction of the short side and resize (TF/Inception); then
/// (pixel/255 - mean) / std per channel, in RGB or BGR order. The one implementation: the tools
/// (`qint8-preprocess`, `classify`) call it too, so an application gets exactly their floats.
///
///     const auto x = qint8::preprocess({pixels, width, height}, net.desc());  // 3 x H x W floats
///
/// Decoding files is not here (no image library needed): see qint8/image_file.hpp.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "qint8/core/error.hpp"
#include "qint8/graph.hpp"

namespace qint8 {

/// Interleaved 8-bit RGB pixels owned elsewhere: h rows of w pixels, 3 bytes each, no row padding.
struct image_view {
    const uint8_t* px = nullptr;
    int w = 0, h = 0;
};

/// Interleaved 8-bit RGB pixels, h rows of w pixels (HWC).
struct rgb_image {
    int w = 0, h = 0;
    std::vector<uint8_t> px;  ///< w * h * 3 bytes
    operator image_view() const { return {px.data(), w, h}; }
};

/// Images larger than this (8192 x 8192) are refused.
inline constexpr int64_t max_image_pixels = int64_t{1} << 26;

/// How pixels become a model's input; preprocess_spec_of() reads it from a manifest.
struct preprocess_spec {
    int resize_short = 256;      ///< torchvision style: resize the short side to this (to `crop` if smaller), then centre-crop; 0 (and no crop_fraction): resize the whole image to crop x crop
    double crop_fraction = 0.0;  ///< > 0: TF style: centre-crop this fraction of the short side, then resize to `crop`
    bool antialias = true;       ///< false: plain bilinear (TF's resize_bilinear); true: PIL/torchvision style
    int crop = 224;              ///< output height and width
    float mean[3] = {0.485f, 0.456f, 0.406f};  ///< per channel, of pixel/255, in the output's channel order
    float std[3] = {0.229f, 0.224f, 0.225f};
    bool bgr = false;            ///< output channel 0 is blue
};

namespace detail {

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

inline std::size_t pixel_at(int y, int x, int width) {
    return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3;
}

inline std::string size_str(int w, int h) { return std::to_string(w) + " x " + std::to_string(h); }

/// A pixel buffer the functions below can read: at least 1 x 1, at most max_image_pixels.
inline void check_image(const image_view& img) {
    if (!img.px || img.w < 1 || img.h < 1)
        fail(errc::image, "image of " + size_str(img.w, img.h) + " pixels" + (img.px ? "" : " without pixels") +
                              ": expected at least 1 x 1 pixels");
    if (static_cast<int64_t>(img.w) * img.h > max_image_pixels)
        fail(errc::image, "image of " + size_str(img.w, img.h) + " pixels: expected at most " + std::to_string(max_image_pixels) + " pixels");
}

inline void check_spec(const preprocess_spec& s) {
    if (s.crop < 1 || s.resize_short < 0 || !(s.crop_fraction >= 0 && s.crop_fraction <= 1))
        fail(errc::invalid_argument, "preprocess_spec: expected crop >= 1, resize_short >= 0 and crop_fraction in 0..1, found crop " +
                                         std::to_string(s.crop) + ", resize_short " + std::to_string(s.resize_short) + ", crop_fraction " +
                                         std::to_string(s.crop_fraction));
    for (int c = 0; c < 3; ++c)
        if (!std::isfinite(s.mean[c]) || !(s.std[c] > 0) || !std::isfinite(s.std[c]))
            fail(errc::invalid_argument, "preprocess_spec: channel " + std::to_string(c) + ": expected a finite mean and a finite std > 0, found mean " +
                                             std::to_string(s.mean[c]) + ", std " + std::to_string(s.std[c]));
}

/// The float C x H x W tensor of `x` (crop x crop pixels): (pixel/255 - mean) / std.
inline std::vector<float> normalize(const image_view& x, const preprocess_spec& s) {
    const std::size_t plane = static_cast<std::size_t>(x.w) * static_cast<std::size_t>(x.h);
    std::vector<float> chw(plane * 3);
    for (std::size_t i = 0; i < plane; ++i)
        for (int c = 0; c < 3; ++c) {
            const int from = s.bgr ? 2 - c : c;
            chw[static_cast<std::size_t>(c) * plane + i] = (static_cast<float>(x.px[i * 3 + static_cast<std::size_t>(from)]) / 255.f - s.mean[c]) / s.std[c];
        }
    return chw;
}

}  // namespace detail

/// The window [x0, x0+cw) x [y0, y0+ch) of `src` resampled to w x h (detail::resample_taps),
/// rounded back to 8 bits. Only the window is computed: resizing a 2 x 333333 image's short side
/// to 256 and cropping the centre must not build the 256 x 42 million pixels in between.
inline rgb_image resize_window(const image_view& src, int w, int h, int x0, int y0, int cw, int ch, bool antialias) {
    detail::check_image(src);
    const detail::resample_taps tx(src.w, w, x0, cw, antialias), ty(src.h, h, y0, ch, antialias);
    const int row_lo = ty.first.front(), row_hi = ty.first.back() + static_cast<int>(ty.w.back().size());  // source rows used
    using detail::pixel_at;
    std::vector<float> tmp(static_cast<std::size_t>(row_hi - row_lo) * static_cast<std::size_t>(cw) * 3);  // horizontal pass
    for (int y = row_lo; y < row_hi; ++y)
        for (int x = 0; x < cw; ++x) {
            const auto& wv = tx.w[static_cast<std::size_t>(x)];
            for (int c = 0; c < 3; ++c) {
                float acc = 0;
                for (std::size_t k = 0; k < wv.size(); ++k) acc += wv[k] * src.px[pixel_at(y, tx.first[static_cast<std::size_t>(x)] + static_cast<int>(k), src.w) + static_cast<std::size_t>(c)];
                tmp[pixel_at(y - row_lo, x, cw) + static_cast<std::size_t>(c)] = acc;
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
                    acc += wv[k] * tmp[pixel_at(ty.first[static_cast<std::size_t>(y)] + static_cast<int>(k) - row_lo, x, cw) + static_cast<std::size_t>(c)];
                r.px[pixel_at(y, x, cw) + static_cast<std::size_t>(c)] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, std::nearbyint(acc))));
            }
        }
    return r;
}

/// `src` resampled to w x h (resize_window over the whole output).
inline rgb_image resize(const image_view& src, int w, int h, bool antialias = true) { return resize_window(src, w, h, 0, 0, w, h, antialias); }

/// The w x h pixels of `src` whose top left is (x0, y0); the window must lie inside `src`.
inline rgb_image crop(const image_view& src, int x0, int y0, int w, int h) {
    if (x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 + w > src.w || y0 + h > src.h)
        fail(errc::invalid_argument, "crop: expected a window inside the " + detail::size_str(src.w, src.h) + " image, found " + detail::size_str(w, h) +
                                         " at (" + std::to_string(x0) + ", " + std::to_string(y0) + ")");
    rgb_image r;
    r.w = w;
    r.h = h;
    r.px.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    for (int y = 0; y < h; ++y)
        std::copy_n(src.px + detail::pixel_at(y0 + y, x0, src.w), static_cast<std::size_t>(w) * 3, r.px.data() + detail::pixel_at(y, 0, w));
    return r;
}

/// The float C x H x W tensor (3 x crop x crop) the model takes, from an image of any size.
inline std::vector<float> preprocess(const image_view& img, const preprocess_spec& s) {
    detail::check_image(img);
    detail::check_spec(s);
    if (s.crop_fraction > 0) {
        const int side = std::max(1, static_cast<int>(std::lround(s.crop_fraction * std::min(img.w, img.h))));
        const rgb_image x = resize(crop(img, (img.w - side) / 2, (img.h - side) / 2, side, side), s.crop, s.crop, s.antialias);
        return detail::normalize(x, s);
    }
    if (s.resize_short == 0) {
        if (img.w == s.crop && img.h == s.crop) return detail::normalize(img, s);
        return detail::normalize(resize(img, s.crop, s.crop, s.antialias), s);
    }
    // A short side below the crop becomes the crop (a 299 x 299 input with the default 256):
    // the aspect ratio is kept, and nothing outside the image is cut.
    const int short_side = std::max(s.resize_short, s.crop);
    const double k = static_cast<double>(short_side) / std::min(img.w, img.h);
    if (std::max(img.w, img.h) * k > static_cast<double>(max_image_pixels))  // keeps the sizes below in int
        fail(errc::image, "image of " + detail::size_str(img.w, img.h) + " pixels: resizing its short side to " + std::to_string(short_side) +
                              " gives a long side above " + std::to_string(max_image_pixels) + " pixels");
    const int w = std::max(s.crop, static_cast<int>(std::lround(img.w * k)));
    const int h = std::max(s.crop, static_cast<int>(std::lround(img.h * k)));
    return detail::normalize(resize_window(img, w, h, (w - s.crop) / 2, (h - s.crop) / 2, s.crop, s.crop, s.antialias), s);
}

/// The preprocessing `d.input.preprocess` records, for its 3 x N x N input. Resampling is
/// PIL-style (antialias), as qint8-preprocess's presets. Fails (errc::unsupported) for an input
/// that is not 3 x N x N, and (errc::invalid_argument) when the manifest says the preprocessing is
/// unknown: give a preprocess_spec of your own then. `origin` names the model in messages.
inline preprocess_spec preprocess_spec_of(const model_desc& d, const std::string& origin = "model") {
    const auto& shape = d.input.shape;
    if (shape.size() != 3 || shape[0] != 3 || shape[1] != shape[2] || shape[1] > 65536)
        fail(errc::unsupported, origin + ": input: expected a 3 x N x N image input (RGB, square), found " + detail::shape_str(shape));
    const preprocess_desc& pp = d.input.preprocess;
    if (!pp.known)
        fail(errc::invalid_argument, origin + ": input.preprocess: expected the model's mean, std and resizing, found \"known\": false "
                                              "(record them with qint8-convert --mean ... --std ..., or pass a preprocess_spec)");
    preprocess_spec s;
    s.crop = static_cast<int>(shape[1]);
    s.resize_short = static_cast<int>(pp.resize_short);
    s.crop_fraction = pp.crop_fraction;
    s.antialias = true;
    s.bgr = pp.color_order == "bgr";
    for (std::size_t c = 0; c < 3; ++c) {
        s.mean[c] = pp.mean.at(c);
        s.std[c] = pp.std.at(c);
    }
    return s;
}

/// The model's input for `img`, prepared as its manifest says (preprocess_spec_of).
inline std::vector<float> preprocess(const image_view& img, const model_desc& d) { return preprocess(img, preprocess_spec_of(d)); }

}  // namespace qint8
