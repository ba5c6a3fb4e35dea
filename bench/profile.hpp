#pragma once
/// @file profile.hpp  Per-step profile of a compiled model (bench_models --profile): the time of
/// every step of one inference, its GMAC/s and share of the hardware limit, and the
/// implementation that ran it (oneDNN's name, or qint8's own kernel).

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <qint8/session.hpp>

namespace qint8::bench {

struct profile_row {
    std::string layer, what;  ///< layer name ("" for input/output glue) and the implementation
    double ms = 0;            ///< per inference (median over the profiled runs)
    double macs = 0;          ///< per inference (batch included); 0 for glue and reorders
    double gmacs = 0, share = 0;
};

/// Runs `s` (a session built with session_options::profile) `runs` times and returns one row per
/// step. `macs` holds MACs per image by layer name (macs.hpp); they are charged to the step
/// that computes the layer, not to reorders emitted for it. The share of the limit is set
/// afterwards, against the run's best probe (peaks.hpp, share_rows).
inline std::vector<profile_row> profile_steps(const model& m, session& s, const std::vector<float>& in, int runs,
                                              const std::map<std::string, double>& macs) {
    std::vector<float> out(m.output_size() * static_cast<std::size_t>(m.batch()));
    s.run(in.data(), out.data());  // untimed: the profile starts from warm caches, as the timed runs
    const std::vector<step_info> steps = m.steps();
    // Each step's time in each run; the median per step, since on a shared machine one
    // preemption inside a 0.05 ms step would otherwise dominate its mean.
    std::vector<std::vector<double>> per_step(steps.size());
    for (int k = 0; k < runs; ++k) {
        const std::vector<double> before = s.step_times_ms();
        s.run(in.data(), out.data());
        for (std::size_t i = 0; i < steps.size(); ++i) per_step[i].push_back(s.step_times_ms()[i] - before[i]);
    }
    std::vector<profile_row> rows;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        profile_row r;
        r.layer = steps[i].layer;
        r.what = steps[i].what;
        std::sort(per_step[i].begin(), per_step[i].end());
        const std::size_t n = per_step[i].size();
        r.ms = n % 2 ? per_step[i][n / 2] : (per_step[i][n / 2 - 1] + per_step[i][n / 2]) / 2;
        const auto it = macs.find(r.layer);
        if (it != macs.end() && r.what.rfind("reorder", 0) != 0) r.macs = it->second * static_cast<double>(m.batch());
        if (r.ms > 0) r.gmacs = r.macs / r.ms / 1e6;
        rows.push_back(r);
    }
    return rows;
}

/// Prints the rows as a table, with totals (the sum of the steps' medians). The share of the
/// limit is a column only when the limit was measured (`with_limit`, bench_models --roofline).
inline void print_profile(const std::string& title, const std::vector<profile_row>& rows, bool with_limit) {
    int w = 34;  // long layer names (a converted model's source names) widen the column instead of shifting the row
    for (const auto& r : rows) w = std::max(w, static_cast<int>(r.layer.size()));
    std::printf("\n%s\n%-*s %9s %9s %7s  %s\n", title.c_str(), w, "layer", "ms", "GMAC/s", with_limit ? "limit" : "", "implementation");
    double ms = 0, macs = 0;
    for (const auto& r : rows) {
        ms += r.ms;
        macs += r.macs;
        char g[16] = "-", sh[16] = "";
        if (with_limit) sh[0] = '-';
        if (r.macs > 0) {
            std::snprintf(g, sizeof g, "%.1f", r.gmacs);
            if (with_limit) std::snprintf(sh, sizeof sh, "%.0f%%", 100 * r.share);
        }
        std::printf("%-*s %9.3f %9s %7s  %s\n", w, r.layer.empty() ? "(glue)" : r.layer.c_str(), r.ms, g, sh, r.what.c_str());
    }
    std::printf("%-*s %9.3f %9.1f\n", w, "total", ms, ms > 0 ? macs / ms / 1e6 : 0.0);
}

}  // namespace qint8::bench
