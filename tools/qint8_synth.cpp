// qint8-synth: writes a manifest + weights file for one of the built-in topologies with
// deterministic synthetic weights and calibrated activation quantization, for tests,
// benchmarks and demos that must not depend on downloaded models.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include <qint8/io/manifest.hpp>
#include <qint8/version.hpp>
#include <qint8/mobilenet_v1.hpp>
#include <qint8/mobilenet_v2.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/resnet101.hpp>
#include <qint8/resnet50.hpp>
#include <qint8/vgg16.hpp>
#include <qint8/vgg19.hpp>

namespace {

const char* const usage_text =
    "usage: qint8-synth --model=NAME --output=PATH.json [options]\n"
    "\n"
    "Writes PATH.json and PATH.q8w: the topology NAME with deterministic pseudo-random weights\n"
    "and activation quantization calibrated on synthetic images.\n"
    "\n"
    "  --model=NAME              mobilenet_v1 | mobilenet_v2 | resnet50 | resnet101 | vgg16 | vgg19\n"
    "  --output=PATH.json        manifest to write (the weights go beside it)\n"
    "  --input-size=N | HxW      input height and width, >= 32 (default 224)\n"
    "  --classes=N               number of classes (default 1000)\n"
    "  --width=W                 width multiplier (default 1.0): MobileNets 0.25, 0.5, 0.75, 1.0; ResNet and\n"
    "                            VGG scale every conv's channels to max(int(c * W), 8), e.g. 0.25\n"
    "  --seed=N                  random seed (default 1); the same arguments give the same files\n"
    "  --background-class        add a background output at index 0 (TF-slim's 1001 classes)\n"
    "  --classifier=fc|conv1x1   how the classifier layer is implemented (default fc)\n"
    "  --softmax                 end the model with a softmax layer\n"
    "  --activation=relu|relu6   (default: relu6 for MobileNets, relu otherwise)\n"
    "  --padding=symmetric|same  MobileNet padding: torchvision (default) or TF \"SAME\"\n"
    "  --stride-in=3x3|1x1       ResNet: v1.5, torchvision (default), or v1\n"
    "  --hidden=N                VGG classifier width (default 4096)\n"
    "  --int8-weights            store s8 weights with per-channel scales instead of f32\n"
    "  --calibration-images=N    synthetic images for calibration (default 8)\n"
    "  --help                    this text\n";

[[noreturn]] void usage_error(const std::string& msg) {
    std::fprintf(stderr, "qint8-synth: %s\n(see qint8-synth --help)\n", msg.c_str());
    std::exit(2);
}

/// "--key=value" and "--flag" arguments.
struct args {
    std::map<std::string, std::string> kv;
    std::map<std::string, bool> used;

    bool has(const std::string& k) {
        used[k] = true;
        return kv.count(k) != 0;
    }
    std::string str(const std::string& k, const std::string& dflt) { return has(k) ? kv.at(k) : dflt; }
    bool flag(const std::string& k) {
        if (!has(k)) return false;
        if (!kv.at(k).empty()) usage_error("--" + k + " takes no value, found \"" + kv.at(k) + "\"");
        return true;
    }
    long long integer(const std::string& k, long long dflt, long long lo, long long hi) {
        if (!has(k)) return dflt;
        const std::string& s = kv.at(k);
        char* end = nullptr;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || v < lo || v > hi)
            usage_error("--" + k + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", found \"" + s + "\"");
        return v;
    }
    double number(const std::string& k, double dflt) {
        if (!has(k)) return dflt;
        const std::string& s = kv.at(k);
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0') usage_error("--" + k + ": expected a number, found \"" + s + "\"");
        return v;
    }
    std::string choice(const std::string& k, const std::string& dflt, std::initializer_list<const char*> allowed) {
        const std::string v = str(k, dflt);
        std::string list;
        for (const char* a : allowed) {
            if (v == a) return v;
            list += (list.empty() ? "" : ", ") + std::string(a);
        }
        usage_error("--" + k + ": expected one of " + list + ", found \"" + v + "\"");
    }
    void check_all_used() {
        for (const auto& [k, v] : kv)
            if (!used[k]) usage_error("unknown option --" + k);
    }
};

args parse(int argc, char** argv) {
    args a;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        if (s.rfind("--", 0) != 0 || s.size() < 3) usage_error("unexpected argument \"" + s + "\"");
        const auto eq = s.find('=');
        a.kv[s.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] = eq == std::string::npos ? "" : s.substr(eq + 1);
    }
    return a;
}

/// "N" or "HxW", each in 32..8192.
std::pair<int64_t, int64_t> parse_size(const std::string& s) {
    auto side = [&](const std::string& v) {
        char* end = nullptr;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || x < 32 || x > 8192)
            usage_error("--input-size: expected N or HxW with sides in 32..8192, found \"" + s + "\"");
        return static_cast<int64_t>(x);
    };
    const auto x = s.find('x');
    return x == std::string::npos ? std::make_pair(side(s), side(s)) : std::make_pair(side(s.substr(0, x)), side(s.substr(x + 1)));
}

