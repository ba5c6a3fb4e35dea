#pragma once
// One input of the image target (fuzz_image.cpp; also tests/fuzz/test_fuzz_corpora.cpp):
// qint8-preprocess's image path - decode (stb_image: JPEG, PNG, BMP, GIF, TGA, PNM ...), then both
// preprocessing recipes (resize + centre crop; crop fraction + resize).

#include <climits>
#include <cstdint>

#include "common/image.hpp"
#include "fuzz_common.hpp"

namespace qint8::fuzz {

inline void image_input(const uint8_t* data, size_t size) {
    // A few hundred bytes of JPEG may declare up to the 2^26 pixels load_rgb accepts. Decoding
    // 36 MP took 4 s of CPU under ASan (over the 20 s timeout on a loaded machine), resampling
    // them tens of seconds: work linear in the pixel count, not a defect. The header parser still
    // runs on every input (stbi_info, as load_rgb's own first step); images over 2^22 pixels stop
    // there, and those up to 2^20 pixels are also resampled.
    int w = 0, h = 0, c = 0;
    if (size <= static_cast<size_t>(INT32_MAX) && stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c) &&
        static_cast<int64_t>(w) * h > (int64_t{1} << 22))
        return;
    const std::string path = write_file("image", data, size);
    try {
        const qint8::tools::rgb_image img = qint8::tools::load_rgb(path);
        if (static_cast<int64_t>(img.w) * img.h > (int64_t{1} << 20)) return;
        qint8::tools::preprocess_spec s;
        s.resize_short = 20;
        s.crop = 16;
        (void)qint8::tools::preprocess(img, s);
        s.crop_fraction = 0.875;
        s.antialias = false;
        (void)qint8::tools::preprocess(img, s);
    } catch (const qint8::error&) {
    }
}

}  // namespace qint8::fuzz
