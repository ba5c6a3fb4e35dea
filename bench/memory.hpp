#pragma once
/// @file memory.hpp  Peak resident memory of the process, for bench_models.
///
/// getrusage's ru_maxrss is a high-water mark of the whole process: after the first model it
/// would report the largest model so far. Linux can reset the mark (writing 5 to
/// /proc/self/clear_refs resets VmHWM), so each model's peak is read as VmHWM after a reset;
/// where that is not possible the getrusage figure is reported and flagged as cumulative.

#include <sys/resource.h>

#include <fstream>
#include <string>

namespace qint8::bench {

struct peak_memory {
    double mib = 0;
    bool since_reset = false;  ///< false: the process's peak since start (getrusage)
};

/// Starts a new peak measurement; false if the kernel does not allow it.
inline bool reset_peak_memory() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}

/// The peak resident set since reset_peak_memory() (or since start, see peak_memory::since_reset).
inline peak_memory read_peak_memory(bool was_reset) {
    if (was_reset) {
        std::ifstream f("/proc/self/status");
        for (std::string line; std::getline(f, line);)
            if (line.rfind("VmHWM:", 0) == 0) return {std::stod(line.substr(6)) / 1024.0, true};  // "VmHWM:  123 kB"
    }
    rusage u{};
    if (getrusage(RUSAGE_SELF, &u) != 0) return {};
    return {static_cast<double>(u.ru_maxrss) / 1024.0, false};  // Linux reports KiB
}

}  // namespace qint8::bench
