#pragma once
// Accuracy-aware fallback: after quantization, measure top-1 of the model in FP32 and INT8 on a
// labelled data set and, while INT8 loses more than a budget, move the int8 layer that adds the
// most error to FP32, one at a time. "Adds the most error" is taken from the per-layer
// INT8-vs-FP32 report (convert.hpp's make_report): a layer's own contribution is how much its
// output's cosine to FP32 drops below that of its input, so that layers late in the network are
// not blamed for the error they inherit.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <qint8/session.hpp>

#include <qint8/convert/convert.hpp>
#include <qint8/convert/fallback_speed.hpp>

namespace qint8::convert {

/// Labelled images for the accuracy measurement.
struct labelled_images {
    std::vector<float> images;   ///< n x C x H x W
    std::vector<int64_t> labels; ///< dataset labels (0-based classes; the background offset is added here)
};

/// One step of the fallback: the top-1 after it and the layer it moved ("" for the start).
struct fallback_step {
    std::string moved;
    double top1_int8 = 0;
};

struct fallback_result {
    double top1_fp32 = 0;
    std::vector<fallback_step> steps;  ///< steps[0]: before any move
    bool within_budget = false;
    speed_cost speed;  ///< INT8 images/s before and after the moves (measured only if a layer moved)
};

namespace detail_fallback {

/// Top-1 (percent) of `m` on `d`; `fp32` runs the FP32 path of the same manifest.
inline double top1(const model_desc& m, const labelled_images& d, bool fp32) {
    const std::size_t per = image_floats(m);
    const std::size_t n = d.labels.size();
    const int64_t batch = static_cast<int64_t>(std::min<std::size_t>(n, 50));
    compile_options co;
    co.batch = batch;
    co.force_fp32 = fp32;
    model net(m, co, "accuracy");
    session s(net);
    const std::size_t k = net.output_size();
    const int64_t offset = m.classes.background_class ? 1 : 0;
    std::vector<float> buf(per * static_cast<std::size_t>(batch)), out(k * static_cast<std::size_t>(batch));
    std::size_t right = 0;
    for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(batch)) {
        const std::size_t cnt = std::min<std::size_t>(static_cast<std::size_t>(batch), n - first);
        std::fill(buf.begin(), buf.end(), 0.f);
        std::copy(d.images.begin() + static_cast<std::ptrdiff_t>(first * per), d.images.begin() + static_cast<std::ptrdiff_t>((first + cnt) * per), buf.begin());
        s.run(buf.data(), out.data());
        for (std::size_t i = 0; i < cnt; ++i) {
            const float* o = out.data() + i * k;
            right += static_cast<int64_t>(std::max_element(o, o + k) - o) == d.labels[first + i] + offset;
        }
    }
    return 100.0 * static_cast<double>(right) / static_cast<double>(n);
}

/// The int8 conv/fc/add layer whose own contribution to the INT8 error is largest, or "".
inline std::string worst_layer(const model_desc& m, const std::vector<report_row>& rows) {
    std::map<std::string, double> cos;
    for (const auto& r : rows) cos[r.layer] = r.cosine;
    std::string worst;
    double worst_drop = -1;
    for (const auto& l : m.layers) {
        if (l.prec != precision::int8 || !(l.kind == op::conv2d || l.kind == op::depthwise_conv2d || l.kind == op::fc || l.kind == op::add)) continue;
        double in_cos = 1;
        for (const auto& i : l.inputs)
            if (cos.count(i)) in_cos = std::min(in_cos, cos[i]);
        const double drop = in_cos - cos[l.name];
        if (drop > worst_drop) {
            worst_drop = drop;
            worst = l.name;
        }
    }
    return worst;
}

/// A layer moved to FP32 reads its input in float: where no INT8 layer reads that tensor any
/// more, its quantization goes too (a quantization in the manifest rounds the tensor wherever it
/// is read; the move is meant to take the rounding out). A pool producing it, which would
/// otherwise inherit its input's quantization again, moves to FP32 with it.
inline void unround_fp32_inputs(model_desc& m, const std::string& moved) {
    const layer* l = m.find_layer(moved);
    if (!l) return;
    const std::vector<std::string> inputs = l->inputs;
    for (const std::string& t : inputs) {
        if (qint8::detail::read_by_int8(m, t)) continue;
        if (t == m.input.name) m.input.act.reset();
        for (auto& p : m.layers) {
            if (p.name != t) continue;
            p.act.reset();
            const bool pool = p.kind == op::max_pool2d || p.kind == op::avg_pool2d || p.kind == op::global_avg_pool2d;
            if (pool && p.prec == precision::int8) {
                p.prec = precision::fp32;
                unround_fp32_inputs(m, p.name);
                break;
            }
        }
    }
}

}  // namespace detail_fallback

/// Moves int8 layers of `m` to FP32, worst first, until top-1 on `v` in INT8 is at most
/// `max_loss` points below FP32 (or no int8 conv/fc/add layer is left). The per-layer report
/// uses `report_images` (the calibration images). `say` receives one line per step.
inline fallback_result accuracy_fallback(model_desc& m, const labelled_images& v, double max_loss, const std::vector<float>& report_images,
                                         const options& o) {
    if (v.labels.empty()) detail::fail(errc::invalid_argument, "accuracy fallback: expected labelled images, found none");
    fallback_result r;
    const model_desc start = m;
    r.top1_fp32 = detail_fallback::top1(m, v, true);
    r.steps.push_back({"", detail_fallback::top1(m, v, false)});
    const auto pt = [](double x) {  // top-1 in percent, as the summary prints it (not std::to_string's 90.600000)
        char b[32];
        std::snprintf(b, sizeof b, "%.2f", x);
        return std::string(b);
    };
    detail_conv::say(o, "accuracy fallback: FP32 top-1 " + pt(r.top1_fp32) + ", INT8 " + pt(r.steps.back().top1_int8) + " on " +
                            std::to_string(v.labels.size()) + " images, budget " + pt(max_loss) + " pt");
    while (r.top1_fp32 - r.steps.back().top1_int8 > max_loss) {
        const std::string worst = detail_fallback::worst_layer(m, detail_conv::make_report(m, report_images, o));
        if (worst.empty()) break;
        for (auto& l : m.layers)
            if (l.name == worst) l.prec = precision::fp32;
        detail_fallback::unround_fp32_inputs(m, worst);
        r.steps.push_back({worst, detail_fallback::top1(m, v, false)});
        detail_conv::say(o, "accuracy fallback: moved '" + worst + "' to FP32: INT8 top-1 " + pt(r.steps.back().top1_int8));
    }
    r.within_budget = r.top1_fp32 - r.steps.back().top1_int8 <= max_loss;
    if (r.steps.size() > 1) {
        r.speed = measure_speed_cost(start, m);
        char line[256];
        std::snprintf(line, sizeof line,
                      "accuracy fallback: speed cost: INT8 %.1f images/s before, %.1f after (%s); %s path, 1 thread, batch %lld, "
                      "median of %d interleaved runs each",
                      r.speed.before, r.speed.after, change_text(r.speed).c_str(), r.speed.isa.c_str(),
                      static_cast<long long>(r.speed.batch), r.speed.runs);
        detail_conv::say(o, line);
    }
    return r;
}

}  // namespace qint8::convert
