#pragma once
/// @file convert.hpp  The conversion pipeline (qint8::convert; qint8-convert is a thin command
/// line around it):
//
//   front end (source.hpp: tflite/, onnx/)  ->  graph passes 1-4 (passes.hpp)  ->  lowering 5-7
//   ->  recognition (recognize.hpp)  ->  per-layer precision  ->  activation quantization from
//   the graph (QAT) and/or calibration (qint8/calibrate.hpp)  ->  optional INT8-vs-FP32 report
//   ->  manifest + weights, written atomically.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <qint8/calibrate.hpp>
#include <qint8/io/manifest.hpp>
#include <qint8/session.hpp>
#include <qint8/version.hpp>

#include <qint8/convert/bias_correction_step.hpp>
#include <qint8/convert/import_graph.hpp>
#include <qint8/convert/passes.hpp>
#include <qint8/convert/recognize.hpp>
#include <qint8/convert/reference_correction.hpp>
#include <qint8/convert/source.hpp>

namespace qint8::convert {

/// Calibration images on demand: given the model's floats per image and the most images wanted,
/// returns up to that many images (n x image_floats floats, preprocessed as the model expects).
using image_loader = std::function<std::vector<float>(std::size_t image_floats, std::size_t max_images)>;

/// What a conversion does. Messages that concern an option name it as "options.<field>".
struct options {
    std::string input;   ///< the source model (.onnx, or .tflite: recognised by its content)
    std::string output;  ///< the manifest to write (.json); the weights go beside it
    std::string arch;    ///< "": recognise; a family name: require it; "custom": do not recognise
    /// Calibration images, in memory: n x C x H x W floats, preprocessed as the model expects.
    const std::vector<float>* images = nullptr;
    /// Or on demand (e.g. streamed from a file): called when images are first needed, with the
    /// model's floats per image and the most images wanted; returns up to that many images.
    image_loader read_images;
    std::size_t calib_images = 500;          ///< at most this many calibration images
    calibration_method method = calibration_method::abs_max;
    double percentile = 99.99;
    std::vector<std::string> quantized_ops;  ///< op kinds computed in int8 (empty: all)
    std::vector<std::string> fp32_layers;    ///< layers kept in fp32 (final or source names)
    bool fp32 = false;                       ///< an all-fp32 manifest
    /// s8 weights + per-channel scales, or f32 (quantized when the model loads). Default: s8 when
    /// the source is quantized and the output is INT8 (the trained integers are kept exactly where
    /// they fit), else f32.
    std::optional<bool> weights_s8;
    /// Fuse a residual Add into the conv/gemm of its branch even where the file rounds that
    /// branch to its own quantization before the Add (QDQ, quantized TFLite): one layer instead
    /// of two, but the branch is added unrounded. Off: the file's arithmetic (docs/converter.md).
    bool fuse_residual_rounding = false;
    /// How INT8 layers requantize: "" (the file's: TFLite's integer arithmetic for a quantized
    /// TFLite file, float scales otherwise), "tflite" or "float". "float" on a quantized TFLite file
    /// trades TFLite's integers for speed (a departure; docs/converter.md has the cost).
    std::string requantization;
    bool report = false;                     ///< per-layer INT8-vs-FP32 error table
    /// After calibration: give each int8 conv/fc layer an INT8-only bias correction equal to the
    /// mean per-channel error of its INT8 output against FP32 on the calibration images, divided by
    /// the share of its outputs in the activation's linear region (layer by layer, in order, on this
    /// machine's INT8 code path, which the manifest records), removing the systematic part of the
    /// quantization error. For calibrated (not QAT) models, where it is
    /// the default (unset: on when calibrating, off otherwise; docs/accuracy.md has why). On the
    /// float MobileNet-V1 0.25 (ImageNet samples, AVX2) post-training INT8 loses 5.8 pt without it.
    std::optional<bool> bias_correction;
    std::size_t bias_correction_images = 200;
    std::string labels;                      ///< label file to copy beside the manifest
    std::vector<float> mean, std;            ///< input.preprocess (empty: defaults)
    int64_t resize_short = -1;               ///< -1: default
    double crop_fraction = -1;               ///< -1: default
    note_fn note;                            ///< warnings and notes (may be empty)
    std::function<void(std::size_t, std::size_t)> progress;  ///< progress of calibration and report (images), bias correction (layers)
    /// Progress naming its phase ("calibration images", "bias correction layers", "report
    /// images"): the count restarts with each phase. When set, it is called instead of `progress`.
    std::function<void(const std::string& phase, std::size_t done, std::size_t total)> phase_progress;
};

/// One row of the INT8-vs-FP32 report: the layer's output in the INT8 model against the same
/// layer in the FP32 model, over all report images.
struct report_row {
    std::string layer, op, prec;
    double cosine = 1, max_abs = 0, max_ref = 0;
};

struct result {
    model_desc m;
    std::string family = "custom";
    std::string mismatch;             ///< when custom: why the closest family did not fit
    bool qat = false;                 ///< the source carried its own quantization (QDQ pairs, quantized TFLite tensors)
    std::size_t calibrated = 0;       ///< tensors whose quantization calibration set
    std::size_t calibration_images = 0;
    std::vector<report_row> report;   ///< worst first
    std::size_t bias_corrected = 0;   ///< layers whose bias the bias correction shifted
};

/// "abs_max", "mse", "kl", "percentile" or "percentile=99.9".
inline void parse_method(const std::string& s, options& o) {
    if (s == "abs_max" || s == "absmax") o.method = calibration_method::abs_max;
    else if (s == "kl") o.method = calibration_method::kl;
    else if (s == "mse") o.method = calibration_method::mse;
    else if (s.rfind("percentile", 0) == 0) {
        o.method = calibration_method::percentile;
        if (s.size() > 10) {
            char* end = nullptr;
            const std::string v = s.substr(s[10] == '=' ? 11 : 10);
            o.percentile = std::strtod(v.c_str(), &end);
            if (s[10] != '=' || v.empty() || *end || !(o.percentile > 0 && o.percentile <= 100))
                detail::fail(errc::invalid_argument, "options.method: expected percentile=P with P in (0, 100], found \"" + s + "\"");
        }
    } else {
        detail::fail(errc::invalid_argument, "options.method: expected abs_max, mse, kl or percentile[=P], found \"" + s + "\"");
    }
}

/// Floats per input image of `m` (C x H x W): the size calibration and report images must have.
inline std::size_t image_floats(const model_desc& m) {
    return static_cast<std::size_t>(m.input.shape[0] * m.input.shape[1] * m.input.shape[2]);
}

namespace detail_conv {

inline void say(const options& o, const std::string& s) {
    if (o.note) o.note(s);
}

/// Progress of `phase`, to whichever callback the caller gave.
inline void tick(const options& o, const char* phase, std::size_t done, std::size_t total) {
    if (o.phase_progress) o.phase_progress(phase, done, total);
    else if (o.progress) o.progress(done, total);
}

/// The source's name in messages: the path it was read from, else what the front end called it.
inline std::string origin_of(const options& o, const import_graph& g) { return o.input.empty() ? g.origin : o.input; }

/// The mean and std (of [0, 1] pixels) under which raw 8-bit pixels are exactly the codes of a
/// quantized input: a quantized TFLite classifier takes the camera's bytes as they are.
inline bool pixels_of_quantized_input(const import_graph& g, float& mean, float& std) {
    auto it = g.act_quant.find(g.input);
    if (!g.quantized || it == g.act_quant.end() || !it->second.per_tensor()) return false;
    const quantization& q = it->second;
    const double lo = q.type == dtype::u8 ? 0 : -128, z = q.zp(0), s = q.sc(0);
    const double real_min = (lo - z) * s, real_max = (lo + 255 - z) * s;  // pixel 0 and pixel 255
    if (!(real_max > real_min)) return false;
    std = static_cast<float>(1.0 / (real_max - real_min));
    mean = static_cast<float>(-real_min / (real_max - real_min));
    return true;
}

/// input.preprocess: what the user gave, else what the model itself proves, else "unknown".
/// An ONNX or float TFLite file does not say how its pixels were prepared; recording ImageNet's
/// numbers for it would make classify confidently wrong (a Fashion-MNIST model read a pullover
/// as a bag), so the manifest says it does not know and image tools ask for the values.
inline void record_preprocess(model_desc& m, const import_graph& g, const options& o) {
    auto& pp = m.input.preprocess;
    const std::size_t ch = static_cast<std::size_t>(m.input.shape[0]);
    const bool given = !o.mean.empty() || !o.std.empty() || o.resize_short >= 0 || o.crop_fraction >= 0;
    float mean = 0, std = 1;
    const bool from_input = g.format == "tflite" && pixels_of_quantized_input(g, mean, std);
    if (!given && !from_input) {
        pp = preprocess_desc{};
        pp.known = false;
        say(o, "note: " + g.format + " files do not record how pixels are prepared: input.preprocess is written as unknown "
                   "(set options.mean and options.std, and options.resize_short or options.crop_fraction, to record it; classify asks for them until then)");
        return;
    }
    pp.known = true;
    pp.resize_short = 0;
    pp.crop_fraction = 0;
    if (from_input) {
        pp.mean.assign(ch, mean);
        pp.std.assign(ch, std);
        pp.crop_fraction = 0.875;  // TF-slim / Keras evaluation crop; the quantization says nothing about it
        if (!given)
            say(o, "note: preprocessing from the input quantization (raw 8-bit pixels): mean " + std::to_string(mean) + ", std " +
                       std::to_string(std) + "; centre crop 0.875 of the short side is the TF-slim convention (override with options.mean, "
                       "options.std, options.resize_short, options.crop_fraction)");
    } else if (o.mean.empty() || o.std.empty()) {
        detail::fail(errc::invalid_argument, "options.mean and options.std: both are needed to record the preprocessing of " + origin_of(o, g));
    }
    if (!o.mean.empty()) pp.mean.assign(ch, o.mean[0]);
    if (!o.std.empty()) pp.std.assign(ch, o.std[0]);
    if (o.mean.size() > 1) pp.mean = o.mean;
    if (o.std.size() > 1) pp.std = o.std;
    if (pp.mean.size() != ch || pp.std.size() != ch)
        detail::fail(errc::invalid_argument, "options.mean and options.std: expected 1 or " + std::to_string(ch) + " values (one per input channel)");
    if (o.resize_short >= 0) pp.resize_short = o.resize_short;
    if (o.crop_fraction >= 0) pp.crop_fraction = o.crop_fraction;
}

inline bool is_pool(op k) { return k == op::max_pool2d || k == op::avg_pool2d || k == op::global_avg_pool2d; }

/// The op kinds the names in options.quantized_ops select.
inline std::set<op> parse_quantized_ops(const std::vector<std::string>& names) {
    std::set<op> s;
    if (names.empty()) return {op::conv2d, op::depthwise_conv2d, op::fc, op::max_pool2d, op::avg_pool2d, op::global_avg_pool2d, op::add};
    for (const auto& n : names) {
        if (n == "all") return parse_quantized_ops({});
        if (n == "conv2d") s.insert(op::conv2d);
        else if (n == "depthwise_conv2d") s.insert(op::depthwise_conv2d);
        else if (n == "fc") s.insert(op::fc);
        else if (n == "pool2d") s.insert({op::max_pool2d, op::avg_pool2d, op::global_avg_pool2d});
        else if (n == "add" || n == "elementwise_add") s.insert(op::add);
        else detail::fail(errc::invalid_argument, "options.quantized_ops: expected a list of conv2d, depthwise_conv2d, fc, pool2d, add (or all), found \"" + n + "\"");
    }
    return s;
}

/// Each tensor's quantization as the runtime will see it (pools without their own inherit).
inline std::map<std::string, std::optional<quant_params>> effective_acts(const model_desc& m) {
    std::map<std::string, std::optional<quant_params>> a{{m.input.name, m.input.act}};
    for (const auto& l : m.layers) a[l.name] = l.act || !is_pool(l.kind) ? l.act : a[l.inputs[0]];
    return a;
}

/// Tensors an int8 layer reads that have no quantization, with one reader each.
inline std::vector<std::pair<std::string, std::string>> unquantized_reads(const model_desc& m) {
    const auto a = effective_acts(m);
    std::vector<std::pair<std::string, std::string>> r;
    std::set<std::string> seen;
    for (const auto& l : m.layers) {
        if (l.prec != precision::int8 || l.kind == op::softmax) continue;
        std::vector<std::string> reads = l.inputs;
        // A residual summed into a real output is added as it is, unrounded, as the file adds
        // it; into an 8-bit output it is stored on that grid first, so it needs a quantization.
        for (const auto& p : l.post_ops)
            if (p.kind == post_op::sum && l.act) reads.push_back(p.input);
        for (const auto& t : reads)
            if (!a.at(t) && seen.insert(t).second) r.emplace_back(t, l.name);
    }
    return r;
}

/// The calibration images: o.images, or what o.read_images returns; at most o.calib_images.
inline std::vector<float> load_images(const options& o, std::size_t image_floats) {
    if (o.images) {
        if (o.images->empty() || o.images->size() % image_floats)
            detail::fail(errc::invalid_argument, "calibration images: expected a multiple of " + std::to_string(image_floats) + " floats, found " +
                                                     std::to_string(o.images->size()));
        const std::size_t n = std::min(o.images->size() / image_floats, o.calib_images);
        return {o.images->begin(), o.images->begin() + static_cast<std::ptrdiff_t>(n * image_floats)};
    }
    std::vector<float> v = o.read_images(image_floats, o.calib_images);
    if (v.empty() || v.size() % image_floats || v.size() / image_floats > o.calib_images)
        detail::fail(errc::invalid_argument, "calibration images (options.read_images): expected 1 to " + std::to_string(o.calib_images) + " images of " +
                                                 std::to_string(image_floats) + " floats, found " + std::to_string(v.size()) + " floats");
    return v;
}

inline bool have_images(const options& o) { return o.images != nullptr || static_cast<bool>(o.read_images); }

/// Per-channel output statistics (channel_stats) of every listed layer over `n` images.
inline std::map<std::string, channel_stats> layer_channel_stats(const model& net, const std::vector<std::string>& layers, const model_desc& m, const float* images,
                                                          std::size_t n, int64_t batch) {
    session s(net);
    const std::size_t per = net.input_size();
    std::map<std::string, channel_stats> st;
    std::vector<float> buf(per * static_cast<std::size_t>(batch)), out(net.output_size() * static_cast<std::size_t>(batch));
    for (std::size_t first = 0; first + static_cast<std::size_t>(batch) <= n; first += static_cast<std::size_t>(batch)) {
        std::copy(images + first * per, images + (first + static_cast<std::size_t>(batch)) * per, buf.begin());
        s.run(buf.data(), out.data());
        for (const auto& name : layers) {
            const layer& l = *m.find_layer(name);
            const bool int8 = l.act && !net.fp32() && l.prec == precision::int8;
            add_output(st[name], s.read(name), static_cast<std::size_t>(batch), l, int8);
        }
    }
    return st;
}

/// One pass of the post-training bias correction: layer by layer, in order, each of `targets`
/// gets `name_of(layer)` = (FP32 mean - INT8 mean of its output) per channel, divided by the share
/// of its INT8 outputs inside the activation's linear region (bias_correction_step.hpp: the bias
/// step that moves a ReLU/ReLU6 output mean by that much), with the corrections of the layers
/// before it already in place. `ci` says which weights the INT8 model uses. Returns the path.
template <class NameOf>
std::string correction_pass(model_desc& m, const std::vector<std::string>& targets, const std::map<std::string, channel_stats>& want,
                            const std::vector<float>& images, std::size_t n, const compile_options& ci, const NameOf& name_of, const options& o,
                            const char* phase) {
    std::string path;
    if (!targets.empty()) tick(o, phase, 0, targets.size());  // about a second per layer of ResNet-50: said, not silent
    for (const auto& name : targets) {
        const layer& l = *m.find_layer(name);
        // Measured without a correction of its own (the second pass would otherwise find the
        // first's, which its tensor replaces rather than adds to).
        m.tensors[name_of(name)] = models::detail::owned_tensor(dtype::f32, {l.out_channels}, std::vector<float>(static_cast<std::size_t>(l.out_channels), 0.f));
        const model net(m, ci, "bias correction (int8)");
        path = to_string(net.code_path());
        const channel_stats got = layer_channel_stats(net, {name}, m, images.data(), n, ci.batch).at(name);
        m.tensors[name_of(name)] = models::detail::owned_tensor(dtype::f32, {l.out_channels}, bias_steps(want.at(name), got));
        tick(o, phase, static_cast<std::size_t>(&name - targets.data()) + 1, targets.size());
    }
    return path;
}

/// Post-training bias correction (see options::bias_correction): `<layer>.bias.int8_correction`
/// for every int8 conv/fc layer (correction_pass); the FP32 bias stays as it is. The INT8 means
/// come from this machine's code path, which computes the exact integer result of the weights it
/// uses. With VNNI or AMX those are 8-bit, and a second pass measures the pair-safe weights of
/// the paths without VNNI (compile_options::pair_safe_weights: the same integers the avx2 path
/// computes) into `<layer>.bias.int8_correction.pair_safe`, which those paths take instead, so the
/// manifest is corrected for both. Without VNNI this machine's path measures the pair-safe
/// weights, and the 8-bit ones are measured in the naive reference instead
/// (reference_correction.hpp: one walk over the layers, on at most as many images as
/// reference_correction_bytes holds), so a manifest converted on any machine carries both.
/// The manifest records how (attributes "int8_bias_correction" and
/// "int8_bias_correction_weights"). Returns the layers corrected.
inline std::size_t correct_biases(model_desc& m, const std::vector<float>& images, const options& o) {
    const std::size_t per = image_floats(m);
    const int64_t batch = 10;
    const std::size_t n = std::min(images.size() / per, o.bias_correction_images) / static_cast<std::size_t>(batch) * static_cast<std::size_t>(batch);
    if (n == 0) return 0;
    std::vector<std::string> targets;
    for (const auto& l : m.layers)
        if ((l.kind == op::conv2d || l.kind == op::depthwise_conv2d || l.kind == op::fc) && l.prec == precision::int8) targets.push_back(l.name);
    compile_options cf, ci;
    cf.batch = ci.batch = batch;
    cf.keep_intermediates = ci.keep_intermediates = true;  // layer outputs are read back
    cf.force_fp32 = true;
    const auto want = layer_channel_stats(model(m, cf, "bias correction (fp32)"), targets, m, images.data(), n, batch);
    const std::string scheme = "u8 conv/fc weights: per channel up to 8 bits where int16 pair sums cannot saturate, else at least 7";
    if (cpu_info().u8_weight_bits == 8) {
        const std::string path = correction_pass(m, targets, want, images, n, ci, int8_bias_correction_name, o, "bias correction layers");
        ci.pair_safe_weights = true;
        correction_pass(m, targets, want, images, n, ci, int8_bias_correction_pair_safe_name, o, "bias correction layers (pair-safe weights)");
        m.attributes["int8_bias_correction"] = "measured on the " + path + " code path (8-bit weights; and, for the paths without VNNI, with their " +
                                               scheme + "), " + std::to_string(n) + " calibration images";
    } else {
        const std::string path = correction_pass(m, targets, want, images, n, ci, int8_bias_correction_pair_safe_name, o, "bias correction layers (pair-safe weights)");
        const std::size_t nr = reference_correction_images(m, n, static_cast<std::size_t>(batch));
        if (nr < n)
            say(o, "note: bias correction of the 8-bit weights (VNNI and AMX paths) in the naive reference: on " + std::to_string(nr) + " of the " +
                       std::to_string(n) + " images (their tensors in 2 GiB)");
        const auto want_r = nr == n ? want : layer_channel_stats(model(m, cf, "bias correction (fp32)"), targets, m, images.data(), nr, batch);
        reference_correction_pass(m, targets, want_r, images.data(), nr,
                                  [&](std::size_t done, std::size_t total) { tick(o, "bias correction layers (8-bit weights, reference)", done, total); });
        m.attributes["int8_bias_correction"] = "measured on the " + path + " code path (" + scheme + "), " + std::to_string(n) +
                                               " calibration images; for the VNNI and AMX paths (8-bit weights) in the naive reference, " +
                                               std::to_string(nr) + " images";
    }
    m.attributes["int8_bias_correction_weights"] = "8-bit, pair-safe";
    return targets.size();
}

/// Per-layer INT8-vs-FP32 error: both models run the same images; every layer's output is
/// read back (qint8::session::read) and compared.
inline std::vector<report_row> make_report(const model_desc& m, const std::vector<float>& images, const options& o) {
    const std::size_t per = image_floats(m);
    const std::size_t n = images.size() / per;
    const int64_t batch = static_cast<int64_t>(std::min<std::size_t>(n, 16));
    compile_options ci, cf;
    ci.batch = cf.batch = batch;
    ci.keep_intermediates = cf.keep_intermediates = true;  // every layer's output is read back
    cf.force_fp32 = true;
    model mi(m, ci, "report (int8)"), mf(m, cf, "report (fp32)");
    session si(mi), sf(mf);
    struct acc { double dot = 0, a2 = 0, b2 = 0, max_abs = 0, max_ref = 0; };
    std::map<std::string, acc> st;
    std::vector<float> buf(per * static_cast<std::size_t>(batch)), out_i(mi.output_size() * static_cast<std::size_t>(batch)), out_f(out_i.size());
    for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(batch)) {
        const std::size_t cnt = std::min<std::size_t>(static_cast<std::size_t>(batch), n - first);
        std::fill(buf.begin(), buf.end(), 0.f);
        std::copy(images.begin() + static_cast<std::ptrdiff_t>(first * per), images.begin() + static_cast<std::ptrdiff_t>((first + cnt) * per), buf.begin());
        si.run(buf.data(), out_i.data());
        sf.run(buf.data(), out_f.data());
        for (const auto& l : m.layers) {
            const std::vector<float> a = si.read(l.name), b = sf.read(l.name);
            acc& s = st[l.name];
            const std::size_t used = a.size() / static_cast<std::size_t>(batch) * cnt;  // skip the padding images of a short batch
            for (std::size_t k = 0; k < used; ++k) {
                s.dot += double(a[k]) * b[k];
                s.a2 += double(a[k]) * a[k];
                s.b2 += double(b[k]) * b[k];
                s.max_abs = std::max(s.max_abs, std::fabs(double(a[k]) - b[k]));
                s.max_ref = std::max(s.max_ref, std::fabs(double(b[k])));
            }
        }
        tick(o, "report images", first + cnt, n);
    }
    std::vector<report_row> rows;
    for (const auto& l : m.layers) {
        const acc& s = st[l.name];
        report_row r;
        r.layer = l.name;
        r.op = to_string(l.kind);
        r.prec = to_string(l.prec);
        r.cosine = (s.a2 > 0 && s.b2 > 0) ? s.dot / std::sqrt(s.a2 * s.b2) : (s.a2 == s.b2 ? 1.0 : 0.0);
        r.max_abs = s.max_abs;
        r.max_ref = s.max_ref;
        rows.push_back(r);
    }
    std::stable_sort(rows.begin(), rows.end(), [](const report_row& a, const report_row& b) { return a.cosine < b.cosine; });
    return rows;
}

}  // namespace detail_conv

