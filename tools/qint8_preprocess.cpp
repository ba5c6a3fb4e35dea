// qint8-preprocess: a labelled image set -> the Paddle tester's binary data file.
//   qint8-preprocess --data-dir DIR --label-list DIR/val_list.txt --output data.bin [--preset torchvision|inception]
//   qint8-preprocess --idx-images t10k-images-idx3-ubyte.gz --idx-labels t10k-labels-idx1-ubyte.gz --output fmnist.bin

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <zlib.h>

#include "common/cli.hpp"
#include "common/dataset.hpp"
#include "common/image.hpp"
#include "common/progress.hpp"

using namespace qint8;
using namespace qint8::tools;

namespace {

/// MNIST-style IDX file (optionally gzip-compressed): big-endian magic, dims, then u8 data.
std::vector<uint8_t> read_idx(const std::string& path, std::vector<uint32_t>& dims) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) detail::fail(errc::io, path + ": cannot open");
    auto be32 = [&](const char* what) {
        unsigned char b[4];
        if (gzread(f, b, 4) != 4) { gzclose(f); detail::fail(errc::invalid_argument, path + ": truncated IDX header (" + what + ")"); }
        return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
    };
    const uint32_t magic = be32("magic");
    if ((magic >> 8) != 0x08 || (magic & 0xff) == 0 || (magic & 0xff) > 4) {
        gzclose(f);
        detail::fail(errc::invalid_argument, path + ": not an unsigned-byte IDX file (magic 0x" + std::to_string(magic) + ")");
    }
    std::size_t n = 1;
    dims.clear();
    for (uint32_t i = 0; i < (magic & 0xff); ++i) {
        dims.push_back(be32("dimension"));
        n *= dims.back();
        if (n > (std::size_t{1} << 34)) { gzclose(f); detail::fail(errc::invalid_argument, path + ": dimensions too large"); }
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
    if (got != n) detail::fail(errc::invalid_argument, path + ": truncated: expected " + std::to_string(n) + " data bytes, found " + std::to_string(got));
    return data;
}

}  // namespace

