#pragma once
/// @file calibrate.hpp  Post-training calibration: runs a model through qint8's own FP32 path on
/// sample images, records every tensor's value range and sets the activation quantization of
/// the input and of every layer (u8 with zero point 0 for tensors that never go negative, s8
/// with zero point 0 otherwise).
///
/// Thresholds: abs_max (the largest |x| seen), mse (the threshold with the least expected
/// squared quantization error over the histogram, rounding inside plus clipping beyond),
/// percentile (that percentile of |x|), or kl (the
/// threshold whose quantized histogram loses the least information, Kullback-Leibler
/// divergence over 2048 bins, the entropy method of TensorRT and Paddle's post-training
/// quantization; like Paddle's, the search covers 70%..100% of the largest value seen). Pooling layers take their input's quantization (they do not widen a range);
/// the model input and the class scores (the output, or the input of a final softmax) always
/// use abs_max.

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "qint8/session.hpp"

namespace qint8 {

enum class calibration_method { abs_max, percentile, kl, mse };

struct calibration_options {
    calibration_method method = calibration_method::abs_max;
    double percentile = 99.99;  ///< for calibration_method::percentile
    int64_t batch = 8;          ///< images per FP32 run
    int threads = 0;
    std::function<void(std::size_t done, std::size_t total)> progress;  ///< images processed (may be empty)
};

/// Per-tensor statistics a calibration gathered (kept for reports).
struct tensor_range {
    float min = 0.f, max = 0.f, abs_max = 0.f, threshold = 0.f;
};

namespace detail {

constexpr int calib_bins = 2048;

/// Threshold (in bins) minimising KL(P || Q) where Q is P squeezed into `levels` levels,
/// searched from bin `first` (at least `levels`) to the end.
inline int kl_threshold_bin(const std::vector<double>& hist, int levels, int first = 0) {
    const int n = static_cast<int>(hist.size());
    double best = INFINITY;
    int best_i = n;
    for (int i = std::max(levels, first); i <= n; ++i) {
        std::vector<double> p(hist.begin(), hist.begin() + i);
        for (int k = i; k < n; ++k) p[static_cast<std::size_t>(i - 1)] += hist[static_cast<std::size_t>(k)];  // outliers clip to the last bin
        double psum = 0;
        for (double v : p) psum += v;
        if (psum <= 0) continue;
        std::vector<double> q(static_cast<std::size_t>(i), 0.0);
        const double merge = static_cast<double>(i) / levels;
        for (int j = 0; j < levels; ++j) {
            const int a = static_cast<int>(std::floor(j * merge)), b = j == levels - 1 ? i : static_cast<int>(std::floor((j + 1) * merge));
            double total = 0;
            int nonzero = 0;
            for (int k = a; k < b; ++k) {
                total += hist[static_cast<std::size_t>(k)];
                nonzero += hist[static_cast<std::size_t>(k)] > 0;
            }
            for (int k = a; k < b; ++k)
                if (hist[static_cast<std::size_t>(k)] > 0) q[static_cast<std::size_t>(k)] = total / nonzero;
        }
        double qsum = 0;
        for (double v : q) qsum += v;
        double kl = 0;
        for (int k = 0; k < i; ++k) {
            const double pk = p[static_cast<std::size_t>(k)] / psum;
            if (pk <= 0) continue;
            const double qk = std::max(q[static_cast<std::size_t>(k)] / qsum, 1e-12);
            kl += pk * std::log(pk / qk);
        }
        if (kl < best) {
            best = kl;
            best_i = i;
        }
    }
    return best_i;
}

/// Threshold (in bins, the clip point at the end of that bin) minimising the expected squared
/// error of quantizing values distributed as `hist` (bin k holds |x| in [k w, (k + 1) w)) to
/// `levels` uniform steps up to the threshold T: values below T get rounding noise of variance
/// step^2 / 12 with step = T / levels, values above T the clipping error (x - T)^2, x taken at
/// its bin's centre. Searched over every bin (no lower bound: the clipping term itself keeps T
/// away from the bulk of the values).
inline int mse_threshold_bin(const std::vector<double>& hist, int levels) {
    const int n = static_cast<int>(hist.size());
    // Suffix sums of count, count * centre and count * centre^2 (centres in bin units) make
    // each candidate's clipping error O(1).
    std::vector<double> c0(static_cast<std::size_t>(n) + 1, 0.0), c1(c0), c2(c0);
    for (int k = n - 1; k >= 0; --k) {
        const double h = hist[static_cast<std::size_t>(k)], x = k + 0.5;
        c0[static_cast<std::size_t>(k)] = c0[static_cast<std::size_t>(k) + 1] + h;
        c1[static_cast<std::size_t>(k)] = c1[static_cast<std::size_t>(k) + 1] + h * x;
        c2[static_cast<std::size_t>(k)] = c2[static_cast<std::size_t>(k) + 1] + h * x * x;
    }
    double best = INFINITY;
    int best_i = n;
    for (int i = 1; i <= n; ++i) {
        const double t = i, step = t / levels;
        const std::size_t u = static_cast<std::size_t>(i);
        const double inside = c0[0] - c0[u];
        const double clipped = c2[u] - 2 * t * c1[u] + t * t * c0[u];
        const double err = inside * step * step / 12.0 + clipped;
        if (err < best) {
            best = err;
            best_i = i;
        }
    }
    return best_i;
}

/// The tensors calibration measures: the input and every layer's output but a softmax's (a
/// softmax stays FP32 and is never quantized).
inline std::vector<std::string> calibrated_tensors(const model_desc& m) {
    std::vector<std::string> names{m.input.name};
    for (const auto& l : m.layers)
        if (l.kind != op::softmax) names.push_back(l.name);
    return names;
}

/// What the runs over the images gather: each tensor's range (pass 0) and, for methods other than
/// abs_max, a histogram of |x| over [0, abs_max] (pass 1, once the range is known).
struct calibration_stats {
    std::map<std::string, tensor_range> ranges;
    std::map<std::string, std::vector<double>> hist;
};

/// Widens a tensor's range to the values `v` of one batch.
inline void add_to_range(tensor_range& tr, const std::vector<float>& v) {
    for (float x : v) {
        tr.min = std::min(tr.min, x);
        tr.max = std::max(tr.max, x);
        tr.abs_max = std::max(tr.abs_max, std::fabs(x));
    }
}

/// Counts the non-zero |x| of one batch into `h`, calib_bins bins over [0, tr.abs_max].
inline void add_to_histogram(std::vector<double>& h, const tensor_range& tr, const std::vector<float>& v) {
    h.resize(calib_bins, 0.0);
    const float w = tr.abs_max / calib_bins;
    // Exact zeros (most of a ReLU output) are represented exactly at any threshold;
    // counted, they swamp the first bin and drive KL towards tiny thresholds.
    if (w > 0)
        for (float x : v)
            if (x != 0.f) h[static_cast<std::size_t>(std::min<float>(calib_bins - 1, std::fabs(x) / w))] += 1;
}

/// Copies images [first, first + cnt) into the batch buffer; a short last batch repeats its
/// first image (duplicates do not change ranges).
inline void fill_batch(std::vector<float>& buf, const float* images, std::size_t per, std::size_t first, std::size_t cnt, int64_t batch) {
    std::copy(images + first * per, images + (first + cnt) * per, buf.begin());
    for (std::size_t k = cnt; k < static_cast<std::size_t>(batch); ++k)
        std::copy(images + first * per, images + (first + 1) * per, buf.begin() + static_cast<std::ptrdiff_t>(k * per));
}

/// The FP32 network calibration runs and where it reads the images: one object so that each
/// pass over the images is a function of it.
struct calibration_run {
    qint8::session& s;
    const float* images;
    std::size_t n;         ///< images
    std::size_t per;       ///< floats per image
    int64_t batch;         ///< images per run
    int passes;            ///< 1 (ranges) or 2 (ranges, then histograms)
    std::vector<float> buf, out;
};

/// One pass over all images, batch by batch: pass 0 records ranges, pass 1 histograms.
inline void calibration_pass(calibration_run& run, const std::vector<std::string>& names, int pass, calibration_stats& st,
                             const calibration_options& opt) {
    const std::size_t n = run.n, batch = static_cast<std::size_t>(run.batch);
    for (std::size_t first = 0; first < n; first += batch) {
        const std::size_t cnt = std::min<std::size_t>(batch, n - first);
        fill_batch(run.buf, run.images, run.per, first, cnt, run.batch);
        run.s.run(run.buf.data(), run.out.data());
        for (const auto& t : names) {
            const std::vector<float> v = run.s.read(t);
            tensor_range& tr = st.ranges[t];
            if (pass == 0) add_to_range(tr, v);
            else add_to_histogram(st.hist[t], tr, v);
        }
        if (opt.progress) opt.progress((pass * n + first + cnt) / static_cast<std::size_t>(run.passes), n);
    }
}

/// Tensors that keep their full range whatever the method: the model input (bounded by
/// preprocessing; clipping bright pixels costs more than finer steps gain) and the class
/// scores (clipping the largest logits ties the top classes: on Fashion-MNIST VGG-16, KL
/// thresholds there cost 5 pt of top-1).
inline std::set<std::string> full_range_tensors(const model_desc& m) {
    std::set<std::string> full_range{m.input.name};
    if (const layer* out = m.find_layer(m.output_name())) {
        full_range.insert(out->name);
        if (out->kind == op::softmax) full_range.insert(out->inputs[0]);
    }
    return full_range;
}

/// The bin (counted from 1) where the histogram's cumulative count first reaches `percentile`
/// percent of the total, clamped to the last bin.
inline int percentile_threshold_bins(const std::vector<double>& h, double percentile) {
    double total = 0, acc = 0;
    for (double c : h) total += c;
    int i = 0;
    for (; i < calib_bins; ++i) {
        acc += h[static_cast<std::size_t>(i)];
        if (acc >= total * percentile / 100.0) break;
    }
    return std::min(i, calib_bins - 1);
}

/// The clipping threshold `opt.method` picks from a tensor's histogram (bins of width
/// abs_max / calib_bins), never above the largest value seen.
inline float histogram_threshold(const tensor_range& tr, const std::vector<double>& h, const calibration_options& opt) {
    const bool non_negative = tr.min >= 0.f;
    const float w = tr.abs_max / calib_bins;
    float thr = tr.abs_max;
    if (opt.method == calibration_method::percentile) {
        thr = (static_cast<float>(percentile_threshold_bins(h, opt.percentile)) + 1.f) * w;
    } else if (opt.method == calibration_method::mse) {
        thr = static_cast<float>(mse_threshold_bin(h, non_negative ? 255 : 127)) * w;
    } else {
        // Searched over 70%..100% of the largest value, as Paddle's post-training
        // quantization does: below that, KL trades the rare large activations (edges,
        // which carry the class) for the dense small ones. Unbounded, KL clipped the
        // first VGG-16 layer on Fashion-MNIST at 15% of its range and lost 5 pt of top-1.
        const int first = static_cast<int>(0.7 * (calib_bins - 1));
        thr = (static_cast<float>(kl_threshold_bin(h, non_negative ? 255 : 127, first)) + 0.5f) * w;
    }
    return std::min(thr, tr.abs_max);
}

/// Sets every tensor's threshold: abs_max, or the method's choice from its histogram (not for
/// the full-range tensors, nor an all-zero one).
inline void set_thresholds(const model_desc& m, calibration_stats& st, const calibration_options& opt, bool need_hist) {
    const std::set<std::string> full_range = full_range_tensors(m);
    for (auto& [t, tr] : st.ranges) {
        float thr = tr.abs_max;
        if (need_hist && tr.abs_max > 0 && !full_range.count(t)) thr = histogram_threshold(tr, st.hist[t], opt);
        tr.threshold = thr;
    }
}

/// Symmetric quantization (zero point 0) up to the threshold: u8 for a tensor never negative,
/// s8 otherwise.
inline quant_params quant_for_range(const tensor_range& tr) {
    quant_params q;
    q.type = tr.min >= 0.f ? dtype::u8 : dtype::s8;
    const float levels = q.type == dtype::u8 ? 255.f : 127.f;
    q.scale = tr.threshold > 0 ? tr.threshold / levels : 1.f / levels;  // an all-zero tensor: any scale works
    q.zero_point = 0;
    return q;
}

/// Is tensor `name` read by an INT8 layer (other than a softmax, which reads real values),
/// directly or through pools (which pass their input's quantization on)?
inline bool read_by_int8(const model_desc& m, const std::string& name) {
    for (const auto& l : m.layers) {
        bool reads = std::find(l.inputs.begin(), l.inputs.end(), name) != l.inputs.end();
        for (const auto& p : l.post_ops) reads = reads || (p.kind == post_op::sum && p.input == name);
        if (!reads) continue;
        if (l.prec == precision::int8 && l.kind != op::softmax) return true;
        const bool pool = l.kind == op::max_pool2d || l.kind == op::avg_pool2d || l.kind == op::global_avg_pool2d;
        if (pool && read_by_int8(m, l.name)) return true;
    }
    return false;
}

/// Sets the input's and every layer's activation quantization from the ranges; pools take
/// their input's (they do not widen a range), softmax none. The model's output gets none when no
/// INT8 layer reads it: a quantization in the manifest rounds the logits (docs/manifest.md,
/// storage rule), which calibration has no reason to do.
inline void assign_activation_quant(model_desc& m, const std::map<std::string, tensor_range>& r) {
    m.input.act = quant_for_range(r.at(m.input.name));
    for (auto& l : m.layers) {
        if (l.kind == op::softmax) continue;
        if (l.kind == op::max_pool2d || l.kind == op::avg_pool2d || l.kind == op::global_avg_pool2d) {
            const layer* src = m.find_layer(l.inputs[0]);
            l.act = src ? src->act : m.input.act;
            if (!l.act) l.act = quant_for_range(r.at(l.name));
        } else {
            l.act = quant_for_range(r.at(l.name));
        }
    }
    for (auto& l : m.layers)
        if (l.name == m.output_name() && !read_by_int8(m, l.name)) l.act.reset();
}

/// The model as calibration runs it: all FP32 (it may not be quantized yet), validated; `m`
/// takes the output shapes validation worked out.
inline model_desc fp32_copy_for_calibration(model_desc& m) {
    model_desc f = m;
    for (auto& l : f.layers) l.prec = precision::fp32;
    validate(f, "calibrate");
    for (std::size_t i = 0; i < m.layers.size(); ++i) m.layers[i].out_shape = f.layers[i].out_shape;
    return f;
}

}  // namespace detail

/// Calibrates `m` (weights present, FP32 or not) on `n` images of m.input.shape each (NCHW
/// floats, preprocessed as the model expects). Returns the ranges seen, by tensor name.
inline std::map<std::string, tensor_range> calibrate(model_desc& m, const float* images, std::size_t n, const calibration_options& opt = {}) {
    if (n == 0) detail::fail(errc::invalid_argument, "calibrate: no images");
    const model_desc f = detail::fp32_copy_for_calibration(m);
    const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(opt.batch, static_cast<int64_t>(n)));
    compile_options co;
    co.batch = batch;
    co.force_fp32 = true;
    co.threads = opt.threads;
    co.keep_intermediates = true;  // every activation is read back
    model net(f, co, "calibrate");
    session s(net);
    const bool need_hist = opt.method != calibration_method::abs_max;
    const std::size_t per = net.input_size();
    detail::calibration_run run{s, images, n, per, batch, need_hist ? 2 : 1,
                                std::vector<float>(per * static_cast<std::size_t>(batch)),
                                std::vector<float>(net.output_size() * static_cast<std::size_t>(batch))};
    const std::vector<std::string> names = detail::calibrated_tensors(m);
    detail::calibration_stats st;
    for (int pass = 0; pass < run.passes; ++pass) detail::calibration_pass(run, names, pass, st, opt);
    detail::set_thresholds(m, st, opt, need_hist);
    detail::assign_activation_quant(m, st.ranges);
    validate(m, "calibrate");
    return std::move(st.ranges);
}

}  // namespace qint8