namespace detail_conv {

/// The lowered model after recognition, with the names the user may give in options.fp32_layers.
struct named_model {
    model_desc m;
    std::map<std::string, std::string> name_of;  ///< any name a layer had (source node, tensor, final) -> final name
    std::set<std::string> quantized_by_graph;    ///< tensors whose quantization the source itself gives (QAT)
    std::vector<std::pair<std::string, std::string>> departures;  ///< lowering's departures, by the layer's name then
};

/// Lowers the graph and recognises its family. Recognition renames layers, so every earlier name
/// of a layer is remembered for options.fp32_layers.
inline named_model lower_and_recognize(const import_graph& g, const options& o, result& res) {
    lower_options lo;
    lo.weights_s8 = o.weights_s8.value_or(res.qat && !o.fp32);
    lowered lw = lower(g, lo, o.note);
    named_model nm{std::move(lw.m), {}, lw.quantized_by_graph, lw.departures};
    for (const auto& [layer_name, sources] : lw.origin) {
        nm.name_of[layer_name] = layer_name;
        for (const auto& s : sources) nm.name_of[s] = layer_name;
    }
    const recognition rec = recognize(nm.m, o.arch, origin_of(o, g));
    res.family = rec.family;
    res.mismatch = rec.mismatch;
    if (rec.family != "custom") {
        for (auto& [k, v] : nm.name_of) v = rec.renamed.at(v);
        std::set<std::string> q;
        for (const auto& t : nm.quantized_by_graph) q.insert(rec.renamed.count(t) ? rec.renamed.at(t) : t);
        nm.quantized_by_graph = q;
    }
    for (const auto& l : nm.m.layers) nm.name_of[l.name] = l.name;
    return nm;
}

/// A place where the manifest computes other than the file: printed, and recorded in the
/// manifest as the attribute "departure.<layer>".
inline void departure(model_desc& m, const std::string& layer_name, const std::string& what, const options& o) {
    std::string& a = m.attributes["departure." + layer_name];
    a += (a.empty() ? "" : "; ") + what;
    say(o, "departure: layer '" + layer_name + "': " + what);
}

inline std::string quant_str(const quant_params& q) {
    return std::string(to_string(q.type)) + " scale " + std::to_string(q.scale) + " zero point " + std::to_string(q.zero_point);
}

/// What the manifest's "requantization" is: the file's integer arithmetic (TFLite's for a quantized
/// TFLite file), or options.requantization; "float" where the file is TFLite's is a departure.
inline requantization requantization_of(model_desc& m, const import_graph& g, bool qat, const options& o) {
    const std::string& r = o.requantization;
    if (!r.empty() && r != "float" && r != "tflite")
        detail::fail(errc::invalid_argument, "options.requantization: expected \"float\", \"tflite\" or empty (the file's), found \"" + r + "\"");
    const bool file_tflite = g.format == "tflite" && qat && !o.fp32;
    if (r == "float" && file_tflite) {
        const std::string what = "INT8 layers requantize with float scales (options.requantization = \"float\"), not with TFLite's "
                                 "fixed-point multipliers and rounding shifts: codes can differ from TFLite's by a step";
        m.attributes["departure.requantization"] = what;
        say(o, "departure: requantization: " + what);
        return requantization::float_scale;
    }
    return (r.empty() ? file_tflite : r == "tflite") ? requantization::tflite : requantization::float_scale;
}

/// Paths without VNNI (avx2, avx512_core) narrow the u8-input conv/fc weight channels whose int16
/// pair sums could saturate (docs/manifest.md, "Code paths"): a departure of those paths, not of
/// the manifest, so it is printed, not recorded. Counted against the file's 8-bit integers with
/// the runtime's own rule (detail::quantize_weights_paired, the compiler's pair geometry).
inline void report_pair_narrowing(const model_desc& m, const options& o) {
    std::map<std::string, std::vector<int64_t>> shape{{m.input.name, m.input.shape}};
    std::map<std::string, quant_params> act;
    if (m.input.act) act[m.input.name] = *m.input.act;
    for (const layer& l : m.layers) {
        shape[l.name] = l.out_shape;
        if (l.act) act[l.name] = *l.act;
        const auto w = m.tensors.find(l.name + ".weight");
        if ((l.kind != op::conv2d && l.kind != op::fc) || l.prec != precision::int8 || w == m.tensors.end() || w->second.type != dtype::s8 ||
            !act.count(l.inputs[0]))
            continue;
        const std::vector<int64_t>& in = shape.at(l.inputs[0]);
        const quant_params& q = act.at(l.inputs[0]);
        const bool fc = l.kind == op::fc;
        detail::pair_geometry pg{in[0] / (fc ? 1 : l.groups), fc ? (in.size() == 3 ? in[1] : 1) : l.kernel[0], fc ? (in.size() == 3 ? in[2] : 1) : l.kernel[1],
                                 detail::max_input_code(m.layers, l.inputs[0], q.scale, q.zero_point + (q.type == dtype::s8 ? 128 : 0))};
        const tensor* ws = m.tensors.count(l.name + ".weight.scales") ? &m.tensors.at(l.name + ".weight.scales") : nullptr;
        const detail::int8_weights full = detail::quantize_weights(w->second, ws, detail::full_range_qmax);
        const detail::int8_weights paired = detail::quantize_weights_paired(w->second, ws, pg);
        std::size_t narrowed = 0;
        for (std::size_t c = 0; c < full.scale.size(); ++c) narrowed += full.scale[c] != paired.scale[c];  // a narrowed channel gets a larger scale
        if (narrowed)
            say(o, "note: layer '" + l.name + "': on paths without VNNI (avx2, avx512_core) " + std::to_string(narrowed) + " of " +
                       std::to_string(full.scale.size()) +
                       " output channels get narrower weights than the file's, whose int16 pair sums could saturate there (VNNI and AMX paths keep them)");
    }
}

/// The graph passes' departures (g.departures, by source node), under the layers' final names.
inline void record_departures(model_desc& m, const import_graph& g, const std::map<std::string, std::string>& name_of, const options& o) {
    for (const auto& [node_name, what] : g.departures) {
        auto it = name_of.find(node_name);
        departure(m, it == name_of.end() ? node_name : it->second, what, o);
    }
}

/// Each layer's precision: INT8 for the chosen op kinds, FP32 for the named layers and softmax.
inline void assign_precisions(model_desc& m, const std::map<std::string, std::string>& name_of, const options& o) {
    const std::set<op> int8_ops = parse_quantized_ops(o.quantized_ops);
    std::set<std::string> fp32_names;
    for (const auto& n : o.fp32_layers) {
        auto it = name_of.find(n);
        if (it == name_of.end()) {
            std::string some;
            for (std::size_t k = 0; k < m.layers.size() && k < 4; ++k) some += (k ? ", '" : "'") + m.layers[k].name + "'";
            detail::fail(errc::invalid_argument, "options.fp32_layers: no layer named '" + n + "' (the converted model's layers are " + some + ", ...)");
        }
        fp32_names.insert(it->second);
    }
    for (auto& l : m.layers) {
        const bool int8 = !o.fp32 && l.kind != op::softmax && int8_ops.count(l.kind) && !fp32_names.count(l.name);
        l.prec = int8 ? precision::int8 : precision::fp32;
        if (l.kind == op::softmax && o.fp32) l.act.reset();  // else the file's Q/DQ after it, if any
    }
}

/// A QAT source without calibration images: the layers that read a tensor the source computes in
/// float (e.g. PyTorch FX puts no fake-quant between a conv and the pool before view()) stay
/// FP32, as there.
inline void keep_float_readers_fp32(model_desc& m, const options& o) {
    for (auto missing = unquantized_reads(m); !missing.empty(); missing = unquantized_reads(m))
        for (const auto& [tensor, reader] : missing)
            for (auto& l : m.layers)
                if (l.name == reader) {
                    l.prec = precision::fp32;
                    say(o, "note: layer '" + reader + "' stays FP32: its input '" + tensor + "' is not quantized in the model (give calibration images, options.images, to quantize it)");
                }
}

/// Tensors INT8 layers read without quantization and no images to calibrate them: an error that
/// says which, and what to give.
[[noreturn]] inline void fail_unquantized(const std::vector<std::pair<std::string, std::string>>& missing, const import_graph& g, const options& o, bool qat) {
    const std::string first = "'" + missing[0].first + "' (read by int8 layer '" + missing[0].second + "')";
    if (!qat)
        detail::fail(errc::invalid_argument, origin_of(o, g) + ": the model has no quantization (" + (g.format == "tflite" ? std::string("float tensors") : std::string("no QuantizeLinear/DequantizeLinear")) + "): INT8 needs "
                                                           "calibration images (options.images), or convert it with options.fp32");
    detail::fail(errc::invalid_argument, origin_of(o, g) + ": " + std::to_string(missing.size()) + " tensor(s) read by int8 layers have no quantization in the model, first " +
                                             first + ": give calibration images (options.images) to calibrate them, or keep their readers fp32 (options.fp32_layers)");
}

/// Is tensor `name` read by an INT8 layer (other than a softmax, which reads real values),
/// directly or through pools (which pass their input's quantization on)?
inline bool read_by_int8(const model_desc& m, const std::string& name) { return qint8::detail::read_by_int8(m, name); }

/// Calibrates on `images` and takes calibration's quantization for every tensor the graph does
/// not quantize itself. Pools without their own quantization inherit their input's (they do not
/// change the range).
inline void take_calibration(model_desc& m, const std::set<std::string>& graph_q, const std::vector<float>& images, const options& o, result& res) {
    const std::size_t per = image_floats(m);
    res.calibration_images = images.size() / per;
    calibration_options co;
    co.method = o.method;
    co.percentile = o.percentile;
    if (o.phase_progress || o.progress) co.progress = [&o](std::size_t done, std::size_t total) { tick(o, "calibration images", done, total); };
    model_desc c = m;
    calibrate(c, images.data(), images.size() / per, co);
    if (!graph_q.count(m.input.name) && !m.input.act && read_by_int8(m, m.input.name)) {
        m.input.act = c.input.act;
        ++res.calibrated;
        if (res.qat) departure(m, m.input.name, "the file reads the input in float; calibration quantizes it to " + quant_str(*m.input.act), o);
    }
    for (std::size_t k = 0; k < m.layers.size(); ++k) {
        layer& l = m.layers[k];
        if (l.kind == op::softmax || graph_q.count(l.name)) continue;
        if (is_pool(l.kind)) {
            l.act.reset();
            continue;
        }
        // A quantization in the manifest rounds its tensor wherever it is read; calibration
        // quantizes only what INT8 layers read (not the logits, nor an FP32 layer's input).
        if (!read_by_int8(m, l.name)) {
            l.act.reset();
            continue;
        }
        l.act = c.layers[k].act;
        ++res.calibrated;
        if (res.qat) departure(m, l.name, "the file computes this output in float; calibration quantizes it to " + quant_str(*l.act), o);
    }
    if (res.qat) say(o, "note: calibrated " + std::to_string(res.calibrated) + " tensor(s) the graph does not quantize, on " +
                            std::to_string(res.calibration_images) + " images");
}

/// Activation quantization: none for FP32; the graph's (QAT), calibration for the rest. Returns
/// the calibration images when it loaded them (bias correction and the report reuse them).
inline std::vector<float> quantize_activations(model_desc& m, const std::set<std::string>& graph_q, const import_graph& g, const options& o, result& res) {
    if (o.fp32) {
        m.input.act.reset();
        for (auto& l : m.layers) l.act.reset();
        return {};
    }
    if (res.qat && !have_images(o)) keep_float_readers_fp32(m, o);
    const auto missing = unquantized_reads(m);
    if (missing.empty()) return {};
    if (!have_images(o)) fail_unquantized(missing, g, o, res.qat);
    const std::size_t per = image_floats(m);
    std::vector<float> images = load_images(o, per);
    take_calibration(m, graph_q, images, o, res);
    return images;
}

/// Producer, preprocessing and class count.
inline void record_metadata(model_desc& m, const import_graph& g, const options& o) {
    m.producer = std::string("qint8-convert ") + version_string + " from " + g.format + (g.producer.empty() ? "" : " (" + g.producer + ")");
    record_preprocess(m, g, o);
    if (m.classes.count == 0) {
        const layer* out = m.find_layer(m.output_name());
        int64_t c = 1;
        for (int64_t d : out->out_shape) c *= d;
        m.classes.count = c;
        m.classes.background_class = c == 1001;
    }
}

/// Bias correction (on by default for calibrated float models) and the INT8-vs-FP32 report, both
/// on the calibration images (loaded here if calibration did not need them).
inline void correct_and_report(model_desc& m, std::vector<float>& images, const import_graph& g, const options& o, result& res) {
    const std::size_t per = image_floats(m);
    const bool calibrated = res.calibrated > 0 && !res.qat;
    if (o.bias_correction.value_or(calibrated && !o.fp32)) {
        if (o.fp32) detail::fail(errc::invalid_argument, "options.bias_correction corrects INT8 layers; it does not apply to options.fp32");
        // A quantized source is its own reference: its FP32 form omits the clamps its quantized
        // ranges imply, so "correcting" towards it undoes what training learned (MobileNet-V2
        // QAT: 89.0% -> 54.2%).
        if (res.qat) detail::fail(errc::invalid_argument, origin_of(o, g) + ": options.bias_correction is for calibrated models; this one carries its own quantization");
        if (!have_images(o)) detail::fail(errc::invalid_argument, "options.bias_correction needs images: give calibration images (options.images)");
        if (images.empty()) images = load_images(o, per);
        say(o, "note: bias correction (INT8 only; options.bias_correction = false to skip): INT8 vs FP32, layer by layer, on " +
                   std::to_string(std::min(images.size() / per, o.bias_correction_images)) + " images");
        res.bias_corrected = correct_biases(m, images, o);
    }
    if (o.report) {
        if (o.fp32) detail::fail(errc::invalid_argument, "options.report compares INT8 with FP32; it does not apply to options.fp32");
        if (images.empty()) {
            if (!have_images(o)) detail::fail(errc::invalid_argument, "options.report needs images: give calibration images (options.images)");
            images = load_images(o, per);
        }
        res.report = make_report(m, images, o);
    }
}

}  // namespace detail_conv

