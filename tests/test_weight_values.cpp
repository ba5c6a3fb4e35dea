// The NaN and infinity check of INT8 layers' f32 weights, which a compilation leaves to the
// quantization's abs-max pass (detail::validate_for_compile): the pass against a plain scan, and
// every kind of INT8 layer failing with validate()'s message, from a description and from a file.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <qint8/detail/quantize_row.hpp>
#include <qint8/io/manifest.hpp>
#include <qint8/model.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>

#include "support/scratch.hpp"
#include "support/small_topology.hpp"

using namespace qint8;

namespace {

/// The message of what `f` throws, or "" when it does not.
template <class F>
std::string weight_values_error(F f) {
    try {
        f();
    } catch (const qint8::error& e) {
        return e.what();
    }
    return "";
}

/// A small MobileNet-V2 with f32 weights: a 3x3 stem conv, depthwise and 1x1 layers, an fc.
model_desc weight_values_model() {
    test::small_request r;
    r.width = 0.35;
    return test::small_topology("mobilenet_v2", r, 9);
}

/// `m` with element `i` of tensor `name` set to `v` (tensors are shared and read-only: a copy).
model_desc weight_values_with(const model_desc& m, const std::string& name, std::size_t i, float v) {
    model_desc r = m;
    const tensor& t = m.tensors.at(name);
    std::vector<float> vals(t.elements());
    std::memcpy(vals.data(), t.data, t.bytes);
    vals[i] = v;
    r.tensors[name] = tensor::from_vector(dtype::f32, t.shape, std::move(vals));
    return r;
}

/// One layer of each kind the compiler quantizes on its own path: the stem (oneDNN's 3x3), a
/// depthwise, a 1x1 and the fc.
std::vector<std::string> weight_values_layers(const model_desc& m) {
    std::string stem, dw, pw, fc;
    for (const layer& l : m.layers) {
        if (l.kind == op::conv2d && l.kernel[0] == 3 && stem.empty()) stem = l.name;
        if (l.kind == op::depthwise_conv2d && dw.empty()) dw = l.name;
        if (l.kind == op::conv2d && l.kernel[0] == 1 && pw.empty()) pw = l.name;
        if (l.kind == op::fc) fc = l.name;
    }
    REQUIRE(!stem.empty());
    REQUIRE(!dw.empty());
    REQUIRE(!pw.empty());
    REQUIRE(!fc.empty());
    return {stem, dw, pw, fc};
}

}  // namespace

TEST_SUITE("kernels") {

TEST_CASE("the checked abs-max of f32 weights equals a plain scan - finite or not at every position and alignment") {
    const float bads[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
    std::vector<detail::row_isa> isas{detail::row_isa::sse2};
    if (detail::best_row_isa() == detail::row_isa::avx2) isas.push_back(detail::row_isa::avx2);
    else MESSAGE("skipped: the AVX2 loop (this CPU has no AVX2)");
    std::vector<std::byte> buf(80 * sizeof(float) + 3);
    std::size_t checked = 0, wrong = 0;
    for (detail::row_isa isa : isas)
        for (std::size_t n = 0; n <= 70; ++n)
            for (std::size_t shift = 0; shift < 4; ++shift) {
                std::byte* p = buf.data() + shift;  // unaligned starts too
                std::vector<float> v(n + 1);
                for (std::size_t i = 0; i < n; ++i) {  // the largest finite floats, denormals, signed zeros, ordinary values
                    const float mags[] = {std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min(), 0.f, 0.37f * float(i + 1)};
                    v[i] = (i % 2 ? -1.f : 1.f) * mags[(i * 7 + n) % 4];
                }
                v[n] = 1e30f;  // past the n read: must not count
                for (std::size_t at = 0; at <= n; ++at)
                    for (float b : bads) {
                        std::vector<float> w = v;
                        if (at < n) w[at] = b;  // at == n: all finite
                        std::memcpy(p, w.data(), (n + 1) * sizeof(float));
                        float want = 0.f;
                        bool finite = true;
                        for (std::size_t i = 0; i < n; ++i) {
                            finite = finite && std::isfinite(w[i]);
                            want = std::max(want, std::fabs(w[i]));
                        }
                        const detail::checked_abs_max got = detail::abs_max_checked_f32(p, n, isa);
                        ++checked;
                        wrong += got.finite != finite || (finite && std::memcmp(&got.value, &want, sizeof want) != 0);
                    }
            }
    MESSAGE(checked << " buffers checked");
    CHECK(checked > 20000);
    CHECK(wrong == 0);
}

}  // TEST_SUITE

TEST_SUITE("models") {

TEST_CASE("a NaN or an infinity in an INT8 layer's f32 weights fails the compilation with validate()'s message - every kind of layer") {
    const model_desc m = weight_values_model();
    compile_options co;
    co.threads = 1;
    std::size_t cases = 0;
    for (const std::string& l : weight_values_layers(m)) {
        const std::string name = l + ".weight";
        const std::size_t n = m.tensors.at(name).elements();
        for (std::size_t i : {std::size_t(0), n / 2 + 1, n - 1})
            for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
                CAPTURE(name);
                CAPTURE(i);
                CAPTURE(bad);
                const model_desc d = weight_values_with(m, name, i, bad);
                model_desc full = d;
                const std::string want = weight_values_error([&] { validate(full, "hand-built"); });
                CHECK(want.find("tensor '" + name + "' element " + std::to_string(i) + ": expected a finite number") != std::string::npos);
                const std::string got = weight_values_error([&] { model net(d, co, "hand-built"); });
                CHECK(got == want);
                compile_options fp32 = co;
                fp32.force_fp32 = true;  // every weight runs unquantized: validate() checks it
                CHECK(weight_values_error([&] { model net(d, fp32, "hand-built"); }) == want);
                ++cases;
            }
    }
    CHECK(cases == 36);
    CHECK(weight_values_error([&] { model net(m, co, "hand-built"); }).empty());  // the model itself compiles
}

TEST_CASE("a NaN in an INT8 layer's f32 weights in the file fails model::load as read_manifest fails") {
    test::scratch_dir dir;
    const model_desc m = weight_values_model();
    const std::string path = dir / "m.json";
    write_manifest(m, path);
    // The manifest's own word on where the 1x1 layer's weights lie: patch one float there.
    const std::string pw = weight_values_layers(m)[2] + ".weight";
    std::ifstream js(path);
    const nlohmann::json j = nlohmann::json::parse(js);
    const int64_t offset = j.at("tensors").at(pw).at("offset").get<int64_t>();
    const std::size_t at = 5;
    {
        std::fstream w(dir / "m.q8w", std::ios::in | std::ios::out | std::ios::binary);
        REQUIRE(w);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        w.seekp(static_cast<std::streamoff>(64 + offset + static_cast<int64_t>(at * sizeof(float))));  // the 64-byte header first
        w.write(reinterpret_cast<const char*>(&nan), sizeof nan);
    }
    read_options no_crc;  // the CRCs no longer match: not verified, so the values are what fails
    no_crc.verify_checksums = false;
    const std::string want = weight_values_error([&] { read_manifest(path, no_crc); });
    CHECK(want.find(path + ": tensor '" + pw + "' element " + std::to_string(at) + ": expected a finite number, found nan") != std::string::npos);
    compile_options co;
    co.threads = 1;
    CHECK(weight_values_error([&] { model::load(path, co, no_crc); }) == want);
    co.force_fp32 = true;
    CHECK(weight_values_error([&] { model::load(path, co, no_crc); }) == want);
}

}  // TEST_SUITE
