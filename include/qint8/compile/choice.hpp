#pragma once
/// @file choice.hpp  Where a layer has more than one implementation, which one it gets: the one
/// the tuner is measuring or has measured, else the tuning cache's entry for this CPU, path and
/// version, else the path's default. Every choice is recorded in program::choices.

#include <string>
#include <vector>

#include "qint8/compile/compiler.hpp"
#include "qint8/tune/cache.hpp"
#include "qint8/version.hpp"

namespace qint8::detail {

/// What a choice depends on, as text: the op, types, shapes (batch included), window, post-ops
/// and thread count. Equal signatures get the same code from oneDNN and from qint8's kernels.
inline std::string layer_signature(const layer& l, precision p, dtype src_t, dtype dst_t, const backend::dims& in_d, const backend::dims& od,
                                   int threads) {
    const auto dims_str = [](const backend::dims& d) {
        std::string s;
        for (std::size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
        return s;
    };
    std::string s = std::string(to_string(l.kind)) + " " + to_string(p) + " " + to_string(src_t) + "->" + to_string(dst_t) + " in " +
                    dims_str(in_d) + " out " + dims_str(od);
    if (l.kind != op::fc)
        s += " k" + std::to_string(l.kernel[0]) + "x" + std::to_string(l.kernel[1]) + " s" + std::to_string(l.stride[0]) + "x" +
             std::to_string(l.stride[1]) + " p" + std::to_string(l.pad[0]) + "," + std::to_string(l.pad[1]) + "," + std::to_string(l.pad[2]) +
             "," + std::to_string(l.pad[3]) + " g" + std::to_string(l.groups);
    for (const auto& po : l.post_ops) s += po.kind == post_op::relu ? " relu" : po.kind == post_op::clip ? " clip" : " sum";
    return s + " threads " + std::to_string(threads);
}

/// The implementation layer `l` runs with, among `candidates` (the path's default first), for the
/// choice `what` ("depthwise", "fc", "impl").
inline std::string compiler::choose(const layer& l, const std::string& what, const std::string& signature, const std::vector<std::string>& candidates) {
    tuning_choice ch;
    ch.layer = l.name;
    ch.what = what;
    ch.signature = what + ": " + signature;
    ch.candidates = candidates;
    ch.chosen = candidates.front();
    ch.source = "default";
    const auto known = [&](const std::string& c) { return std::find(candidates.begin(), candidates.end(), c) != candidates.end(); };
    if (auto f = c_.tuner.forced.find(ch.key()); f != c_.tuner.forced.end() && known(f->second)) {
        ch.chosen = f->second;
        ch.source = "measuring";
    } else if (auto m = c_.tuner.measured.find(ch.key()); m != c_.tuner.measured.end() && known(m->second.chosen)) {
        ch = m->second;
    } else if (c_.tuner.cache) {
        // A cached choice this version does not offer for the layer (another version wrote it, or
        // the layer no longer qualifies) is ignored rather than trusted.
        const tuning_key k{detected_cpu().cpu_name, to_string(c_.path), tuning_version(), ch.signature};
        if (auto e = c_.tuner.cache->find(k); e && known(e->choice)) {
            ch.chosen = e->choice;
            ch.source = "cache";
        }
    }
    c_.choices.push_back(ch);
    return ch.chosen;
}

/// Are oneDNN's implementations of each convolution worth listing? Only when a choice can come
/// of it: measuring, or a tuning cache file in use (listing them costs a load a few ms).
inline bool compiler::impl_choices() const {
    return c_.opt.tune == tuning::measure || c_.tuner.cache || !c_.tuner.forced.empty() || !c_.tuner.measured.empty();
}

}  // namespace qint8::detail
