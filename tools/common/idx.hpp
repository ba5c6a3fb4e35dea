#pragma once
// The IDX reader (MNIST, Fashion-MNIST): qint8-preprocess and the test suite's Fashion-MNIST loader
// both read the dataset through it.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <zlib.h>

#include <qint8/core/error.hpp>

namespace qint8::tools {

/// Reads an MNIST-style IDX file (optionally gzip-compressed): big-endian magic, dims, then u8 data.
inline std::vector<uint8_t> read_idx(const std::string& path, std::vector<uint32_t>& dims) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) qint8::fail(errc::io, path + ": cannot open");
    auto be32 = [&](const char* what) {
        unsigned char b[4];
        if (gzread(f, b, 4) != 4) { gzclose(f); qint8::fail(errc::data, path + ": truncated IDX header (" + what + ")"); }
        return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    };
    const uint32_t magic = be32("magic");
    if ((magic >> 8) != 0x08 || (magic & 0xff) == 0 || (magic & 0xff) > 4) {
        gzclose(f);
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%08x", static_cast<unsigned>(magic));
        qint8::fail(errc::data, path + ": not an unsigned-byte IDX file: expected magic 0x000008NN (NN = 1..4 dimensions), found " + hex);
    }
    std::size_t n = 1;
    dims.clear();
    for (uint32_t i = 0; i < (magic & 0xff); ++i) {
        dims.push_back(be32("dimension"));
        n *= dims.back();
        if (n > (std::size_t{1} << 34)) { gzclose(f); qint8::fail(errc::data, path + ": dimensions too large"); }
    }
    std::vector<uint8_t> data(n);
    std::size_t got = 0;
    while (got < n) {
        const int chunk = static_cast<int>(std::min<std::size_t>(n - got, 1 << 30));
        const int r = gzread(f, data.data() + got, static_cast<unsigned>(chunk));
        if (r <= 0) break;
        got += static_cast<std::size_t>(r);
    }
    gzclose(f);
    if (got != n) qint8::fail(errc::data, path + ": truncated: expected " + std::to_string(n) + " data bytes, found " + std::to_string(got));
    return data;
}

}  // namespace qint8::tools
