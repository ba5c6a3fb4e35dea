// qint8-convert: an ONNX image classifier (FP32, or QAT with QuantizeLinear/DequantizeLinear
// pairs) or a TFLite one (float, or uint8/int8 quantized) to a qint8 manifest + weights file.
//   qint8-convert --input model.onnx --output out/model.json --calib-data calib.bin
//   qint8-convert --input model_qat.onnx --output out/model.json --report --calib-data test.bin

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/progress.hpp"
#include "convert/accuracy_fallback.hpp"
#include "convert/convert.hpp"

using namespace qint8;
using namespace qint8::tools;

namespace {

void print_report(const std::vector<convert::report_row>& rows) {
    std::printf("\nper-layer INT8 vs FP32 (worst first):\n%-40s %-18s %-5s %10s %12s %12s\n", "layer", "op", "prec", "cosine", "max abs err", "max |fp32|");
    for (const auto& r : rows)
        std::printf("%-40s %-18s %-5s %10.6f %12.5g %12.5g\n", r.layer.c_str(), r.op.c_str(), r.prec.c_str(), r.cosine, r.max_abs, r.max_ref);
}

}  // namespace

int main(int argc, char** argv) {
    cli c("qint8-convert",
          "Converts an ONNX or TFLite image classifier to a qint8 manifest (JSON) and weights file (.q8w).\n"
          "QAT models (ONNX QuantizeLinear/DequantizeLinear pairs, uint8/int8 TFLite files) keep their trained\n"
          "quantization (the trained weight integers are kept as s8 per output channel where they fit); FP32 models\n"
          "are calibrated on --calib-data for INT8, or written all-FP32 with --precision fp32. BatchNorm,\n"
          "Relu/Clip and residual Adds are fused; MobileNet-V1/V2, ResNet-50/101 and VGG-16/19 are recognised\n"
          "and named as qint8's templates, so qint8::load<T> accepts them.");
    c.option("input", "", "model to convert: .onnx, or .tflite (recognised by content)", {"model", "onnx"})
        .option("output", "", "manifest to write (PATH.json; PATH.q8w goes beside it; the directory is created)")
        .option("arch", "", "require a family: mobilenet_v1, mobilenet_v2, resnet50, resnet101, vgg16, vgg19, or custom (no recognition)")
        .option("calib-data", "", "calibration images: a data file from qint8-preprocess (int64 N, N float32 CHW images, N int64 labels)",
                {"calib_data", "infer_data"})
        .option("calib-images", "500", "use at most this many calibration images", {"calib_images", "warmup_batch_size"})
        .option("calib-method", "abs_max", "abs_max | kl | percentile[=99.99]", {"calib_method", "algo"})
        .option("quantized-ops", "all", "op kinds computed in INT8: conv2d,depthwise_conv2d,fc,pool2d,add (others are FP32)", {"quantized_ops"})
        .option("fp32-layers", "", "layers kept in FP32 (converted names, or the source's node / output tensor names), comma-separated", {"fp32_layers"})
        .option("precision", "int8", "int8, or fp32 for an all-FP32 manifest of the same model")
        .option("weights", "auto", "s8 (s8 + per-channel scales in the file), f32 (quantized per channel at load), or auto: s8 for quantized sources converted to INT8, else f32")
        .option("labels", "", "label file (one class per line) to copy beside the manifest")
        .option("mean", "", "input.preprocess mean, per channel (one value: all channels)")
        .option("std", "", "input.preprocess std, per channel (one value: all channels)")
        .option("resize-short", "", "input.preprocess resize_short (0: no resize)")
        .option("crop-fraction", "", "input.preprocess crop_fraction (0: none)")
        .flag("bias-correction", "calibrated models: on by default (this flag only makes it explicit); see --no-bias-correction")
        .flag("no-bias-correction", "calibrated models: skip the default bias correction. By default each int8 conv/fc layer gets an\n"
                                    "INT8-only bias correction (the FP32 path keeps the float bias): its mean per-channel INT8-vs-FP32 error\n"
                                    "on the calibration images, measured layer by layer on this machine's INT8 code path (recorded in the\n"
                                    "manifest). Rounding noise that ReLU/ReLU6 turn into a shift of each channel's mean is\n"
                                    "what post-training INT8 loses most: float MobileNet-V1 0.25/224, ImageNet samples: 7 pt without the\n"
                                    "correction, about 1 with it (docs/accuracy.md)")
        .option("accuracy-data", "", "labelled data file (qint8-preprocess) for the accuracy-aware fallback: top-1 is measured in FP32 and\n"
                                     "INT8 on it, and while INT8 loses more than --max-top1-loss the layer adding the most error (per-layer\n"
                                     "report on the calibration images) moves to FP32, one at a time")
        .option("accuracy-images", "1000000", "use at most this many images of --accuracy-data")
        .option("max-top1-loss", "0.5", "with --accuracy-data: the largest INT8 top-1 loss against FP32 to accept, in points")
        .flag("report", "print each layer's INT8-vs-FP32 error (cosine, max abs) on the calibration images, worst first")
        .flag("quiet", "no notes or progress on stderr");
    try {
        c.parse(argc, argv);
        convert::options o;
        o.input = c.str("input");
        o.output = c.str("output");
        if (o.input.empty() || o.output.empty()) throw std::invalid_argument("--input and --output are required (see --help)");
        o.arch = c.str("arch");
        o.calib_data = c.str("calib-data");
        o.calib_images = static_cast<std::size_t>(c.integer("calib-images", 1, 1000000));
        try {
            convert::parse_method(c.str("calib-method"), o);
        } catch (const qint8::error& e) {
            throw std::invalid_argument(e.what());  // a usage error: exit status 2 like the others
        }
        o.quantized_ops = c.list("quantized-ops");
        o.fp32_layers = c.list("fp32-layers");
        const std::string prec = c.str("precision");
        if (prec != "int8" && prec != "fp32") throw std::invalid_argument("--precision: expected int8 or fp32, found \"" + prec + "\"");
        o.fp32 = prec == "fp32";
        const std::string w = c.str("weights");
        if (w != "f32" && w != "s8" && w != "auto") throw std::invalid_argument("--weights: expected auto, f32 or s8, found \"" + w + "\"");
        if (w != "auto") o.weights_s8 = w == "s8";
        o.report = c.on("report");
        if (c.on("bias-correction") && c.on("no-bias-correction")) throw std::invalid_argument("--bias-correction and --no-bias-correction contradict each other");
        if (c.on("bias-correction")) o.bias_correction = true;
        if (c.on("no-bias-correction")) o.bias_correction = false;
        o.labels = c.str("labels");
        o.mean = c.floats("mean");
        o.std = c.floats("std");
        if (!c.str("resize-short").empty()) o.resize_short = c.integer("resize-short", 0, 65536);
        if (!c.str("crop-fraction").empty()) {
            o.crop_fraction = c.number("crop-fraction");
            if (!(o.crop_fraction >= 0 && o.crop_fraction <= 1)) throw std::invalid_argument("--crop-fraction: expected a number in 0..1");
        }
        if (o.fp32 && c.given("calib-data") && !o.report) std::fprintf(stderr, "qint8-convert: note: --calib-data is not used with --precision fp32\n");
        const bool quiet = c.on("quiet");
        if (!quiet) o.note = [](const std::string& s) { std::fprintf(stderr, "qint8-convert: %s\n", s.c_str()); };
        std::unique_ptr<progress> bar;
        std::size_t last = 0;
        if (!quiet)
            o.progress = [&](std::size_t done, std::size_t total) {
                if (!bar || done < last) bar = std::make_unique<progress>("images", total);
                bar->tick(done - last);
                last = done;
                if (done == total) {
                    bar->done();
                    bar.reset();
                    last = 0;
                }
            };

        if (!quiet) std::fprintf(stderr, "qint8-convert: reading %s\n", o.input.c_str());
        const std::string accuracy_data = c.str("accuracy-data");
        const double max_loss = c.number("max-top1-loss");
        if (!(max_loss >= 0)) throw std::invalid_argument("--max-top1-loss: expected a number of points >= 0");
        if (!accuracy_data.empty() && o.fp32) throw std::invalid_argument("--accuracy-data chooses INT8 layers; it does not apply to --precision fp32");
        convert::result r;
        std::optional<convert::fallback_result> fb;
        if (accuracy_data.empty()) {
            r = convert::run(o);
        } else {
            if (std::filesystem::path(o.output).extension() != ".json")
                throw std::invalid_argument("--output: expected a path ending in .json, found \"" + o.output + "\"");
            r = convert::convert_graph(convert::load_source(o.input), o);
            const std::size_t per = static_cast<std::size_t>(r.m.input.shape[0] * r.m.input.shape[1] * r.m.input.shape[2]);
            const convert::labelled_images v = convert::read_labelled(accuracy_data, per, static_cast<std::size_t>(c.integer("accuracy-images", 1, 1000000000)));
            const std::vector<float> report_images = convert::detail_conv::have_images(o) ? convert::detail_conv::load_images(o, per) : v.images;
            fb = convert::accuracy_fallback(r.m, v, max_loss, report_images, o);
            convert::write_result(r, o);
        }

        std::size_t int8 = 0;
        for (const auto& l : r.m.layers) int8 += l.prec == precision::int8;
        std::printf("converted:    %s -> %s\n", o.input.c_str(), o.output.c_str());
        std::printf("model:        %s%s, %zu layers (%zu int8), input %s, %lld outputs\n", r.family.c_str(),
                    r.m.variant.empty() ? "" : (" (" + r.m.variant + ")").c_str(), r.m.layers.size(), int8,
                    qint8::detail::shape_str(r.m.input.shape).c_str(), static_cast<long long>(r.m.classes.count));
        std::printf("quantization: %s%s%s\n", o.fp32 ? "none (fp32)" : r.qat ? "from the model (QDQ pairs / quantized tensors)" : "calibrated",
                    r.calibrated && r.qat ? (", " + std::to_string(r.calibrated) + " tensors calibrated").c_str() : "",
                    r.bias_corrected ? (", biases of " + std::to_string(r.bias_corrected) + " layers corrected").c_str() : "");
        if (r.family == "custom" && !r.mismatch.empty())
            std::fprintf(stderr, "qint8-convert: warning: not recognised as one of qint8's topologies (architecture \"custom\"); closest: %s\n", r.mismatch.c_str());
        if (o.report) print_report(r.report);
        if (fb) {
            std::printf("accuracy:     FP32 top-1 %.2f, INT8 %.2f before the fallback, %.2f after (budget %.2f pt%s)\n", fb->top1_fp32,
                        fb->steps.front().top1_int8, fb->steps.back().top1_int8, max_loss, fb->within_budget ? "" : ", NOT reached");
            for (std::size_t k = 1; k < fb->steps.size(); ++k)
                std::printf("  moved to FP32: %-40s INT8 top-1 %.2f\n", fb->steps[k].moved.c_str(), fb->steps[k].top1_int8);
            if (fb->steps.size() > 1) std::printf("speed cost: measure with bench_models --manifest=%s\n", o.output.c_str());
        }
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "qint8-convert: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qint8-convert: %s\n", e.what());
        return 1;
    }
    return 0;
}
