// qint8-synth: writes a manifest + weights file for one of the built-in topologies with
// deterministic synthetic weights and calibrated activation quantization, for tests,
// benchmarks and demos that must not depend on downloaded models.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include <qint8/io/manifest.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/validate.hpp>
#include <qint8/version.hpp>

#include "common/app.hpp"

namespace {

using qint8::tools::usage_error;

struct synth_args {
    std::string model, output, input_size = "224", classifier = "fc", activation, padding = "symmetric", stride_in = "3x3";
    long long classes = 1000, hidden = 4096, seed = 1;
    double width = 1.0;
    int calibration_images = 8;
    bool background_class = false, softmax = false, int8_weights = false, quiet = false;
};

/// "N" or "HxW", each in 32..8192.
std::pair<int64_t, int64_t> parse_size(const std::string& s) {
    auto side = [&](const std::string& v) {
        char* end = nullptr;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || x < 32 || x > 8192)
            throw usage_error("--input-size: expected N or HxW with sides in 32..8192, found \"" + s + "\"");
        return static_cast<int64_t>(x);
    };
    const auto x = s.find('x');
    return x == std::string::npos ? std::make_pair(side(s), side(s)) : std::make_pair(side(s.substr(0, x)), side(s.substr(x + 1)));
}

/// The structure of the requested model, with every option applied (and options that do not
/// apply to it rejected, so a typo'd command line does not silently build something else).
qint8::model_desc structure(const CLI::App& app, const synth_args& a) {
    const std::string arch = qint8::models::architecture_of(a.model);
    auto only_for = [&](const char* opt, bool ok) {
        if (!ok && app.count(opt)) throw usage_error(std::string(opt) + " does not apply to " + a.model);
    };
    only_for("--padding", arch.rfind("mobilenet", 0) == 0);
    only_for("--stride-in", arch == "resnet");
    only_for("--hidden", arch == "vgg");
    qint8::models::topology_request r;
    std::tie(r.input_size, r.input_width) = parse_size(a.input_size);
    r.classes = a.classes;
    r.background_class = a.background_class;
    r.classifier = a.classifier == "fc" ? qint8::models::classifier_kind::fc : qint8::models::classifier_kind::conv1x1;
    r.softmax = a.softmax;
    if (!a.activation.empty()) r.act = a.activation == "relu" ? qint8::activation::relu : qint8::activation::relu6;
    r.width = a.width;
    r.same_padding = a.padding == "same";
    r.stride_at = a.stride_in == "3x3" ? qint8::models::resnet_stride::in_3x3 : qint8::models::resnet_stride::in_1x1;
    r.hidden = a.hidden;
    return qint8::models::structure_by_name(a.model, r);
}

/// Floats of the model's weights and of all its activations for one image, from the shapes.
std::pair<double, double> floats_of(const qint8::model_desc& m) {
    std::map<std::string, std::vector<int64_t>> shape{{m.input.name, m.input.shape}};
    double weights = 0, acts = 0;
    for (const auto& l : m.layers) {
        const std::vector<int64_t>& in = shape.at(l.inputs.at(0));
        double in_elems = 1;
        for (int64_t d : in) in_elems *= static_cast<double>(d);
        std::vector<int64_t> out = in;
        const double taps = static_cast<double>(l.kernel[0] * l.kernel[1]);
        switch (l.kind) {
            case qint8::op::conv2d:
                out = qint8::window_shape(l, in, l.out_channels);
                weights += static_cast<double>(l.out_channels) * static_cast<double>(in.at(0) / l.groups) * taps;
                break;
            case qint8::op::depthwise_conv2d: out = qint8::window_shape(l, in, in.at(0)); weights += static_cast<double>(in.at(0)) * taps; break;
            case qint8::op::max_pool2d:
            case qint8::op::avg_pool2d: out = qint8::window_shape(l, in, in.at(0)); break;
            case qint8::op::global_avg_pool2d: out = {in.at(0), 1, 1}; break;
            case qint8::op::fc: out = {l.out_channels}; weights += in_elems * static_cast<double>(l.out_channels); break;
            default: break;
        }
        double out_elems = 1;
        for (int64_t d : out) out_elems *= static_cast<double>(d);
        acts += out_elems;
        shape[l.name] = out;
    }
    return {weights, acts};
}

