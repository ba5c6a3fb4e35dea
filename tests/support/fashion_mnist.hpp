#pragma once
// Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files, gzip or plain), prepared as the
// project's training recipe prepares it (models/fashion_mnist/data.py): 28x28 zero-padded to
// 32x32, (pixel/255 - 0.2860)/0.3530, grey replicated to 3 channels, NCHW. The files are read by
// the tools' IDX reader (tools/common/idx.hpp).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "common/idx.hpp"

namespace qint8::test {

struct fashion_mnist {
    std::vector<float> images;  ///< n x 3 x 32 x 32
    std::vector<int64_t> labels;
    std::size_t n = 0;
    static constexpr std::size_t image_floats = 3 * 32 * 32;
};

inline std::string fashion_mnist_dir() {
    const char* e = std::getenv("QINT8_FASHION_MNIST_DIR");
    return e && *e ? e : "/usr/share/datasets/fashion-mnist";
}

/// Raw 28x28 u8 images -> the network input (n x 3 x 32 x 32), as data.py prepares it.
inline std::vector<float> prepare_fashion_mnist(const uint8_t* raw, std::size_t n) {
    std::vector<float> images(n * fashion_mnist::image_floats, 0.f);
    const float zero = (0.f - 0.2860f) / 0.3530f;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t y = 0; y < 32; ++y)
                for (std::size_t x = 0; x < 32; ++x) {
                    const bool in = y >= 2 && y < 30 && x >= 2 && x < 30;
                    const float p = in ? raw[(i * 28 + (y - 2)) * 28 + (x - 2)] / 255.f : 0.f;
                    images[((i * 3 + c) * 32 + y) * 32 + x] = in ? (p - 0.2860f) / 0.3530f : zero;
                }
    return images;
}

/// Reads the first `limit` images of "train" or "t10k"; empty result if the files are absent.
inline fashion_mnist load_fashion_mnist(const std::string& split, std::size_t limit) {
    auto read = [](const std::string& base, std::vector<uint8_t>& out, std::vector<uint32_t>& dims) {
        struct stat st {};
        const std::string path = ::stat(base.c_str(), &st) == 0 ? base : base + ".gz";
        if (::stat(path.c_str(), &st) != 0) return false;
        out = tools::read_idx(path, dims);  // a damaged file is an error, not an absent data set
        return !dims.empty();
    };
    fashion_mnist r;
    std::vector<uint8_t> img, lab;
    std::vector<uint32_t> di, dl;
    const std::string dir = fashion_mnist_dir() + "/" + split;
    if (!read(dir + "-images-idx3-ubyte", img, di) || !read(dir + "-labels-idx1-ubyte", lab, dl)) return r;
    r.n = std::min<std::size_t>(limit, di[0]);
    r.images = prepare_fashion_mnist(img.data(), r.n);
    r.labels.assign(lab.begin(), lab.begin() + static_cast<std::ptrdiff_t>(r.n));
    return r;
}

}  // namespace qint8::test
