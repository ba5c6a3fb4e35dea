#pragma once
// Shared by the libFuzzer targets: a private scratch directory for inputs that must be files
// (the readers take paths, as the tools do), and the one rule every target checks - a bad input
// ends in a qint8::error; any other exception, a crash or a sanitizer report is a finding.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <qint8/session.hpp>

namespace qint8::fuzz {

/// A directory for this process, in /dev/shm when there is one (no disk traffic per input).
inline const std::string& scratch() {
    static const std::string dir = [] {
        std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string tmpl = base + "/qint8_fuzz_XXXXXX";
        if (!::mkdtemp(tmpl.data())) std::abort();
        return tmpl;
    }();
    return dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, std::size_t size) {
    const std::string path = scratch() + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return path;
}

/// Compiles and runs a description that passed validation, when it is small enough to do so
/// thousands of times a second (an input of at most 2^14 values, at most 32 layers): lowering
/// and the runtime must handle whatever the readers let through.
inline void compile_if_small(const model_desc& m) {
    std::size_t in = 1;
    for (int64_t d : m.input.shape) in *= static_cast<std::size_t>(d);
    if (in > (1u << 14) || m.layers.size() > 32) return;
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

}  // namespace qint8::fuzz
