#pragma once
// Recognises the six topology families in a converted model from its structure alone (layer
// kinds, windows, channels, residual wiring and shapes; never node names): for each family, the
// parameters a model of that family would have (input size, classes, width multiplier from the
// channel counts, relu or relu6, ResNet stride placement, fc or 1x1-conv classifier, softmax,
// background class) are inferred, qint8::models builds that structure, and the converted layers
// are matched against it as a graph. On a match every layer takes the template's name and the
// manifest gets the family's architecture, variant and attributes, so qint8::load<T> accepts it.

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <qint8/classifier.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/validate.hpp>

namespace qint8::convert {

/// The names --arch accepts (besides "custom"): the topology list.
inline const std::vector<std::string>& family_names() { return models::topology_names(); }

struct recognition {
    std::string family;                           ///< one of family_names(), or "custom"
    std::map<std::string, std::string> renamed;   ///< old layer name -> template name
    std::string mismatch;                         ///< why the closest family did not fit (when custom)
};

namespace detail_rec {

using qint8::detail::shape_str;

inline std::string pair_str(const std::array<int64_t, 2>& a) { return shape_str({a[0], a[1]}); }
inline std::string pad_str(const std::array<int64_t, 4>& a) { return shape_str({a[0], a[1], a[2], a[3]}); }

inline std::string post_ops_mapped(const layer& l, const std::map<std::string, std::string>* map) {
    std::string s = "[";
    for (const auto& p : l.post_ops) {
        if (s.size() > 1) s += ", ";
        if (p.kind == post_op::relu) s += "relu";
        else if (p.kind == post_op::clip && p.lo == 0.f && p.hi == 6.f) s += "relu6";
        else if (p.kind == post_op::clip) s += "clip(" + models::detail::format_number(p.lo) + ", " + models::detail::format_number(p.hi) + ")";
        else {
            std::string in = p.input;
            if (map) {
                auto it = map->find(p.input);
                in = it == map->end() ? "?" + p.input : it->second;
            }
            s += "sum(" + in + ")";
        }
    }
    return s + "]";
}

/// The first field in which converted layer `c` differs from template layer `t` (whose tensor
/// names map to converted ones through t2c), or "" if none does.
inline std::string first_difference(const layer& t, const layer& c, const std::map<std::string, std::string>& t2c) {
    if (t.kind != c.kind) return std::string("op: expected ") + to_string(t.kind) + ", found " + to_string(c.kind);
    if (has_weights(t.kind) && t.out_channels != c.out_channels)
        return "out_channels: expected " + std::to_string(t.out_channels) + ", found " + std::to_string(c.out_channels);
    const bool windowed = t.kind == op::conv2d || t.kind == op::depthwise_conv2d || t.kind == op::max_pool2d || t.kind == op::avg_pool2d;
    if (windowed && t.kernel != c.kernel) return "kernel: expected " + pair_str(t.kernel) + ", found " + pair_str(c.kernel);
    if (windowed && t.stride != c.stride) return "stride: expected " + pair_str(t.stride) + ", found " + pair_str(c.stride);
    if (windowed && t.pad != c.pad) return "pad: expected " + pad_str(t.pad) + ", found " + pad_str(c.pad);
    if (t.kind == op::conv2d && t.groups != c.groups) return "groups: expected " + std::to_string(t.groups) + ", found " + std::to_string(c.groups);
    if (t.kind == op::avg_pool2d && t.count_include_pad != c.count_include_pad) return "count_include_pad differs";
    const std::string tp = post_ops_mapped(t, &t2c), cp = post_ops_mapped(c, nullptr);
    if (tp != cp) return "post_ops: expected " + tp + ", found " + cp;
    if (t.out_shape != c.out_shape) return "output shape: expected " + shape_str(t.out_shape) + ", found " + shape_str(c.out_shape);
    return "";
}

struct match_result {
    bool ok = false;
    std::size_t matched = 0;             ///< template layers matched before the first mismatch
    std::string mismatch;
    std::vector<std::size_t> order;      ///< converted layer index for each template layer
    std::map<std::string, std::string> t2c;
};

/// Matches template `t` against converted `m` as graphs: template layers in order, each paired
/// with an unpaired converted layer reading the corresponding tensors, with the same op,
/// window, channels, post-ops and output shape. Execution order may differ (e.g. a ResNet
/// shortcut computed before or after the branch).
inline match_result match(const model_desc& m, const model_desc& t) {
    match_result r;
    if (m.input.shape != t.input.shape) {
        r.mismatch = "input: expected shape " + shape_str(t.input.shape) + ", found " + shape_str(m.input.shape);
        return r;
    }
    r.t2c[t.input.name] = m.input.name;
    std::vector<bool> used(m.layers.size(), false);
    for (std::size_t ti = 0; ti < t.layers.size(); ++ti) {
        const layer& tl = t.layers[ti];
        std::vector<std::string> want;
        for (const auto& i : tl.inputs) want.push_back(r.t2c.at(i));
        int best = -1, near = -1;
        for (std::size_t ci = 0; ci < m.layers.size() && best < 0; ++ci) {
            if (used[ci]) continue;
            const layer& cl = m.layers[ci];
            bool same_inputs = cl.inputs == want;
            if (!same_inputs && want.size() == 2 && cl.inputs.size() == 2) same_inputs = cl.inputs[0] == want[1] && cl.inputs[1] == want[0];
            if (!same_inputs) continue;
            if (near < 0) near = static_cast<int>(ci);
            if (first_difference(tl, cl, r.t2c).empty()) best = static_cast<int>(ci);
        }
        const std::string at = "layer " + std::to_string(ti) + " '" + tl.name + "' (" + to_string(tl.kind) + ", output " + shape_str(tl.out_shape) + "): ";
        if (best < 0) {
            std::string ins;
            for (const auto& i : want) ins += (ins.empty() ? "'" : ", '") + i + "'";
            r.mismatch = at + (near >= 0 ? "converted layer '" + m.layers[static_cast<std::size_t>(near)].name + "': " +
                                               first_difference(tl, m.layers[static_cast<std::size_t>(near)], r.t2c)
                                         : "expected a layer reading " + ins + ", found none");
            return r;
        }
        used[static_cast<std::size_t>(best)] = true;
        r.order.push_back(static_cast<std::size_t>(best));
        r.t2c[tl.name] = m.layers[static_cast<std::size_t>(best)].name;
        ++r.matched;
    }
    for (std::size_t ci = 0; ci < m.layers.size(); ++ci)
        if (!used[ci]) {
            r.mismatch = "expected the end of the model after " + std::to_string(t.layers.size()) + " layers, found more, e.g. '" + m.layers[ci].name +
                         "' (" + to_string(m.layers[ci].kind) + ")";
            return r;
        }
    if (r.t2c.at(t.output_name()) != m.output_name()) {
        r.mismatch = "output: expected the tensor of '" + t.output_name() + "', found '" + m.output_name() + "'";
        return r;
    }
    r.ok = true;
    return r;
}

/// What every family shares, read off the converted model; false if it cannot be a classifier
/// of any family (no weighted layer, an activation other than relu/relu6, a tiny input).
inline bool infer_common(const model_desc& m, models::common_params& p) {
    if (m.input.shape.size() != 3) return false;
    p.input_channels = m.input.shape[0];
    p.input_height = m.input.shape[1];
    p.input_width = m.input.shape[2];
    const layer* out = m.find_layer(m.output_name());
    if (!out || out->out_shape.empty()) return false;
    int64_t outputs = 1;
    for (int64_t d : out->out_shape) outputs *= d;
    p.background_class = outputs == 1001;
    p.num_classes = outputs - (p.background_class ? 1 : 0);
    p.softmax = out->kind == op::softmax;
    const layer* first = nullptr;
    const layer* last = nullptr;
    for (const auto& l : m.layers)
        if (has_weights(l.kind)) {
            if (!first) first = &l;
            last = &l;
        }
    if (!first) return false;
    p.classifier = last->kind == op::fc ? models::classifier_kind::fc : models::classifier_kind::conv1x1;
    if (first->post_ops.empty()) return false;
    const post_op& a = first->post_ops.back();
    if (a.kind == post_op::relu) p.act = activation::relu;
    else if (a.kind == post_op::clip && a.lo == 0.f && a.hi == 6.f) p.act = activation::relu6;
    else return false;
    return true;
}

/// Weighted layers in order.
inline std::vector<const layer*> weighted(const model_desc& m) {
    std::vector<const layer*> w;
    for (const auto& l : m.layers)
        if (has_weights(l.kind)) w.push_back(&l);
    return w;
}

inline void add_width(std::vector<double>& v, double w) {
    if (w > 0 && w <= 4 && std::find(v.begin(), v.end(), w) == v.end()) v.push_back(w);
}

/// The requests worth trying for `family` on `m`: each parameter the structure alone leaves
/// open (width from different layers, padding style, stride placement) is varied.
inline std::vector<models::topology_request> requests(const model_desc& m, const std::string& architecture, const models::common_params& c) {
    std::vector<models::topology_request> out;
    const auto w = weighted(m);
    const double c0 = static_cast<double>(w.front()->out_channels);
    std::vector<double> widths;
    if (architecture == "mobilenet_v1" || architecture == "mobilenet_v2") {
        add_width(widths, c0 / 32.0);
        if (architecture == "mobilenet_v1" && w.size() >= 2) add_width(widths, static_cast<double>(w[w.size() - 2]->out_channels) / 1024.0);
        for (double s : {0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4}) add_width(widths, s);
    } else {
        if (architecture == "vgg" && w.size() < 3) return out;
        add_width(widths, c0 / 64.0);
        add_width(widths, 1.0);
    }
    for (double width : widths)
        for (int variant = 0; variant < 2; ++variant) {
            models::topology_request r = models::detail::request_from(c);
            r.width = width;
            r.same_padding = variant == 1;  // MobileNets: symmetric or TF SAME
            r.stride_at = variant == 0 ? models::resnet_stride::in_3x3 : models::resnet_stride::in_1x1;  // ResNets: v1.5 or v1
            if (architecture == "vgg") {
                if (variant == 1) continue;  // VGG has no such choice
                r.hidden = w[w.size() - 3]->out_channels;
            }
            out.push_back(r);
        }
    return out;
}

/// Candidate structures of topology `family` for `m`.
inline std::vector<model_desc> candidates(const model_desc& m, const std::string& family) {
    std::vector<model_desc> out;
    models::common_params c;
    if (!infer_common(m, c)) return out;
    for (const auto& r : requests(m, models::architecture_of(family), c)) {
        try {
            out.push_back(models::structure_by_name(family, r));
        } catch (const qint8::error&) {  // parameters the family cannot take: not this candidate
        }
    }
    return out;
}

/// Rebuilds the structure `m` declares through the family's own params_from, as qint8::load<T>
/// does, and checks it: what the converter writes must load as that family. An unknown family
/// is an error.
inline void check_loadable(const model_desc& m, const std::string& family, const std::string& origin) {
    check_topology(m, models::structure_from(family, m), origin);
}

/// Renames `m` to template `t` as matched.
inline std::map<std::string, std::string> apply(model_desc& m, const model_desc& t, const match_result& r) {
    std::map<std::string, std::string> c2t{{m.input.name, t.input.name}};
    for (const auto& [tn, cn] : r.t2c) c2t[cn] = tn;
    std::vector<layer> layers;
    std::map<std::string, tensor> tensors;
    for (std::size_t k = 0; k < r.order.size(); ++k) {
        layer l = m.layers[r.order[k]];
        const std::string old = l.name;
        l.name = t.layers[k].name;
        for (auto& i : l.inputs) i = c2t.at(i);
        for (auto& p : l.post_ops)
            if (p.kind == post_op::sum) p.input = c2t.at(p.input);
        for (const char* suffix : {".weight", ".weight.scales", ".bias"}) {
            auto it = m.tensors.find(old + suffix);
            if (it != m.tensors.end()) tensors[l.name + suffix] = it->second;
        }
        layers.push_back(std::move(l));
    }
    m.layers = std::move(layers);
    m.tensors = std::move(tensors);
    m.input.name = t.input.name;
    m.output = t.output;
    m.architecture = t.architecture;
    m.variant = t.variant;
    m.attributes = t.attributes;
    m.classes.count = t.classes.count;
    m.classes.background_class = t.classes.background_class;
    return c2t;
}

}  // namespace detail_rec

/// Recognises `m` (validated, with weights) as one of the six families and renames it in
/// place. `force`: "" to try every family, a family name to require it (throws errc::topology
/// naming the first mismatch if it does not fit), or "custom" to skip recognition.
inline recognition recognize(model_desc& m, const std::string& force, const std::string& origin) {
    recognition res;
    res.family = "custom";
    if (force == "custom") return res;
    if (!force.empty() && std::find(family_names().begin(), family_names().end(), force) == family_names().end()) {
        std::string all;
        for (const auto& f : family_names()) all += f + ", ";
        detail::fail(errc::invalid_argument, "options.arch: expected one of " + all + "or custom, found \"" + force + "\"");
    }
    validate(m, origin);
    std::size_t best_progress = 0;
    std::string best_mismatch;
    for (const auto& family : family_names()) {
        if (!force.empty() && family != force) continue;
        const auto cands = detail_rec::candidates(m, family);
        for (const auto& t : cands) {
            const auto r = detail_rec::match(m, t);
            if (!r.ok) {
                if (best_mismatch.empty() || r.matched > best_progress) {
                    best_progress = r.matched;
                    best_mismatch = family + " (" + t.variant + "): " + r.mismatch;
                }
                continue;
            }
            model_desc renamed = m;
            const auto c2t = detail_rec::apply(renamed, t, r);
            try {
                detail_rec::check_loadable(renamed, family, origin);
            } catch (const qint8::error& e) {
                best_mismatch = family + ": matched, but the written parameters do not rebuild it: " + e.what();
                continue;
            }
            m = std::move(renamed);
            res.family = family;
            res.renamed = c2t;
            return res;
        }
        if (cands.empty() && (best_mismatch.empty() || !force.empty()))
            best_mismatch = family + ": the model cannot be one (no relu/relu6 after its first layer, no weighted layer, or an input under 32x32)";
    }
    if (!force.empty()) detail::fail(errc::topology, origin + ": options.arch = " + force + ": the model does not fit: " + best_mismatch);
    res.mismatch = best_mismatch;
    return res;
}

}  // namespace qint8::convert
