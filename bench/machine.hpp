#pragma once
/// @file machine.hpp  What a benchmark result records about where and how it was made: the CPU's
/// name, the versions, the command line and the time.
///
/// The CPU is named as /proc/cpuinfo's "model name" says, the string bench/run_all.sh and the
/// peers (bench/peers/peers.py) print, so one run's three files name the same CPU; cpuinfo's
/// shortened name (qint8::cpu_info) is the fallback where /proc/cpuinfo has none.

#include <chrono>
#include <ctime>
#include <fstream>
#include <string>

#include <dnnl.hpp>
#include <qint8/dispatch/isa.hpp>

namespace qint8::bench {

inline std::string cpu_name() {
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            const auto first = line.find_first_not_of(" \t", colon + 1);
            if (colon != std::string::npos && first != std::string::npos) return line.substr(first);
        }
    return qint8::cpu_info().cpu_name;
}

/// "2.6.3": the oneDNN library this program runs with (not the headers it was built against).
inline std::string onednn_version() {
    const dnnl_version_t* v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

/// The command line, each argument quoted for a POSIX shell where it needs it, so it can be rerun.
inline std::string command_line(int argc, char** argv) {
    std::string s;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == std::string::npos;
        std::string q = a;
        if (!plain) {
            q = "'";
            for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
            q += "'";
        }
        s += (i ? " " : "") + q;
    }
    return s;
}

/// The current time in UTC, ISO 8601: "2026-12-04T16:20:00Z".
inline std::string utc_timestamp() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return b;
}

}  // namespace qint8::bench
