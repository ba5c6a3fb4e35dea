#pragma once
/// @file peaks.hpp  The machine's INT8 and FP32 peaks over a whole bench_models run (one thread's,
/// and those of the run's threads together), and each result's share of them.
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

/// The best and lowest rate seen by the probes of a run; zero when never probed. `int8` and
/// `fp32` are one thread's; with `threads` above 1 each probe also runs on that many threads at
/// once (`int8_all`, `fp32_all`), and that is the limit of a model run on them.
struct machine_peaks {
    probe_result int8, fp32;    ///< the best probes, one thread
    probe_result int8_all, fp32_all;  ///< the best probes of `threads` threads together (threads > 1)
    double int8_lowest = 0, fp32_lowest = 0;
    int threads = 1;
    int probes = 0;
    double probe_ms = 0;        ///< all probes together

    /// The limit of a run on `threads` threads: the threads' probe, or one thread's.
    double for_precision(bool fp32_run) const {
        if (threads > 1) return fp32_run ? fp32_all.gmacs : int8_all.gmacs;
        return fp32_run ? fp32.gmacs : int8.gmacs;
    }
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

    /// Takes the probes of `threads` threads at once into their best.
    void observe_all(const probe_result& i8, const probe_result& f32) {
        if (i8.gmacs > int8_all.gmacs) int8_all = i8;
        if (f32.gmacs > fp32_all.gmacs) fp32_all = f32;
    }

    /// Probes both peaks `rounds` times, alternating (a few ms each), and on `threads` threads.
    void probe(int rounds = 1) {
        for (int k = 0; k < rounds; ++k) {
            const auto t0 = std::chrono::steady_clock::now();
            const probe_result i8 = int8_peak();
            const probe_result f32 = fp32_peak();
            if (threads > 1) observe_all(int8_peak(200000, 5, threads), fp32_peak(200000, 5, threads));
            observe(i8, f32, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
    }

    /// The threads' INT8 rate together over one thread's (1 for one thread; 0 before a probe).
    double int8_scaling() const { return threads <= 1 ? 1.0 : int8.gmacs > 0 ? int8_all.gmacs / int8.gmacs : 0.0; }
};

/// A result's limit and share of it, for the model and for each profiled step, against
/// `limit_gmacs`: the peak of the threads the model ran on, measured together (machine_peaks).
/// `macs` is per image, `images_per_s` and `gmacs` of the rows are measured; nothing is set when
/// no peak was probed.
struct limit_share {
    double limit_images_per_s = 0, share = 0;
};

inline limit_share share_of(double images_per_s, double macs, double limit_gmacs) {
    limit_share s;
    if (limit_gmacs > 0 && macs > 0) {
        s.limit_images_per_s = limit_gmacs * 1e9 / macs;
        s.share = images_per_s / s.limit_images_per_s;
    }
    return s;
}

inline void share_rows(std::vector<profile_row>& rows, double limit_gmacs) {
    for (profile_row& r : rows) r.share = limit_gmacs > 0 ? r.gmacs / limit_gmacs : 0;
}

}  // namespace qint8::bench
