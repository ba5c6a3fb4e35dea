#pragma once
// An independent, naive form of qint8/preprocess.hpp, written from its definition rather than
// from its code: the whole image is resampled (no window), every source pixel's weight comes
// straight from the triangle filter, and the crop is cut afterwards. Only the arithmetic the
// definition fixes is shared: weights rounded to float, then divided by their sum in double and
// rounded to float again; sums in float, in source order, rows first; nearest-even rounding.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <qint8/preprocess.hpp>

namespace qint8::test {

/// One axis: `in` pixels to `out`; each output pixel is the weighted sum of the source pixels
/// within the filter's support around its centre, (o + 0.5) * in / out.
inline std::vector<std::vector<float>> naive_weights(int in, int out, bool antialias) {
    const double scale = double(in) / out, support = antialias ? std::max(1.0, scale) : 1.0;
    std::vector<std::vector<float>> w(static_cast<std::size_t>(out), std::vector<float>(static_cast<std::size_t>(in), 0.f));
    for (int o = 0; o < out; ++o) {
        const double centre = (o + 0.5) * scale;
        double sum = 0;
        for (int i = 0; i < in; ++i) {
            const double t = std::max(0.0, 1.0 - std::fabs((i + 0.5 - centre) / support));
            w[size_t(o)][size_t(i)] = float(t);
            sum += t;
        }
        for (float& x : w[size_t(o)]) x = float(x / sum);
    }
    return w;
}

/// The whole image resampled to w x h: columns first into floats, then rows, rounded to 8 bits.
inline rgb_image naive_resize(const rgb_image& src, int w, int h, bool antialias) {
    const auto wx = naive_weights(src.w, w, antialias), wy = naive_weights(src.h, h, antialias);
    std::vector<float> tmp(size_t(src.h) * size_t(w) * 3);
    for (int y = 0; y < src.h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) {
                float acc = 0;
                for (int i = 0; i < src.w; ++i)
                    if (wx[size_t(x)][size_t(i)] != 0) acc += wx[size_t(x)][size_t(i)] * src.px[(size_t(y) * size_t(src.w) + size_t(i)) * 3 + size_t(c)];
                tmp[(size_t(y) * size_t(w) + size_t(x)) * 3 + size_t(c)] = acc;
            }
    rgb_image r{w, h, std::vector<uint8_t>(size_t(w) * size_t(h) * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c) {
                float acc = 0;
                for (int i = 0; i < src.h; ++i)
                    if (wy[size_t(y)][size_t(i)] != 0) acc += wy[size_t(y)][size_t(i)] * tmp[(size_t(i) * size_t(w) + size_t(x)) * 3 + size_t(c)];
                const float v = std::nearbyint(acc);
                r.px[(size_t(y) * size_t(w) + size_t(x)) * 3 + size_t(c)] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return r;
}

inline rgb_image naive_crop(const rgb_image& src, int x0, int y0, int w, int h) {
    rgb_image r{w, h, {}};
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x)
            for (int c = 0; c < 3; ++c) r.px.push_back(src.px[(size_t(y) * size_t(src.w) + size_t(x)) * 3 + size_t(c)]);
    return r;
}

/// The recipe of preprocess_spec: TF style (crop a fraction, resize), torchvision style (resize
/// the short side, at least to the crop, then crop the centre) or a plain resize; then
/// (p / 255 - mean) / std per output channel, channel c read from 2 - c for BGR.
inline std::vector<float> naive_preprocess(const rgb_image& img, const preprocess_spec& s) {
    rgb_image x;
    const int short_side = std::min(img.w, img.h);
    if (s.crop_fraction > 0) {
        const int side = std::max(1, int(std::lround(s.crop_fraction * short_side)));
        x = naive_resize(naive_crop(img, (img.w - side) / 2, (img.h - side) / 2, side, side), s.crop, s.crop, s.antialias);
    } else if (s.resize_short == 0) {
        x = naive_resize(img, s.crop, s.crop, s.antialias);
    } else {
        const double k = double(std::max(s.resize_short, s.crop)) / short_side;
        const int w = std::max(s.crop, int(std::lround(img.w * k))), h = std::max(s.crop, int(std::lround(img.h * k)));
        x = naive_crop(naive_resize(img, w, h, s.antialias), (w - s.crop) / 2, (h - s.crop) / 2, s.crop, s.crop);
    }
    const size_t plane = size_t(s.crop) * size_t(s.crop);
    std::vector<float> chw(plane * 3);
    for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < plane; ++i)
            chw[size_t(c) * plane + i] = (float(x.px[i * 3 + size_t(s.bgr ? 2 - c : c)]) / 255.f - s.mean[c]) / s.std[c];
    return chw;
}

}  // namespace qint8::test
