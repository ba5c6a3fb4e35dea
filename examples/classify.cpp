// Classifies images with a converted MobileNet (or any qint8 classifier) and prints the top 5.
//   classify --model mobilenet_v2.json [--labels labels.txt] [--fp32] [--top 5] photo.jpg...
// Images are prepared as the manifest's input.preprocess says (mean/std, TF- or torchvision-
// style crop). Labels: one per line, in model-output order (line 0 = "background" for 1001-class
// models); by default the file the manifest names in classes.labels.

#include <qint8/mobilenet_v1.hpp>
#include <qint8/mobilenet_v2.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../tools/common/image.hpp"

int main(int argc, char** argv) {
    std::string model_path, labels_path;
    std::size_t top = 5;
    bool fp32 = false;
    std::vector<std::string> images;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* flag) -> std::string {
            if (a.rfind(std::string(flag) + "=", 0) == 0) return a.substr(std::strlen(flag) + 1);
            if (i + 1 < argc) return argv[++i];
            std::fprintf(stderr, "classify: %s needs a value\n", flag);
            std::exit(2);
        };
        if (a == "--help" || a == "-h") {
            std::printf("usage: classify --model MODEL.json [--labels FILE] [--top K] [--fp32] IMAGE...\n");
            return 0;
        } else if (a.rfind("--model", 0) == 0) model_path = value("--model");
        else if (a.rfind("--labels", 0) == 0) labels_path = value("--labels");
        else if (a.rfind("--top", 0) == 0) top = std::stoul(value("--top"));
        else if (a == "--fp32") fp32 = true;
        else if (a.rfind("--", 0) == 0) { std::fprintf(stderr, "classify: unknown option %s (see --help)\n", a.c_str()); return 2; }
        else images.push_back(a);
    }
    if (model_path.empty() || images.empty()) {
        std::fprintf(stderr, "usage: classify --model MODEL.json [--labels FILE] [--top K] [--fp32] IMAGE...\n");
        return 2;
    }
    try {
        qint8::classifier_options opt;
        opt.force_fp32 = fp32;
        const qint8::model_desc head = qint8::read_manifest(model_path);
        // The topology check of load<T> for the MobileNets; anything else loads as a plain classifier.
        qint8::classifier net = head.architecture == "mobilenet_v2"   ? qint8::load<qint8::mobilenet_v2>(model_path, opt)
                                : head.architecture == "mobilenet_v1" ? qint8::load<qint8::mobilenet_v1>(model_path, opt)
                                                                       : qint8::classifier::load(model_path, opt);
        const auto& d = net.desc();
        if (labels_path.empty() && !d.classes.labels.empty()) {
            const auto slash = model_path.find_last_of('/');
            labels_path = (slash == std::string::npos ? "" : model_path.substr(0, slash + 1)) + d.classes.labels;
        }
        std::vector<std::string> labels;
        if (!labels_path.empty()) {
            std::ifstream f(labels_path);
            if (!f) throw qint8::error(qint8::errc::io, labels_path + ": cannot open label file");
            for (std::string line; std::getline(f, line);) labels.push_back(line);
        }
        qint8::tools::preprocess_spec spec;
        const auto& pp = d.input.preprocess;
        spec.crop = static_cast<int>(d.input.shape[1]);
        spec.resize_short = static_cast<int>(pp.resize_short ? pp.resize_short : d.input.shape[1] * 256 / 224);
        spec.crop_fraction = pp.crop_fraction;
        spec.antialias = true;  // as qint8-preprocess's presets (PIL-style bilinear)
        spec.bgr = pp.color_order == "bgr";
        for (int c = 0; c < 3; ++c) { spec.mean[c] = pp.mean.at(static_cast<std::size_t>(c)); spec.std[c] = pp.std.at(static_cast<std::size_t>(c)); }
        for (const auto& path : images) {
            const std::vector<float> x = qint8::tools::preprocess(qint8::tools::load_rgb(path), spec);
            std::printf("%s:\n", path.c_str());
            for (const auto& p : net.classify(x.data(), top)) {
                const std::size_t li = static_cast<std::size_t>(p.index);
                const std::string name = li < labels.size() ? labels[li] : "class " + std::to_string(p.class_id);
                std::printf("  %6.2f%%  %s\n", 100.0 * p.probability, name.c_str());
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "classify: %s\n", e.what());
        return 1;
    }
    return 0;
}
