// qint8-convert: an ONNX image classifier (FP32, or QAT with QuantizeLinear/DequantizeLinear
// pairs) or a TFLite one (float, or uint8/int8 quantized) to a qint8 manifest + weights file.
//   qint8-convert --input model.onnx --output out/model.json --calib-data calib.bin
//   qint8-convert --input model_qat.onnx --output out/model.json --report --calib-data test.bin

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <qint8/convert.hpp>

#include "common/app.hpp"
#include "common/dataset.hpp"
#include "common/file_kind.hpp"
#include "common/progress.hpp"

using namespace qint8;
using namespace qint8::tools;

namespace {

/// The command line as typed; to_options() turns it into the converter's options.
struct convert_args {
    std::string input, output, arch, calib_data, calib_method = "abs_max", precision = "int8", weights = "auto", labels;
    std::string accuracy_data;
    std::size_t calib_images = 500, accuracy_images = 1000000;
    std::vector<std::string> quantized_ops{"all"}, fp32_layers;
    std::vector<float> mean, std;
    int64_t resize_short = -1;
    double crop_fraction = -1, max_top1_loss = 0.5;
    bool bias_correction = false, no_bias_correction = false, report = false, quiet = false;
    bool fuse_residual_rounding = false;
    std::string requantization;
};

void declare_sources(CLI::App& app, convert_args& a) {
    app.add_option("--input,--model,--onnx", a.input, "model to convert: .onnx, or .tflite (recognised by content)")->required();
    app.add_option("--output", a.output, "manifest to write (PATH.json; PATH.q8w goes beside it; the directory is created)")->required();
    app.add_option("--arch", a.arch, "require a family: mobilenet_v1, mobilenet_v2, resnet50, resnet101, vgg16, vgg19, or custom (no recognition)")
        ->check(one_of({"mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19", "custom"}, {""}))
        ->default_str("recognise");
    app.add_option("--labels", a.labels, "label file (one class per line), copied beside the manifest as <manifest name>.labels.txt");
    add_preprocess_options(app, a.mean, a.std, a.resize_short, a.crop_fraction, "input.preprocess", "0 when --mean/--std are given");
}

void declare_quantization(CLI::App& app, convert_args& a) {
    app.add_option("--calib-data,--calib_data,--infer_data", a.calib_data,
                   "calibration images: a data file from qint8-preprocess (int64 N, N float32 CHW images, N int64 labels)");
    app.add_option("--calib-images,--calib_images,--warmup_batch_size", a.calib_images, "use at most this many calibration images")
        ->check(in_range(1, 1000000));
    app.add_option("--calib-method,--calib_method,--algo", a.calib_method, "abs_max (default) | mse (least squared error) | kl | percentile[=99.99]");
    app.add_option("--quantized-ops,--quantized_ops", a.quantized_ops, "op kinds computed in INT8: conv2d,depthwise_conv2d,fc,pool2d,add (others FP32)")
        ->delimiter(',');
    app.add_option("--fp32-layers,--fp32_layers", a.fp32_layers,
                   "layers kept in FP32 (converted names, or the source's node / output tensor names), comma-separated")
        ->delimiter(',');
    app.add_option("--precision", a.precision, "int8, or fp32 for an all-FP32 manifest of the same model")->check(one_of({"int8", "fp32"}));
    app.add_option("--weights", a.weights, "s8 (s8 + per-channel scales in the file), f32 (quantized per channel at load), or auto: s8 for "
                                           "quantized sources converted to INT8, else f32")
        ->check(one_of({"auto", "s8", "f32"}));
    app.add_flag("--fuse-residual-rounding", a.fuse_residual_rounding,
                 "fuse each residual Add into its branch's conv even where the file rounds the branch to its own quantization\n"
                 "first (faster; the branch is added unrounded; each such layer is printed and recorded as a departure)");
    app.add_option("--requantization", a.requantization,
                   "how INT8 layers requantize: tflite (TFLite's fixed-point multipliers and rounding shifts) or float (float\n"
                   "scales, rounded half to even, as ONNX Runtime). Default: the file's (tflite for a quantized TFLite file);\n"
                   "float on such a file is faster and printed and recorded as a departure")
        ->check(one_of({"tflite", "float"}));
    app.add_flag("--bias-correction", a.bias_correction, "calibrated models: on by default (this flag only makes it explicit)");
    app.add_flag("--no-bias-correction", a.no_bias_correction,
                 "calibrated models: skip the default INT8-only bias correction (each int8 conv/fc layer's mean per-channel\n"
                 "INT8-vs-FP32 output error on the calibration images, divided by the share of its outputs inside the ReLU/ReLU6\n"
                 "linear region; the FP32 path keeps the float bias). Without it post-training INT8 loses most: float\n"
                 "MobileNet-V1 0.25/224 on the ImageNet samples, 5.8 pt without, 1.0 with (AVX2; docs/accuracy.md)");
    app.add_option("--accuracy-data", a.accuracy_data,
                   "labelled data file for the accuracy-aware fallback: while INT8 top-1 on it loses more than --max-top1-loss\n"
                   "against FP32, the layer adding the most error moves to FP32, one at a time");
    app.add_option("--accuracy-images", a.accuracy_images, "use at most this many images of --accuracy-data")->check(in_range(1, 1000000000));
    app.add_option("--max-top1-loss", a.max_top1_loss, "with --accuracy-data: the largest INT8 top-1 loss against FP32 to accept, in points")
        ->check(in_range(0.0, 100.0));
    app.add_flag("--report", a.report, "print each layer's INT8-vs-FP32 error (cosine, max abs) on the calibration images, worst first");
    app.add_flag("--quiet,-q", a.quiet, "no notes or progress on stderr");
}

/// The library names its options "options.<field>"; here they are the flags that set them.
std::string in_flags(std::string s) {
    static const std::map<std::string, std::string> special = {
        {"images", "--calib-data FILE"}, {"read_images", "--calib-data FILE"}, {"fp32", "--precision fp32"}, {"method", "--calib-method"}};
    const std::string key = "options.";
    for (std::size_t at = s.find(key); at != std::string::npos; at = s.find(key, at)) {
        std::size_t end = at + key.size();
        while (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_')) ++end;
        const std::string field = s.substr(at + key.size(), end - at - key.size());
        std::string flag;
        if (field == "bias_correction" && s.compare(end, 8, " = false") == 0) {
            flag = "--no-bias-correction";
            end += 8;
        } else if (special.count(field)) {
            flag = special.at(field);
        } else {
            flag = "--" + field;
            std::replace(flag.begin(), flag.end(), '_', '-');
        }
        if (field == "arch" && s.compare(end, 3, " = ") == 0) end += 2;  // "options.arch = vgg16" -> "--arch vgg16"
        s.replace(at, end - at, flag);
        at += flag.size();
    }
    return s;
}

/// The converter's options; contradictions on the command line are usage errors.
convert::options to_options(const convert_args& a) {
    convert::options o;
    o.input = a.input;
    o.output = a.output;
    o.arch = a.arch;
    if (!a.calib_data.empty()) o.read_images = [path = a.calib_data](std::size_t image_floats, std::size_t limit) {
        dataset_reader d(path, image_floats);
        const std::size_t n = std::min(d.size(), limit);
        if (n == 0) qint8::fail(errc::data, path + ": --calib-data: expected at least one image, found none");
        std::vector<float> v(n * image_floats);
        d.read(0, n, v.data());
        return v;
    };
    o.calib_images = a.calib_images;
    try {
        convert::parse_method(a.calib_method, o);
    } catch (const qint8::error& e) {
        const std::string what = e.what();
        throw usage_error(in_flags(what.substr(what.find("] ") + 2)));
    }
    if (!(a.quantized_ops.size() == 1 && a.quantized_ops[0] == "all")) o.quantized_ops = a.quantized_ops;
    o.fp32_layers = a.fp32_layers;
    o.fp32 = a.precision == "fp32";
    if (a.weights != "auto") o.weights_s8 = a.weights == "s8";
    o.report = a.report;
    o.fuse_residual_rounding = a.fuse_residual_rounding;
    o.requantization = a.requantization;
    if (a.bias_correction && a.no_bias_correction) throw usage_error("--bias-correction and --no-bias-correction contradict each other");
    if (a.bias_correction) o.bias_correction = true;
    if (a.no_bias_correction) o.bias_correction = false;
    if (!a.accuracy_data.empty() && o.fp32) throw usage_error("--accuracy-data chooses INT8 layers; it does not apply to --precision fp32");
    if (std::filesystem::path(o.output).extension() != ".json") throw usage_error("--output: expected a path ending in .json, found \"" + o.output + "\"");
    if (!a.labels.empty()) expect_regular_file(a.labels, "--labels");
    o.labels = a.labels;
    o.mean = a.mean;
    o.std = a.std;
    o.resize_short = a.resize_short;
    o.crop_fraction = a.crop_fraction;
    return o;
}

/// Notes and a progress bar on stderr unless --quiet.
void attach_progress(convert::options& o, bool quiet) {
    if (quiet) return;
    o.note = [](const std::string& s) { std::fprintf(stderr, "qint8-convert: %s\n", in_flags(s).c_str()); };
    // One progress line per phase, named after it ("calibration images: 120/500").
    struct state {
        std::unique_ptr<progress> bar;
        std::string phase;
        std::size_t last = 0;
    };
    auto st = std::make_shared<state>();
    o.phase_progress = [st](const std::string& phase, std::size_t done, std::size_t total) {
        if (!st->bar || phase != st->phase || done < st->last) {
            st->bar = std::make_unique<progress>(phase, total);
            st->phase = phase;
            st->last = 0;
        }
        st->bar->tick(done - st->last);
        st->last = done;
        if (done == total) {
            st->bar->done();
            st->bar.reset();
        }
    };
}

void print_report(const std::vector<convert::report_row>& rows) {
    std::printf("\nper-layer INT8 vs FP32 (worst first):\n%-40s %-18s %-5s %10s %12s %12s\n", "layer", "op", "prec", "cosine", "max abs err", "max |fp32|");
    for (const auto& r : rows)
        std::printf("%-40s %-18s %-5s %10.6f %12.5g %12.5g\n", r.layer.c_str(), r.op.c_str(), r.prec.c_str(), r.cosine, r.max_abs, r.max_ref);
}

void print_summary(const convert::result& r, const convert::options& o) {
    std::size_t int8 = 0;
    for (const auto& l : r.m.layers) int8 += l.prec == precision::int8;
    std::printf("converted:    %s -> %s\n", o.input.c_str(), o.output.c_str());
    std::printf("model:        %s%s, %zu layers (%zu int8), input %s, %lld outputs\n", r.family.c_str(),
                r.m.variant.empty() ? "" : (" (" + r.m.variant + ")").c_str(), r.m.layers.size(), int8,
                qint8::shape_str(r.m.input.shape).c_str(), static_cast<long long>(r.m.classes.count));
    std::printf("quantization: %s%s%s\n", o.fp32 ? "none (fp32)" : r.qat ? "from the model (QDQ pairs, QOperator ops or quantized tensors)" : "calibrated",
                r.calibrated && r.qat ? (", " + std::to_string(r.calibrated) + " tensors calibrated").c_str() : "",
                r.bias_corrected ? (", biases of " + std::to_string(r.bias_corrected) + " layers corrected").c_str() : "");
    std::printf("preprocess:   %s\n", r.m.input.preprocess.known ? "recorded" : "unknown (give --mean/--std to record it)");
    if (r.family == "custom" && !r.mismatch.empty())
        std::fprintf(stderr, "qint8-convert: warning: not recognised as one of qint8's topologies (architecture \"custom\"); closest: %s\n", r.mismatch.c_str());
    if (o.report) print_report(r.report);
}

void print_fallback(const convert::fallback_result& fb, double max_loss) {
    std::printf("accuracy:     FP32 top-1 %.2f, INT8 %.2f before the fallback, %.2f after (budget %.2f pt%s)\n", fb.top1_fp32,
                fb.steps.front().top1_int8, fb.steps.back().top1_int8, max_loss, fb.within_budget ? "" : ", NOT reached");
    for (std::size_t k = 1; k < fb.steps.size(); ++k)
        std::printf("  moved to FP32: %-40s INT8 top-1 %.2f\n", fb.steps[k].moved.c_str(), fb.steps[k].top1_int8);
    if (fb.steps.size() > 1 && fb.speed.before > 0)
        std::printf("speed:        %.1f images/s before the moves, %.1f after (%s; %s path, 1 thread, batch %lld, median of %d runs)\n",
                    fb.speed.before, fb.speed.after, convert::change_text(fb.speed).c_str(), fb.speed.isa.c_str(),
                    static_cast<long long>(fb.speed.batch), fb.speed.runs);
}

/// Refuses, before any work, an --output that cannot be written: a directory, or a path whose
/// nearest existing ancestor is not a writable directory. Nothing is created here: the writer
/// creates the directories and removes them again if the conversion fails.
void check_output_location(const std::string& output) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(output, ec)) throw output_error("--output " + output + ": is a directory, expected a file path");
    fs::path dir = fs::path(output).parent_path();
    if (dir.empty()) dir = ".";
    while (!fs::exists(dir, ec) && dir.has_parent_path() && dir.parent_path() != dir) dir = dir.parent_path();
    if (!fs::exists(dir, ec)) dir = ".";
    if (!fs::is_directory(dir, ec)) throw output_error("--output " + output + ": " + dir.string() + " is not a directory");
    if (::access(dir.c_str(), W_OK) != 0)
        throw output_error("--output " + output + ": cannot write to directory " + dir.string() + " (" + std::strerror(errno) + ")");
}

