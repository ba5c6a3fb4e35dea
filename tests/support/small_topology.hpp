#pragma once
// One of the registry's topologies at a small size, with qint8-synth's deterministic weights: the
// setup the model-level tests share.

#include <cstdint>
#include <string>

#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>

namespace qint8::test {

struct small_request {
    int64_t input_size = 32;
    int64_t classes = 10;
    double width = 0.25;
    int calibration_images = 1;
    bool int8_weights = false;  ///< s8 weights and per-channel scales instead of f32
};

/// Topology `name` (mobilenet_v2, resnet50, ...) as `r` asks, weights from `seed`.
inline model_desc small_topology(const std::string& name, const small_request& r, uint32_t seed) {
    models::topology_request t;
    t.input_size = r.input_size;
    t.classes = r.classes;
    t.width = r.width;
    models::synth_options o;
    o.int8_weights = r.int8_weights;
    o.calibration_images = r.calibration_images;
    return models::synthesize(models::structure_by_name(name, t), seed, o);
}

}  // namespace qint8::test
