#pragma once
// Latency statistics for the benchmark and evaluation tools.

#include <algorithm>
#include <vector>

namespace qint8::tools {

/// The q-quantile (0..1) of v, interpolating between neighbours; 0 for an empty v.
inline double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(pos);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace qint8::tools