/// Converts a parsed graph (the front end's output) as `o` says. Writes nothing.
inline result convert_graph(import_graph g, const options& o) {
    using namespace detail_conv;
    result res;
    res.qat = run_graph_passes(g, o.note, o.fuse_residual_rounding);
    named_model nm = lower_and_recognize(g, o, res);
    model_desc& m = nm.m;
    record_departures(m, g, nm.name_of, o);
    for (const auto& [layer_name, what] : nm.departures) {
        const auto it = nm.name_of.find(layer_name);
        departure(m, it == nm.name_of.end() ? layer_name : it->second, what, o);
    }
    assign_precisions(m, nm.name_of, o);
    m.requant = requantization_of(m, g, res.qat, o);
    std::vector<float> images = quantize_activations(m, nm.quantized_by_graph, g, o, res);
    record_metadata(m, g, o);
    validate(m, o.output.empty() ? "converted model" : o.output);
    if (!o.fp32) report_pair_narrowing(m, o);
    correct_and_report(m, images, g, o, res);
    res.m = std::move(m);
    return res;
}

/// Writes `r.m` as `o.output` plus weights (and the labels file) atomically: on any failure the
/// files this call created, and the directory it created, are removed again.
inline void write_result(result& r, const options& o) {
    namespace fs = std::filesystem;
    const fs::path out(o.output);
    if (out.extension() != ".json") detail::fail(errc::invalid_argument, "options.output: expected a path ending in .json, found \"" + o.output + "\"");
    const fs::path dir = out.parent_path();
    std::string labels_text, labels_name;
    if (!o.labels.empty()) {
        std::ifstream f(o.labels, std::ios::binary);
        if (!f) detail::fail(errc::io, o.labels + ": cannot open for reading (" + std::strerror(errno) + ")");
        std::ostringstream ss;
        ss << f.rdbuf();
        labels_text = ss.str();
        // Named after the manifest, so two models in one directory keep their own labels.
        labels_name = out.stem().string() + ".labels.txt";
        std::size_t lines = static_cast<std::size_t>(std::count(labels_text.begin(), labels_text.end(), '\n'));
        if (!labels_text.empty() && labels_text.back() != '\n') ++lines;
        if (static_cast<int64_t>(lines) != r.m.classes.count && o.note)
            o.note("warning: " + o.labels + " has " + std::to_string(lines) + " lines, the model " + std::to_string(r.m.classes.count) + " outputs");
        r.m.classes.labels = labels_name;
    }
    // Directories this call creates, outermost first, to remove on failure.
    fs::path created;
    if (!dir.empty() && !fs::exists(dir)) {
        fs::path p = dir;
        while (!p.empty() && !fs::exists(p.parent_path()) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
        created = p;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) detail::fail(errc::output, o.output + ": cannot create the directory " + dir.string() + " (" + ec.message() + ")");
    }
    const fs::path wpath = dir / (out.stem().string() + ".q8w"), lpath = dir / labels_name;
    const bool had_json = fs::exists(out), had_weights = fs::exists(wpath), had_labels = !labels_name.empty() && fs::exists(lpath);
    try {
        write_manifest(r.m, o.output);
        if (!labels_name.empty()) detail::write_file_atomically(lpath.string(), labels_text);
    } catch (...) {
        std::error_code ec;
        if (!had_json) fs::remove(out, ec);
        if (!had_weights) fs::remove(wpath, ec);
        if (!labels_name.empty() && !had_labels) fs::remove(lpath, ec);
        if (!created.empty()) fs::remove_all(created, ec);
        throw;
    }
}

/// The whole conversion: reads o.input, converts, writes o.output.
inline result run(const options& o) {
    if (o.input.empty() || o.output.empty()) detail::fail(errc::invalid_argument, "options.input and options.output are required");
    if (std::filesystem::path(o.output).extension() != ".json")
        detail::fail(errc::invalid_argument, "options.output: expected a path ending in .json, found \"" + o.output + "\"");
    result r = convert_graph(import_file(o.input), o);
    write_result(r, o);
    return r;
}

}  // namespace qint8::convert
