#pragma once
/// @file time_layers.hpp  Times each layer of several compilations of one model, for the tuner
/// (tuned_compile.hpp): profiled sessions on the same synthetic input, rounds alternating between
/// the compilations so that a slow spell of a shared machine hits them all alike.

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qint8/compile/program.hpp"
#include "qint8/session.hpp"

namespace qint8::detail {

/// Builds sessions straight from a program, before a model holds it.
class session_access {
public:
    static session make(std::shared_ptr<const program> p) {
        session_options o;
        o.profile = true;
        return session(std::move(p), o);
    }
    /// The program a session runs (its slots, their offsets and the steps), for the tests.
    static const program& program_of(const session& s) { return *s.c_; }
    /// The steps that run in teams (session::plan_teams), for the tests.
    static std::size_t team_steps(const session& s) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < s.team_end_.size(); ++i)
            if (s.team_end_[i] > i) n += s.team_end_[i] - i;
        return n;
    }
};

/// A deterministic input in the range preprocessed images have; the speed of the layers timed
/// does not depend on the values, only their saturation could, and these stay moderate.
inline std::vector<float> tuning_input(std::size_t n) {
    std::vector<float> v(n);
    uint32_t x = 12345u;
    for (float& f : v) {
        x = x * 1664525u + 1013904223u;
        f = static_cast<float>(x >> 8) / static_cast<float>(1u << 24) * 4.f - 2.f;
    }
    return v;
}

/// Each layer's best time per run (ms) in each program, over `rounds` alternating rounds after
/// two warm-up runs of each. A layer's time is that of every step it owns (its reorders too).
inline std::vector<std::map<std::string, double>> time_layers(const std::vector<std::shared_ptr<const program>>& progs, int rounds) {
    std::vector<session> ss;
    for (const auto& p : progs) ss.push_back(session_access::make(p));
    const program& p0 = *progs.front();
    const std::vector<float> in = tuning_input(p0.input_elems * static_cast<std::size_t>(p0.opt.batch));
    std::vector<float> out(p0.output_elems * static_cast<std::size_t>(p0.opt.batch));
    std::vector<std::map<std::string, double>> best(progs.size());
    std::vector<std::vector<double>> before(progs.size());
    for (int r = -2; r < rounds; ++r) {
        for (std::size_t k = 0; k < progs.size(); ++k) {
            before[k] = ss[k].step_times_ms();
            ss[k].run(in.data(), out.data());
            if (r < 0) continue;  // warm-up: caches, page faults, oneDNN's first-run work
            std::map<std::string, double> layer_ms;
            const auto& now = ss[k].step_times_ms();
            for (std::size_t i = 0; i < now.size(); ++i) layer_ms[progs[k]->steps[i].info.layer] += now[i] - before[k][i];
            for (const auto& [name, ms] : layer_ms) {
                auto it = best[k].find(name);
                if (it == best[k].end() || ms < it->second) best[k][name] = ms;
            }
        }
    }
    return best;
}

}  // namespace qint8::detail