void apply_common(args& a, qint8::models::common_params& p, const std::string& model) {
    std::tie(p.input_height, p.input_width) = parse_size(a.str("input-size", "224"));
    p.num_classes = a.integer("classes", 1000, 1, 1 << 20);
    p.background_class = a.flag("background-class");
    p.classifier = a.choice("classifier", "fc", {"fc", "conv1x1"}) == "fc" ? qint8::models::classifier_kind::fc
                                                                           : qint8::models::classifier_kind::conv1x1;
    p.softmax = a.flag("softmax");
    const bool mobile = model.rfind("mobilenet", 0) == 0;
    p.act = a.choice("activation", mobile ? "relu6" : "relu", {"relu", "relu6"}) == "relu" ? qint8::activation::relu : qint8::activation::relu6;
}

template <class P>
void apply_width(args& a, P& p) {
    p.width = a.number("width", 1.0);
    if (!(p.width > 0.0 && p.width <= 4.0)) usage_error("--width: expected a multiplier in (0, 4], found " + a.kv.at("width"));
}

template <class P>
void apply_width_padding(args& a, P& p) {
    apply_width(a, p);
    p.same_padding = a.choice("padding", "symmetric", {"symmetric", "same"}) == "same";
}

/// The structure of the requested model, with every option applied (and options that do not
/// apply to it rejected, so a typo'd command line does not silently build something else).
qint8::model_desc structure(args& a, const std::string& model) {
    auto only_for = [&](const char* opt, bool ok) {
        if (!ok && a.kv.count(opt)) usage_error(std::string("--") + opt + " does not apply to " + model);
    };
    only_for("padding", model.rfind("mobilenet", 0) == 0);
    only_for("stride-in", model.rfind("resnet", 0) == 0);
    only_for("hidden", model.rfind("vgg", 0) == 0);
    if (model == "mobilenet_v1") {
        auto p = qint8::mobilenet_v1::defaults();
        apply_common(a, p, model);
        apply_width_padding(a, p);
        return qint8::mobilenet_v1::structure(p);
    }
    if (model == "mobilenet_v2") {
        auto p = qint8::mobilenet_v2::defaults();
        apply_common(a, p, model);
        apply_width_padding(a, p);
        return qint8::mobilenet_v2::structure(p);
    }
    if (model == "resnet50" || model == "resnet101") {
        auto p = model == "resnet50" ? qint8::resnet50::defaults() : qint8::resnet101::defaults();
        apply_common(a, p, model);
        p.stride_at = a.choice("stride-in", "3x3", {"3x3", "1x1"}) == "3x3" ? qint8::models::resnet_stride::in_3x3
                                                                           : qint8::models::resnet_stride::in_1x1;
        apply_width(a, p);
        return model == "resnet50" ? qint8::resnet50::structure(p) : qint8::resnet101::structure(p);
    }
    if (model == "vgg16" || model == "vgg19") {
        auto p = model == "vgg16" ? qint8::vgg16::defaults() : qint8::vgg19::defaults();
        apply_common(a, p, model);
        p.hidden = a.integer("hidden", 4096, 1, 1 << 20);
        apply_width(a, p);
        return model == "vgg16" ? qint8::vgg16::structure(p) : qint8::vgg19::structure(p);
    }
    usage_error("--model: expected mobilenet_v1, mobilenet_v2, resnet50, resnet101, vgg16 or vgg19, found \"" + model + "\"");
}

}  // namespace

int main(int argc, char** argv) {
    args a = parse(argc, argv);
    if (a.has("help") || argc == 1) {
        std::fputs(usage_text, a.has("help") ? stdout : stderr);
        return a.has("help") ? 0 : 2;
    }
    if (!a.has("model")) usage_error("--model is required");
    if (!a.has("output")) usage_error("--output is required");
    const std::string model = a.str("model", ""), out = a.str("output", "");
    if (out.size() < 6 || out.compare(out.size() - 5, 5, ".json") != 0) usage_error("--output: expected a path ending in .json, found \"" + out + "\"");
    // Checked now rather than after minutes of synthesis.
    const std::filesystem::path dir = std::filesystem::path(out).parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir)) usage_error("--output: directory " + dir.string() + " does not exist");
    const auto t0 = std::chrono::steady_clock::now();
    auto say = [&](const std::string& s) {
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "[%6.1fs] %s\n", t, s.c_str());
    };
    try {
        qint8::models::synth_options so;
        so.int8_weights = a.flag("int8-weights");
        so.calibration_images = static_cast<int>(a.integer("calibration-images", 8, 1, 1024));
        so.progress = say;
        const uint32_t seed = static_cast<uint32_t>(a.integer("seed", 1, 0, 0xffffffffll));
        qint8::model_desc s = structure(a, model);
        a.check_all_used();
        say("built " + model + ": " + std::to_string(s.layers.size()) + " layers, input " + qint8::detail::shape_str(s.input.shape) +
            ", " + std::to_string(s.classes.count) + " outputs");
        qint8::model_desc m = qint8::models::synthesize(std::move(s), seed, so);
        m.producer = std::string("qint8-synth ") + qint8::version_string + " (seed " + std::to_string(seed) + ")";
        say("writing " + out);
        qint8::write_manifest(std::move(m), out);
        say("done");
    } catch (const qint8::error& e) {
        std::fprintf(stderr, "qint8-synth: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qint8-synth: %s\n", e.what());
        return 1;
    }
    return 0;
}
