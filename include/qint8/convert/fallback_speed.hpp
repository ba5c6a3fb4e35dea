#pragma once
// The speed cost of the accuracy-aware fallback: the INT8 model before and after its layers were
// moved to FP32, timed in this process the way bench_models --manifest times a manifest (one
// thread, its synthetic input images, warm-up runs, images/s from the median run), with the two
// models' runs interleaved so that load from other processes falls on both alike.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <string>
#include <vector>

#include <qint8/session.hpp>
#include <qint8/models/synthetic.hpp>

namespace qint8::convert {

struct speed_cost {
    double before = 0, after = 0;  ///< INT8 images/s (median run)
    int64_t batch = 0;
    int runs = 0;                  ///< timed runs of each model
    double spread = 0;             ///< the larger of the two models' interquartile range of run times, relative to the median
    std::string isa;               ///< the code path both ran on
};

namespace detail_speed {

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// (q3 - q1) / median of run times: a change in speed smaller than this is not measurable.
inline double relative_spread(std::vector<double> v) {
    if (v.size() < 4) return 0;
    std::sort(v.begin(), v.end());
    const double q1 = v[v.size() / 4], q3 = v[(3 * v.size()) / 4], m = median(v);
    return m > 0 ? (q3 - q1) / m : 0;
}

}  // namespace detail_speed

/// "+19.0%", or, when the change is inside the runs' spread, that it is not measurable.
inline std::string change_text(const speed_cost& c) {
    const double change = 100.0 * (c.after / c.before - 1.0);
    char b[128];
    if (std::abs(change) <= 100.0 * c.spread)
        std::snprintf(b, sizeof b, "%+.1f%%, within the runs' spread of %.0f%%: no measurable change", change, 100.0 * c.spread);
    else
        std::snprintf(b, sizeof b, "%+.1f%%", change);
    return b;
}

/// Times `before` and `after` (the same input) alternately: `runs` timed runs of each after
/// `warmup` untimed ones, `batch` images per run, one thread.
inline speed_cost measure_speed_cost(const model_desc& before, const model_desc& after, int64_t batch = 16, int runs = 20, int warmup = 3) {
    compile_options co;
    co.batch = batch;
    co.threads = 1;
    session_options so;
    so.threads = 1;
    const model a(before, co, "speed (before the fallback)"), b(after, co, "speed (after the fallback)");
    session sa(a, so), sb(b, so);
    const std::vector<float> in = models::synthetic_images(before, batch, 7);  // bench_models' images
    std::vector<float> out(a.output_size() * static_cast<std::size_t>(batch));
    for (int i = 0; i < warmup; ++i) {
        sa.run(in.data(), out.data());
        sb.run(in.data(), out.data());
    }
    std::vector<double> ta, tb;
    auto timed = [&](session& s, std::vector<double>& t) {
        const auto t0 = std::chrono::steady_clock::now();
        s.run(in.data(), out.data());
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
    for (int i = 0; i < runs; ++i) {
        // Alternate which goes first, so neither always runs on caches the other warmed.
        if (i % 2 == 0) { timed(sa, ta); timed(sb, tb); }
        else { timed(sb, tb); timed(sa, ta); }
    }
    speed_cost c;
    c.before = double(batch) / detail_speed::median(ta);
    c.after = double(batch) / detail_speed::median(tb);
    c.batch = batch;
    c.runs = runs;
    c.spread = std::max(detail_speed::relative_spread(ta), detail_speed::relative_spread(tb));
    c.isa = to_string(a.code_path());
    return c;
}

}  // namespace qint8::convert
