#pragma once
/// @file parallel.hpp  The kernels' loop over independent tasks, on OpenMP threads, and the team
/// mode in which a session runs several kernel steps in one parallel region.

#include <cstdint>

namespace qint8::kernels {

/// True on the threads of a session's team (session::run_team): a parallel region that runs a
/// run of qint8 kernel steps, each thread calling every step. The flag is the calling thread's
/// own, so a session run from inside a user's parallel region never shares out the user's loop.
inline bool& in_team() {
    static thread_local bool on = false;
    return on;
}

/// f(i) for i in [0, n), split evenly over `threads` OpenMP threads. One thread (or one task) runs
/// the loop directly: libgomp enters even an `if (false)` parallel region, 1-2 microseconds a
/// call on a 2-core Zen 5, which is a tenth of a 7x7 MobileNet layer. In a team the loop is shared
/// among the team's threads and ends in its barrier (1.4 microseconds on that CPU, against 3 for
/// a region of its own): every thread of the team must reach the same loops in the same order.
template <class F>
inline void parallel_for(int threads, int64_t n, F&& f) {
    if (in_team()) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    if (threads <= 1 || n <= 1) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace qint8::kernels
