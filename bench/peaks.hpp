#pragma once
/// @file peaks.hpp  The machine's one-core INT8 and FP32 peaks over a whole bench_models run, and
/// each result's share of them.
///
/// One short probe is not enough on a shared machine: on a 2-vCPU guest (AMD EPYC, `avx2`) the
/// same probe measured INT8 100 GMAC/s and, in stretches lasting up to a second, 56-64 (FP32 51
/// and 29-31), while the models' medians over a minute ran at the full rate; one low start-up
/// probe then printed shares above 100% for 11 of 12 models and precisions (up to 144%). The peak is a property of the core, so the best of
/// many probes spread over the run is its estimate: bench_models probes at start-up (three
/// rounds) and again after every model and precision, and keeps the best.

#include <algorithm>
#include <chrono>
#include <vector>

#include "profile.hpp"
#include "roofline.hpp"

namespace qint8::bench {

/// The best and lowest rate seen by the probes of a run; zero when never probed.
struct machine_peaks {
    probe_result int8, fp32;    ///< the best probes
    double int8_lowest = 0, fp32_lowest = 0;
    int probes = 0;
    double probe_ms = 0;        ///< all probes together

    double for_precision(bool fp32_run) const { return fp32_run ? fp32.gmacs : int8.gmacs; }
    bool measured() const { return probes > 0; }

    /// Takes one probe's rates into the best and lowest.
    void observe(const probe_result& i8, const probe_result& f32, double ms) {
        int8_lowest = probes ? std::min(int8_lowest, i8.gmacs) : i8.gmacs;
        fp32_lowest = probes ? std::min(fp32_lowest, f32.gmacs) : f32.gmacs;
        if (i8.gmacs > int8.gmacs) int8 = i8;
        if (f32.gmacs > fp32.gmacs) fp32 = f32;
        ++probes;
        probe_ms += ms;
    }

    /// Probes both peaks `rounds` times, alternating (a few ms each).
    void probe(int rounds = 1) {
        for (int k = 0; k < rounds; ++k) {
            const auto t0 = std::chrono::steady_clock::now();
            const probe_result i8 = int8_peak();
            const probe_result f32 = fp32_peak();
            observe(i8, f32, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
    }
};

/// A result's limit and share of it, for the model and for each profiled step, against `peaks`
/// (the limit of N threads is taken as N times one core's peak). `macs` is per image,
/// `images_per_s` and `gmacs` of the rows are measured; nothing is set when no peak was probed.
struct limit_share {
    double limit_images_per_s = 0, share = 0;
};

inline limit_share share_of(double images_per_s, double macs, int threads, double peak_gmacs) {
    limit_share s;
    const double limit_gmacs = peak_gmacs * threads;
    if (limit_gmacs > 0 && macs > 0) {
        s.limit_images_per_s = limit_gmacs * 1e9 / macs;
        s.share = images_per_s / s.limit_images_per_s;
    }
    return s;
}

inline void share_rows(std::vector<profile_row>& rows, int threads, double peak_gmacs) {
    for (profile_row& r : rows) r.share = peak_gmacs > 0 ? r.gmacs / (peak_gmacs * threads) : 0;
}

}  // namespace qint8::bench
