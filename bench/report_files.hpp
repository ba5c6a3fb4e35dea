#pragma once
/// @file report_files.hpp  bench_models' results as files: JSON (everything, with the run's
/// provenance and every run's time) and CSV (one row per model and precision, for a spreadsheet).

#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <qint8/io/atomic_file.hpp>
#include <qint8/version.hpp>

#include "latency.hpp"
#include "machine.hpp"
#include "memory.hpp"
#include "peaks.hpp"
#include "profile.hpp"

namespace qint8::bench {

/// One model in one precision, measured.
struct result {
    std::string model, precision, isa;
    int threads = 1;
    int64_t batch = 1;
    double images_per_s = 0;   ///< from the median run
    std::vector<double> ms;    ///< every timed run, in order
    latency_summary latency;
    double read_ms = 0, compile_ms = 0, first_run_ms = 0;  ///< loading: manifest read, model compilation, first run
    peak_memory memory;
    double macs = 0, limit_images_per_s = 0, share = 0;  ///< per image; limit and share with --roofline
    std::vector<profile_row> profile;

    /// Loading (manifest read + compilation) and the first run, in steady-state (median) runs.
    double load_over_steady() const { return latency.p50 > 0 ? (read_ms + compile_ms + first_run_ms) / latency.p50 : 0; }
};

/// Sets `r`'s limit and its shares (the model's and each profiled step's) against `peaks`.
inline void apply_peaks(result& r, const machine_peaks& peaks) {
    const double peak = peaks.for_precision(r.precision == "fp32");
    const limit_share s = share_of(r.images_per_s, r.macs, peak);
    r.limit_images_per_s = s.limit_images_per_s;
    r.share = s.share;
    share_rows(r.profile, peak);
}

/// Where and how the results were made.
struct provenance {
    std::string command_line, timestamp, cpu;
};

inline nlohmann::json latency_json(const latency_summary& l) {
    return {{"runs", l.runs}, {"min", l.min}, {"max", l.max}, {"mean", l.mean}, {"stddev", l.stddev},
            {"p50", l.p50}, {"p90", l.p90}, {"p95", l.p95}, {"p99", l.p99}};
}

inline nlohmann::json to_json(const result& r) {
    nlohmann::json j = {{"model", r.model}, {"precision", r.precision}, {"threads", r.threads}, {"batch", r.batch},
                        {"images_per_s", r.images_per_s}, {"latency_ms", latency_json(r.latency)}, {"iteration_ms", r.ms},
                        // the flat keys of earlier versions, read by qint8-chart and bench/peers/peers.py
                        {"latency_ms_p50", r.latency.p50}, {"latency_ms_p99", r.latency.p99}, {"latency_ms_mean", r.latency.mean},
                        {"iterations", r.latency.runs}, {"isa", r.isa}, {"macs_per_image", r.macs},
                        {"load", {{"manifest_read_ms", r.read_ms}, {"compile_ms", r.compile_ms}, {"first_run_ms", r.first_run_ms},
                                  {"load_and_first_run_over_steady", r.load_over_steady()}}},
                        {"peak_resident_mib", r.memory.mib}, {"peak_resident_is_per_model", r.memory.since_reset}};
    if (r.limit_images_per_s > 0) {
        j["limit_images_per_s"] = r.limit_images_per_s;
        j["share_of_limit"] = r.share;
    }
    if (!r.profile.empty()) {
        j["profile"] = nlohmann::json::array();
        for (const auto& p : r.profile) {
            nlohmann::json row = {{"layer", p.layer}, {"implementation", p.what}, {"ms", p.ms}, {"macs", p.macs}, {"gmacs_per_s", p.gmacs}};
            if (r.limit_images_per_s > 0) row["share_of_limit"] = p.share;  // no limit measured: no share, not 0
            j["profile"].push_back(row);
        }
    }
    return j;
}

inline std::string results_json(const std::vector<result>& results, const machine_peaks& peaks, const provenance& p) {
    nlohmann::json j;
    j["qint8_version"] = qint8::version_string;
    j["onednn_version"] = onednn_version();
    j["command_line"] = p.command_line;
    j["timestamp"] = p.timestamp;
    const qint8::cpu_info_t ci = qint8::cpu_info();
    j["machine"] = {{"cpu", p.cpu}, {"hardware_threads", std::thread::hardware_concurrency()}, {"detected_isa", qint8::to_string(ci.detected)}};
    j["results"] = nlohmann::json::array();
    for (const auto& r : results) j["results"].push_back(to_json(r));
    // The best probe of the run is the peak; the lowest shows how much the core's rate moved.
    if (peaks.measured())
        j["roofline"] = {{"int8_gmacs_per_core", peaks.int8.gmacs}, {"int8_instructions", peaks.int8.how},
                         {"fp32_gmacs_per_core", peaks.fp32.gmacs}, {"fp32_instructions", peaks.fp32.how}, {"probe_ms", peaks.probe_ms},
                         {"probes", peaks.probes}, {"int8_lowest_gmacs", peaks.int8_lowest}, {"fp32_lowest_gmacs", peaks.fp32_lowest},
                         {"threads", peaks.threads}, {"int8_gmacs_all_threads", peaks.for_precision(false)},
                         {"fp32_gmacs_all_threads", peaks.for_precision(true)}};
    return j.dump(2) + "\n";
}

/// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
inline std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

/// One header line and one line per result; the same numbers as the JSON, per-run times left out.
inline std::string results_csv(const std::vector<result>& results, const provenance& p) {
    std::string s = "model,precision,isa,threads,batch,runs,images_per_s,ms_min,ms_max,ms_mean,ms_stddev,ms_p50,ms_p90,ms_p95,ms_p99,"
                    "load_and_first_run_over_steady,peak_resident_mib,share_of_limit,cpu,timestamp\n";
    auto num = [](double v) {
        char b[64];
        std::snprintf(b, sizeof b, "%.6g", v);
        return std::string(b);
    };
    for (const auto& r : results) {
        const latency_summary& l = r.latency;
        s += csv_field(r.model) + "," + r.precision + "," + r.isa + "," + std::to_string(r.threads) + "," + std::to_string(r.batch) + "," +
             std::to_string(l.runs) + "," + num(r.images_per_s) + "," + num(l.min) + "," + num(l.max) + "," + num(l.mean) + "," +
             num(l.stddev) + "," + num(l.p50) + "," + num(l.p90) + "," + num(l.p95) + "," + num(l.p99) + "," + num(r.load_over_steady()) + "," +
             num(r.memory.mib) + "," + (r.limit_images_per_s > 0 ? num(r.share) : std::string()) + "," + csv_field(p.cpu) + "," + p.timestamp + "\n";
    }
    return s;
}

}  // namespace qint8::bench
