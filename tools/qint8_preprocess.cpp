// qint8-preprocess: a labelled image set -> the Paddle tester's binary data file.
//   qint8-preprocess --data-dir DIR --label-list DIR/val_list.txt --output data.bin [--preset torchvision|inception]
//   qint8-preprocess --idx-images t10k-images-idx3-ubyte.gz --idx-labels t10k-labels-idx1-ubyte.gz --output fmnist.bin

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>


#include "common/app.hpp"
#include "common/dataset.hpp"
#include "common/file_kind.hpp"
#include "common/idx.hpp"
#include "common/image.hpp"
#include "common/progress.hpp"

using namespace qint8;
using namespace qint8::tools;

namespace {

/// One number for all three channels, or three comma-separated numbers (--mean, --std), as the
/// other tools take them.
std::vector<float> parse_floats(const std::string& option, const std::string& text) {
    std::vector<float> r;
    std::stringstream ss(text);
    bool ok = true;
    for (std::string item; std::getline(ss, item, ',');) {
        char* end = nullptr;
        const float x = std::strtof(item.c_str(), &end);
        ok = ok && !item.empty() && !*end && std::isfinite(x);
        r.push_back(x);
    }
    const std::size_t commas = static_cast<std::size_t>(std::count(text.begin(), text.end(), ','));
    if (!ok || !((r.size() == 1 && commas == 0) || (r.size() == 3 && commas == 2)))
        throw usage_error(option + ": expected one number or three comma-separated numbers, found \"" + text + "\"");
    if (r.size() == 1) r.assign(3, r[0]);
    return r;
}


struct prep_args {
    std::string data_dir, label_list, idx_images, idx_labels, output, preset, resize, mean, std;
    int resize_short = 256, crop = 224, pad = 0;
    double crop_fraction = 0;
    long long skip = 0, limit = 0;
    bool bgr = false, skip_bad = false, quiet = false;
};

/// The options given that do not apply to this kind of input: silently ignoring them would
/// write a different data file than the user asked for.
void reject_inapplicable(const CLI::App& app, bool idx) {
    const std::vector<const char*> idx_only = {"--pad", "--idx-labels"};
    const std::vector<const char*> images_only = {"--data-dir", "--label-list", "--preset", "--resize-short", "--crop-fraction", "--crop", "--resize", "--skip-bad"};
    for (const char* o : idx ? images_only : idx_only)
        if (app.count(o))
            throw usage_error(std::string(o) + " does not apply to " + (idx ? "IDX input (--idx-images): its images keep their size; use --pad"
                                                                           : "image files (--data-dir/--label-list): only to IDX input"));
}

preprocess_spec spec_of(const CLI::App& app, const prep_args& a) {
    preprocess_spec s;
    if (a.preset == "inception") {
        // Bilinear with the filter widened when shrinking (PIL's BILINEAR): with it, the FP32
        // top-1 of the TFLite MobileNets on ../shared/data's samples matches the published
        // reference within 0.3 pt; plain 2-tap bilinear is 1-4 pt off on the small models.
        s.crop_fraction = 0.875;
        s.antialias = true;
        for (int i = 0; i < 3; ++i) s.mean[i] = s.std[i] = 0.5f;
    }
    if (app.count("--resize-short")) s.resize_short = a.resize_short;
    if (app.count("--crop-fraction")) s.crop_fraction = a.crop_fraction;
    s.crop = a.crop;
    if (s.crop_fraction == 0 && s.resize_short != 0 && s.resize_short < s.crop)
        throw usage_error("--resize-short " + std::to_string(s.resize_short) + " must be at least --crop " + std::to_string(s.crop));
    if (app.count("--mean")) { const auto m = parse_floats("--mean", a.mean); std::copy(m.begin(), m.end(), s.mean); }
    if (app.count("--std")) {
        const auto d = parse_floats("--std", a.std);
        for (float v : d) if (!(v > 0)) throw usage_error("--std: expected positive numbers, found \"" + a.std + "\"");
        std::copy(d.begin(), d.end(), s.std);
    }
    s.bgr = a.bgr;
    if (!a.resize.empty()) s.antialias = a.resize == "antialias";
    return s;
}

/// Items [skip, skip + limit) of n (limit 0: to the end); fails when skip leaves nothing.
std::pair<std::size_t, std::size_t> slice(const prep_args& a, std::size_t n, const std::string& source) {
    const std::size_t skip = static_cast<std::size_t>(a.skip);
    if (skip >= n) throw usage_error("--skip " + std::to_string(skip) + ": " + source + " has only " + count_of(n, "image"));
    const std::size_t count = a.limit ? std::min<std::size_t>(static_cast<std::size_t>(a.limit), n - skip) : n - skip;
    return {skip, count};
}

void from_idx(const prep_args& a, const preprocess_spec& s) {
    std::vector<uint32_t> di, dl;
    const std::vector<uint8_t> img = read_idx(a.idx_images, di);
    const std::vector<uint8_t> lab = read_idx(a.idx_labels, dl);
    if (di.size() != 3 || dl.size() != 1 || di[0] != dl[0])
        qint8::fail(errc::data, a.idx_images + ": expected N x H x W images and N labels, found " + std::to_string(di.size()) +
                                                 "-d images and " + std::to_string(dl.size()) + "-d labels of different counts");
    const auto [first, n] = slice(a, di[0], a.idx_images);
    const std::size_t pad = static_cast<std::size_t>(a.pad), H = di[1], W = di[2], OH = H + 2 * pad, OW = W + 2 * pad;
    dataset_writer out(a.output, 3 * OH * OW);
    progress bar("preprocessing images", n, a.quiet);
    std::vector<float> chw(3 * OH * OW);
    for (std::size_t i = first; i < first + n; ++i) {
        for (int ch = 0; ch < 3; ++ch)
            for (std::size_t y = 0; y < OH; ++y)
                for (std::size_t x = 0; x < OW; ++x) {
                    const bool inside = y >= pad && y < H + pad && x >= pad && x < W + pad;
                    const float p = inside ? float(img[(i * H + (y - pad)) * W + (x - pad)]) : 0.f;
                    chw[(size_t(ch) * OH + y) * OW + x] = (p / 255.f - s.mean[ch]) / s.std[ch];
                }
        out.add(chw, lab[i]);
        bar.tick();
    }
    out.finish();
    bar.done();
    if (!a.quiet) std::fprintf(stderr, "wrote %s: %s of 3x%zux%zu\n", a.output.c_str(), count_of(out.count(), "image").c_str(), OH, OW);
}

/// One listed image: its path as written, its label and the list's line (for messages).
struct list_item {
    std::string path;
    int64_t label = 0;
    std::size_t line = 0;
};

/// "relative/path LABEL" lines. The label is the last word, so a path may hold spaces
/// ("n01440764/a photo.jpg 0"); a line whose last word is not a label says so.
std::vector<list_item> read_list(const std::string& path) {
    expect_regular_file(path, "--label-list");
    std::ifstream list(path);
    if (!list) qint8::fail(errc::io, path + ": --label-list: cannot open");
    std::vector<list_item> items;
    std::string line;
    std::size_t lineno = 0;
    while (std::getline(list, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::size_t last = line.find_last_not_of(" \t");
        if (last == std::string::npos) continue;
        const std::size_t gap = line.find_last_of(" \t", last);
        const std::size_t first = line.find_first_not_of(" \t");
        const std::string word = gap == std::string::npos ? "" : line.substr(gap + 1, last - gap);
        char* end = nullptr;
        const long long label = word.empty() ? -1 : std::strtoll(word.c_str(), &end, 10);
        if (word.empty() || *end || label < 0 || gap < first)
            qint8::fail(errc::data, path + ":" + std::to_string(lineno) + ": expected \"relative/path LABEL\" with a label >= 0 as the last word, found \"" +
                                        line + "\"");
        const std::size_t path_end = line.find_last_not_of(" \t", gap);
        items.push_back({line.substr(first, path_end - first + 1), label, lineno});
    }
    if (items.empty()) qint8::fail(errc::data, path + ": --label-list: expected lines \"relative/path LABEL\", found no images listed");
    return items;
}

/// Where a listed image is: under --data-dir when given, else beside the list (where val_list.txt
/// files live). For command lines written when the current directory was the default, a path
/// found only there is still taken from there, with a note.
std::string image_path(const prep_args& a, const list_item& it, bool& noted) {
    namespace fs = std::filesystem;
    if (fs::path(it.path).is_absolute()) return it.path;
    if (!a.data_dir.empty()) return (fs::path(a.data_dir) / it.path).string();
    const fs::path beside = fs::path(a.label_list).parent_path() / it.path;
    std::error_code ec;
    if (fs::exists(beside, ec) || !fs::exists(it.path, ec)) return beside.string();
    if (!noted && !a.quiet)
        std::fprintf(stderr, "qint8-preprocess: note: %s is not beside %s; taking it from the current directory (give --data-dir to say which)\n",
                     it.path.c_str(), a.label_list.c_str());
    noted = true;
    return it.path;
}

/// The decoded image, or an error that names the list line when the file is missing.
rgb_image load_listed(const std::string& file, const prep_args& a, const list_item& it) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
        qint8::fail(errc::io, file + ": no such image (" + a.label_list + ":" + std::to_string(it.line) + " lists \"" + it.path + "\"" +
                                  (a.data_dir.empty() ? ", relative to the list's directory; give --data-dir if they are elsewhere)" : ", under --data-dir)"));
    return load_rgb(file);
}

void from_list(const prep_args& a, const preprocess_spec& s) {
    const auto items = read_list(a.label_list);
    const auto [first, n] = slice(a, items.size(), a.label_list);
    bool noted = false;
    dataset_writer out(a.output, 3 * static_cast<std::size_t>(s.crop) * static_cast<std::size_t>(s.crop));
    progress bar("preprocessing images", n, a.quiet);
    std::size_t bad = 0;
    for (std::size_t i = first; i < first + n; ++i) {
        try {
            out.add(preprocess(load_listed(image_path(a, items[i], noted), a, items[i]), s), items[i].label);
        } catch (const qint8::error& e) {
            if (!a.skip_bad) throw;
            ++bad;
            bar.note(std::string("skipped: ") + e.what());
        }
        bar.tick();
    }
    if (out.count() == 0) qint8::fail(errc::data, a.label_list + ": no image could be read (" + std::to_string(bad) + " skipped)");
    out.finish();
    bar.done();
    if (!a.quiet)
        std::fprintf(stderr, "wrote %s: %s of 3x%dx%d%s\n", a.output.c_str(), count_of(out.count(), "image").c_str(), s.crop, s.crop,
                     bad ? (", " + count_of(bad, "unreadable image") + " skipped").c_str() : "");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Decodes, resizes, crops and normalises a labelled image set into the binary data file of the Paddle\n"
                 "inference tester (int64 N, N float32 CHW images, N int64 labels), for qint8-eval and calibration.\n"
                 "Images: --data-dir + --label-list (lines \"relative/path.jpg LABEL\"), JPEG/PNG/BMP/GIF/TGA/PNM;\n"
                 "or an IDX pair (MNIST / Fashion-MNIST, gzip or plain) with --idx-images + --idx-labels.\n"
                 "--skip and --limit take a slice of the list (e.g. calibration images apart from test images).",
                 "qint8-preprocess");
    conventions(app, "qint8-preprocess --data-dir imgs --label-list imgs/val_list.txt --preset inception --crop 224 --skip 500 --output calib_224.bin");
    prep_args a;
    auto* dd = app.add_option("--data-dir,--data_dir", a.data_dir, "directory the label list's paths are relative to (default: the list's own directory)");
    auto* ll = app.add_option("--label-list,--label_list", a.label_list, "list file: one \"relative/path LABEL\" per line (the label is the last word: paths may hold spaces)");
    auto* ii = app.add_option("--idx-images", a.idx_images, "IDX image file (N x H x W u8), instead of --data-dir");
    auto* il = app.add_option("--idx-labels", a.idx_labels, "IDX label file (N u8)");
    ll->excludes(ii);
    ii->needs(il);
    il->needs(ii);
    dd->needs(ll);
    app.add_option("--output,--output_file", a.output, "data file to write (atomically; its directory is created)")->required();
    app.add_option("--preset", a.preset, "torchvision (resize-short 256, crop 224, ImageNet mean/std) or inception (crop-fraction 0.875, mean 0.5, std 0.5)")
        ->check(one_of({"torchvision", "inception"}));
    app.add_option("--resize-short", a.resize_short, "resize the short side to this, then centre-crop (torchvision style); 0: resize the whole image to --crop")->check(in_range(0, 65536));
    app.add_option("--crop-fraction", a.crop_fraction, "> 0: centre-crop this fraction of the short side, then resize to --crop (TF style)")
        ->check(in_range(0.0, 1.0));
    app.add_option("--crop,--data_dim", a.crop, "output height and width")->check(in_range(1, 65536));
    app.add_option("--mean", a.mean, "mean of pixel/255: one number for all channels, or three (default 0.485,0.456,0.406)");
    app.add_option("--std", a.std, "standard deviation of pixel/255: one number for all channels, or three (default 0.229,0.224,0.225)");
    app.add_option("--pad", a.pad, "IDX only: zero pixels added on each side before normalising (28 + 2*2 = 32)")->check(in_range(0, 1024));
    app.add_option("--skip", a.skip, "leave out the first N images of the list or IDX file")->check(at_least(0LL));
    app.add_option("--limit", a.limit, "then take at most N images (0: all the rest)")->check(at_least(0LL));
    app.add_option("--resize", a.resize, "antialias (PIL/torchvision-style bilinear, the default) or bilinear (plain 2-tap, as tf.image.resize_bilinear)")
        ->check(one_of({"antialias", "bilinear"}));
    app.add_flag("--bgr", a.bgr, "write channels in BGR order");
    app.add_flag("--skip-bad", a.skip_bad, "skip (and count) images that cannot be read instead of stopping");
    app.add_flag("--quiet,-q", a.quiet, "no progress or summary on stderr");
    bool local = false;
    app.add_flag("--local", local, "accepted for compatibility with the seed's script (images always come from the options above)");
    return run(app, argc, argv, [&] {
        const bool idx = !a.idx_images.empty();
        if (!idx && a.label_list.empty()) throw usage_error("give --data-dir and --label-list, or --idx-images and --idx-labels");
        reject_inapplicable(app, idx);
        const preprocess_spec s = spec_of(app, a);
        prepare_output(a.output, "--output");
        idx ? from_idx(a, s) : from_list(a, s);
    });
}