/// A model this machine cannot hold is refused before any allocation, naming the options that
/// made it so large; otherwise it would end, minutes later, as "out of memory" (or the OOM killer).
void check_memory(const qint8::model_desc& m, const synth_args& a) {
    const auto [weights, acts] = floats_of(m);
    // f32 weights, their quantized copy, and every activation of the calibration images in f32.
    const double need = 4 * weights * 2 + 4 * acts * a.calibration_images;
    const double have = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (have <= 0 || need <= have) return;
    const double gib = 1024.0 * 1024 * 1024;
    const std::string hidden = qint8::models::architecture_of(a.model) == "vgg" ? ", --hidden " + std::to_string(a.hidden) : "";
    char b[512];
    std::snprintf(b, sizeof b, "--model %s with --input-size %s, --width %g, --classes %lld%s: needs about %.1f GiB (weights %.1f GiB, activations "
                               "of %d calibration images %.1f GiB), more than this machine's %.1f GiB of memory",
                  a.model.c_str(), a.input_size.c_str(), a.width, a.classes, hidden.c_str(),
                  need / gib, 8 * weights / gib, a.calibration_images, 4 * acts * a.calibration_images / gib, have / gib);
    throw usage_error(b);
}

void synth(const CLI::App& app, const synth_args& a) {
    if (a.output.size() < 6 || a.output.compare(a.output.size() - 5, 5, ".json") != 0)
        throw usage_error("--output: expected a path ending in .json, found \"" + a.output + "\"");
    qint8::model_desc s = structure(app, a);  // option errors first, before touching the disk
    check_memory(s, a);
    qint8::tools::prepare_output(a.output, "--output");
    const auto t0 = std::chrono::steady_clock::now();
    auto say = [&](const std::string& msg) {
        if (a.quiet) return;
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "[%6.1fs] %s\n", t, msg.c_str());
    };
    qint8::models::synth_options so;
    so.int8_weights = a.int8_weights;
    so.calibration_images = a.calibration_images;
    so.progress = say;
    const uint32_t seed = static_cast<uint32_t>(a.seed);
    say("built " + a.model + ": " + std::to_string(s.layers.size()) + " layers, input " + qint8::shape_str(s.input.shape) + ", " +
        std::to_string(s.classes.count) + " outputs");
    qint8::model_desc m = qint8::models::synthesize(std::move(s), seed, so);
    m.producer = std::string("qint8-synth ") + qint8::version_string + " (seed " + std::to_string(seed) + ")";
    say("writing " + a.output);
    qint8::write_manifest(std::move(m), a.output);
    say("done");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Writes PATH.json and PATH.q8w: the topology --model with deterministic pseudo-random weights and\n"
                 "activation quantization calibrated on synthetic images. The same arguments give the same files.",
                 "qint8-synth");
    qint8::tools::conventions(app, "qint8-synth --model resnet50 --width 0.25 --input-size 64 --classes 10 --output r50/model.json");
    synth_args a;
    app.add_option("--model", a.model, "topology")->required()
        ->check(qint8::tools::one_of(qint8::models::topology_names()));
    app.add_option("--output", a.output, "manifest to write, PATH.json (the weights go beside it; the directory is created)")->required();
    app.add_option("--input-size", a.input_size, "input height and width: N or HxW, sides >= 32");
    app.add_option("--classes", a.classes, "number of classes")->check(qint8::tools::in_range(1LL, 1LL << 20));
    app.add_option("--width", a.width, "width multiplier: MobileNets max(int(c * W), 8) channels (0.25, 0.5, 0.75, 1.0 as published); "
                                      "ResNet and VGG scale every conv the same way")
        ->check(qint8::tools::in_range(0.001, 4.0));
    app.add_option("--seed", a.seed, "random seed")->check(qint8::tools::in_range(0LL, 0xffffffffLL));
    app.add_flag("--background-class", a.background_class, "add a background output at index 0 (TF-slim's 1001 classes)");
    app.add_option("--classifier", a.classifier, "how the classifier layer is implemented")->check(qint8::tools::one_of({"fc", "conv1x1"}));
    app.add_flag("--softmax", a.softmax, "end the model with a softmax layer");
    app.add_option("--activation", a.activation, "relu or relu6 (default: relu6 for MobileNets, relu otherwise)")->check(qint8::tools::one_of({"relu", "relu6"}));
    app.add_option("--padding", a.padding, "MobileNets: symmetric (torchvision) or same (TF \"SAME\")")->check(qint8::tools::one_of({"symmetric", "same"}));
    app.add_option("--stride-in", a.stride_in, "ResNets: 3x3 (v1.5, torchvision) or 1x1 (v1)")->check(qint8::tools::one_of({"3x3", "1x1"}));
    app.add_option("--hidden", a.hidden, "VGGs: classifier width")->check(qint8::tools::in_range(1LL, 1LL << 20));
    app.add_flag("--int8-weights", a.int8_weights, "store s8 weights with per-channel scales instead of f32");
    app.add_option("--calibration-images", a.calibration_images, "synthetic images for calibration")->check(qint8::tools::in_range(1, 1024));
    app.add_flag("--quiet,-q", a.quiet, "no progress on stderr");
    return qint8::tools::run(app, argc, argv, [&] { synth(app, a); });
}
