#pragma once
// The accuracy chart: top-1 per model as dots on one axis, one line per source, so differences
// of a tenth of a point stay visible (bars from 0 would all look the same). Sources: the
// training recipe's accuracy.json beside each model (PyTorch FP32, QAT fake-quant, PyTorch INT8)
// and qint8-eval's JSON results (qint8 FP32 and INT8), as scripts/quickstart.sh leaves them.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "chart/svg.hpp"

namespace qint8::chart {

struct accuracy_point {
    std::string source;
    double top1 = 0;  ///< percent
};

struct accuracy_row {
    std::string model;
    std::vector<accuracy_point> points;
};

/// Sources in display order and their colours.
inline const std::vector<std::pair<std::string, std::string>>& accuracy_sources() {
    static const std::vector<std::pair<std::string, std::string>> s = {{"PyTorch FP32", "#fdae6b"},
                                                                       {"PyTorch QAT (fake-quant)", "#e6550d"},
                                                                       {"PyTorch INT8 (oneDNN)", "#a63603"},
                                                                       {"qint8 FP32", "#9ecae1"},
                                                                       {"qint8 INT8 (QAT)", "#08519c"}};
    return s;
}

inline std::string accuracy_chart(const std::vector<accuracy_row>& rows, const std::string& title, const std::string& subtitle) {
    double lo = 100, hi = 0;
    std::size_t lines = 0;
    for (const auto& r : rows) {
        lines += r.points.size();
        for (const auto& p : r.points) { lo = std::min(lo, p.top1); hi = std::max(hi, p.top1); }
    }
    lo = std::floor(lo - 0.5);
    hi = std::ceil(hi + 0.5);
    if (hi <= lo) hi = lo + 1;
    const double x0 = 190, width = 440, row = 14;
    const double h = 110 + row * static_cast<double>(lines) + 16.0 * static_cast<double>(rows.size()) + 40;
    svg s(static_cast<int>(x0 + width + 70), static_cast<int>(h));
    s.text(12, 22, title, 15, "start", true);
    s.text(12, 42, subtitle, 12, "start", false, "#444");
    double lx = 12, ly = 62;
    for (const auto& [name, colour] : accuracy_sources()) {
        const double w = 16 + svg::text_width(name, 11) + 14;
        if (lx + w > x0 + width + 60) { lx = 12; ly += 18; }
        s.circle(lx + 5, ly - 4, 5, colour);
        s.text(lx + 14, ly, name, 11);
        lx += w;
    }
    const double top = ly + 22;
    const double step = hi - lo > 6 ? 2 : hi - lo > 3 ? 1 : 0.5;
    auto x_of = [&](double v) { return x0 + width * (v - lo) / (hi - lo); };
    const double bottom = top + 6 + row * static_cast<double>(lines) + 16.0 * static_cast<double>(rows.size());
    for (double v = lo; v <= hi + 1e-9; v += step) {  // the axis first: grid lines behind the dots
        s.line(x_of(v), top - 6, x_of(v), bottom - 10, "#ccc", 0.6, true);
        char b[16];
        std::snprintf(b, sizeof b, step < 1 ? "%.1f" : "%.0f", v);
        s.text(x_of(v), bottom + 6, b, 11, "middle");
    }
    s.text(x0 + width / 2, bottom + 24, "top-1 accuracy, %", 11, "middle", false, "#555");
    double y = top + 6;
    for (const auto& r : rows) {
        const double first = y;
        for (const auto& [name, colour] : accuracy_sources())
            for (const auto& p : r.points) {
                if (p.source != name) continue;
                s.circle(x_of(p.top1), y, 4.5, colour);
                char b[16];
                std::snprintf(b, sizeof b, "%.2f", p.top1);
                s.text(x_of(p.top1) + 8, y + 4, b, 10, "start", false, "#333");
                y += row;
            }
        s.text(12, (first + y - row) / 2 + 4, r.model, 13, "start", true);
        y += 16;
        s.line(12, y - 10, x0 + width + 60, y - 10, "#e5e5e5");
    }
    return s.str();
}

}  // namespace qint8::chart
