#pragma once
// Latency statistics for the benchmark and evaluation tools.

#include <algorithm>
#include <vector>

namespace qint8::tools {

/// The q-quantile (0..1) of `values`, interpolating between neighbours; 0 when empty.
/// Sorts a copy made from the range: GCC 12 reports a copy-constructed by-value vector that is
/// sorted and freed here as freeing a non-heap pointer (-Wfree-nonheap-object, a false positive
/// that depends on what else is inlined into the caller).
inline double percentile(const std::vector<double>& values, double q) {
    if (values.empty()) return 0;
    std::vector<double> v(values.begin(), values.end());
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(pos);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace qint8::tools