int main(int argc, char** argv) {
    cli c("qint8-preprocess",
          "Decodes, resizes, crops and normalises a labelled image set into the binary data file of the Paddle\n"
          "inference tester (int64 N, N float32 CHW images, N int64 labels), for qint8-eval and calibration.\n"
          "Images: --data-dir + --label-list (lines \"relative/path.jpg LABEL\"), JPEG/PNG/BMP/GIF/TGA/PNM;\n"
          "or an IDX pair (MNIST / Fashion-MNIST, gzip or plain) with --idx-images + --idx-labels.");
    c.option("data-dir", "", "directory the label list's paths are relative to", {"data_dir"})
        .option("label-list", "", "list file: one \"relative/path LABEL\" per line", {"label_list"})
        .option("idx-images", "", "IDX image file (N x H x W u8), instead of --data-dir")
        .option("idx-labels", "", "IDX label file (N u8)")
        .option("output", "", "data file to write (written atomically)", {"output_file"})
        .option("preset", "", "torchvision (resize-short 256, crop 224, ImageNet mean/std) or inception (crop-fraction 0.875, mean 0.5, std 0.5)")
        .option("resize-short", "256", "resize the short side to this, then centre-crop (torchvision style)")
        .option("crop-fraction", "0", "> 0: centre-crop this fraction of the short side, then resize to --crop (TF style)")
        .option("crop", "224", "output height and width", {"data_dim"})
        .option("mean", "0.485,0.456,0.406", "per-channel mean of pixel/255")
        .option("std", "0.229,0.224,0.225", "per-channel standard deviation of pixel/255")
        .option("pad", "0", "IDX only: zero pixels added on each side before normalising (28 + 2*2 = 32)")
        .option("limit", "0", "stop after this many images (0: all)")
        .option("resize", "", "antialias (PIL/torchvision-style bilinear, the default) or bilinear (plain 2-tap, as tf.image.resize_bilinear)")
        .flag("bgr", "write channels in BGR order")
        .flag("skip-bad", "skip (and count) images that cannot be read instead of stopping");
    try {
        c.parse(argc, argv);
        if (c.str("output").empty()) throw std::invalid_argument("--output is required (see --help)");
        preprocess_spec s;
        if (c.given("preset")) {
            if (c.str("preset") == "inception") {
                s.crop_fraction = 0.875;
                // Bilinear with the filter widened when shrinking (PIL's BILINEAR): with it, the
                // FP32 top-1 of the TFLite MobileNets on ../shared/data's samples matches the
                // published reference within 0.3 pt; plain 2-tap bilinear is 1-4 pt off on the
                // small models. --resize bilinear selects the plain one.
                s.antialias = true;
                for (int i = 0; i < 3; ++i) s.mean[i] = s.std[i] = 0.5f;
            } else if (c.str("preset") != "torchvision") {
                throw std::invalid_argument("--preset: expected torchvision or inception, found \"" + c.str("preset") + "\"");
            }
        }
        if (c.given("resize-short")) s.resize_short = static_cast<int>(c.integer("resize-short", 1, 65536));
        if (c.given("crop-fraction")) s.crop_fraction = c.number("crop-fraction");
        if (!(s.crop_fraction >= 0 && s.crop_fraction <= 1)) throw std::invalid_argument("--crop-fraction: expected 0..1");
        s.crop = static_cast<int>(c.integer("crop", 1, 65536));
        if (s.crop_fraction == 0 && s.resize_short < s.crop) throw std::invalid_argument("--resize-short must be at least --crop");
        if (c.given("mean")) { auto m = c.floats("mean", 3); std::copy(m.begin(), m.end(), s.mean); }
        if (c.given("std")) {
            auto d = c.floats("std", 3);
            for (float v : d) if (!(v > 0)) throw std::invalid_argument("--std: values must be positive");
            std::copy(d.begin(), d.end(), s.std);
        }
        s.bgr = c.on("bgr");
        if (c.given("resize")) {
            if (c.str("resize") != "bilinear" && c.str("resize") != "antialias")
                throw std::invalid_argument("--resize: expected bilinear or antialias, found \"" + c.str("resize") + "\"");
            s.antialias = c.str("resize") == "antialias";
        }
        const std::size_t limit = static_cast<std::size_t>(c.integer("limit", 0, 1LL << 40));

        if (!c.str("idx-images").empty()) {
            if (c.str("idx-labels").empty()) throw std::invalid_argument("--idx-images needs --idx-labels");
            std::vector<uint32_t> di, dl;
            const std::vector<uint8_t> img = read_idx(c.str("idx-images"), di);
            const std::vector<uint8_t> lab = read_idx(c.str("idx-labels"), dl);
            if (di.size() != 3 || dl.size() != 1 || di[0] != dl[0])
                detail::fail(errc::invalid_argument, c.str("idx-images") + ": expected N x H x W images and N labels, found " +
                                                         std::to_string(di.size()) + "-d images and " + std::to_string(dl.size()) + "-d labels of different counts");
            const int pad = static_cast<int>(c.integer("pad", 0, 1024));
            const std::size_t n = limit ? std::min<std::size_t>(limit, di[0]) : di[0];
            const std::size_t H = di[1], W = di[2], OH = H + 2 * static_cast<std::size_t>(pad), OW = W + 2 * static_cast<std::size_t>(pad);
            dataset_writer out(c.str("output"), 3 * OH * OW);
            progress bar("preprocessing", n);
            std::vector<float> chw(3 * OH * OW);
            for (std::size_t i = 0; i < n; ++i) {
                for (int ch = 0; ch < 3; ++ch)
                    for (std::size_t y = 0; y < OH; ++y)
                        for (std::size_t x = 0; x < OW; ++x) {
                            const bool inside = y >= size_t(pad) && y < H + size_t(pad) && x >= size_t(pad) && x < W + size_t(pad);
                            const float p = inside ? float(img[(i * H + (y - size_t(pad))) * W + (x - size_t(pad))]) : 0.f;
                            chw[(size_t(ch) * OH + y) * OW + x] = (p / 255.f - s.mean[ch]) / s.std[ch];
                        }
                out.add(chw, lab[i]);
                bar.tick();
            }
            out.finish();
            bar.done();
            std::fprintf(stderr, "wrote %s: %zu images of 3x%zux%zu\n", c.str("output").c_str(), out.count(), OH, OW);
            return 0;
        }

        if (c.str("label-list").empty()) throw std::invalid_argument("give --data-dir and --label-list, or --idx-images and --idx-labels (see --help)");
        std::ifstream list(c.str("label-list"));
        if (!list) detail::fail(errc::io, c.str("label-list") + ": cannot open");
        std::vector<std::pair<std::string, int64_t>> items;
        std::string line;
        std::size_t lineno = 0;
        while (std::getline(list, line)) {
            ++lineno;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t") == std::string::npos) continue;
            std::stringstream ls(line);
            std::string rel;
            long long label = -1;
            std::string extra;
            if (!(ls >> rel >> label) || (ls >> extra) || label < 0)
                detail::fail(errc::invalid_argument, c.str("label-list") + ":" + std::to_string(lineno) + ": expected \"relative/path LABEL\" with a label >= 0, found \"" + line + "\"");
            items.emplace_back(rel, label);
            if (limit && items.size() == limit) break;
        }
        if (items.empty()) detail::fail(errc::invalid_argument, c.str("label-list") + ": no images listed");
        std::string dir = c.str("data-dir");
        if (!dir.empty() && dir.back() != '/') dir += '/';
        dataset_writer out(c.str("output"), 3 * static_cast<std::size_t>(s.crop) * static_cast<std::size_t>(s.crop));
        progress bar("preprocessing", items.size());
        std::size_t bad = 0;
        for (const auto& [rel, label] : items) {
            try {
                out.add(preprocess(load_rgb(dir + rel), s), label);
            } catch (const qint8::error& e) {
                if (!c.on("skip-bad")) throw;
                ++bad;
                bar.note(std::string("skipped: ") + e.what());
            }
            bar.tick();
        }
        if (out.count() == 0) detail::fail(errc::invalid_argument, "no image could be read (" + std::to_string(bad) + " skipped)");
        out.finish();
        bar.done();
        std::fprintf(stderr, "wrote %s: %zu images of 3x%dx%d%s\n", c.str("output").c_str(), out.count(), s.crop, s.crop,
                     bad ? (", " + std::to_string(bad) + " unreadable images skipped").c_str() : "");
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "qint8-preprocess: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qint8-preprocess: %s\n", e.what());
        return 1;
    }
    return 0;
}
