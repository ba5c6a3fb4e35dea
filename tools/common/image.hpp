#pragma once
// The tools' names for the library's image decoding (qint8/image_file.hpp, stb_image) and
// preprocessing (qint8/preprocess.hpp): one implementation, so qint8-preprocess, classify and an
// application embedding qint8 produce the same floats.

#include <string>

#include <qint8/image_file.hpp>
#include <qint8/preprocess.hpp>

namespace qint8::tools {

using qint8::crop;
using qint8::image_view;
using qint8::max_image_pixels;
using qint8::preprocess;
using qint8::preprocess_spec;
using qint8::resize;
using qint8::resize_window;
using qint8::rgb_image;

/// Decodes an image file to RGB (qint8::read_image).
inline rgb_image load_rgb(const std::string& path) { return qint8::read_image(path); }

}  // namespace qint8::tools
