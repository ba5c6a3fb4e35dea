// Classifies images with a converted model and prints the top K labels of each.
//   classify --model mobilenet_v2.json [--labels labels.txt] [--fp32] [--top 5] photo.jpg...
// Images are prepared as the manifest's input.preprocess says (mean/std, TF- or torchvision-
// style crop); --mean, --std, --resize-short and --crop-fraction override it. Labels: one per
// line, in model-output order (line 0 = "background" for 1001-class models, or the 1000 classes
// alone); by default the file the manifest names in classes.labels (missing: a warning, and class
// numbers are printed). The background output is never listed: --top N lists real classes. An
// image that cannot be read is reported and the others are still classified (exit status 2 at the end).

#include <qint8/mobilenet_v1.hpp>
#include <qint8/mobilenet_v2.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/app.hpp"
#include "common/file_kind.hpp"
#include "common/image.hpp"

using namespace qint8::tools;

namespace {

struct classify_args {
    std::string model, labels;
    std::vector<std::string> images;
    std::vector<float> mean, std;
    int top = 5, threads = 1, resize_short = -1;
    double crop_fraction = -1;
    bool fp32 = false;
};

/// The label of each model output: `outputs` lines, or one fewer for a background-class model
/// whose file leaves the background out. Any other length is an error, not "class N".
/// `source` says where the path came from ("--labels", or the manifest's classes.labels).
std::vector<std::string> read_labels(const std::string& path, const std::string& source, std::size_t outputs, bool background) {
    expect_regular_file(path, source);
    std::ifstream f(path);
    if (!f) qint8::fail(qint8::errc::io, path + ": " + source + ": cannot open the label file");
    std::vector<std::string> labels;
    for (std::string line; std::getline(f, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        labels.push_back(line);
    }
    while (!labels.empty() && labels.back().empty()) labels.pop_back();
    if (background && labels.size() + 1 == outputs) labels.insert(labels.begin(), "background");
    if (labels.size() != outputs)
        qint8::fail(qint8::errc::data,
                            path + ": labels: expected " + std::to_string(outputs) + " lines, one per model output" +
                                (background ? " (or " + std::to_string(outputs - 1) + " without the background class)" : "") + ", found " +
                                std::to_string(labels.size()));
    return labels;
}

/// The manifest's preprocessing, with the command line's overrides.
preprocess_spec spec_of(const qint8::model_desc& d, const classify_args& a) {
    const auto& pp = d.input.preprocess;
    if (d.input.shape.size() != 3 || d.input.shape[1] != d.input.shape[2])
        qint8::fail(qint8::errc::unsupported, a.model + ": input: expected a square C x H x W input, found " + qint8::shape_str(d.input.shape));
    if (!pp.known && (a.mean.empty() || a.std.empty()))
        throw usage_error(a.model + ": input.preprocess is unknown (the converter could not tell how this model wants its pixels): give "
                          "--mean and --std, and --resize-short or --crop-fraction if it is not a plain resize; or record them once "
                          "with qint8-convert --mean ... --std ...");
    preprocess_spec spec;
    spec.crop = static_cast<int>(d.input.shape[1]);
    const int64_t manifest_resize = pp.known ? pp.resize_short : 0;  // unknown: resize the whole image unless told otherwise
    const double manifest_crop = pp.known ? pp.crop_fraction : 0.0;
    spec.resize_short = static_cast<int>(a.resize_short >= 0 ? a.resize_short : manifest_resize);  // 0: not used (docs/manifest.md)
    spec.crop_fraction = a.crop_fraction >= 0 ? a.crop_fraction : manifest_crop;
    if (spec.crop_fraction == 0 && spec.resize_short != 0 && spec.resize_short < spec.crop)
        throw usage_error("resize_short " + std::to_string(spec.resize_short) + " is smaller than the model's input " + std::to_string(spec.crop));
    spec.antialias = true;  // as qint8-preprocess's presets (PIL-style bilinear)
    spec.bgr = pp.color_order == "bgr";
    for (std::size_t c = 0; c < 3; ++c) {
        spec.mean[c] = a.mean.empty() ? pp.mean.at(c) : a.mean[a.mean.size() == 1 ? 0 : c];
        spec.std[c] = a.std.empty() ? pp.std.at(c) : a.std[a.std.size() == 1 ? 0 : c];
    }
    return spec;
}

qint8::classifier load(const classify_args& a) {
    expect_manifest(a.model, "--model");
    qint8::classifier_options opt;
    opt.force_fp32 = a.fp32;
    opt.threads = a.threads;  // builds and runs the model with this many threads
    const qint8::model_desc head = qint8::read_manifest(a.model);
    // The topology check of load<T> for the MobileNets; anything else loads as a plain classifier.
    return head.architecture == "mobilenet_v2"   ? qint8::load<qint8::mobilenet_v2>(a.model, opt)
           : head.architecture == "mobilenet_v1" ? qint8::load<qint8::mobilenet_v1>(a.model, opt)
                                                 : qint8::classifier::load(a.model, opt);
}

/// The labels: --labels (an error if unusable), else the file the manifest names beside it. A
/// missing file the manifest names only costs the names: a warning, and "class N" is printed.
std::vector<std::string> labels_of(const classify_args& a, const qint8::model_desc& d, std::size_t outputs) {
    if (!a.labels.empty()) return read_labels(a.labels, "--labels", outputs, d.classes.background_class);
    if (d.classes.labels.empty()) return {};
    const auto slash = a.model.find_last_of('/');
    const std::string path = (slash == std::string::npos ? "" : a.model.substr(0, slash + 1)) + d.classes.labels;
    if (!std::filesystem::exists(path)) {
        std::fprintf(stderr, "classify: warning: %s: the label file %s's classes.labels names is missing; printing class numbers "
                             "(give --labels FILE for names)\n", path.c_str(), a.model.c_str());
        return {};
    }
    return read_labels(path, a.model + " classes.labels", outputs, d.classes.background_class);
}

/// Classifies every image; returns how many could not be read.
int classify_all(const classify_args& a) {
    for (const auto* v : {&a.mean, &a.std})
        if (v->size() != 0 && v->size() != 1 && v->size() != 3) throw usage_error("--mean/--std: expected one or three numbers");
    for (float s : a.std)
        if (!(s > 0)) throw usage_error("--std: expected positive numbers");
    qint8::classifier net = load(a);
    const auto& d = net.desc();
    const std::vector<std::string> labels = labels_of(a, d, net.num_outputs());
    const preprocess_spec spec = spec_of(d, a);
    // The background output of a 1001-class model is no class: it is never listed, so --top N
    // lists at most the N most probable of the real classes.
    const std::size_t background = d.classes.background_class ? 1 : 0;
    const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(a.top) + background, net.num_outputs());
    int failed = 0;
    for (const auto& path : a.images) {
        std::vector<float> x;
        try {
            x = preprocess(load_rgb(path), spec);
        } catch (const qint8::error& e) {
            std::fprintf(stderr, "classify: %s\n", e.what());  // report it, go on with the others
            ++failed;
            continue;
        }
        std::printf("%s:\n", path.c_str());
        std::size_t listed = 0;
        for (const auto& p : net.classify(x, k)) {
            if (p.class_id < 0 || listed == static_cast<std::size_t>(a.top)) continue;
            ++listed;
            const std::size_t li = static_cast<std::size_t>(p.index);
            const std::string name = li < labels.size() ? labels[li] : "class " + std::to_string(p.class_id);
            std::printf("  %6.2f%%  %s\n", 100.0 * p.probability, name.c_str());
        }
    }
    return failed;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Classifies images with a qint8 model and prints the K most probable labels of each.", "classify");
    conventions(app, "classify --model out/mv2.json --labels imagenet_labels_1001.txt --top 3 photo.jpg other.png");
    classify_args a;
    app.add_option("--model", a.model, "manifest (model.json)")->required();
    app.add_option("--labels", a.labels, "label file, one per model output (default: the file the manifest names)");
    app.add_option("--top", a.top, "how many labels to print per image")->check(in_range(1, 100000));
    app.add_flag("--fp32", a.fp32, "run the FP32 baseline instead of INT8");
    app.add_option("--threads", a.threads, "threads the model is built and run with")->check(in_range(1, 1024));
    add_preprocess_options(app, a.mean, a.std, a.resize_short, a.crop_fraction, "override the manifest's", "from the manifest");
    app.add_option("images", a.images, "images to classify (JPEG, PNG, BMP, GIF, TGA, PNM)")->required();
    int failed = 0;
    const int rc = run(app, argc, argv, [&] { failed = classify_all(a); });
    return rc == exit_ok && failed ? exit_bad_input : rc;
}
