#pragma once
// The speed chart: images/s of qint8 FP32 and INT8 per model (bench_models --json), the peers of
// the same run beside them (bench/peers/peers.py --json), and, when a limits file is given, the
// hardware limit of each precision as a dashed line with qint8's share of it.
// Each model has its own scale: VGG at 2 images/s and MobileNet at 130 share no useful axis.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <qint8/core/error.hpp>

#include "chart/svg.hpp"

namespace qint8::chart {

struct speed_bar {
    std::string engine;  ///< qint8, pytorch, ort
    double images_per_s = 0;
};

struct speed_group {
    std::string model;
    std::vector<speed_bar> fp32, int8;
    double fp32_limit = 0, int8_limit = 0;  ///< 0: not known
};

/// Engines in display order with their names and colours (light for FP32, dark for INT8).
inline const std::vector<std::vector<std::string>>& engines() {
    static const std::vector<std::vector<std::string>> e = {
        {"qint8", "qint8", "#9ecae1", "#2171b5"}, {"pytorch", "PyTorch", "#fdd0a2", "#d94801"}, {"ort", "ONNX Runtime", "#c7e9c0", "#238b45"}};
    return e;
}

inline double number_at(const nlohmann::json& j, const char* key, const std::string& file) {
    if (!j.contains(key) || !j[key].is_number()) qint8::fail(errc::data, file + ": " + key + ": expected a number");
    return j[key].get<double>();
}

/// Groups from the JSON documents; `limits` may be null. Models in qint8's order.
inline std::vector<speed_group> speed_groups(const nlohmann::json& q, const std::string& qfile, const nlohmann::json& peers,
                                             const std::string& pfile, const nlohmann::json& limits, const std::string& lfile) {
    if (!q.contains("results") || !q["results"].is_array())
        qint8::fail(errc::data, qfile + ": results: expected the array bench_models --json writes");
    std::vector<speed_group> g;
    auto group_of = [&](const std::string& m) -> speed_group& {
        for (auto& x : g)
            if (x.model == m) return x;
        g.push_back({m, {}, {}, 0, 0});
        return g.back();
    };
    auto add = [&](const nlohmann::json& r, const std::string& engine, const std::string& file) {
        const std::string prec = r.value("precision", "");
        if (prec != "fp32" && prec != "int8") qint8::fail(errc::data, file + ": precision: expected fp32 or int8, found \"" + prec + "\"");
        speed_group& s = group_of(r.value("model", "?"));
        (prec == "fp32" ? s.fp32 : s.int8).push_back({engine, number_at(r, "images_per_s", file)});
    };
    for (const auto& r : q["results"]) add(r, "qint8", qfile);
    if (!peers.is_null())
        for (const auto& r : peers.value("results", nlohmann::json::array()))
            if (r.value("status", "") == "ok" && std::any_of(g.begin(), g.end(), [&](const speed_group& s) { return s.model == r.value("model", ""); }))
                add(r, r.value("engine", "?"), pfile);
    if (!limits.is_null()) {
        const auto& rate = limits.at("gmac_per_s");
        for (auto& s : g)
            if (limits["gmac_per_image"].contains(s.model)) {
                const double gmac = number_at(limits["gmac_per_image"], s.model.c_str(), lfile);
                s.fp32_limit = number_at(rate, "fp32", lfile) / gmac;
                s.int8_limit = number_at(rate, "int8", lfile) / gmac;
            }
    }
    return g;
}

inline std::string format_rate(double v) {
    char b[32];
    std::snprintf(b, sizeof b, v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
    return b;
}

/// One model's bars; returns the y below them.
inline double draw_group(svg& s, const speed_group& g, double y, double x0, double width) {
    const double row = 17, bar_h = 13, gap = 5;
    double scale = std::max(g.fp32_limit, g.int8_limit);
    for (const auto* v : {&g.fp32, &g.int8})
        for (const auto& b : *v) scale = std::max(scale, b.images_per_s);
    const double top = y;
    for (int p = 0; p < 2; ++p) {
        const auto& bars = p == 0 ? g.fp32 : g.int8;
        const double limit = p == 0 ? g.fp32_limit : g.int8_limit;
        const double first = y, rows = static_cast<double>(bars.size());
        if (limit > 0 && !bars.empty())  // first, so the value labels (on white) stay readable over it
            s.line(x0 + width * limit / scale, first - 2, x0 + width * limit / scale, first + row * (rows - 1) + bar_h + 2, "#444", 1.2, true);
        for (const auto& e : engines())
            for (const auto& b : bars) {
                if (b.engine != e[0]) continue;
                const double w = scale > 0 ? width * b.images_per_s / scale : 0;
                s.rect(x0, y, std::max(w, 1.0), bar_h, e[p == 0 ? 2 : 3]);
                std::string label = format_rate(b.images_per_s);
                if (b.engine == "qint8" && limit > 0) label += " (" + std::to_string(static_cast<int>(100 * b.images_per_s / limit + 0.5)) + "% of limit)";
                s.rect(x0 + w + 2, y, svg::text_width(label, 11) * 0.95, bar_h, "white");
                s.text(x0 + w + 4, y + bar_h - 2.5, label, 11);
                y += row;
            }
        if (y > first) s.text(x0 - 6, (first + y - row + bar_h) / 2 + 4, p == 0 ? "FP32" : "INT8", 11, "end", false, "#555");
        y += gap;
    }
    s.text(12, (top + y - gap) / 2 + 4, g.model, 13, "start", true);
    s.line(12, y + 4, x0 + width + 150, y + 4, "#ddd");
    return y + 14;
}

/// The whole chart.
inline std::string speed_chart(const std::vector<speed_group>& groups, const std::string& title, const std::string& subtitle, bool limits) {
    const double x0 = 170, width = 420;
    double h = 96;
    for (const auto& g : groups) h += 17.0 * static_cast<double>(g.fp32.size() + g.int8.size()) + 10 + 14 + 4;
    svg s(static_cast<int>(x0 + width + 170), static_cast<int>(h + 30));
    s.text(12, 22, title, 15, "start", true);
    s.text(12, 42, subtitle, 12, "start", false, "#444");
    double lx = 12;
    for (const auto& e : engines()) {
        s.rect(lx, 56, 12, 12, e[2]);
        s.rect(lx + 13, 56, 12, 12, e[3]);
        s.text(lx + 30, 66, e[1] + " FP32 | INT8", 11);
        lx += 30 + svg::text_width(e[1] + " FP32 | INT8", 11) + 18;
    }
    if (limits) {
        s.line(lx, 54, lx, 70, "#444", 1.2, true);
        s.text(lx + 6, 66, "hardware limit", 11);
    }
    double y = 90;
    for (const auto& g : groups) y = draw_group(s, g, y, x0, width);
    s.text(12, y + 8, "images/s, longer is faster; each model on its own scale", 11, "start", false, "#555");
    return s.str();
}

}  // namespace qint8::chart
