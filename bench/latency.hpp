#pragma once
/// @file latency.hpp  The summary of a benchmark's per-run times that onnxruntime_perf_test and
/// TFLite's benchmark_model print: min, max, mean, standard deviation and percentiles.

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/stats.hpp"

namespace qint8::bench {

struct latency_summary {
    std::size_t runs = 0;
    double min = 0, max = 0, mean = 0, stddev = 0;  ///< stddev: of the sample (n - 1 in the divisor)
    double p50 = 0, p90 = 0, p95 = 0, p99 = 0;      ///< interpolated between neighbouring runs
};

/// The summary of `ms` (milliseconds per run); all zero for no runs.
inline latency_summary summarize(const std::vector<double>& ms) {
    latency_summary s;
    s.runs = ms.size();
    if (ms.empty()) return s;
    s.min = *std::min_element(ms.begin(), ms.end());
    s.max = *std::max_element(ms.begin(), ms.end());
    double sum = 0;
    for (double m : ms) sum += m;
    s.mean = sum / static_cast<double>(ms.size());
    double sq = 0;
    for (double m : ms) sq += (m - s.mean) * (m - s.mean);
    s.stddev = ms.size() > 1 ? std::sqrt(sq / static_cast<double>(ms.size() - 1)) : 0.0;
    s.p50 = tools::percentile(ms, 0.50);
    s.p90 = tools::percentile(ms, 0.90);
    s.p95 = tools::percentile(ms, 0.95);
    s.p99 = tools::percentile(ms, 0.99);
    return s;
}

}  // namespace qint8::bench
