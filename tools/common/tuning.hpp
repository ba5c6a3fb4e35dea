#pragma once
/// @file tuning.hpp  The tools' --tune and --tuning-cache options (compile_options::tune) and the
/// one line that says where a compiled model's implementation choices came from.

#include <cstdio>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <qint8/model.hpp>

namespace qint8::tools {

struct tuning_args {
    bool tune = false;
    std::string cache;
};

inline void add_tuning_options(CLI::App& app, tuning_args& t) {
    app.add_flag("--tune", t.tune,
                 "time each layer's implementations on this CPU (qint8's or oneDNN's depthwise, oneDNN's kernels) and keep "
                 "the fastest in the tuning cache, which later runs read");
    app.add_option("--tuning-cache", t.cache, "the tuning cache file (default: the environment variable QINT8_TUNING_CACHE; neither: none)");
}

inline void apply_tuning(const tuning_args& t, compile_options& co) {
    co.tune = t.tune ? tuning::measure : tuning::cache;
    co.tuning_cache = t.cache;
}

/// "tuning: 53 choices: 12 measured, 0 from the cache, 41 defaults" on stderr, when there are any.
inline void report_choices(const char* tool, const model& net) {
    std::map<std::string, int> by_source;
    for (const tuning_choice& c : net.tuning_choices()) ++by_source[c.source];
    if (net.tuning_choices().empty()) return;
    std::fprintf(stderr, "%s: tuning: %zu choices: %d measured, %d from the cache, %d defaults\n", tool, net.tuning_choices().size(),
                 by_source["measured"], by_source["cache"], by_source["default"]);
}

}  // namespace qint8::tools
