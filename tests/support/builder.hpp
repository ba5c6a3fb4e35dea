#pragma once
// Small model descriptions for tests: one layer (or a few) with deterministic pseudo-random data.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <qint8/graph.hpp>

namespace qint8::test {

/// Deterministic generator; every test seeds its own.
struct rng {
    std::mt19937 g;
    explicit rng(uint32_t seed) : g(seed) {}
    float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(g); }
    int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }
    std::vector<float> floats(std::size_t n, float lo, float hi) {
        std::vector<float> v(n);
        for (auto& x : v) x = uniform(lo, hi);
        return v;
    }
    /// n s8 codes over the whole range, -128 included.
    std::vector<int8_t> codes(std::size_t n) {
        std::vector<int8_t> v(n);
        for (auto& x : v) x = static_cast<int8_t>(integer(-128, 127));
        return v;
    }
};

/// Adds `<name>.weight` (s8 with scales when `int_weights`, else f32) and `<name>.bias`.
inline void add_weights(model_desc& m, const std::string& name, std::vector<int64_t> shape, rng& r, bool int_weights,
                        int wmax = 63, bool bias = true) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    const int64_t o = shape[0];
    if (int_weights) {
        std::vector<int8_t> q(n);
        for (auto& v : q) v = static_cast<int8_t>(r.integer(-wmax, wmax));
        std::vector<float> s(static_cast<std::size_t>(o));
        for (auto& v : s) v = r.uniform(0.002f, 0.02f);
        m.tensors[name + ".weight"] = tensor::from_vector(dtype::s8, shape, q);
        m.tensors[name + ".weight.scales"] = tensor::from_vector(dtype::f32, {o}, s);
    } else {
        m.tensors[name + ".weight"] = tensor::from_vector(dtype::f32, shape, r.floats(n, -0.5f, 0.5f));
    }
    if (bias) m.tensors[name + ".bias"] = tensor::from_vector(dtype::f32, {o}, r.floats(static_cast<std::size_t>(o), -0.5f, 0.5f));
}

inline model_desc input_only(std::vector<int64_t> chw, std::optional<quant_params> q) {
    model_desc m;
    m.architecture = "custom";
    m.input.shape = std::move(chw);
    m.input.act = q;
    return m;
}

}  // namespace qint8::test
