#pragma once
/// @file kernel_rounds.hpp  Timing a layer's candidate kernels against each other (bench_depthwise,
/// bench_pointwise): the candidates run in turn within each round, so a shared machine's drift
/// touches them alike; the median and the best round are printed as ms and GMAC/s.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <omp.h>

#include <CLI/CLI.hpp>

#include <qint8/dispatch/cpu_features.hpp>
#include <qint8/dispatch/isa.hpp>

namespace qint8::bench {

struct kernel_candidate {
    std::string name;
    std::function<void()> run;
    std::vector<double> ms;  ///< per round: milliseconds per run
};

inline double median_ms(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

inline double best_ms(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

/// Three warm-up runs each (caches, page faults, oneDNN's first call), then `rounds` rounds of
/// `iterations` runs of every candidate in turn.
inline void run_rounds(std::vector<kernel_candidate>& cands, int iterations, int rounds) {
    using clock_type = std::chrono::steady_clock;
    for (auto& c : cands)
        for (int i = 0; i < 3; ++i) c.run();
    for (int r = 0; r < rounds; ++r)
        for (auto& c : cands) {
            const auto t0 = clock_type::now();
            for (int i = 0; i < iterations; ++i) c.run();
            c.ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count() / iterations);
        }
}

/// One line per candidate: median and best time per run and their GMAC/s for `macs` per run.
inline void print_rounds(const std::vector<kernel_candidate>& cands, double macs) {
    for (const auto& c : cands) {
        const double ms = median_ms(c.ms), b = best_ms(c.ms);
        std::printf("  %-38s median %8.4f ms %6.1f GMAC/s   best %8.4f ms %6.1f GMAC/s\n", c.name.c_str(), ms, macs / ms * 1e-6, b, macs / b * 1e-6);
    }
}

/// A kernel benchmark's main: --iterations and --rounds, one thread, the CPU and path printed
/// (with `note` after them), then body(iterations, rounds).
inline int kernel_bench_main(int argc, char** argv, const std::string& description, const std::function<std::string(const cpu_info_t&)>& note,
                             const std::function<void(int, int)>& body) {
    CLI::App app{description};
    int iterations = 1, rounds = 200;
    app.add_option("--iterations", iterations, "runs per candidate per round")->check(CLI::PositiveNumber);
    app.add_option("--rounds", rounds, "rounds (candidates alternate within each; medians are printed)")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    omp_set_num_threads(1);
    const cpu_info_t ci = cpu_info();
    std::printf("CPU: %s, path %s%s\n", ci.cpu_name.c_str(), to_string(ci.detected), note(ci).c_str());
    body(iterations, rounds);
    return 0;
}

}  // namespace qint8::bench
