#pragma once
// Shared by the libFuzzer targets: a private scratch directory for inputs that must be files
// (the readers take paths, as the tools do), and the one rule every target checks - a bad input
// ends in a qint8::error; any other exception, a crash or a sanitizer report is a finding.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <qint8/io/manifest.hpp>
#include <qint8/model.hpp>

namespace qint8::fuzz {

/// A directory for this process, in /dev/shm when there is one (no disk traffic per input),
/// removed with its files when the process exits.
inline const std::string& scratch() {
    struct dir_t {
        std::string path;
        dir_t() {
            std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
            path = base + "/qint8_fuzz_XXXXXX";
            if (!::mkdtemp(path.data())) std::abort();
        }
        ~dir_t() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    };
    static const dir_t dir;
    return dir.path;
}

inline std::string write_file(const std::string& name, const uint8_t* data, std::size_t size) {
    const std::string path = scratch() + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

/// Small enough to compile and run thousands of times a second: an input of at most 2^14
/// values, at most 32 layers.
inline bool small_model(const model_desc& m) {
    std::size_t in = 1;
    for (int64_t d : m.input.shape) in *= static_cast<std::size_t>(d);
    return in <= (1u << 14) && m.layers.size() <= 32;
}

/// Compiles and runs a description that passed validation, when it is small (small_model):
/// lowering and the runtime must handle whatever the readers let through.
inline void compile_if_small(const model_desc& m) {
    if (!small_model(m)) return;
    compile_options o;
    o.threads = 1;
    for (bool fp32 : {false, true}) {
        o.force_fp32 = fp32;
        model net(m, o, "fuzz");
        session s(net);
        std::vector<float> x(net.input_size(), 0.5f);
        s.run(x);
    }
}

/// model::load of the manifest `m` was read from, when it is small: its own reading (the NaN and
/// infinity check of INT8 layers' f32 weights left to quantization) must end as read_manifest
/// did, so an error here, after read_manifest accepted the file, is a finding.
inline void load_if_small(const model_desc& m, const std::string& json, const read_options& ro) {
    if (!small_model(m)) return;
    compile_options o;
    o.threads = 1;
    model net = model::load(json, o, ro);
    session s(net);
    std::vector<float> x(net.input_size(), 0.5f);
    s.run(x);
}

}  // namespace qint8::fuzz
