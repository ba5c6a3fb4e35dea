#pragma once
// The labelled-image binary file of the Paddle inference tester, which qint8-preprocess writes
// and qint8-eval reads: int64 N, then N images as float32 CHW, then N int64 labels; all
// little-endian, no padding. The image size is not stored: it comes from the model.

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <qint8/core/error.hpp>
#include <qint8/io/atomic_file.hpp>

#include "file_kind.hpp"

namespace qint8::tools {

/// Streams a data file to `path` through an unnamed temporary (qint8/io/atomic_file.hpp):
/// nothing appears at `path` unless finish() succeeds, so a failed, interrupted or killed run
/// leaves no half-written file and no temporary.
class dataset_writer {
public:
    dataset_writer(std::string path, std::size_t image_floats) : path_(std::move(path)), file_(path_), image_floats_(image_floats) {
        const int64_t zero = 0;  // the count, filled in by finish()
        file_.write(&zero, sizeof zero);
    }

    void add(const std::vector<float>& chw, int64_t label) {
        if (chw.size() != image_floats_) qint8::fail(errc::data, path_ + ": image of " + std::to_string(chw.size()) + " floats, expected " + std::to_string(image_floats_));
        file_.write(chw.data(), chw.size() * sizeof(float));
        labels_.push_back(label);
    }
    std::size_t count() const { return labels_.size(); }

    void finish() {
        file_.write(labels_.data(), labels_.size() * sizeof(int64_t));
        const int64_t n = static_cast<int64_t>(labels_.size());
        file_.write_at(&n, sizeof n, 0);
        file_.commit();
    }

private:
    std::string path_;
    qint8::io::atomic_file file_;
    std::size_t image_floats_;
    std::vector<int64_t> labels_;
};

/// Reads a data file whose images have `image_floats` floats each, checking the size first.
class dataset_reader {
public:
    dataset_reader(const std::string& path, std::size_t image_floats) : path_(path), image_floats_(image_floats) {
        f_.reset(std::fopen(path.c_str(), "rb"));
        if (!f_) qint8::fail(errc::io, path + ": cannot open for reading (" + std::strerror(errno) + ")");
        expect_data_file(path, "data file");  // an image or a model given by mistake
        struct stat st {};
        if (::fstat(::fileno(f_.get()), &st) != 0) qint8::fail(errc::io, path + ": cannot stat");
        if (!S_ISREG(st.st_mode)) qint8::fail(errc::io, path + ": not a regular file (a data file from qint8-preprocess expected)");
        const uint64_t size = static_cast<uint64_t>(st.st_size);
        int64_t n = -1;
        if (size < 8 || std::fread(&n, 8, 1, f_.get()) != 1)
            qint8::fail(errc::data, path + ": too short for a data file (needs an int64 image count first)");
        const uint64_t per = static_cast<uint64_t>(image_floats) * 4 + 8;
        if (n < 0 || static_cast<uint64_t>(n) > (size - 8) / per || 8 + static_cast<uint64_t>(n) * per != size) {
            std::string msg = path + ": size " + std::to_string(size) + " bytes does not match its header (N = " + std::to_string(n) +
                              ") and the model's input of " + std::to_string(image_floats) + " floats per image: expected 8 + N*(" +
                              std::to_string(image_floats) + "*4 + 8)";
            const double floats = n > 0 ? (static_cast<double>(size - 8) / static_cast<double>(n) - 8) / 4 : 0;
            if (floats >= 1)
                msg += "; the file holds about " + std::to_string(static_cast<long long>(floats)) + " floats per image";
            else
                msg += "; N cannot be right for a file of this size: not a data file from qint8-preprocess?";
            qint8::fail(errc::data, msg);
        }
        n_ = static_cast<std::size_t>(n);
        labels_.resize(n_);
        if (n_) {
            std::fseek(f_.get(), static_cast<long>(8 + n_ * image_floats * 4), SEEK_SET);
            if (std::fread(labels_.data(), 8, n_, f_.get()) != n_) qint8::fail(errc::io, path + ": cannot read the labels");
        }
    }
    dataset_reader(const dataset_reader&) = delete;
    dataset_reader& operator=(const dataset_reader&) = delete;

    std::size_t size() const { return n_; }
    int64_t label(std::size_t i) const { return labels_.at(i); }
    /// Reads images [first, first + count) into dst (count * image_floats floats).
    void read(std::size_t first, std::size_t count, float* dst) {
        if (first + count > n_) qint8::fail(errc::data, path_ + ": images " + std::to_string(first) + ".." + std::to_string(first + count) + " past N = " + std::to_string(n_));
        std::fseek(f_.get(), static_cast<long>(8 + first * image_floats_ * 4), SEEK_SET);
        if (std::fread(dst, 4, count * image_floats_, f_.get()) != count * image_floats_) qint8::fail(errc::io, path_ + ": read failed");
        check_finite(first, count, dst);
    }

private:
    /// NaN or an infinity in an image would flow through the model into a meaningless class
    /// (top-k of NaN scores) or a calibration range of infinity: refused, naming the image.
    void check_finite(std::size_t first, std::size_t count, const float* v) const {
        const std::size_t n = count * image_floats_;
        bool all = true;
        for (std::size_t i = 0; i < n; ++i) all &= std::isfinite(v[i]);  // branch-free: the common case is fast
        if (all) return;
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isfinite(v[i]))
                qint8::fail(errc::data, path_ + ": image " + std::to_string(first + i / image_floats_) + " (counting from 0), value " +
                                            std::to_string(i % image_floats_) + ": expected finite numbers, found " +
                                            (std::isnan(v[i]) ? "NaN" : v[i] > 0 ? "+infinity" : "-infinity"));
    }

    std::string path_;
    std::size_t image_floats_;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f_{nullptr, &std::fclose};  // closed on every exit, a throwing constructor too
    std::size_t n_ = 0;
    std::vector<int64_t> labels_;
};

}  // namespace qint8::tools