/// Up to `limit` labelled images of an --accuracy-data file, for a model of `image_floats` per image.
convert::labelled_images read_labelled(const std::string& path, std::size_t image_floats, std::size_t limit) {
    dataset_reader d(path, image_floats);
    convert::labelled_images v;
    const std::size_t n = std::min(d.size(), limit);
    if (n == 0) qint8::fail(errc::data, path + ": --accuracy-data: expected at least one image, found none");
    v.images.resize(n * image_floats);
    d.read(0, n, v.images.data());
    for (std::size_t i = 0; i < n; ++i) v.labels.push_back(d.label(i));
    return v;
}

void convert_model(const convert_args& a) {
    convert::options o = to_options(a);
    attach_progress(o, a.quiet);
    check_output_location(o.output);
    if (o.fp32 && o.read_images && !o.report && !a.quiet)
        std::fprintf(stderr, "qint8-convert: note: --calib-data is not used with --precision fp32\n");
    expect_source_model(o.input, "--input");
    if (!a.quiet) std::fprintf(stderr, "qint8-convert: reading %s\n", o.input.c_str());
    convert::result r = convert::convert_graph(convert::import_file(o.input), o);
    // A quantized source needs no calibration when it quantizes every tensor an INT8 layer reads:
    // the file given was then not even opened (a wrong image size would go unnoticed), so say so.
    if (r.qat && o.read_images && r.calibrated == 0 && !o.report && a.accuracy_data.empty() && !a.quiet)
        std::fprintf(stderr, "qint8-convert: note: --calib-data is not used: %s carries its own quantization for every tensor its INT8 layers read "
                             "(the file was not read)\n", o.input.c_str());
    std::optional<convert::fallback_result> fb;
    if (!a.accuracy_data.empty()) {
        const std::size_t per = convert::image_floats(r.m);
        const convert::labelled_images v = read_labelled(a.accuracy_data, per, a.accuracy_images);
        const std::vector<float> report_images = o.read_images ? o.read_images(per, o.calib_images) : v.images;
        fb = convert::accuracy_fallback(r.m, v, a.max_top1_loss, report_images, o);
    }
    convert::write_result(r, o);  // errc::output on failure: exit status 4
    print_summary(r, o);
    if (fb) print_fallback(*fb, a.max_top1_loss);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Converts an ONNX or TFLite image classifier to a qint8 manifest (JSON) and weights file (.q8w).\n"
                 "QAT models (ONNX QuantizeLinear/DequantizeLinear pairs or QOperator QLinearConv/..., uint8/int8 TFLite files) keep their trained\n"
                 "quantization; FP32 models are calibrated on --calib-data for INT8, or written all-FP32 with --precision fp32.\n"
                 "BatchNorm, Relu/Clip and residual Adds are fused; MobileNet-V1/V2, ResNet-50/101 and VGG-16/19 are\n"
                 "recognised and named as qint8's templates, so qint8::load<T> accepts them. docs/converter.md has the guide.",
                 "qint8-convert");
    conventions(app, "qint8-convert --input resnet50.onnx --calib-data calib.bin --output out/resnet50.json --mean 0.485,0.456,0.406 "
                     "--std 0.229,0.224,0.225 --resize-short 256");
    convert_args a;
    declare_sources(app, a);
    declare_quantization(app, a);
    return run(app, argc, argv, [&] {
        try {
            convert_model(a);
        } catch (const qint8::error& e) {  // the same error, in the command line's words
            const std::string what = e.what(), message = what.substr(what.find("] ") + 2);
            throw qint8::error(e.code(), in_flags(message));
        }
    });
}
