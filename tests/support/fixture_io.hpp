#pragma once
// What the converter-fixture tests share: reading the float outputs a fixture script saved,
// running a converted model on a batch, and the arg-max of a row of logits.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

#include <qint8/session.hpp>

namespace qint8::test {

/// `n` float32 values from `path` (written by a fixture script), or a failed REQUIRE naming it.
inline std::vector<float> read_floats(const std::string& path, std::size_t n) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), path << ": missing (run make_fixtures.py)");
    std::vector<float> v(n);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
    REQUIRE_MESSAGE(f.gcount() == static_cast<std::streamsize>(n * sizeof(float)), path << ": expected " << n << " floats");
    return v;
}

/// `m` compiled for `batch` images (FP32 when `fp32`) and run once on `in`.
inline std::vector<float> run_batch(const model_desc& m, const std::vector<float>& in, std::size_t batch, bool fp32) {
    compile_options co;
    co.batch = static_cast<int64_t>(batch);
    co.force_fp32 = fp32;
    model net(m, co, "fixture");
    session s(net);
    return s.run(in);
}

inline std::size_t argmax(const float* v, std::size_t n) { return static_cast<std::size_t>(std::max_element(v, v + n) - v); }

}  // namespace qint8::test
