// libFuzzer target: qint8-preprocess's image path - decode (stb_image: JPEG, PNG, BMP, GIF, TGA,
// PNM ...), then both preprocessing recipes (resize + centre crop; crop fraction + resize).

#include "common/image.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = qint8::fuzz::write_file("image", data, size);
    try {
        const qint8::tools::rgb_image img = qint8::tools::load_rgb(path);
        // A few hundred bytes of JPEG may declare up to the 2^26 pixels load_rgb accepts, and
        // resampling those takes tens of seconds under ASan: the decoder is what is fuzzed here,
        // so larger images stop after decoding (resampling cost is linear in the pixel count).
        if (static_cast<int64_t>(img.w) * img.h > (int64_t{1} << 20)) return 0;
        qint8::tools::preprocess_spec s;
        s.resize_short = 20;
        s.crop = 16;
        (void)qint8::tools::preprocess(img, s);
        s.crop_fraction = 0.875;
        s.antialias = false;
        (void)qint8::tools::preprocess(img, s);
    } catch (const qint8::error&) {
    }
    return 0;
}
