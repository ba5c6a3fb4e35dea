#pragma once
/// @file tuned_compile.hpp  Compiles a description with its implementation choices taken from the
/// defaults, the tuning cache, or measurement (compile_options::tune).
///
/// Measuring compiles the model once per candidate index (every layer that lacks a cache entry
/// takes its k-th candidate in the k-th compilation), runs each compilation on the same
/// synthetic input, rounds alternating between them, and keeps for each layer the candidate
/// with the smallest time per run (its steps' time, reorders it needs included). Its best time
/// over the rounds counts, as one preemption only ever makes a run slower. The default is kept
/// unless another candidate is faster by more than `margin`, so that noise does not flip it.

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "qint8/compile/compile.hpp"
#include "qint8/compile/program.hpp"
#include "qint8/tune/cache.hpp"
#include "qint8/tune/time_layers.hpp"
#include "qint8/version.hpp"

namespace qint8::detail {

/// The tuning cache file a compilation uses: compile_options::tuning_cache, else
/// QINT8_TUNING_CACHE, else none ("").
inline std::string tuning_cache_path(const compile_options& opt) {
    if (!opt.tuning_cache.empty()) return opt.tuning_cache;
    if (const char* e = std::getenv("QINT8_TUNING_CACHE"); e && *e) return e;
    return {};
}

inline std::shared_ptr<program> compile_program(model_desc desc, const compile_options& opt, int threads, const std::string& origin,
                                                tuning_inputs tuner) {
    auto c = std::make_shared<program>();
    c->threads = threads;
    c->desc = std::move(desc);
    c->opt = opt;
    c->tuner = std::move(tuner);
    compiler(*c, origin).run();
    c->tuner = {};
    return c;
}

/// Picks each measured layer's candidate from the times of the compilations (index k ran every
/// such layer's k-th candidate). Layers with one signature share a cache entry, so they get one
/// pick, from their times summed: a later load from the cache then makes the choices this one did.
inline std::map<std::string, tuning_choice> pick_candidates(const std::vector<tuning_choice>& todo,
                                                            const std::vector<std::map<std::string, double>>& times, double margin) {
    std::map<std::string, std::vector<double>> by_signature;
    for (const tuning_choice& ch : todo) {
        std::vector<double>& ms = by_signature[ch.signature];
        ms.resize(ch.candidates.size(), 0.0);
        for (std::size_t k = 0; k < ch.candidates.size(); ++k) {
            const auto t = k < times.size() ? times[k].find(ch.layer) : std::map<std::string, double>::const_iterator();
            ms[k] += k < times.size() && t != times[k].end() ? t->second : std::numeric_limits<double>::infinity();
        }
    }
    std::map<std::string, tuning_choice> picked;
    for (tuning_choice ch : todo) {
        ch.ms = by_signature.at(ch.signature);
        std::size_t best = 0;
        for (std::size_t k = 1; k < ch.ms.size(); ++k)
            if (ch.ms[k] < ch.ms[best] * (1.0 - margin)) best = k;
        ch.chosen = ch.candidates[best];
        ch.source = "measured";
        picked[ch.key()] = ch;
    }
    return picked;
}

/// Times the candidates of the layers in `todo` and returns what each chose. The other choices
/// come from `base` (the cache, and what was measured before) in every compilation.
inline std::map<std::string, tuning_choice> measure_choices(const model_desc& desc, const compile_options& opt, int threads,
                                                            const std::string& origin, const std::vector<tuning_choice>& todo,
                                                            std::shared_ptr<const program> first, const tuning_inputs& base) {
    std::size_t most = 0;
    for (const auto& ch : todo) most = std::max(most, ch.candidates.size());
    std::vector<std::shared_ptr<const program>> progs{std::move(first)};
    for (std::size_t k = 1; k < most; ++k) {
        tuning_inputs t = base;
        for (const auto& ch : todo)
            if (k < ch.candidates.size()) t.forced[ch.key()] = ch.candidates[k];
        progs.push_back(compile_program(desc, opt, threads, origin, std::move(t)));
    }
    return pick_candidates(todo, time_layers(progs, 7), 0.03);
}

/// The choices of `p` that neither the cache nor a measurement decided, at most one per layer:
/// the k-th compilation times each layer once, with the k-th candidate of every choice it forces,
/// so a layer's second choice would be credited with a time its candidate had no part in (a 1x1
/// layer's oneDNN implementations with the time of qint8's kernel running in their place). The
/// next round measures a layer's next choice, if the one picked still leaves it.
inline std::vector<tuning_choice> undecided(const program& p) {
    std::vector<tuning_choice> todo;
    std::set<std::string> layers;
    for (const auto& ch : p.choices)
        if (ch.source == "default" && layers.insert(ch.layer).second) todo.push_back(ch);
    return todo;
}

/// Compiles `desc` as `opt.tune` says; `desc` is validated.
///
/// A choice can bring another: a 1x1 layer left to oneDNN (the "pointwise" choice) then has a
/// choice among oneDNN's implementations. So measuring repeats, at most three rounds, until
/// every choice of the compilation was measured or cached.
inline std::shared_ptr<const program> compile_tuned(model_desc desc, const compile_options& opt, int threads, const std::string& origin) {
    const std::string path = opt.tune == tuning::off ? std::string() : tuning_cache_path(opt);
    tuning_cache cache = path.empty() ? tuning_cache() : tuning_cache::load(path);
    tuning_inputs in;
    in.cache = path.empty() ? nullptr : &cache;
    if (opt.tune != tuning::measure) return compile_program(std::move(desc), opt, threads, origin, std::move(in));

    std::shared_ptr<const program> now = compile_program(desc, opt, threads, origin, in);
    for (int round = 0; round < 3; ++round) {
        const std::vector<tuning_choice> todo = undecided(*now);
        if (todo.empty()) break;
        for (auto& [key, ch] : measure_choices(desc, opt, threads, origin, todo, std::move(now), in)) in.measured[key] = std::move(ch);
        now = compile_program(desc, opt, threads, origin, in);
    }
    if (!path.empty()) {
        // Only what the compilation kept: a choice measured in an earlier round may have gone with
        // a layer's other choice (oneDNN's implementations of a 1x1 layer qint8's kernel now runs).
        const std::string cpu = detected_cpu().cpu_name;
        for (const tuning_choice& ch : now->choices) {
            if (ch.source != "measured") continue;
            tuning_entry e;
            e.choice = ch.chosen;
            for (std::size_t k = 0; k < ch.candidates.size(); ++k) e.ms[ch.candidates[k]] = ch.ms[k];
            cache.put({cpu, to_string(active_isa()), tuning_version(), ch.signature}, std::move(e));
        }
        cache.save(path);
    }
    return now;
}

}  // namespace qint8::detail
